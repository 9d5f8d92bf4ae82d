//! What loading the probes needs, checked up front so the user gets one clear line.

use anyhow::anyhow;

const CAP_SYS_ADMIN: u32 = 21;
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
    fn needs_bpf_and_perfmon_or_sys_admin() {
        assert!(!Capabilities(0).can_trace());
        assert!(!Capabilities(1 << CAP_BPF).can_trace());
        assert!(Capabilities((1 << CAP_BPF) | (1 << CAP_PERFMON)).can_trace());
        assert!(Capabilities(1 << CAP_SYS_ADMIN).can_trace());
        assert_eq!(Capabilities::from_status("Name:\tx\n"), None);
    }
}
