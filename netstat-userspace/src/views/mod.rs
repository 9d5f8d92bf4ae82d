//! Renderers: they turn events and tables into text, and know nothing of where data comes from.

pub(crate) mod clock;
pub(crate) mod color;
pub(crate) mod escape;
pub(crate) mod interface_stream;
pub(crate) mod json;
pub(crate) mod lifetimes;
pub(crate) mod metrics;
pub(crate) mod netstat;
pub(crate) mod transitions;

use serde::{Deserialize, Serialize};

/// How netstat's views are written: netstat's text, or JSON (`--json`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OutputFormat {
    #[default]
    Text,
    Json,
}

impl OutputFormat {
    pub(crate) fn is_text(&self) -> bool {
        *self == OutputFormat::Text
    }
}
