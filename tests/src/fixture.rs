//! A known set of sockets, made inside a scratch namespace and kept open while netstat and
//! enetstat look at them.

use std::{
    io::Write as _,
    net::{Shutdown, TcpListener, TcpStream, UdpSocket},
    os::{
        fd::{FromRawFd as _, OwnedFd},
        linux::net::SocketAddrExt as _,
        unix::net::{SocketAddr as UnixAddr, UnixDatagram, UnixListener, UnixStream},
    },
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context as _;

use crate::netns::Netns;

/// Everything the fixture holds open. Dropping it closes the sockets.
pub struct SocketFixture {
    _held: Vec<Box<dyn Send>>,
    pub dir: PathBuf,
}

/// The unix socket path with control bytes the fixture creates (its file name).
pub const CONTROL_NAME: &str = "ctl\x1b[2J\x07.sock";

fn raw_socket(family: i32, protocol: i32) -> anyhow::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned from here on.
    let fd = unsafe { libc::socket(family, libc::SOCK_RAW, protocol) };
    anyhow::ensure!(
        fd >= 0,
        "socket(SOCK_RAW): {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fd is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn seqpacket_listener(path: &Path) -> anyhow::Result<OwnedFd> {
    // SAFETY: plain socket/bind/listen with a correctly built sockaddr_un.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET, 0);
        anyhow::ensure!(fd >= 0, "socket(SOCK_SEQPACKET)");
        let owned = OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
        for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let len = (size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
        anyhow::ensure!(
            libc::bind(fd, (&raw const addr).cast(), len) == 0,
            "bind seqpacket"
        );
        anyhow::ensure!(libc::listen(fd, 8) == 0, "listen seqpacket");
        Ok(owned)
    }
}

impl SocketFixture {
    /// Builds the sockets inside `ns`. Paths live in a fresh directory under /tmp.
    pub fn build(ns: &Netns) -> anyhow::Result<Self> {
        // One directory per fixture: tests of one binary build theirs in parallel.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "enetstat-fixture-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let d = dir.clone();
        let held = ns
            .run(move || -> anyhow::Result<Vec<Box<dyn Send>>> {
                let mut held: Vec<Box<dyn Send>> = Vec::new();
                // TCP listeners: IPv4, IPv6, and an IPv6 socket on an IPv4-mapped address.
                let v4 = TcpListener::bind("127.0.0.1:8080")?;
                let v6 = TcpListener::bind("[::1]:8443")?;
                let mapped = TcpListener::bind("[::ffff:127.0.0.1]:6010")?;
                let any = TcpListener::bind("0.0.0.0:22")?;
                let any6 = TcpListener::bind("[::]:2222")?;
                // An established pair, with 5 bytes waiting in the server's receive queue.
                let mut client = TcpStream::connect("127.0.0.1:8080")?;
                let (server, _) = v4.accept()?;
                client.write_all(b"hello")?;
                // An established IPv6 pair.
                let client6 = TcpStream::connect("[::1]:8443")?;
                let (server6, _) = v6.accept()?;
                // FIN_WAIT2 (client half-closed) facing CLOSE_WAIT (server has not closed).
                let half = TcpStream::connect("127.0.0.1:8080")?;
                let (half_server, _) = v4.accept()?;
                half.shutdown(Shutdown::Write)?;
                // TIME_WAIT: the client closes first, the server follows.
                let tw = TcpStream::connect("[::ffff:127.0.0.1]:6010")?;
                let (tw_server, _) = mapped.accept()?;
                drop(tw);
                std::thread::sleep(Duration::from_millis(20));
                drop(tw_server);
                // UDP: bound, and connected.
                let udp = UdpSocket::bind("127.0.0.1:5353")?;
                let udp_connected = UdpSocket::bind("127.0.0.1:0")?;
                udp_connected.connect("127.0.0.1:5353")?;
                let udp6 = UdpSocket::bind("[::1]:123")?;
                // Raw sockets.
                let raw = raw_socket(libc::AF_INET, libc::IPPROTO_ICMP)?;
                let raw6 = raw_socket(libc::AF_INET6, libc::IPPROTO_ICMPV6)?;
                // UNIX: stream listener and a connected pair, datagram, seqpacket, unnamed pair,
                // abstract name, a path with a space, a path with control bytes.
                let stream = UnixListener::bind(d.join("stream.sock"))?;
                let stream_client = UnixStream::connect(d.join("stream.sock"))?;
                let (stream_server, _) = stream.accept()?;
                let dgram = UnixDatagram::bind(d.join("dgram.sock"))?;
                let seqpacket = seqpacket_listener(&d.join("seqpacket.sock"))?;
                let (pair_a, pair_b) = UnixStream::pair()?;
                let abstract_addr = UnixAddr::from_abstract_name(b"enetstat-fixture\0abstract")?;
                let abstract_listener = UnixListener::bind_addr(&abstract_addr)?;
                let spaced = UnixListener::bind(d.join("with space.sock"))?;
                let control = UnixDatagram::bind(d.join(CONTROL_NAME))?;
                held.push(Box::new((
                    v4, v6, mapped, any, any6, client, server, client6, server6,
                )));
                held.push(Box::new((
                    half,
                    half_server,
                    udp,
                    udp_connected,
                    udp6,
                    raw,
                    raw6,
                )));
                held.push(Box::new((
                    stream,
                    stream_client,
                    stream_server,
                    dgram,
                    seqpacket,
                )));
                held.push(Box::new((
                    pair_a,
                    pair_b,
                    abstract_listener,
                    spaced,
                    control,
                )));
                Ok(held)
            })
            .context("building the socket fixture")?;
        Ok(SocketFixture { _held: held, dir })
    }
}

impl Drop for SocketFixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
