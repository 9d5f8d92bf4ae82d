//! State derived from the event stream alone. Pure state machines: no I/O, testable with
//! synthetic event sequences.

pub(crate) mod health;
pub(crate) mod interfaces;
pub(crate) mod lifetimes;
pub(crate) mod namespaces;
pub(crate) mod table;
pub(crate) mod transitions;
