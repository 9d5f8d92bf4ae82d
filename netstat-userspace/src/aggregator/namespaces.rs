//! The live tables of every network namespace on the host: one [`LiveTable`] per namespace, by
//! its inode. Sockets are keyed by their cookie within it, and the namespace is their attribute:
//! a socket never changes namespace, so partitioning by it costs nothing, lets one namespace be
//! read (and re-read) alone, and keeps two namespaces' time-wait sockets on the same 4-tuple
//! (127.0.0.1:8080 in two containers) apart. Pure, like the table.

use std::collections::BTreeMap;

use super::table::{LiveTable, SnapshotRow, SocketEntry};
use crate::{
    events::{TcpTransition, health::HealthEvent},
    model::hashing::FastMap,
};

#[derive(Debug)]
pub(crate) struct NamespaceTables {
    /// The daemon's own namespace: where records that name none (netns 0) belong.
    own: u64,
    tables: BTreeMap<u64, LiveTable>,
}

/// What [`NamespaceTables::apply`] did with a transition.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Applied to its namespace's table; the full socket it closed, if any.
    Tracked(Option<SocketEntry>),
    /// Its namespace (this inode) is not tracked: nothing was applied.
    Untracked(u64),
}

impl NamespaceTables {
    pub(crate) fn new(own: u64) -> Self {
        NamespaceTables {
            own,
            tables: BTreeMap::new(),
        }
    }

    pub(crate) fn own(&self) -> u64 {
        self.own
    }

    /// The namespace a record is about.
    pub(crate) fn namespace_of(&self, transition: &TcpTransition) -> u64 {
        self.namespace_named(transition.netns)
    }

    /// The namespace a record's `netns` field names.
    pub(crate) fn namespace_named(&self, netns: u32) -> u64 {
        match netns {
            0 => self.own,
            netns => u64::from(netns),
        }
    }

    /// Counts a retransmit, reset or drop for its socket; whether a table holds that socket.
    pub(crate) fn apply_health(&mut self, event: &HealthEvent) -> bool {
        let netns = self.namespace_named(event.netns);
        self.tables
            .get_mut(&netns)
            .is_some_and(|table| table.apply_health(event))
    }

    pub(crate) fn is_tracked(&self, netns: u64) -> bool {
        self.tables.contains_key(&netns)
    }

    /// Starts following `netns` from a snapshot of it (`snapshot_ns` read just before), or
    /// re-reads it when it is followed already, keeping what only events taught. Follow with
    /// [`NamespaceTables::replay`] of the events buffered since before `snapshot_ns`.
    pub(crate) fn load(&mut self, netns: u64, rows: Vec<SnapshotRow>, snapshot_ns: u64) {
        match self.tables.get_mut(&netns) {
            Some(table) => table.resync(rows, snapshot_ns),
            None => {
                self.tables
                    .insert(netns, LiveTable::from_snapshot(rows, snapshot_ns));
            }
        }
    }

    /// Stops following `netns` (it is gone); whether it was followed.
    pub(crate) fn forget(&mut self, netns: u64) -> bool {
        self.tables.remove(&netns).is_some()
    }

    pub(crate) fn apply(&mut self, transition: &TcpTransition) -> Applied {
        let netns = self.namespace_of(transition);
        match self.tables.get_mut(&netns) {
            Some(table) => Applied::Tracked(table.apply(transition)),
            None => Applied::Untracked(netns),
        }
    }

    /// Replays events buffered around snapshots (see [`LiveTable::replay`]), each against its
    /// namespace's table, in the order received. Returns the namespaces named that are not
    /// followed, whose events were left out.
    pub(crate) fn replay(&mut self, buffered: &[TcpTransition]) -> Vec<u64> {
        let mut by_namespace: FastMap<u64, Vec<TcpTransition>> = FastMap::default();
        for transition in buffered {
            by_namespace
                .entry(self.namespace_of(transition))
                .or_default()
                .push(*transition);
        }
        let mut untracked = Vec::new();
        for (netns, transitions) in by_namespace {
            match self.tables.get_mut(&netns) {
                Some(table) => table.replay(&transitions),
                None => untracked.push(netns),
            }
        }
        untracked.sort_unstable();
        untracked
    }

    /// Time-wait sockets that expired by `now_ns` leave every table.
    pub(crate) fn expire(&mut self, now_ns: u64) {
        for table in self.tables.values_mut() {
            table.expire(now_ns);
        }
    }

    pub(crate) fn table(&self, netns: u64) -> Option<&LiveTable> {
        self.tables.get(&netns)
    }

    pub(crate) fn table_mut(&mut self, netns: u64) -> Option<&mut LiveTable> {
        self.tables.get_mut(&netns)
    }

    /// Every table, by namespace inode in ascending order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &LiveTable)> {
        self.tables.iter().map(|(&netns, table)| (netns, table))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut LiveTable)> {
        self.tables.iter_mut().map(|(&netns, table)| (netns, table))
    }

    /// Namespaces followed.
    pub(crate) fn namespace_count(&self) -> usize {
        self.tables.len()
    }

    /// Sockets tracked, over every namespace.
    pub(crate) fn len(&self) -> usize {
        self.tables.values().map(LiveTable::len).sum()
    }

    pub(crate) fn time_wait_count(&self) -> usize {
        self.tables.values().map(LiveTable::time_wait_count).sum()
    }

    /// Rough heap bytes held by the tables.
    pub(crate) fn estimated_heap_bytes(&self) -> usize {
        let per_table = size_of::<(u64, LiveTable)>();
        self.tables
            .values()
            .map(|table| table.estimated_heap_bytes() + per_table)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::{
        events::{Comm, Task},
        model::{TcpState, TcpState::*, sockets::Family},
    };

    const OWN: u64 = 4026531840;
    const OTHER: u64 = 4026532281;

    /// Socket `cookie` of namespace `netns` on loopback, `ports` (local, remote).
    fn event(
        netns: u32,
        cookie: u64,
        ts_ns: u64,
        ports: (u16, u16),
        old: TcpState,
        new: TcpState,
    ) -> TcpTransition {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        TcpTransition {
            ts_ns,
            skaddr: cookie,
            family: Family::Inet,
            local: loopback,
            local_port: ports.0,
            remote: loopback,
            remote_port: ports.1,
            old,
            new,
            task: Task {
                tgid: 7,
                comm: Comm::new(*b"server\0\0\0\0\0\0\0\0\0\0"),
            },
            netns,
            counters: None,
            cookie: Some(cookie),
        }
    }

    fn states(tables: &NamespaceTables, netns: u64) -> Vec<TcpState> {
        let mut states: Vec<TcpState> = tables
            .table(netns)
            .unwrap()
            .rows()
            .map(|row| row.state())
            .collect();
        states.sort();
        states
    }

    #[test]
    fn each_namespace_keeps_its_own_sockets() {
        let mut tables = NamespaceTables::new(OWN);
        tables.load(OWN, Vec::new(), 1);
        tables.load(OTHER, Vec::new(), 1);
        // The same 4-tuple in both namespaces: a listener and one closed connection each.
        for netns in [OWN as u32, OTHER as u32] {
            let base = u64::from(netns) * 10;
            for t in [
                event(netns, base, 10, (8080, 0), Close, Listen),
                event(netns, base + 1, 11, (40000, 8080), Close, SynSent),
                event(netns, base + 1, 12, (40000, 8080), SynSent, Established),
                event(netns, base + 1, 13, (40000, 8080), Established, FinWait1),
                event(netns, base + 1, 14, (40000, 8080), FinWait1, FinWait2),
                event(netns, base + 1, 15_000_000, (40000, 8080), FinWait2, Close),
            ] {
                assert!(matches!(tables.apply(&t), Applied::Tracked(_)));
            }
        }
        assert_eq!(states(&tables, OWN), vec![TimeWait, Listen]);
        assert_eq!(states(&tables, OTHER), vec![TimeWait, Listen]);
        assert_eq!(tables.len(), 4);
        assert_eq!(tables.time_wait_count(), 2);
        assert!(tables.forget(OTHER));
        assert_eq!(tables.len(), 2);
        assert!(!tables.forget(OTHER));
    }

    #[test]
    fn records_without_a_namespace_are_the_daemons_own() {
        let mut tables = NamespaceTables::new(OWN);
        tables.load(OWN, Vec::new(), 1);
        assert!(matches!(
            tables.apply(&event(0, 1, 10, (22, 0), Close, Listen)),
            Applied::Tracked(None)
        ));
        assert_eq!(states(&tables, OWN), vec![Listen]);
    }

    #[test]
    fn untracked_namespaces_are_named_not_guessed() {
        let mut tables = NamespaceTables::new(OWN);
        tables.load(OWN, Vec::new(), 1);
        let foreign = event(OTHER as u32, 5, 10, (22, 0), Close, Listen);
        assert_eq!(tables.apply(&foreign), Applied::Untracked(OTHER));
        let ours = event(OWN as u32, 6, 11, (23, 0), Close, Listen);
        assert_eq!(tables.replay(&[foreign, ours]), vec![OTHER]);
        assert_eq!(states(&tables, OWN), vec![Listen]);
        assert!(!tables.is_tracked(OTHER));
        assert_eq!(tables.namespace_count(), 1);
    }
}
