//! Connection patterns with known TCP state sequences. Call them inside a scratch namespace.

use std::{
    io::Read as _,
    net::{SocketAddr, TcpListener, TcpStream},
    os::fd::AsRawFd as _,
    time::Duration,
};

use anyhow::Context as _;

/// Client connects, client closes first, server reads EOF and closes.
pub fn active_close_by_client(listener: &TcpListener) -> anyhow::Result<()> {
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (mut server, _) = listener.accept()?;
    drop(client);
    let mut buf = [0u8; 1];
    let n = server.read(&mut buf)?; // EOF once the client's FIN arrives
    anyhow::ensure!(n == 0, "expected EOF");
    drop(server);
    Ok(())
}

/// Server closes first (its socket ends in TIME_WAIT), the client reads EOF and closes.
pub fn active_close_by_server(listener: &TcpListener) -> anyhow::Result<()> {
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    drop(server);
    let mut buf = [0u8; 1];
    let n = client.read(&mut buf)?;
    anyhow::ensure!(n == 0, "expected EOF");
    drop(client);
    Ok(())
}

/// Both ends close at once (FIN_WAIT1 -> CLOSING on one side): each fills the other's receive
/// buffer, both shut down writing, so each FIN waits behind data the other has not read, then
/// both drain. On loopback a FIN is otherwise handled inside the sender's own system call.
pub fn simultaneous_close(listener: &TcpListener) -> anyhow::Result<()> {
    let mut a = TcpStream::connect(listener.local_addr()?)?;
    let (mut b, _) = listener.accept()?;
    for stream in [&mut a, &mut b] {
        stream.set_nonblocking(true)?;
        fill(stream)?;
    }
    a.shutdown(std::net::Shutdown::Write)?;
    b.shutdown(std::net::Shutdown::Write)?;
    let mut buf = vec![0u8; 1 << 16];
    let (mut a_done, mut b_done) = (false, false);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !(a_done && b_done) {
        anyhow::ensure!(std::time::Instant::now() < deadline, "drain did not finish");
        for (stream, done) in [(&mut a, &mut a_done), (&mut b, &mut b_done)] {
            while !*done {
                match stream.read(&mut buf) {
                    Ok(0) => *done = true,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}

/// Writes until the socket's send buffer (and its peer's receive buffer) is full.
fn fill(stream: &mut TcpStream) -> anyhow::Result<()> {
    let chunk = vec![0u8; 1 << 16];
    loop {
        match std::io::Write::write(stream, &chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The tightest loop body: connect, accept, client closes, server closes, without waiting for
/// anything. On loopback the FIN is processed inside the client's close(), so the sequence is the
/// same as [`active_close_by_client`]'s.
pub fn connect_accept_close(listener: &TcpListener) -> anyhow::Result<()> {
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    drop(client);
    drop(server);
    Ok(())
}

/// A connection that moves known payloads: the client sends `to_server` bytes, the server reads
/// them all and answers with `to_client` bytes, and after `lifetime` the client closes first
/// (or, with `reset`, aborts with an RST) and the server closes once it sees the end.
pub fn exchange(
    listener: &TcpListener,
    to_server: usize,
    to_client: usize,
    lifetime: Duration,
    reset: bool,
) -> anyhow::Result<()> {
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    exchange_on(client, server, to_server, to_client, lifetime, reset)
}

/// [`exchange`] on a connection that is already open.
pub fn exchange_on(
    mut client: TcpStream,
    mut server: TcpStream,
    to_server: usize,
    to_client: usize,
    lifetime: Duration,
    reset: bool,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    client.write_all(&vec![b'c'; to_server])?;
    server.read_exact(&mut vec![0u8; to_server])?;
    server.write_all(&vec![b's'; to_client])?;
    client.read_exact(&mut vec![0u8; to_client])?;
    std::thread::sleep(lifetime);
    if reset {
        set_linger_zero(&client)?;
    }
    drop(client);
    server.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 1];
    match server.read(&mut buf) {
        Ok(0) if !reset => Ok(()),
        Err(e) if reset && e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        other => anyhow::bail!(
            "expected the client's {}, got {other:?}",
            if reset { "reset" } else { "FIN" }
        ),
    }
}

/// A connect to a port nobody listens on.
pub fn refused_connect(addr: SocketAddr) -> anyhow::Result<()> {
    match TcpStream::connect(addr) {
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => Ok(()),
        Err(err) => Err(err).context("expected ECONNREFUSED"),
        Ok(_) => anyhow::bail!("connect to {addr} unexpectedly succeeded"),
    }
}

/// Client aborts with SO_LINGER 0 (sends RST); the server sees the reset.
pub fn rst_abort_by_client(listener: &TcpListener) -> anyhow::Result<()> {
    rst_abort_by_client_after(listener, Duration::ZERO)
}

/// [`rst_abort_by_client`] after the connection has been established for `lifetime`.
pub fn rst_abort_by_client_after(listener: &TcpListener, lifetime: Duration) -> anyhow::Result<()> {
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (mut server, _) = listener.accept()?;
    std::thread::sleep(lifetime);
    set_linger_zero(&client)?;
    drop(client);
    server.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 1];
    let reset = server.read(&mut buf);
    anyhow::ensure!(
        matches!(&reset, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "expected a reset, got {reset:?}"
    );
    Ok(())
}

fn set_linger_zero(stream: &TcpStream) -> anyhow::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid socket fd and option buffer.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as u32,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).context("SO_LINGER");
    }
    Ok(())
}

/// Sets the calling thread's name (its comm), which the kernel truncates to 15 bytes.
pub fn set_thread_comm(name: &[u8]) -> anyhow::Result<()> {
    let mut buf = [0u8; 16];
    let len = name.len().min(15);
    buf[..len].copy_from_slice(&name[..len]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated buffer of at most 16 bytes.
    if unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("PR_SET_NAME");
    }
    Ok(())
}
