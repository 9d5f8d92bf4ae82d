//! Where data comes from: the probes' ring buffer (and, later, /proc and the daemon).

pub mod proc;
pub mod ring;
