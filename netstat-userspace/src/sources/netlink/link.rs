//! rtnetlink links: a dump of this namespace's interfaces, and a monitor of RTM_NEWLINK /
//! RTM_DELLINK notifications, so interfaces appearing, renamed or vanishing are seen as they
//! happen. Decoding is pure; `dump` and `LinkMonitor` do the I/O.

use std::io;

use tokio::io::{Interest, unix::AsyncFd};

use super::{AsBytes, FromBytes, Message, NetlinkSocket, attributes, messages, read, request};
use crate::model::interfaces::DevStats;

use libc::{IFLA_IFNAME, IFLA_MTU, IFLA_STATS64, RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK};

const _: () = assert!(size_of::<libc::ifinfomsg>() == 16);

/// struct rtnl_link_stats64 of <linux/if_link.h> up to rx_nohandler (Linux 4.6+; later kernels
/// append fields, which are not read). libc does not have it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct RtnlLinkStats64 {
    rx_packets: u64,
    tx_packets: u64,
    rx_bytes: u64,
    tx_bytes: u64,
    rx_errors: u64,
    tx_errors: u64,
    rx_dropped: u64,
    tx_dropped: u64,
    multicast: u64,
    collisions: u64,
    rx_length_errors: u64,
    rx_over_errors: u64,
    rx_crc_errors: u64,
    rx_frame_errors: u64,
    rx_fifo_errors: u64,
    rx_missed_errors: u64,
    tx_aborted_errors: u64,
    tx_carrier_errors: u64,
    tx_fifo_errors: u64,
    tx_heartbeat_errors: u64,
    tx_window_errors: u64,
    rx_compressed: u64,
    tx_compressed: u64,
    rx_nohandler: u64,
}

const _: () = assert!(size_of::<RtnlLinkStats64>() == 24 * 8);

// SAFETY: #[repr(C)], u64 fields only: no padding, any bytes valid.
unsafe impl FromBytes for RtnlLinkStats64 {}
unsafe impl AsBytes for RtnlLinkStats64 {}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) ifindex: u32,
    /// The kernel's bytes: an interface name need not be UTF-8.
    pub(crate) name: Vec<u8>,
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

/// struct ifinfomsg and its attributes.
fn decode_link(payload: &[u8]) -> Option<Link> {
    let header = read::<libc::ifinfomsg>(payload)?;
    let mut link = Link {
        ifindex: header.ifi_index as u32,
        name: Vec::new(),
        flags: header.ifi_flags,
        mtu: 0,
        stats: None,
    };
    for (kind, value) in attributes(&payload[size_of::<libc::ifinfomsg>()..]) {
        match kind {
            IFLA_IFNAME => {
                let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
                link.name = value[..end].to_vec();
            }
            IFLA_MTU => {
                if let Some(mtu) = read::<u32>(value) {
                    link.mtu = mtu;
                }
            }
            IFLA_STATS64 => {
                if let Some(stats) = read::<RtnlLinkStats64>(value) {
                    link.stats = Some(dev_stats(&stats));
                }
            }
            _ => {}
        }
    }
    Some(link)
}

/// rtnl_link_stats64 folded into /proc/net/dev's columns, as the kernel's dev_seq_printf_stats
/// folds them (sums wrap, as the kernel's u64 sums do).
fn dev_stats(s: &RtnlLinkStats64) -> DevStats {
    DevStats {
        rx_packets: s.rx_packets,
        tx_packets: s.tx_packets,
        rx_bytes: s.rx_bytes,
        tx_bytes: s.tx_bytes,
        rx_errors: s.rx_errors,
        tx_errors: s.tx_errors,
        rx_dropped: s.rx_dropped.wrapping_add(s.rx_missed_errors),
        tx_dropped: s.tx_dropped,
        rx_multicast: s.multicast,
        collisions: s.collisions,
        rx_frame_errors: s
            .rx_length_errors
            .wrapping_add(s.rx_over_errors)
            .wrapping_add(s.rx_crc_errors)
            .wrapping_add(s.rx_frame_errors),
        rx_fifo_errors: s.rx_fifo_errors,
        tx_carrier_errors: s
            .tx_carrier_errors
            .wrapping_add(s.tx_aborted_errors)
            .wrapping_add(s.tx_window_errors)
            .wrapping_add(s.tx_heartbeat_errors),
        tx_fifo_errors: s.tx_fifo_errors,
        rx_compressed: s.rx_compressed,
        tx_compressed: s.tx_compressed,
    }
}

fn dump_request() -> Vec<u8> {
    // struct ifinfomsg, all zero: every family, every interface.
    let header = [0u8; size_of::<libc::ifinfomsg>()];
    request(RTM_GETLINK, libc::NLM_F_DUMP as u16, &header)
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
        let socket = NetlinkSocket::open(libc::NETLINK_ROUTE, libc::RTMGRP_LINK as u32, true)?;
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
    use crate::sources::netlink::{
        NLMSG_DONE, bytes_of,
        test_support::{attribute, message},
    };
    use std::mem::offset_of;

    /// The first eight counters: packets, bytes, errors and drops, rx then tx.
    fn stats(c: [u64; 8]) -> RtnlLinkStats64 {
        RtnlLinkStats64 {
            rx_packets: c[0],
            tx_packets: c[1],
            rx_bytes: c[2],
            tx_bytes: c[3],
            rx_errors: c[4],
            tx_errors: c[5],
            rx_dropped: c[6],
            tx_dropped: c[7],
            ..RtnlLinkStats64::default()
        }
    }

    fn link_payload(ifindex: u32, name: &str, stats: Option<RtnlLinkStats64>) -> Vec<u8> {
        // libc's ifinfomsg has a private pad field: laid out at its field offsets instead.
        let mut p = vec![0u8; size_of::<libc::ifinfomsg>()];
        let mut put = |at: usize, value: u32| p[at..at + 4].copy_from_slice(&value.to_ne_bytes());
        put(offset_of!(libc::ifinfomsg, ifi_index), ifindex);
        put(offset_of!(libc::ifinfomsg, ifi_flags), libc::IFF_UP as u32);
        p.extend(attribute(IFLA_IFNAME, format!("{name}\0").as_bytes()));
        p.extend(attribute(IFLA_MTU, &1500u32.to_ne_bytes()));
        if let Some(stats) = stats {
            p.extend(attribute(IFLA_STATS64, bytes_of(&stats)));
        }
        p
    }

    fn decode_all(buf: &[u8]) -> io::Result<(Vec<LinkChange>, bool)> {
        let mut changes = Vec::new();
        let mut done = false;
        decode(buf, &mut changes, &mut done)?;
        Ok((changes, done))
    }

    #[test]
    fn decodes_new_and_removed_links_and_the_end_of_a_dump() {
        let mut buf = message(
            RTM_NEWLINK,
            &link_payload(7, "veth0", Some(stats([1, 2, 3, 4, 5, 6, 7, 8]))),
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
    fn counters_fold_as_proc_net_dev_folds_them() {
        // Field i holds 1 << i, so each column's sum names the fields it took.
        let mut counters = [0u64; 24];
        for (i, c) in counters.iter_mut().enumerate() {
            *c = 1 << i;
        }
        let value: Vec<u8> = counters.iter().flat_map(|c| c.to_ne_bytes()).collect();
        let folded = dev_stats(&read::<RtnlLinkStats64>(&value).unwrap());
        let bits = |fields: &[u32]| fields.iter().map(|&i| 1u64 << i).sum::<u64>();
        assert_eq!(folded.rx_dropped, bits(&[6, 15]));
        assert_eq!(folded.rx_multicast, bits(&[8]));
        assert_eq!(folded.collisions, bits(&[9]));
        assert_eq!(folded.rx_frame_errors, bits(&[10, 11, 12, 13]));
        assert_eq!(folded.rx_fifo_errors, bits(&[14]));
        assert_eq!(folded.tx_carrier_errors, bits(&[16, 17, 19, 20]));
        assert_eq!(folded.tx_fifo_errors, bits(&[18]));
        assert_eq!(
            (folded.rx_compressed, folded.tx_compressed),
            (bits(&[21]), bits(&[22]))
        );
    }

    #[test]
    fn short_attributes_are_ignored() {
        // A pre-4.6 rtnl_link_stats64 (no rx_nohandler), a 2-byte MTU, a name without its NUL.
        let mut p = vec![0u8; size_of::<libc::ifinfomsg>()];
        p.extend(attribute(IFLA_STATS64, &[0u8; 23 * 8]));
        p.extend(attribute(IFLA_MTU, &[0u8; 2]));
        p.extend(attribute(IFLA_IFNAME, b"eth1"));
        let (changes, _) = decode_all(&message(RTM_NEWLINK, &p)).unwrap();
        let [LinkChange::Present(link)] = &changes[..] else {
            panic!("{changes:?}");
        };
        assert_eq!(
            (link.name.as_slice(), link.mtu, &link.stats),
            (&b"eth1"[..], 0, &None)
        );
    }

    #[test]
    fn every_truncation_is_survived() {
        let mut buf = message(RTM_NEWLINK, &link_payload(7, "veth0", Some(stats([1; 8]))));
        buf.extend(message(NLMSG_DONE, &[0; 4]));
        for len in 0..buf.len() {
            if let Ok((changes, done)) = decode_all(&buf[..len]) {
                assert!(changes.len() <= 1 && !done, "at {len}");
            }
        }
        // Attribute lengths that are too short, or run past the message.
        let at = size_of::<libc::ifinfomsg>() + 16;
        for bad_len in [0u16, 1, 3, 4, 200, u16::MAX] {
            let mut bad = buf.clone();
            bad[at..at + 2].copy_from_slice(&bad_len.to_ne_bytes());
            let (changes, _) = decode_all(&bad).unwrap();
            let [LinkChange::Present(link)] = &changes[..] else {
                panic!("rta_len {bad_len}: {changes:?}");
            };
            assert_eq!(link.ifindex, 7);
        }
    }

    #[test]
    fn dumps_this_namespace() {
        // Every namespace has lo; needs no privileges.
        let links = dump().unwrap();
        assert!(links.iter().any(|l| l.name == b"lo" && l.stats.is_some()));
    }
}
