//! Classic tracepoints are attached by id, which only tracefs tells. A fresh machine often has
//! tracefs unmounted: mount it at its standard place, as perf and bpftrace do.

use std::{
    ffi::CString,
    path::{Path, PathBuf},
};

use anyhow::bail;

const TRACEFS: &str = "/sys/kernel/tracing";
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

/// The tracefs `events` directory, mounting tracefs first if no mount is found.
pub(crate) fn events_dir() -> anyhow::Result<PathBuf> {
    for root in [TRACEFS, DEBUGFS_TRACING] {
        let events = Path::new(root).join("events");
        if events.is_dir() {
            return Ok(events);
        }
    }
    mount_tracefs()?;
    Ok(Path::new(TRACEFS).join("events"))
}

fn mount_tracefs() -> anyhow::Result<()> {
    let c = |s: &str| CString::new(s).expect("no NUL in constant");
    let (source, target, fstype) = (c("nodev"), c(TRACEFS), c("tracefs"));
    // SAFETY: valid NUL-terminated strings; no mount data.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        bail!(
            "tracefs is not mounted and mounting it at {TRACEFS} failed: {}",
            std::io::Error::last_os_error()
        );
    }
    // Debug only: a scratch namespace mounts it on every run, and stderr stays for what matters.
    log::debug!("mounted tracefs at {TRACEFS}");
    Ok(())
}
