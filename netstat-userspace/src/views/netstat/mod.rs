//! netstat-compatible renderers. Each reproduces net-tools 2.10's printf formats byte for byte;
//! none of them reads /proc or resolves names itself.

pub mod address;
pub mod groups;
pub mod interfaces;
pub mod route;
pub mod sockets;
pub mod statistics;
