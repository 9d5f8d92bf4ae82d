//! Live interface counters: the interface probes, rtnetlink's link notifications and the
//! aggregator's live table, wired together for `watch --interfaces`, `-ic` and `serve`.
//! /proc/net/dev is read for the baseline, and again at each sample to resync the interfaces
//! that were quiet (the probes' counters did not move across the read): the kernel can skip the
//! probes for a packet it counts (README, "Interfaces"). In between, the counters come from the
//! probes and the interface list from link notifications.

use std::collections::HashMap;

use anyhow::Context as _;
use netstat_common::InterfaceCounters;

use crate::{
    aggregator::interfaces::{InterfaceSample, InterfaceTable, LinkEvent, LinkInfo},
    model::interfaces::DevStats,
    probes::{
        interfaces::{InterfaceProbe, InterfaceProbeOptions},
        stream::EventStream,
    },
    sources::{
        netlink::link::{self, Link, LinkChange, LinkMonitor},
        proc::{dev::InterfaceList, read_net_file},
    },
};

/// Baseline reads retried while traffic moves the probe counters underneath them.
const BASELINE_ATTEMPTS: usize = 3;

pub(crate) struct LiveInterfaces {
    pub(crate) probe: InterfaceProbe,
    monitor: LinkMonitor,
    table: InterfaceTable,
}

fn info(link: &Link) -> LinkInfo {
    LinkInfo {
        ifindex: link.ifindex,
        name: link.name.clone(),
        flags: link.flags,
        mtu: link.mtu,
    }
}

impl LiveInterfaces {
    /// Attaches the probes, subscribes to link changes, then takes the baseline. The probes'
    /// events come out of the stream.
    pub(crate) fn start(options: InterfaceProbeOptions) -> anyhow::Result<(Self, EventStream)> {
        let (probe, events) = InterfaceProbe::attach(options)?;
        let monitor = LinkMonitor::subscribe().context("subscribing to link notifications")?;
        let mut live = LiveInterfaces {
            probe,
            monitor,
            table: InterfaceTable::default(),
        };
        live.take_baseline()?;
        Ok((live, events))
    }

    /// Reads /proc/net/dev between two reads of the probe counters. An interface whose probe
    /// counters did not move across the read has an exact baseline; busy ones are retried.
    fn take_baseline(&mut self) -> anyhow::Result<()> {
        let links = link::dump().context("listing interfaces (RTM_GETLINK)")?;
        let mut pending: Vec<&Link> = links.iter().collect();
        for attempt in 1..=BASELINE_ATTEMPTS {
            let read = self.read_kernel(pending.iter().map(|link| link.ifindex))?;
            pending.retain(|link| {
                let (now, settled) = read.probe(link.ifindex);
                if !settled && attempt < BASELINE_ATTEMPTS {
                    return true;
                }
                let baseline = read.kernel(&link.name).or(link.stats).unwrap_or_default();
                self.table.begin(info(link), baseline, now, settled);
                false
            });
            if pending.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// /proc/net/dev, read between two reads of these interfaces' probe counters.
    fn read_kernel(
        &self,
        ifindexes: impl Iterator<Item = u32> + Clone,
    ) -> anyhow::Result<KernelRead> {
        let before = self.probe.counters(ifindexes.clone())?;
        let text = read_net_file("dev")
            .context("reading /proc/net/dev")?
            .unwrap_or_default();
        let after = self.probe.counters(ifindexes)?;
        let mut list = InterfaceList::default();
        list.add_proc_dev(&text);
        let kernel = list
            .interfaces
            .into_iter()
            .filter_map(|listed| Some((listed.name, listed.stats?)))
            .collect();
        Ok(KernelRead {
            before,
            after,
            kernel,
        })
    }

    /// Waits for link notifications and applies them; returns what changed.
    pub(crate) async fn link_changes(&mut self) -> anyhow::Result<Vec<LinkEvent>> {
        let changes = self
            .monitor
            .next()
            .await
            .context("reading link notifications")?;
        let ifindexes: Vec<u32> = self
            .table
            .ifindexes()
            .chain(changes.iter().filter_map(|change| match change {
                LinkChange::Present(link) => Some(link.ifindex),
                _ => None,
            }))
            .collect();
        let probe_now = self.probe.counters(ifindexes)?;
        let mut events = Vec::new();
        for change in changes {
            match change {
                LinkChange::Present(link) => events.extend(self.present(&link, &probe_now)),
                LinkChange::Removed { ifindex } => events.extend(self.removed(ifindex)),
                LinkChange::Overrun => events.extend(self.resync(&probe_now)?),
            }
        }
        Ok(events)
    }

    /// A new interface starts from the counters its notification carries (zero for one just
    /// created; an interface moved in from another namespace brings its own).
    fn present(
        &mut self,
        link: &Link,
        probe_now: &HashMap<u32, InterfaceCounters>,
    ) -> Option<LinkEvent> {
        if self.table.contains(link.ifindex) {
            return self.table.update(info(link));
        }
        let now = probe_now.get(&link.ifindex).copied().unwrap_or_default();
        self.table
            .begin(info(link), link.stats.unwrap_or_default(), now, true);
        Some(LinkEvent::Appeared(info(link)))
    }

    fn removed(&mut self, ifindex: u32) -> Option<LinkEvent> {
        self.probe.forget(ifindex);
        self.table.remove(ifindex)
    }

    /// Notifications were lost: compare the table with a fresh list.
    fn resync(
        &mut self,
        probe_now: &HashMap<u32, InterfaceCounters>,
    ) -> anyhow::Result<Vec<LinkEvent>> {
        log::warn!("link notifications overran; listing interfaces again");
        let links = link::dump().context("listing interfaces (RTM_GETLINK)")?;
        let probe_now = &self
            .probe
            .counters(links.iter().map(|l| l.ifindex))?
            .into_iter()
            .chain(probe_now.iter().map(|(k, v)| (*k, *v)))
            .collect();
        let mut events = Vec::new();
        let gone: Vec<u32> = self
            .table
            .ifindexes()
            .filter(|ifindex| !links.iter().any(|l| l.ifindex == *ifindex))
            .collect();
        for ifindex in gone {
            events.extend(self.removed(ifindex));
        }
        for link in &links {
            events.extend(self.present(link, probe_now));
        }
        Ok(events)
    }

    /// Every interface's counters and rates now. Interfaces that were quiet across the read of
    /// /proc/net/dev are resynced to it first.
    pub(crate) fn sample(&mut self, now_ns: u64) -> anyhow::Result<Vec<InterfaceSample>> {
        let ifindexes: Vec<u32> = self.table.ifindexes().collect();
        let read = self.read_kernel(ifindexes.iter().copied())?;
        for link in self.table.links() {
            let (now, settled) = read.probe(link.ifindex);
            if let (true, Some(kernel)) = (settled, read.kernel(&link.name)) {
                self.table.resync(link.ifindex, kernel, now);
            }
        }
        Ok(self.table.sample(now_ns, &read.after))
    }
}

/// The kernel's counters (/proc/net/dev, by name) and the probes' read just before and after.
struct KernelRead {
    before: HashMap<u32, InterfaceCounters>,
    after: HashMap<u32, InterfaceCounters>,
    kernel: HashMap<Vec<u8>, DevStats>,
}

impl KernelRead {
    /// The probes' counters of `ifindex` after the read, and whether they stood still across it.
    fn probe(&self, ifindex: u32) -> (InterfaceCounters, bool) {
        let after = self.after.get(&ifindex).copied().unwrap_or_default();
        let before = self.before.get(&ifindex).copied().unwrap_or_default();
        (after, before == after)
    }

    fn kernel(&self, name: &[u8]) -> Option<DevStats> {
        self.kernel.get(name).copied()
    }
}
