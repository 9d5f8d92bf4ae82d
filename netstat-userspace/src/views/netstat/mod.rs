//! netstat-compatible renderers. Each reproduces net-tools 2.10's printf formats byte for byte;
//! none of them reads /proc or resolves names itself.

pub(crate) mod address;
pub(crate) mod groups;
pub(crate) mod interfaces;
pub(crate) mod route;
pub(crate) mod sockets;
pub(crate) mod statistics;

pub(crate) use crate::model::netstat::{Families, NetstatFlags};
