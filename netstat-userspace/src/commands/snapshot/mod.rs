//! netstat's views from a snapshot of /proc: `enetstat [netstat options]`.

#[cfg(test)]
mod golden_tests;
mod groups;
mod route;
mod sockets;
mod statistics;

use std::io::Write as _;

use crate::{
    cli::netstat::{NetstatConfig, NetstatView},
    output,
    resolve::{self, Names},
};

pub fn run(config: NetstatConfig) -> anyhow::Result<()> {
    let flags = &config.flags;
    let names: Box<dyn Names> = if flags.numeric_hosts && flags.numeric_ports && flags.numeric_users
    {
        Box::new(resolve::NoNames)
    } else {
        Box::new(resolve::SystemNames::new())
    };
    let mut out = output::stdout();
    match config.view {
        NetstatView::Sockets => sockets::run(flags, names.as_ref(), &mut out)?,
        NetstatView::Route => route::run(flags, names.as_ref(), &mut out)?,
        NetstatView::Statistics => statistics::run(flags, &mut out)?,
        NetstatView::Interfaces => anyhow::bail!("-i is not available yet"),
    }
    out.flush()?;
    Ok(())
}
