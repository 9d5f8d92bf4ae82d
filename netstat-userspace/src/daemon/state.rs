//! What the daemon keeps between requests, and how it answers them.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use serde::Serialize;

use super::{
    protocol::{Request, WRONG_NETNS},
    snapshot,
};
use crate::{
    aggregator::{table::LiveTable, transitions::made_by_owner},
    cli::{netstat::NetstatView, parse_netstat_args},
    commands::snapshot::render,
    events::{Comm, Task, TcpTransition},
    sources::{
        daemon::own_netns,
        proc::owners::{Connection, Owner, SocketOwners},
    },
    views::clock::Clock,
};

#[derive(Debug, Default, Serialize)]
pub struct Counters {
    pub events_received: u64,
    /// Events about sockets of other network namespaces (not in this daemon's table).
    pub other_namespaces: u64,
    pub events_lost: u64,
    pub malformed_records: u64,
    pub resyncs: u64,
}

pub struct Daemon {
    table: LiveTable,
    /// The namespace this daemon's snapshots and answers are about; events from others are
    /// counted but not mixed into the table.
    netns: Option<u64>,
    /// Socket inode -> owner: one /proc/*/fd scan at start, then per-pid rescans.
    owners: SocketOwners,
    /// Processes whose sockets changed in ways events show (connect, listen, close): rescanned
    /// before the next answer that needs owners.
    dirty_pids: HashSet<u32>,
    started: Instant,
    pub counters: Counters,
    /// The table's size when free memory was last returned to the system.
    trimmed_at_len: usize,
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
    pub fn from_snapshot(snapshot_ns: u64) -> anyhow::Result<Self> {
        let rows = snapshot::tcp_rows()?;
        let owners = SocketOwners::scan();
        let mut table = LiveTable::from_snapshot(rows, snapshot_ns);
        table.apply_owners(|inode| owners.get(inode).map(task_of));
        Ok(Daemon {
            table,
            netns: own_netns(),
            owners,
            dirty_pids: HashSet::new(),
            started: Instant::now(),
            counters: Counters::default(),
            trimmed_at_len: 0,
        })
    }

    /// The events buffered around the snapshot (see `LiveTable::replay` for why this is exact).
    pub fn replay(&mut self, buffered: &[TcpTransition]) {
        self.counters.events_received += buffered.len() as u64;
        let buffered: Vec<TcpTransition> = buffered
            .iter()
            .filter(|t| self.is_ours(t))
            .copied()
            .collect();
        let buffered = &buffered[..];
        for transition in buffered.iter().filter(|t| made_by_owner(t.old, t.new)) {
            self.dirty_pids.insert(transition.task.tgid);
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

    pub fn apply(&mut self, transition: &TcpTransition) {
        self.counters.events_received += 1;
        if !self.is_ours(transition) {
            self.counters.other_namespaces += 1;
            return;
        }
        if made_by_owner(transition.old, transition.new) {
            self.dirty_pids.insert(transition.task.tgid);
        }
        self.table.apply(transition);
    }

    /// Time passes: time-wait sockets expire, and memory the table gave up goes back.
    pub fn tick(&mut self, now_ns: u64) {
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
    pub fn resync(&mut self, lost: u64) -> anyhow::Result<()> {
        self.counters.events_lost += lost;
        self.counters.resyncs += 1;
        let snapshot_ns = Clock::monotonic_now_ns();
        let rows = snapshot::tcp_rows()?;
        self.owners = SocketOwners::scan();
        self.dirty_pids.clear();
        self.table.resync(rows, snapshot_ns);
        let owners = &self.owners;
        self.table
            .apply_owners(|inode| owners.get(inode).map(task_of));
        Ok(())
    }

    /// Answers a request that came over the connection with inode `connection_inode`.
    pub fn answer(
        &mut self,
        request: &Request,
        connection_inode: Option<u64>,
    ) -> Result<Vec<u8>, String> {
        match request {
            Request::Status => Ok(self.status_json()),
            Request::Table => Ok(self.table_json_lines()),
            Request::Snapshot {
                args,
                hide_inodes,
                netns,
                format,
            } => {
                let own = own_netns();
                if netns.is_some() && *netns != own {
                    return Err(format!(
                        "{WRONG_NETNS}: this daemon serves net:[{}], the client is in net:[{}]",
                        own.unwrap_or(0),
                        netns.unwrap_or(0)
                    ));
                }
                let hidden: Vec<u64> = hide_inodes
                    .iter()
                    .copied()
                    .chain(connection_inode)
                    .collect();
                let mut config = parse_netstat_args(args)?;
                config.flags.format = *format;
                let owners = (config.view == NetstatView::Sockets && config.flags.programs)
                    .then(|| self.current_owners(&config.flags));
                let mut out = Vec::new();
                render(&config, owners, &hidden, &mut out).map_err(|err| format!("{err:#}"))?;
                Ok(out)
            }
        }
    }

    /// Owners for -p: TCP sockets change owners only through events, so rescanning the processes
    /// events named keeps them exact. UDP, raw and UNIX sockets have no events: a view that shows
    /// them rescans everything.
    fn current_owners(&mut self, flags: &crate::cli::netstat::NetstatFlags) -> &SocketOwners {
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
            sockets_tracked: usize,
            time_wait_tracked: usize,
            #[serde(flatten)]
            counters: &'a Counters,
            rss_bytes: u64,
            table_bytes_estimate: usize,
        }
        let status = Status {
            uptime_s: self.started.elapsed().as_secs(),
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

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
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
            let mut label = format!("{}/", owner.tgid).into_bytes();
            label.extend_from_slice(owner.comm.as_bytes());
            label.truncate(19);
            Some((
                (local.ip(), local.port(), remote.ip(), remote.port()),
                Owner {
                    pid: owner.tgid,
                    label,
                },
            ))
        })
        .collect()
}

/// Returns free heap memory to the system (glibc keeps it otherwise).
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// This process's resident memory, from /proc/self/statm.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    pages * page
}
