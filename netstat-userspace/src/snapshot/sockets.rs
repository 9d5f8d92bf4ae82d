//! The socket listings: netstat's default view and -t -u -U -S -w -x (netstat.c main()'s loop).

use crate::model::filter::{Candidate, Filter};
use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use anyhow::{Context as _, bail};

use crate::{
    model::{
        netstat::OutputFormat,
        owners::SocketOwners,
        sockets::{InetProtocol, InetSocketRow, UnixSocketRow},
        tcp_info::TcpInfo,
    },
    sources::{
        netlink::sock_diag::{self, DiagSocket, DumpRequest},
        proc::{inet_sockets, owners::ScanOwners as _, read_net_file, unix_sockets},
    },
    views::{
        netstat::NetstatFlags,
        netstat::sockets::{inet_row_shown, unix_row_shown},
        printer::SnapshotPrinter,
    },
};

/// Lists sockets, with owners from a /proc/*/fd scan when -p asks for them.
pub(crate) fn run(
    flags: &NetstatFlags,
    filter: Option<&Filter>,
    hidden: &[u64],
    printer: &mut dyn SnapshotPrinter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let owners = flags.programs.then(|| scan_owners_for(flags));
    list(flags, filter, owners.as_ref(), hidden, printer, out)
}

/// Lists sockets with the owners given (a daemon passes the ones it keeps), leaving out the
/// sockets whose inodes are in `hidden` (a daemon's own control connection).
/// TCP and UDP rows the filter rejects are left out too.
pub(crate) fn list(
    flags: &NetstatFlags,
    filter: Option<&Filter>,
    owners: Option<&SocketOwners>,
    hidden: &[u64],
    printer: &mut dyn SnapshotPrinter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let named = flags.named_protocols;
    let inet = !named || flags.tcp || flags.sctp || flags.udp || flags.udplite || flags.raw;
    if inet {
        printer.inet_header(out)?;
    }
    if !named || flags.tcp {
        list_inet(InetProtocol::Tcp, flags, filter, owners, printer, out)?;
    }
    if !named || flags.sctp {
        check_sctp(flags)?;
    }
    if !named || flags.udp {
        list_inet(InetProtocol::Udp, flags, filter, owners, printer, out)?;
    }
    if !named || flags.udplite {
        list_inet(InetProtocol::UdpLite, flags, filter, owners, printer, out)?;
    }
    if !named || flags.raw {
        list_inet(InetProtocol::Raw, flags, filter, owners, printer, out)?;
    }
    if flags.groups {
        super::groups::run(flags, printer, out)?;
    }
    if !named || flags.unix {
        list_unix(flags, owners, hidden, printer, out)?;
    }
    Ok(())
}

/// The /proc/*/fd scan, with netstat's note when some processes could not be read (one line
/// when no socket's owner could be read at all, else the two-line one: netstat.c
/// prg_cache_load), reading owners' cgroups only for views that show containers (JSON's
/// `owner.container`, `--containers`): netstat's own `-p` does not pay for them.
pub(super) fn scan_owners_for(flags: &NetstatFlags) -> SocketOwners {
    let containers = flags.containers || flags.format == OutputFormat::Json;
    report_unreadable(SocketOwners::scan_with(containers))
}

fn report_unreadable(scanned: SocketOwners) -> SocketOwners {
    if scanned.incomplete && scanned.is_empty() {
        // SAFETY: geteuid cannot fail and touches no memory.
        let euid = unsafe { libc::geteuid() };
        eprintln!("(No info could be read for \"-p\": geteuid()={euid} but you should be root.)");
    } else if scanned.incomplete {
        eprintln!(
            "(Not all processes could be identified, non-owned process info\n will not be shown, you would have to be root to see it all.)"
        );
    }
    scanned
}

/// netstat's "no support" rule for a protocol whose IPv4 file is missing: silent when the
/// protocol was implied, an error when it was named.
fn missing_protocol(description: &str, flags: &NetstatFlags) -> anyhow::Result<()> {
    if !flags.protocols_implied && flags.named_protocols {
        bail!("no support for `{description}' on this system.");
    }
    if !flags.protocols_implied && flags.verbose {
        eprintln!("enetstat: no support for `{description}' on this system.");
    }
    Ok(())
}

fn list_inet(
    protocol: InetProtocol,
    flags: &NetstatFlags,
    filter: Option<&Filter>,
    owners: Option<&SocketOwners>,
    printer: &mut dyn SnapshotPrinter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let named = flags.named_protocols;
    let wanted = |v6: bool| {
        !named
            || if v6 {
                flags.families.inet6
            } else {
                flags.families.inet
            }
    };
    let mut both = (wanted(false) && wanted(true))
        .then(|| tcp_from_one_sock_diag_dump(protocol, flags))
        .flatten();
    // Rows read from /proc (-o, or no sock_diag) get their tcp_info from a dump of its own.
    let mut joined: Option<TcpInfoByConnection> = None;
    for v6 in [false, true] {
        if !wanted(v6) {
            continue;
        }
        let dumped = both
            .as_mut()
            .map(|(v4_rows, v6_rows)| std::mem::take(if v6 { v6_rows } else { v4_rows }));
        let rows = match dumped.or_else(|| from_sock_diag(protocol, v6, flags)) {
            Some(rows) => rows,
            None => match from_proc(protocol, v6)? {
                Some(rows) if protocol == InetProtocol::Tcp && flags.tcp_info => {
                    let infos = joined.get_or_insert_with(TcpInfoByConnection::dump);
                    InetRows::joined(rows, infos)
                }
                Some(rows) => InetRows::plain(rows),
                None => {
                    if !v6 {
                        missing_protocol(protocol.description(), flags)?;
                    }
                    continue;
                }
            },
        };
        for (row, tcp_info) in rows
            .iter()
            .filter(|(row, _)| inet_row_shown(protocol, row, flags))
            .filter(|(row, _)| filter.is_none_or(|f| filter_accepts(protocol, f, row)))
        {
            printer.inet_socket(protocol, row, owners, tcp_info, out)?;
        }
    }
    Ok(())
}

/// One protocol and family's rows, with each TCP socket's tcp_info when --tcp-info asked for it
/// (`tcp_info` is empty otherwise: the default path allocates nothing more).
#[derive(Default)]
struct InetRows {
    rows: Vec<InetSocketRow>,
    tcp_info: Vec<Option<Box<TcpInfo>>>,
}

impl InetRows {
    fn plain(rows: Vec<InetSocketRow>) -> Self {
        InetRows {
            rows,
            tcp_info: Vec::new(),
        }
    }

    fn from_diag(sockets: Vec<DiagSocket>, tcp_info: bool) -> Self {
        if !tcp_info {
            return InetRows::plain(sockets.into_iter().map(|socket| socket.row).collect());
        }
        let (rows, tcp_info) = sockets
            .into_iter()
            .map(|socket| (socket.row, socket.tcp_info))
            .unzip();
        InetRows { rows, tcp_info }
    }

    fn joined(rows: Vec<InetSocketRow>, infos: &TcpInfoByConnection) -> Self {
        let tcp_info = rows
            .iter()
            .map(|row| infos.get(row).copied().map(Box::new))
            .collect();
        InetRows { rows, tcp_info }
    }

    fn iter(&self) -> impl Iterator<Item = (&InetSocketRow, Option<&TcpInfo>)> {
        let info = |i: usize| self.tcp_info.get(i).and_then(Option::as_deref);
        self.rows
            .iter()
            .enumerate()
            .map(move |(i, row)| (row, info(i)))
    }
}

/// tcp_info by socket, for rows that come from /proc: the inode and both endpoints name a
/// socket (an orphaned one has inode 0, but its endpoints are its own).
struct TcpInfoByConnection(HashMap<(u64, IpAddr, u16, IpAddr, u16), Box<TcpInfo>>);

impl TcpInfoByConnection {
    /// Every TCP socket's; none when sock_diag is refused (then every column shows `-`).
    fn dump() -> Self {
        let sockets = sock_diag::dump_tcp(u32::MAX, true).unwrap_or_default();
        TcpInfoByConnection(
            sockets
                .into_iter()
                .filter_map(|socket| Some((Self::key(&socket.row), socket.tcp_info?)))
                .collect(),
        )
    }

    fn key(row: &InetSocketRow) -> (u64, IpAddr, u16, IpAddr, u16) {
        (
            row.inode,
            row.local,
            row.local_port,
            row.remote,
            row.remote_port,
        )
    }

    fn get(&self, row: &InetSocketRow) -> Option<&TcpInfo> {
        self.0.get(&Self::key(row)).map(|info| &**info)
    }
}

/// ss filters TCP and UDP sockets (UDP ones as ESTABLISHED when connected, else CLOSE, as the
/// kernel numbers them); it has no filter for the other protocols, so they are left out.
fn filter_accepts(protocol: InetProtocol, filter: &Filter, row: &InetSocketRow) -> bool {
    matches!(protocol, InetProtocol::Tcp | InetProtocol::Udp)
        && filter.accepts(&Candidate {
            state: row.state,
            local: SocketAddr::new(row.local, row.local_port),
            remote: SocketAddr::new(row.remote, row.remote_port),
        })
}

/// Both families' TCP rows from one sock_diag request (one walk of the kernel's tables where it
/// can, half the kernel time of a walk per family), split into IPv4 and IPv6 in the kernel's
/// order. None: read per family (sock_diag refused, or /proc is needed).
fn tcp_from_one_sock_diag_dump(
    protocol: InetProtocol,
    flags: &NetstatFlags,
) -> Option<(InetRows, InetRows)> {
    if protocol != InetProtocol::Tcp {
        return None;
    }
    let (_, states) = sock_diag_request(protocol, flags)?;
    let sockets = sock_diag::dump_tcp(states, flags.tcp_info).ok()?;
    let (v4, v6) = sockets
        .into_iter()
        .partition(|socket| socket.row.local.is_ipv4());
    Some((
        InetRows::from_diag(v4, flags.tcp_info),
        InetRows::from_diag(v6, flags.tcp_info),
    ))
}

/// The fast path: a sock_diag dump, when the kernel offers one for this protocol and no
/// column needs /proc's own timer fields (-o). None means "read /proc instead".
fn from_sock_diag(protocol: InetProtocol, v6: bool, flags: &NetstatFlags) -> Option<InetRows> {
    let (diag_protocol, states) = sock_diag_request(protocol, flags)?;
    // In the same dump: INET_DIAG_INFO is only asked for with --tcp-info, and only of TCP.
    let tcp_info = flags.tcp_info && protocol == InetProtocol::Tcp;
    let sockets = sock_diag::dump(DumpRequest {
        v6,
        protocol: diag_protocol,
        states,
        tcp_info,
    })
    .ok()?;
    Some(InetRows::from_diag(sockets, tcp_info))
}

/// The protocol and states a sock_diag dump asks for; None where /proc must be read.
fn sock_diag_request(protocol: InetProtocol, flags: &NetstatFlags) -> Option<(u8, u32)> {
    const LISTEN: u32 = 1 << 10;
    if flags.timers {
        return None;
    }
    let (protocol, states) = match protocol {
        InetProtocol::Tcp if flags.all => (libc::IPPROTO_TCP, u32::MAX),
        InetProtocol::Tcp if flags.listening => (libc::IPPROTO_TCP, LISTEN),
        InetProtocol::Tcp => (libc::IPPROTO_TCP, !LISTEN),
        InetProtocol::Udp => (libc::IPPROTO_UDP, u32::MAX),
        InetProtocol::UdpLite => (libc::IPPROTO_UDPLITE, u32::MAX),
        InetProtocol::Raw => return None,
    };
    Some((protocol as u8, states))
}

/// /proc/net/<protocol>: None when the kernel lacks the protocol.
fn from_proc(protocol: InetProtocol, v6: bool) -> anyhow::Result<Option<Vec<InetSocketRow>>> {
    let file = protocol.proc_file(v6);
    let Some(bytes) = read_net_file(file).with_context(|| format!("reading /proc/net/{file}"))?
    else {
        return Ok(None);
    };
    let (rows, bogus) = inet_sockets::parse(&String::from_utf8_lossy(&bytes));
    for _ in 0..bogus {
        eprintln!("warning, got bogus {} line.", protocol.services());
    }
    Ok(Some(rows))
}

/// SCTP endpoints and associations come from /proc/net/sctp/*, which only exists with the sctp
/// module loaded. enetstat does not format SCTP rows; it says so rather than print nothing.
fn check_sctp(flags: &NetstatFlags) -> anyhow::Result<()> {
    let files: &[&str] = match (flags.all, flags.listening) {
        (true, _) => &["sctp/eps", "sctp/assocs"],
        (false, true) => &["sctp/eps"],
        (false, false) => &["sctp/assocs"],
    };
    for file in files {
        if read_net_file(file)?.is_some() {
            bail!("SCTP sockets are present, but enetstat cannot list them yet");
        }
        missing_protocol("AF INET (sctp)", flags)?;
    }
    Ok(())
}

fn list_unix(
    flags: &NetstatFlags,
    owners: Option<&SocketOwners>,
    hidden: &[u64],
    printer: &mut dyn SnapshotPrinter,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    printer.unix_header(out)?;
    let Some(bytes) = read_net_file("unix").context("reading /proc/net/unix")? else {
        return missing_protocol("AF UNIX", flags);
    };
    let (mut rows, bogus) = unix_sockets::parse(&bytes);
    for _ in 0..bogus {
        eprintln!("warning, got bogus unix line.");
    }
    if printer.shows_whole_unix_paths() {
        // JSON promises the whole path, which /proc cuts at a newline: take the names from
        // unix_diag (text keeps netstat's bytes). Without it, /proc's paths stand.
        if let Ok(names) = crate::sources::netlink::unix_diag::names() {
            for row in &mut rows {
                if let Some(name) = row.inode.and_then(|inode| names.get(&inode)) {
                    row.path.clone_from(name);
                }
            }
        }
    }
    let visible = |row: &&UnixSocketRow| {
        unix_row_shown(row, flags) && !row.inode.is_some_and(|inode| hidden.contains(&inode))
    };
    for row in rows.iter().filter(visible) {
        printer.unix_socket(row, owners, out)?;
    }
    Ok(())
}
