//! Parsers for /proc files: text in, typed records out, no I/O.

pub mod igmp;
pub mod route;
mod scan;
