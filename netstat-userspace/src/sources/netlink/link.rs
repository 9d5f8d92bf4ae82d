//! rtnetlink links: a dump of this namespace's interfaces, and a monitor of RTM_NEWLINK /
//! RTM_DELLINK notifications, so interfaces appearing, renamed or vanishing are seen as they
//! happen. Decoding is pure; `dump` and `LinkMonitor` do the I/O.

use std::io;

use tokio::io::{Interest, unix::AsyncFd};

use super::{Message, NetlinkSocket, attributes, messages, request};
use crate::model::interfaces::DevStats;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTMGRP_LINK: u32 = 1;
const IFINFOMSG_LEN: usize = 16;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_STATS64: u16 = 23;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) ifindex: u32,
    pub(crate) name: String,
    /// IFF_* flags.
    pub(crate) flags: u32,
    pub(crate) mtu: u32,
    /// The counters, as /proc/net/dev would print them.
    pub(crate) stats: Option<DevStats>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LinkChange {
    /// New, or changed (renamed, flags): the kernel sends RTM_NEWLINK for both.
    Present(Link),
    Removed {
        ifindex: u32,
    },
    /// The kernel dropped notifications (ENOBUFS): the list must be dumped again.
    Overrun,
}

/// Decodes a buffer of link messages; `done` is set at the end of a dump.
pub(crate) fn decode(buf: &[u8], changes: &mut Vec<LinkChange>, done: &mut bool) -> io::Result<()> {
    for message in messages(buf) {
        match message {
            Message::Done => *done = true,
            Message::Error(errno) => return Err(io::Error::from_raw_os_error(errno)),
            Message::Truncated => return Err(io::Error::from_raw_os_error(libc::EBADMSG)),
            Message::Payload { kind, payload } => {
                let Some(link) = decode_link(payload) else {
                    continue;
                };
                match kind {
                    RTM_NEWLINK => changes.push(LinkChange::Present(link)),
                    RTM_DELLINK => changes.push(LinkChange::Removed {
                        ifindex: link.ifindex,
                    }),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// struct ifinfomsg { family, pad, type, index, flags, change } and its attributes.
fn decode_link(payload: &[u8]) -> Option<Link> {
    let header = payload.get(..IFINFOMSG_LEN)?;
    let u32_at = |at: usize| u32::from_ne_bytes(header[at..at + 4].try_into().unwrap_or_default());
    let mut link = Link {
        ifindex: u32_at(4),
        name: String::new(),
        flags: u32_at(8),
        mtu: 0,
        stats: None,
    };
    for (kind, value) in attributes(&payload[IFINFOMSG_LEN..]) {
        match kind {
            IFLA_IFNAME => {
                let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
                link.name = String::from_utf8_lossy(&value[..end]).into_owned();
            }
            IFLA_MTU if value.len() >= 4 => {
                link.mtu = u32::from_ne_bytes(value[..4].try_into().unwrap_or_default());
            }
            IFLA_STATS64 if value.len() >= STATS64_LEN => {
                let c = |i: usize| {
                    u64::from_ne_bytes(value[i * 8..i * 8 + 8].try_into().unwrap_or_default())
                };
                link.stats = Some(dev_stats(c));
            }
            _ => {}
        }
    }
    Some(link)
}

/// struct rtnl_link_stats64 up to rx_nohandler (Linux 4.6+).
const STATS64_LEN: usize = 24 * 8;

/// rtnl_link_stats64 (by field index) folded into /proc/net/dev's columns, as the kernel's
/// dev_seq_printf_stats folds them.
fn dev_stats(c: impl Fn(usize) -> u64) -> DevStats {
    DevStats {
        rx_packets: c(0),
        tx_packets: c(1),
        rx_bytes: c(2),
        tx_bytes: c(3),
        rx_errors: c(4),
        tx_errors: c(5),
        rx_dropped: c(6) + c(15),
        tx_dropped: c(7),
        rx_multicast: c(8),
        collisions: c(9),
        rx_frame_errors: c(10) + c(11) + c(12) + c(13),
        rx_fifo_errors: c(14),
        tx_carrier_errors: c(16) + c(17) + c(19) + c(20),
        tx_fifo_errors: c(18),
        rx_compressed: c(21),
        tx_compressed: c(22),
    }
}

fn dump_request() -> Vec<u8> {
    // struct ifinfomsg, all zero: every family, every interface.
    request(RTM_GETLINK, libc::NLM_F_DUMP as u16, &[0u8; IFINFOMSG_LEN])
}

/// This network namespace's interfaces.
pub(crate) fn dump() -> io::Result<Vec<Link>> {
    let socket = NetlinkSocket::open(libc::NETLINK_ROUTE, 0, false)?;
    socket.send(&dump_request())?;
    let mut buf = vec![0u8; 1 << 16];
    let mut changes = Vec::new();
    let mut done = false;
    while !done {
        let n = socket.recv(&mut buf)?;
        if n == 0 {
            break;
        }
        decode(&buf[..n], &mut changes, &mut done)?;
    }
    Ok(changes
        .into_iter()
        .filter_map(|change| match change {
            LinkChange::Present(link) => Some(link),
            _ => None,
        })
        .collect())
}

/// Link notifications, read as they arrive.
pub(crate) struct LinkMonitor {
    socket: AsyncFd<NetlinkSocket>,
    buf: Vec<u8>,
}

impl LinkMonitor {
    /// Subscribes before the caller dumps, so no change falls between the dump and the monitor.
    pub(crate) fn subscribe() -> io::Result<Self> {
        let socket = NetlinkSocket::open(libc::NETLINK_ROUTE, RTMGRP_LINK, true)?;
        // SAFETY: the socket owns its fd, unchanged, until it is dropped with this AsyncFd.
        let socket = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(LinkMonitor {
            socket,
            buf: vec![0u8; 1 << 16],
        })
    }

    /// The next batch of changes.
    pub(crate) async fn next(&mut self) -> io::Result<Vec<LinkChange>> {
        loop {
            let mut guard = self.socket.readable().await?;
            match guard.try_io(|socket| socket.get_ref().recv(&mut self.buf)) {
                Ok(Ok(n)) => {
                    let mut changes = Vec::new();
                    let mut done = false;
                    decode(&self.buf[..n], &mut changes, &mut done)?;
                    return Ok(changes);
                }
                Ok(Err(err)) if err.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Ok(vec![LinkChange::Overrun]);
                }
                Ok(Err(err)) => return Err(err),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::netlink::{NLMSG_DONE, test_support::message};

    fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    fn link_payload(ifindex: u32, name: &str, stats: Option<[u64; 8]>) -> Vec<u8> {
        let mut p = vec![0u8; IFINFOMSG_LEN];
        p[4..8].copy_from_slice(&ifindex.to_ne_bytes());
        p[8..12].copy_from_slice(&(libc::IFF_UP as u32).to_ne_bytes());
        p.extend(attribute(IFLA_IFNAME, format!("{name}\0").as_bytes()));
        p.extend(attribute(IFLA_MTU, &1500u32.to_ne_bytes()));
        if let Some(stats) = stats {
            let mut value: Vec<u8> = stats.iter().flat_map(|v| v.to_ne_bytes()).collect();
            value.resize(STATS64_LEN, 0);
            p.extend(attribute(IFLA_STATS64, &value));
        }
        p
    }

    #[test]
    fn decodes_new_and_removed_links_and_the_end_of_a_dump() {
        let mut buf = message(
            RTM_NEWLINK,
            &link_payload(7, "veth0", Some([1, 2, 3, 4, 5, 6, 7, 8])),
        );
        buf.extend(message(RTM_DELLINK, &link_payload(9, "gone", None)));
        buf.extend(message(NLMSG_DONE, &[0; 4]));
        let mut changes = Vec::new();
        let mut done = false;
        decode(&buf, &mut changes, &mut done).unwrap();
        assert!(done);
        assert_eq!(
            changes,
            vec![
                LinkChange::Present(Link {
                    ifindex: 7,
                    name: "veth0".into(),
                    flags: libc::IFF_UP as u32,
                    mtu: 1500,
                    stats: Some(DevStats {
                        rx_packets: 1,
                        tx_packets: 2,
                        rx_bytes: 3,
                        tx_bytes: 4,
                        rx_errors: 5,
                        tx_errors: 6,
                        rx_dropped: 7,
                        tx_dropped: 8,
                        ..DevStats::default()
                    }),
                }),
                LinkChange::Removed { ifindex: 9 },
            ]
        );
    }

    #[test]
    fn truncated_messages_are_an_error_not_a_panic() {
        let mut buf = message(RTM_NEWLINK, &link_payload(7, "veth0", None));
        buf.truncate(buf.len() - 6);
        let mut changes = Vec::new();
        assert!(decode(&buf, &mut changes, &mut false).is_err());
        // A short ifinfomsg is skipped.
        let buf = message(RTM_NEWLINK, &[0u8; 8]);
        changes.clear();
        decode(&buf, &mut changes, &mut false).unwrap();
        assert!(changes.is_empty());
    }

    #[test]
    fn dumps_this_namespace() {
        // Every namespace has lo; needs no privileges.
        let links = dump().unwrap();
        assert!(links.iter().any(|l| l.name == "lo" && l.stats.is_some()));
    }
}
