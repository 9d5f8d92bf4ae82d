//! The hash maps of the per-event paths. std's SipHash cost most of the daemon's time per
//! transition; foldhash is several times faster and, seeded per process, still keeps remote
//! peers (who choose their ports and addresses, and so part of the keys) from aiming collisions.

pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
