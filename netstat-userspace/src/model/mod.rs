//! The types every layer shares: plain data, no I/O.

pub(crate) mod losses;
