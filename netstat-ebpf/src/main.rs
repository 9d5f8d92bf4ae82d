//! enetstat's kernel programs. They only copy fields into records and count what they could not
//! deliver; every decision about meaning or formatting is made in userspace.
#![no_std]
#![no_main]

// The library target exists only for the build dependency (lib.rs); the programs are here.
use netstat_ebpf as _;

mod health;
mod interfaces;
mod tcp_state;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
