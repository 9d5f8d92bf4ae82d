//! Where data comes from: /proc and netlink snapshots, the probes' ring buffer, and the daemon's
//! socket.

pub(crate) mod daemon;
pub(crate) mod interfaces;
pub(crate) mod netlink;
pub(crate) mod proc;
pub(crate) mod ring;
