//! Loading and attaching the kernel programs. Dropping a probe detaches it.

pub(crate) mod btf;
pub(crate) mod health;
pub(crate) mod interfaces;
pub(crate) mod privileges;
mod prog_stats;
pub(crate) mod stream;
mod tracefs;

pub(crate) use privileges::check_privileges;

use anyhow::{Context as _, anyhow, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{PerCpuArray, RingBuf},
    programs::{BtfTracePoint, TracePoint},
};
use netstat_common::{
    CloseOffsets, HEALTH_OFFSETS_GLOBAL, KernelFilter, NetnsOffsets, SOCK_DONE, SockOffsets,
};
use stream::{EventStream, LossReader, LossSlots};

use crate::model::{
    health::{EventKinds, HealthReasons},
    hooks::TcpHook,
    system::page_size,
};

/// The object built from `netstat-ebpf` by build.rs.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/netstat-ebpf"));

const TCP_STATE_PROGRAM: &str = "enetstat_tcp_state";
const TCP_STATE_BTF_PROGRAM: &str = "enetstat_tcp_state_btf";
const TCP_STATE_SOCK_OFFSETS: &str = "TCP_STATE_SOCK_OFFSETS";
/// Set to `tracepoint` to use the classic tracepoint even where the BTF one would load.
const TCP_HOOK_ENV: &str = "ENETSTAT_TCP_HOOK";
const TCP_STATE_EVENTS: &str = "TCP_STATE_EVENTS";
const TCP_STATE_LOST: &str = "TCP_STATE_LOST";
const TCP_STATE_FILTER: &str = "TCP_STATE_FILTER";
const TCP_STATE_WAKEUP_BYTES: &str = "TCP_STATE_WAKEUP_BYTES";
const TCP_STATE_NETNS_OFFSETS: &str = "TCP_STATE_NETNS_OFFSETS";
const TCP_STATE_CLOSE_OFFSETS: &str = "TCP_STATE_CLOSE_OFFSETS";

/// The `sock:inet_sock_set_state` probe, attached.
pub(crate) struct TcpStateProbe {
    /// Holds the program and its link: dropping it detaches the probe.
    _ebpf: Ebpf,
    /// Why records into CLOSE carry no counters (no BTF, or a field not found), if they do not.
    pub(crate) close_counters_unknown: Option<String>,
    /// The hook the program is attached to.
    pub(crate) hook: TcpHook,
    /// The kernel's names for health records' reasons (empty without health kinds).
    pub(crate) reasons: HealthReasons,
}

/// The default ring size of `watch` and `serve`. Sized by need: the reader drains every 20 ms
/// (sources/pump.rs), two loopback churn loops on both cores peak near 300,000 transitions/s
/// (`bench cost`), and a record takes 136 bytes with its header: 0.8 MB per drain interval,
/// times 4 for a late drain, rounded up to a power of two. It is mapped (and resident) twice in
/// the reader, and is kernel memory that cannot be swapped. `--ring-size` gives more.
pub(crate) const DEFAULT_RING_SIZE: &str = "4M";
/// [`DEFAULT_RING_SIZE`] in bytes, for the commands without `--ring-size` (`-c`).
pub(crate) const DEFAULT_RING_BYTES: u32 = 4 << 20;

/// Ring buffer sizes must be a power of two and a multiple of the page size.
pub(crate) fn check_ring_size(bytes: u64) -> Result<u32, String> {
    let page = page_size();
    if !bytes.is_power_of_two() || bytes < page || bytes > 1 << 30 {
        return Err(format!(
            "ring size must be a power of two between {page} and {} bytes, got {bytes}",
            1u64 << 30
        ));
    }
    Ok(bytes as u32)
}

impl TcpStateProbe {
    /// Loads the program with `filter` and a ring of `ring_bytes`, and attaches it, with the
    /// health programs of `kinds` (transitions are always traced: owners come from them); their
    /// records and loss counts come out of the stream.
    pub(crate) fn attach(
        filter: &KernelFilter,
        ring_bytes: u32,
        kinds: EventKinds,
    ) -> anyhow::Result<(Self, EventStream)> {
        check_privileges()?;
        raise_memlock_limit();
        // A quarter full: the reader's timer normally drains long before that.
        let wakeup_bytes = u64::from(ring_bytes / 4);
        // One read and parse of the kernel's BTF (megabytes) serves every offset.
        let btf = kernel_btf();
        let netns_offsets = netns_offsets(&btf);
        let close_offsets = btf.as_ref().map_err(Clone::clone).and_then(close_offsets);
        let sock_offsets = btf.as_ref().map_err(Clone::clone).and_then(sock_offsets);
        let (health_offsets, reasons) = if kinds.any_health() {
            let btf = btf
                .as_ref()
                .map_err(|why| anyhow!("the health events need the kernel's BTF: {why}"))?;
            let offsets = health::health_offsets(btf)
                .map_err(|why| anyhow!("the health events cannot run on this kernel: {why}"))?;
            (offsets, health::health_reasons(btf))
        } else {
            Default::default()
        };
        drop(btf);
        let mut ebpf = loader()
            .map_max_entries(TCP_STATE_EVENTS, ring_bytes)
            .override_global(TCP_STATE_FILTER, filter, true)
            .override_global(TCP_STATE_WAKEUP_BYTES, &wakeup_bytes, true)
            .override_global(TCP_STATE_NETNS_OFFSETS, &netns_offsets, true)
            .override_global(
                TCP_STATE_CLOSE_OFFSETS,
                &close_offsets.as_ref().copied().unwrap_or_default(),
                true,
            )
            .override_global(
                TCP_STATE_SOCK_OFFSETS,
                &sock_offsets.as_ref().copied().unwrap_or_default(),
                true,
            )
            .override_global(HEALTH_OFFSETS_GLOBAL, &health_offsets, true)
            .load(EBPF_OBJECT)
            .map_err(|err| privileges::explain_load_error(err.into()))
            .context("loading the eBPF object")?;
        let forced_classic = std::env::var(TCP_HOOK_ENV).as_deref() == Ok("tracepoint");
        // aya's own parse, which BTF tracepoints are loaded against: once for every program.
        let aya_btf = (!forced_classic || kinds.any_health()).then(|| {
            aya::Btf::from_sys_fs().map_err(|err| format!("reading the kernel's BTF: {err}"))
        });
        let btf_attempt = match (forced_classic, sock_offsets, &aya_btf) {
            (true, _, _) => Err(format!("{TCP_HOOK_ENV}=tracepoint")),
            (false, Err(why), _) => Err(why),
            (false, Ok(_), Some(Ok(btf))) => {
                attach_btf(&mut ebpf, btf).map_err(|err| format!("{err:#}"))
            }
            (false, Ok(_), Some(Err(why))) => Err(why.clone()),
            (false, Ok(_), None) => unreachable!("parsed unless the classic hook is forced"),
        };
        let hook = match btf_attempt {
            Ok(()) => TcpHook::BtfTracepoint,
            Err(why) => {
                log::info!("TCP probe on the classic tracepoint: no BTF tracepoint ({why})");
                attach_classic(&mut ebpf)?;
                TcpHook::Tracepoint
            }
        };
        log::debug!("TCP probe attached ({})", hook.name());
        let mut programs = vec![match hook {
            TcpHook::BtfTracepoint => TCP_STATE_BTF_PROGRAM,
            TcpHook::Tracepoint => TCP_STATE_PROGRAM,
        }];
        if kinds.any_health() {
            if hook != TcpHook::BtfTracepoint {
                // Health records are keyed by cookie, the classic tracepoint's transitions by
                // address: neither owners nor sockets could be matched.
                bail!(
                    "--events {kinds} needs the BTF tracepoint for transitions, but the probe is on the classic one"
                );
            }
            let btf = match &aya_btf {
                Some(Ok(btf)) => btf,
                Some(Err(why)) => bail!("the health events need the kernel's BTF: {why}"),
                None => unreachable!("parsed when health events are asked for"),
            };
            programs.extend(health::attach(&mut ebpf, btf, kinds)?);
        }
        let events = RingBuf::try_from(
            ebpf.take_map(TCP_STATE_EVENTS)
                .ok_or_else(|| anyhow!("map {TCP_STATE_EVENTS} missing"))?,
        )?;
        let lost = PerCpuArray::try_from(
            ebpf.take_map(TCP_STATE_LOST)
                .ok_or_else(|| anyhow!("map {TCP_STATE_LOST} missing"))?,
        )?;
        // One slot: the records the ring could not take.
        let slots = LossSlots {
            ring_full: 0,
            rate_limited: None,
            untracked: None,
        };
        let losses = LossReader::new(&ebpf, lost, slots, &programs)?;
        let probe = TcpStateProbe {
            _ebpf: ebpf,
            close_counters_unknown: close_offsets.err(),
            hook,
            reasons,
        };
        Ok((
            probe,
            EventStream {
                ring: events,
                losses,
            },
        ))
    }
}

/// The BTF tracepoint: typed loads, the socket's cookie, no tracefs.
fn attach_btf(ebpf: &mut Ebpf, btf: &aya::Btf) -> anyhow::Result<()> {
    let program: &mut BtfTracePoint = ebpf
        .program_mut(TCP_STATE_BTF_PROGRAM)
        .ok_or_else(|| anyhow!("program {TCP_STATE_BTF_PROGRAM} missing from the eBPF object"))?
        .try_into()?;
    program
        .load("inet_sock_set_state", btf)
        .map_err(|err| privileges::explain_load_error(err.into()))
        .context("loading the tp_btf/inet_sock_set_state program")?;
    program
        .attach()
        .context("attaching to tp_btf/inet_sock_set_state")?;
    Ok(())
}

/// The classic tracepoint, through tracefs (mounted if it is not).
fn attach_classic(ebpf: &mut Ebpf) -> anyhow::Result<()> {
    let events_dir = tracefs::events_dir()?;
    if !events_dir.join("sock/inet_sock_set_state").exists() {
        bail!("this kernel has no sock:inet_sock_set_state tracepoint (it appeared in Linux 4.16)");
    }
    let program: &mut TracePoint = ebpf
        .program_mut(TCP_STATE_PROGRAM)
        .ok_or_else(|| anyhow!("program {TCP_STATE_PROGRAM} missing from the eBPF object"))?
        .try_into()?;
    program
        .load()
        .map_err(|err| privileges::explain_load_error(err.into()))
        .context("loading the sock:inet_sock_set_state program")?;
    program
        .attach("sock", "inet_sock_set_state")
        .context("attaching to sock:inet_sock_set_state")?;
    Ok(())
}

/// Where the BTF tracepoint finds a transition's fields in `struct tcp_sock`.
fn sock_offsets(btf: &btf::Btf) -> Result<SockOffsets, String> {
    let offset =
        |name: &str, member: &str| btf.member_offset(name, member).map_err(|e| e.to_string());
    // The struct sock sits at offset 0 of tcp_sock (close_offsets checks it), so its offsets
    // are tcp_sock's too.
    let common = offset("sock", "__sk_common")?;
    let in_common = |member: &str| Ok::<u32, String>(common + offset("sock_common", member)?);
    let inet = offset("tcp_sock", "inet_conn")? + offset("inet_connection_sock", "icsk_inet")?;
    Ok(SockOffsets {
        family: in_common("skc_family")?,
        sport: inet + offset("inet_sock", "inet_sport")?,
        dport: in_common("skc_dport")?,
        saddr: inet + offset("inet_sock", "inet_saddr")?,
        daddr: in_common("skc_daddr")?,
        v6_rcv_saddr: in_common("skc_v6_rcv_saddr")?,
        v6_daddr: in_common("skc_v6_daddr")?,
        _pad: 0,
    })
}

/// The kernel's BTF (/sys/kernel/btf/vmlinux), parsed; Err says why there is none.
fn kernel_btf() -> Result<btf::Btf, String> {
    btf::Btf::from_sys_fs()
        .map_err(|err| format!("reading /sys/kernel/btf/vmlinux: {err}"))?
        .map_err(|err| err.to_string())
}

/// `net.ns.inum`: where a network namespace keeps its inode number.
fn net_inum_offset(btf: &btf::Btf) -> Result<u32, btf::BtfError> {
    Ok(btf.member_offset("net", "ns")? + btf.member_offset("ns_common", "inum")?)
}

/// Offsets for the probe's netns reads. Without BTF, records carry netns 0 ("unknown") and
/// everything else works.
fn netns_offsets(btf: &Result<btf::Btf, String>) -> NetnsOffsets {
    let found = (|| -> Result<NetnsOffsets, String> {
        let btf = btf.as_ref()?;
        let offset =
            |name: &str, member: &str| btf.member_offset(name, member).map_err(|e| e.to_string());
        Ok(NetnsOffsets {
            sock_net: offset("sock", "__sk_common")? + offset("sock_common", "skc_net")?,
            net_inum: net_inum_offset(btf).map_err(|e| e.to_string())?,
        })
    })();
    found.unwrap_or_else(|why| {
        log::warn!("socket network namespaces unknown: {why}");
        NetnsOffsets::default()
    })
}

/// Offsets for the probe's reads of a closing socket's counters, from /sys/kernel/btf/vmlinux.
/// The probe reads them from the `struct sock *` it is given, so `tcp_sock` must begin with it.
fn close_offsets(btf: &btf::Btf) -> Result<CloseOffsets, String> {
    let offset =
        |name: &str, member: &str| btf.member_offset(name, member).map_err(|e| e.to_string());
    let sock_at = offset("tcp_sock", "inet_conn")?
        + offset("inet_connection_sock", "icsk_inet")?
        + offset("inet_sock", "sk")?;
    if sock_at != 0 {
        return Err(format!("struct sock sits at offset {sock_at} of tcp_sock"));
    }
    let done = btf
        .enum_values("sock_flags")
        .map_err(|e| e.to_string())?
        .iter()
        .find(|(name, _)| name == "SOCK_DONE")
        .map(|&(_, value)| value);
    if done != Some(i64::from(SOCK_DONE)) {
        return Err(format!("SOCK_DONE is {done:?}, expected {SOCK_DONE}"));
    }
    Ok(CloseOffsets {
        bytes_acked: offset("tcp_sock", "bytes_acked")?,
        bytes_received: offset("tcp_sock", "bytes_received")?,
        snd_una: offset("tcp_sock", "snd_una")?,
        write_seq: offset("tcp_sock", "write_seq")?,
        sk_flags: offset("sock", "__sk_common")? + offset("sock_common", "skc_flags")?,
        total_retrans: offset("tcp_sock", "total_retrans")?,
        srtt_us: offset("tcp_sock", "srtt_us")?,
    })
}

/// A loader for the one eBPF object. Every map in it is created whichever programs a probe
/// attaches, so each ring gets the smallest legal size here and a probe enlarges its own.
fn loader<'a>() -> EbpfLoader<'a> {
    let page = page_size() as u32;
    let mut loader = EbpfLoader::new();
    loader
        .map_max_entries(TCP_STATE_EVENTS, page)
        .map_max_entries(interfaces::IFACE_EVENTS, page);
    loader
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; newer ones use memcg, where raising
/// the limit may be refused and does not matter.
fn raise_memlock_limit() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        log::debug!(
            "setrlimit(RLIMIT_MEMLOCK) failed: {}",
            std::io::Error::last_os_error()
        );
    }
}
