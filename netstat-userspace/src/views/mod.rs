//! Renderers: they turn events and tables into text, and know nothing of where data comes from.

pub(crate) mod clock;
pub(crate) mod color;
pub(crate) mod escape;
pub(crate) mod interface_stream;
pub(crate) mod json;
pub(crate) mod lifetimes;
pub(crate) mod line;
pub(crate) mod metrics;
pub(crate) mod netns;
pub(crate) mod netstat;
pub(crate) mod printer;
pub(crate) mod stream_columns;
pub(crate) mod transitions;

pub(crate) use crate::model::netstat::OutputFormat;
