//! Randomised check of the whole table: many connection lifecycles interleaved, with addresses
//! and 4-tuples reused, fed to a table from the start and to tables built from a snapshot read at
//! a random moment (row by row, while the sockets change) plus the events buffered since a random
//! earlier attach. All must end as the kernel model kept by the generator, which knows each
//! socket's real endpoints and whether it leaves a time-wait socket from its script, not from the
//! records.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use super::tests::task;
use super::*;
use TcpState::*;

const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000_000_000;
/// USER_HZ: the unit of /proc/net/tcp's timer column.
const TICK: u64 = 10 * MS;

/// splitmix64: small and deterministic.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.next() % bound }
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

#[derive(Clone, Copy, Debug)]
struct Step {
    old: TcpState,
    new: TcpState,
    /// Made in the owner's system call rather than in softirq.
    by_app: bool,
    /// The substate of the time-wait socket the kernel leaves in the socket's place.
    leaves: Option<TcpState>,
    /// Follows the previous step within microseconds (same segment).
    at_once: bool,
}

fn step(old: TcpState, new: TcpState, by_app: bool) -> Step {
    Step {
        old,
        new,
        by_app,
        leaves: None,
        at_once: false,
    }
}

fn leaving(state: TcpState, step: Step) -> Step {
    Step {
        leaves: Some(state),
        ..step
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Child,
    Listener,
}

#[derive(Clone, Copy, Debug)]
enum Ending {
    ActiveClose,
    OrphanClose,
    PassiveClose,
    SimultaneousClose,
    Abort,
    Refused,
    ReconnectAfterRefusal,
}

fn script(side: Side, ending: Ending) -> Vec<Step> {
    let opening = match side {
        Side::Client => vec![
            step(Close, SynSent, true),
            step(SynSent, Established, false),
        ],
        Side::Child => vec![
            step(Listen, SynRecv, false),
            step(SynRecv, Established, false),
        ],
        Side::Listener => return vec![step(Close, Listen, true), step(Listen, Close, true)],
    };
    let refusal = vec![step(Close, SynSent, true), step(SynSent, Close, false)];
    let active_close = vec![
        step(Established, FinWait1, true),
        step(FinWait1, FinWait2, false),
        leaving(TimeWait, step(FinWait2, Close, false)),
    ];
    match ending {
        Ending::Refused => refusal,
        Ending::ReconnectAfterRefusal => [refusal, opening, active_close].concat(),
        Ending::ActiveClose => [opening, active_close].concat(),
        Ending::OrphanClose => {
            let mut orphan = active_close;
            orphan[2] = Step {
                at_once: true,
                ..leaving(FinWait2, step(FinWait2, Close, false))
            };
            [opening, orphan].concat()
        }
        Ending::PassiveClose => {
            let passive = vec![
                step(Established, CloseWait, false),
                step(CloseWait, LastAck, true),
                step(LastAck, Close, false),
            ];
            [opening, passive].concat()
        }
        Ending::SimultaneousClose => {
            let simultaneous = vec![
                step(Established, FinWait1, true),
                step(FinWait1, Closing, false),
                leaving(TimeWait, step(Closing, Close, false)),
            ];
            [opening, simultaneous].concat()
        }
        Ending::Abort => [opening, vec![step(Established, Close, false)]].concat(),
    }
}

/// One socket's scripted life.
struct Lifecycle {
    id: usize,
    side: Side,
    steps: Vec<Step>,
    done: usize,
    skaddr: u64,
    /// The kernel's view: after connect() has chosen the port.
    endpoints: Endpoints,
    /// Bound before connect(): its first record already carries the port.
    bound: bool,
    /// Takes the 4-tuple of a time-wait socket, which the kernel then kills.
    reuses_time_wait: bool,
}

/// A sortable stand-in for `Endpoints`, for deterministic maps and listings.
type Key = (u16, SocketAddr, SocketAddr);

fn key(endpoints: &Endpoints) -> Key {
    (
        endpoints.family().raw(),
        endpoints.local(),
        endpoints.remote(),
    )
}

fn unspecified(family: Family) -> IpAddr {
    match family {
        Family::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

fn with_local(endpoints: &Endpoints, ip: IpAddr, port: u16) -> Endpoints {
    let remote = endpoints.remote();
    Endpoints::new(endpoints.family(), ip, port, remote.ip(), remote.port())
}

struct LiveSocket {
    lifecycle: usize,
    endpoints: Endpoints,
    state: TcpState,
    inode: u64,
}

struct LingeringSocket {
    id: usize,
    side: Side,
    endpoints: Endpoints,
    state: TcpState,
    created_ns: u64,
    expires_ns: u64,
}

/// The kernel as the scripts drive it.
#[derive(Default)]
struct Kernel {
    sockets: BTreeMap<u64, LiveSocket>,
    time_waits: BTreeMap<Key, LingeringSocket>,
}

#[derive(Clone, Copy)]
enum Readable {
    Socket { skaddr: u64, lifecycle: usize },
    TimeWait { key: Key, id: usize },
}

/// /proc/net/tcp read row by row: each socket is read at its own moment of the read.
struct Reader {
    start_ns: u64,
    end_ns: u64,
    due: Vec<(u64, Readable)>,
    rows: Vec<SnapshotRow>,
}

impl Reader {
    /// A socket that exists from `created_ns` on, if its moment to be read comes after that.
    fn schedule(&mut self, rng: &mut Rng, created_ns: u64, readable: Readable) {
        let at = rng.between(self.start_ns, self.end_ns);
        if at >= created_ns {
            self.due.push((at, readable));
        }
    }

    /// Reads what is due before `now_ns`: the kernel is as it was then.
    fn read_due(&mut self, now_ns: u64, kernel: &Kernel) {
        self.due.sort_by_key(|&(at, _)| at);
        let due = self.due.partition_point(|&(at, _)| at < now_ns);
        for (at, readable) in self.due.drain(..due) {
            match readable {
                Readable::Socket { skaddr, lifecycle } => {
                    if let Some(live) = kernel.sockets.get(&skaddr)
                        && live.lifecycle == lifecycle
                    {
                        self.rows.push(SnapshotRow {
                            key: skaddr,
                            endpoints: live.endpoints,
                            state: live.state,
                            kind: SnapshotKind::Socket {
                                inode: live.inode,
                                uid: 1000,
                            },
                        });
                    }
                }
                Readable::TimeWait { key, id } => {
                    if let Some(lingering) = kernel.time_waits.get(&key)
                        && lingering.id == id
                        && at < lingering.expires_ns
                    {
                        self.rows.push(SnapshotRow {
                            key: 0x5eed_0000 + id as u64,
                            endpoints: lingering.endpoints,
                            state: lingering.state,
                            kind: SnapshotKind::TimeWait {
                                expires_in_ns: (lingering.expires_ns - at) / TICK * TICK,
                            },
                        });
                    }
                }
            }
        }
    }
}

struct Simulation {
    rng: Rng,
    kernel: Kernel,
    reader: Reader,
    lifecycles: Vec<Lifecycle>,
    events: Vec<TcpTransition>,
    free_addresses: Vec<u64>,
    addresses_made: u64,
    next_id: usize,
    next_port: u16,
}

impl Simulation {
    fn address(&mut self) -> u64 {
        if !self.free_addresses.is_empty() && self.rng.percent(85) {
            return self.free_addresses.pop().unwrap_or_default();
        }
        self.addresses_made += 1;
        0xffff_8880_1000_0000 + self.addresses_made * 0x980
    }

    fn port(&mut self) -> u16 {
        self.next_port += 1;
        self.next_port
    }

    fn start(&mut self, now_ns: u64) {
        let id = self.next_id;
        self.next_id += 1;
        let family = if self.rng.percent(50) {
            Family::Inet
        } else {
            Family::Inet6
        };
        let ip = |v4: [u8; 4], v6: u16| match family {
            Family::Inet => IpAddr::V4(Ipv4Addr::from(v4)),
            Family::Inet6 => IpAddr::V6(Ipv6Addr::new(0xfd00, v6, 0, 0, 0, 0, 0, 1)),
        };
        let this_host = ip([10, 0, 0, 1], 0);
        // A time-wait 4-tuple old enough for tcp_tw_reuse (and for the replay to tell its row
        // from the one a new close would leave), not yet claimed by a socket about to start.
        let claimed = |endpoints: &Endpoints| {
            self.lifecycles.iter().any(|lifecycle| {
                lifecycle.reuses_time_wait
                    && lifecycle.done == 0
                    && lifecycle.endpoints == *endpoints
            })
        };
        let reusable: Vec<(Side, Endpoints)> = self
            .kernel
            .time_waits
            .values()
            .filter(|tw| now_ns > tw.created_ns + SNAPSHOT_READ_SLACK_NS && now_ns < tw.expires_ns)
            .filter(|tw| !claimed(&tw.endpoints))
            .map(|tw| (tw.side, tw.endpoints))
            .collect();
        let reused =
            (!reusable.is_empty() && self.rng.percent(25)).then(|| self.rng.pick(&reusable));
        let side = match reused {
            Some((side, _)) => side,
            None => self
                .rng
                .pick(&[Side::Client, Side::Client, Side::Child, Side::Listener]),
        };
        let endpoints = match (reused, side) {
            (Some((_, endpoints)), _) => endpoints,
            (None, Side::Client) => {
                let server = ip([10, 0, 1, self.rng.between(1, 3) as u8], 1);
                let port = self.port();
                let service = self.rng.pick(&[80, 443]);
                Endpoints::new(family, this_host, port, server, service)
            }
            (None, Side::Child) => {
                let peer = ip([10, 0, 2, self.rng.between(1, 3) as u8], 2);
                let port = self.port();
                Endpoints::new(family, this_host, 80, peer, port)
            }
            (None, Side::Listener) => {
                let local = if self.rng.percent(50) {
                    unspecified(family)
                } else {
                    this_host
                };
                let port = self.port();
                Endpoints::new(family, local, port, unspecified(family), 0)
            }
        };
        let ending = match side {
            Side::Client => self.rng.pick(&[
                Ending::ActiveClose,
                Ending::OrphanClose,
                Ending::PassiveClose,
                Ending::SimultaneousClose,
                Ending::Abort,
                Ending::Refused,
                Ending::ReconnectAfterRefusal,
            ]),
            _ => self.rng.pick(&[
                Ending::ActiveClose,
                Ending::OrphanClose,
                Ending::PassiveClose,
                Ending::SimultaneousClose,
                Ending::Abort,
            ]),
        };
        let bound = reused.is_some() || self.rng.percent(20);
        self.lifecycles.push(Lifecycle {
            id,
            side,
            steps: script(side, ending),
            done: 0,
            skaddr: 0,
            endpoints,
            bound,
            reuses_time_wait: reused.is_some(),
        });
    }

    /// Runs a lifecycle's next step, and the one after if it follows at once.
    fn advance(&mut self, index: usize, mut now_ns: u64) -> u64 {
        self.emit(index, now_ns);
        let lifecycle = &self.lifecycles[index];
        if lifecycle
            .steps
            .get(lifecycle.done)
            .is_some_and(|next| next.at_once)
        {
            now_ns += self.rng.between(US, 20 * US);
            self.reader.read_due(now_ns, &self.kernel);
            self.emit(index, now_ns);
        }
        now_ns
    }

    fn emit(&mut self, index: usize, now_ns: u64) {
        let first = self.lifecycles[index].done == 0;
        if first {
            let skaddr = self.address();
            self.lifecycles[index].skaddr = skaddr;
            if self.lifecycles[index].reuses_time_wait {
                let reused = key(&self.lifecycles[index].endpoints);
                self.kernel.time_waits.remove(&reused);
            }
        }
        let lifecycle = &self.lifecycles[index];
        let step = lifecycle.steps[lifecycle.done];
        let connecting = (step.old, step.new) == (Close, SynSent);
        if connecting && !first && !lifecycle.bound {
            // A reconnect picks a new ephemeral port.
            let port = self.port();
            let lifecycle = &mut self.lifecycles[index];
            lifecycle.endpoints =
                with_local(&lifecycle.endpoints, lifecycle.endpoints.local().ip(), port);
        }
        let lifecycle = &self.lifecycles[index];
        let shown = if connecting && !lifecycle.bound {
            let local = if self.rng.percent(50) {
                unspecified(lifecycle.endpoints.family())
            } else {
                lifecycle.endpoints.local().ip()
            };
            with_local(&lifecycle.endpoints, local, 0)
        } else {
            lifecycle.endpoints
        };
        let (local, remote) = (shown.local(), shown.remote());
        let app = task(1000 + lifecycle.id as u32, "app");
        self.events.push(TcpTransition {
            ts_ns: now_ns,
            skaddr: lifecycle.skaddr,
            family: shown.family(),
            local: local.ip(),
            local_port: local.port(),
            remote: remote.ip(),
            remote_port: remote.port(),
            old: step.old,
            new: step.new,
            task: if step.by_app { app } else { task(0, "swapper") },
            netns: 0,
            counters: None,
            cookie: None,
        });
        let (skaddr, id, side, endpoints) = (
            lifecycle.skaddr,
            lifecycle.id,
            lifecycle.side,
            lifecycle.endpoints,
        );
        let finished = lifecycle.done + 1 == lifecycle.steps.len();
        if step.new == Close {
            self.kernel.sockets.remove(&skaddr);
            if let Some(state) = step.leaves {
                let lingering = LingeringSocket {
                    id,
                    side,
                    endpoints,
                    state,
                    created_ns: now_ns,
                    expires_ns: now_ns + Timeouts::default().lifetime_ns(state),
                };
                self.kernel.time_waits.insert(key(&endpoints), lingering);
                let readable = Readable::TimeWait {
                    key: key(&endpoints),
                    id,
                };
                self.reader.schedule(&mut self.rng, now_ns, readable);
            }
            if finished {
                self.free_addresses.push(skaddr);
            }
        } else {
            self.kernel.sockets.insert(
                skaddr,
                LiveSocket {
                    lifecycle: id,
                    endpoints,
                    state: step.new,
                    inode: 50_000 + id as u64,
                },
            );
            if first {
                let readable = Readable::Socket {
                    skaddr,
                    lifecycle: id,
                };
                self.reader.schedule(&mut self.rng, now_ns, readable);
            }
        }
        self.lifecycles[index].done += 1;
    }
}

struct Run {
    events: Vec<TcpTransition>,
    rows: Vec<SnapshotRow>,
    attach_ns: u64,
    snapshot_ns: u64,
    end_ns: u64,
    expected: Vec<(Key, TcpState)>,
    kernel: Kernel,
}

fn simulate(seed: u64, steps: usize) -> Run {
    let mut rng = Rng::new(seed);
    // Slow runs outlast time-wait sockets; fast ones put many events inside the read.
    let longest_gap_ns = rng.pick(&[250 * MS, 20 * MS, 2 * MS]);
    let snapshot_ns = SECOND + rng.below(steps as u64 * longest_gap_ns / 2);
    let read_ns = rng.between(MS, 500 * MS);
    let attach_ns = snapshot_ns.saturating_sub(rng.between(MS, 5 * SECOND));
    let mut simulation = Simulation {
        rng,
        kernel: Kernel::default(),
        reader: Reader {
            start_ns: snapshot_ns,
            end_ns: snapshot_ns + read_ns,
            due: Vec::new(),
            rows: Vec::new(),
        },
        lifecycles: Vec::new(),
        events: Vec::new(),
        free_addresses: Vec::new(),
        addresses_made: 0,
        next_id: 0,
        next_port: 20_000,
    };
    let mut now_ns = SECOND;
    for _ in 0..steps {
        now_ns += simulation.rng.between(100 * US, longest_gap_ns);
        simulation.reader.read_due(now_ns, &simulation.kernel);
        if simulation.rng.percent(3) {
            // Request sockets are listed too; they must be ignored.
            let skaddr = simulation.address();
            simulation.free_addresses.push(skaddr);
            let peer = SocketAddr::from(([10, 0, 3, 1], 40_000));
            simulation.reader.rows.push(SnapshotRow {
                key: skaddr,
                endpoints: Endpoints::new(Family::Inet, peer.ip(), 80, peer.ip(), peer.port()),
                state: SynRecv,
                kind: SnapshotKind::Request,
            });
        }
        let open = simulation.lifecycles.len();
        if open == 0 || (open < 12 && simulation.rng.percent(30)) {
            simulation.start(now_ns);
        }
        let index = simulation.rng.below(simulation.lifecycles.len() as u64) as usize;
        now_ns = simulation.advance(index, now_ns);
        simulation
            .lifecycles
            .retain(|lifecycle| lifecycle.done < lifecycle.steps.len());
    }
    simulation.reader.read_due(u64::MAX, &simulation.kernel);

    // Compare once the read is over, when no time-wait socket is within a read's length and a
    // tick of expiring: a snapshot row's timer is only known to that precision.
    let mut expiries: Vec<u64> = simulation
        .kernel
        .time_waits
        .values()
        .map(|tw| tw.expires_ns)
        .collect();
    expiries.sort_unstable();
    let mut end_ns = now_ns.max(snapshot_ns + read_ns) + 1;
    for expires_ns in expiries {
        if end_ns + read_ns + TICK >= expires_ns && end_ns < expires_ns {
            end_ns = expires_ns;
        }
    }
    let kernel = simulation.kernel;
    let sockets = kernel
        .sockets
        .values()
        .map(|live| (key(&live.endpoints), live.state));
    let time_waits = kernel
        .time_waits
        .values()
        .filter(|tw| tw.expires_ns > end_ns)
        .map(|tw| (key(&tw.endpoints), tw.state));
    let expected = normalised(sockets.chain(time_waits));
    Run {
        events: simulation.events,
        rows: simulation.reader.rows,
        attach_ns,
        snapshot_ns,
        end_ns,
        expected,
        kernel,
    }
}

/// Sorted, with a connecting socket's local end blanked: its connect() record cannot carry the
/// port the kernel picks just after.
fn normalised(rows: impl Iterator<Item = (Key, TcpState)>) -> Vec<(Key, TcpState)> {
    let mut rows: Vec<_> = rows
        .map(|((family, local, remote), state)| {
            let local = if state == SynSent {
                SocketAddr::new(unspecified(Family::from_raw(family).unwrap()), 0)
            } else {
                local
            };
            ((family, local, remote), state)
        })
        .collect();
    rows.sort();
    rows
}

fn listing(table: &LiveTable) -> Vec<(Key, TcpState)> {
    normalised(table.rows().map(|row| (key(&row.endpoints()), row.state())))
}

/// Equal listings, or a panic naming the rows that differ.
fn assert_lists(table: &LiveTable, expected: &[(Key, TcpState)], context: &str) {
    let listed = listing(table);
    if listed != expected {
        let extra: Vec<_> = listed
            .iter()
            .filter(|row| !expected.contains(row))
            .collect();
        let missing: Vec<_> = expected
            .iter()
            .filter(|row| !listed.contains(row))
            .collect();
        panic!(
            "{context}: {} rows for {} expected; extra {extra:?}; missing {missing:?}",
            listed.len(),
            expected.len()
        );
    }
}

/// Runs one seed; returns how many inodes the snapshot-started table kept.
fn check(seed: u64, steps: usize) -> usize {
    let run = simulate(seed, steps);
    let context = format!(
        "seed {seed}: attach {} snapshot {} end {} ({} events, {} rows)",
        run.attach_ns,
        run.snapshot_ns,
        run.end_ns,
        run.events.len(),
        run.rows.len()
    );

    let mut from_start = LiveTable::new();
    for (index, transition) in run.events.iter().enumerate() {
        from_start.apply(transition);
        if index % 7 == 0 {
            from_start.expire(transition.ts_ns);
        }
    }
    from_start.expire(run.end_ns);
    assert_lists(
        &from_start,
        &run.expected,
        &format!("{context}: from the start"),
    );

    let buffered: Vec<TcpTransition> = run
        .events
        .iter()
        .filter(|t| t.ts_ns >= run.attach_ns)
        .copied()
        .collect();
    let mut replayed = LiveTable::from_snapshot(run.rows.iter().copied(), run.snapshot_ns);
    replayed.replay(&buffered);
    replayed.expire(run.end_ns);
    assert_lists(&replayed, &run.expected, &format!("{context}: replayed"));

    let mut streamed = LiveTable::from_snapshot(run.rows.iter().copied(), run.snapshot_ns);
    for transition in &buffered {
        streamed.apply(transition);
    }
    streamed.expire(run.end_ns);
    assert_lists(&streamed, &run.expected, &format!("{context}: streamed"));

    // An inode, when kept, is the socket's own.
    let mut kept = 0;
    for row in replayed.rows() {
        if let TableRow::Socket {
            key: skaddr,
            socket,
            ..
        } = row
            && let Some(inode) = socket.inode
        {
            let live = &run.kernel.sockets[&skaddr];
            assert_eq!(inode.get(), live.inode, "{context}: inode of {skaddr:#x}");
            kept += 1;
        }
    }
    kept
}

#[test]
fn random_interleavings_end_as_the_kernel_from_the_start_or_a_snapshot() {
    let mut inodes_kept = 0;
    for seed in 0..300 {
        inodes_kept += check(seed, 800);
    }
    assert!(inodes_kept > 0, "snapshot inodes are kept");
}

#[test]
fn the_generator_covers_what_it_should() {
    let run = simulate(1, 800);
    let states: std::collections::BTreeSet<_> = run.events.iter().map(|t| t.new).collect();
    for state in [
        SynSent,
        SynRecv,
        Established,
        FinWait2,
        Closing,
        LastAck,
        Listen,
    ] {
        assert!(states.contains(&state), "{state:?}");
    }
    let addresses: std::collections::BTreeSet<_> = run.events.iter().map(|t| t.skaddr).collect();
    let births = run
        .events
        .iter()
        .filter(|t| t.old == Close || t.old == Listen && t.new == SynRecv)
        .count();
    assert!(addresses.len() * 2 < births, "addresses are reused");
    assert!(
        run.rows
            .iter()
            .any(|row| matches!(row.kind, SnapshotKind::TimeWait { .. })),
        "time-wait rows"
    );
}
