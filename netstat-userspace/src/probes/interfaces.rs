//! The interface probes: per-interface counters on the netdev tracepoints, and error/drop events.

use std::collections::HashMap;

use anyhow::{Context as _, anyhow};
use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::BtfTracePoint,
};
use netstat_common::{
    DIRECT_IFINDEXES, InterfaceCounters, InterfaceProbeConfig, STAT_EVENTS_LOST,
    STAT_EVENTS_SUPPRESSED, STAT_UNTRACKED,
};

use super::{
    EBPF_OBJECT,
    btf::Btf,
    check_privileges, kernel_btf, loader, net_inum_offset, privileges, raise_memlock_limit,
    stream::{EventStream, LossReader, LossSlots},
};

use crate::model::{interfaces::ReasonNames, system::page_size};

pub(crate) const IFACE_EVENTS: &str = "IFACE_EVENTS";
const IFACE_COUNTERS: &str = "IFACE_COUNTERS";
const IFACE_DIRECT: &str = "IFACE_DIRECT";
const IFACE_STATS: &str = "IFACE_STATS";
const IFACE_CONFIG: &str = "IFACE_CONFIG";

/// Whether a kernel without the tracepoint can still be served (with less).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Required,
    /// Receive paths some kernels or drivers lack, and drop events (kfree_skb's reason argument
    /// appeared in Linux 5.17).
    Optional,
}

/// (program, raw tracepoint, need). Each packet runs one of them per direction: net_dev_xmit
/// on the way out, and on the way in the one receive entry point its driver calls.
const PROGRAMS: [(&str, &str, Need); 6] = [
    ("enetstat_net_dev_xmit", "net_dev_xmit", Need::Required),
    ("enetstat_netif_rx", "netif_rx_entry", Need::Required),
    (
        "enetstat_netif_receive_skb_entry",
        "netif_receive_skb_entry",
        Need::Required,
    ),
    (
        "enetstat_netif_receive_skb_list",
        "netif_receive_skb_list_entry",
        Need::Optional,
    ),
    (
        "enetstat_napi_gro_receive",
        "napi_gro_receive_entry",
        Need::Required,
    ),
    (
        "enetstat_napi_gro_frags",
        "napi_gro_frags_entry",
        Need::Optional,
    ),
];

const DROP_PROGRAM: (&str, &str, Need) = ("enetstat_kfree_skb", "kfree_skb", Need::Optional);

/// How the probes are set up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InterfaceProbeOptions {
    /// The network namespace whose interfaces are counted (inode of /proc/self/ns/net).
    pub(crate) netns: u32,
    /// Size of the event ring, a power of two.
    pub(crate) ring_bytes: u32,
    /// Error and drop events allowed per second on each CPU; 0 disables them.
    pub(crate) events_per_sec: u32,
    /// Whether drops are counted (skb:kfree_skb attached).
    pub(crate) count_drops: bool,
}

/// The interface probes, attached. Dropping it detaches them.
pub(crate) struct InterfaceProbe {
    /// Holds the programs and their links.
    _ebpf: Ebpf,
    /// Counters of ifindexes below DIRECT_IFINDEXES.
    direct: PerCpuArray<MapData, InterfaceCounters>,
    /// Counters of larger ifindexes.
    counters: PerCpuHashMap<MapData, u32, InterfaceCounters>,
    /// Whether drop events (kfree_skb) are attached.
    pub(crate) drops_attached: bool,
    /// The kernel's names for the drop reasons in events.
    pub(crate) drop_reasons: ReasonNames,
}

impl InterfaceProbe {
    /// Attaches the probes; their error and drop events and what they could not count or
    /// deliver come out of the stream.
    pub(crate) fn attach(options: InterfaceProbeOptions) -> anyhow::Result<(Self, EventStream)> {
        check_privileges()?;
        raise_memlock_limit();
        let kernel_btf = kernel_btf()
            .map_err(|err| anyhow!("the interface probes need the kernel's BTF: {err}"))?;
        let config = probe_config(&kernel_btf, &options)?;
        let drop_reasons = super::health::drop_reason_names(&kernel_btf);
        drop(kernel_btf);
        // aya's own parse, which BTF tracepoints are loaded against (it has no offset lookup).
        let btf = aya::Btf::from_sys_fs().map_err(|err| {
            anyhow!("the interface probes need the kernel's BTF (/sys/kernel/btf/vmlinux): {err}")
        })?;
        let mut ebpf = loader()
            .map_max_entries(IFACE_EVENTS, options.ring_bytes.max(page_size() as u32))
            .override_global(IFACE_CONFIG, &config, true)
            .load(EBPF_OBJECT)
            .map_err(|err| privileges::explain_load_error(err.into()))
            .context("loading the eBPF object")?;
        let mut attached = Vec::new();
        let mut drops_attached = false;
        let wanted = PROGRAMS
            .iter()
            .chain(options.count_drops.then_some(&DROP_PROGRAM));
        for &(name, tracepoint, need) in wanted {
            match attach_one(&mut ebpf, &btf, name, tracepoint) {
                Ok(()) => {
                    attached.push(name);
                    drops_attached |= name == DROP_PROGRAM.0;
                }
                Err(err) if need == Need::Optional => {
                    log::warn!("{tracepoint} not traced: {err:#}");
                }
                Err(err) => return Err(err),
            }
        }
        let take = |ebpf: &mut Ebpf, name: &str| {
            ebpf.take_map(name)
                .ok_or_else(|| anyhow!("map {name} missing from the eBPF object"))
        };
        let direct = PerCpuArray::try_from(take(&mut ebpf, IFACE_DIRECT)?)?;
        let counters = PerCpuHashMap::try_from(take(&mut ebpf, IFACE_COUNTERS)?)?;
        let stats = PerCpuArray::try_from(take(&mut ebpf, IFACE_STATS)?)?;
        let events = RingBuf::try_from(take(&mut ebpf, IFACE_EVENTS)?)?;
        let slots = LossSlots {
            ring_full: STAT_EVENTS_LOST,
            rate_limited: Some(STAT_EVENTS_SUPPRESSED),
            untracked: Some(STAT_UNTRACKED),
        };
        let losses = LossReader::new(&ebpf, stats, slots, &attached)?;
        let probe = InterfaceProbe {
            _ebpf: ebpf,
            direct,
            counters,
            drops_attached,
            drop_reasons,
        };
        Ok((
            probe,
            EventStream {
                ring: events,
                losses,
            },
        ))
    }

    /// The counters of these interfaces, summed over CPUs, by ifindex (absent: nothing counted
    /// yet).
    pub(crate) fn counters(
        &self,
        ifindexes: impl IntoIterator<Item = u32>,
    ) -> anyhow::Result<HashMap<u32, InterfaceCounters>> {
        let mut all = HashMap::new();
        for ifindex in ifindexes {
            let per_cpu = if ifindex < DIRECT_IFINDEXES {
                self.direct.get(&ifindex, 0)
            } else {
                match self.counters.get(&ifindex, 0) {
                    Err(aya::maps::MapError::KeyNotFound) => continue,
                    other => other,
                }
            };
            let per_cpu = per_cpu.context("reading the interface counters")?;
            all.insert(ifindex, sum_per_cpu(per_cpu.iter()));
        }
        Ok(all)
    }

    /// Frees a vanished interface's counters, so the map keeps room for new ones. (Array slots
    /// stay: an interface that reuses the ifindex starts from their value as its baseline.)
    pub(crate) fn forget(&mut self, ifindex: u32) {
        // Absent already is fine: it may never have carried a packet.
        let _ = self.counters.remove(&ifindex);
    }
}

fn attach_one(ebpf: &mut Ebpf, btf: &aya::Btf, name: &str, tracepoint: &str) -> anyhow::Result<()> {
    let program: &mut BtfTracePoint = ebpf
        .program_mut(name)
        .ok_or_else(|| anyhow!("program {name} missing from the eBPF object"))?
        .try_into()?;
    program
        .load(tracepoint, btf)
        .map_err(|err| privileges::explain_load_error(err.into()))
        .with_context(|| format!("loading the {tracepoint} program"))?;
    program
        .attach()
        .map_err(|err| anyhow!("this kernel offers no usable {tracepoint} tracepoint ({err})"))?;
    Ok(())
}

/// Sums one interface's per-CPU copies.
pub(crate) fn sum_per_cpu<'a>(
    per_cpu: impl Iterator<Item = &'a InterfaceCounters>,
) -> InterfaceCounters {
    per_cpu.fold(InterfaceCounters::default(), |mut sum, c| {
        sum.rx_packets += c.rx_packets;
        sum.rx_bytes += c.rx_bytes;
        sum.tx_packets += c.tx_packets;
        sum.tx_bytes += c.tx_bytes;
        sum.tx_errors += c.tx_errors;
        sum.rx_dropped += c.rx_dropped;
        sum.tx_dropped += c.tx_dropped;
        sum
    })
}

/// The struct offsets the probes read with, from the kernel's BTF.
fn probe_config(
    btf: &Btf,
    options: &InterfaceProbeOptions,
) -> anyhow::Result<InterfaceProbeConfig> {
    let offset = |name: &str, member: &str| {
        btf.member_offset(name, member)
            .map_err(|err| anyhow!("the interface probes cannot run on this kernel: {err}"))
    };
    // `nd_net` is a possible_net_t, whose only member is the struct net pointer.
    let dev_net = offset("net_device", "nd_net")?;
    Ok(InterfaceProbeConfig {
        skb_dev: offset("sk_buff", "dev")?,
        skb_len: offset("sk_buff", "len")?,
        skb_head: offset("sk_buff", "head")?,
        skb_data: offset("sk_buff", "data")?,
        skb_mac_header: offset("sk_buff", "mac_header")?,
        skb_iif: offset("sk_buff", "skb_iif")?,
        skb_protocol: offset("sk_buff", "protocol")?,
        dev_ifindex: offset("net_device", "ifindex")?,
        dev_name: offset("net_device", "name")?,
        dev_net,
        net_inum: net_inum_offset(btf)
            .map_err(|err| anyhow!("the interface probes cannot run on this kernel: {err}"))?,
        netns: options.netns,
        events_per_sec: options.events_per_sec,
        _pad: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_per_cpu_copies() {
        let a = InterfaceCounters {
            rx_packets: 1,
            rx_bytes: 100,
            tx_packets: 2,
            tx_bytes: 200,
            tx_errors: 3,
            rx_dropped: 4,
            tx_dropped: 5,
            _reserved: 0,
        };
        let sum = sum_per_cpu([a, a, InterfaceCounters::default()].iter());
        assert_eq!(sum.rx_packets, 2);
        assert_eq!(sum.rx_bytes, 200);
        assert_eq!(sum.tx_errors, 6);
        assert_eq!(sum.tx_dropped, 10);
    }

    #[test]
    fn this_kernel_has_the_offsets_the_interface_probes_need() {
        let Some(btf) = crate::probes::btf::tests::kernel_btf_or_skip() else {
            return;
        };
        let config = probe_config(
            &btf,
            &InterfaceProbeOptions {
                netns: 1,
                ring_bytes: 4096,
                events_per_sec: 1,
                count_drops: true,
            },
        )
        .unwrap();
        assert_ne!(config.skb_len, 0);
        assert_ne!(config.dev_ifindex, 0);
        assert_eq!(config.netns, 1);
    }
}
