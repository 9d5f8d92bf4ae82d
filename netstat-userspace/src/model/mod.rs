//! The types every layer shares: the rows sources produce, and the aggregator and views consume.
//! Data and small rules about it only: this module imports nothing else of the crate.

pub(crate) mod containers;
pub(crate) mod filter;
pub(crate) mod groups;
pub(crate) mod hashing;
pub(crate) mod health;
pub(crate) mod hooks;
pub(crate) mod interfaces;
pub(crate) mod losses;
pub(crate) mod names;
pub(crate) mod netns;
pub(crate) mod netstat;
pub(crate) mod owners;
pub(crate) mod route;
pub(crate) mod sockets;
pub(crate) mod statistics;
pub(crate) mod system;
pub(crate) mod tcp_info;
mod tcp_state;

pub use tcp_state::TcpState;
