//! The daemon's live table against the kernel's, as sets of rows.

use std::{path::Path, process::Command, time::Duration};

use crate::{enetstat, netns::Netns, wait};

/// (local, remote, state) of every TCP socket: from the daemon's table, and from the kernel.
pub type SocketSet = std::collections::BTreeSet<(String, String, String)>;

/// Namespace `ns`'s sockets in the daemon's table (the daemon follows every namespace).
pub fn daemon_table(socket: &Path, ns: &Netns) -> SocketSet {
    let out = Command::new(enetstat::binary())
        .args(["status", "--table", "--netns", ns.name(), "--socket"])
        .arg(socket)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = |k: &str| row[k].as_str().unwrap().to_string();
            (text("local"), text("remote"), text("state"))
        })
        .collect()
}

pub fn kernel_table(ns: &Netns) -> SocketSet {
    use ::enetstat::{TcpState, inet_sockets};
    let mut set = SocketSet::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let out = Command::new("ip")
            .args(["netns", "exec", ns.name(), "cat", file])
            .output()
            .unwrap();
        let (rows, _) = inet_sockets::parse(&String::from_utf8_lossy(&out.stdout));
        for row in rows {
            let addr = |ip, port| std::net::SocketAddr::new(ip, port).to_string();
            set.insert((
                addr(row.local, row.local_port),
                addr(row.remote, row.remote_port),
                TcpState::from_raw(row.state).name().to_string(),
            ));
        }
    }
    set
}

/// Waits until the daemon's live table equals the kernel's (both read afresh each time): after a
/// workload ends the daemon still drains its ring, so equality comes within a deadline, or the
/// difference is reported.
pub fn wait_for_table_to_match(ns: &Netns, socket: &Path) {
    let mut last = (SocketSet::new(), SocketSet::new());
    let converged = wait::until_true(
        "the live table to equal the kernel's",
        Duration::from_secs(15),
        || {
            let kernel = kernel_table(ns);
            let table = daemon_table(socket, ns);
            let same = kernel == table;
            last = (kernel, table);
            Ok(same)
        },
    );
    if let Err(err) = converged {
        let (kernel, table) = &last;
        let missing: Vec<_> = kernel.difference(table).take(10).collect();
        let extra: Vec<_> = table.difference(kernel).take(10).collect();
        panic!(
            "{err}: {} kernel sockets, {} in the table; missing {missing:?}, extra {extra:?}",
            kernel.len(),
            table.len()
        );
    }
}
