//! Per-socket memory that a single transition record cannot carry: who owns the socket, when it
//! entered its current state, and the first transition of it that was seen.

use crate::{
    events::{Task, TcpTransition},
    model::{TcpState, hashing::FastMap},
};

/// A transition with what the tracker knows about its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Observed {
    pub(crate) transition: TcpTransition,
    /// The socket's owner, if a transition made in its owner's process context was seen.
    pub(crate) owner: Option<Task>,
    /// Nanoseconds spent in `transition.old`, if the transition into it was seen.
    pub(crate) in_old_state_ns: Option<u64>,
    /// The socket's first transition seen (this one, for a socket not seen before).
    pub(crate) first_seen: Sighting,
}

/// One transition, reduced to when and which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sighting {
    pub(crate) ts_ns: u64,
    pub(crate) old: TcpState,
    pub(crate) new: TcpState,
}

impl Sighting {
    fn of(t: &TcpTransition) -> Self {
        Sighting {
            ts_ns: t.ts_ns,
            old: t.old,
            new: t.new,
        }
    }

    /// Whether this transition began the socket's life: a new socket's connect() or listen()
    /// (it leaves CLOSE), or a connection's child socket born from its listener.
    pub(crate) fn is_birth(&self) -> bool {
        self.old == TcpState::Close
            || (self.old == TcpState::Listen && self.new == TcpState::SynRecv)
    }
}

/// Whether a transition always runs in the context of the process that owns the socket (a system
/// call on it), so that the task on the CPU is the owner. Everything else can run in softirq or
/// timer context, on behalf of whichever task the CPU happened to be running.
pub(crate) fn made_by_owner(old: TcpState, new: TcpState) -> bool {
    use TcpState::*;
    matches!(
        (old, new),
        (Close, SynSent)            // connect()
            | (Close, Listen)       // listen()
            | (Listen, Close)       // close() or shutdown() of a listener
            | (Established, FinWait1) // close() or shutdown(SHUT_WR)
            | (CloseWait, LastAck) // close() or shutdown(SHUT_WR) after the peer's FIN
    )
}

#[derive(Clone, Copy, Debug)]
struct SocketMemo {
    owner: Option<Task>,
    entered_ns: u64,
    first_seen: Sighting,
}

/// Remembers, per live socket, its owner and when it entered its current state.
///
/// A socket is forgotten when it reaches CLOSE: the kernel may reuse its address for a new socket.
/// (A socket that goes CLOSE -> SYN_SENT again, a reconnect, is re-learned from that connect.)
#[derive(Debug, Default)]
pub(crate) struct TransitionTracker {
    sockets: FastMap<u64, SocketMemo>,
    /// Caps the memory held for sockets whose CLOSE is never seen (records lost, sockets that were
    /// open before the tracker started and never close).
    capacity: usize,
    /// Owners of sockets that closed lately, for the health events that follow a close (a reset
    /// sent by `close()` after the socket entered CLOSE). Two generations of at most
    /// [`RECENTLY_CLOSED`] each: the older is dropped when the newer fills. Kept only when asked
    /// ([`TransitionTracker::keeping_closed_owners`]): it costs every close an insert.
    closed_owners: [FastMap<u64, Task>; 2],
    keep_closed_owners: bool,
}

/// Closed sockets remembered per generation of [`TransitionTracker::closed_owners`].
const RECENTLY_CLOSED: usize = 1 << 14;

/// Default cap on remembered sockets: ample for a busy host, bounded if CLOSEs go missing.
pub(crate) const DEFAULT_CAPACITY: usize = 1 << 21;

impl TransitionTracker {
    pub(crate) fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    pub(crate) fn with_capacity(capacity: usize) -> Self {
        TransitionTracker {
            sockets: FastMap::default(),
            capacity: capacity.max(1),
            closed_owners: Default::default(),
            keep_closed_owners: false,
        }
    }

    /// Remembers the owners of closed sockets for a while, for [`Self::owner_of`].
    pub(crate) fn keeping_closed_owners(mut self) -> Self {
        self.keep_closed_owners = true;
        self
    }

    /// The owner of a live or lately closed socket, by [`TcpTransition::socket_key`].
    pub(crate) fn owner_of(&self, key: u64) -> Option<Task> {
        match self.sockets.get(&key) {
            Some(memo) => memo.owner,
            None => self.closed_owners.iter().find_map(|g| g.get(&key).copied()),
        }
    }

    fn remember_closed(&mut self, key: u64, owner: Task) {
        if self.closed_owners[0].len() >= RECENTLY_CLOSED {
            self.closed_owners.swap(0, 1);
            self.closed_owners[0].clear();
        }
        self.closed_owners[0].insert(key, owner);
    }

    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.sockets.len()
    }

    pub(crate) fn observe(&mut self, transition: TcpTransition) -> Observed {
        let closing = transition.new == TcpState::Close;
        if !closing
            && self.sockets.len() >= self.capacity
            && !self.sockets.contains_key(&transition.socket_key())
        {
            // Crude but honest: a forgotten socket shows an unknown owner and time, never a wrong one.
            self.sockets.clear();
        }
        let sighting = Sighting::of(&transition);
        let previous = if closing {
            self.sockets.remove(&transition.socket_key())
        } else {
            self.sockets.get(&transition.socket_key()).copied()
        };
        // A birth means any memory of this address is of an earlier socket whose CLOSE was lost.
        let previous = previous.filter(|_| !sighting.is_birth());
        let first_seen = previous.map_or(sighting, |memo| memo.first_seen);
        let owner = if made_by_owner(transition.old, transition.new) {
            Some(transition.task)
        } else {
            previous.and_then(|memo| memo.owner)
        };
        if closing {
            if let Some(owner) = owner.filter(|_| self.keep_closed_owners) {
                self.remember_closed(transition.socket_key(), owner);
            }
        } else {
            self.sockets.insert(
                transition.socket_key(),
                SocketMemo {
                    owner,
                    entered_ns: transition.ts_ns,
                    first_seen,
                },
            );
        }
        Observed {
            transition,
            owner,
            in_old_state_ns: previous.map(|memo| transition.ts_ns.saturating_sub(memo.entered_ns)),
            first_seen,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::{events::Comm, model::sockets::Family};

    pub(crate) fn task(tgid: u32, name: &str) -> Task {
        let mut comm = [0u8; 16];
        comm[..name.len()].copy_from_slice(name.as_bytes());
        Task {
            tgid,
            comm: Comm::new(comm),
        }
    }

    /// A loopback IPv4 transition at `ts_ms` milliseconds, ports 1 -> 2.
    pub(crate) fn t(
        ts_ms: u64,
        skaddr: u64,
        old: TcpState,
        new: TcpState,
        on_cpu: Task,
    ) -> TcpTransition {
        TcpTransition {
            ts_ns: ts_ms * 1_000_000,
            skaddr,
            family: Family::Inet,
            local: IpAddr::V4(Ipv4Addr::LOCALHOST),
            local_port: 1,
            remote: IpAddr::V4(Ipv4Addr::LOCALHOST),
            remote_port: 2,
            old,
            new,
            task: on_cpu,
            netns: 0,
            counters: None,
            cookie: None,
        }
    }

    use TcpState::*;

    #[test]
    fn active_close_client_keeps_its_connect_owner_through_softirq_transitions() {
        let client = task(100, "client");
        let server = task(200, "server");
        let mut tracker = TransitionTracker::new();
        let seq = [
            (0, Close, SynSent, client),
            // The SYN-ACK arrives in softirq while the server happens to be on the CPU.
            (1, SynSent, Established, server),
            (5, Established, FinWait1, client),
            (6, FinWait1, FinWait2, server),
            (7, FinWait2, Close, server),
        ];
        let observed: Vec<_> = seq
            .iter()
            .map(|&(ms, old, new, cpu)| tracker.observe(t(ms, 0xa, old, new, cpu)))
            .collect();
        assert!(observed.iter().all(|o| o.owner == Some(client)));
        let times: Vec<_> = observed.iter().map(|o| o.in_old_state_ns).collect();
        assert_eq!(
            times,
            [
                None,
                Some(1_000_000),
                Some(4_000_000),
                Some(1_000_000),
                Some(1_000_000)
            ]
        );
        assert_eq!(tracker.tracked(), 0, "a closed socket is forgotten");
    }

    #[test]
    fn passive_side_owner_is_unknown_until_its_owner_closes_it() {
        let client = task(100, "client");
        let server = task(200, "server");
        let mut tracker = TransitionTracker::new();
        // Child socket born from the listener in softirq, with the client on the CPU.
        let born = tracker.observe(t(0, 0xb, Listen, SynRecv, client));
        let established = tracker.observe(t(1, 0xb, SynRecv, Established, client));
        let fin = tracker.observe(t(2, 0xb, Established, CloseWait, client));
        let closed_by_server = tracker.observe(t(3, 0xb, CloseWait, LastAck, server));
        let done = tracker.observe(t(4, 0xb, LastAck, Close, client));
        assert_eq!(born.owner, None);
        assert_eq!(established.owner, None);
        assert_eq!(fin.owner, None);
        assert_eq!(closed_by_server.owner, Some(server));
        assert_eq!(done.owner, Some(server));
    }

    #[test]
    fn a_reused_socket_address_does_not_inherit_the_old_owner() {
        let first = task(1, "first");
        let other = task(2, "other");
        let mut tracker = TransitionTracker::new();
        tracker.observe(t(0, 0xc, Close, SynSent, first));
        tracker.observe(t(1, 0xc, SynSent, Close, other)); // refused, in softirq
        let reborn = tracker.observe(t(2, 0xc, Listen, SynRecv, other));
        assert_eq!(reborn.owner, None);
        assert_eq!(reborn.in_old_state_ns, None);
    }

    #[test]
    fn refused_connect_and_rst_abort_keep_the_connect_owner() {
        let client = task(7, "c");
        let irq = task(0, "swapper/0");
        let mut tracker = TransitionTracker::new();
        tracker.observe(t(0, 1, Close, SynSent, client));
        assert_eq!(
            tracker.observe(t(1, 1, SynSent, Close, irq)).owner,
            Some(client)
        );
        tracker.observe(t(2, 2, Close, SynSent, client));
        tracker.observe(t(3, 2, SynSent, Established, irq));
        assert_eq!(
            tracker.observe(t(4, 2, Established, Close, irq)).owner,
            Some(client)
        );
    }

    #[test]
    fn first_seen_is_the_birth_or_the_first_transition_after_start() {
        let me = task(1, "me");
        let mut tracker = TransitionTracker::new();
        let born = tracker.observe(t(10, 1, Close, SynSent, me));
        assert!(born.first_seen.is_birth());
        tracker.observe(t(11, 1, SynSent, Established, me));
        let closed = tracker.observe(t(30, 1, Established, Close, me));
        assert_eq!(closed.first_seen.ts_ns, 10_000_000);
        assert_eq!(
            (closed.first_seen.old, closed.first_seen.new),
            (Close, SynSent)
        );

        // Open before the tracker started: first seen mid-life.
        tracker.observe(t(40, 2, Established, FinWait1, me));
        let closed = tracker.observe(t(50, 2, FinWait2, Close, me));
        assert_eq!(closed.first_seen.ts_ns, 40_000_000);
        assert!(!closed.first_seen.is_birth());

        // A child socket is born from its listener.
        let child = tracker.observe(t(60, 3, Listen, SynRecv, me));
        assert!(child.first_seen.is_birth());
    }

    #[test]
    fn a_birth_forgets_a_socket_whose_close_was_lost() {
        let old_owner = task(1, "old");
        let cpu = task(2, "other");
        let mut tracker = TransitionTracker::new();
        tracker.observe(t(0, 7, Close, SynSent, old_owner));
        tracker.observe(t(1, 7, SynSent, Established, cpu));
        // Its CLOSE is lost; the address comes back as a listener's child.
        let child = tracker.observe(t(5, 7, Listen, SynRecv, cpu));
        assert_eq!(child.owner, None);
        assert_eq!(child.in_old_state_ns, None);
        assert_eq!(child.first_seen.ts_ns, 5_000_000);
    }

    #[test]
    fn owners_of_closed_sockets_are_kept_for_a_while_when_asked() {
        let client = task(10, "client");
        let mut plain = TransitionTracker::new();
        let mut keeping = TransitionTracker::new().keeping_closed_owners();
        for tracker in [&mut plain, &mut keeping] {
            tracker.observe(t(0, 1, Close, SynSent, client));
            assert_eq!(tracker.owner_of(1), Some(client));
            tracker.observe(t(1, 1, SynSent, Close, task(0, "swapper")));
        }
        assert_eq!(plain.owner_of(1), None);
        assert_eq!(keeping.owner_of(1), Some(client));
        for key in 2..(2 + 2 * RECENTLY_CLOSED as u64) {
            keeping.observe(t(key, key, Close, SynSent, client));
            keeping.observe(t(key, key, SynSent, Close, client));
        }
        assert_eq!(keeping.owner_of(1), None, "two generations later");
        assert!(
            keeping
                .closed_owners
                .iter()
                .all(|g| g.len() <= RECENTLY_CLOSED)
        );
    }

    #[test]
    fn overflowing_the_capacity_forgets_rather_than_guesses() {
        let owner = task(1, "o");
        let mut tracker = TransitionTracker::with_capacity(2);
        tracker.observe(t(0, 1, Close, Listen, owner));
        tracker.observe(t(0, 2, Close, Listen, owner));
        tracker.observe(t(0, 3, Close, Listen, owner));
        assert_eq!(tracker.tracked(), 1);
        let forgotten = tracker.observe(t(1, 1, Listen, Close, task(9, "x")));
        assert_eq!(
            forgotten.owner,
            Some(task(9, "x")),
            "LISTEN -> CLOSE is made by the owner"
        );
        assert_eq!(forgotten.in_old_state_ns, None);
    }
}
