//! Where data comes from: /proc and netlink snapshots, and the probes' ring buffer.

pub mod daemon;
pub mod interfaces;
pub mod netlink;
pub mod proc;
pub mod ring;
