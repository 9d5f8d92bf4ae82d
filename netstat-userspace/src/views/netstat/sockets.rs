//! netstat's socket listings (netstat.c tcp_do_one, udp_do_one, raw_do_one, unix_do_one,
//! finish_this_one and the section headers), byte for byte.

use std::{
    borrow::Cow,
    io::{self, Write},
    net::IpAddr,
};

use super::address::{address_and_port, service_name, socket_host};
use crate::{
    events::TcpTransition,
    model::{
        TcpState,
        names::Names,
        owners::{Owner, SocketOwners},
        sockets::{InetProtocol, InetSocketRow, SO_ACCEPTCON, UnixSocketRow},
        tcp_info::TcpInfo,
    },
    views::{color::StateCell, escape::escape_controls, line::Line, netstat::NetstatFlags},
};

/// The State column of a TCP row: net-tools' tcp_state[] stops at CLOSING and names state 0
/// with an empty string; the states after CLOSING show as UNKNOWN.
fn net_tools_tcp_state(raw: u8) -> &'static str {
    match TcpState::from_raw(raw) {
        TcpState::Unknown(0) => "",
        TcpState::NewSynRecv | TcpState::BoundInactive => "UNKNOWN",
        state => state.name(),
    }
}

fn which_sockets(flags: &NetstatFlags) -> &'static str {
    if flags.all {
        "(servers and established)"
    } else if flags.listening {
        "(only servers)"
    } else {
        "(w/o servers)"
    }
}

pub(crate) fn write_inet_header(out: &mut dyn Write, flags: &NetstatFlags) -> io::Result<()> {
    write!(
        out,
        "Active Internet connections {}\nProto Recv-Q Send-Q Local Address           Foreign Address         State      ",
        which_sockets(flags)
    )?;
    if flags.extend > 1 {
        out.write_all(b" User       Inode     ")?;
    }
    if flags.programs {
        write!(out, " {:<20}", "PID/Program name")?;
    }
    if flags.timers {
        out.write_all(b" Timer")?;
    }
    if flags.containers {
        out.write_all(b" CONTAINER")?;
    }
    if flags.tcp_info {
        for name in TcpInfo::names() {
            write!(out, " {}", name.to_ascii_uppercase())?;
        }
    }
    out.write_all(b"\n")
}

/// enetstat's --tcp-info columns, each padded to its heading (the last not, so that no line
/// ends in spaces): `-` for a field the kernel's struct lacks, and in every column of a row
/// without tcp_info (UDP, raw, time-wait and request sockets, -c's transitions).
fn write_tcp_info(out: &mut dyn Write, info: Option<&TcpInfo>) -> io::Result<()> {
    let fields = info.copied().unwrap_or_default().fields();
    let last = fields.len() - 1;
    for (i, (name, value)) in fields.into_iter().enumerate() {
        let width = if i == last { 0 } else { name.len() };
        match value {
            Some(value) => write!(out, " {value:<width$}")?,
            None => write!(out, " {:<width$}", "-")?,
        }
    }
    Ok(())
}

/// Whether netstat shows this row: TCP decides by the remote port, UDP and raw by the remote
/// address (netstat.c is not consistent, and neither may we be).
pub(crate) fn inet_row_shown(
    protocol: InetProtocol,
    row: &InetSocketRow,
    flags: &NetstatFlags,
) -> bool {
    if flags.all {
        return true;
    }
    let connected = match protocol {
        InetProtocol::Tcp => row.remote_port != 0,
        _ => !row.remote.is_unspecified(),
    };
    connected != flags.listening
}

/// The timer -o shows: netstat's name for it and the seconds until it fires (0 when off).
pub(crate) fn timer_of(protocol: InetProtocol, row: &InetSocketRow) -> (Cow<'static, str>, f64) {
    // TCP divides by the clock tick rate, UDP and raw by a hard-coded 100; USER_HZ is 100
    // everywhere Linux runs today, so both are the same division.
    let seconds = row.timer_ticks as f64 / 100.0;
    match (protocol, row.timer) {
        (_, 0) => ("off".into(), 0.0),
        (InetProtocol::Tcp, 1) => ("on".into(), seconds),
        (InetProtocol::Tcp, 2) => ("keepalive".into(), seconds),
        (InetProtocol::Tcp, 3) => ("timewait".into(), seconds),
        (InetProtocol::Tcp, 4) => ("probe".into(), seconds),
        (InetProtocol::Tcp, n) => (format!("unkn-{n}").into(), seconds),
        (_, n @ (1 | 2)) => (format!("on{n}").into(), seconds),
        (_, n) => (format!("unkn-{n}").into(), seconds),
    }
}

fn timers(protocol: InetProtocol, row: &InetSocketRow) -> String {
    let (name, seconds) = timer_of(protocol, row);
    format!("{name} ({seconds:.2}/{}/{})", row.retransmits, row.timeout)
}

/// The TCP State column: `%-11s`, coloured with --color.
fn tcp_state_cell<'a>(name: &'a str, flags: &NetstatFlags) -> StateCell<'a> {
    StateCell {
        name,
        width: 11,
        color: flags.color,
    }
}

/// An address column: host and port named as the flags say, abbreviated unless -W.
fn endpoint_text(
    addr: IpAddr,
    port: u16,
    protocol: InetProtocol,
    flags: &NetstatFlags,
    names: &dyn Names,
) -> String {
    let host = socket_host(addr, flags.numeric_hosts, names);
    let port = service_name(port, protocol.services(), flags.numeric_ports, names);
    address_and_port(&host, &port, 22, flags.wide)
}

/// `-c`'s row for one TCP transition: the local time of day, then netstat's TCP row showing the
/// new state. A transition carries no queue sizes, uid or inode, so those columns show `-`
/// rather than a number that could be stale.
pub(crate) fn write_transition_row(
    out: &mut dyn Write,
    time_of_day: &str,
    transition: &TcpTransition,
    owner: Option<&Owner>,
    flags: &NetstatFlags,
    names: &dyn Names,
) -> io::Result<()> {
    let protocol = InetProtocol::Tcp;
    let local = endpoint_text(
        transition.local,
        transition.local_port,
        protocol,
        flags,
        names,
    );
    let remote = endpoint_text(
        transition.remote,
        transition.remote_port,
        protocol,
        flags,
        names,
    );
    write!(
        out,
        "{time_of_day} {:<4}  {:>6} {:>6} {local:<w1$} {remote:<w2$} {}",
        protocol.label(transition.local.is_ipv6()),
        "-",
        "-",
        tcp_state_cell(transition.new.name(), flags),
        w1 = local.len().max(23),
        w2 = remote.len().max(23),
    )?;
    if flags.extend > 1 {
        write!(out, " {:<10} {:<10}", "-", "-")?;
    }
    if flags.programs {
        write_program(out, owner.map(|o| o.label.as_slice()))?;
    }
    if flags.containers {
        write_container(out, owner)?;
    }
    if flags.tcp_info {
        write_tcp_info(out, None)?;
    }
    out.write_all(b"\n")
}

/// One row; `tcp_info` is shown with --tcp-info (the kernel's, for a TCP socket that has one).
pub(crate) fn write_inet_row(
    out: &mut dyn Write,
    protocol: InetProtocol,
    row: &InetSocketRow,
    flags: &NetstatFlags,
    names: &dyn Names,
    owners: Option<&SocketOwners>,
    tcp_info: Option<&TcpInfo>,
) -> io::Result<()> {
    if protocol == InetProtocol::Tcp
        && flags.numeric_hosts
        && flags.numeric_ports
        && !flags.color
        && row.local.is_ipv4()
        && row.remote.is_ipv4()
    {
        write_numeric_tcp4_columns(out, row)?;
    } else {
        write_inet_columns(out, protocol, row, flags, names)?;
    }
    let owner = inet_owner(row, owners);
    finish_row(out, row.uid, row.inode, flags, names, owner)?;
    if flags.timers {
        write!(out, " {}", timers(protocol, row))?;
    }
    if flags.containers {
        write_container(out, owner)?;
    }
    if flags.tcp_info {
        write_tcp_info(out, tcp_info)?;
    }
    out.write_all(b"\n")
}

/// `-tan`'s common case, the row `write_inet_columns` writes for numeric IPv4 TCP without colour,
/// written without `fmt` or allocations per field: a snapshot of 100,000 sockets spends most of
/// its user time here. An IPv4 `host:port` is at most 21 bytes, so never cut.
fn write_numeric_tcp4_columns(out: &mut dyn Write, row: &InetSocketRow) -> io::Result<()> {
    let mut line = Line {
        buf: Vec::with_capacity(96),
    };
    line.bytes(b"tcp   ");
    line.right_aligned(row.rx_queue, 6);
    line.byte(b' ');
    line.right_aligned(row.tx_queue, 6);
    for (addr, port) in [(row.local, row.local_port), (row.remote, row.remote_port)] {
        line.byte(b' ');
        let start = line.buf.len();
        line.ip(&addr);
        line.byte(b':');
        if port == 0 {
            line.byte(b'*');
        } else {
            line.decimal(u64::from(port));
        }
        line.pad_from(start, 23);
    }
    line.byte(b' ');
    let start = line.buf.len();
    line.bytes(net_tools_tcp_state(row.state).as_bytes());
    line.pad_from(start, 11);
    out.write_all(&line.buf)
}

/// The columns up to the state: protocol, queues, endpoints.
fn write_inet_columns(
    out: &mut dyn Write,
    protocol: InetProtocol,
    row: &InetSocketRow,
    flags: &NetstatFlags,
    names: &dyn Names,
) -> io::Result<()> {
    let v6 = row.local.is_ipv6();
    let endpoint = |addr, port| endpoint_text(addr, port, protocol, flags, names);
    let local = endpoint(row.local, row.local_port);
    let remote = endpoint(row.remote, row.remote_port);
    let label = protocol.label(v6);
    match protocol {
        InetProtocol::Tcp => {
            let state = net_tools_tcp_state(row.state);
            write!(
                out,
                "{label:<4}  {:6} {:6} {local:<w1$} {remote:<w2$} {}",
                row.rx_queue,
                row.tx_queue,
                tcp_state_cell(state, flags),
                w1 = local.len().max(23),
                w2 = remote.len().max(23),
            )?;
        }
        InetProtocol::Udp | InetProtocol::UdpLite => {
            let state = match row.state {
                1 => "ESTABLISHED",
                7 => "",
                _ => "UNKNOWN",
            };
            write!(
                out,
                "{label:<5} {:6} {:6} {local:<23} {remote:<23} {state:<11}",
                row.rx_queue, row.tx_queue
            )?;
        }
        InetProtocol::Raw => {
            write!(
                out,
                "{label:<4}  {:6} {:6} {local:<23} {remote:<23} {:<11}",
                row.rx_queue, row.tx_queue, row.state
            )?;
        }
    }
    Ok(())
}

/// An IP socket's owner: by inode, or its last owner when no process holds it.
pub(crate) fn inet_owner<'a>(
    row: &InetSocketRow,
    owners: Option<&'a SocketOwners>,
) -> Option<&'a Owner> {
    let connection = (row.local, row.local_port, row.remote, row.remote_port);
    owners?.owner_of(row.inode, connection)
}

/// A UNIX socket's owner, by inode.
pub(crate) fn unix_owner<'a>(
    row: &UnixSocketRow,
    owners: Option<&'a SocketOwners>,
) -> Option<&'a Owner> {
    owners?.get(row.inode?)
}

/// finish_this_one: the -e, -p columns (the caller adds -o and the newline).
fn finish_row(
    out: &mut dyn Write,
    uid: u32,
    inode: u64,
    flags: &NetstatFlags,
    names: &dyn Names,
    owner: Option<&Owner>,
) -> io::Result<()> {
    if flags.extend > 1 {
        match names.user(uid).filter(|_| !flags.numeric_users) {
            Some(user) => write!(out, " {user:<10} ")?,
            None => write!(out, " {uid:<10} ")?,
        }
        write!(out, "{inode:<10}")?;
    }
    if flags.programs {
        write_program(out, owner.map(|o| o.label.as_slice()))?;
    }
    Ok(())
}

/// enetstat's CONTAINER column: ` RUNTIME:ID` (a container id cut to 12 digits, a unit's whole
/// name), or ` -` for an owner whose cgroup names no container, or no owner.
fn write_container(out: &mut dyn Write, owner: Option<&Owner>) -> io::Result<()> {
    match owner.and_then(|o| o.container.as_deref()) {
        Some(container) => {
            write!(out, " {}:", container.runtime)?;
            out.write_all(&escape_controls(container.short_id()))
        }
        None => out.write_all(b" -"),
    }
}

/// ` %-20s` of the owner label, or `-`. Padded as netstat pads the raw label, so that the line
/// is netstat's with only the controls escaped.
fn write_program(out: &mut dyn Write, label: Option<&[u8]>) -> io::Result<()> {
    let raw = label.unwrap_or(b"-");
    out.write_all(b" ")?;
    out.write_all(&escape_controls(raw))?;
    for _ in raw.len()..20 {
        out.write_all(b" ")?;
    }
    Ok(())
}

pub(crate) fn write_unix_header(out: &mut dyn Write, flags: &NetstatFlags) -> io::Result<()> {
    write!(
        out,
        "Active UNIX domain sockets {}\nProto RefCnt Flags       Type       State         I-Node  ",
        which_sockets(flags)
    )?;
    if flags.programs {
        write!(out, " {:<20}", "PID/Program name")?;
    }
    out.write_all(b" Path")?;
    if flags.containers {
        out.write_all(b" CONTAINER")?;
    }
    out.write_all(b"\n")
}

pub(crate) fn unix_row_shown(row: &UnixSocketRow, flags: &NetstatFlags) -> bool {
    const SS_UNCONNECTED: u32 = 1;
    let listening = row.state == SS_UNCONNECTED && row.flags & SO_ACCEPTCON != 0;
    flags.all || listening == flags.listening
}

/// The socket type, as netstat names it.
pub(crate) fn unix_type(row: &UnixSocketRow) -> &'static str {
    match row.socket_type {
        1 => "STREAM",
        2 => "DGRAM",
        3 => "RAW",
        4 => "RDM",
        5 => "SEQPACKET",
        _ => "UNKNOWN",
    }
}

/// The state (the kernel's SS_*) as netstat names it, except that an unconnected socket that does
/// not listen is UNCONNECTED, where netstat leaves the column empty.
pub(crate) fn unix_state(row: &UnixSocketRow) -> &'static str {
    match row.state {
        0 => "FREE",
        1 if row.flags & SO_ACCEPTCON != 0 => "LISTENING",
        1 => "UNCONNECTED",
        2 => "CONNECTING",
        3 => "CONNECTED",
        4 => "DISCONNECTING",
        _ => "UNKNOWN",
    }
}

/// The flags netstat shows between brackets: ACC (listening), W (waiting for data), N (no space).
pub(crate) fn unix_flags(row: &UnixSocketRow) -> impl Iterator<Item = &'static str> {
    const SO_WAITDATA: u64 = 1 << 17;
    const SO_NOSPACE: u64 = 1 << 18;
    [(SO_ACCEPTCON, "ACC"), (SO_WAITDATA, "W"), (SO_NOSPACE, "N")]
        .into_iter()
        .filter(move |(bit, _)| row.flags & bit != 0)
        .map(|(_, letters)| letters)
}

pub(crate) fn write_unix_row(
    out: &mut dyn Write,
    row: &UnixSocketRow,
    flags: &NetstatFlags,
    owners: Option<&SocketOwners>,
) -> io::Result<()> {
    let protocol = if row.protocol == 0 { "unix" } else { "??" };
    let state = match unix_state(row) {
        "UNCONNECTED" => "",
        state => state,
    };
    let mut socket_flags = String::from("[ ");
    for flag in unix_flags(row) {
        socket_flags.push_str(flag);
        socket_flags.push(' ');
    }
    socket_flags.push(']');
    let socket_type = unix_type(row);
    write!(
        out,
        "{protocol:<5} {:<6} {socket_flags:<11} {socket_type:<10} {state:<13} ",
        row.ref_count
    )?;
    match row.inode {
        Some(inode) => write!(out, "{inode:<8}")?,
        None => out.write_all(b"-       ")?,
    }
    if flags.programs {
        write_program(out, unix_owner(row, owners).map(|o| o.label.as_slice()))?;
    }
    out.write_all(b" ")?;
    out.write_all(&escape_controls(row.netstat_path()))?;
    if flags.containers {
        write_container(out, unix_owner(row, owners))?;
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        model::{
            names::{FixedNames, NoNames},
            sockets::test_rows::{established6, listen, unix},
        },
        views::netstat::Families,
    };

    fn flags() -> NetstatFlags {
        NetstatFlags {
            extend: 1,
            families: Families {
                inet: true,
                inet6: true,
                unix: true,
            },
            ..NetstatFlags::default()
        }
    }

    fn render(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn tcp_info_columns_come_last_padded_to_their_headings() {
        let info = TcpInfo {
            rtt_us: Some(41),
            rttvar_us: Some(20),
            cwnd: Some(10),
            total_retrans: Some(7),
            lost: Some(1),
            unacked: Some(3),
            bytes_acked: Some(123_457),
            bytes_received: Some(98_765),
            delivery_rate: None,
            busy_time_us: None,
            rwnd_limited_us: None,
            sndbuf_limited_us: None,
        };
        let mut f = flags();
        f.numeric_hosts = true;
        f.numeric_ports = true;
        f.programs = true;
        let row = listen();
        let plain =
            render(|o| write_inet_row(o, InetProtocol::Tcp, &row, &f, &NoNames, None, None));
        let header = render(|o| write_inet_header(o, &f));
        f.tcp_info = true;
        let with =
            render(|o| write_inet_row(o, InetProtocol::Tcp, &row, &f, &NoNames, None, Some(&info)));
        let columns = " 41     20        10   7             1    3       123457      98765          -             -       -               -\n";
        assert_eq!(with, format!("{}{columns}", plain.trim_end_matches('\n')));
        let headed = render(|o| write_inet_header(o, &f));
        assert_eq!(
            headed,
            format!(
                "{} RTT_US RTTVAR_US CWND TOTAL_RETRANS LOST UNACKED BYTES_ACKED BYTES_RECEIVED DELIVERY_RATE BUSY_US RWND_LIMITED_US SNDBUF_LIMITED_US\n",
                header.trim_end_matches('\n')
            )
        );
        // A row without tcp_info (UDP, time-wait) shows `-` in every column.
        let none = render(|o| write_inet_row(o, InetProtocol::Udp, &row, &f, &NoNames, None, None));
        assert!(none.ends_with(" -               -\n"), "{none:?}");
        assert_eq!(
            none.split_whitespace()
                .rev()
                .take(12)
                .filter(|c| *c == "-")
                .count(),
            12
        );
    }

    #[test]
    fn headers() {
        let mut f = flags();
        assert_eq!(
            render(|o| write_inet_header(o, &f)),
            "Active Internet connections (w/o servers)\nProto Recv-Q Send-Q Local Address           Foreign Address         State      \n"
        );
        f.all = true;
        f.extend = 2;
        f.programs = true;
        f.timers = true;
        assert_eq!(
            render(|o| write_inet_header(o, &f)),
            "Active Internet connections (servers and established)\nProto Recv-Q Send-Q Local Address           Foreign Address         State       User       Inode      PID/Program name     Timer\n"
        );
        f.all = false;
        f.listening = true;
        assert_eq!(
            render(|o| write_unix_header(o, &f)),
            "Active UNIX domain sockets (only servers)\nProto RefCnt Flags       Type       State         I-Node   PID/Program name     Path\n"
        );
    }

    #[test]
    fn tcp_rows() {
        let mut f = flags();
        f.numeric_hosts = true;
        f.numeric_ports = true;
        let row = listen();
        assert_eq!(
            render(|o| write_inet_row(o, InetProtocol::Tcp, &row, &f, &NoNames, None, None)),
            "tcp        2      0 127.0.0.1:8080          0.0.0.0:*               LISTEN     \n"
        );
        let row = established6();
        f.extend = 2;
        f.timers = true;
        assert_eq!(
            render(|o| write_inet_row(o, InetProtocol::Tcp, &row, &f, &NoNames, None, None)),
            "tcp6       0     16 ::1:8080                ::1:41938               ESTABLISHED 1000       83817      keepalive (47.19/3/0)\n"
        );
    }

    #[test]
    fn the_numeric_ipv4_fast_path_writes_what_the_general_one_does() {
        let mut rng = crate::views::line::tests::Lcg(7);
        let mut f = flags();
        f.numeric_hosts = true;
        f.numeric_ports = true;
        for _ in 0..5000 {
            let mut row = listen();
            let mut pick = |bound: u64| rng.next() % bound;
            // Any address, and short ones (0.0.0.0, 1.0.0.2, ...), whose padding differs.
            row.local = IpAddr::V4((pick(1 << 32) as u32).into());
            row.remote = IpAddr::V4(((pick(4) << 24 | pick(300)) as u32).into());
            row.local_port = [0, 1, 80, 65535, pick(65536) as u16][pick(5) as usize];
            row.remote_port = [0, pick(65536) as u16][pick(2) as usize];
            row.rx_queue = [0, 9, 99_999, 1_000_000, u64::from(u32::MAX)][pick(5) as usize];
            let digits = pick(9) as u32;
            row.tx_queue = pick(10u64.pow(digits));
            row.state = pick(16) as u8;
            let mut fast = Vec::new();
            write_numeric_tcp4_columns(&mut fast, &row).unwrap();
            let mut general = Vec::new();
            write_inet_columns(&mut general, InetProtocol::Tcp, &row, &f, &NoNames).unwrap();
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(general).unwrap(),
                "{row:?}"
            );
        }
    }

    #[test]
    fn colour_touches_only_the_tcp_state_word() {
        let mut f = flags();
        f.numeric_hosts = true;
        f.numeric_ports = true;
        f.extend = 2;
        f.timers = true;
        for row in [listen(), established6()] {
            f.color = false;
            let plain =
                render(|o| write_inet_row(o, InetProtocol::Tcp, &row, &f, &NoNames, None, None));
            f.color = true;
            let colored =
                render(|o| write_inet_row(o, InetProtocol::Tcp, &row, &f, &NoNames, None, None));
            assert_ne!(colored, plain);
            assert_eq!(crate::views::color::strip_sgr(&colored), plain);
            // UDP has no TCP states to colour.
            let udp =
                render(|o| write_inet_row(o, InetProtocol::Udp, &row, &f, &NoNames, None, None));
            assert!(!udp.contains('\x1b'));
        }
        let row = listen();
        assert!(
            render(|o| write_inet_row(o, InetProtocol::Tcp, &row, &f, &NoNames, None, None))
                .contains(" \x1b[36mLISTEN\x1b[0m      ")
        );
    }

    #[test]
    fn names_are_used_unless_numeric() {
        let mut names = FixedNames::default();
        names
            .hosts
            .insert("127.0.0.1".parse().unwrap(), "localhost".into());
        names
            .services
            .insert((8080, "tcp".into()), "http-alt".into());
        names.users.insert(0, "root".into());
        let mut f = flags();
        f.all = true;
        f.extend = 2;
        let row = listen();
        assert_eq!(
            render(|o| write_inet_row(o, InetProtocol::Tcp, &row, &f, &names, None, None)),
            "tcp        2      0 localhost:http-alt      0.0.0.0:*               LISTEN      root       21746     \n"
        );
    }

    #[test]
    fn which_rows_are_shown() {
        let listen = listen();
        let established = established6();
        let mut f = flags();
        assert!(!inet_row_shown(InetProtocol::Tcp, &listen, &f));
        assert!(inet_row_shown(InetProtocol::Tcp, &established, &f));
        f.listening = true;
        assert!(inet_row_shown(InetProtocol::Tcp, &listen, &f));
        assert!(!inet_row_shown(InetProtocol::Tcp, &established, &f));
        f.all = true;
        assert!(inet_row_shown(InetProtocol::Tcp, &established, &f));
    }

    #[test]
    fn unix_rows() {
        let rows = [
            unix(2, SO_ACCEPTCON, 1, 1, 23456, b"/run/x.sock"),
            unix(3, 0, 2, 3, 23457, b""),
            unix(2, 0, 5, 1, 23460, b"@ctl\x1b[2J"),
        ];
        let mut f = flags();
        f.all = true;
        f.programs = true;
        let out = render(|o| {
            for row in &rows {
                write_unix_row(o, row, &f, None)?;
            }
            Ok(())
        });
        assert_eq!(
            out,
            "unix  2      [ ACC ]     STREAM     LISTENING     23456    -                    /run/x.sock\n\
             unix  3      [ ]         DGRAM      CONNECTED     23457    -                    \n\
             unix  2      [ ]         SEQPACKET                23460    -                    @ctl\\x1b[2J\n"
        );
        f.all = false;
        assert!(!unix_row_shown(&rows[0], &f));
        assert!(unix_row_shown(&rows[1], &f));
    }
}
