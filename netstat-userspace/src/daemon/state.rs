//! What the daemon keeps between requests, and how it answers them.

use std::{
    collections::{BTreeMap, HashMap},
    time::Instant,
};

use serde::Serialize;

mod namespaces;

use super::snapshot;
use crate::{
    aggregator::{
        lifetimes::synchronized,
        namespaces::{Applied, NamespaceTables},
        table::LiveTable,
        transitions::made_by_owner,
    },
    events::{
        Comm, Task, TcpTransition,
        health::{HealthEvent, LiveEvent},
    },
    model::{
        TcpState,
        containers::Container,
        hashing::{FastMap, FastSet},
        health::{EventKind, EventKinds, HealthReasons},
        hooks::TcpHook,
        losses::Losses,
        netns::Namespace,
        owners::{Connection, Owner, SocketOwners},
        system::page_size,
    },
    snapshot::{NetstatConfig, NetstatView, render, render_namespaces},
    sources::{
        daemon::{
            own_netns,
            protocol::{DaemonError, Request, SnapshotRequest, TableRequest},
        },
        netns,
        proc::owners::{self, ScanOwners as _},
        pump::EventSink,
    },
    views::{
        metrics::{ContainerSockets, Metrics, Readings},
        netstat::NetstatFlags,
    },
};

#[derive(Debug, Default, Serialize)]
pub(crate) struct Counters {
    pub(crate) events_received: u64,
    /// Events about sockets of network namespaces other than the daemon's own (all tracked).
    pub(crate) other_namespaces: u64,
    pub(crate) events_lost: u64,
    /// `events_lost` by cause.
    pub(crate) events_lost_ring_full: u64,
    pub(crate) events_lost_recursion: u64,
    pub(crate) malformed_records: u64,
    pub(crate) resyncs: u64,
    /// Retransmit, reset and drop records read (`serve --events`), counted in
    /// `events_received` too.
    pub(crate) health_events: u64,
    /// Of those, about a socket the table holds (the rest are request or time-wait sockets, UDP
    /// sockets, or segments without a socket: counted in the metrics alone).
    pub(crate) health_events_on_tracked_sockets: u64,
}

pub(crate) struct Daemon {
    /// Every network namespace's live table.
    tables: NamespaceTables,
    /// How each tracked namespace is entered and named, from the last discovery; one tracked
    /// without an entry here was seen only in events ("blind": not yet read from the kernel).
    namespaces: BTreeMap<u64, Namespace>,
    /// Namespaces that sent events since the last discovery: alive, found or not.
    active: FastSet<u64>,
    /// When namespaces were last discovered.
    discovered_at: Instant,
    /// How namespaces are found: [`netns::discover`] (tests find none).
    discover: fn() -> Vec<Namespace>,
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
    /// What the probe reports (`serve --events`): which per-socket counts rows carry.
    kinds: EventKinds,
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
    /// Every namespace found is read, each just after its own `snapshot_ns`.
    pub(crate) fn from_snapshot(tcp_hook: TcpHook) -> anyhow::Result<Self> {
        let own = own_netns().unwrap_or(0);
        let mut daemon = Self::new(tcp_hook, NamespaceTables::new(own), SocketOwners::scan());
        // The daemon's own namespace must be readable; another may go away while it is read.
        let own_rows = snapshot::tcp_rows(tcp_hook)?;
        daemon.tables.load(own, own_rows.0, own_rows.1);
        daemon.discover_namespaces();
        daemon.apply_scanned_owners();
        Ok(daemon)
    }

    fn new(tcp_hook: TcpHook, tables: NamespaceTables, owners: SocketOwners) -> Self {
        Daemon {
            tcp_hook,
            tables,
            namespaces: BTreeMap::new(),
            active: FastSet::default(),
            discovered_at: Instant::now(),
            discover: netns::discover,
            owners,
            dirty_pids: FastSet::default(),
            started: Instant::now(),
            counters: Counters::default(),
            trimmed_at_len: 0,
            metrics: None,
            kinds: EventKinds::default(),
        }
    }

    /// The probe reports these kinds (after [`Daemon::enable_metrics`], so that the metrics
    /// export their totals): rows carry their per-socket counts.
    pub(crate) fn follow_events(&mut self, kinds: EventKinds, reasons: HealthReasons) {
        self.kinds = kinds;
        if let Some(metrics) = &mut self.metrics {
            metrics.follow_health(kinds, reasons);
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
        for transition in buffered {
            self.note_event(transition);
        }
        if let Some(metrics) = &mut self.metrics {
            for transition in buffered {
                let netns = self.tables.namespace_of(transition);
                metrics.count_transition(netns, transition.old, transition.new);
            }
        }
        for netns in self.tables.replay(buffered) {
            // A namespace first named here: read it, then replay its events against that.
            self.track(netns);
            let its_own: Vec<TcpTransition> = buffered
                .iter()
                .filter(|t| self.tables.namespace_of(t) == netns)
                .copied()
                .collect();
            self.tables.replay(&its_own);
        }
    }

    /// The events buffered around the snapshot, of every kind: transitions first, as
    /// [`Daemon::replay`] does, then health events against the table they left (a socket closed
    /// meanwhile is counted in the metrics alone).
    pub(crate) fn replay_events(&mut self, buffered: &[LiveEvent]) {
        let transitions: Vec<TcpTransition> = buffered
            .iter()
            .filter_map(|event| match event {
                LiveEvent::State(transition) => Some(*transition),
                LiveEvent::Health(_) => None,
            })
            .collect();
        self.replay(&transitions);
        for event in buffered {
            if let LiveEvent::Health(health) = event {
                self.apply_health(health);
            }
        }
    }

    /// A retransmit, reset or drop: counted for its socket and its namespace.
    pub(crate) fn apply_health(&mut self, event: &HealthEvent) {
        self.counters.events_received += 1;
        self.counters.health_events += 1;
        let netns = self.tables.namespace_named(event.netns);
        if netns != self.tables.own() {
            self.counters.other_namespaces += 1;
        }
        self.active.insert(netns);
        if self.tables.apply_health(event) {
            self.counters.health_events_on_tracked_sockets += 1;
        }
        if let Some(metrics) = &mut self.metrics {
            metrics.count_health(netns, event);
        }
    }

    /// What every event tells besides its transition: its namespace is alive, and its process's
    /// sockets changed.
    fn note_event(&mut self, transition: &TcpTransition) {
        let netns = self.tables.namespace_of(transition);
        if netns != self.tables.own() {
            self.counters.other_namespaces += 1;
        }
        self.active.insert(netns);
        if made_by_owner(transition.old, transition.new) {
            self.dirty_pids.insert(transition.task.tgid);
        }
    }

    pub(crate) fn apply(&mut self, transition: &TcpTransition) {
        self.counters.events_received += 1;
        self.note_event(transition);
        let closed = match self.tables.apply(transition) {
            Applied::Tracked(closed) => closed,
            Applied::Untracked(netns) => {
                // Read it now: its snapshot already holds this event's outcome, which
                // the table absorbs as reflected.
                self.track(netns);
                match self.tables.apply(transition) {
                    Applied::Tracked(closed) => closed,
                    Applied::Untracked(_) => None,
                }
            }
        };
        if let Some(metrics) = &mut self.metrics {
            let netns = self.tables.namespace_of(transition);
            metrics.count_transition(netns, transition.old, transition.new);
            if let Some(lifetime) = closed.and_then(|c| c.connection_lifetime_ns(transition.ts_ns))
            {
                metrics.observe_connection_lifetime(lifetime);
            }
            if transition.new == TcpState::Close
                && synchronized(transition.old)
                && let Some(counters) = transition.counters
            {
                let srtt = (counters.srtt_us != 0).then_some(counters.srtt_us);
                metrics.observe_close(netns, counters.total_retrans, srtt);
            }
        }
    }

    /// Time passes: time-wait sockets expire, and memory the table gave up goes back.
    pub(crate) fn tick(&mut self, now_ns: u64) {
        self.tables.expire(now_ns);
        if self.discovered_at.elapsed() >= namespaces::REDISCOVERY_INTERVAL {
            self.discover_namespaces();
        }
        // A growing hash map frees its old, smaller table; glibc keeps such holes unless asked.
        // Trimming when the table changed size markedly keeps resident memory near what it holds.
        let len = self.tables.len();
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
        self.resync_now()
    }

    /// Rebuilds the table and the owners from a snapshot read now (`snapshot_ns` is taken just
    /// before): after lost events, or at SIGHUP. Follow with [`Daemon::replay`] of the events
    /// buffered since before `snapshot_ns`, as at start-up.
    pub(crate) fn resync_now(&mut self) -> anyhow::Result<()> {
        self.counters.resyncs += 1;
        let (rows, snapshot_ns) = snapshot::tcp_rows(self.tcp_hook)?;
        let own = self.tables.own();
        self.tables.load(own, rows, snapshot_ns);
        let others: Vec<Namespace> = self
            .namespaces
            .values()
            .filter(|ns| ns.inode != own)
            .cloned()
            .collect();
        for ns in others {
            self.load(&ns);
        }
        self.owners = SocketOwners::scan();
        self.dirty_pids.clear();
        self.apply_scanned_owners();
        Ok(())
    }

    /// How many sockets the tables hold.
    pub(crate) fn sockets_tracked(&self) -> usize {
        self.tables.len()
    }

    /// Answers a request that came over the connection with inode `connection_inode`.
    pub(crate) fn answer(
        &mut self,
        request: &Request,
        connection_inode: Option<u64>,
    ) -> Result<Vec<u8>, DaemonError> {
        let failed = |err: anyhow::Error| DaemonError::ViewFailed {
            reason: format!("{err:#}"),
        };
        match request {
            Request::Status => Ok(self.status_json()),
            Request::Table(TableRequest { namespaces, netns }) => {
                let selected = self.selected(namespaces.as_ref(), *netns)?;
                Ok(self.table_json_lines(selected.as_deref()))
            }
            Request::Snapshot(SnapshotRequest {
                view,
                flags,
                hide_inodes,
                netns,
                namespaces,
            }) => {
                let hidden: Vec<u64> = hide_inodes
                    .iter()
                    .copied()
                    .chain(connection_inode)
                    .collect();
                let config = NetstatConfig {
                    view: *view,
                    flags: flags.clone(),
                    namespaces: None,
                    filter: None,
                };
                let programs = config.view == NetstatView::Sockets && config.flags.programs;
                if programs {
                    self.refresh_owners(&config.flags);
                }
                let tables = &self.tables;
                let last_owners =
                    |netns: u64| tables.table(netns).map(last_owners).unwrap_or_default();
                let mut out = Vec::new();
                match namespaces {
                    // Sections, each named.
                    Some(spec) => {
                        let found = netns::resolve(spec).map_err(failed)?;
                        render_namespaces(
                            &config,
                            &found,
                            Some((&mut self.owners, &last_owners)),
                            None,
                            &hidden,
                            &mut out,
                        )
                        .map_err(failed)?;
                    }
                    // The client's own namespace, as netstat shows it there.
                    None => {
                        let own = self.tables.own();
                        let client = netns.unwrap_or(own);
                        self.owners.set_last_owners(last_owners(client));
                        let owners = programs.then_some(&self.owners);
                        if client == own {
                            render(&config, owners, &hidden, &mut out).map_err(failed)?;
                        } else {
                            let ns = self.namespace(client).ok_or(DaemonError::WrongNetns {
                                daemon: Some(own),
                                client,
                            })?;
                            netns::in_namespace(&ns, || render(&config, owners, &hidden, &mut out))
                                .and_then(|rendered| rendered)
                                .map_err(failed)?;
                        }
                    }
                }
                Ok(out)
            }
        }
    }

    /// Owners for -p: TCP sockets change owners only through events, so rescanning the processes
    /// events named keeps them exact. UDP, raw and UNIX sockets have no events: a view that shows
    /// them rescans everything.
    fn refresh_owners(&mut self, flags: &NetstatFlags) {
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
    }

    /// The live table as JSON lines, of the namespaces `selected` (None: all).
    fn table_json_lines(&self, selected: Option<&[u64]>) -> Vec<u8> {
        #[derive(Serialize)]
        struct Row {
            family: &'static str,
            local: String,
            remote: String,
            state: &'static str,
            pid: Option<u32>,
            netns: u64,
            /// Each followed kind's per-socket counts (absent when the probe does not report it).
            #[serde(skip_serializing_if = "Option::is_none")]
            retransmits: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tail_loss_probes: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            resets_sent: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            resets_received: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            drops: Option<u32>,
        }
        let followed = |kind: EventKind, count: u32| self.kinds.contains(kind).then_some(count);
        let mut out = Vec::new();
        let tables = self
            .tables
            .iter()
            .filter(|(netns, _)| selected.is_none_or(|selected| selected.contains(netns)));
        for (netns, table) in tables {
            for row in table.rows() {
                let endpoints = row.endpoints();
                let health = row.health();
                let row = Row {
                    family: endpoints.family().name(),
                    local: endpoints.local().to_string(),
                    remote: endpoints.remote().to_string(),
                    state: row.state().name(),
                    pid: row.owner().map(|o| o.tgid),
                    netns,
                    retransmits: followed(EventKind::Retransmit, health.retransmits),
                    tail_loss_probes: followed(EventKind::Retransmit, health.tail_loss_probes),
                    resets_sent: followed(EventKind::Reset, health.resets_sent),
                    resets_received: followed(EventKind::Reset, health.resets_received),
                    drops: followed(EventKind::Drop, health.drops),
                };
                serde_json::to_writer(&mut out, &row).expect("rows serialize");
                out.push(b'\n');
            }
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
            namespaces_tracked: usize,
            /// The kinds of event followed (`serve --events`), as `--events` names them.
            events: String,
            #[serde(flatten)]
            counters: &'a Counters,
            rss_bytes: u64,
            table_bytes_estimate: usize,
            /// Each namespace tracked: inode, `ip netns` name, sockets, and whether it was read
            /// from the kernel (false: followed from its events alone, until discovery finds it).
            namespaces: Vec<TrackedNamespace>,
        }
        #[derive(Serialize)]
        struct TrackedNamespace {
            inode: u64,
            name: Option<String>,
            sockets: usize,
            read: bool,
        }
        let namespaces = self
            .tables
            .iter()
            .map(|(netns, table)| TrackedNamespace {
                inode: netns,
                name: self.namespaces.get(&netns).and_then(|ns| ns.name.clone()),
                sockets: table.len(),
                read: netns == self.tables.own() || self.namespaces.contains_key(&netns),
            })
            .collect();
        let status = Status {
            uptime_s: self.started.elapsed().as_secs(),
            tcp_probe: self.tcp_hook.name(),
            sockets_tracked: self.tables.len(),
            time_wait_tracked: self.tables.time_wait_count(),
            namespaces_tracked: self.tables.namespace_count(),
            events: self.kinds.to_string(),
            counters: &self.counters,
            rss_bytes: resident_bytes(),
            table_bytes_estimate: self.tables.estimated_heap_bytes(),
            namespaces,
        };
        let mut json = serde_json::to_vec(&status).expect("status serializes");
        json.push(b'\n');
        json
    }

    /// The tables' sockets by their owner's container (its cgroup read now, once per process)
    /// and namespace, for the metrics' `container` label.
    fn sockets_by_container(&self, cap: usize) -> ContainerSockets {
        let mut containers: FastMap<u32, Option<Container>> = FastMap::default();
        for (_, table) in self.tables.iter() {
            for row in table.rows() {
                if let Some(owner) = row.owner() {
                    containers
                        .entry(owner.tgid)
                        .or_insert_with(|| owners::container_of(owner.tgid));
                }
            }
        }
        let labels: Vec<(String, &LiveTable)> = self
            .tables
            .iter()
            .map(|(netns, table)| (self.namespace_label(netns), table))
            .collect();
        ContainerSockets::fold(
            labels.iter().flat_map(|(label, table)| {
                let containers = &containers;
                table.rows().map(move |row| {
                    let container = row
                        .owner()
                        .and_then(|owner| containers.get(&owner.tgid)?.as_ref());
                    (
                        container,
                        label.as_str(),
                        row.endpoints().family(),
                        row.state(),
                    )
                })
            }),
            cap,
        )
    }

    /// The Prometheus exposition of the metrics and of the table as it is now.
    pub(crate) fn metrics_exposition(&self) -> Result<String, String> {
        let metrics = self.metrics.as_ref().ok_or("metrics are not enabled")?;
        let counters = &self.counters;
        let readings = Readings {
            sockets: self
                .tables
                .iter()
                .map(|(netns, table)| {
                    (
                        self.namespace_label(netns),
                        table.counts_by_family_and_state(),
                    )
                })
                .collect(),
            namespace_labels: self
                .namespaces
                .iter()
                .filter_map(|(&netns, ns)| Some((netns, ns.name.clone()?)))
                .collect(),
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
impl EventSink<LiveEvent> for Daemon {
    fn on_event(&mut self, event: &LiveEvent) -> anyhow::Result<()> {
        match event {
            LiveEvent::State(transition) => self.apply(transition),
            LiveEvent::Health(health) => self.apply_health(health),
        }
        Ok(())
    }

    fn on_losses(&mut self, lost: &Losses) -> anyhow::Result<()> {
        log::warn!(
            "{} event records lost; resynchronising from the kernel's tables",
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
    use crate::{
        events::health::HealthDetail,
        model::{TcpState, TcpState::*, sockets::Family},
    };

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

    /// A health event of socket `skaddr` (0: none), as the probe reports it.
    fn health(ts_ns: u64, skaddr: u64, detail: HealthDetail) -> LiveEvent {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        LiveEvent::Health(HealthEvent {
            ts_ns,
            cookie: None,
            skaddr,
            family: Family::Inet,
            local: loopback,
            local_port: 40000,
            remote: loopback,
            remote_port: 8080,
            task: Task {
                tgid: 42,
                comm: Comm::new([0; 16]),
            },
            netns: NETNS,
            state: None,
            protocol: 6,
            detail,
        })
    }

    #[test]
    fn health_events_count_on_their_socket_and_namespace_until_it_closes() {
        let mut tables = NamespaceTables::new(NETNS.into());
        tables.load(NETNS.into(), Vec::new(), 0);
        let mut daemon = Daemon::new(TcpHook::BtfTracepoint, tables, SocketOwners::default());
        daemon.discover = Vec::new;
        daemon.enable_metrics();
        daemon.follow_events(EventKinds::parse("all").unwrap(), HealthReasons::default());
        const MS: u64 = 1_000_000;
        let client = 0x20;
        let retransmit = |segments| HealthDetail::Retransmit {
            segments,
            tail_loss_probe: false,
            synack: false,
            error: 0,
        };
        // Buffered at start-up: the retransmit precedes, in the ring, the transition that made
        // the socket known to the table's replay; it is counted all the same.
        daemon.replay_events(&[
            LiveEvent::State(event(MS, client, (40000, 8080), Close, SynSent)),
            health(2 * MS, client, retransmit(1)),
            LiveEvent::State(event(2 * MS, client, (40000, 8080), SynSent, Established)),
        ]);
        for live in [
            health(3 * MS, client, retransmit(2)),
            health(3 * MS, client, HealthDetail::Drop { reason: 5 }),
            // A reset for a segment no socket took: the namespace's, nobody's row.
            health(
                4 * MS,
                0,
                HealthDetail::Reset {
                    sent: true,
                    no_socket: true,
                    reason: 0,
                },
            ),
        ] {
            daemon.on_event(&live).unwrap();
        }
        let rows = String::from_utf8(daemon.table_json_lines(None)).unwrap();
        let row: serde_json::Value = serde_json::from_str(rows.lines().next().unwrap()).unwrap();
        assert_eq!(row["retransmits"], 3, "{row}");
        assert_eq!(row["drops"], 1, "{row}");
        assert_eq!(row["resets_sent"], 0, "{row}");
        let text = daemon.metrics_exposition().unwrap();
        let series = |name: &str, extra: &str| {
            value(
                &text,
                &format!("enetstat_{name}_total{{netns=\"{NETNS}\"{extra}}}"),
            )
            .to_string()
        };
        assert_eq!(series("retransmitted_segments", ""), "3");
        assert_eq!(series("tcp_resets", ",direction=\"sent\""), "1");
        assert_eq!(series("tcp_resets", ",direction=\"received\""), "0");
        assert_eq!(series("socket_drops", ",reason=\"reason 5\""), "1");
        let status: serde_json::Value = serde_json::from_slice(&daemon.status_json()).unwrap();
        assert_eq!(status["health_events"], 4);
        assert_eq!(status["health_events_on_tracked_sockets"], 3);

        // Closed, the socket leaves the table with its counts; a new socket under the same key
        // starts from nothing.
        daemon.apply(&event(5 * MS, client, (40000, 8080), Established, Close));
        daemon.apply(&event(6 * MS, client, (40001, 8080), Close, SynSent));
        let rows = String::from_utf8(daemon.table_json_lines(None)).unwrap();
        let row: serde_json::Value = serde_json::from_str(rows.lines().next().unwrap()).unwrap();
        assert_eq!(row["retransmits"], 0, "{row}");
        assert_eq!(row["drops"], 0, "{row}");
        assert_eq!(series("retransmitted_segments", ""), "3", "totals stay");
    }

    #[test]
    fn without_events_rows_carry_no_health_counts() {
        let mut tables = NamespaceTables::new(NETNS.into());
        tables.load(NETNS.into(), Vec::new(), 0);
        let mut daemon = Daemon::new(TcpHook::BtfTracepoint, tables, SocketOwners::default());
        daemon.apply(&event(1, 0x20, (40000, 8080), Close, SynSent));
        let rows = String::from_utf8(daemon.table_json_lines(None)).unwrap();
        let row: serde_json::Value = serde_json::from_str(rows.lines().next().unwrap()).unwrap();
        let fields = row.as_object().unwrap();
        assert!(!fields.contains_key("retransmits") && !fields.contains_key("drops"));
        daemon.enable_metrics();
        assert!(
            !daemon
                .metrics_exposition()
                .unwrap()
                .contains("retransmitted_segments")
        );
    }

    #[test]
    fn metrics_follow_a_connection_through_the_daemon() {
        let mut tables = NamespaceTables::new(NETNS.into());
        tables.load(NETNS.into(), Vec::new(), 0);
        let mut daemon = Daemon::new(TcpHook::BtfTracepoint, tables, SocketOwners::default());
        daemon.discover = Vec::new;
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
        // Another namespace's socket, replayed or live: tracked in a table of its own (a
        // namespace discovery did not find is followed from its events).
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
                &format!(
                    "enetstat_connections{{state=\"{state}\",family=\"inet\",netns=\"{NETNS}\"}}"
                ),
            )
        };
        assert_eq!(connections("LISTEN"), "1");
        assert_eq!(connections("TIME_WAIT"), "1", "the client's end");
        assert_eq!(connections("ESTABLISHED"), "0");
        let transition = |old: &str, new: &str| {
            value(
                &text,
                &format!(
                    "enetstat_transitions_total{{old_state=\"{old}\",new_state=\"{new}\",netns=\"{NETNS}\"}}"
                ),
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
        let foreign_netns = NETNS + 1;
        assert_eq!(
            value(
                &text,
                &format!(
                    "enetstat_transitions_total{{old_state=\"CLOSE\",new_state=\"SYN_SENT\",netns=\"{foreign_netns}\"}}"
                )
            ),
            "2",
            "replayed and live"
        );
        assert_eq!(
            value(
                &text,
                &format!(
                    "enetstat_connections{{state=\"SYN_SENT\",family=\"inet\",netns=\"{foreign_netns}\"}}"
                )
            ),
            "1"
        );
        assert_eq!(status["namespaces_tracked"], 2);
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
        let mut tables = NamespaceTables::new(NETNS.into());
        tables.load(NETNS.into(), Vec::new(), 0);
        let mut daemon = Daemon::new(TcpHook::BtfTracepoint, tables, SocketOwners::default());
        daemon.discover = Vec::new;
        daemon.apply(&event(1, 0x10, (80, 0), Close, Listen));
        assert!(daemon.metrics_mut().is_none());
        assert!(daemon.metrics_exposition().is_err());
    }
}
