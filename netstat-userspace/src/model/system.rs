//! Facts of the running system that several layers size things by.

/// The memory page size (ring buffers are sized in pages; /proc/self/statm counts them).
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}
