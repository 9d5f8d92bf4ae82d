//! State derived from the event stream alone. Pure state machines: no I/O, testable with
//! synthetic event sequences.

pub mod interfaces;
pub mod lifetimes;
pub mod table;
pub mod transitions;
