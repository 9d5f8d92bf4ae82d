//! Per-socket health counts (retransmits, resets, drops) for the live table: what the daemon's
//! rows carry beside each socket's state. Pure, like the table.
//!
//! Counts are kept only for sockets that had such an event, so a healthy socket costs nothing;
//! the table forgets a socket's counts when the socket leaves it. They count what happened since
//! the daemon began following the socket: the kernel keeps no per-socket reset or drop counts to
//! start from (tcp_info's total_retrans would do for retransmits alone, and `--tcp-info` shows it).

use serde::Serialize;

use crate::{
    events::health::{HealthDetail, HealthEvent},
    model::hashing::FastMap,
};

/// One socket's counts. Each fits a u32: a connection retransmitting 4 billion segments would
/// have been reset long before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct SocketHealth {
    /// Segments retransmitted: what the kernel added to `Tcp: RetransSegs` for this socket.
    pub(crate) retransmits: u32,
    /// Of those, sent as tail-loss probes.
    pub(crate) tail_loss_probes: u32,
    pub(crate) resets_sent: u32,
    pub(crate) resets_received: u32,
    /// Packets of this socket the kernel dropped (any reason but a queue purge at close).
    pub(crate) drops: u32,
}

impl SocketHealth {
    fn count(&mut self, detail: &HealthDetail) {
        match *detail {
            HealthDetail::Retransmit {
                segments,
                tail_loss_probe,
                ..
            } => {
                self.retransmits = self.retransmits.saturating_add(segments);
                self.tail_loss_probes += u32::from(tail_loss_probe);
            }
            HealthDetail::Reset { sent: true, .. } => self.resets_sent += 1,
            HealthDetail::Reset { sent: false, .. } => self.resets_received += 1,
            HealthDetail::Drop { .. } => self.drops = self.drops.saturating_add(1),
        }
    }
}

/// Counts by socket key ([`HealthEvent::socket_key`], the table's key).
#[derive(Clone, Debug, Default)]
pub(crate) struct HealthCounts {
    by_socket: FastMap<u64, SocketHealth>,
}

impl HealthCounts {
    /// Counts `event` for the socket keyed `key`.
    pub(crate) fn count(&mut self, key: u64, event: &HealthEvent) {
        self.by_socket.entry(key).or_default().count(&event.detail);
    }

    pub(crate) fn get(&self, key: u64) -> Option<&SocketHealth> {
        self.by_socket.get(&key)
    }

    /// The socket left the table.
    pub(crate) fn forget(&mut self, key: u64) {
        self.by_socket.remove(&key);
    }

    /// Keeps only the counts of sockets `tracked` says the table still holds.
    pub(crate) fn retain(&mut self, mut tracked: impl FnMut(u64) -> bool) {
        self.by_socket.retain(|&key, _| tracked(key));
    }

    pub(crate) fn len(&self) -> usize {
        self.by_socket.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.by_socket.capacity()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::{
        events::{Comm, Task},
        model::sockets::Family,
    };

    fn event(detail: HealthDetail) -> HealthEvent {
        HealthEvent {
            ts_ns: 1,
            cookie: Some(7),
            skaddr: 0xffff_0000,
            family: Family::Inet,
            local: IpAddr::V4(Ipv4Addr::LOCALHOST),
            local_port: 1000,
            remote: IpAddr::V4(Ipv4Addr::LOCALHOST),
            remote_port: 80,
            task: Task {
                tgid: 1,
                comm: Comm::new([0; 16]),
            },
            netns: 0,
            state: None,
            protocol: 6,
            detail,
        }
    }

    fn retransmit(segments: u32, tail_loss_probe: bool) -> HealthEvent {
        event(HealthDetail::Retransmit {
            segments,
            tail_loss_probe,
            synack: false,
            error: 0,
        })
    }

    fn reset(sent: bool) -> HealthEvent {
        event(HealthDetail::Reset {
            sent,
            no_socket: false,
            reason: 0,
        })
    }

    #[test]
    fn each_kind_adds_to_its_own_count() {
        let mut counts = HealthCounts::default();
        counts.count(7, &retransmit(2, false));
        counts.count(7, &retransmit(1, true));
        counts.count(7, &reset(true));
        counts.count(7, &reset(false));
        counts.count(7, &reset(false));
        counts.count(7, &event(HealthDetail::Drop { reason: 5 }));
        assert_eq!(
            counts.get(7),
            Some(&SocketHealth {
                retransmits: 3,
                tail_loss_probes: 1,
                resets_sent: 1,
                resets_received: 2,
                drops: 1,
            })
        );
        assert_eq!(counts.get(8), None, "a socket without events has no entry");
    }

    #[test]
    fn forgotten_and_untracked_sockets_lose_their_counts() {
        let mut counts = HealthCounts::default();
        for key in 1..=4 {
            counts.count(key, &retransmit(1, false));
        }
        counts.forget(1);
        counts.retain(|key| key % 2 == 0);
        assert_eq!(counts.len(), 2);
        assert!(counts.get(2).is_some() && counts.get(4).is_some());
        assert!(counts.get(1).is_none() && counts.get(3).is_none());
    }

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        let mut counts = HealthCounts::default();
        counts.count(1, &retransmit(u32::MAX, false));
        counts.count(1, &retransmit(5, false));
        assert_eq!(counts.get(1).unwrap().retransmits, u32::MAX);
    }
}
