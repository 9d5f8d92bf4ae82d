//! Bulk traffic for benchmarks: senders and a receiver moving data as fast as they can for a
//! fixed time, over TCP (one stream or several, 128 KiB writes) or UDP (64-byte datagrams from
//! one socket, the per-packet worst case). Run it inside a scratch namespace (`ip netns exec`); the receiver can live in
//! another one (its thread enters it), so a veth pair between two namespaces can be measured.
//!
//! `enetstat-bulk tcp[:STREAMS]|udp SECONDS ADDR DEV [RECEIVER_NETNS]` prints
//! `bytes=N sent=D received=D seconds=S cpu=C rx_packets=P tx_packets=Q`: bytes the receiver got,
//! datagrams sent and received (UDP; 0 for TCP), the seconds measured (TCP: first accept to the
//! end of the last stream at the receiver; UDP: the sender's sending time), the CPU seconds (user + system) both
//! sides used meanwhile (loopback and veth deliver in the sending thread's softirq, so this
//! includes the network stack and any probe on it, unless ksoftirqd took the work), and how much
//! DEV's packet counters in the receiver's namespace grew (from /proc/net/dev).

#![allow(
    unused_crate_dependencies,
    reason = "each binary sees all of the package's dependencies and uses a few"
)]

use std::{
    io::{ErrorKind, Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use enetstat::DevStats;
use enetstat_integration_tests::netns::{self, dev_counters_here};

const TCP_WRITE: usize = 128 * 1024;
const DATAGRAM: usize = 64;

/// What the receiver saw.
#[derive(Default)]
struct Received {
    bytes: u64,
    datagrams: u64,
    /// TCP only: accept to end of stream.
    seconds: f64,
    rx_packets: u64,
    tx_packets: u64,
}

/// DEV's counters in the calling thread's namespace.
fn dev_counters(dev: &str) -> anyhow::Result<DevStats> {
    dev_counters_here()?
        .remove(dev)
        .with_context(|| format!("no interface {dev} in the receiver's namespace"))
}

/// Runs the receiver (`serve`, after binding) on its own thread, in `netns` if given; returns once
/// it is bound.
fn start_receiver(
    netns: Option<String>,
    dev: String,
    bind: impl FnOnce() -> anyhow::Result<Box<dyn FnOnce() -> anyhow::Result<Received> + Send>>
    + Send
    + 'static,
) -> anyhow::Result<thread::JoinHandle<anyhow::Result<Received>>> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let receiver = move || -> anyhow::Result<Received> {
        let serve = match bind() {
            Ok(serve) => serve,
            Err(err) => {
                let _ = ready_tx.send(());
                return Err(err);
            }
        };
        let before = dev_counters(&dev)?;
        ready_tx.send(()).ok();
        let mut received = serve()?;
        // Let the last acknowledgements land before reading the counters again.
        thread::sleep(Duration::from_millis(50));
        let after = dev_counters(&dev)?;
        received.rx_packets = after.rx_packets - before.rx_packets;
        received.tx_packets = after.tx_packets - before.tx_packets;
        Ok(received)
    };
    let handle = match netns {
        Some(name) => netns::spawn_in(&name, receiver)?,
        None => thread::spawn(receiver),
    };
    // A receiver that failed to bind says why when joined.
    let _ = ready_rx.recv();
    Ok(handle)
}

/// Reads one stream to its end; returns the bytes read.
fn drain(mut stream: TcpStream) -> anyhow::Result<u64> {
    let mut buf = vec![0u8; TCP_WRITE];
    let mut bytes = 0u64;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes += n as u64,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
}

fn tcp(
    seconds: f64,
    streams: usize,
    addr: SocketAddr,
    dev: String,
    netns: Option<String>,
) -> anyhow::Result<()> {
    let receiver = start_receiver(netns, dev, move || {
        let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
        Ok(Box::new(move || {
            let (first, _) = listener.accept()?;
            let start = Instant::now();
            let bytes = thread::scope(|scope| -> anyhow::Result<u64> {
                let mut readers = vec![scope.spawn(|| drain(first))];
                for _ in 1..streams {
                    let (stream, _) = listener.accept()?;
                    readers.push(scope.spawn(|| drain(stream)));
                }
                let mut bytes = 0;
                for reader in readers {
                    bytes += reader
                        .join()
                        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
                }
                Ok(bytes)
            })?;
            Ok(Received {
                bytes,
                seconds: start.elapsed().as_secs_f64(),
                ..Received::default()
            })
        }))
    })?;
    let cpu_start = cpu_seconds();
    let duration = Duration::from_secs_f64(seconds);
    let send = || -> anyhow::Result<()> {
        let mut stream =
            TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
        let buf = vec![0x5au8; TCP_WRITE];
        let start = Instant::now();
        while start.elapsed() < duration {
            stream.write_all(&buf)?;
        }
        Ok(())
    };
    let sent = thread::scope(|scope| {
        let senders: Vec<_> = (0..streams).map(|_| scope.spawn(send)).collect();
        senders
            .into_iter()
            .map(|s| s.join().map_err(|_| anyhow::anyhow!("sender panicked"))?)
            .collect::<anyhow::Result<Vec<()>>>()
    });
    if let Err(err) = sent {
        // The receiver may be waiting in accept() for a sender that never came.
        if receiver.is_finished() {
            join(receiver)?;
        }
        return Err(err);
    }
    let received = join(receiver)?;
    println!(
        "bytes={} sent=0 received=0 seconds={:.3} cpu={:.3} rx_packets={} tx_packets={}",
        received.bytes,
        received.seconds,
        cpu_seconds() - cpu_start,
        received.rx_packets,
        received.tx_packets
    );
    Ok(())
}

fn udp(seconds: f64, addr: SocketAddr, dev: String, netns: Option<String>) -> anyhow::Result<()> {
    let done = Arc::new(AtomicBool::new(false));
    let sender_done = done.clone();
    let receiver = start_receiver(netns, dev, move || {
        let socket = UdpSocket::bind(addr).with_context(|| format!("binding {addr}"))?;
        // The timeout lets the receiver notice the end: datagrams carry no end of stream.
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(Box::new(move || {
            let mut buf = [0u8; 2048];
            let mut received = Received::default();
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        received.bytes += n as u64;
                        received.datagrams += 1;
                    }
                    Err(err)
                        if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                    {
                        if done.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    Err(err) if err.kind() == ErrorKind::Interrupted => {}
                    Err(err) => return Err(err.into()),
                }
            }
            Ok(received)
        }))
    })?;
    let cpu_start = cpu_seconds();
    let sent = (|| -> anyhow::Result<(u64, f64)> {
        let socket = UdpSocket::bind(match addr {
            SocketAddr::V4(_) => "0.0.0.0:0",
            SocketAddr::V6(_) => "[::]:0",
        })?;
        socket.connect(addr)?;
        let payload = [0x5au8; DATAGRAM];
        let duration = Duration::from_secs_f64(seconds);
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < duration {
            // Check the clock every 64 datagrams only.
            for _ in 0..64 {
                match socket.send(&payload) {
                    Ok(_) => sent += 1,
                    // A full queue on the way: the datagram is not sent, and not counted.
                    Err(err) if err.raw_os_error() == Some(libc::ENOBUFS) => {}
                    Err(err) => return Err(err.into()),
                }
            }
        }
        Ok((sent, start.elapsed().as_secs_f64()))
    })();
    sender_done.store(true, Ordering::Relaxed);
    let received = join(receiver)?;
    let (sent, seconds) = sent?;
    println!(
        "bytes={} sent={sent} received={} seconds={seconds:.3} cpu={:.3} rx_packets={} tx_packets={}",
        received.bytes,
        received.datagrams,
        cpu_seconds() - cpu_start,
        received.rx_packets,
        received.tx_packets
    );
    Ok(())
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: zeroed rusage is valid; getrusage fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn join(receiver: thread::JoinHandle<anyhow::Result<Received>>) -> anyhow::Result<Received> {
    receiver
        .join()
        .map_err(|_| anyhow::anyhow!("receiver thread panicked"))?
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, seconds, addr, dev, rest @ ..] = args.as_slice() else {
        bail!("usage: enetstat-bulk tcp[:STREAMS]|udp SECONDS ADDR DEV [RECEIVER_NETNS]");
    };
    let seconds: f64 = seconds
        .parse()
        .with_context(|| format!("bad SECONDS {seconds:?}"))?;
    let addr: SocketAddr = addr.parse().with_context(|| format!("bad ADDR {addr:?}"))?;
    let netns = rest.first().cloned();
    match mode.split_once(':') {
        _ if mode == "tcp" => tcp(seconds, 1, addr, dev.clone(), netns),
        Some(("tcp", n)) => match n.parse::<usize>() {
            Ok(streams) if streams > 0 => tcp(seconds, streams, addr, dev.clone(), netns),
            _ => bail!("bad stream count in {mode:?}"),
        },
        _ if mode == "udp" => udp(seconds, addr, dev.clone(), netns),
        _ => bail!("unknown mode {mode:?}: tcp, tcp:STREAMS or udp"),
    }
}
