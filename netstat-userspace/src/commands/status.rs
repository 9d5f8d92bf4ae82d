//! `enetstat status`: the daemon's own account of itself.

use std::{io::Write as _, path::Path};

use crate::{
    model::netns::NetnsSpec,
    output,
    sources::daemon::{
        client::query,
        protocol::{Request, TableRequest},
    },
};

pub(crate) fn run(
    socket: &Path,
    json: bool,
    table: bool,
    namespaces: Option<NetnsSpec>,
) -> anyhow::Result<()> {
    let request = if table {
        Request::Table(TableRequest {
            namespaces,
            netns: None,
        })
    } else {
        Request::Status
    };
    let body = query(socket, &request).map_err(|err| anyhow::anyhow!("{err}"))?;
    let mut out = output::stdout();
    if json || table {
        out.write_all(&body)?;
    } else {
        let status: serde_json::Value = serde_json::from_slice(&body)?;
        let Some(fields) = status.as_object() else {
            anyhow::bail!("the daemon's status is not an object");
        };
        for (name, value) in fields {
            writeln!(
                out,
                "{:<22} {value}",
                format!("{}:", name.replace('_', " "))
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
