//! Which process owns each socket: the owners netstat -p shows, as data (`sources::proc::owners`
//! scans /proc for them).

use std::{collections::HashMap, net::IpAddr, sync::Arc};

use super::containers::Container;

/// A socket's owner, labelled as netstat labels it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) pid: u32,
    /// `PID/program`: argv[0] (its basename if absolute), cut to netstat's 19 bytes. Untrusted.
    pub(crate) label: Vec<u8>,
    /// The container its cgroup names (`--containers`, JSON's `owner.container`): known for
    /// owners a /proc scan found, not for those the probe named. Shared by the process's sockets.
    pub(crate) container: Option<Arc<Container>>,
}

/// A connection's endpoints: (local address, local port, remote address, remote port).
pub(crate) type Connection = (IpAddr, u16, IpAddr, u16);

/// netstat's PROGNAME_WIDTH less its NUL: the longest `PID/program` it prints.
const LABEL_LEN: usize = 19;

impl Owner {
    /// The owner `pid` running `program`, labelled `PID/program` and cut to netstat's 19 bytes,
    /// as every view shows it.
    pub(crate) fn new(pid: u32, program: &[u8]) -> Self {
        let mut label = format!("{pid}/").into_bytes();
        label.extend_from_slice(program);
        label.truncate(LABEL_LEN);
        Owner {
            pid,
            label,
            container: None,
        }
    }

    /// The label without its `PID/`: the program as netstat shows it. Untrusted.
    pub(crate) fn program(&self) -> &[u8] {
        let prefix = self
            .label
            .iter()
            .position(|&b| b == b'/')
            .map_or(0, |slash| slash + 1);
        &self.label[prefix..]
    }
}

/// Socket inode -> owner. The lowest pid holding a socket wins, as in netstat (it walks /proc in
/// readdir order, which is ascending pid order, and keeps the first).
#[derive(Debug, Default)]
pub(crate) struct SocketOwners {
    by_inode: HashMap<u64, Owner>,
    /// Last owners of sockets no process holds any more (inode 0 in the kernel's tables), by
    /// connection: a daemon, which saw who made them, fills this; a one-off snapshot cannot.
    last_owners: HashMap<Connection, Owner>,
    /// Some /proc/PID/fd directory could not be read (not root).
    pub(crate) incomplete: bool,
}

impl SocketOwners {
    /// No socket's owner is known.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_inode.is_empty()
    }

    pub(crate) fn get(&self, inode: u64) -> Option<&Owner> {
        self.by_inode.get(&inode)
    }

    /// The owner of a socket: by its inode while a process holds it, else its last owner.
    pub(crate) fn owner_of(&self, inode: u64, connection: Connection) -> Option<&Owner> {
        if inode != 0 {
            self.get(inode)
        } else {
            self.last_owners.get(&connection)
        }
    }

    /// Records the process holding a socket (what a scan of /proc finds).
    pub(crate) fn insert(&mut self, inode: u64, owner: Owner) {
        self.by_inode.insert(inode, owner);
    }

    /// Replaces the last owners known for sockets without a holder.
    pub(crate) fn set_last_owners(&mut self, last_owners: HashMap<Connection, Owner>) {
        self.last_owners = last_owners;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_without_a_holder_show_their_last_owner() {
        let mut owners = SocketOwners::default();
        let connection: Connection = (
            "127.0.0.1".parse().unwrap(),
            40000,
            "127.0.0.1".parse().unwrap(),
            80,
        );
        let gone = Owner {
            pid: 7,
            label: b"7/curl".to_vec(),
            container: None,
        };
        owners.set_last_owners([(connection, gone.clone())].into_iter().collect());
        assert_eq!(owners.owner_of(0, connection), Some(&gone));
        assert_eq!(
            owners.owner_of(12345, connection),
            None,
            "a held socket goes by its inode"
        );
        let other: Connection = (
            "127.0.0.1".parse().unwrap(),
            40001,
            "127.0.0.1".parse().unwrap(),
            80,
        );
        assert_eq!(owners.owner_of(0, other), None);
    }
}
