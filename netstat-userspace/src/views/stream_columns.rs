//! The columns that every stream line begins with, transitions and lifetimes alike: when, whose,
//! and which socket.

use super::{
    clock::{Clock, DateCache},
    line::Line,
};
use std::net::IpAddr;

use crate::{
    events::{Task, TcpTransition, health::HealthEvent},
    model::sockets::Family,
};

/// What every stream row says of its socket: transitions, lifetimes and health events alike.
pub(super) trait StreamSocket {
    fn ts_ns(&self) -> u64;
    /// The kernel address, 0 when there is no socket.
    fn skaddr(&self) -> u64;
    fn cookie(&self) -> Option<u64>;
    fn family(&self) -> Family;
    fn local(&self) -> (&IpAddr, u16);
    fn remote(&self) -> (&IpAddr, u16);
    /// The namespace inode, 0 when unknown.
    fn netns(&self) -> u32;
}

/// Implements [`StreamSocket`] for an event type with the fields of that name.
macro_rules! stream_socket {
    ($event:ty) => {
        impl StreamSocket for $event {
            fn ts_ns(&self) -> u64 {
                self.ts_ns
            }
            fn skaddr(&self) -> u64 {
                self.skaddr
            }
            fn cookie(&self) -> Option<u64> {
                self.cookie
            }
            fn family(&self) -> Family {
                self.family
            }
            fn local(&self) -> (&IpAddr, u16) {
                (&self.local, self.local_port)
            }
            fn remote(&self) -> (&IpAddr, u16) {
                (&self.remote, self.remote_port)
            }
            fn netns(&self) -> u32 {
                self.netns
            }
        }
    };
}

stream_socket!(TcpTransition);
stream_socket!(HealthEvent);

/// The fields every stream object begins with: what, when, whose, and which socket. Leaves the
/// object open after `"rport":N`.
pub(super) fn write_socket_json(
    line: &mut Line,
    clock: &Clock,
    dates: &mut DateCache,
    event: &str,
    t: &impl StreamSocket,
    owner: Option<Task>,
) {
    line.bytes(b"{\"event\":\"");
    line.bytes(event.as_bytes());
    line.bytes(b"\",\"ts\":\"");
    clock.write_rfc3339(dates, t.ts_ns(), line);
    // "0x0" for a health event without a socket.
    line.bytes(b"\",\"skaddr\":\"0x");
    line.hex(t.skaddr());
    line.byte(b'"');
    // The kernel's socket cookie (`null` from the classic tracepoint): unlike `skaddr`, never
    // reused, and the `cookie` of `ss -e`'s sockets.
    line.bytes(b",\"cookie\":");
    line.json_opt(t.cookie());
    line.bytes(b",\"pid\":");
    line.json_opt(owner.map(|o| u64::from(o.tgid)));
    line.bytes(b",\"comm\":");
    match owner {
        Some(o) => line.json_escaped(o.comm.as_bytes()),
        None => line.bytes(b"null"),
    }
    line.bytes(b",\"family\":\"");
    line.bytes(t.family().name().as_bytes());
    let ((local, local_port), (remote, remote_port)) = (t.local(), t.remote());
    line.bytes(b"\",\"laddr\":\"");
    line.ip(local);
    line.bytes(b"\",\"lport\":");
    line.decimal(u64::from(local_port));
    line.bytes(b",\"raddr\":\"");
    line.ip(remote);
    line.bytes(b"\",\"rport\":");
    line.decimal(u64::from(remote_port));
}

/// `,"netns":N}` and the newline: the network namespace inode, as `ls -iL /proc/PID/ns/net`
/// shows it, `null` when unknown.
pub(super) fn end_json_with_netns(line: &mut Line, t: &impl StreamSocket) {
    line.bytes(b",\"netns\":");
    line.json_opt((t.netns() != 0).then_some(u64::from(t.netns())));
    line.bytes(b"}\n");
}

/// Table columns every stream row begins with: time, owner, endpoints. `w` is the address width.
pub(super) fn leading_header(w: usize) -> String {
    format!(
        "{:<15} {:<7} {:<16} {:<w$} {:<5} {:<w$} {:<5}",
        "TIME", "PID", "COMM", "LADDR", "LPORT", "RADDR", "RPORT"
    )
}

/// The row's columns under [`leading_header`], each padded as `{:<width}` would.
pub(super) fn write_leading_columns(
    line: &mut Line,
    clock: &Clock,
    t: &impl StreamSocket,
    owner: Option<Task>,
    w: usize,
) {
    let start = line.buf.len();
    clock.write_time_of_day(t.ts_ns(), line);
    line.pad_from(start, 15);
    line.byte(b' ');
    let start = line.buf.len();
    match owner {
        Some(o) => line.decimal(u64::from(o.tgid)),
        None => line.byte(b'-'),
    }
    line.pad_from(start, 7);
    line.byte(b' ');
    let columns = match owner {
        Some(o) => line.escaped(o.comm.as_bytes()),
        None => {
            line.byte(b'-');
            1
        }
    };
    line.spaces(16usize.saturating_sub(columns));
    for (addr, port) in [t.local(), t.remote()] {
        line.byte(b' ');
        let start = line.buf.len();
        line.ip(addr);
        line.pad_from(start, w);
        line.byte(b' ');
        let start = line.buf.len();
        line.decimal(u64::from(port));
        line.pad_from(start, 5);
    }
}
