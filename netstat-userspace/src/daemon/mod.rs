//! `enetstat serve`: the daemon that keeps a live socket table and answers snapshot requests.

pub mod metrics_http;
pub mod protocol;
pub mod server;
pub mod snapshot;
pub mod state;
