//! Loopback churn for benchmarks: connect / accept / close as fast as one thread can, for a fixed
//! time. Run it inside a scratch namespace (`ip netns exec`). Prints `connections=N seconds=S`.

#![allow(
    unused_crate_dependencies,
    reason = "each binary sees all of the package's dependencies and uses a few"
)]

use std::{
    net::TcpListener,
    time::{Duration, Instant},
};

use enetstat_integration_tests::workload;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().as_deref().unwrap_or("5").parse()?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9000".to_string());
    let listener = TcpListener::bind(&addr)?;
    let duration = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut connections = 0u64;
    while start.elapsed() < duration {
        // Check the clock every 64 connections only.
        for _ in 0..64 {
            workload::connect_accept_close(&listener)?;
        }
        connections += 64;
    }
    println!(
        "connections={connections} seconds={:.3}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
