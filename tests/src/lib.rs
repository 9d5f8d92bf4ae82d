//! Helpers for enetstat's root-only integration tests and benchmarks: scratch network namespaces,
//! connection workloads, and a handle on a running `enetstat`.

pub mod compare;
pub mod enetstat;
pub mod fixture;
pub mod netns;
pub mod unit_file;
pub mod workload;
