//! The daemon's start-up and resync snapshot, keyed as the probe keys its events
//! ([`crate::events::TcpTransition::socket_key`]):
//! - on the BTF tracepoint, a sock_diag dump, each socket named by its cookie: no sysctl is
//!   touched, and a socket that reuses an old one's address is a different key;
//! - on the classic tracepoint (kernels without BTF), which cannot ask for cookies,
//!   /proc/net/tcp{,6} with each socket's kernel address, which `%pK` prints only while
//!   kptr_restrict is 1 (see [`RawPointers`]).

use anyhow::Context as _;

use crate::{
    aggregator::table::SnapshotRow,
    model::hooks::TcpHook,
    sources::{
        netlink::sock_diag,
        proc::{inet_sockets, read_net_file},
    },
    views::clock::Clock,
};

const KPTR_RESTRICT: &str = "/proc/sys/kernel/kptr_restrict";

/// While alive, /proc prints raw kernel addresses to root: kptr_restrict 0 makes `%pK` print a
/// hash, 1 the raw address to CAP_SYSLOG holders (and zeros to everyone else, which is stricter
/// than 0, so nobody learns more). The old value is restored on drop, and until then signals are
/// held back, so that none can end the process with the setting changed: SIGINT, SIGTERM and
/// SIGHUP are handled anyway, and one whose default is to terminate (SIGQUIT, SIGUSR1, ...)
/// then lands after the restore. The daemon reads on its only thread. SIGKILL cannot be held.
struct RawPointers {
    restore: Option<String>,
    /// Dropped after the restore (fields drop after `Drop::drop`).
    _held: Option<HeldSignals>,
}

impl RawPointers {
    fn enable() -> Self {
        let current = std::fs::read_to_string(KPTR_RESTRICT).unwrap_or_default();
        if current.trim() == "0" {
            let held = HeldSignals::hold();
            match std::fs::write(KPTR_RESTRICT, "1") {
                Ok(()) => {
                    return RawPointers {
                        restore: Some(current),
                        _held: Some(held),
                    };
                }
                Err(err) => log::warn!(
                    "kptr_restrict is 0 and setting it to 1 failed ({err}; it needs CAP_SYS_ADMIN): snapshot rows cannot be matched to events by address"
                ),
            }
        }
        if current.trim() == "2" {
            log::warn!("kptr_restrict is 2: snapshot rows cannot be matched to events by address");
        }
        RawPointers {
            restore: None,
            _held: None,
        }
    }
}

impl Drop for RawPointers {
    fn drop(&mut self) {
        if let Some(value) = self.restore.take() {
            let _ = std::fs::write(KPTR_RESTRICT, value);
        }
    }
}

/// Every signal blocked on this thread; the previous mask comes back on drop, and with it the
/// signals that arrived meanwhile.
struct HeldSignals {
    previous: libc::sigset_t,
}

impl HeldSignals {
    fn hold() -> Self {
        // SAFETY: sigset_t is plain data, filled by sigfillset before use; pthread_sigmask gets
        // valid pointers and changes only this thread's mask.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut previous);
            HeldSignals { previous }
        }
    }
}

impl Drop for HeldSignals {
    fn drop(&mut self) {
        // SAFETY: restores the mask `hold` saved, on the same thread: the guard lives within one
        // synchronous call.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}

/// Every TCP socket of the calling thread's network namespace, v4 and v6, keyed for events from
/// `hook`, with the probes' time read just before (events stamped earlier are reflected).
pub(crate) fn tcp_rows(hook: TcpHook) -> anyhow::Result<(Vec<SnapshotRow>, u64)> {
    let snapshot_ns = Clock::monotonic_now_ns();
    let rows = match hook {
        TcpHook::BtfTracepoint => rows_by_cookie(),
        TcpHook::Tracepoint => rows_by_address(),
    }?;
    Ok((rows, snapshot_ns))
}

/// The states the table follows: all but request sockets (TCP_NEW_SYN_RECV, which have no
/// events; their children appear with LISTEN -> SYN_RECV) and sockets only bound
/// (TCP_BOUND_INACTIVE, which /proc/net/tcp does not list either).
const TABLE_STATES: u32 = !((1 << 12) | (1 << 13));

fn rows_by_cookie() -> anyhow::Result<Vec<SnapshotRow>> {
    let sockets =
        sock_diag::dump_tcp(TABLE_STATES, false).context("dumping TCP sockets with sock_diag")?;
    Ok(sockets
        .iter()
        .map(|socket| SnapshotRow::from_sock_diag(&socket.row, socket.cookie, socket.expires_ms))
        .collect())
}

fn rows_by_address() -> anyhow::Result<Vec<SnapshotRow>> {
    let ticks_per_second = clock_ticks_per_second();
    let _raw = RawPointers::enable();
    let mut rows = Vec::new();
    for file in ["tcp", "tcp6"] {
        let Some(bytes) =
            read_net_file(file).with_context(|| format!("reading /proc/net/{file}"))?
        else {
            continue;
        };
        for line in String::from_utf8_lossy(&bytes).lines().skip(1) {
            if let Ok((row, kernel)) = inet_sockets::parse_line_with_kernel_columns(line) {
                rows.push(SnapshotRow::from_proc(
                    &row,
                    kernel.refcount,
                    kernel.address,
                    ticks_per_second,
                ));
            }
        }
    }
    Ok(rows)
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100)
}
