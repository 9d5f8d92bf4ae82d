//! One module per subcommand: each wires sources, aggregator and views together.

pub mod snapshot;
pub mod watch;
