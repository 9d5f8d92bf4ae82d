//! Renderers: they turn events and tables into text, and know nothing of where data comes from.

pub mod clock;
pub mod color;
pub mod escape;
pub mod netstat;
pub mod transitions;
