//! Where data comes from: /proc and netlink snapshots, and the probes' ring buffer (read by the
//! event pump).

pub(crate) mod daemon;
pub(crate) mod interfaces;
pub(crate) mod netlink;
pub(crate) mod proc;
pub(crate) mod pump;
pub(crate) mod ring;
