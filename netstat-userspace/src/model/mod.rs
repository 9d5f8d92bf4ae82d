//! The types every layer shares: sources produce them, the aggregator and the views consume them.
//! Nothing here imports the rest of the crate.

pub(crate) mod netstat;
