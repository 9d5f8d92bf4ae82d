//! Renderers: they turn events and tables into text, and know nothing of where data comes from.

pub mod clock;
pub mod color;
pub mod escape;
pub mod interface_stream;
pub mod json;
pub mod lifetimes;
pub mod metrics;
pub mod netstat;
pub mod transitions;

use serde::{Deserialize, Serialize};

/// How netstat's views are written: netstat's text, or JSON (`--json`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

impl OutputFormat {
    pub fn is_text(&self) -> bool {
        *self == OutputFormat::Text
    }
}
