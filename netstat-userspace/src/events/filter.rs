//! Which transitions a user asked to see, and the part of that the kernel can apply.

use netstat_common::{KernelFilter, MAX_FILTER_PORTS};

use super::{TcpTransition, health::HealthEvent};
use crate::model::{TcpState, sockets::Family};

/// A checked transition filter. Empty lists mean "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TransitionFilter {
    pub(crate) family: Option<Family>,
    pub(crate) local_ports: Vec<u16>,
    pub(crate) remote_ports: Vec<u16>,
    /// A transition matches if its old or its new state is listed.
    pub(crate) states: Vec<TcpState>,
    /// The kernel's share of the filter, computed once: `matches` runs for every record.
    kernel: KernelFilter,
}

impl TransitionFilter {
    /// Validates what only the kernel side limits.
    pub(crate) fn new(
        family: Option<Family>,
        local_ports: Vec<u16>,
        remote_ports: Vec<u16>,
        states: Vec<TcpState>,
    ) -> Result<Self, String> {
        for (what, ports) in [("local", &local_ports), ("remote", &remote_ports)] {
            if ports.len() > MAX_FILTER_PORTS {
                return Err(format!(
                    "at most {MAX_FILTER_PORTS} {what} ports can be filtered, got {}",
                    ports.len()
                ));
            }
        }
        let mut filter = TransitionFilter {
            family,
            local_ports,
            remote_ports,
            states,
            kernel: KernelFilter::default(),
        };
        filter.kernel = filter.kernel_filter();
        Ok(filter)
    }

    /// The part applied in the probe: family and ports, which never change over a socket's life.
    /// States are filtered in userspace, which needs every transition of a socket to attribute
    /// its owner and time its states.
    pub(crate) fn kernel(&self) -> KernelFilter {
        self.kernel
    }

    fn kernel_filter(&self) -> KernelFilter {
        let ports = |list: &[u16]| {
            let mut out = [0u16; MAX_FILTER_PORTS];
            out[..list.len()].copy_from_slice(list);
            out
        };
        KernelFilter {
            family: self.family.map_or(0, Family::raw),
            n_local_ports: self.local_ports.len() as u16,
            n_remote_ports: self.remote_ports.len() as u16,
            _pad: 0,
            netns: self.kernel.netns,
            local_ports: ports(&self.local_ports),
            remote_ports: ports(&self.remote_ports),
        }
    }

    /// Only sockets of namespace `netns` (`--netns` naming one), tested in the probe.
    pub(crate) fn in_namespace(mut self, netns: u32) -> Self {
        self.kernel.netns = netns;
        self
    }

    /// Whether a transition is shown. The kernel lets through records whose local port is not yet
    /// chosen (connect() before it binds); they are hidden here when a local port is asked for.
    pub(crate) fn matches(&self, t: &TcpTransition) -> bool {
        self.matches_socket(t.family, t.local_port, t.remote_port, t.netns)
            && (self.states.is_empty()
                || self.states.contains(&t.old)
                || self.states.contains(&t.new))
    }

    /// A health event passes as its socket would, by the state the socket was in.
    pub(crate) fn matches_health(&self, e: &HealthEvent) -> bool {
        self.matches_socket(e.family, e.local_port, e.remote_port, e.netns)
            && (self.states.is_empty() || e.state.is_some_and(|s| self.states.contains(&s)))
    }

    fn matches_socket(
        &self,
        family: Family,
        local_port: u16,
        remote_port: u16,
        netns: u32,
    ) -> bool {
        self.kernel.accepts(family.raw(), local_port, remote_port)
            && self.kernel.accepts_netns(netns)
            && (self.local_ports.is_empty() || local_port != 0)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::events::{Comm, Task};

    fn t(family: Family, lport: u16, rport: u16, old: TcpState, new: TcpState) -> TcpTransition {
        TcpTransition {
            ts_ns: 0,
            skaddr: 1,
            family,
            local: IpAddr::V4(Ipv4Addr::LOCALHOST),
            local_port: lport,
            remote: IpAddr::V4(Ipv4Addr::LOCALHOST),
            remote_port: rport,
            old,
            new,
            task: Task {
                tgid: 1,
                comm: Comm::new([0; 16]),
            },
            netns: 0,
            counters: None,
            cookie: None,
        }
    }

    use TcpState::*;

    #[test]
    fn empty_filter_matches_everything() {
        let f = TransitionFilter::default();
        assert!(f.matches(&t(Family::Inet6, 0, 0, Close, SynSent)));
        assert_eq!(f.kernel(), KernelFilter::default());
    }

    #[test]
    fn family_filter() {
        let f = TransitionFilter::new(Some(Family::Inet), vec![], vec![], vec![]).unwrap();
        assert!(f.matches(&t(Family::Inet, 1, 2, Listen, Close)));
        assert!(!f.matches(&t(Family::Inet6, 1, 2, Listen, Close)));
        assert!(!f.kernel().accepts(netstat_common::AF_INET6, 1, 2));
    }

    #[test]
    fn local_port_filter_lets_unbound_connects_through_the_kernel_but_hides_them() {
        let f = TransitionFilter::new(None, vec![80, 443], vec![], vec![]).unwrap();
        let k = f.kernel();
        assert!(
            k.accepts(netstat_common::AF_INET, 0, 80),
            "connect() before bind"
        );
        assert!(k.accepts(netstat_common::AF_INET, 443, 5000));
        assert!(!k.accepts(netstat_common::AF_INET, 8080, 5000));
        assert!(!f.matches(&t(Family::Inet, 0, 80, Close, SynSent)));
        assert!(f.matches(&t(Family::Inet, 80, 5000, SynRecv, Established)));
    }

    #[test]
    fn remote_port_filter() {
        let f = TransitionFilter::new(None, vec![], vec![22], vec![]).unwrap();
        assert!(f.matches(&t(Family::Inet, 0, 22, Close, SynSent)));
        assert!(!f.matches(&t(Family::Inet, 22, 5000, SynRecv, Established)));
    }

    #[test]
    fn state_filter_matches_either_side() {
        let f = TransitionFilter::new(None, vec![], vec![], vec![TimeWait, FinWait2]).unwrap();
        assert!(f.matches(&t(Family::Inet, 1, 2, FinWait2, Close)));
        assert!(f.matches(&t(Family::Inet, 1, 2, FinWait1, FinWait2)));
        assert!(!f.matches(&t(Family::Inet, 1, 2, Established, FinWait1)));
    }

    #[test]
    fn too_many_ports_is_an_error() {
        let err = TransitionFilter::new(None, (1..=9).collect(), vec![], vec![]).unwrap_err();
        assert!(err.contains("at most 8 local ports"), "{err}");
    }
}
