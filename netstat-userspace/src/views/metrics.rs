//! The daemon's Prometheus metrics: what it counts as events arrive, and the exposition of those
//! counts together with what it holds at scrape time: the OpenMetrics text format (written by the
//! `prometheus-client` library), or the Prometheus text format 0.0.4 derived from it
//! ([`ExpositionFormat`]).
//!
//! Counters that the daemon keeps anyway (events, losses, resyncs) and the live table's sizes are
//! read at scrape time ([`Readings`]); transitions and connection lifetimes are counted here, as
//! they happen. Per-interface counters come from outside through
//! [`Metrics::publish_interfaces`].

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, text},
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::ConstGauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

use super::escape::escape_bytes;
use crate::{
    events::health::{HealthDetail, HealthEvent},
    model::{
        TcpState,
        containers::Container,
        hashing::FastMap,
        health::{EventKind, EventKinds, HealthReasons},
        losses::LossCause,
        sockets::Family as AddressFamily,
    },
};

/// Every metric's name starts with this and an underscore.
const PREFIX: &str = "enetstat";

/// The two text formats a scraper may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExpositionFormat {
    /// OpenMetrics 1.0.0: counters' metadata named without `_total`, `# UNIT`, `# EOF`.
    OpenMetrics,
    /// The Prometheus text format 0.0.4, which `promtool check metrics` lints and every scraper
    /// reads: metadata named as the samples are, no `# UNIT`, no `# EOF`.
    Text,
}

impl ExpositionFormat {
    /// The media type of an exposition in this format.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
            ExpositionFormat::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// `openmetrics` (an exposition from [`Metrics::encode`]) in this format.
    pub(crate) fn render(self, openmetrics: String) -> String {
        match self {
            ExpositionFormat::OpenMetrics => openmetrics,
            ExpositionFormat::Text => openmetrics_to_text(&openmetrics),
        }
    }
}

/// The text format 0.0.4 of an OpenMetrics exposition. The sample lines and their escaping are
/// the same in both; the metadata differs: a counter's HELP and TYPE name its `_total` samples,
/// `unknown` is `untyped`, and there is no UNIT and no EOF.
fn openmetrics_to_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // A family's HELP waits for its TYPE, which says whether its name takes `_total`.
    let mut help: Option<(&str, &str)> = None;
    let flush_help = |out: &mut String, help: &mut Option<(&str, &str)>, suffix: &str| {
        if let Some((name, text)) = help.take() {
            out.push_str(&format!("# HELP {name}{suffix} {text}\n"));
        }
    };
    for line in openmetrics.lines() {
        let meta = line
            .strip_prefix("# ")
            .and_then(|meta| meta.split_once(' '));
        match meta {
            Some(("HELP", rest)) => {
                flush_help(&mut out, &mut help, "");
                help = Some(rest.split_once(' ').unwrap_or((rest, "")));
            }
            Some(("TYPE", rest)) => {
                let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
                let (suffix, kind) = match kind {
                    "counter" => ("_total", "counter"),
                    "unknown" => ("", "untyped"),
                    other => ("", other),
                };
                if help.is_some_and(|(helped, _)| helped != name) {
                    flush_help(&mut out, &mut help, "");
                }
                flush_help(&mut out, &mut help, suffix);
                out.push_str(&format!("# TYPE {name}{suffix} {kind}\n"));
            }
            Some(("UNIT", _)) => {}
            None if line == "# EOF" => {}
            _ => {
                flush_help(&mut out, &mut help, "");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    flush_help(&mut out, &mut help, "");
    out
}

/// Connection lifetimes: 1 ms doubling to about 70 minutes (2^22 ms), then +Inf.
const LIFETIME_BUCKETS: (f64, f64, u16) = (0.001, 2.0, 23);

/// Smoothed RTTs at the close: 10 µs doubling to about 5 s (2^19 × 10 µs), then +Inf.
const RTT_BUCKETS: (f64, f64, u16) = (0.000_01, 2.0, 20);

/// Whether a socket in the live table can show `state`: any state /proc/net/tcp lists, but
/// request sockets (which have no events, so the table leaves them out). Each such state is
/// exported, at 0 when no socket is in it, so that queries need not handle absent series.
fn table_can_show(state: TcpState) -> bool {
    !matches!(
        state,
        TcpState::Close | TcpState::NewSynRecv | TcpState::BoundInactive | TcpState::Unknown(_)
    )
}

type TransitionLabels = [(&'static str, String); 3];

/// One namespace's transitions, by old and new state.
type TransitionCounts = Box<[[u64; TcpState::INDEXED]; TcpState::INDEXED]>;

/// One network interface's counters, totals since they started counting (counters restart
/// from 0 only when the interface or its counting does).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct InterfaceTotals {
    /// The kernel's bytes; the `interface` label is their escaped form, as `-i --json` has it.
    pub(crate) name: Vec<u8>,
    pub(crate) ifindex: u32,
    pub(crate) rx_packets: u64,
    pub(crate) rx_bytes: u64,
    pub(crate) tx_packets: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) rx_errors: u64,
    pub(crate) tx_errors: u64,
    pub(crate) rx_dropped: u64,
    pub(crate) tx_dropped: u64,
}

/// What the daemon counts for its metrics between scrapes.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// Transitions by namespace inode, then old and new state ([`TcpState::index`]): a plain
    /// count per pair, turned into labelled counters only at scrape time.
    transitions: FastMap<u64, TransitionCounts>,
    connection_lifetimes: Histogram,
    /// Each closed connection's smoothed RTT at its close.
    close_rtts: Histogram,
    /// Segments retransmitted by connections, counted as each closes, by namespace inode.
    closed_retransmits: FastMap<u64, u64>,
    /// The health events followed (`serve --events`): which live totals are exported.
    health_kinds: EventKinds,
    /// Retransmits, resets and drops as they happen, by namespace inode.
    health: FastMap<u64, HealthTotals>,
    /// The kernel's names for drop reasons, for the `reason` label.
    reasons: HealthReasons,
    /// The latest published interface counters, by name.
    interfaces: BTreeMap<Vec<u8>, InterfaceTotals>,
    /// `serve --metrics-container-label`: the most containers given series of their own.
    container_cap: Option<usize>,
}

impl Default for Metrics {
    fn default() -> Self {
        let (start, factor, count) = LIFETIME_BUCKETS;
        Metrics {
            transitions: FastMap::default(),
            connection_lifetimes: Histogram::new(exponential_buckets(start, factor, count)),
            close_rtts: Histogram::new(exponential_buckets(
                RTT_BUCKETS.0,
                RTT_BUCKETS.1,
                RTT_BUCKETS.2,
            )),
            closed_retransmits: FastMap::default(),
            health_kinds: EventKinds::NONE,
            health: FastMap::default(),
            reasons: HealthReasons::default(),
            interfaces: BTreeMap::new(),
            container_cap: None,
        }
    }
}

/// One namespace's retransmits, resets and drops, counted as each happens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct HealthTotals {
    /// Segments retransmitted: the sum of what the kernel added to `Tcp: RetransSegs`.
    retransmitted_segments: u64,
    tail_loss_probes: u64,
    synack_retransmits: u64,
    resets_sent: u64,
    resets_received: u64,
    /// Drops by `enum skb_drop_reason`.
    drops: BTreeMap<u32, u64>,
}

/// One namespace's sockets by family and state.
pub(crate) type SocketCounts = HashMap<(AddressFamily, TcpState), usize>;

/// What the daemon holds at scrape time.
#[derive(Clone, Debug, Default)]
pub(crate) struct Readings {
    /// Sockets in each namespace's live table (by its label) by family and state (time-wait
    /// sockets under their substate).
    pub(crate) sockets: Vec<(String, SocketCounts)>,
    /// The `netns` label of each namespace by inode: its `ip netns` name where it has one (a
    /// namespace without an entry is labelled with its inode).
    pub(crate) namespace_labels: HashMap<u64, String>,
    pub(crate) events_received: u64,
    /// Events about sockets of other network namespaces, which the table leaves out.
    pub(crate) events_other_namespaces: u64,
    pub(crate) lost_ring_full: u64,
    pub(crate) lost_recursion: u64,
    pub(crate) malformed_records: u64,
    pub(crate) resyncs: u64,
    /// With the `container` label: `sockets` again, by container as well.
    pub(crate) containers: Option<ContainerSockets>,
}

/// The `container` label's value for sockets whose owner's cgroup names no container (and
/// time-wait sockets, which have no owner).
const NO_CONTAINER: &str = "";
/// The `container` label's value for the containers beyond the cap.
const OTHER_CONTAINERS: &str = "other";

/// Live-table sockets by container, family and state, with the containers beyond a cap folded
/// into one `container="other"`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ContainerSockets {
    /// By the `container` label's value (`RUNTIME:ID`, [`NO_CONTAINER`], [`OTHER_CONTAINERS`]).
    /// Keyed by label values: container, network namespace, family, state.
    counts: BTreeMap<(String, String, &'static str, &'static str), usize>,
    /// How many containers were folded into `other`.
    folded: usize,
}

impl ContainerSockets {
    /// `sockets` (one entry per socket: its owner's container, its namespace's label, family and
    /// state) with at most
    /// `cap` containers labelled by name: those holding the most sockets (ties broken by name,
    /// so that the choice is stable between scrapes); the rest are counted as `other`.
    pub(crate) fn fold<'a>(
        sockets: impl IntoIterator<Item = (Option<&'a Container>, &'a str, AddressFamily, TcpState)>,
        cap: usize,
    ) -> Self {
        type ByState<'a> = BTreeMap<(&'a str, &'static str, &'static str), usize>;
        let mut by_container: BTreeMap<Option<&Container>, ByState<'a>> = BTreeMap::new();
        for (container, netns, family, state) in sockets {
            *by_container
                .entry(container)
                .or_default()
                .entry((netns, family.name(), state.name()))
                .or_default() += 1;
        }
        let mut containers: Vec<(usize, &Container)> = by_container
            .iter()
            .filter_map(|(container, counts)| Some((counts.values().sum(), (*container)?)))
            .collect();
        containers.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let named: Vec<&Container> = containers.iter().take(cap).map(|&(_, c)| c).collect();
        let mut folded = ContainerSockets {
            counts: BTreeMap::new(),
            folded: containers.len().saturating_sub(cap),
        };
        for (container, counts) in by_container {
            let label = match container {
                None => NO_CONTAINER.to_string(),
                Some(c) if named.contains(&c) => container_label(c),
                Some(_) => OTHER_CONTAINERS.to_string(),
            };
            for ((netns, family, state), count) in counts {
                *folded
                    .counts
                    .entry((label.clone(), netns.to_string(), family, state))
                    .or_default() += count;
            }
        }
        folded
    }
}

/// `RUNTIME:ID`, as the `--containers` column shows a container (its id cut to 12 digits).
fn container_label(container: &Container) -> String {
    format!(
        "{}:{}",
        container.runtime,
        escape_bytes(container.short_id())
    )
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds the `container` label to `enetstat_connections`, with at most `cap` containers
    /// labelled by name (`serve --metrics-container-label`).
    pub(crate) fn label_containers(&mut self, cap: usize) {
        self.container_cap = Some(cap);
    }

    /// The cap on containers labelled by name, when the label is on.
    pub(crate) fn container_cap(&self) -> Option<usize> {
        self.container_cap
    }

    /// Counts one transition of a socket of namespace `netns`.
    pub(crate) fn count_transition(&mut self, netns: u64, old: TcpState, new: TcpState) {
        let counts = self
            .transitions
            .entry(netns)
            .or_insert_with(|| Box::new([[0; TcpState::INDEXED]; TcpState::INDEXED]));
        counts[old.index()][new.index()] += 1;
    }

    /// Exports live totals of these health kinds (all at 0 until their first event), with drop
    /// reasons named as the kernel names them.
    pub(crate) fn follow_health(&mut self, kinds: EventKinds, reasons: HealthReasons) {
        self.health_kinds = kinds;
        self.reasons = reasons;
    }

    /// Counts one retransmit, reset or drop in namespace `netns`.
    pub(crate) fn count_health(&mut self, netns: u64, event: &HealthEvent) {
        let totals = self.health.entry(netns).or_default();
        match event.detail {
            HealthDetail::Retransmit {
                segments,
                tail_loss_probe,
                synack,
                ..
            } => {
                totals.retransmitted_segments += u64::from(segments);
                totals.tail_loss_probes += u64::from(tail_loss_probe);
                totals.synack_retransmits += u64::from(synack);
            }
            HealthDetail::Reset { sent: true, .. } => totals.resets_sent += 1,
            HealthDetail::Reset { sent: false, .. } => totals.resets_received += 1,
            HealthDetail::Drop { reason } => *totals.drops.entry(reason).or_default() += 1,
        }
    }

    /// Stops exporting a namespace that is gone, as an interface that is gone.
    pub(crate) fn forget_namespace(&mut self, netns: u64) {
        self.transitions.remove(&netns);
        self.closed_retransmits.remove(&netns);
        self.health.remove(&netns);
    }

    /// The live health families, of the kinds followed: every namespace with sockets gets its
    /// series (at 0 before its first event), so that `rate()` sees the first one.
    fn register_health(
        &self,
        registry: &mut Registry,
        namespaces: &[String],
        label: &dyn Fn(u64) -> String,
    ) {
        type Labels = Vec<(&'static str, String)>;
        let by_netns = |netns: &str| vec![("netns", netns.to_string())];
        let mut totals: BTreeMap<String, HealthTotals> = namespaces
            .iter()
            .map(|netns| (netns.clone(), HealthTotals::default()))
            .collect();
        for (&netns, counted) in &self.health {
            totals.insert(label(netns), counted.clone());
        }
        let kinds = self.health_kinds;
        if kinds.contains(EventKind::Retransmit) {
            let segments = Family::<Labels, Counter>::default();
            let probes = Family::<Labels, Counter>::default();
            let synacks = Family::<Labels, Counter>::default();
            for (netns, t) in &totals {
                segments
                    .get_or_create(&by_netns(netns))
                    .inc_by(t.retransmitted_segments);
                probes
                    .get_or_create(&by_netns(netns))
                    .inc_by(t.tail_loss_probes);
                synacks
                    .get_or_create(&by_netns(netns))
                    .inc_by(t.synack_retransmits);
            }
            registry.register(
                "retransmitted_segments",
                "TCP segments retransmitted, as the kernel adds them to Tcp: RetransSegs, counted \
                 as each retransmit happens, by network namespace",
                segments,
            );
            registry.register(
                "tail_loss_probes",
                "TCP retransmits sent as tail-loss probes (counted in retransmitted_segments too), \
                 by network namespace",
                probes,
            );
            registry.register(
                "synack_retransmits",
                "SYN-ACKs retransmitted to clients that had not completed their handshake \
                 (counted in retransmitted_segments too), by network namespace",
                synacks,
            );
        }
        if kinds.contains(EventKind::Reset) {
            let resets = Family::<Labels, Counter>::default();
            for (netns, t) in &totals {
                for (direction, count) in [("sent", t.resets_sent), ("received", t.resets_received)]
                {
                    let mut labels = by_netns(netns);
                    labels.push(("direction", direction.to_string()));
                    resets.get_or_create(&labels).inc_by(count);
                }
            }
            registry.register(
                "tcp_resets",
                "TCP resets sent by this host and received by its sockets, by direction and \
                 network namespace",
                resets,
            );
        }
        if kinds.contains(EventKind::Drop) {
            let drops = Family::<Labels, Counter>::default();
            for (netns, t) in &totals {
                for (&reason, &count) in &t.drops {
                    let mut labels = by_netns(netns);
                    labels.push(("reason", self.reasons.drops.name(reason)));
                    drops.get_or_create(&labels).inc_by(count);
                }
            }
            registry.register(
                "socket_drops",
                "Packets of a socket that the kernel dropped (skb:kfree_skb with a socket), by \
                 the kernel's drop reason and network namespace; packets freed while purging a \
                 closing socket's queues are not drops and are not counted",
                drops,
            );
        }
    }

    /// A connection closed after its handshake: the segments it retransmitted over its life, and
    /// its smoothed RTT (µs) when it took a sample.
    pub(crate) fn observe_close(&mut self, netns: u64, retransmits: u32, srtt_us: Option<u32>) {
        *self.closed_retransmits.entry(netns).or_default() += u64::from(retransmits);
        if let Some(us) = srtt_us {
            self.close_rtts.observe(f64::from(us) / 1e6);
        }
    }

    /// The counts as the exposition's family: a series for each pair seen, by namespace,
    /// labelled as `label` names it.
    fn transition_counters(
        &self,
        label: &dyn Fn(u64) -> String,
    ) -> Family<TransitionLabels, Counter> {
        let name = |i: usize| TcpState::ALL.get(i).map_or("UNKNOWN", |state| state.name());
        let family = Family::<TransitionLabels, Counter>::default();
        for (&netns, counts) in &self.transitions {
            let netns = label(netns);
            for (old, row) in counts.iter().enumerate() {
                for (new, &count) in row.iter().enumerate().filter(|&(_, &count)| count > 0) {
                    family
                        .get_or_create(&[
                            ("old_state", name(old).to_string()),
                            ("new_state", name(new).to_string()),
                            ("netns", netns.clone()),
                        ])
                        .inc_by(count);
                }
            }
        }
        family
    }

    /// Records how long a connection lived, from its creation to its close.
    pub(crate) fn observe_connection_lifetime(&self, lifetime_ns: u64) {
        self.connection_lifetimes
            .observe(lifetime_ns as f64 / 1_000_000_000.0);
    }

    /// The hook for per-interface counters: replaces the interfaces exported with `samples`, so
    /// an interface that is gone disappears from the next scrape. Call it with every interface's
    /// current totals (summed over CPUs) before each scrape is rendered, or on a timer. Should
    /// two samples share a name, the last one counts.
    pub(crate) fn publish_interfaces(
        &mut self,
        samples: impl IntoIterator<Item = InterfaceTotals>,
    ) {
        self.interfaces = samples
            .into_iter()
            .map(|sample| (sample.name.clone(), sample))
            .collect();
    }

    /// The whole exposition, `# EOF` included.
    pub(crate) fn encode(&self, readings: Readings) -> Result<String, fmt::Error> {
        let mut registry = Registry::with_prefix(PREFIX);
        let label = |netns: u64| {
            readings
                .namespace_labels
                .get(&netns)
                .cloned()
                .unwrap_or_else(|| netns.to_string())
        };
        let transitions = self.transition_counters(&label);
        let retransmits = Family::<[(&'static str, String); 1], Counter>::default();
        for (&netns, &segments) in &self.closed_retransmits {
            retransmits
                .get_or_create(&[("netns", label(netns))])
                .inc_by(segments);
        }
        if self.health_kinds.any_health() {
            let namespaces: Vec<String> = readings.sockets.iter().map(|(n, _)| n.clone()).collect();
            self.register_health(&mut registry, &namespaces, &label);
        }
        registry.register_collector(Box::new(readings));
        registry.register(
            "transitions",
            "TCP state transitions of the sockets the daemon follows, by old and new state and \
             network namespace",
            transitions,
        );
        registry.register_with_unit(
            "connection_duration",
            "Lifetimes of TCP connections, from the socket's creation (connect() or the \
             handshake's completion) to its close; each end of a connection counts once. Sockets \
             that never connected, listeners, and sockets created before the daemon started are \
             not counted",
            Unit::Seconds,
            self.connection_lifetimes.clone(),
        );
        registry.register_with_unit(
            "connection_srtt",
            "Smoothed round-trip time of each TCP connection as it closes (tcp_sock.srtt_us), for \
             connections that completed their handshake and took an RTT sample",
            Unit::Seconds,
            self.close_rtts.clone(),
        );
        registry.register(
            "closed_connection_retransmits",
            "Segments retransmitted by TCP connections over their lives (tcp_sock.total_retrans), \
             counted as each closes, by network namespace",
            retransmits,
        );
        registry.register_collector(Box::new(InterfaceCounters(
            self.interfaces.values().cloned().collect(),
        )));
        let mut out = String::new();
        text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

impl Collector for Readings {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        // Every state of each namespace, so a series does not vanish when its count drops to 0.
        let mut sockets: Vec<([(&str, &str); 3], usize)> = Vec::new();
        for (netns, counts) in &self.sockets {
            for family in [AddressFamily::Inet, AddressFamily::Inet6] {
                for state in TcpState::ALL.into_iter().filter(|&s| table_can_show(s)) {
                    let count = counts.get(&(family, state)).copied().unwrap_or(0);
                    sockets.push((
                        [
                            ("state", state.name()),
                            ("family", family.name()),
                            ("netns", netns),
                        ],
                        count,
                    ));
                }
            }
            // Anything else the table shows (it should not) is exported rather than hidden.
            for (&(family, state), &count) in counts {
                if !table_can_show(state) {
                    sockets.push((
                        [
                            ("state", state.name()),
                            ("family", family.name()),
                            ("netns", netns),
                        ],
                        count,
                    ));
                }
            }
        }
        let mut gauge = encoder.encode_descriptor(
            "connections",
            "TCP sockets in the daemon's live table (netstat's connections, listeners included), \
             by state, address family and network namespace (its ip netns name, else its \
             inode), and container with --metrics-container-label.",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        match &self.containers {
            None => {
                for (labels, count) in &sockets {
                    ConstGauge::new(*count as i64).encode(gauge.encode_family(labels)?)?;
                }
            }
            Some(containers) => {
                // Sockets outside containers keep every state's series, as without the label;
                // containers get a series per state they have sockets in.
                for ([state, family, netns], _) in &sockets {
                    let key = (
                        NO_CONTAINER.to_string(),
                        netns.1.to_string(),
                        family.1,
                        state.1,
                    );
                    let count = containers.counts.get(&key).copied().unwrap_or(0);
                    let labels = [*state, *family, *netns, ("container", NO_CONTAINER)];
                    ConstGauge::new(count as i64).encode(gauge.encode_family(&labels)?)?;
                }
                for ((label, netns, family, state), count) in &containers.counts {
                    if label == NO_CONTAINER {
                        continue;
                    }
                    let labels = [
                        ("state", *state),
                        ("family", *family),
                        ("netns", netns.as_str()),
                        ("container", label.as_str()),
                    ];
                    ConstGauge::new(*count as i64).encode(gauge.encode_family(&labels)?)?;
                }
            }
        }
        if let Some(containers) = &self.containers {
            let folded = encoder.encode_descriptor(
                "containers_folded",
                "Containers beyond --metrics-max-containers whose sockets this exposition counts \
                 under container=\"other\".",
                None,
                ConstGauge::new(0i64).metric_type(),
            )?;
            ConstGauge::new(containers.folded as i64).encode(folded)?;
        }

        let plain = [
            (
                "events_received",
                "Transition records read from the kernel, from every network namespace.",
                self.events_received,
            ),
            (
                "events_other_namespaces",
                "Transition records about sockets of network namespaces other than the daemon's.",
                self.events_other_namespaces,
            ),
            (
                "malformed_records",
                "Records from the kernel that could not be decoded.",
                self.malformed_records,
            ),
            (
                "resyncs",
                "Times the table was rebuilt from /proc after records were lost.",
                self.resyncs,
            ),
        ];
        for (name, help, value) in plain {
            let metric = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            ConstCounter::new(value).encode(metric)?;
        }

        let mut lost = encoder.encode_descriptor(
            "events_lost",
            "Transition records that never reached the daemon, by cause: the ring buffer was \
             full, or the kernel skipped the probe (recursion).",
            None,
            ConstCounter::new(0u64).metric_type(),
        )?;
        for (cause, value) in [
            (LossCause::RingFull, self.lost_ring_full),
            (LossCause::Recursion, self.lost_recursion),
        ] {
            ConstCounter::new(value)
                .encode(lost.encode_family(&[("cause", cause_label(cause))])?)?;
        }
        Ok(())
    }
}

fn cause_label(cause: LossCause) -> &'static str {
    match cause {
        LossCause::RingFull => "ring_full",
        LossCause::Recursion => "recursion",
        LossCause::RateLimited => "rate_limited",
        LossCause::Untracked => "untracked",
    }
}

/// The published interface counters, as constant counters: built for one scrape.
#[derive(Debug)]
struct InterfaceCounters(Vec<InterfaceTotals>);

impl Collector for InterfaceCounters {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        if self.0.is_empty() {
            return Ok(());
        }
        type Pick = fn(&InterfaceTotals) -> (u64, u64);
        let families: [(&str, &str, Pick); 4] = [
            (
                "interface_packets",
                "Packets through each network interface, by direction.",
                |s| (s.rx_packets, s.tx_packets),
            ),
            (
                "interface_bytes",
                "Bytes through each network interface, by direction.",
                |s| (s.rx_bytes, s.tx_bytes),
            ),
            (
                "interface_errors",
                "Packets with errors on each network interface, by direction.",
                |s| (s.rx_errors, s.tx_errors),
            ),
            (
                "interface_dropped",
                "Packets dropped on each network interface, by direction.",
                |s| (s.rx_dropped, s.tx_dropped),
            ),
        ];
        for (name, help, pick) in families {
            let mut metric = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for sample in &self.0 {
                let (rx, tx) = pick(sample);
                let interface = escape_bytes(&sample.name);
                for (direction, value) in [("rx", rx), ("tx", tx)] {
                    let labels = [("interface", interface.as_str()), ("direction", direction)];
                    ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn an_empty_daemon_exports_every_family_with_help_and_type() {
        let readings = Readings {
            sockets: vec![("4026531840".to_string(), HashMap::new())],
            ..Readings::default()
        };
        let text = Metrics::new().encode(readings).unwrap();
        assert!(text.ends_with("# EOF\n"), "{text}");
        for (name, kind) in [
            ("enetstat_connections", "gauge"),
            ("enetstat_events_received", "counter"),
            ("enetstat_events_other_namespaces", "counter"),
            ("enetstat_events_lost", "counter"),
            ("enetstat_malformed_records", "counter"),
            ("enetstat_resyncs", "counter"),
            ("enetstat_connection_duration_seconds", "histogram"),
        ] {
            assert!(
                text.contains(&format!("\n# TYPE {name} {kind}\n")),
                "{name}: {text}"
            );
            assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
        }
        // Every state the table can show, in both families, at 0, for each namespace.
        let connections = lines_with(&text, "enetstat_connections{");
        assert_eq!(connections.len(), 20, "{connections:#?}");
        assert!(connections.iter().all(|l| l.ends_with(" 0")));
        assert!(text.contains("enetstat_events_lost_total{cause=\"ring_full\"} 0\n"));
        assert!(text.contains("enetstat_events_lost_total{cause=\"recursion\"} 0\n"));
        assert!(text.contains("enetstat_connection_duration_seconds_count 0\n"));
        // No interface counters until some are published.
        assert!(!text.contains("interface"), "{text}");
    }

    #[test]
    fn readings_are_exported_as_read() {
        let readings = Readings {
            sockets: vec![
                (
                    "4026531840".to_string(),
                    HashMap::from([
                        ((AddressFamily::Inet, TcpState::Established), 3),
                        ((AddressFamily::Inet6, TcpState::Listen), 2),
                        ((AddressFamily::Inet, TcpState::TimeWait), 7),
                    ]),
                ),
                (
                    "blue".to_string(),
                    HashMap::from([((AddressFamily::Inet, TcpState::Listen), 1)]),
                ),
            ],
            namespace_labels: HashMap::new(),
            events_received: 120,
            events_other_namespaces: 4,
            lost_ring_full: 17,
            lost_recursion: 2,
            malformed_records: 1,
            resyncs: 5,
            containers: None,
        };
        let text = Metrics::new().encode(readings).unwrap();
        for line in [
            "enetstat_connections{state=\"ESTABLISHED\",family=\"inet\",netns=\"4026531840\"} 3",
            "enetstat_connections{state=\"LISTEN\",family=\"inet6\",netns=\"4026531840\"} 2",
            "enetstat_connections{state=\"TIME_WAIT\",family=\"inet\",netns=\"4026531840\"} 7",
            "enetstat_connections{state=\"LISTEN\",family=\"inet\",netns=\"4026531840\"} 0",
            "enetstat_connections{state=\"LISTEN\",family=\"inet\",netns=\"blue\"} 1",
            "enetstat_connections{state=\"LISTEN\",family=\"inet6\",netns=\"blue\"} 0",
            "enetstat_events_received_total 120",
            "enetstat_events_other_namespaces_total 4",
            "enetstat_events_lost_total{cause=\"ring_full\"} 17",
            "enetstat_events_lost_total{cause=\"recursion\"} 2",
            "enetstat_malformed_records_total 1",
            "enetstat_resyncs_total 5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing: {text}");
        }
    }

    #[test]
    fn a_state_outside_the_usual_ones_is_not_hidden() {
        let readings = Readings {
            sockets: vec![(
                "1".to_string(),
                HashMap::from([((AddressFamily::Inet, TcpState::Unknown(42)), 1)]),
            )],
            ..Readings::default()
        };
        let text = Metrics::new().encode(readings).unwrap();
        assert!(
            text.contains(
                "enetstat_connections{state=\"UNKNOWN\",family=\"inet\",netns=\"1\"} 1\n"
            )
        );
    }

    #[test]
    fn transitions_are_counted_by_old_and_new_state() {
        use TcpState::*;
        let mut metrics = Metrics::new();
        for _ in 0..3 {
            metrics.count_transition(1, Close, SynSent);
            metrics.count_transition(1, SynSent, Established);
        }
        metrics.count_transition(1, Established, FinWait1);
        // Unknown states share one series, as they share one name.
        metrics.count_transition(1, Unknown(20), Close);
        metrics.count_transition(1, Unknown(21), Close);
        // Another namespace's, labelled by name.
        metrics.count_transition(2, Close, SynSent);
        let readings = Readings {
            namespace_labels: HashMap::from([(2, "blue".to_string())]),
            ..Readings::default()
        };
        let text = metrics.encode(readings).unwrap();
        assert!(text.contains("\n# TYPE enetstat_transitions counter\n"));
        let mut transitions = lines_with(&text, "enetstat_transitions_total{");
        transitions.sort();
        assert_eq!(
            transitions,
            [
                "enetstat_transitions_total{old_state=\"CLOSE\",new_state=\"SYN_SENT\",netns=\"1\"} 3",
                "enetstat_transitions_total{old_state=\"CLOSE\",new_state=\"SYN_SENT\",netns=\"blue\"} 1",
                "enetstat_transitions_total{old_state=\"ESTABLISHED\",new_state=\"FIN_WAIT1\",netns=\"1\"} 1",
                "enetstat_transitions_total{old_state=\"SYN_SENT\",new_state=\"ESTABLISHED\",netns=\"1\"} 3",
                "enetstat_transitions_total{old_state=\"UNKNOWN\",new_state=\"CLOSE\",netns=\"1\"} 2",
            ]
        );
    }

    #[test]
    fn closes_count_retransmits_by_namespace_and_their_rtts_in_a_histogram() {
        let mut metrics = Metrics::new();
        metrics.observe_close(1, 3, Some(52));
        metrics.observe_close(1, 2, None);
        metrics.observe_close(2, 0, Some(1_500));
        let readings = Readings {
            namespace_labels: HashMap::from([(2, "blue".to_string())]),
            ..Readings::default()
        };
        let text = metrics.encode(readings).unwrap();
        let mut retransmits = lines_with(&text, "enetstat_closed_connection_retransmits_total{");
        retransmits.sort();
        assert_eq!(
            retransmits,
            [
                "enetstat_closed_connection_retransmits_total{netns=\"1\"} 5",
                "enetstat_closed_connection_retransmits_total{netns=\"blue\"} 0",
            ]
        );
        assert!(text.contains("\n# UNIT enetstat_connection_srtt_seconds seconds\n"));
        assert!(
            text.contains("enetstat_connection_srtt_seconds_count 2\n"),
            "{text}"
        );
        assert!(
            text.contains("enetstat_connection_srtt_seconds_bucket{le=\"0.00008\"} 1\n"),
            "{text}"
        );
        metrics.forget_namespace(1);
        let text = metrics.encode(Readings::default()).unwrap();
        assert!(!text.contains("closed_connection_retransmits_total{netns=\"1\"}"));
    }

    #[test]
    fn lifetimes_fall_in_exponential_buckets_from_a_millisecond() {
        let metrics = Metrics::new();
        metrics.observe_connection_lifetime(500_000); // 0.5 ms
        metrics.observe_connection_lifetime(3_000_000); // 3 ms
        metrics.observe_connection_lifetime(2 * 3600 * 1_000_000_000); // 2 h
        let text = metrics.encode(Readings::default()).unwrap();
        assert!(text.contains("\n# UNIT enetstat_connection_duration_seconds seconds\n"));
        let bucket = |le: &str| {
            let prefix = format!("enetstat_connection_duration_seconds_bucket{{le=\"{le}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap_or_else(|| panic!("no bucket {le}: {text}"))
                .to_string()
        };
        assert_eq!(bucket("0.001"), "1");
        assert_eq!(bucket("0.002"), "1");
        assert_eq!(bucket("0.004"), "2");
        assert_eq!(bucket("4194.304"), "2");
        assert_eq!(bucket("+Inf"), "3");
        assert_eq!(
            lines_with(&text, "enetstat_connection_duration_seconds_bucket").len(),
            24
        );
        assert!(text.contains("enetstat_connection_duration_seconds_count 3\n"));
        assert!(text.contains("enetstat_connection_duration_seconds_sum 7200.0035\n"));
    }

    fn sample(name: &str, ifindex: u32, base: u64) -> InterfaceTotals {
        InterfaceTotals {
            name: name.into(),
            ifindex,
            rx_packets: base + 1,
            rx_bytes: base + 2,
            tx_packets: base + 3,
            tx_bytes: base + 4,
            rx_errors: base + 5,
            tx_errors: base + 6,
            rx_dropped: base + 7,
            tx_dropped: base + 8,
        }
    }

    #[test]
    fn published_interfaces_are_counters_by_interface_and_direction() {
        let mut metrics = Metrics::new();
        metrics.publish_interfaces([sample("lo", 1, 100), sample("eth0", 2, 200)]);
        let text = metrics.encode(Readings::default()).unwrap();
        for name in [
            "interface_packets",
            "interface_bytes",
            "interface_errors",
            "interface_dropped",
        ] {
            assert!(
                text.contains(&format!("\n# TYPE enetstat_{name} counter\n")),
                "{text}"
            );
        }
        for line in [
            "enetstat_interface_packets_total{interface=\"lo\",direction=\"rx\"} 101",
            "enetstat_interface_bytes_total{interface=\"lo\",direction=\"rx\"} 102",
            "enetstat_interface_packets_total{interface=\"lo\",direction=\"tx\"} 103",
            "enetstat_interface_bytes_total{interface=\"lo\",direction=\"tx\"} 104",
            "enetstat_interface_errors_total{interface=\"lo\",direction=\"rx\"} 105",
            "enetstat_interface_errors_total{interface=\"lo\",direction=\"tx\"} 106",
            "enetstat_interface_dropped_total{interface=\"lo\",direction=\"rx\"} 107",
            "enetstat_interface_dropped_total{interface=\"lo\",direction=\"tx\"} 108",
            "enetstat_interface_bytes_total{interface=\"eth0\",direction=\"tx\"} 204",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing: {text}");
        }
        assert_eq!(lines_with(&text, "enetstat_interface_").len(), 16);
    }

    #[test]
    fn an_interface_that_is_gone_disappears_and_names_are_escaped() {
        let mut metrics = Metrics::new();
        metrics.publish_interfaces([sample("lo", 1, 0), sample("veth0", 5, 0)]);
        // veth0 is gone, a new interface with a hostile name appeared, lo counted on.
        metrics.publish_interfaces([sample("lo", 1, 1000), sample("x\"\\\ny\x1b", 9, 0)]);
        let text = metrics.encode(Readings::default()).unwrap();
        assert!(!text.contains("veth0"), "{text}");
        assert!(text.contains(
            "enetstat_interface_packets_total{interface=\"lo\",direction=\"rx\"} 1001\n"
        ));
        // escape_bytes makes `x"\\\x0ay\x1b`; the exposition escapes its quote and backslashes.
        assert!(
            text.contains(
                r#"enetstat_interface_packets_total{interface="x\"\\\\\\x0ay\\x1b",direction="rx"} 1"#
            ),
            "{text}"
        );
        assert!(!text.bytes().any(|b| b == 0x1b), "{text}");
        // Publishing nothing removes them all.
        metrics.publish_interfaces([]);
        let text = metrics.encode(Readings::default()).unwrap();
        assert!(!text.contains("interface"), "{text}");
    }

    #[test]
    fn a_name_published_twice_is_exported_once() {
        let mut metrics = Metrics::new();
        metrics.publish_interfaces([sample("lo", 1, 0), sample("lo", 1, 50)]);
        let text = metrics.encode(Readings::default()).unwrap();
        assert_eq!(
            lines_with(&text, "enetstat_interface_packets_total").len(),
            2
        );
        assert!(
            text.contains(
                "enetstat_interface_packets_total{interface=\"lo\",direction=\"rx\"} 51\n"
            )
        );
    }

    #[test]
    fn the_text_format_names_metadata_as_its_samples() {
        let mut metrics = Metrics::new();
        metrics.count_transition(1, TcpState::Close, TcpState::SynSent);
        metrics.observe_connection_lifetime(3_000_000);
        metrics.publish_interfaces([sample("lo", 1, 0)]);
        let readings = Readings {
            sockets: vec![("1".to_string(), HashMap::new())],
            ..Readings::default()
        };
        let openmetrics = metrics.encode(readings).unwrap();
        let text = ExpositionFormat::Text.render(openmetrics.clone());
        let samples = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(samples(&text), samples(&openmetrics));
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
        for (name, kind) in [
            ("enetstat_transitions_total", "counter"),
            ("enetstat_events_received_total", "counter"),
            ("enetstat_events_lost_total", "counter"),
            ("enetstat_interface_bytes_total", "counter"),
            ("enetstat_connections", "gauge"),
            ("enetstat_connection_duration_seconds", "histogram"),
        ] {
            let type_line = format!("# TYPE {name} {kind}\n");
            let at = text
                .find(&type_line)
                .unwrap_or_else(|| panic!("{name}: {text}"));
            // HELP right before TYPE, both before the first sample.
            let before = &text[..at];
            let help = before.lines().last().unwrap_or_default();
            assert!(
                help.starts_with(&format!("# HELP {name} ")),
                "{name}: {text}"
            );
            let first_sample = text
                .lines()
                .position(|l| l.starts_with(name) && !l.starts_with('#'));
            let type_at = text.lines().position(|l| l == type_line.trim_end());
            assert!(type_at < first_sample, "{name}: {text}");
        }
        // Every metadata line's name is one that samples carry (or their histogram's).
        let meta = text.lines().filter(|l| l.starts_with("# ")).count();
        assert_eq!(
            meta,
            2 * text.lines().filter(|l| l.starts_with("# TYPE ")).count()
        );
    }

    #[test]
    fn openmetrics_stays_as_encoded() {
        let openmetrics = Metrics::new().encode(Readings::default()).unwrap();
        assert_eq!(
            ExpositionFormat::OpenMetrics.render(openmetrics.clone()),
            openmetrics
        );
    }

    #[test]
    fn names_that_are_not_utf8_stay_distinct() {
        let mut metrics = Metrics::new();
        let mut a = sample("", 7, 0);
        a.name = b"\xff\xfeY".to_vec();
        let mut b = sample("", 8, 100);
        b.name = b"\xfe\xffY".to_vec();
        metrics.publish_interfaces([a, b]);
        let text = metrics.encode(Readings::default()).unwrap();
        assert!(text.contains(
            r#"enetstat_interface_packets_total{interface="\\xff\\xfeY",direction="rx"} 1"#
        ));
        assert!(text.contains(
            r#"enetstat_interface_packets_total{interface="\\xfe\\xffY",direction="rx"} 101"#
        ));
        assert!(!text.contains('\u{fffd}'), "{text}");
    }

    fn docker(n: u8) -> Container {
        let id = format!("{:02x}", n).repeat(32);
        Container::from_cgroup_path(format!("/docker/{id}").as_bytes()).unwrap()
    }

    #[test]
    fn containers_beyond_the_cap_are_folded_into_other() {
        use AddressFamily::Inet;
        use TcpState::{Established, Listen};
        let (a, b, c) = (docker(1), docker(2), docker(3));
        // b holds 3 sockets, c 2, a 1: with a cap of 2, a is folded.
        let sockets = [
            (Some(&a), "n", Inet, Listen),
            (Some(&b), "n", Inet, Established),
            (Some(&b), "n", Inet, Established),
            (Some(&b), "n", Inet, Listen),
            (Some(&c), "n", Inet, Established),
            (Some(&c), "n", Inet, Established),
            (None, "n", Inet, Listen),
        ];
        let folded = ContainerSockets::fold(sockets, 2);
        assert_eq!(folded.folded, 1);
        let get = |label: &str, state: TcpState| {
            folded
                .counts
                .get(&(label.to_string(), "n".to_string(), "inet", state.name()))
                .copied()
        };
        assert_eq!(get("docker:020202020202", Established), Some(2));
        assert_eq!(get("docker:020202020202", Listen), Some(1));
        assert_eq!(get("docker:030303030303", Established), Some(2));
        assert_eq!(get("other", Listen), Some(1));
        assert_eq!(get("docker:010101010101", Listen), None);
        assert_eq!(get("", Listen), Some(1));
        // Every socket is counted once.
        assert_eq!(folded.counts.values().sum::<usize>(), sockets.len());
        // Ties go by name, so the choice does not change between scrapes.
        let tied = ContainerSockets::fold(
            [(Some(&b), "n", Inet, Listen), (Some(&a), "n", Inet, Listen)],
            1,
        );
        assert!(tied.counts.contains_key(&(
            "docker:010101010101".to_string(),
            "n".to_string(),
            "inet",
            "LISTEN"
        )));
        assert!(tied.counts.contains_key(&(
            "other".to_string(),
            "n".to_string(),
            "inet",
            "LISTEN"
        )));
        assert_eq!(
            ContainerSockets::fold([(Some(&a), "n", Inet, Listen)], 0).folded,
            1
        );
    }

    #[test]
    fn the_container_label_is_opt_in() {
        let mut sockets = HashMap::new();
        sockets.insert((AddressFamily::Inet, TcpState::Listen), 2);
        let readings = Readings {
            sockets: vec![("n".to_string(), sockets.clone())],
            ..Readings::default()
        };
        let text = Metrics::new().encode(readings).unwrap();
        assert!(
            !text.contains("container=") && !text.contains("containers_folded"),
            "{text}"
        );
        let a = docker(1);
        let readings = Readings {
            sockets: vec![("n".to_string(), sockets)],
            containers: Some(ContainerSockets::fold(
                [
                    (Some(&a), "n", AddressFamily::Inet, TcpState::Listen),
                    (None, "n", AddressFamily::Inet, TcpState::Listen),
                ],
                100,
            )),
            ..Readings::default()
        };
        let text = Metrics::new().encode(readings).unwrap();
        let connections = lines_with(&text, "enetstat_connections{");
        // Outside containers: every state and family, as without the label; the container: the
        // one series it has sockets in.
        assert_eq!(connections.len(), 21, "{connections:#?}");
        assert!(text.contains(
            "enetstat_connections{state=\"LISTEN\",family=\"inet\",netns=\"n\",container=\"docker:010101010101\"} 1\n"
        ));
        assert!(text.contains(
            "enetstat_connections{state=\"LISTEN\",family=\"inet\",netns=\"n\",container=\"\"} 1\n"
        ));
        assert!(text.contains("# TYPE enetstat_containers_folded gauge\n"));
        assert!(text.contains("enetstat_containers_folded 0\n"), "{text}");
        let text = ExpositionFormat::Text.render(text);
        assert!(text.contains("enetstat_containers_folded 0\n"), "{text}");
    }
}
