//! enetstat: an eBPF-backed, live replacement for netstat.
//!
//! Layers, each in its own module:
//! - [`events`]: the probes' records decoded into typed events (pure);
//! - [`aggregator`]: state derived from events (pure state machines);
//! - [`probes`] and [`sources`]: loading the kernel programs, reading their output;
//! - [`views`]: renderers (tables, JSON);
//! - [`cli`] and [`commands`]: argument checking and the glue per subcommand.

pub mod aggregator;
pub mod cli;
pub mod commands;
pub mod daemon;
pub mod events;
pub mod logging;
pub mod output;
pub mod probes;
pub mod resolve;
pub mod sources;
pub mod views;
