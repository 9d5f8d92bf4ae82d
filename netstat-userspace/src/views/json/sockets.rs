//! Socket listings as JSON lines: one object per socket, in the text listing's order.

use std::{
    borrow::Cow,
    io::{self, Write},
};

use serde::{Serialize, ser::SerializeMap as _};

use super::write_line;
use crate::{
    events::{Task, TcpTransition},
    model::{
        TcpState,
        containers::Container,
        owners::{Owner, SocketOwners},
        sockets::{InetProtocol, InetSocketRow, UnixSocketRow},
        tcp_info::TcpInfo,
    },
    views::{
        escape::escape_bytes,
        netstat::{
            NetstatFlags,
            sockets::{inet_owner, timer_of, unix_flags, unix_owner, unix_state, unix_type},
        },
    },
};

/// An IP socket. Queues, uid and inode are `null` only in `-c`'s transition objects, which carry
/// none of them.
#[derive(Debug, Serialize)]
struct InetSocket {
    proto: &'static str,
    family: &'static str,
    recv_q: Option<u64>,
    send_q: Option<u64>,
    laddr: String,
    lport: u16,
    raddr: String,
    rport: u16,
    /// The kernel's state, named as netstat names TCP states (UDP and raw sockets are
    /// ESTABLISHED when connected, else CLOSE).
    state: &'static str,
    uid: Option<u32>,
    inode: Option<u64>,
    /// With -p only: absent without it, `null` when no owner is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<Option<OwnerJson>>,
    /// With -o only.
    #[serde(skip_serializing_if = "Option::is_none")]
    timer: Option<Timer>,
    /// With --tcp-info, on TCP sockets only: `null` when the kernel sent none (time-wait and
    /// request sockets, -c's transitions).
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_info: Option<Option<TcpInfoJson>>,
}

/// struct tcp_info's shown fields, keyed and ordered as [`TcpInfo::fields`] names them; a field
/// the kernel's struct lacks is `null`.
#[derive(Debug)]
struct TcpInfoJson(TcpInfo);

impl Serialize for TcpInfoJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = self.0.fields();
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (name, value) in fields {
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }
}

#[derive(Debug, Serialize)]
struct OwnerJson {
    pid: u32,
    program: String,
    /// What the owner's cgroup names, `null` when it names no container (or is not known).
    container: Option<ContainerJson>,
}

#[derive(Debug, Serialize)]
struct ContainerJson {
    runtime: &'static str,
    id: String,
    pod_uid: Option<String>,
}

impl OwnerJson {
    fn of(owner: &Owner) -> Self {
        OwnerJson {
            pid: owner.pid,
            program: escape_bytes(owner.program()),
            container: owner.container.as_deref().map(ContainerJson::of),
        }
    }
}

impl ContainerJson {
    fn of(container: &Container) -> Self {
        ContainerJson {
            runtime: container.runtime.name(),
            id: escape_bytes(&container.id),
            pod_uid: container.pod_uid.clone(),
        }
    }
}

/// What -o shows as `keepalive (47.19/3/0)`.
#[derive(Debug, Serialize)]
struct Timer {
    kind: Cow<'static, str>,
    expires_s: f64,
    retransmits: u64,
    timeout: i64,
}

#[derive(Debug, Serialize)]
struct UnixSocket {
    proto: &'static str,
    family: &'static str,
    ref_count: u64,
    flags: Vec<&'static str>,
    #[serde(rename = "type")]
    socket_type: &'static str,
    state: &'static str,
    inode: Option<u64>,
    /// The whole path (netstat cuts it at its first whitespace), `null` for an unnamed socket.
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<Option<OwnerJson>>,
}

fn family(v6: bool) -> &'static str {
    if v6 { "inet6" } else { "inet" }
}

pub(crate) fn write_inet_socket(
    out: &mut dyn Write,
    protocol: InetProtocol,
    row: &InetSocketRow,
    flags: &NetstatFlags,
    owners: Option<&SocketOwners>,
    tcp_info: Option<&TcpInfo>,
) -> io::Result<()> {
    write_line(out, &inet_socket(protocol, row, flags, owners, tcp_info))
}

fn inet_socket(
    protocol: InetProtocol,
    row: &InetSocketRow,
    flags: &NetstatFlags,
    owners: Option<&SocketOwners>,
    tcp_info: Option<&TcpInfo>,
) -> InetSocket {
    InetSocket {
        proto: protocol.name(),
        family: family(row.local.is_ipv6()),
        recv_q: Some(row.rx_queue),
        send_q: Some(row.tx_queue),
        laddr: row.local.to_string(),
        lport: row.local_port,
        raddr: row.remote.to_string(),
        rport: row.remote_port,
        state: TcpState::from_raw(row.state).name(),
        uid: Some(row.uid),
        inode: Some(row.inode),
        owner: flags
            .programs
            .then(|| inet_owner(row, owners).map(OwnerJson::of)),
        timer: flags.timers.then(|| {
            let (kind, expires_s) = timer_of(protocol, row);
            Timer {
                kind,
                expires_s,
                retransmits: row.retransmits,
                timeout: row.timeout,
            }
        }),
        tcp_info: (flags.tcp_info && protocol == InetProtocol::Tcp)
            .then(|| tcp_info.copied().map(TcpInfoJson)),
    }
}

pub(crate) fn write_unix_socket(
    out: &mut dyn Write,
    row: &UnixSocketRow,
    flags: &NetstatFlags,
    owners: Option<&SocketOwners>,
) -> io::Result<()> {
    let socket = UnixSocket {
        proto: "unix",
        family: "unix",
        ref_count: row.ref_count,
        flags: unix_flags(row).collect(),
        socket_type: unix_type(row),
        state: unix_state(row),
        inode: row.inode,
        path: (!row.path.is_empty()).then(|| escape_bytes(&row.path)),
        owner: flags
            .programs
            .then(|| unix_owner(row, owners).map(OwnerJson::of)),
    };
    write_line(out, &socket)
}

/// `-c --json`'s object for one TCP transition: a TCP socket object in its new state, stamped with
/// the transition's time. The owner is the one learned from the socket's system calls (`comm`).
pub(crate) fn write_transition(
    out: &mut dyn Write,
    ts: &str,
    transition: &TcpTransition,
    owner: Option<&Task>,
    flags: &NetstatFlags,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct Stamped<'a> {
        ts: &'a str,
        #[serde(flatten)]
        socket: InetSocket,
    }
    let socket = InetSocket {
        proto: InetProtocol::Tcp.name(),
        family: transition.family.name(),
        recv_q: None,
        send_q: None,
        laddr: transition.local.to_string(),
        lport: transition.local_port,
        raddr: transition.remote.to_string(),
        rport: transition.remote_port,
        state: transition.new.name(),
        uid: None,
        inode: None,
        owner: flags.programs.then(|| {
            owner.map(|task| OwnerJson {
                pid: task.tgid,
                program: escape_bytes(task.comm.as_bytes()),
                container: None,
            })
        }),
        timer: None,
        tcp_info: flags.tcp_info.then_some(None),
    };
    write_line(out, &Stamped { ts, socket })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::*;
    use crate::{
        events::Comm,
        model::sockets::{
            Family, SO_ACCEPTCON,
            test_rows::{established6, listen, mapped_udp, unix},
        },
        views::netstat::Families,
    };

    fn flags() -> NetstatFlags {
        NetstatFlags {
            extend: 1,
            all: true,
            families: Families {
                inet: true,
                inet6: true,
                unix: true,
            },
            ..NetstatFlags::default()
        }
    }

    fn parsed(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> Vec<Value> {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n'));
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn inet_sockets_are_typed() {
        let listen = listen();
        let rows =
            parsed(|o| write_inet_socket(o, InetProtocol::Tcp, &listen, &flags(), None, None));
        assert_eq!(
            rows[0],
            json!({
                "proto": "tcp", "family": "inet", "recv_q": 2, "send_q": 0,
                "laddr": "127.0.0.1", "lport": 8080, "raddr": "0.0.0.0", "rport": 0,
                "state": "LISTEN", "uid": 0, "inode": 21746
            })
        );
        let udp = mapped_udp();
        let rows = parsed(|o| write_inet_socket(o, InetProtocol::Udp, &udp, &flags(), None, None));
        assert_eq!(rows[0]["proto"], "udp");
        assert_eq!(rows[0]["family"], "inet6");
        assert_eq!(rows[0]["laddr"], "::ffff:127.0.0.1");
        assert_eq!(rows[0]["lport"], 53);
        assert_eq!(rows[0]["state"], "CLOSE");
    }

    #[test]
    fn owners_and_timers_only_when_asked() {
        let row = established6();
        let mut f = flags();
        f.programs = true;
        f.timers = true;
        let rows = parsed(|o| write_inet_socket(o, InetProtocol::Tcp, &row, &f, None, None));
        assert_eq!(rows[0]["owner"], Value::Null, "-p without an owner: null");
        assert_eq!(
            rows[0]["timer"],
            json!({"kind": "keepalive", "expires_s": 47.19, "retransmits": 3, "timeout": 0})
        );
        assert_eq!(rows[0]["state"], "ESTABLISHED");
        assert_eq!(rows[0]["send_q"], 16);
        assert_eq!(rows[0]["uid"], 1000);
        let rows = parsed(|o| write_inet_socket(o, InetProtocol::Tcp, &row, &flags(), None, None));
        let object = rows[0].as_object().unwrap();
        assert!(!object.contains_key("owner") && !object.contains_key("timer"));
    }

    #[test]
    fn tcp_info_objects_on_tcp_rows_only() {
        let info = TcpInfo {
            rtt_us: Some(41),
            cwnd: Some(10),
            bytes_acked: Some(123_457),
            ..TcpInfo::default()
        };
        let mut f = flags();
        f.tcp_info = true;
        let row = established6();
        let rows = parsed(|o| write_inet_socket(o, InetProtocol::Tcp, &row, &f, None, Some(&info)));
        assert_eq!(
            rows[0]["tcp_info"],
            json!({
                "rtt_us": 41, "rttvar_us": null, "cwnd": 10, "total_retrans": null, "lost": null,
                "unacked": null, "bytes_acked": 123457, "bytes_received": null,
                "delivery_rate": null, "busy_us": null, "rwnd_limited_us": null,
                "sndbuf_limited_us": null
            })
        );
        let keys: Vec<&str> = rows[0]["tcp_info"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), TcpInfo::names().len());
        let rows = parsed(|o| write_inet_socket(o, InetProtocol::Tcp, &row, &f, None, None));
        assert_eq!(
            rows[0]["tcp_info"],
            Value::Null,
            "a TCP row without one: null"
        );
        assert!(rows[0].as_object().unwrap().contains_key("tcp_info"));
        let udp = mapped_udp();
        let rows = parsed(|o| write_inet_socket(o, InetProtocol::Udp, &udp, &f, None, None));
        assert!(
            !rows[0].as_object().unwrap().contains_key("tcp_info"),
            "UDP: none"
        );
        let rows =
            parsed(|o| write_inet_socket(o, InetProtocol::Tcp, &row, &flags(), None, Some(&info)));
        assert!(
            !rows[0].as_object().unwrap().contains_key("tcp_info"),
            "not asked for"
        );
    }

    #[test]
    fn unix_sockets_keep_whole_escaped_paths() {
        let rows = [
            unix(2, SO_ACCEPTCON, 1, 1, 23456, b"/run/x y.sock"),
            unix(3, 0, 2, 3, 23457, b""),
            unix(2, 0, 5, 1, 23460, b"@ctl\x1b[2J\\"),
        ];
        let mut f = flags();
        f.programs = true;
        let out = parsed(|o| {
            for row in &rows {
                write_unix_socket(o, row, &f, None)?;
            }
            Ok(())
        });
        assert_eq!(
            out[0],
            json!({
                "proto": "unix", "family": "unix", "ref_count": 2, "flags": ["ACC"],
                "type": "STREAM", "state": "LISTENING", "inode": 23456,
                "path": "/run/x y.sock", "owner": null
            })
        );
        assert_eq!(out[1]["path"], Value::Null);
        assert_eq!(out[1]["state"], "CONNECTED");
        assert_eq!(out[1]["flags"], json!([]));
        assert_eq!(out[2]["path"], "@ctl\\x1b[2J\\\\");
        assert_eq!(out[2]["state"], "UNCONNECTED");
        assert_eq!(out[2]["type"], "SEQPACKET");
    }

    #[test]
    fn owners_are_pid_and_program() {
        let owner = Owner {
            pid: 42,
            label: b"42/evil\x1b[2J".to_vec(),
            container: None,
        };
        assert_eq!(
            serde_json::to_value(OwnerJson::of(&owner)).unwrap(),
            json!({"pid": 42, "program": "evil\\x1b[2J", "container": null})
        );
        let id = "0123456789abcdef".repeat(4);
        let uid = "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d";
        let path = format!(
            "/kubepods.slice/kubepods-pod{}.slice/cri-containerd-{id}.scope",
            uid.replace('-', "_")
        );
        let contained = Owner {
            container: Container::from_cgroup_path(path.as_bytes()).map(Arc::new),
            ..owner
        };
        assert_eq!(
            serde_json::to_value(OwnerJson::of(&contained)).unwrap()["container"],
            json!({"runtime": "containerd", "id": id, "pod_uid": uid})
        );
        let unit = Owner {
            container: Container::from_cgroup_path(b"/system.slice/evil\x1b.service").map(Arc::new),
            ..contained
        };
        assert_eq!(
            serde_json::to_value(OwnerJson::of(&unit)).unwrap()["container"],
            json!({"runtime": "systemd", "id": "evil\\x1b.service", "pod_uid": null})
        );
    }

    #[test]
    fn transitions_have_a_time_and_no_queues() {
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"curl");
        let task = Task {
            tgid: 7,
            comm: Comm::new(comm),
        };
        let transition = TcpTransition {
            ts_ns: 0,
            skaddr: 1,
            family: Family::Inet,
            local: "127.0.0.1".parse().unwrap(),
            local_port: 40000,
            remote: "127.0.0.1".parse().unwrap(),
            remote_port: 80,
            old: TcpState::SynSent,
            new: TcpState::Established,
            task,
            netns: 0,
            counters: None,
            cookie: None,
        };
        let mut f = flags();
        f.programs = true;
        let rows = parsed(|o| write_transition(o, "T", &transition, Some(&task), &f));
        assert_eq!(
            rows[0],
            json!({
                "ts": "T", "proto": "tcp", "family": "inet", "recv_q": null, "send_q": null,
                "laddr": "127.0.0.1", "lport": 40000, "raddr": "127.0.0.1", "rport": 80,
                "state": "ESTABLISHED", "uid": null, "inode": null,
                "owner": {"pid": 7, "program": "curl", "container": null}
            })
        );
    }
}
