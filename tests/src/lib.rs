//! Helpers for enetstat's root-only integration tests and benchmarks: scratch network namespaces,
//! connection workloads, a handle on a running `enetstat`, and what reads its metrics endpoint.

#![allow(
    unused_crate_dependencies,
    reason = "bcrypt is for a test target (metrics_tls), which shares the package's dependencies"
)]

pub mod cgroup;
pub mod compare;
pub mod enetstat;
pub mod exposition;
pub mod fixture;
pub mod http;
pub mod netns;
pub mod prerequisite;
pub mod prometheus;
pub mod sysctl;
pub mod tables;
pub mod unit_file;
pub mod wait;
pub mod workload;
