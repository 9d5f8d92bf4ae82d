//! One module per subcommand: each wires sources, aggregator and views together.

pub mod continuous;
pub mod interfaces;
pub mod serve;
pub mod snapshot;
pub mod status;
pub mod watch;
