#![no_std]
// Exists so the workspace sees a library target (netstat-userspace build-depends on this crate so
// that cargo rebuilds the probes when they change); the programs are in main.rs.
use aya_ebpf as _;
use netstat_common as _;
