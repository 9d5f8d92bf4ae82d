//! Protocol statistics: the kernel's counters by section, as /proc/net/snmp and friends give them.

/// One counter, named as the kernel names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Counter {
    pub(crate) name: String,
    pub(crate) value: u64,
}

/// One "Title: names" / "Title: values" line pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Section {
    pub(crate) title: String,
    pub(crate) counters: Vec<Counter>,
}
