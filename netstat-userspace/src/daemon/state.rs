//! What the daemon keeps between requests, and how it answers them.

use std::{collections::HashMap, time::Instant};

use serde::Serialize;

use super::snapshot;
use crate::{
    aggregator::{table::LiveTable, transitions::made_by_owner},
    events::{Comm, Task, TcpTransition},
    model::{
        containers::Container,
        hashing::{FastMap, FastSet},
        hooks::TcpHook,
        losses::Losses,
        owners::{Connection, Owner, SocketOwners},
        system::page_size,
    },
    snapshot::{NetstatConfig, NetstatView, render},
    sources::{
        daemon::{
            own_netns,
            protocol::{DaemonError, Request, SnapshotRequest},
        },
        proc::owners::{self, ScanOwners as _},
        pump::EventSink,
    },
    views::{
        clock::Clock,
        metrics::{ContainerSockets, Metrics, Readings},
        netstat::NetstatFlags,
    },
};

#[derive(Debug, Default, Serialize)]
pub(crate) struct Counters {
    pub(crate) events_received: u64,
    /// Events about sockets of other network namespaces (not in this daemon's table).
    pub(crate) other_namespaces: u64,
    pub(crate) events_lost: u64,
    /// `events_lost` by cause.
    pub(crate) events_lost_ring_full: u64,
    pub(crate) events_lost_recursion: u64,
    pub(crate) malformed_records: u64,
    pub(crate) resyncs: u64,
}

pub(crate) struct Daemon {
    table: LiveTable,
    /// The namespace this daemon's snapshots and answers are about; events from others are
    /// counted but not mixed into the table.
    netns: Option<u64>,
    /// Socket inode -> owner: one /proc/*/fd scan at start, then per-pid rescans.
    owners: SocketOwners,
    /// Processes whose sockets changed in ways events show (connect, listen, close): rescanned
    /// before the next answer that needs owners.
    dirty_pids: FastSet<u32>,
    started: Instant,
    pub(crate) counters: Counters,
    /// The table's size when free memory was last returned to the system.
    trimmed_at_len: usize,
    /// What is counted for Prometheus, when metrics are served.
    metrics: Option<Metrics>,
    /// The hook the TCP probe runs on: how snapshots key their rows, and what `status` names.
    tcp_hook: TcpHook,
}

/// The table's owner type from a /proc/*/fd owner: the program part of netstat's label.
fn task_of(owner: &Owner) -> Task {
    let program = owner
        .label
        .iter()
        .position(|&b| b == b'/')
        .map_or(&owner.label[..], |slash| &owner.label[slash + 1..]);
    let mut comm = [0u8; 16];
    let len = program.len().min(15);
    comm[..len].copy_from_slice(&program[..len]);
    Task {
        tgid: owner.pid,
        comm: Comm::new(comm),
    }
}

impl Daemon {
    /// The table from a snapshot read now; `snapshot_ns` is taken just before. Follow with
    /// [`Daemon::replay`] of every event the probe delivered since it was attached.
    pub(crate) fn from_snapshot(tcp_hook: TcpHook, snapshot_ns: u64) -> anyhow::Result<Self> {
        let rows = snapshot::tcp_rows(tcp_hook)?;
        let owners = SocketOwners::scan();
        let mut table = LiveTable::from_snapshot(rows, snapshot_ns);
        table.apply_owners(|inode| owners.get(inode).map(task_of));
        Ok(Self::new(tcp_hook, table, owners, own_netns()))
    }

    fn new(tcp_hook: TcpHook, table: LiveTable, owners: SocketOwners, netns: Option<u64>) -> Self {
        Daemon {
            tcp_hook,
            table,
            netns,
            owners,
            dirty_pids: FastSet::default(),
            started: Instant::now(),
            counters: Counters::default(),
            trimmed_at_len: 0,
            metrics: None,
        }
    }

    /// Starts counting for Prometheus (before the replay, so that it is counted too).
    pub(crate) fn enable_metrics(&mut self) {
        self.metrics = Some(Metrics::new());
    }

    /// The metrics, when they are served: [`Metrics::publish_interfaces`] takes interface
    /// counters through this.
    pub(crate) fn metrics_mut(&mut self) -> Option<&mut Metrics> {
        self.metrics.as_mut()
    }

    /// The events buffered around the snapshot (see `LiveTable::replay` for why this is exact).
    pub(crate) fn replay(&mut self, buffered: &[TcpTransition]) {
        self.counters.events_received += buffered.len() as u64;
        let ours: Vec<TcpTransition> = buffered
            .iter()
            .filter(|t| self.is_ours(t))
            .copied()
            .collect();
        self.counters.other_namespaces += (buffered.len() - ours.len()) as u64;
        let buffered = &ours[..];
        for transition in buffered.iter().filter(|t| made_by_owner(t.old, t.new)) {
            self.dirty_pids.insert(transition.task.tgid);
        }
        if let Some(metrics) = &mut self.metrics {
            for transition in buffered {
                metrics.count_transition(transition.old, transition.new);
            }
        }
        self.table.replay(buffered);
    }

    /// Whether an event is about a socket of this daemon's namespace (unknown counts as ours).
    fn is_ours(&self, transition: &TcpTransition) -> bool {
        transition.netns == 0
            || self
                .netns
                .is_none_or(|own| own == u64::from(transition.netns))
    }

    pub(crate) fn apply(&mut self, transition: &TcpTransition) {
        self.counters.events_received += 1;
        if !self.is_ours(transition) {
            self.counters.other_namespaces += 1;
            return;
        }
        if made_by_owner(transition.old, transition.new) {
            self.dirty_pids.insert(transition.task.tgid);
        }
        let closed = self.table.apply(transition);
        if let Some(metrics) = &mut self.metrics {
            metrics.count_transition(transition.old, transition.new);
            if let Some(lifetime) = closed.and_then(|c| c.connection_lifetime_ns(transition.ts_ns))
            {
                metrics.observe_connection_lifetime(lifetime);
            }
        }
    }

    /// Time passes: time-wait sockets expire, and memory the table gave up goes back.
    pub(crate) fn tick(&mut self, now_ns: u64) {
        self.table.expire(now_ns);
        // A growing hash map frees its old, smaller table; glibc keeps such holes unless asked.
        // Trimming when the table changed size markedly keeps resident memory near what it holds.
        let len = self.table.len();
        if len > self.trimmed_at_len + self.trimmed_at_len / 8 + 1024
            || len < self.trimmed_at_len / 2
        {
            release_free_memory();
            self.trimmed_at_len = len;
        }
    }

    /// Records were lost: rebuild the table from a fresh snapshot so it is exact again.
    fn resync(&mut self, lost: &Losses) -> anyhow::Result<()> {
        self.counters.events_lost += lost.total();
        self.counters.events_lost_ring_full += lost.ring_full;
        self.counters.events_lost_recursion += lost.recursion;
        self.resync_now(Clock::monotonic_now_ns())
    }

    /// Rebuilds the table and the owners from a snapshot read now (`snapshot_ns` is taken just
    /// before): after lost events, or at SIGHUP. Follow with [`Daemon::replay`] of the events
    /// buffered since before `snapshot_ns`, as at start-up.
    pub(crate) fn resync_now(&mut self, snapshot_ns: u64) -> anyhow::Result<()> {
        self.counters.resyncs += 1;
        let rows = snapshot::tcp_rows(self.tcp_hook)?;
        self.owners = SocketOwners::scan();
        self.dirty_pids.clear();
        self.table.resync(rows, snapshot_ns);
        let owners = &self.owners;
        self.table
            .apply_owners(|inode| owners.get(inode).map(task_of));
        Ok(())
    }

    /// How many sockets the table holds.
    pub(crate) fn sockets_tracked(&self) -> usize {
        self.table.len()
    }

    /// Answers a request that came over the connection with inode `connection_inode`.
    pub(crate) fn answer(
        &mut self,
        request: &Request,
        connection_inode: Option<u64>,
    ) -> Result<Vec<u8>, DaemonError> {
        match request {
            Request::Status => Ok(self.status_json()),
            Request::Table => Ok(self.table_json_lines()),
            Request::Snapshot(SnapshotRequest {
                view,
                flags,
                hide_inodes,
                netns,
            }) => {
                // The daemon's namespace was read once at start-up.
                let own = self.netns;
                if let Some(client) = *netns
                    && Some(client) != own
                {
                    return Err(DaemonError::WrongNetns {
                        daemon: own,
                        client,
                    });
                }
                let hidden: Vec<u64> = hide_inodes
                    .iter()
                    .copied()
                    .chain(connection_inode)
                    .collect();
                let config = NetstatConfig {
                    view: *view,
                    flags: flags.clone(),
                    namespaces: None,
                };
                let owners = (config.view == NetstatView::Sockets && config.flags.programs)
                    .then(|| self.current_owners(&config.flags));
                let mut out = Vec::new();
                render(&config, owners, &hidden, &mut out).map_err(|err| {
                    DaemonError::ViewFailed {
                        reason: format!("{err:#}"),
                    }
                })?;
                Ok(out)
            }
        }
    }

    /// Owners for -p: TCP sockets change owners only through events, so rescanning the processes
    /// events named keeps them exact. UDP, raw and UNIX sockets have no events: a view that shows
    /// them rescans everything.
    fn current_owners(&mut self, flags: &NetstatFlags) -> &SocketOwners {
        let only_tcp = flags.named_protocols
            && flags.tcp
            && !(flags.udp || flags.udplite || flags.raw || flags.sctp || flags.unix);
        if only_tcp {
            for pid in self.dirty_pids.drain() {
                self.owners.rescan_pid(pid);
            }
        } else {
            self.owners = SocketOwners::scan();
            self.dirty_pids.clear();
        }
        self.owners.set_last_owners(last_owners(&self.table));
        &self.owners
    }

    fn table_json_lines(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Row {
            family: &'static str,
            local: String,
            remote: String,
            state: &'static str,
            pid: Option<u32>,
        }
        let mut out = Vec::new();
        for row in self.table.rows() {
            let endpoints = row.endpoints();
            let row = Row {
                family: endpoints.family().name(),
                local: endpoints.local().to_string(),
                remote: endpoints.remote().to_string(),
                state: row.state().name(),
                pid: row.owner().map(|o| o.tgid),
            };
            serde_json::to_writer(&mut out, &row).expect("rows serialize");
            out.push(b'\n');
        }
        out
    }

    fn status_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Status<'a> {
            uptime_s: u64,
            /// The kernel hook the TCP probe is attached to.
            tcp_probe: &'static str,
            sockets_tracked: usize,
            time_wait_tracked: usize,
            #[serde(flatten)]
            counters: &'a Counters,
            rss_bytes: u64,
            table_bytes_estimate: usize,
        }
        let status = Status {
            uptime_s: self.started.elapsed().as_secs(),
            tcp_probe: self.tcp_hook.name(),
            sockets_tracked: self.table.len(),
            time_wait_tracked: self.table.time_wait_count(),
            counters: &self.counters,
            rss_bytes: resident_bytes(),
            table_bytes_estimate: self.table.estimated_heap_bytes(),
        };
        let mut json = serde_json::to_vec(&status).expect("status serializes");
        json.push(b'\n');
        json
    }

    /// The table's sockets by their owner's container (its cgroup read now, once per process),
    /// for the metrics' `container` label.
    fn sockets_by_container(&self, cap: usize) -> ContainerSockets {
        let mut containers: FastMap<u32, Option<Container>> = FastMap::default();
        for row in self.table.rows() {
            if let Some(owner) = row.owner() {
                containers
                    .entry(owner.tgid)
                    .or_insert_with(|| owners::container_of(owner.tgid));
            }
        }
        ContainerSockets::fold(
            self.table.rows().map(|row| {
                let container = row
                    .owner()
                    .and_then(|owner| containers.get(&owner.tgid)?.as_ref());
                (container, row.endpoints().family(), row.state())
            }),
            cap,
        )
    }

    /// The Prometheus exposition of the metrics and of the table as it is now.
    pub(crate) fn metrics_exposition(&self) -> Result<String, String> {
        let metrics = self.metrics.as_ref().ok_or("metrics are not enabled")?;
        let counters = &self.counters;
        let readings = Readings {
            sockets: self.table.counts_by_family_and_state(),
            events_received: counters.events_received,
            events_other_namespaces: counters.other_namespaces,
            lost_ring_full: counters.events_lost_ring_full,
            lost_recursion: counters.events_lost_recursion,
            malformed_records: counters.malformed_records,
            resyncs: counters.resyncs,
            containers: metrics
                .container_cap()
                .map(|cap| self.sockets_by_container(cap)),
        };
        metrics
            .encode(readings)
            .map_err(|_| "encoding the metrics failed".to_string())
    }
}

/// The daemon keeps its table from the event pump.
impl EventSink<TcpTransition> for Daemon {
    fn on_event(&mut self, transition: &TcpTransition) -> anyhow::Result<()> {
        self.apply(transition);
        Ok(())
    }

    fn on_losses(&mut self, lost: &Losses) -> anyhow::Result<()> {
        log::warn!(
            "{} transition records lost; resynchronising from /proc",
            lost.total()
        );
        self.resync(lost)
    }

    /// Shown by `enetstat status` and in the metrics.
    fn on_malformed(&mut self, total: u64) {
        self.counters.malformed_records = total;
    }
}

/// Who made each socket the table knows an owner for, labelled `PID/comm` (the process may be
/// gone, so its command line may be too): shown for sockets no process holds any more, where
/// netstat shows `-`.
fn last_owners(table: &LiveTable) -> HashMap<Connection, Owner> {
    table
        .rows()
        .filter_map(|row| {
            let owner = row.owner()?;
            let endpoints = row.endpoints();
            let (local, remote) = (endpoints.local(), endpoints.remote());
            Some((
                (local.ip(), local.port(), remote.ip(), remote.port()),
                Owner::new(owner.tgid, owner.comm.as_bytes()),
            ))
        })
        .collect()
}

/// Allocations of a MiB and more get pages of their own, which go back to the system the moment
/// they are freed: answers of megabytes, held while slow clients read them, then leave no holes
/// in the heap behind (glibc otherwise raises this threshold as such blocks are freed, and serves
/// them from the heap).
pub(crate) fn map_large_allocations() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes the allocator's tuning; it is called before any other thread
    // exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Returns free heap memory to the system (glibc keeps it otherwise).
pub(crate) fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// This process's resident memory, from /proc/self/statm; 0 if it cannot be read.
fn resident_bytes() -> u64 {
    procfs::process::Process::myself()
        .and_then(|me| me.statm())
        .map_or(0, |statm| statm.resident * page_size())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::model::{TcpState, TcpState::*, sockets::Family};

    const NETNS: u32 = 4026531840;

    /// A loopback transition of socket `skaddr` between `local` and `remote` ports.
    fn event(
        ts_ns: u64,
        skaddr: u64,
        ports: (u16, u16),
        old: TcpState,
        new: TcpState,
    ) -> TcpTransition {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        TcpTransition {
            ts_ns,
            skaddr,
            family: Family::Inet,
            local: loopback,
            local_port: ports.0,
            remote: loopback,
            remote_port: ports.1,
            old,
            new,
            task: Task {
                tgid: 42,
                comm: Comm::new(*b"client\0\0\0\0\0\0\0\0\0\0"),
            },
            netns: NETNS,
            counters: None,
            cookie: None,
        }
    }

    fn value<'a>(text: &'a str, series: &str) -> &'a str {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in {text}"))
    }

    #[test]
    fn metrics_follow_a_connection_through_the_daemon() {
        let mut daemon = Daemon::new(
            TcpHook::BtfTracepoint,
            LiveTable::new(),
            SocketOwners::default(),
            Some(NETNS.into()),
        );
        daemon.enable_metrics();
        const MS: u64 = 1_000_000;
        let (listener, client, child) = (0x10, 0x20, 0x30);
        // Before the live events: a listener, as replayed at start-up.
        let mut foreign = event(MS, 0x40, (0, 80), Close, SynSent);
        foreign.netns = NETNS + 1;
        daemon.replay(&[event(MS, listener, (8080, 0), Close, Listen), foreign]);
        for t in [
            event(2 * MS, client, (0, 8080), Close, SynSent),
            event(3 * MS, client, (40000, 8080), SynSent, Established),
            event(3 * MS, child, (8080, 40000), Listen, SynRecv),
            event(3 * MS, child, (8080, 40000), SynRecv, Established),
            event(5 * MS, client, (40000, 8080), Established, FinWait1),
            event(5 * MS, child, (8080, 40000), Established, CloseWait),
            event(5 * MS, client, (40000, 8080), FinWait1, FinWait2),
            event(6 * MS, child, (8080, 40000), CloseWait, LastAck),
            event(6 * MS, client, (40000, 8080), FinWait2, Close),
            event(6 * MS, child, (8080, 40000), LastAck, Close),
        ] {
            daemon.apply(&t);
        }
        // Another namespace's socket, replayed or live: counted as received, nothing else.
        foreign.ts_ns = 7 * MS;
        daemon.apply(&foreign);
        // The pump counts malformed records; status and metrics show its count.
        daemon.on_malformed(1);
        let status: serde_json::Value = serde_json::from_slice(&daemon.status_json()).unwrap();
        assert_eq!(status["malformed_records"], 1);

        let text = daemon.metrics_exposition().unwrap();
        let connections = |state: &str| {
            value(
                &text,
                &format!("enetstat_connections{{state=\"{state}\",family=\"inet\"}}"),
            )
        };
        assert_eq!(connections("LISTEN"), "1");
        assert_eq!(connections("TIME_WAIT"), "1", "the client's end");
        assert_eq!(connections("ESTABLISHED"), "0");
        let transition = |old: &str, new: &str| {
            value(
                &text,
                &format!("enetstat_transitions_total{{old_state=\"{old}\",new_state=\"{new}\"}}"),
            )
        };
        assert_eq!(transition("CLOSE", "LISTEN"), "1");
        assert_eq!(
            transition("CLOSE", "SYN_SENT"),
            "1",
            "not the other namespace's"
        );
        assert_eq!(transition("SYN_SENT", "ESTABLISHED"), "1");
        assert_eq!(transition("LAST_ACK", "CLOSE"), "1");
        // Both ends closed: 4 ms from connect() for the client, 3 ms for the accepted child.
        assert_eq!(
            value(&text, "enetstat_connection_duration_seconds_count"),
            "2"
        );
        assert_eq!(
            value(&text, "enetstat_connection_duration_seconds_sum"),
            "0.007"
        );
        assert_eq!(value(&text, "enetstat_events_received_total"), "13");
        assert_eq!(value(&text, "enetstat_events_other_namespaces_total"), "2");
        assert_eq!(value(&text, "enetstat_malformed_records_total"), "1");
        assert_eq!(
            value(&text, "enetstat_events_lost_total{cause=\"ring_full\"}"),
            "0"
        );
    }

    #[test]
    fn without_metrics_nothing_is_counted_or_served() {
        let mut daemon = Daemon::new(
            TcpHook::BtfTracepoint,
            LiveTable::new(),
            SocketOwners::default(),
            None,
        );
        daemon.apply(&event(1, 0x10, (80, 0), Close, Listen));
        assert!(daemon.metrics_mut().is_none());
        assert!(daemon.metrics_exposition().is_err());
    }
}
