//! Building the table from a snapshot, and reconciling it with the events around the snapshot.
//!
//! A gap-free start (and a resynchronisation after lost events) goes:
//! 1. attach the probe and buffer its events;
//! 2. note `snapshot_ns` (CLOCK_MONOTONIC, the probes' clock), then read /proc/net/tcp{,6};
//! 3. [`LiveTable::from_snapshot`] (or [`LiveTable::resync`]), then [`LiveTable::replay`] the
//!    buffer, then [`LiveTable::apply`] each later event.
//!
//! Why the table then equals the kernel's:
//! - Every change after the attach has an event in the buffer; every change before the read
//!   shows in the snapshot. Events stamped before `snapshot_ns` are all reflected; later ones may
//!   or may not be, row by row, since the read walks the hash tables while they change.
//! - Full sockets: each row reflects some prefix of its address's events (at least those stamped
//!   before `snapshot_ns`). For each address, `replay` takes the longest prefix whose last event
//!   leaves the address as the row shows it (same state and endpoints, or no row after a CLOSE),
//!   skips it and applies the rest. The result is right whichever prefix was really reflected:
//!   an applied event leaves the socket as the kernel left it, and when none is applied the row
//!   is already what the last event left. The longest prefix keeps the row's inode and uid when
//!   the address was reused during the read (the row shows the newer socket); when an older
//!   socket at that address could explain the row as well, they are dropped rather than risk
//!   pinning them on the wrong socket. A full socket changes only through events, so a row that
//!   no prefix explains was misread (the read can skip or repeat rows while hash chains change)
//!   and the events win: a socket they show alive is kept even if the read missed it.
//! - Time-wait sockets: a full socket and a time-wait socket never share a 4-tuple, so each event
//!   either creates its 4-tuple's time-wait socket (a close that leaves one) or shows there is
//!   none. A 4-tuple thus ends as the last of its events stamped after `snapshot_ns` left it, and
//!   `replay` applies only that one; 4-tuples without such events keep their row. When that event
//!   is a close and the snapshot has a row whose timer started then, the row is that close's
//!   time-wait socket and is kept, with the kernel's substate and timer. (A row of an older
//!   time-wait socket, read before a new connection took its 4-tuple, has a timer that started
//!   before that connection's whole life: it is only taken for this close's if that life lasted
//!   less than `SNAPSHOT_READ_SLACK_NS`, and then only its timer and substate are off.)
//! - Replaying an event the table already shows changes nothing (see [`LiveTable::apply`]), so a
//!   buffer fed through `apply` instead of `replay` also ends right, only knowing less (inodes of
//!   reused addresses, owners learned from reflected connect()s).
//!
//! What no event shows stays as the snapshot said until the next resync: a time-wait socket reset
//! by its peer, a socket without buffered events that the read skipped.

use std::{net::IpAddr, num::NonZeroU64};

use super::{Endpoints, LiveTable, SocketEntry, TimeWaitEntry, TimeWaitRow, starts_a_socket};
use crate::{
    events::TcpTransition,
    model::{
        TcpState,
        hashing::FastMap,
        sockets::{Family, InetSocketRow},
    },
};

/// One socket of a snapshot (a sock_diag answer, or a /proc/net/tcp{,6} line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SnapshotRow {
    /// What the probe's events call the socket ([`TcpTransition::socket_key`]): sock_diag's
    /// cookie, or /proc's `%pK` column (the raw kernel address only with kptr_restrict=1 and
    /// CAP_SYSLOG).
    pub(crate) key: u64,
    pub(crate) endpoints: Endpoints,
    /// A time-wait socket's substate.
    pub(crate) state: TcpState,
    pub(crate) kind: SnapshotKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SnapshotKind {
    /// A full socket; inode 0 when it has no file (orphaned, or not accepted yet).
    Socket { inode: u64, uid: u32 },
    /// A time-wait socket (timer 3 in /proc/net/tcp) and the time left before it goes.
    TimeWait { expires_in_ns: u64 },
    /// A request socket (NEW_SYN_RECV, listed as SYN_RECV with refcount 0). Not tracked: it has no
    /// events, so nothing would remove it; its child appears with LISTEN -> SYN_RECV.
    Request,
}

/// /proc/net/tcp's timer code for a time-wait socket's timer.
const TIME_WAIT_TIMER: u8 = 3;

impl SnapshotRow {
    /// A /proc/net/tcp{,6} line: `refcount` and `skaddr` are the two columns after the inode;
    /// `ticks_per_second` is USER_HZ (sysconf(_SC_CLK_TCK)), the unit of the timer column.
    pub(crate) fn from_proc(
        row: &InetSocketRow,
        refcount: u64,
        skaddr: u64,
        ticks_per_second: u64,
    ) -> Self {
        let kind = if row.timer == TIME_WAIT_TIMER {
            SnapshotKind::TimeWait {
                expires_in_ns: row.timer_ticks.saturating_mul(1_000_000_000)
                    / ticks_per_second.max(1),
            }
        } else if refcount == 0 {
            SnapshotKind::Request
        } else {
            SnapshotKind::Socket {
                inode: row.inode,
                uid: row.uid,
            }
        };
        Self::with_kind(skaddr, row, kind)
    }

    /// A socket of a sock_diag dump that asked for no request sockets: `cookie` names it,
    /// `expires_ms` is its timer (sock_diag's, in milliseconds).
    pub(crate) fn from_sock_diag(row: &InetSocketRow, cookie: u64, expires_ms: u32) -> Self {
        let kind = if row.timer == TIME_WAIT_TIMER {
            SnapshotKind::TimeWait {
                expires_in_ns: u64::from(expires_ms) * 1_000_000,
            }
        } else {
            SnapshotKind::Socket {
                inode: row.inode,
                uid: row.uid,
            }
        };
        Self::with_kind(cookie, row, kind)
    }

    fn with_kind(key: u64, row: &InetSocketRow, kind: SnapshotKind) -> Self {
        let family = match row.local {
            IpAddr::V4(_) => Family::Inet,
            IpAddr::V6(_) => Family::Inet6,
        };
        SnapshotRow {
            key,
            endpoints: Endpoints::new(
                family,
                row.local,
                row.local_port,
                row.remote,
                row.remote_port,
            ),
            state: TcpState::from_raw(row.state),
            kind,
        }
    }
}

impl LiveTable {
    /// The table a snapshot shows. `snapshot_ns` must be read before the snapshot is: events
    /// stamped earlier are taken as reflected by it. Follow with [`LiveTable::replay`].
    ///
    /// Should a key be listed twice (the read can meet a reused address twice), the last row
    /// stands: it was read last. The replay settles which socket is really there.
    pub(crate) fn from_snapshot(
        rows: impl IntoIterator<Item = SnapshotRow>,
        snapshot_ns: u64,
    ) -> Self {
        let mut table = LiveTable {
            snapshot_ns,
            ..LiveTable::default()
        };
        for row in rows {
            match row.kind {
                // A closed socket is unhashed, so not listed; were it, it would be gone already.
                SnapshotKind::Socket { .. } if row.state == TcpState::Close => {}
                SnapshotKind::Socket { inode, uid } => {
                    table.sockets.insert(
                        row.key,
                        SocketEntry {
                            endpoints: row.endpoints,
                            state: row.state,
                            entered_ns: None,
                            owner: None,
                            inode: NonZeroU64::new(inode),
                            uid: Some(uid),
                            born_ns: None,
                        },
                    );
                }
                SnapshotKind::TimeWait { expires_in_ns } => table.insert_time_wait(
                    row.endpoints,
                    TimeWaitEntry {
                        expires_ns: snapshot_ns.saturating_add(expires_in_ns),
                        state: row.state,
                    },
                ),
                SnapshotKind::Request => {}
            }
        }
        table
    }

    /// Rebuilds from a fresh snapshot after events were lost, keeping what only events taught:
    /// the owner and creation time of each socket still at the same address with the same
    /// endpoints, and when it entered its state if that did not change. Follow with [`LiveTable::replay`] of the events
    /// buffered since before `snapshot_ns`.
    pub(crate) fn resync(&mut self, rows: impl IntoIterator<Item = SnapshotRow>, snapshot_ns: u64) {
        let mut fresh = LiveTable::from_snapshot(rows, snapshot_ns).with_timeouts(self.timeouts);
        for (key, socket) in &mut fresh.sockets {
            let Some(known) = self.sockets.get(key) else {
                continue;
            };
            if known.endpoints != socket.endpoints {
                continue;
            }
            socket.owner = known.owner;
            socket.born_ns = known.born_ns;
            if known.state == socket.state {
                socket.entered_ns = known.entered_ns;
            }
        }
        fresh.health = std::mem::take(&mut self.health);
        fresh.prune_health();
        *self = fresh;
    }

    /// Applies the events buffered while the snapshot was taken, in the order received, skipping
    /// what the snapshot already reflects (see the module documentation for why this is exact).
    pub(crate) fn replay(&mut self, buffered: &[TcpTransition]) {
        let mut by_address: FastMap<u64, Vec<&TcpTransition>> = FastMap::default();
        for transition in buffered {
            by_address
                .entry(transition.socket_key())
                .or_default()
                .push(transition);
        }
        // How many of each address's transitions the snapshot reflects, counted down as they come.
        let mut reflected_left: FastMap<u64, usize> =
            FastMap::with_capacity_and_hasher(by_address.len(), Default::default());
        for (&key, transitions) in &by_address {
            let reflected = self.reflected_prefix(key, transitions);
            self.absorb_reflected(key, &transitions[..reflected]);
            reflected_left.insert(key, reflected);
        }
        // A 4-tuple ends as its last transition leaves it; earlier ones change nothing lasting.
        let mut last_for_four_tuple: FastMap<Endpoints, usize> = FastMap::default();
        for (index, transition) in buffered.iter().enumerate() {
            if transition.ts_ns >= self.snapshot_ns {
                last_for_four_tuple.insert(Endpoints::of(transition), index);
            }
        }
        // Each address's latest transition so far: when it entered FIN_WAIT2, for the closes of
        // sockets that the table does not follow (their transitions were reflected).
        let mut latest: FastMap<u64, &TcpTransition> = FastMap::default();
        for (index, transition) in buffered.iter().enumerate() {
            let key = transition.socket_key();
            if last_for_four_tuple.get(&Endpoints::of(transition)) == Some(&index) {
                let fin_wait2_since = match latest.get(&key) {
                    Some(previous) => {
                        (previous.new == TcpState::FinWait2).then_some(previous.ts_ns)
                    }
                    None => self.fin_wait2_since(key),
                };
                self.apply_to_time_waits(transition, fin_wait2_since, TimeWaitRow::KeepIfThisClose);
            }
            match reflected_left.get_mut(&key) {
                Some(left) if *left > 0 => *left -= 1,
                _ => {
                    self.apply_to_socket(transition);
                }
            }
            latest.insert(key, transition);
        }
        self.prune_health();
    }

    /// How many of an address's buffered transitions (in order) the snapshot reflects. Drops the
    /// row's inode and uid if they may belong to an earlier socket at the address.
    fn reflected_prefix(&mut self, key: u64, transitions: &[&TcpTransition]) -> usize {
        let stamped_before = transitions
            .iter()
            .rposition(|t| t.ts_ns < self.snapshot_ns)
            .map_or(0, |last| last + 1);
        let row = self.sockets.get(&key);
        // Whether the row shows the address as the first `count` transitions left it.
        let shows_after = |count: usize| match (count.checked_sub(1), row) {
            (Some(last), Some(socket)) => socket.shows_outcome_of(transitions[last]),
            (Some(last), None) => transitions[last].new == TcpState::Close,
            (None, Some(socket)) => transitions
                .first()
                .is_some_and(|first| socket.shows_state_before(first)),
            (None, None) => transitions
                .first()
                .is_none_or(|first| starts_a_socket(first)),
        };
        // Below `stamped_before` only if the row contradicts those transitions: a full socket
        // changes only through transitions, so the read missed it (or met it twice) and the
        // transitions win.
        let Some(reflected) = (0..=transitions.len())
            .rev()
            .find(|&count| shows_after(count))
        else {
            return 0;
        };
        // Could the row show an earlier socket at this address, one that closed before the
        // last transition of the prefix?
        let ambiguous = transitions[..reflected.saturating_sub(1)]
            .iter()
            .rposition(|t| t.new == TcpState::Close)
            .is_some_and(|closed| (stamped_before..=closed).any(shows_after));
        if ambiguous && let Some(socket) = self.sockets.get_mut(&key) {
            socket.inode = None;
            socket.uid = None;
        }
        reflected
    }
}
