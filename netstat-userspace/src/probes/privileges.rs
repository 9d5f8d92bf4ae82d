//! What loading the probes needs, checked up front so the user gets one clear line.

use anyhow::anyhow;

const CAP_DAC_READ_SEARCH: u32 = 2;
const CAP_SYS_PTRACE: u32 = 19;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYSLOG: u32 = 34;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// A process's effective capability set (the `CapEff` mask of /proc/PID/status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Capabilities(pub(crate) u64);

impl Capabilities {
    /// Parses the `CapEff:` line out of /proc/PID/status text.
    pub(crate) fn from_status(status: &str) -> Option<Self> {
        let hex = status
            .lines()
            .find_map(|line| line.strip_prefix("CapEff:"))?
            .trim();
        u64::from_str_radix(hex, 16).ok().map(Capabilities)
    }

    fn has(self, cap: u32) -> bool {
        self.0 & (1 << cap) != 0
    }

    /// Tracing programs need CAP_BPF with CAP_PERFMON, or CAP_SYS_ADMIN on older kernels.
    pub(crate) fn can_trace(self) -> bool {
        (self.has(CAP_BPF) && self.has(CAP_PERFMON)) || self.has(CAP_SYS_ADMIN)
    }
}

impl Capabilities {
    /// What a daemon needs once its probes are attached (maps and rings are used through the
    /// descriptors it holds, which need no capability): reading other users' /proc/PID/fd for
    /// owners and /proc/PID/ns/net for namespaces, entering other network namespaces to read
    /// their sockets (setns: CAP_SYS_ADMIN, which also sets kptr_restrict), and, where the probe
    /// cannot report cookies, raw socket addresses from /proc (CAP_SYSLOG).
    pub(crate) fn kept_after_attach(reads_raw_addresses: bool) -> Self {
        let mut keep = (1 << CAP_DAC_READ_SEARCH) | (1 << CAP_SYS_PTRACE) | (1 << CAP_SYS_ADMIN);
        if reads_raw_addresses {
            keep |= 1 << CAP_SYSLOG;
        }
        Capabilities(keep)
    }

    fn low(self) -> u32 {
        self.0 as u32
    }

    fn high(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// struct __user_cap_header_struct and __user_cap_data_struct of <linux/capability.h>.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Gives up every capability but `keep`, for good: from the bounding set (where CAP_SETPCAP
/// allows), the ambient, inheritable, permitted and effective sets. Capabilities are per thread:
/// the daemon calls this on its only thread, so threads started later inherit the reduced sets.
/// Returns the effective set kept.
pub(crate) fn keep_only(keep: Capabilities) -> std::io::Result<Capabilities> {
    for cap in 0..64u32 {
        if keep.0 & (1 << cap) == 0 {
            // SAFETY: prctl with integer arguments only. EINVAL past the last capability and
            // EPERM without CAP_SETPCAP are expected: the bounding set only limits what an
            // exec could regain, and the daemon never execs.
            unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
        }
    }
    // SAFETY: as above; clearing the ambient set cannot fail where it exists.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: version 3 headers take two data structs, which `data` provides.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    for (slot, mask) in data.iter_mut().zip([keep.low(), keep.high()]) {
        slot.effective &= mask;
        slot.permitted &= mask;
        slot.inheritable = 0;
    }
    // SAFETY: as for capget; the sets only shrink, which needs no privilege.
    if unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Capabilities(
        u64::from(data[0].effective) | (u64::from(data[1].effective) << 32),
    ))
}

pub(crate) const NEEDS_PRIVILEGES: &str =
    "loading eBPF probes needs root (or the capabilities CAP_BPF and CAP_PERFMON)";

/// Fails with one clear line when this process cannot load tracing programs.
pub(crate) fn check_privileges() -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|err| anyhow!("reading /proc/self/status: {err}"))?;
    match Capabilities::from_status(&status) {
        Some(caps) if caps.can_trace() => Ok(()),
        _ => Err(anyhow!(NEEDS_PRIVILEGES)),
    }
}

/// Replaces a permission error from the kernel with the same clear line.
pub(crate) fn explain_load_error(err: anyhow::Error) -> anyhow::Error {
    let denied = err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.raw_os_error() == Some(libc::EPERM))
            || cause.to_string().contains("Operation not permitted")
    });
    if denied {
        anyhow!(NEEDS_PRIVILEGES)
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cap_eff() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(
            Capabilities::from_status(status),
            Some(Capabilities(0x1ff_ffff_ffff))
        );
        assert!(Capabilities(0x1ff_ffff_ffff).can_trace());
    }

    #[test]
    fn a_daemon_keeps_what_owners_namespaces_and_raw_addresses_need() {
        let cookies = Capabilities::kept_after_attach(false);
        assert!(cookies.has(CAP_SYS_PTRACE) && cookies.has(CAP_DAC_READ_SEARCH));
        assert!(cookies.has(CAP_SYS_ADMIN), "setns");
        assert!(!cookies.has(CAP_SYSLOG) && !cookies.has(CAP_BPF) && !cookies.has(CAP_PERFMON));
        let raw = Capabilities::kept_after_attach(true);
        assert!(raw.has(CAP_SYSLOG) && raw.has(CAP_SYS_ADMIN));
    }

    #[test]
    fn needs_bpf_and_perfmon_or_sys_admin() {
        assert!(!Capabilities(0).can_trace());
        assert!(!Capabilities(1 << CAP_BPF).can_trace());
        assert!(Capabilities((1 << CAP_BPF) | (1 << CAP_PERFMON)).can_trace());
        assert!(Capabilities(1 << CAP_SYS_ADMIN).can_trace());
        assert_eq!(Capabilities::from_status("Name:\tx\n"), None);
    }
}
