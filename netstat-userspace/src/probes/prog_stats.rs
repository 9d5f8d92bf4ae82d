//! Per-program counters the kernel keeps but aya does not expose.

use std::os::fd::{AsRawFd as _, BorrowedFd};

use anyhow::Context as _;
use aya_obj::generated::bpf_prog_info;

const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;

#[repr(C)]
struct InfoByFdAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// How often the kernel skipped the program because a BPF program was already running on that
/// CPU (`recursion_misses`, Linux 5.12+; 0 on older kernels). Those invocations produce no record.
pub(crate) fn recursion_misses(prog: BorrowedFd<'_>) -> anyhow::Result<u64> {
    Ok(prog_info(prog)?.recursion_misses)
}

fn prog_info(prog: BorrowedFd<'_>) -> anyhow::Result<bpf_prog_info> {
    // SAFETY: bpf_prog_info is plain data; all-zero is a valid value.
    let mut info: bpf_prog_info = unsafe { std::mem::zeroed() };
    let mut attr = InfoByFdAttr {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: size_of::<bpf_prog_info>() as u32,
        info: (&raw mut info) as u64,
    };
    // SAFETY: attr points at a live, correctly sized buffer for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET_INFO_BY_FD,
            &raw mut attr,
            size_of::<InfoByFdAttr>(),
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("BPF_OBJ_GET_INFO_BY_FD");
    }
    Ok(info)
}
