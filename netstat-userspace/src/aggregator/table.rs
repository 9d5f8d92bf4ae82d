//! The live TCP socket table: every socket the kernel lists in /proc/net/tcp{,6}, kept exact from a
//! snapshot plus the `inet_sock_set_state` event stream. Pure: no I/O, no clocks; times are the
//! probes' CLOCK_MONOTONIC nanoseconds, passed in by the caller.
//!
//! The kernel has two kinds of TCP sockets, and so does the table:
//! - full sockets, keyed by [`TcpTransition::socket_key`]: the socket cookie, which names one
//!   socket for ever, or (from the classic tracepoint, which cannot ask for cookies) the kernel
//!   address, which names a socket while it lives and may name a new one once it reaches CLOSE;
//! - time-wait mini-sockets, which take a closing socket's place without an event of their own:
//!   keyed by their 4-tuple, inferred from the close, dropped by [`LiveTable::expire`] or when a
//!   new socket takes their 4-tuple.
//!
//! Start-up and resynchronisation from a snapshot are in [`snapshot`].

#[cfg(test)]
mod simulation;
pub(crate) mod snapshot;
#[cfg(test)]
mod tests;

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    num::NonZeroU64,
};

use super::{
    health::{HealthCounts, SocketHealth},
    lifetimes::synchronized,
    transitions::made_by_owner,
};
use crate::{
    events::{Task, TcpTransition, health::HealthEvent},
    model::{
        TcpState,
        hashing::{FastMap, FastSet},
        sockets::Family,
    },
};

#[cfg(test)]
pub(crate) use snapshot::SnapshotKind;
pub(crate) use snapshot::SnapshotRow;

/// A socket's family and endpoints: its 4-tuple, or local address alone for a listener.
///
/// Addresses are kept as 16 bytes (an IPv4 address in the first four) with the family once,
/// rather than as two `IpAddr`s of 17 bytes: entries stay small and hash fast.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Endpoints {
    local: [u8; 16],
    remote: [u8; 16],
    local_port: u16,
    remote_port: u16,
    family: Family,
}

impl Endpoints {
    /// An address of the other family (never decoded from a record) is converted when it maps,
    /// else read as unspecified.
    pub(crate) fn new(
        family: Family,
        local: IpAddr,
        local_port: u16,
        remote: IpAddr,
        remote_port: u16,
    ) -> Self {
        Endpoints {
            local: stored_address(family, local),
            remote: stored_address(family, remote),
            local_port,
            remote_port,
            family,
        }
    }

    /// The same connection seen from its other end.
    pub(crate) fn mirrored(&self) -> Self {
        Endpoints {
            local: self.remote,
            remote: self.local,
            local_port: self.remote_port,
            remote_port: self.local_port,
            family: self.family,
        }
    }

    /// The endpoints a transition record carries.
    pub(crate) fn of(transition: &TcpTransition) -> Self {
        Self::new(
            transition.family,
            transition.local,
            transition.local_port,
            transition.remote,
            transition.remote_port,
        )
    }

    pub(crate) fn family(&self) -> Family {
        self.family
    }

    pub(crate) fn local(&self) -> SocketAddr {
        SocketAddr::new(address(self.family, self.local), self.local_port)
    }

    pub(crate) fn remote(&self) -> SocketAddr {
        SocketAddr::new(address(self.family, self.remote), self.remote_port)
    }

    /// Both ports are set: a connection's 4-tuple, which a time-wait socket may hold. Not a
    /// listener (no remote port) nor a connect() whose local port is not chosen yet.
    fn is_connection(&self) -> bool {
        self.local_port != 0 && self.remote_port != 0
    }

    /// Whether two sightings can be the same socket: same family and remote end, and same local
    /// port unless one of them was taken before connect() chose it (the local address may change
    /// along with it).
    fn same_socket(&self, other: &Endpoints) -> bool {
        self.family == other.family
            && self.remote == other.remote
            && self.remote_port == other.remote_port
            && (self.local_port == other.local_port
                || self.local_port == 0
                || other.local_port == 0)
    }
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} -> {}",
            self.family.name(),
            self.local(),
            self.remote()
        )
    }
}

fn stored_address(family: Family, ip: IpAddr) -> [u8; 16] {
    let v4 = |v4: Ipv4Addr| {
        let mut stored = [0u8; 16];
        stored[..4].copy_from_slice(&v4.octets());
        stored
    };
    match (family, ip) {
        (Family::Inet, IpAddr::V4(ip)) => v4(ip),
        (Family::Inet, IpAddr::V6(ip)) => v4(ip.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)),
        (Family::Inet6, IpAddr::V6(ip)) => ip.octets(),
        (Family::Inet6, IpAddr::V4(ip)) => ip.to_ipv6_mapped().octets(),
    }
}

fn address(family: Family, stored: [u8; 16]) -> IpAddr {
    match family {
        Family::Inet => IpAddr::V4(Ipv4Addr::new(stored[0], stored[1], stored[2], stored[3])),
        Family::Inet6 => IpAddr::V6(Ipv6Addr::from(stored)),
    }
}

/// A full socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SocketEntry {
    pub(crate) endpoints: Endpoints,
    pub(crate) state: TcpState,
    /// When the socket entered `state`; None if it was in it already when the snapshot was read.
    /// Like `born_ns`, a NonZeroU64 (8 bytes, not 16): the probes' clock never reads 0.
    pub(crate) entered_ns: Option<NonZeroU64>,
    /// The process that owns the socket, learned from a transition made in its context or from a
    /// /proc/*/fd scan. Kept after that process exits: owners only change when shown to.
    pub(crate) owner: Option<Task>,
    /// Its socket inode, from a snapshot (None there means no file: orphaned or not accepted yet).
    pub(crate) inode: Option<NonZeroU64>,
    /// Its owner's uid, from a snapshot.
    pub(crate) uid: Option<u32>,
    /// When it was created (connect(), listen(), or a child of a listener), if a transition
    /// showed it; None for a socket first seen in a snapshot or after lost events.
    pub(crate) born_ns: Option<NonZeroU64>,
}

impl SocketEntry {
    /// A socket first seen through this transition.
    fn born(transition: &TcpTransition) -> Self {
        SocketEntry {
            endpoints: Endpoints::of(transition),
            state: transition.new,
            entered_ns: NonZeroU64::new(transition.ts_ns),
            owner: owner_after(transition, None),
            inode: None,
            uid: None,
            born_ns: birth_shown_by(transition),
        }
    }

    /// How long this socket lived as a connection if `close_ns` is when it closed: from its
    /// creation, if that was seen, and if it was connected (not a listener, nor a connect() or a
    /// handshake that never completed; `state` is the state it closed from).
    pub(crate) fn connection_lifetime_ns(&self, close_ns: u64) -> Option<u64> {
        let born = self.born_ns?.get();
        synchronized(self.state).then(|| close_ns.saturating_sub(born))
    }

    /// Whether this entry is what `transition` leaves behind (so the transition is already in it).
    fn shows_outcome_of(&self, transition: &TcpTransition) -> bool {
        self.state == transition.new && self.endpoints.same_socket(&Endpoints::of(transition))
    }

    /// Whether this entry is the socket `transition` is about to change.
    fn shows_state_before(&self, transition: &TcpTransition) -> bool {
        !starts_a_socket(transition)
            && self.state == transition.old
            && self.endpoints.same_socket(&Endpoints::of(transition))
    }
}

/// The owner a socket has after a transition, given the one it had before.
fn owner_after(transition: &TcpTransition, before: Option<Task>) -> Option<Task> {
    if made_by_owner(transition.old, transition.new) {
        Some(transition.task)
    } else {
        before
    }
}

/// Whether a transition starts a socket's life at its address: connect() or listen() from CLOSE
/// (a new socket, or the same one reconnecting), or a child born from a listener. Anything the
/// address held before is gone.
fn starts_a_socket(transition: &TcpTransition) -> bool {
    transition.old == TcpState::Close
        || (transition.old, transition.new) == (TcpState::Listen, TcpState::SynRecv)
}

/// When a socket was created, if `transition` created it.
fn birth_shown_by(transition: &TcpTransition) -> Option<NonZeroU64> {
    starts_a_socket(transition)
        .then(|| NonZeroU64::new(transition.ts_ns))
        .flatten()
}

/// A time-wait mini-socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeWaitEntry {
    pub(crate) expires_ns: u64,
    /// TIME_WAIT, or FIN_WAIT2 for an orphan whose FIN was ACKed before its peer sent one.
    pub(crate) state: TcpState,
}

/// How long the kernel keeps time-wait sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// TCP_TIMEWAIT_LEN.
    pub(crate) time_wait_ns: u64,
    /// net.ipv4.tcp_fin_timeout, for the FIN_WAIT2 substate.
    pub(crate) fin_wait2_ns: u64,
}

impl Timeouts {
    /// How long a time-wait socket in `state` (its substate) lives.
    pub(crate) fn lifetime_ns(&self, state: TcpState) -> u64 {
        if state == TcpState::FinWait2 {
            self.fin_wait2_ns
        } else {
            self.time_wait_ns
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            time_wait_ns: 60_000_000_000,
            fin_wait2_ns: 60_000_000_000,
        }
    }
}

/// An orphaned socket whose FIN gets ACKed goes FIN_WAIT1 -> FIN_WAIT2 -> CLOSE while handling
/// that one ACK, and leaves a time-wait socket in its FIN_WAIT2 substate; a socket that waited in
/// FIN_WAIT2 for its peer's FIN leaves one in TIME_WAIT. A close this soon after entering FIN_WAIT2
/// is taken for the first kind. A peer FIN arriving with that same ACK looks alike but leaves
/// TIME_WAIT: no event tells them apart, so a snapshot row, when there is one, wins over the guess.
pub(crate) const SAME_SEGMENT_NS: u64 = 50_000;

/// What a time-wait socket will be if `transition` leaves one; `fin_wait2_since` is when the
/// socket entered FIN_WAIT2, if known.
fn time_wait_left_by(
    transition: &TcpTransition,
    fin_wait2_since: Option<u64>,
    timeouts: Timeouts,
) -> Option<TimeWaitEntry> {
    use TcpState::*;
    let state = match (transition.old, transition.new) {
        (FinWait2, Close)
            if fin_wait2_since
                .is_some_and(|since| transition.ts_ns.saturating_sub(since) <= SAME_SEGMENT_NS) =>
        {
            FinWait2
        }
        // FIN_WAIT1 -> CLOSE was seen to leave one too; an RST in FIN_WAIT1 looks the same but
        // leaves none: a resync corrects that rare case.
        (FinWait2 | Closing | FinWait1, Close) => TimeWait,
        _ => return None,
    };
    Some(TimeWaitEntry {
        expires_ns: transition.ts_ns.saturating_add(timeouts.lifetime_ns(state)),
        state,
    })
}

/// What a close that leaves a time-wait socket does to one already listed for its 4-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeWaitRow {
    /// A leftover: the new one replaces it.
    Replace,
    /// A snapshot row, kept if its timer started at this close (see `replay`): it then has the
    /// kernel's substate and timer rather than a guess.
    KeepIfThisClose,
}

/// The longest a snapshot read may take: a time-wait row whose timer started this long before a
/// replayed close would have been read before that close, so it is an older socket's.
pub(crate) const SNAPSHOT_READ_SLACK_NS: u64 = 1_000_000_000;

#[cfg(test)]
/// Which socket an owner is reported for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SocketId {
    /// The key of events and snapshot rows: cookie or kernel address.
    Key(u64),
    /// The socket inode, as in /proc/PID/fd links.
    Inode(u64),
}

/// One line of the table, for listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TableRow<'a> {
    Socket {
        key: u64,
        socket: &'a SocketEntry,
        /// Its retransmits, resets and drops, when it had any.
        health: Option<&'a SocketHealth>,
    },
    TimeWait {
        endpoints: &'a Endpoints,
        time_wait: &'a TimeWaitEntry,
    },
}

impl TableRow<'_> {
    pub(crate) fn endpoints(&self) -> Endpoints {
        match self {
            TableRow::Socket { socket, .. } => socket.endpoints,
            TableRow::TimeWait { endpoints, .. } => **endpoints,
        }
    }

    /// As /proc/net/tcp shows it: a time-wait socket shows its substate.
    pub(crate) fn state(&self) -> TcpState {
        match self {
            TableRow::Socket { socket, .. } => socket.state,
            TableRow::TimeWait { time_wait, .. } => time_wait.state,
        }
    }

    pub(crate) fn owner(&self) -> Option<Task> {
        match self {
            TableRow::Socket { socket, .. } => socket.owner,
            TableRow::TimeWait { .. } => None,
        }
    }

    /// Its retransmits, resets and drops since the table followed it (all 0 when it had none).
    pub(crate) fn health(&self) -> SocketHealth {
        match self {
            TableRow::Socket {
                health: Some(health),
                ..
            } => **health,
            _ => SocketHealth::default(),
        }
    }

    #[cfg(test)]
    pub(crate) fn inode(&self) -> Option<u64> {
        match self {
            TableRow::Socket { socket, .. } => socket.inode.map(NonZeroU64::get),
            TableRow::TimeWait { .. } => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn uid(&self) -> Option<u32> {
        match self {
            TableRow::Socket { socket, .. } => socket.uid,
            TableRow::TimeWait { .. } => None,
        }
    }
}

/// Every TCP socket the kernel holds, kept up to date by [`LiveTable::apply`].
#[derive(Clone, Debug)]
pub(crate) struct LiveTable {
    sockets: FastMap<u64, SocketEntry>,
    time_waits: FastMap<Endpoints, TimeWaitEntry>,
    timeouts: Timeouts,
    /// Events stamped before this are already reflected by the snapshot the table was built from.
    snapshot_ns: u64,
    /// No time-wait entry expires before this, so `expire` can skip its scan until then.
    next_expiry_ns: u64,
    /// 4-tuples whose peer, a socket on this host, has sent its FIN: a close on such a 4-tuple
    /// leaves a time-wait socket in TIME_WAIT, whatever the timing says.
    peer_fin_sent: FastSet<Endpoints>,
    /// Retransmits, resets and drops of the full sockets that had any (`serve --events`).
    health: HealthCounts,
}

impl Default for LiveTable {
    fn default() -> Self {
        LiveTable {
            sockets: FastMap::default(),
            time_waits: FastMap::default(),
            peer_fin_sent: FastSet::default(),
            health: HealthCounts::default(),
            timeouts: Timeouts::default(),
            snapshot_ns: 0,
            next_expiry_ns: u64::MAX,
        }
    }
}

impl LiveTable {
    #[cfg(test)]
    /// An empty table, for when no socket can predate the events (tests, a fresh namespace).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Follows one transition. Any sequence is accepted: lost, duplicated or replayed events leave
    /// the socket as the latest event says, never a panic. Returns the full socket the transition
    /// closed, as the table last knew it, if it held one at that address.
    pub(crate) fn apply(&mut self, transition: &TcpTransition) -> Option<SocketEntry> {
        if transition.ts_ns < self.snapshot_ns {
            self.absorb_reflected(transition.socket_key(), &[transition]);
            return None;
        }
        let fin_wait2_since = self.fin_wait2_since(transition.socket_key());
        self.apply_to_time_waits(transition, fin_wait2_since, TimeWaitRow::Replace);
        let closed = self.apply_to_socket(transition);
        self.peer_fin_reaches_time_wait(transition);
        if closed.is_some() {
            self.health.forget(transition.socket_key());
        }
        closed
    }

    /// Counts a retransmit, reset or drop for the full socket it names; whether the table holds
    /// that socket (request sockets, time-wait sockets, UDP sockets and segments without a
    /// socket are counted only host-wide).
    pub(crate) fn apply_health(&mut self, event: &HealthEvent) -> bool {
        match event.socket_key() {
            Some(key) if self.sockets.contains_key(&key) => {
                self.health.count(key, event);
                true
            }
            _ => false,
        }
    }

    /// Drops the health counts of sockets the table no longer holds (after a replay or resync,
    /// which remove sockets without going through [`LiveTable::apply`]'s close).
    fn prune_health(&mut self) {
        if self.health.len() > 0 {
            let sockets = &self.sockets;
            self.health.retain(|key| sockets.contains_key(&key));
        }
    }

    /// A socket that sends its FIN (-> FIN_WAIT1, or CLOSE_WAIT -> LAST_ACK) decides, when its
    /// peer is on this host, the peer's time-wait substate, which no event shows: the peer ends
    /// in TIME_WAIT (the kernel's tcp_fin / tcp_timewait_state_process). A peer already a
    /// time-wait socket in the FIN_WAIT2 substate moves to TIME_WAIT with a fresh timer; a peer
    /// still open is marked, and its close then leaves TIME_WAIT whatever the timing says.
    /// A peer elsewhere is out of sight: its substate is guessed from timing until a resync.
    fn peer_fin_reaches_time_wait(&mut self, transition: &TcpTransition) {
        let endpoints = Endpoints::of(transition);
        let sends_fin = transition.new == TcpState::FinWait1
            || (transition.old, transition.new) == (TcpState::CloseWait, TcpState::LastAck);
        let time_wait_ns = self.timeouts.time_wait_ns;
        if sends_fin {
            let peer = endpoints.mirrored();
            match self.time_waits.get_mut(&peer) {
                Some(entry) if entry.state == TcpState::FinWait2 => {
                    entry.state = TcpState::TimeWait;
                    entry.expires_ns = transition.ts_ns.saturating_add(time_wait_ns);
                }
                Some(_) => {}
                None => {
                    self.peer_fin_sent.insert(peer);
                }
            }
        }
        if transition.new == TcpState::Close {
            if self.peer_fin_sent.remove(&endpoints)
                && let Some(entry) = self.time_waits.get_mut(&endpoints)
            {
                entry.state = TcpState::TimeWait;
                entry.expires_ns = transition.ts_ns.saturating_add(time_wait_ns);
            }
            // This connection's marks are settled once either end is gone.
            self.peer_fin_sent.remove(&endpoints.mirrored());
        }
    }

    /// When the socket at `key` entered FIN_WAIT2, if it is there and that was seen.
    fn fin_wait2_since(&self, key: u64) -> Option<u64> {
        self.sockets
            .get(&key)
            .filter(|socket| socket.state == TcpState::FinWait2)
            .and_then(|socket| socket.entered_ns)
            .map(NonZeroU64::get)
    }

    /// A full socket and a time-wait socket never share a 4-tuple, so a transition either leaves
    /// the time-wait socket of its 4-tuple or shows there is none (any reuse killed it).
    fn apply_to_time_waits(
        &mut self,
        transition: &TcpTransition,
        fin_wait2_since: Option<u64>,
        present: TimeWaitRow,
    ) {
        let endpoints = Endpoints::of(transition);
        match time_wait_left_by(transition, fin_wait2_since, self.timeouts) {
            Some(_)
                if present == TimeWaitRow::KeepIfThisClose
                    && self.lists_time_wait_of(transition) => {}
            Some(left) => self.insert_time_wait(endpoints, left),
            None if endpoints.is_connection() => {
                self.time_waits.remove(&endpoints);
            }
            None => {}
        }
    }

    /// Whether the time-wait socket listed for `close`'s 4-tuple is the one it left: its timer,
    /// read at most `SNAPSHOT_READ_SLACK_NS` after the snapshot began, started at the close.
    fn lists_time_wait_of(&self, close: &TcpTransition) -> bool {
        self.time_waits
            .get(&Endpoints::of(close))
            .is_some_and(|listed| {
                let started_by = listed
                    .expires_ns
                    .saturating_add(SNAPSHOT_READ_SLACK_NS)
                    .saturating_sub(self.timeouts.lifetime_ns(listed.state));
                started_by >= close.ts_ns
            })
    }

    fn insert_time_wait(&mut self, endpoints: Endpoints, time_wait: TimeWaitEntry) {
        self.next_expiry_ns = self.next_expiry_ns.min(time_wait.expires_ns);
        self.time_waits.insert(endpoints, time_wait);
    }

    /// Returns the socket a transition to CLOSE removed.
    fn apply_to_socket(&mut self, transition: &TcpTransition) -> Option<SocketEntry> {
        let key = transition.socket_key();
        let Some(socket) = self.sockets.get_mut(&key) else {
            if transition.new != TcpState::Close {
                self.sockets.insert(key, SocketEntry::born(transition));
            }
            return None;
        };
        if socket.shows_outcome_of(transition) {
            // Already there (a replayed event the snapshot reflected): keep what the snapshot
            // knows, learning only what the event adds.
            if socket.endpoints.local_port == 0 {
                socket.endpoints = Endpoints::of(transition);
            }
            socket.entered_ns = socket.entered_ns.or(NonZeroU64::new(transition.ts_ns));
            socket.born_ns = socket.born_ns.or(birth_shown_by(transition));
            socket.owner = owner_after(transition, socket.owner);
        } else if transition.new == TcpState::Close {
            return self.sockets.remove(&key);
        } else if !starts_a_socket(transition)
            && socket.endpoints.same_socket(&Endpoints::of(transition))
        {
            // Later records carry the endpoints connect() chose after its first one.
            socket.endpoints = Endpoints::of(transition);
            socket.state = transition.new;
            socket.entered_ns = NonZeroU64::new(transition.ts_ns);
            socket.owner = owner_after(transition, socket.owner);
        } else {
            // A new socket at a reused address, or one whose earlier transitions were lost.
            *socket = SocketEntry::born(transition);
        }
        None
    }

    /// Takes in a socket's transitions that the snapshot already reflects: what they tell beyond
    /// the snapshot (who made the socket, when it entered its state), if they lead to what the
    /// snapshot shows.
    fn absorb_reflected(&mut self, key: u64, reflected: &[&TcpTransition]) {
        let Some(socket) = self.sockets.get_mut(&key) else {
            return;
        };
        let Some(last) = reflected.last() else {
            return;
        };
        if !socket.shows_outcome_of(last) {
            return;
        }
        // An owner does not outlive its socket: start afresh after each CLOSE.
        let owner = reflected.iter().fold(None, |owner, transition| {
            if transition.new == TcpState::Close {
                None
            } else {
                owner_after(transition, owner)
            }
        });
        socket.owner = owner.or(socket.owner);
        socket.entered_ns = socket.entered_ns.or(NonZeroU64::new(last.ts_ns));
        // The latest start is this socket's: any earlier one ended in a CLOSE before it.
        let birth = reflected.iter().rev().find_map(|t| birth_shown_by(t));
        socket.born_ns = socket.born_ns.or(birth);
    }

    /// Drops time-wait sockets that expired by `now_ns`; returns how many.
    pub(crate) fn expire(&mut self, now_ns: u64) -> usize {
        if now_ns < self.next_expiry_ns {
            return 0;
        }
        let before = self.time_waits.len();
        self.time_waits.retain(|_, tw| tw.expires_ns > now_ns);
        self.next_expiry_ns = self
            .time_waits
            .values()
            .map(|tw| tw.expires_ns)
            .min()
            .unwrap_or(u64::MAX);
        before - self.time_waits.len()
    }

    #[cfg(test)]
    /// Records who owns a socket, as a /proc/*/fd scan tells; returns how many entries changed.
    /// By inode this walks the table: for a whole scan, prefer [`LiveTable::apply_owners`].
    pub(crate) fn apply_owner(&mut self, socket: SocketId, owner: Task) -> usize {
        match socket {
            SocketId::Key(key) => match self.sockets.get_mut(&key) {
                Some(entry) => {
                    entry.owner = Some(owner);
                    1
                }
                None => 0,
            },
            SocketId::Inode(inode) => {
                self.apply_owners(|candidate| (candidate == inode).then_some(owner))
            }
        }
    }

    /// Records owners from a whole /proc/*/fd scan in one pass: `owner_of(inode)` for each socket
    /// with a known inode. Sockets the scan did not see keep their owner.
    pub(crate) fn apply_owners(&mut self, mut owner_of: impl FnMut(u64) -> Option<Task>) -> usize {
        let mut changed = 0;
        for socket in self.sockets.values_mut() {
            if let Some(owner) = socket.inode.and_then(|inode| owner_of(inode.get())) {
                socket.owner = Some(owner);
                changed += 1;
            }
        }
        changed
    }

    /// Every socket: full sockets first, then time-wait ones, each in no particular order.
    pub(crate) fn rows(&self) -> impl Iterator<Item = TableRow<'_>> {
        let sockets = self.sockets.iter().map(|(&key, socket)| TableRow::Socket {
            key,
            socket,
            health: self.health.get(key),
        });
        let time_waits = self
            .time_waits
            .iter()
            .map(|(endpoints, time_wait)| TableRow::TimeWait {
                endpoints,
                time_wait,
            });
        sockets.chain(time_waits)
    }

    #[cfg(test)]
    pub(crate) fn socket(&self, key: u64) -> Option<&SocketEntry> {
        self.sockets.get(&key)
    }

    #[cfg(test)]
    pub(crate) fn time_wait(&self, endpoints: &Endpoints) -> Option<&TimeWaitEntry> {
        self.time_waits.get(endpoints)
    }

    #[cfg(test)]
    /// How many sockets show each state (time-wait sockets under their substate).
    pub(crate) fn counts_by_state(&self) -> std::collections::BTreeMap<TcpState, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for ((_, state), count) in self.counts_by_family_and_state() {
            *counts.entry(state).or_default() += count;
        }
        counts
    }

    /// How many sockets of each family show each state (time-wait sockets under their substate).
    pub(crate) fn counts_by_family_and_state(&self) -> HashMap<(Family, TcpState), usize> {
        let mut counts = HashMap::new();
        for row in self.rows() {
            *counts
                .entry((row.endpoints().family(), row.state()))
                .or_default() += 1;
        }
        counts
    }

    /// Sockets tracked: full and time-wait.
    pub(crate) fn len(&self) -> usize {
        self.sockets.len() + self.time_waits.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(test)]
    pub(crate) fn full_socket_count(&self) -> usize {
        self.sockets.len()
    }

    pub(crate) fn time_wait_count(&self) -> usize {
        self.time_waits.len()
    }

    /// Rough heap bytes held by the table.
    pub(crate) fn estimated_heap_bytes(&self) -> usize {
        hash_map_bytes::<u64, SocketEntry>(self.sockets.capacity())
            + hash_map_bytes::<Endpoints, TimeWaitEntry>(self.time_waits.capacity())
            + hash_map_bytes::<u64, SocketHealth>(self.health.capacity())
    }
}

/// std's HashMap (hashbrown) allocates a power-of-two number of buckets, at most 7/8 used (all
/// but one below 8), each a (key, value) pair plus one control byte, and a group of spare control
/// bytes.
fn hash_map_bytes<K, V>(capacity: usize) -> usize {
    const GROUP_WIDTH: usize = 16;
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        capacity + 1
    } else {
        capacity / 7 * 8
    }
    .next_power_of_two();
    buckets * (size_of::<(K, V)>() + 1) + GROUP_WIDTH
}
