//! `enetstat serve`: the daemon that keeps a live socket table and answers snapshot requests.

pub(crate) mod metrics_http;
pub(crate) mod server;
pub(crate) mod snapshot;
pub(crate) mod state;
pub(crate) mod web_config;
