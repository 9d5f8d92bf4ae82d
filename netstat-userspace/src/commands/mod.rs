//! One module per subcommand: each wires sources, aggregator and views together.

pub(crate) mod continuous;
pub(crate) mod interfaces;
mod live_interfaces;
pub(crate) mod serve;
pub(crate) mod snapshot;
pub(crate) mod status;
pub(crate) mod watch;
