//! Renderers: they turn events and tables into text, and know nothing of where data comes from.

pub mod clock;
pub mod escape;
pub mod interface_stream;
pub mod lifetimes;
pub mod netstat;
pub mod transitions;
