//! Name lookups as netstat makes them: hosts through the system resolver, networks through
//! /etc/networks, ports through /etc/services, users through the passwd database; and kernel
//! symbols. They do I/O, behind the model's `Names` and `KernelFunctions` traits.

pub(crate) mod kernel_symbols;
pub(crate) mod services;
mod system;

pub(crate) use system::SystemNames;
