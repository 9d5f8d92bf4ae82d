//! Multicast group memberships, as netstat -g lists them.

use std::net::IpAddr;

/// One group membership: a line of the listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Membership {
    pub(crate) device: Vec<u8>,
    pub(crate) refcnt: i32,
    pub(crate) group: IpAddr,
}
