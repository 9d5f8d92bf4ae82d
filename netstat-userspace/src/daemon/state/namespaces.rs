//! The daemon's namespaces: how each is found, read, followed blind, and freed (see the
//! README's "Every network namespace").

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use super::{Daemon, snapshot, task_of};
use crate::{
    model::netns::{Namespace, NetnsSpec},
    sources::{daemon::protocol::DaemonError, netns},
};

/// How often namespaces are looked for (/proc/*/ns/net, /run/netns, nsfs mounts): new ones are
/// read, vanished ones freed. Namespaces that events name are looked for at once.
pub(super) const REDISCOVERY_INTERVAL: Duration = Duration::from_secs(5);
/// The least time between two discoveries that events of unknown namespaces ask for.
const BLIND_DISCOVERY_INTERVAL: Duration = Duration::from_millis(200);

impl Daemon {
    /// Owners from the last whole /proc scan, for every table's sockets.
    pub(super) fn apply_scanned_owners(&mut self) {
        let owners = &self.owners;
        for (_, table) in self.tables.iter_mut() {
            table.apply_owners(|inode| owners.get(inode).map(task_of));
        }
    }

    /// Reads `ns` from the kernel into its table (a new one, or re-read keeping what events
    /// taught). A namespace that cannot be read is left as it was, with a warning: it may have
    /// gone meanwhile.
    pub(super) fn load(&mut self, ns: &Namespace) -> bool {
        let hook = self.tcp_hook;
        match netns::in_namespace(ns, || snapshot::tcp_rows(hook)).and_then(|read| read) {
            Ok((rows, snapshot_ns)) => {
                self.tables.load(ns.inode, rows, snapshot_ns);
                true
            }
            Err(err) => {
                log::warn!("network namespace {}: {err:#}", ns.inode);
                false
            }
        }
    }

    /// Starts following a namespace that events name: read from the kernel when discovery finds
    /// it, else from its events alone (exact for a namespace born after the daemon started).
    /// Discovery walks /proc, so it runs at most once per [`BLIND_DISCOVERY_INTERVAL`] here; a
    /// namespace not found meanwhile is followed blind until the next one reads it.
    pub(super) fn track(&mut self, netns: u64) {
        if self.discovered_at.elapsed() >= BLIND_DISCOVERY_INTERVAL {
            self.discover_namespaces();
        }
        if !self.tables.is_tracked(netns) {
            log::debug!("network namespace {netns}: not found yet, following its events");
            self.tables.load(netns, Vec::new(), 0);
        }
    }

    /// Finds every namespace: new ones are read, blind ones read at last, and those gone (not
    /// found, and silent since the last discovery) forgotten. The daemon's own is always kept.
    pub(super) fn discover_namespaces(&mut self) {
        let found: BTreeMap<u64, Namespace> = (self.discover)()
            .into_iter()
            .map(|ns| (ns.inode, ns))
            .collect();
        let own = self.tables.own();
        let tracked: Vec<u64> = self.tables.iter().map(|(netns, _)| netns).collect();
        for netns in tracked {
            if netns != own && !found.contains_key(&netns) && !self.active.contains(&netns) {
                self.tables.forget(netns);
                if let Some(metrics) = &mut self.metrics {
                    metrics.forget_namespace(netns);
                }
                log::info!("network namespace {netns} is gone: no longer tracked");
            }
        }
        for (netns, ns) in &found {
            // Not read yet (new, or followed blind), or found at another file: an inode the
            // kernel gave to a new namespace after the old one died, whose time-wait sockets
            // went without events. Reading it again costs one dump and settles either.
            let unread = self
                .namespaces
                .get(netns)
                .is_none_or(|known| known.path != ns.path);
            if *netns != own && (unread || !self.tables.is_tracked(*netns)) && self.load(ns) {
                let owners = &self.owners;
                if let Some(table) = self.tables.table_mut(*netns) {
                    table.apply_owners(|inode| owners.get(inode).map(task_of));
                }
            }
        }
        self.namespaces = found;
        self.active.clear();
        self.discovered_at = Instant::now();
    }

    /// How to enter namespace `netns`: as last discovered, else found now.
    pub(super) fn namespace(&self, netns: u64) -> Option<Namespace> {
        self.namespaces.get(&netns).cloned().or_else(|| {
            netns::resolve(&NetnsSpec::Inode(netns))
                .ok()
                .and_then(|mut found| found.pop())
        })
    }

    /// The namespaces a table request covers: as `--netns` names them, else the client's own;
    /// None for every one.
    pub(super) fn selected(
        &self,
        spec: Option<&NetnsSpec>,
        client: Option<u64>,
    ) -> Result<Option<Vec<u64>>, DaemonError> {
        match spec {
            Some(NetnsSpec::All) => Ok(None),
            Some(spec) => netns::resolve(spec)
                .map(|found| Some(found.iter().map(|ns| ns.inode).collect()))
                .map_err(|err| DaemonError::ViewFailed {
                    reason: format!("{err:#}"),
                }),
            None => Ok(Some(vec![client.unwrap_or(self.tables.own())])),
        }
    }

    /// How a namespace is labelled in metrics: its `ip netns` name, else its inode.
    pub(super) fn namespace_label(&self, netns: u64) -> String {
        self.namespaces
            .get(&netns)
            .and_then(|ns| ns.name.clone())
            .unwrap_or_else(|| netns.to_string())
    }
}
