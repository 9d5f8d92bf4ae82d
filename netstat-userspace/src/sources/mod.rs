//! Where data comes from: /proc and netlink snapshots, the probes' ring buffer (read by the
//! event pump), the daemon's socket, and the system's names (resolver, services, kernel symbols).

pub(crate) mod daemon;
pub(crate) mod ifconfig;
pub(crate) mod names;
pub(crate) mod netlink;
pub(crate) mod netns;
pub(crate) mod proc;
pub(crate) mod pump;
pub(crate) mod ring;
