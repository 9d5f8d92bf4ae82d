//! The live interface table: each interface's kernel counters at the moment counting began (the
//! baseline), plus what the probes counted since. Whenever the interface is quiet at a sample,
//! the kernel's own counters become the new baseline (`resync`), so packets the probes never ran
//! for (README, "Interfaces") do not stay missing; how many there were is kept as `unseen`.
//! Pure: fed link changes, probe and kernel counters, it never reads the system itself.

use std::collections::{BTreeMap, HashMap};

use netstat_common::InterfaceCounters;

use crate::model::interfaces::DevStats;

/// What the table knows of an interface from rtnetlink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LinkInfo {
    pub(crate) ifindex: u32,
    /// The kernel's bytes, not necessarily UTF-8: views escape them.
    pub(crate) name: Vec<u8>,
    pub(crate) flags: u32,
    pub(crate) mtu: u32,
}

#[derive(Clone, Debug)]
struct LiveInterface {
    link: LinkInfo,
    /// The kernel's counters when counting began.
    baseline: DevStats,
    /// The probes' counters at that same moment.
    probe_at_baseline: InterfaceCounters,
    /// The probes' counters when counting began (the first baseline): `seen` counts from here.
    probe_at_start: InterfaceCounters,
    /// The probes' latest counters.
    probe: InterfaceCounters,
    /// False when traffic moved the counters while the baseline was read: the totals may be
    /// off by the packets of that instant.
    settled: bool,
    /// Packets and bytes the kernel counted that the probes did not, found at resyncs.
    unseen: Unseen,
}

/// What the kernel's counters held beyond the probes' at resyncs, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Unseen {
    pub(crate) rx_packets: u64,
    pub(crate) rx_bytes: u64,
    pub(crate) tx_packets: u64,
    pub(crate) tx_bytes: u64,
}

/// Per-second rates between two samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub(crate) struct Rates {
    pub(crate) rx_packets: f64,
    pub(crate) rx_bytes: f64,
    pub(crate) tx_packets: f64,
    pub(crate) tx_bytes: f64,
    /// Transmit failures.
    pub(crate) errors: f64,
    /// Drops, either direction.
    pub(crate) drops: f64,
}

/// One interface at one sample.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InterfaceSample {
    pub(crate) link: LinkInfo,
    /// The kernel's counters now: baseline plus what the probes counted since (packets and
    /// bytes; the other columns stay at their baseline, see `seen` for errors and drops).
    pub(crate) totals: DevStats,
    /// What the probes counted since counting began.
    pub(crate) seen: InterfaceCounters,
    pub(crate) rates: Rates,
    pub(crate) settled: bool,
    pub(crate) unseen: Unseen,
}

/// A change of the interface list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LinkEvent {
    Appeared(LinkInfo),
    Renamed {
        ifindex: u32,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    Vanished(LinkInfo),
}

#[derive(Default)]
pub(crate) struct InterfaceTable {
    interfaces: BTreeMap<u32, LiveInterface>,
    /// The previous sample's time and probe counters, for rates.
    previous: Option<(u64, HashMap<u32, InterfaceCounters>)>,
}

/// The Ethernet header loopback builds and then strips before counting (loopback_xmit counts
/// bytes after eth_type_trans); the probes count frames with their link-layer header.
const LOOPBACK_LINK_HEADER: u64 = 14;

/// Bytes as the interface's driver counts them.
fn driver_bytes(link: &LinkInfo, bytes: u64, packets: u64) -> u64 {
    if link.flags & libc::IFF_LOOPBACK as u32 != 0 {
        bytes.saturating_sub(packets * LOOPBACK_LINK_HEADER)
    } else {
        bytes
    }
}

fn delta(now: &InterfaceCounters, then: &InterfaceCounters) -> InterfaceCounters {
    InterfaceCounters {
        rx_packets: now.rx_packets.saturating_sub(then.rx_packets),
        rx_bytes: now.rx_bytes.saturating_sub(then.rx_bytes),
        tx_packets: now.tx_packets.saturating_sub(then.tx_packets),
        tx_bytes: now.tx_bytes.saturating_sub(then.tx_bytes),
        tx_errors: now.tx_errors.saturating_sub(then.tx_errors),
        rx_dropped: now.rx_dropped.saturating_sub(then.rx_dropped),
        tx_dropped: now.tx_dropped.saturating_sub(then.tx_dropped),
        _reserved: 0,
    }
}

/// What the probes counted since `then`, bytes as the driver counts them.
fn seen_since(
    live: &LiveInterface,
    probe: &InterfaceCounters,
    then: &InterfaceCounters,
) -> InterfaceCounters {
    let mut seen = delta(probe, then);
    seen.rx_bytes = driver_bytes(&live.link, seen.rx_bytes, seen.rx_packets);
    seen.tx_bytes = driver_bytes(&live.link, seen.tx_bytes, seen.tx_packets);
    seen
}

/// The kernel's counters as the baseline plus the probes' counts make them.
fn totals(live: &LiveInterface, probe: &InterfaceCounters) -> DevStats {
    let seen = seen_since(live, probe, &live.probe_at_baseline);
    let mut totals = live.baseline;
    totals.rx_packets += seen.rx_packets;
    totals.rx_bytes += seen.rx_bytes;
    totals.tx_packets += seen.tx_packets;
    totals.tx_bytes += seen.tx_bytes;
    totals
}

impl InterfaceTable {
    /// Starts counting `link` from the kernel's counters `baseline`, read while the probes'
    /// counters stood at `probe_now`. An interface already known is replaced.
    pub(crate) fn begin(
        &mut self,
        link: LinkInfo,
        baseline: DevStats,
        probe_now: InterfaceCounters,
        settled: bool,
    ) {
        self.interfaces.insert(
            link.ifindex,
            LiveInterface {
                link,
                baseline,
                probe_at_baseline: probe_now,
                probe_at_start: probe_now,
                probe: probe_now,
                settled,
                unseen: Unseen::default(),
            },
        );
    }

    /// The kernel's counters `kernel`, read while the probes' counters stood still at
    /// `probe_now`, become the interface's baseline; what they hold beyond the probes' totals
    /// is added to `unseen`. Rates are not affected: they come from the probes alone.
    pub(crate) fn resync(&mut self, ifindex: u32, kernel: DevStats, probe_now: InterfaceCounters) {
        let Some(live) = self.interfaces.get_mut(&ifindex) else {
            return;
        };
        let totals = totals(live, &probe_now);
        live.unseen.rx_packets += kernel.rx_packets.saturating_sub(totals.rx_packets);
        live.unseen.rx_bytes += kernel.rx_bytes.saturating_sub(totals.rx_bytes);
        live.unseen.tx_packets += kernel.tx_packets.saturating_sub(totals.tx_packets);
        live.unseen.tx_bytes += kernel.tx_bytes.saturating_sub(totals.tx_bytes);
        live.baseline = kernel;
        live.probe_at_baseline = probe_now;
        live.probe = probe_now;
        live.settled = true;
    }

    pub(crate) fn contains(&self, ifindex: u32) -> bool {
        self.interfaces.contains_key(&ifindex)
    }

    /// A known interface's name, flags or MTU changed. Returns the rename, if it was one.
    pub(crate) fn update(&mut self, link: LinkInfo) -> Option<LinkEvent> {
        let live = self.interfaces.get_mut(&link.ifindex)?;
        let renamed = (live.link.name != link.name).then(|| LinkEvent::Renamed {
            ifindex: link.ifindex,
            from: live.link.name.clone(),
            to: link.name.clone(),
        });
        live.link = link;
        renamed
    }

    pub(crate) fn remove(&mut self, ifindex: u32) -> Option<LinkEvent> {
        let live = self.interfaces.remove(&ifindex)?;
        if let Some((_, previous)) = &mut self.previous {
            previous.remove(&ifindex);
        }
        Some(LinkEvent::Vanished(live.link))
    }

    pub(crate) fn ifindexes(&self) -> impl Iterator<Item = u32> + '_ {
        self.interfaces.keys().copied()
    }

    /// The known interfaces' links.
    pub(crate) fn links(&self) -> Vec<LinkInfo> {
        self.interfaces
            .values()
            .map(|live| live.link.clone())
            .collect()
    }

    /// Takes the probes' latest counters and returns every interface's sample, with rates
    /// since the previous call. Counters of interfaces the table does not know are ignored.
    pub(crate) fn sample(
        &mut self,
        now_ns: u64,
        probe: &HashMap<u32, InterfaceCounters>,
    ) -> Vec<InterfaceSample> {
        let elapsed = self
            .previous
            .as_ref()
            .map(|(then, _)| now_ns.saturating_sub(*then) as f64 / 1e9)
            .filter(|&seconds| seconds > 0.0);
        let mut samples = Vec::with_capacity(self.interfaces.len());
        for (ifindex, live) in &mut self.interfaces {
            if let Some(counters) = probe.get(ifindex) {
                live.probe = *counters;
            }
            let seen = seen_since(live, &live.probe, &live.probe_at_start);
            let totals = totals(live, &live.probe);
            let rates = match (&self.previous, elapsed) {
                (Some((_, previous)), Some(seconds)) => {
                    let then = previous.get(ifindex).unwrap_or(&live.probe_at_start);
                    let d = seen_since(live, &live.probe, then);
                    let per_second = |n: u64| n as f64 / seconds;
                    Rates {
                        rx_packets: per_second(d.rx_packets),
                        rx_bytes: per_second(d.rx_bytes),
                        tx_packets: per_second(d.tx_packets),
                        tx_bytes: per_second(d.tx_bytes),
                        errors: per_second(d.tx_errors),
                        drops: per_second(d.rx_dropped + d.tx_dropped),
                    }
                }
                _ => Rates::default(),
            };
            samples.push(InterfaceSample {
                link: live.link.clone(),
                totals,
                seen,
                rates,
                settled: live.settled,
                unseen: live.unseen,
            });
        }
        let counters = self
            .interfaces
            .iter()
            .map(|(ifindex, live)| (*ifindex, live.probe))
            .collect();
        self.previous = Some((now_ns, counters));
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(ifindex: u32, name: &str) -> LinkInfo {
        LinkInfo {
            ifindex,
            name: name.into(),
            flags: 1,
            mtu: 1500,
        }
    }

    fn counters(rx: u64, tx: u64) -> InterfaceCounters {
        InterfaceCounters {
            rx_packets: rx,
            rx_bytes: rx * 100,
            tx_packets: tx,
            tx_bytes: tx * 100,
            ..Default::default()
        }
    }

    fn baseline(rx: u64, tx: u64) -> DevStats {
        DevStats {
            rx_packets: rx,
            rx_bytes: rx * 100,
            tx_packets: tx,
            tx_bytes: tx * 100,
            rx_errors: 3,
            ..Default::default()
        }
    }

    #[test]
    fn totals_are_the_baseline_plus_what_the_probes_counted_since() {
        let mut table = InterfaceTable::default();
        // The probes had counted 10/20 when the kernel's counters read 1000/2000.
        table.begin(link(1, "lo"), baseline(1000, 2000), counters(10, 20), true);
        let probe = HashMap::from([(1, counters(15, 27))]);
        let samples = table.sample(1_000_000_000, &probe);
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].totals.rx_packets, 1005);
        assert_eq!(samples[0].totals.tx_packets, 2007);
        assert_eq!(samples[0].totals.tx_bytes, 200_700);
        assert_eq!(
            samples[0].totals.rx_errors, 3,
            "other columns stay at baseline"
        );
        assert_eq!(samples[0].seen.rx_packets, 5);
        // No previous sample: no rates yet.
        assert_eq!(samples[0].rates, Rates::default());
    }

    #[test]
    fn rates_are_per_second_between_samples() {
        let mut table = InterfaceTable::default();
        table.begin(link(1, "lo"), baseline(0, 0), counters(0, 0), true);
        table.sample(1_000_000_000, &HashMap::from([(1, counters(0, 0))]));
        let mut later = counters(500, 250);
        later.tx_errors = 4;
        later.rx_dropped = 1;
        later.tx_dropped = 1;
        let samples = table.sample(3_000_000_000, &HashMap::from([(1, later)]));
        let rates = samples[0].rates;
        assert_eq!(rates.rx_packets, 250.0);
        assert_eq!(rates.tx_packets, 125.0);
        assert_eq!(rates.rx_bytes, 25_000.0);
        assert_eq!(rates.errors, 2.0);
        assert_eq!(rates.drops, 1.0);
    }

    #[test]
    fn interfaces_appear_are_renamed_and_vanish() {
        let mut table = InterfaceTable::default();
        table.begin(link(1, "lo"), baseline(0, 0), counters(0, 0), true);
        table.sample(0, &HashMap::new());
        // A new interface, created after counting began: its packets were all seen.
        table.begin(link(5, "veth0"), DevStats::default(), counters(0, 0), true);
        let samples = table.sample(1_000_000_000, &HashMap::from([(5, counters(10, 10))]));
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[1].totals.rx_packets, 10);
        assert_eq!(samples[1].rates.rx_packets, 10.0);
        assert_eq!(
            table.update(link(5, "uplink")),
            Some(LinkEvent::Renamed {
                ifindex: 5,
                from: "veth0".into(),
                to: "uplink".into()
            })
        );
        assert_eq!(table.update(link(5, "uplink")), None);
        assert_eq!(table.update(link(9, "unknown")), None);
        assert_eq!(
            table.remove(5),
            Some(LinkEvent::Vanished(link(5, "uplink")))
        );
        assert_eq!(table.remove(5), None);
        // Counters of an interface the table does not know are ignored.
        let samples = table.sample(2_000_000_000, &HashMap::from([(5, counters(99, 99))]));
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].link.name, b"lo");
    }

    #[test]
    fn loopback_bytes_leave_out_the_ethernet_header() {
        let mut table = InterfaceTable::default();
        let mut lo = link(1, "lo");
        lo.flags |= libc::IFF_LOOPBACK as u32;
        table.begin(lo, DevStats::default(), counters(0, 0), true);
        let samples = table.sample(1, &HashMap::from([(1, counters(10, 10))]));
        assert_eq!(samples[0].totals.rx_bytes, 10 * 100 - 10 * 14);
        assert_eq!(samples[0].totals.tx_bytes, 10 * 100 - 10 * 14);
    }

    #[test]
    fn a_resync_takes_the_kernels_counters_and_keeps_what_the_probes_missed() {
        let mut table = InterfaceTable::default();
        table.begin(link(1, "eth0"), baseline(100, 100), counters(0, 0), true);
        table.sample(1_000_000_000, &HashMap::from([(1, counters(0, 0))]));
        // The probes counted 50/40; the kernel counted 2 and 1 more.
        let mut kernel = baseline(152, 141);
        kernel.rx_errors = 7;
        table.resync(1, kernel, counters(50, 40));
        let samples = table.sample(2_000_000_000, &HashMap::from([(1, counters(60, 40))]));
        assert_eq!(samples[0].totals.rx_packets, 162);
        assert_eq!(samples[0].totals.tx_packets, 141);
        assert_eq!(samples[0].totals.rx_errors, 7);
        assert_eq!(
            samples[0].unseen,
            Unseen {
                rx_packets: 2,
                rx_bytes: 200,
                tx_packets: 1,
                tx_bytes: 100
            }
        );
        // Rates are the probes' own: 60 packets in one second.
        assert_eq!(samples[0].rates.rx_packets, 60.0);
        // What the probes saw counts from the start, across resyncs.
        assert_eq!(samples[0].seen.rx_packets, 60);
        // A resync of an interface the table does not know changes nothing.
        table.resync(9, kernel, counters(0, 0));
        assert_eq!(table.sample(3_000_000_000, &HashMap::new()).len(), 1);
    }

    #[test]
    fn a_reused_ifindex_starts_afresh() {
        let mut table = InterfaceTable::default();
        table.begin(link(5, "a"), baseline(0, 0), counters(0, 0), true);
        table.sample(0, &HashMap::from([(5, counters(50, 50))]));
        table.remove(5);
        table.begin(link(5, "b"), DevStats::default(), counters(0, 0), true);
        let samples = table.sample(1_000_000_000, &HashMap::from([(5, counters(3, 0))]));
        assert_eq!(samples[0].totals.rx_packets, 3);
        assert_eq!(samples[0].rates.rx_packets, 3.0);
    }
}
