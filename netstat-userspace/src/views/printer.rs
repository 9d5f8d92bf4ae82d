//! One printer per run: netstat's text or JSON lines, chosen once by [`printer_for`]. The snapshot
//! service hands it model rows and never asks which format it is writing.

use std::io::{self, Write};

use crate::{
    events::{Task, TcpTransition},
    model::{
        groups::Membership,
        interfaces::{Inet6Address, Interface},
        names::Names,
        netns::Namespace,
        netstat::{NetstatFlags, OutputFormat},
        owners::{Owner, SocketOwners},
        route::{CacheHeader, Ipv4Route, Ipv4RouteCache, Ipv6Route},
        sockets::{InetProtocol, InetSocketRow, UnixSocketRow},
        tcp_info::TcpInfo,
    },
    views::{
        clock::Clock,
        json, netns,
        netstat::{
            groups, interfaces,
            route::{self, Naming, RouteColumns, RouteFamily},
            sockets,
            statistics::{self, CounterSection, ShownProtocols},
        },
    },
};

/// What a netstat view prints. Headings and notes are text-only: the JSON printer skips them, so
/// each of its lines is one object.
pub(crate) trait SnapshotPrinter {
    /// Stamps every object printed from now on with `"ts"` first (`-c --json`: the time of the
    /// refresh the rows come from). Text has no stamps.
    fn stamp(&mut self, _ts: Option<String>) {}
    /// Starts the section of one network namespace (`--netns`; `first`: the run's first): text
    /// names it on a line of its own, JSON stamps every object from now on with `"netns"`.
    fn namespace(&mut self, ns: &Namespace, first: bool, out: &mut dyn Write) -> io::Result<()>;
    /// Whether the view shows IPv6 addresses of interfaces (so /proc/net/if_inet6 is read).
    fn shows_interface_inet6(&self) -> bool;
    /// Whether UNIX paths are shown whole (so they are read from unix_diag, not /proc, which cuts
    /// them at a newline) rather than as netstat shows them.
    fn shows_whole_unix_paths(&self) -> bool;

    fn inet_header(&mut self, out: &mut dyn Write) -> io::Result<()>;
    /// One IP socket; `tcp_info` is what the kernel sent for it, shown with --tcp-info.
    fn inet_socket(
        &mut self,
        protocol: InetProtocol,
        row: &InetSocketRow,
        owners: Option<&SocketOwners>,
        tcp_info: Option<&TcpInfo>,
        out: &mut dyn Write,
    ) -> io::Result<()>;
    /// `-c`: one TCP transition after the table, in the socket rows' format, at its own time.
    fn transition(
        &mut self,
        clock: &Clock,
        transition: &TcpTransition,
        owner: Option<&Task>,
        out: &mut dyn Write,
    ) -> io::Result<()>;
    fn unix_header(&mut self, out: &mut dyn Write) -> io::Result<()>;
    fn unix_socket(
        &mut self,
        row: &UnixSocketRow,
        owners: Option<&SocketOwners>,
        out: &mut dyn Write,
    ) -> io::Result<()>;

    fn groups_heading(&mut self, out: &mut dyn Write) -> io::Result<()>;
    fn groups(&mut self, groups: &[Membership], out: &mut dyn Write) -> io::Result<()>;

    fn statistics(
        &mut self,
        sections: &[CounterSection],
        shown: ShownProtocols,
        out: &mut dyn Write,
    ) -> io::Result<()>;

    /// The interface table's heading; `first`: the first table of the run (-ic repeats it).
    fn interfaces_heading(&mut self, first: bool, out: &mut dyn Write) -> io::Result<()>;
    fn interface(
        &mut self,
        iface: &Interface,
        inet6: &[Inet6Address],
        out: &mut dyn Write,
    ) -> io::Result<()>;

    /// netstat's line for a routing file it cannot read.
    fn route_not_configured(&mut self, family: RouteFamily, out: &mut dyn Write) -> io::Result<()>;
    /// The IPv4 table's heading alone: netstat prints it before it finds the file unreadable.
    fn ipv4_routes_heading(&mut self, out: &mut dyn Write) -> io::Result<()>;
    fn ipv4_routes(&mut self, routes: &[Ipv4Route], out: &mut dyn Write) -> io::Result<()>;
    fn ipv4_cache_title(&mut self, out: &mut dyn Write) -> io::Result<()>;
    fn ipv4_cache_heading(&mut self, header: &CacheHeader, out: &mut dyn Write) -> io::Result<()>;
    fn ipv4_cache(&mut self, cache: &Ipv4RouteCache, out: &mut dyn Write) -> io::Result<()>;
    fn ipv6_routes_heading(&mut self, out: &mut dyn Write) -> io::Result<()>;
    fn ipv6_routes(&mut self, routes: &[Ipv6Route], out: &mut dyn Write) -> io::Result<()>;
}

/// The printer for the format the flags ask for; `names` names hosts, ports and users in text.
pub(crate) fn printer_for<'a>(
    flags: &'a NetstatFlags,
    names: &'a dyn Names,
) -> Box<dyn SnapshotPrinter + 'a> {
    match flags.format {
        OutputFormat::Text => Box::new(NetstatText { flags, names }),
        OutputFormat::Json => Box::new(JsonLines {
            flags,
            ts: None,
            netns: None,
            stamp: String::new(),
            line: Vec::new(),
        }),
    }
}

/// net-tools netstat's bytes.
struct NetstatText<'a> {
    flags: &'a NetstatFlags,
    names: &'a dyn Names,
}

impl NetstatText<'_> {
    fn naming(&self) -> Naming<'_> {
        Naming {
            numeric_hosts: self.flags.numeric_hosts,
            names: self.names,
        }
    }

    fn route_columns(&self) -> RouteColumns {
        RouteColumns::for_route(self.flags.extend)
    }

    /// iface_info prints the short table while netstat's flag_exp < 2.
    fn long_interfaces(&self) -> bool {
        self.flags.extend >= 2
    }
}

impl SnapshotPrinter for NetstatText<'_> {
    fn namespace(&mut self, ns: &Namespace, first: bool, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(netns::heading(ns, first).as_bytes())
    }

    fn shows_interface_inet6(&self) -> bool {
        self.long_interfaces()
    }

    fn shows_whole_unix_paths(&self) -> bool {
        false
    }

    fn inet_header(&mut self, out: &mut dyn Write) -> io::Result<()> {
        sockets::write_inet_header(out, self.flags)
    }

    fn inet_socket(
        &mut self,
        protocol: InetProtocol,
        row: &InetSocketRow,
        owners: Option<&SocketOwners>,
        tcp_info: Option<&TcpInfo>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        sockets::write_inet_row(out, protocol, row, self.flags, self.names, owners, tcp_info)
    }

    fn transition(
        &mut self,
        clock: &Clock,
        transition: &TcpTransition,
        owner: Option<&Task>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let owner = owner.map(|task| Owner::new(task.tgid, task.comm.as_bytes()));
        sockets::write_transition_row(
            out,
            &clock.time_of_day(transition.ts_ns),
            transition,
            owner.as_ref(),
            self.flags,
            self.names,
        )
    }

    fn unix_header(&mut self, out: &mut dyn Write) -> io::Result<()> {
        sockets::write_unix_header(out, self.flags)
    }

    fn unix_socket(
        &mut self,
        row: &UnixSocketRow,
        owners: Option<&SocketOwners>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        sockets::write_unix_row(out, row, self.flags, owners)
    }

    fn groups_heading(&mut self, out: &mut dyn Write) -> io::Result<()> {
        groups::write_heading(out)
    }

    fn groups(&mut self, memberships: &[Membership], out: &mut dyn Write) -> io::Result<()> {
        groups::write_memberships(memberships, self.flags.numeric_hosts, self.names, out)
    }

    fn statistics(
        &mut self,
        sections: &[CounterSection],
        shown: ShownProtocols,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        statistics::write_sections(sections, shown, out)
    }

    fn interfaces_heading(&mut self, first: bool, out: &mut dyn Write) -> io::Result<()> {
        interfaces::write_heading(first, self.long_interfaces(), out)
    }

    fn interface(
        &mut self,
        iface: &Interface,
        inet6: &[Inet6Address],
        out: &mut dyn Write,
    ) -> io::Result<()> {
        if self.long_interfaces() {
            interfaces::write_long(iface, inet6, self.names, out)
        } else {
            interfaces::write_short(iface, out)
        }
    }

    fn route_not_configured(&mut self, family: RouteFamily, out: &mut dyn Write) -> io::Result<()> {
        route::write_not_configured(family, out)
    }

    fn ipv4_routes_heading(&mut self, out: &mut dyn Write) -> io::Result<()> {
        route::write_ipv4_table_heading(self.route_columns(), out)
    }

    fn ipv4_routes(&mut self, routes: &[Ipv4Route], out: &mut dyn Write) -> io::Result<()> {
        route::write_ipv4_table(routes, self.route_columns(), self.naming(), out)
    }

    fn ipv4_cache_title(&mut self, out: &mut dyn Write) -> io::Result<()> {
        route::write_ipv4_cache_title(out)
    }

    fn ipv4_cache_heading(&mut self, header: &CacheHeader, out: &mut dyn Write) -> io::Result<()> {
        route::write_ipv4_cache_heading(header, self.route_columns(), out)
    }

    fn ipv4_cache(&mut self, cache: &Ipv4RouteCache, out: &mut dyn Write) -> io::Result<()> {
        route::write_ipv4_cache(cache, self.route_columns(), self.naming(), out)
    }

    fn ipv6_routes_heading(&mut self, out: &mut dyn Write) -> io::Result<()> {
        route::write_ipv6_heading(self.flags.cache, out)
    }

    fn ipv6_routes(&mut self, routes: &[Ipv6Route], out: &mut dyn Write) -> io::Result<()> {
        route::write_ipv6_routes(routes, self.flags.cache, self.naming(), out)
    }
}

/// JSON lines: one object per row, no headings (README, "JSON output").
struct JsonLines<'a> {
    flags: &'a NetstatFlags,
    /// The `"ts"` and `"netns"` members of the stamp, when set.
    ts: Option<String>,
    netns: Option<String>,
    /// The members every object starts with: those above, joined.
    stamp: String,
    /// The objects of one call, stamped on their way out when a stamp is set.
    line: Vec<u8>,
}

impl JsonLines<'_> {
    /// Runs `write` into the line buffer, then copies its objects out, stamped if asked.
    fn emit(
        &mut self,
        out: &mut dyn Write,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.stamp.is_empty() {
            return write(out);
        }
        self.line.clear();
        write(&mut self.line)?;
        json::stamp_lines(&self.line, &self.stamp, out)
    }

    fn restamp(&mut self) {
        let members: Vec<&str> = [&self.ts, &self.netns]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        self.stamp = members.join(",");
    }
}

impl SnapshotPrinter for JsonLines<'_> {
    fn stamp(&mut self, ts: Option<String>) {
        self.ts = ts.as_deref().map(json::ts_member);
        self.restamp();
    }

    fn namespace(&mut self, ns: &Namespace, _first: bool, _out: &mut dyn Write) -> io::Result<()> {
        self.netns = Some(netns::json_member(ns));
        self.restamp();
        Ok(())
    }

    fn shows_interface_inet6(&self) -> bool {
        true
    }

    fn shows_whole_unix_paths(&self) -> bool {
        true
    }

    fn inet_header(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn inet_socket(
        &mut self,
        protocol: InetProtocol,
        row: &InetSocketRow,
        owners: Option<&SocketOwners>,
        tcp_info: Option<&TcpInfo>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let flags = self.flags;
        self.emit(out, |out| {
            json::sockets::write_inet_socket(out, protocol, row, flags, owners, tcp_info)
        })
    }

    /// Stamped with the transition's own time, whatever the table's stamp.
    fn transition(
        &mut self,
        clock: &Clock,
        transition: &TcpTransition,
        owner: Option<&Task>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let ts = clock.rfc3339(transition.ts_ns);
        let Some(netns) = &self.netns else {
            return json::sockets::write_transition(out, &ts, transition, owner, self.flags);
        };
        self.line.clear();
        json::sockets::write_transition(&mut self.line, &ts, transition, owner, self.flags)?;
        json::stamp_lines(&self.line, netns, out)
    }

    fn unix_header(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn unix_socket(
        &mut self,
        row: &UnixSocketRow,
        owners: Option<&SocketOwners>,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let flags = self.flags;
        self.emit(out, |out| {
            json::sockets::write_unix_socket(out, row, flags, owners)
        })
    }

    fn groups_heading(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn groups(&mut self, memberships: &[Membership], out: &mut dyn Write) -> io::Result<()> {
        self.emit(out, |out| json::groups::write_memberships(memberships, out))
    }

    fn statistics(
        &mut self,
        sections: &[CounterSection],
        shown: ShownProtocols,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        self.emit(out, |out| {
            json::statistics::write_statistics(sections, shown, out)
        })
    }

    fn interfaces_heading(&mut self, _first: bool, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn interface(
        &mut self,
        iface: &Interface,
        inet6: &[Inet6Address],
        out: &mut dyn Write,
    ) -> io::Result<()> {
        self.emit(out, |out| {
            json::interfaces::write_interface(iface, inet6, out)
        })
    }

    fn route_not_configured(
        &mut self,
        _family: RouteFamily,
        _out: &mut dyn Write,
    ) -> io::Result<()> {
        Ok(())
    }

    fn ipv4_routes_heading(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn ipv4_routes(&mut self, routes: &[Ipv4Route], out: &mut dyn Write) -> io::Result<()> {
        self.emit(out, |out| json::route::write_ipv4_routes(routes, out))
    }

    fn ipv4_cache_title(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn ipv4_cache_heading(
        &mut self,
        _header: &CacheHeader,
        _out: &mut dyn Write,
    ) -> io::Result<()> {
        Ok(())
    }

    fn ipv4_cache(&mut self, cache: &Ipv4RouteCache, out: &mut dyn Write) -> io::Result<()> {
        self.emit(out, |out| json::route::write_ipv4_cache(cache, out))
    }

    fn ipv6_routes_heading(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn ipv6_routes(&mut self, routes: &[Ipv6Route], out: &mut dyn Write) -> io::Result<()> {
        let cache = self.flags.cache;
        self.emit(out, |out| {
            json::route::write_ipv6_routes(routes, cache, out)
        })
    }
}
