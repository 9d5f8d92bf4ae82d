//! `netstat -r`: reads /proc/net/route (or rt_cache with -C), and /proc/net/ipv6_route for -6.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};

use crate::{
    sources::proc::{
        proc_net,
        route::{
            RouteFileError, ipv4_cache_header, parse_ipv4_cache, parse_ipv4_routes,
            parse_ipv6_routes,
        },
    },
    views::{netstat::NetstatFlags, netstat::route::RouteFamily, printer::SnapshotPrinter},
};

pub(crate) fn run(
    flags: &NetstatFlags,
    printer: &mut dyn SnapshotPrinter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    run_in(proc_net(), flags, printer, out)
}

/// The routing tables from the files in `proc_net`, family by family as netstat's route_info
/// goes (it stops at the first that fails).
pub(crate) fn run_in(
    proc_net: &Path,
    flags: &NetstatFlags,
    printer: &mut dyn SnapshotPrinter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut table = Table {
        proc_net,
        cache: flags.cache,
        printer,
    };
    let named = flags.named_families;
    // netstat's default address family for -r is inet.
    let inet = named.inet || !(named.inet6 || named.unix);
    if inet {
        table.ipv4(out)?;
    }
    if named.inet6 {
        table.ipv6(out)?;
    }
    if named.unix {
        bail!("No routing for address family `unix'.");
    }
    Ok(())
}

struct Table<'a> {
    proc_net: &'a Path,
    cache: bool,
    printer: &'a mut dyn SnapshotPrinter,
}

impl Table<'_> {
    /// A file's bytes, or netstat's "not configured" line (its perror goes to our error).
    fn read(
        &mut self,
        file: &str,
        family: RouteFamily,
        out: &mut dyn Write,
    ) -> anyhow::Result<Vec<u8>> {
        let path = self.proc_net.join(file);
        match std::fs::read(&path) {
            Ok(text) => Ok(text),
            Err(err) => {
                self.printer.route_not_configured(family, out)?;
                Err(err).with_context(|| path.display().to_string())
            }
        }
    }

    fn ipv4(&mut self, out: &mut dyn Write) -> anyhow::Result<()> {
        if self.cache {
            return self.ipv4_cache(out);
        }
        let text = self.read("route", RouteFamily::Inet, out)?;
        match parse_ipv4_routes(&text) {
            Ok(routes) => Ok(self.printer.ipv4_routes(&routes, out)?),
            Err(err) => {
                // netstat prints its headings before it reads the header line.
                self.printer.ipv4_routes_heading(out)?;
                Err(file_error(self.proc_net.join("route"), err))
            }
        }
    }

    fn ipv4_cache(&mut self, out: &mut dyn Write) -> anyhow::Result<()> {
        let path = self.proc_net.join("rt_cache");
        let text = self.read("rt_cache", RouteFamily::Inet, out)?;
        let header = match ipv4_cache_header(&text) {
            Ok(header) => header,
            Err(err) => {
                // netstat prints its title before it looks at what it read.
                self.printer.ipv4_cache_title(out)?;
                return Err(file_error(path, err));
            }
        };
        let cache = match parse_ipv4_cache(&text) {
            Ok(cache) => cache,
            Err(err) => {
                self.printer.ipv4_cache_heading(&header, out)?;
                return Err(file_error(path, err));
            }
        };
        self.printer.ipv4_cache(&cache, out)?;
        if header.format.is_none() && header.data_lines > 0 {
            bail!(
                "{}: unknown layout, {} lines not shown",
                path.display(),
                header.data_lines
            );
        }
        Ok(())
    }

    fn ipv6(&mut self, out: &mut dyn Write) -> anyhow::Result<()> {
        let text = self.read("ipv6_route", RouteFamily::Inet6, out)?;
        match parse_ipv6_routes(&text) {
            Ok(routes) => Ok(self.printer.ipv6_routes(&routes, out)?),
            Err(err) => {
                self.printer.ipv6_routes_heading(out)?;
                Err(file_error(self.proc_net.join("ipv6_route"), err))
            }
        }
    }
}

fn file_error(path: PathBuf, err: RouteFileError) -> anyhow::Error {
    anyhow::Error::new(err).context(path.display().to_string())
}
