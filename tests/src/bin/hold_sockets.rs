//! Holds N TCP sockets open for snapshot benchmarks: N/2 established loopback pairs and a listener
//! on PORT. Run it inside a scratch namespace; it prints `ready N` and waits for stdin to close.
//! One process can hold only as many sockets as its fd limit allows, so harnesses start several.

#![allow(
    unused_crate_dependencies,
    reason = "each binary sees all of the package's dependencies and uses a few"
)]

use std::{
    io::{BufRead as _, Write as _},
    net::{TcpListener, TcpStream},
};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let sockets: usize = args.next().as_deref().unwrap_or("10000").parse()?;
    let port: u16 = args.next().as_deref().unwrap_or("20000").parse()?;
    raise_fd_limit(sockets as u64 + 64)?;
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let mut held = Vec::with_capacity(sockets);
    for _ in 0..sockets / 2 {
        let client = TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        held.push(client);
        held.push(server);
    }
    println!("ready {}", held.len());
    std::io::stdout().flush()?;
    // Hold until the harness closes our stdin.
    for _ in std::io::stdin().lock().lines() {}
    drop(listener);
    Ok(())
}

/// Raises the soft fd limit to `wanted`, which must be within the hard limit.
fn raise_fd_limit(wanted: u64) -> anyhow::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    anyhow::ensure!(
        wanted <= limit.rlim_max,
        "{wanted} fds wanted, but the hard limit is {}",
        limit.rlim_max
    );
    limit.rlim_cur = wanted;
    anyhow::ensure!(
        // SAFETY: a valid rlimit struct.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0,
        "raising RLIMIT_NOFILE to {wanted}: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}
