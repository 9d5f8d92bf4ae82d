//! The connection-health programs (netstat-ebpf/src/health.rs): the BTF offsets they read with,
//! attaching the kinds a view asked for, and the kernel's names for drop and reset reasons.

use anyhow::{Context as _, anyhow};
use aya::{Ebpf, programs::BtfTracePoint};
use netstat_common::{
    HEALTH_DROP_PROGRAM, HEALTH_RECEIVE_RESET_PROGRAM, HEALTH_RETRANSMIT_PROGRAM,
    HEALTH_RETRANSMIT_SYNACK_PROGRAM, HEALTH_SEND_RESET_PROGRAM, HealthOffsets,
};

use super::{btf::Btf, privileges};
use crate::model::{
    health::{EventKind, EventKinds, HealthReasons},
    interfaces::ReasonNames,
};

/// Each health program with its tracepoint and the kind it reports.
const PROGRAMS: [(&str, &str, EventKind); 5] = [
    (
        HEALTH_RETRANSMIT_PROGRAM,
        "tcp_retransmit_skb",
        EventKind::Retransmit,
    ),
    (
        HEALTH_RETRANSMIT_SYNACK_PROGRAM,
        "tcp_retransmit_synack",
        EventKind::Retransmit,
    ),
    (
        HEALTH_SEND_RESET_PROGRAM,
        "tcp_send_reset",
        EventKind::Reset,
    ),
    (
        HEALTH_RECEIVE_RESET_PROGRAM,
        "tcp_receive_reset",
        EventKind::Reset,
    ),
    (HEALTH_DROP_PROGRAM, "kfree_skb", EventKind::Drop),
];

/// The kernel's names for the reasons health records carry.
pub(crate) fn health_reasons(btf: &Btf) -> HealthReasons {
    HealthReasons {
        drops: drop_reason_names(btf),
        resets: reason_names(btf, "sk_rst_reason", "SK_RST_REASON_"),
    }
}

/// `enum skb_drop_reason`, which the interface probes name too.
pub(crate) fn drop_reason_names(btf: &Btf) -> ReasonNames {
    reason_names(btf, "skb_drop_reason", "SKB_DROP_REASON_")
}

/// An enum's enumerators by value, without their common prefix; empty (numbers only) when this
/// kernel's BTF lacks the enum.
fn reason_names(btf: &Btf, enum_name: &str, prefix: &str) -> ReasonNames {
    let values = btf.enum_values(enum_name).unwrap_or_default();
    ReasonNames::new(
        values
            .iter()
            .map(|(name, value)| {
                let short = name.strip_prefix(prefix).unwrap_or(name);
                (*value as u32, short.to_string())
            })
            .collect(),
    )
}

/// Where the health programs find what they read, from the kernel's BTF.
pub(crate) fn health_offsets(btf: &Btf) -> Result<HealthOffsets, String> {
    let queue_purge = btf
        .enum_values("skb_drop_reason")
        .unwrap_or_default()
        .iter()
        .find(|(name, _)| name == "SKB_DROP_REASON_QUEUE_PURGE")
        .map_or(0, |&(_, value)| value as u32);
    let offset =
        |name: &str, member: &str| btf.member_offset(name, member).map_err(|e| e.to_string());
    let common = offset("sock", "__sk_common")?;
    let in_common = |member: &str| Ok::<u32, String>(common + offset("sock_common", member)?);
    // inet_connection_sock begins tcp_sock and embeds the sock at its start, so its offsets are
    // the socket's.
    let icsk = offset("tcp_sock", "inet_conn")?;
    let ca_state_bits = btf
        .member_bit_offset("inet_connection_sock", "icsk_ca_state")
        .map_err(|e| e.to_string())?;
    let ca_state_bits = icsk * 8 + ca_state_bits;
    Ok(HealthOffsets {
        skc_num: in_common("skc_num")?,
        skc_rcv_saddr: in_common("skc_rcv_saddr")?,
        skc_state: in_common("skc_state")?,
        skc_cookie: in_common("skc_cookie")?,
        sk_protocol: offset("sock", "sk_protocol")?,
        skb_sk: offset("sk_buff", "sk")?,
        skb_cb: offset("sk_buff", "cb")?,
        skb_head: offset("sk_buff", "head")?,
        skb_network_header: offset("sk_buff", "network_header")?,
        skb_transport_header: offset("sk_buff", "transport_header")?,
        skb_dev: offset("sk_buff", "dev")?,
        // `nd_net` is a possible_net_t, whose only member is the struct net pointer.
        dev_net: offset("net_device", "nd_net")?,
        icsk_pending: icsk + offset("inet_connection_sock", "icsk_pending")?,
        icsk_ca_state_byte: ca_state_bits / 8,
        icsk_ca_state_shift: ca_state_bits % 8,
        drop_reason_queue_purge: queue_purge,
    })
}

/// Loads and attaches the programs of the asked kinds; returns their names, for the loss
/// reader's recursion counts.
pub(crate) fn attach(
    ebpf: &mut Ebpf,
    btf: &aya::Btf,
    kinds: EventKinds,
) -> anyhow::Result<Vec<&'static str>> {
    let mut attached = Vec::new();
    for &(name, tracepoint, _) in PROGRAMS.iter().filter(|(_, _, k)| kinds.contains(*k)) {
        let program: &mut BtfTracePoint = ebpf
            .program_mut(name)
            .ok_or_else(|| anyhow!("program {name} missing from the eBPF object"))?
            .try_into()?;
        program
            .load(tracepoint, btf)
            .map_err(|err| privileges::explain_load_error(err.into()))
            .with_context(|| format!("loading the tp_btf/{tracepoint} program"))?;
        program.attach().map_err(|err| {
            anyhow!("this kernel offers no usable {tracepoint} tracepoint ({err})")
        })?;
        attached.push(name);
    }
    Ok(attached)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::btf::tests::kernel_btf_or_skip;

    #[test]
    fn this_kernel_has_the_offsets_and_names_the_health_programs_need() {
        let Some(btf) = kernel_btf_or_skip() else {
            return;
        };
        let offsets = health_offsets(&btf).unwrap();
        assert!(offsets.icsk_ca_state_shift < 8);
        assert!(offsets.icsk_pending > 0 && offsets.skb_cb > 0);
        assert_ne!(offsets.drop_reason_queue_purge, 0, "Linux 6.x names it");
        let reasons = health_reasons(&btf);
        assert_eq!(reasons.drops.name(2), "NOT_SPECIFIED");
        assert_eq!(reasons.drops.name(0xffff_fff0), "reason 4294967280");
    }
}
