//! Lifecycles as the kernel reports them (one record per transition, per side), fed to the table.

use std::net::SocketAddr;

use super::*;
use crate::{events::Comm, model::sockets::InetSocketRow};
use TcpState::*;

const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000_000_000;

pub(super) fn task(tgid: u32, name: &str) -> Task {
    let mut comm = [0u8; 16];
    comm[..name.len()].copy_from_slice(name.as_bytes());
    Task {
        tgid,
        comm: Comm::new(comm),
    }
}

fn softirq() -> Task {
    task(0, "swapper/0")
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn endpoints(local: &str, remote: &str) -> Endpoints {
    let (local, remote) = (addr(local), addr(remote));
    let family = if local.is_ipv4() {
        Family::Inet
    } else {
        Family::Inet6
    };
    Endpoints::new(family, local.ip(), local.port(), remote.ip(), remote.port())
}

/// One socket's transitions: its address, current endpoints and owner-to-be.
#[derive(Clone, Copy)]
struct Socket {
    skaddr: u64,
    endpoints: Endpoints,
}

impl Socket {
    fn new(skaddr: u64, local: &str, remote: &str) -> Self {
        Socket {
            skaddr,
            endpoints: endpoints(local, remote),
        }
    }

    fn at(&self, ts_ns: u64, old: TcpState, new: TcpState, on_cpu: Task) -> TcpTransition {
        let local = self.endpoints.local();
        let remote = self.endpoints.remote();
        TcpTransition {
            ts_ns,
            skaddr: self.skaddr,
            family: self.endpoints.family(),
            local: local.ip(),
            local_port: local.port(),
            remote: remote.ip(),
            remote_port: remote.port(),
            old,
            new,
            task: on_cpu,
            netns: 0,
            counters: None,
            cookie: None,
        }
    }

    /// The CLOSE -> SYN_SENT record: emitted before connect() picks the local port.
    fn connecting(&self, ts_ns: u64, on_cpu: Task) -> TcpTransition {
        let unbound = match self.endpoints.family() {
            Family::Inet => "0.0.0.0:0",
            Family::Inet6 => "[::]:0",
        };
        let remote = self.endpoints.remote().to_string();
        Socket::new(self.skaddr, unbound, &remote).at(ts_ns, Close, SynSent, on_cpu)
    }
}

fn run(table: &mut LiveTable, transitions: &[TcpTransition]) {
    for transition in transitions {
        table.apply(transition);
    }
}

fn state_of(table: &LiveTable, skaddr: u64) -> Option<TcpState> {
    table.socket(skaddr).map(|socket| socket.state)
}

fn client() -> Socket {
    Socket::new(0xc1, "127.0.0.1:40000", "127.0.0.1:8080")
}

fn server_child() -> Socket {
    Socket::new(0x51, "127.0.0.1:8080", "127.0.0.1:40000")
}

/// Active close by the client, as recorded on loopback.
fn active_close(client: Socket, app: Task, t0: u64) -> Vec<TcpTransition> {
    vec![
        client.connecting(t0, app),
        client.at(t0 + MS, SynSent, Established, softirq()),
        client.at(t0 + 5 * MS, Established, FinWait1, app),
        client.at(t0 + 6 * MS, FinWait1, FinWait2, softirq()),
        client.at(t0 + 7 * MS, FinWait2, Close, softirq()),
    ]
}

/// The server side of the same connection: passive close.
fn passive_close(child: Socket, app: Task, t0: u64) -> Vec<TcpTransition> {
    let peer = task(100, "client");
    vec![
        child.at(t0 + MS, Listen, SynRecv, peer),
        child.at(t0 + MS + 10 * US, SynRecv, Established, peer),
        child.at(t0 + 5 * MS, Established, CloseWait, peer),
        child.at(t0 + 6 * MS + 500 * US, CloseWait, LastAck, app),
        child.at(t0 + 7 * MS, LastAck, Close, peer),
    ]
}

#[test]
fn active_close_leaves_a_time_wait_socket_and_fixes_the_connect_endpoints() {
    let app = task(100, "client");
    let client = client();
    let events = active_close(client, app, SECOND);
    let mut table = LiveTable::new();

    table.apply(&events[0]);
    let connecting = table.socket(client.skaddr).unwrap();
    assert_eq!(connecting.state, SynSent);
    assert_eq!(
        connecting.endpoints.local().port(),
        0,
        "port not chosen yet"
    );
    assert_eq!(connecting.owner, Some(app));

    table.apply(&events[1]);
    let established = table.socket(client.skaddr).unwrap();
    assert_eq!(established.endpoints, client.endpoints, "fixed up");
    assert_eq!(established.owner, Some(app), "kept through softirq");
    assert_eq!(
        established.entered_ns.map(NonZeroU64::get),
        Some(SECOND + MS)
    );

    run(&mut table, &events[2..4]);
    assert_eq!(state_of(&table, client.skaddr), Some(FinWait2));
    table.apply(&events[4]);
    assert_eq!(table.socket(client.skaddr), None);
    let time_wait = table.time_wait(&client.endpoints).unwrap();
    assert_eq!(time_wait.state, TimeWait);
    assert_eq!(time_wait.expires_ns, SECOND + 7 * MS + 60 * SECOND);
    assert_eq!(table.len(), 1);
}

#[test]
fn passive_close_leaves_nothing_and_learns_the_owner_from_close() {
    let app = task(200, "server");
    let child = server_child();
    let events = passive_close(child, app, 0);
    let mut table = LiveTable::new();
    run(&mut table, &events[..3]);
    let waiting = table.socket(child.skaddr).unwrap();
    assert_eq!((waiting.state, waiting.owner), (CloseWait, None));
    table.apply(&events[3]);
    assert_eq!(table.socket(child.skaddr).unwrap().owner, Some(app));
    table.apply(&events[4]);
    assert!(
        table.is_empty(),
        "LAST_ACK -> CLOSE leaves no time-wait socket"
    );
}

#[test]
fn both_sides_of_a_loopback_connection_are_tracked_together() {
    let mut events = active_close(client(), task(100, "client"), 0);
    events.extend(passive_close(server_child(), task(200, "server"), 0));
    events.sort_by_key(|t| t.ts_ns);
    let mut table = LiveTable::new();
    run(&mut table, &events[..4]);
    assert_eq!(table.full_socket_count(), 2);
    run(&mut table, &events[4..]);
    assert_eq!(table.full_socket_count(), 0);
    assert_eq!(table.time_wait_count(), 1);
}

#[test]
fn simultaneous_close_leaves_time_wait_on_both_sides() {
    let a = client();
    let b = server_child();
    let mut table = LiveTable::new();
    for side in [a, b] {
        let app = task(side.skaddr as u32, "app");
        run(
            &mut table,
            &[
                side.at(0, Close, SynSent, app),
                side.at(MS, SynSent, Established, softirq()),
                side.at(2 * MS, Established, FinWait1, app),
                side.at(3 * MS, FinWait1, Closing, softirq()),
                side.at(4 * MS, Closing, Close, softirq()),
            ],
        );
    }
    assert_eq!(table.full_socket_count(), 0);
    for side in [a, b] {
        assert_eq!(table.time_wait(&side.endpoints).unwrap().state, TimeWait);
    }
}

#[test]
fn rst_abort_and_refused_connect_leave_nothing() {
    let app = task(1, "app");
    let mut table = LiveTable::new();
    let aborted = client();
    run(
        &mut table,
        &[
            aborted.connecting(0, app),
            aborted.at(MS, SynSent, Established, softirq()),
            aborted.at(2 * MS, Established, Close, softirq()),
        ],
    );
    let refused = Socket::new(0xc2, "127.0.0.1:40001", "127.0.0.1:9");
    run(
        &mut table,
        &[
            refused.connecting(3 * MS, app),
            refused.at(4 * MS, SynSent, Close, softirq()),
        ],
    );
    assert!(table.is_empty());
}

#[test]
fn listener_opens_and_closes() {
    let app = task(7, "nginx");
    let listener = Socket::new(0x11, "0.0.0.0:80", "0.0.0.0:0");
    let mut table = LiveTable::new();
    table.apply(&listener.at(0, Close, Listen, app));
    let listening = table.socket(listener.skaddr).unwrap();
    assert_eq!((listening.state, listening.owner), (Listen, Some(app)));
    assert_eq!(listening.endpoints.local(), addr("0.0.0.0:80"));
    table.apply(&listener.at(SECOND, Listen, Close, app));
    assert!(table.is_empty());
}

#[test]
fn closing_a_listener_leaves_its_children_until_their_own_close() {
    let app = task(7, "server");
    let peer = task(8, "client");
    let listener = Socket::new(0x11, "127.0.0.1:80", "0.0.0.0:0");
    let children = [
        Socket::new(0x21, "127.0.0.1:80", "127.0.0.1:50001"),
        Socket::new(0x22, "127.0.0.1:80", "127.0.0.1:50002"),
    ];
    let mut table = LiveTable::new();
    table.apply(&listener.at(0, Close, Listen, app));
    for child in children {
        table.apply(&child.at(MS, Listen, SynRecv, peer));
        table.apply(&child.at(MS + US, SynRecv, Established, peer));
    }
    table.apply(&listener.at(2 * MS, Listen, Close, app));
    assert_eq!(table.full_socket_count(), 2, "children not accepted yet");
    // inet_csk_listen_stop() disconnects them: an RST, no time-wait.
    for child in children {
        table.apply(&child.at(2 * MS + US, Established, Close, app));
    }
    assert!(table.is_empty());
}

#[test]
fn reconnect_after_refusal_is_the_same_address_with_new_endpoints() {
    let first_app = task(1, "first");
    let socket = Socket::new(0xc3, "10.0.0.1:40000", "10.0.0.2:80");
    let second_port = Socket::new(0xc3, "10.0.0.1:40002", "10.0.0.2:80");
    let mut table = LiveTable::new();
    run(
        &mut table,
        &[
            socket.connecting(0, first_app),
            socket.at(MS, SynSent, Close, softirq()),
        ],
    );
    assert!(table.is_empty());
    table.apply(&socket.connecting(2 * MS, first_app));
    table.apply(&second_port.at(3 * MS, SynSent, Established, softirq()));
    let entry = table.socket(socket.skaddr).unwrap();
    assert_eq!(entry.endpoints, second_port.endpoints);
    assert_eq!((entry.state, entry.owner), (Established, Some(first_app)));
}

#[test]
fn an_address_reused_right_after_close_is_a_new_socket() {
    let app = task(1, "client");
    let client = client();
    let mut table = LiveTable::new();
    run(&mut table, &active_close(client, app, 0));
    // The kernel frees the client's sock and gives its address to a new child at once.
    let reborn = Socket::new(client.skaddr, "127.0.0.1:8080", "127.0.0.1:40500");
    table.apply(&reborn.at(8 * MS, Listen, SynRecv, app));
    let entry = table.socket(client.skaddr).unwrap();
    assert_eq!(entry.endpoints, reborn.endpoints);
    assert_eq!(
        entry.owner, None,
        "the on-CPU task does not own a child born in softirq"
    );
    assert_eq!(entry.entered_ns.map(NonZeroU64::get), Some(8 * MS));
    assert!(table.time_wait(&client.endpoints).is_some());
}

#[test]
fn a_stale_entry_at_a_reborn_address_is_replaced_even_in_the_same_state() {
    let mut table = LiveTable::new();
    let old = Socket::new(0x99, "127.0.0.1:8080", "127.0.0.1:40000");
    table.apply(&old.at(0, Listen, SynRecv, softirq()));
    // Its CLOSE was lost; a different connection is born at the same address.
    let new = Socket::new(0x99, "127.0.0.1:8080", "127.0.0.1:40007");
    table.apply(&new.at(MS, Listen, SynRecv, softirq()));
    assert_eq!(table.socket(0x99).unwrap().endpoints, new.endpoints);
    assert_eq!(table.full_socket_count(), 1);
}

#[test]
fn time_wait_expires_after_sixty_seconds() {
    let client = client();
    let mut table = LiveTable::new();
    run(&mut table, &active_close(client, task(1, "c"), 0));
    let closed_at = 7 * MS;
    assert_eq!(table.expire(closed_at + 60 * SECOND - 1), 0);
    assert_eq!(table.time_wait_count(), 1);
    assert_eq!(table.expire(closed_at + 60 * SECOND), 1);
    assert!(table.is_empty());
    assert_eq!(table.expire(closed_at + 61 * SECOND), 0);
}

#[test]
fn time_wait_lengths_follow_the_configured_timeouts() {
    let timeouts = Timeouts {
        time_wait_ns: 60 * SECOND,
        fin_wait2_ns: 30 * SECOND,
    };
    let mut table = LiveTable::new().with_timeouts(timeouts);
    let orphan = client();
    let app = task(1, "c");
    run(
        &mut table,
        &[
            orphan.connecting(0, app),
            orphan.at(MS, SynSent, Established, softirq()),
            orphan.at(2 * MS, Established, FinWait1, app),
            orphan.at(3 * MS, FinWait1, FinWait2, softirq()),
            orphan.at(3 * MS + 2 * US, FinWait2, Close, softirq()),
        ],
    );
    let time_wait = table.time_wait(&orphan.endpoints).unwrap();
    assert_eq!(time_wait.state, FinWait2, "orphan whose FIN was ACKed");
    assert_eq!(time_wait.expires_ns, 3 * MS + 2 * US + 30 * SECOND);
}

#[test]
fn fin_wait1_to_close_leaves_time_wait() {
    let app = task(1, "c");
    let socket = client();
    let mut table = LiveTable::new();
    run(
        &mut table,
        &[
            socket.connecting(0, app),
            socket.at(MS, SynSent, Established, softirq()),
            socket.at(2 * MS, Established, FinWait1, app),
            socket.at(3 * MS, FinWait1, Close, softirq()),
        ],
    );
    assert_eq!(table.time_wait(&socket.endpoints).unwrap().state, TimeWait);
}

#[test]
fn a_new_connection_on_the_same_four_tuple_replaces_the_time_wait_socket() {
    let app = task(1, "c");
    let first = client();
    let mut table = LiveTable::new();
    run(&mut table, &active_close(first, app, 0));
    assert!(table.time_wait(&first.endpoints).is_some());

    // A client bound to the same port: its connect() record already carries the 4-tuple.
    let again = Socket {
        skaddr: 0xc9,
        ..first
    };
    table.apply(&again.at(SECOND, Close, SynSent, app));
    assert_eq!(table.time_wait(&first.endpoints), None);
    assert_eq!(table.full_socket_count(), 1);

    // Server side: a SYN that reuses a time-wait 4-tuple yields a child with that 4-tuple.
    let child = server_child();
    let server = task(2, "s");
    run(
        &mut table,
        &[
            child.at(2 * SECOND, Listen, SynRecv, app),
            child.at(2 * SECOND + US, SynRecv, Established, app),
            child.at(3 * SECOND, Established, FinWait1, server),
            child.at(3 * SECOND + MS, FinWait1, FinWait2, app),
            child.at(3 * SECOND + 2 * MS, FinWait2, Close, app),
        ],
    );
    assert!(table.time_wait(&child.endpoints).is_some());
    let reborn = Socket {
        skaddr: 0x77,
        ..child
    };
    table.apply(&reborn.at(4 * SECOND, Listen, SynRecv, app));
    assert_eq!(table.time_wait(&child.endpoints), None);
    assert_eq!(state_of(&table, 0x77), Some(SynRecv));
}

#[test]
fn an_ephemeral_reuse_is_seen_once_the_port_is_in_a_record() {
    let app = task(1, "c");
    let first = client();
    let mut table = LiveTable::new();
    run(&mut table, &active_close(first, app, 0));
    // tcp_tw_reuse: connect() picks the time-wait socket's port after its first record.
    let again = Socket {
        skaddr: 0xca,
        ..first
    };
    table.apply(&again.connecting(2 * SECOND, app));
    assert!(table.time_wait(&first.endpoints).is_some());
    table.apply(&again.at(2 * SECOND + MS, SynSent, Established, softirq()));
    assert_eq!(table.time_wait(&first.endpoints), None);
}

#[test]
fn ipv6_lifecycles() {
    let app = task(5, "curl");
    let client = Socket::new(0x61, "[2001:db8::1]:41000", "[2001:db8::2]:443");
    let mut table = LiveTable::new();
    run(&mut table, &active_close(client, app, 0)[..2]);
    let entry = table.socket(client.skaddr).unwrap();
    assert_eq!(entry.endpoints.family(), Family::Inet6);
    assert_eq!(entry.endpoints.local(), addr("[2001:db8::1]:41000"));
    run(&mut table, &active_close(client, app, 0)[2..]);
    assert_eq!(table.time_wait(&client.endpoints).unwrap().state, TimeWait);
    let listener = Socket::new(0x62, "[::]:22", "[::]:0");
    table.apply(&listener.at(0, Close, Listen, app));
    assert_eq!(state_of(&table, 0x62), Some(Listen));
    assert_eq!(table.counts_by_state().get(&Listen), Some(&1));
}

#[test]
fn owners_survive_their_process_and_change_only_when_shown() {
    let app = task(10, "app");
    let other = task(11, "other");
    let child = server_child();
    let mut table = LiveTable::new();
    run(&mut table, &passive_close(child, app, 0)[..2]);
    assert_eq!(table.apply_owner(SocketId::Key(child.skaddr), app), 1);
    // Softirq transitions run with whatever task is on the CPU: not evidence of ownership.
    table.apply(&child.at(5 * MS, Established, CloseWait, other));
    assert_eq!(table.socket(child.skaddr).unwrap().owner, Some(app));
    assert_eq!(table.apply_owner(SocketId::Key(0xdead), app), 0);
    assert_eq!(
        table.apply_owner(SocketId::Inode(42), app),
        0,
        "no inode known"
    );
}

#[test]
fn owners_by_inode_from_a_scan() {
    let rows = [
        SnapshotRow {
            key: 1,
            endpoints: endpoints("0.0.0.0:22", "0.0.0.0:0"),
            state: Listen,
            kind: SnapshotKind::Socket { inode: 500, uid: 0 },
        },
        SnapshotRow {
            key: 2,
            endpoints: endpoints("10.0.0.1:22", "10.0.0.9:5000"),
            state: Established,
            kind: SnapshotKind::Socket { inode: 0, uid: 0 },
        },
    ];
    let mut table = LiveTable::from_snapshot(rows, SECOND);
    let sshd = task(300, "sshd");
    assert_eq!(table.apply_owner(SocketId::Inode(500), sshd), 1);
    assert_eq!(table.apply_owners(|inode| (inode == 0).then_some(sshd)), 0);
    assert_eq!(table.socket(1).unwrap().owner, Some(sshd));
    assert_eq!(table.socket(2).unwrap().owner, None);
}

#[test]
fn rows_and_counts_list_both_kinds_of_socket() {
    let app = task(1, "c");
    let mut table = LiveTable::new();
    run(&mut table, &active_close(client(), app, 0));
    let listener = Socket::new(0x11, "0.0.0.0:80", "0.0.0.0:0");
    table.apply(&listener.at(0, Close, Listen, app));
    let rows: Vec<_> = table.rows().collect();
    assert_eq!(rows.len(), 2);
    let time_wait = rows.iter().find(|row| row.state() == TimeWait).unwrap();
    assert_eq!(time_wait.endpoints(), client().endpoints);
    assert_eq!(
        (time_wait.owner(), time_wait.inode(), time_wait.uid()),
        (None, None, None)
    );
    let listening = rows.iter().find(|row| row.state() == Listen).unwrap();
    assert_eq!(listening.owner(), Some(app));
    assert_eq!(
        table.counts_by_state(),
        std::collections::BTreeMap::from([(TimeWait, 1), (Listen, 1)])
    );
}

// --- Start-up: snapshot plus buffered events. ---

fn socket_row(socket: Socket, state: TcpState, inode: u64) -> SnapshotRow {
    SnapshotRow {
        key: socket.skaddr,
        endpoints: socket.endpoints,
        state,
        kind: SnapshotKind::Socket { inode, uid: 1000 },
    }
}

fn time_wait_row(endpoints: Endpoints, expires_in_ns: u64) -> SnapshotRow {
    SnapshotRow {
        key: 0x7777,
        endpoints,
        state: TimeWait,
        kind: SnapshotKind::TimeWait { expires_in_ns },
    }
}

#[test]
fn an_event_before_the_snapshot_is_already_in_it() {
    let app = task(1, "c");
    let client = client();
    let snapshot_ns = 10 * SECOND;
    let buffered = [
        client.connecting(snapshot_ns - 2 * MS, app),
        client.at(snapshot_ns - MS, SynSent, Established, softirq()),
    ];
    let mut table = LiveTable::from_snapshot([socket_row(client, Established, 900)], snapshot_ns);
    table.replay(&buffered);
    let entry = table.socket(client.skaddr).unwrap();
    assert_eq!(entry.state, Established);
    assert_eq!(entry.inode, NonZeroU64::new(900));
    assert_eq!(
        entry.owner,
        Some(app),
        "learned from the reflected connect()"
    );
    assert_eq!(
        entry.entered_ns.map(NonZeroU64::get),
        Some(snapshot_ns - MS)
    );
    // The reflected connect() dates the socket too.
    let close = client.at(snapshot_ns + 8 * MS, Established, Close, softirq());
    assert_eq!(lifetimes(&mut table, &[close]), [10 * MS]);
}

#[test]
fn an_event_during_the_read_may_or_may_not_be_in_it() {
    let app = task(1, "c");
    let client = client();
    let snapshot_ns = 10 * SECOND;
    let buffered = [
        client.connecting(snapshot_ns + MS, app),
        client.at(snapshot_ns + 2 * MS, SynSent, Established, softirq()),
    ];
    // Read before, between and after the two events.
    let reads = [
        vec![],
        vec![socket_row(client, SynSent, 900)],
        vec![socket_row(client, Established, 900)],
    ];
    for rows in reads {
        let mut table = LiveTable::from_snapshot(rows.clone(), snapshot_ns);
        table.replay(&buffered);
        let entry = table.socket(client.skaddr).unwrap();
        assert_eq!(entry.state, Established, "{rows:?}");
        assert_eq!(entry.endpoints, client.endpoints);
        assert_eq!(entry.owner, Some(app));
        assert_eq!(entry.inode.is_some(), !rows.is_empty());
    }
}

#[test]
fn a_connect_reflected_with_its_port_keeps_the_port() {
    let app = task(1, "c");
    let client = client();
    let mut table = LiveTable::from_snapshot([socket_row(client, SynSent, 900)], SECOND);
    table.replay(&[client.connecting(SECOND + MS, app)]);
    let entry = table.socket(client.skaddr).unwrap();
    assert_eq!(entry.endpoints, client.endpoints);
    assert_eq!(entry.owner, Some(app));
}

#[test]
fn a_socket_born_and_gone_between_attach_and_snapshot_leaves_only_its_time_wait() {
    let client = client();
    let snapshot_ns = SECOND;
    let buffered = active_close(client, task(1, "c"), snapshot_ns - 100 * MS);
    // Its time-wait socket was read with 59.9 s left.
    let left = 60 * SECOND - 93 * MS;
    let mut table = LiveTable::from_snapshot([time_wait_row(client.endpoints, left)], snapshot_ns);
    table.replay(&buffered);
    assert_eq!(table.full_socket_count(), 0);
    assert_eq!(
        table.time_wait(&client.endpoints).unwrap().expires_ns,
        snapshot_ns + left,
        "the snapshot's timer, not a guess"
    );
}

#[test]
fn a_close_during_the_read_keeps_the_kernels_time_wait_row() {
    let client = client();
    let snapshot_ns = SECOND;
    let buffered = active_close(client, task(1, "c"), snapshot_ns);
    let closed_at = buffered[4].ts_ns;
    // The read met the time-wait socket: its substate is the kernel's, not inferred.
    let row = SnapshotRow {
        state: FinWait2,
        ..time_wait_row(client.endpoints, closed_at + 60 * SECOND - snapshot_ns)
    };
    let mut table = LiveTable::from_snapshot([row], snapshot_ns);
    table.replay(&buffered);
    assert_eq!(table.time_wait(&client.endpoints).unwrap().state, FinWait2);
    // The read missed both the socket and its time-wait socket: inferred from the close.
    let mut table = LiveTable::from_snapshot([], snapshot_ns);
    table.replay(&buffered);
    assert_eq!(table.time_wait(&client.endpoints).unwrap().state, TimeWait);
    assert_eq!(table.full_socket_count(), 0);
}

#[test]
fn a_socket_in_the_snapshot_that_closes_afterwards() {
    let app = task(1, "c");
    let child = server_child();
    let snapshot_ns = SECOND;
    let mut table = LiveTable::from_snapshot([socket_row(child, Established, 77)], snapshot_ns);
    table.replay(&[child.at(snapshot_ns + MS, Established, CloseWait, softirq())]);
    assert_eq!(state_of(&table, child.skaddr), Some(CloseWait));
    assert_eq!(
        table.socket(child.skaddr).unwrap().inode,
        NonZeroU64::new(77)
    );
    table.apply(&child.at(snapshot_ns + 2 * MS, CloseWait, LastAck, app));
    table.apply(&child.at(snapshot_ns + 3 * MS, LastAck, Close, softirq()));
    assert!(table.is_empty());
}

#[test]
fn the_row_of_a_reused_address_keeps_its_inode() {
    let snapshot_ns = SECOND;
    let old = client();
    let new = Socket::new(old.skaddr, "127.0.0.1:8080", "127.0.0.1:40100");
    let mut buffered = active_close(old, task(1, "c"), snapshot_ns)[2..].to_vec();
    buffered.push(new.at(snapshot_ns + 8 * MS, Listen, SynRecv, softirq()));
    buffered.push(new.at(snapshot_ns + 9 * MS, SynRecv, Established, softirq()));
    // The read met the address after the reuse.
    let mut table = LiveTable::from_snapshot([socket_row(new, Established, 31)], snapshot_ns);
    table.replay(&buffered);
    let entry = table.socket(new.skaddr).unwrap();
    assert_eq!((entry.state, entry.endpoints), (Established, new.endpoints));
    assert_eq!(entry.inode, NonZeroU64::new(31));
    assert!(table.time_wait(&old.endpoints).is_some());
    // The read met it before: same final table, the old socket's inode gone with it.
    let mut table = LiveTable::from_snapshot([socket_row(old, Established, 30)], snapshot_ns);
    table.replay(&buffered);
    let entry = table.socket(new.skaddr).unwrap();
    assert_eq!((entry.state, entry.endpoints), (Established, new.endpoints));
    assert_eq!(entry.inode, None);
}

#[test]
fn a_row_two_sockets_at_one_address_could_explain_loses_its_inode() {
    let snapshot_ns = SECOND;
    let app = task(1, "c");
    let first = Socket::new(0xab, "127.0.0.1:40000", "127.0.0.1:80");
    // The same address and 4-tuple again (a bound client reusing its time-wait 4-tuple).
    let buffered = [
        first.at(snapshot_ns + MS, Established, Close, softirq()),
        first.at(snapshot_ns + 2 * MS, Close, SynSent, app),
        first.at(snapshot_ns + 3 * MS, SynSent, Established, softirq()),
    ];
    let mut table = LiveTable::from_snapshot([socket_row(first, Established, 5)], snapshot_ns);
    table.replay(&buffered);
    let entry = table.socket(first.skaddr).unwrap();
    assert_eq!(entry.state, Established);
    assert_eq!((entry.inode, entry.uid), (None, None));
    assert_eq!(entry.owner, Some(app));
}

#[test]
fn a_socket_the_read_missed_is_kept_from_its_events() {
    let app = task(1, "c");
    let client = client();
    let snapshot_ns = SECOND;
    let buffered = [
        client.connecting(snapshot_ns - 20 * MS, app),
        client.at(snapshot_ns - 10 * MS, SynSent, Established, softirq()),
    ];
    let mut table = LiveTable::from_snapshot([], snapshot_ns);
    table.replay(&buffered);
    let entry = table.socket(client.skaddr).unwrap();
    assert_eq!(
        (entry.state, entry.endpoints),
        (Established, client.endpoints)
    );
    assert_eq!(entry.owner, Some(app));
}

#[test]
fn a_time_wait_socket_gone_before_the_read_is_not_revived() {
    let client = client();
    let snapshot_ns = SECOND;
    // Closed after the attach; its time-wait socket was reset (no event) before the read.
    let buffered = active_close(client, task(1, "c"), snapshot_ns - 100 * MS);
    let mut table = LiveTable::from_snapshot([], snapshot_ns);
    table.replay(&buffered);
    assert!(table.is_empty());
}

#[test]
fn request_sockets_and_closed_rows_are_not_tracked() {
    let listener = Socket::new(0x11, "0.0.0.0:80", "0.0.0.0:0");
    let request = SnapshotRow {
        key: 0x12,
        endpoints: endpoints("10.0.0.1:80", "10.0.0.2:5000"),
        state: SynRecv,
        kind: SnapshotKind::Request,
    };
    let closed = socket_row(Socket::new(0x13, "10.0.0.1:5", "10.0.0.2:6"), Close, 3);
    let table =
        LiveTable::from_snapshot([socket_row(listener, Listen, 1), request, closed], SECOND);
    assert_eq!(table.len(), 1);
}

#[test]
fn snapshot_time_waits_expire_on_their_own_timer() {
    let tuple = endpoints("10.0.0.1:40000", "10.0.0.2:80");
    let mut table = LiveTable::from_snapshot([time_wait_row(tuple, 5 * SECOND)], 100 * SECOND);
    assert_eq!(table.expire(104 * SECOND), 0);
    assert_eq!(table.expire(105 * SECOND), 1);
}

#[test]
fn resync_keeps_owners_of_sockets_that_are_still_there() {
    let app = task(1, "c");
    let client = client();
    let mut table = LiveTable::new();
    run(&mut table, &active_close(client, app, 0)[..2]);
    let listener = Socket::new(0x11, "0.0.0.0:80", "0.0.0.0:0");
    table.apply(&listener.at(0, Close, Listen, app));
    // Events were lost: the listener closed and its address now holds another listener.
    let other = Socket::new(0x11, "0.0.0.0:81", "0.0.0.0:0");
    let rows = [
        socket_row(client, Established, 5),
        socket_row(other, Listen, 6),
    ];
    table.resync(rows, SECOND);
    table.replay(&[]);
    let kept = table.socket(client.skaddr).unwrap();
    assert_eq!(kept.owner, Some(app));
    assert_eq!(
        kept.entered_ns.map(NonZeroU64::get),
        Some(MS),
        "same state since"
    );
    assert_eq!(kept.inode, NonZeroU64::new(5));
    assert_eq!(table.socket(0x11).unwrap().owner, None);
}

/// A /proc/net/tcp row with what `from_proc` reads of it.
fn proc_row(
    local: &str,
    remote: &str,
    state: u8,
    timer: (u8, u64),
    uid: u32,
    inode: u64,
) -> InetSocketRow {
    let local: SocketAddr = local.parse().unwrap();
    let remote: SocketAddr = remote.parse().unwrap();
    InetSocketRow {
        local: local.ip(),
        local_port: local.port(),
        remote: remote.ip(),
        remote_port: remote.port(),
        state,
        tx_queue: 0,
        rx_queue: 0,
        timer: timer.0,
        timer_ticks: timer.1,
        retransmits: 0,
        uid,
        timeout: 0,
        inode,
    }
}

#[test]
fn from_proc_classifies_sockets_time_waits_and_requests() {
    let established = proc_row(
        "127.0.0.1:8080",
        "127.0.0.1:41938",
        0x01,
        (2, 0x126f),
        1000,
        83817,
    );
    let row = SnapshotRow::from_proc(&established, 2, 0xffff_8881_0000_1000, 100);
    assert_eq!(row.state, Established);
    assert_eq!(
        row.endpoints,
        endpoints("127.0.0.1:8080", "127.0.0.1:41938")
    );
    assert_eq!(
        row.kind,
        SnapshotKind::Socket {
            inode: 83817,
            uid: 1000
        }
    );

    let time_wait = proc_row("127.0.0.1:41938", "127.0.0.1:8080", 0x06, (3, 0x1770), 0, 0);
    let row = SnapshotRow::from_proc(&time_wait, 3, 0xffff_8881_0000_2000, 100);
    assert_eq!(
        row.kind,
        SnapshotKind::TimeWait {
            expires_in_ns: 60 * SECOND
        }
    );

    let request = proc_row(
        "127.0.0.1:8080",
        "127.0.0.1:41940",
        0x03,
        (1, 0x64),
        1000,
        0,
    );
    let row = SnapshotRow::from_proc(&request, 0, 0xffff_8881_0000_3000, 100);
    assert_eq!((row.state, row.kind), (SynRecv, SnapshotKind::Request));

    let v6 = proc_row("[::]:22", "[::]:0", 0x0a, (0, 0), 0, 3233);
    let row = SnapshotRow::from_proc(&v6, 1, 0xffff_8881_0000_4000, 100);
    assert_eq!(row.endpoints, endpoints("[::]:22", "[::]:0"));
}

#[test]
fn from_sock_diag_keys_by_cookie_with_millisecond_timers() {
    let established = proc_row(
        "127.0.0.1:8080",
        "127.0.0.1:41938",
        0x01,
        (0, 0),
        1000,
        83817,
    );
    let row = SnapshotRow::from_sock_diag(&established, 0x1c72e, 0);
    assert_eq!((row.key, row.state), (0x1c72e, Established));
    assert_eq!(
        row.kind,
        SnapshotKind::Socket {
            inode: 83817,
            uid: 1000
        }
    );
    let time_wait = proc_row("127.0.0.1:41938", "127.0.0.1:8080", 0x06, (3, 5999), 0, 0);
    let row = SnapshotRow::from_sock_diag(&time_wait, 0x1c72d, 59_993);
    assert_eq!(
        (row.key, row.kind),
        (
            0x1c72d,
            SnapshotKind::TimeWait {
                expires_in_ns: 59_993 * MS
            }
        )
    );
}

#[test]
fn cookies_tell_two_sockets_at_one_address_apart() {
    let snapshot_ns = SECOND;
    let app = task(1, "c");
    let first = Socket::new(0xab, "127.0.0.1:40000", "127.0.0.1:80");
    let with_cookie = |mut transition: TcpTransition, cookie| {
        transition.cookie = Some(cookie);
        transition
    };
    // Two sockets at one address and 4-tuple, which only their cookies tell apart.
    let buffered = [
        with_cookie(first.at(snapshot_ns + MS, Established, Close, softirq()), 1),
        with_cookie(first.at(snapshot_ns + 2 * MS, Close, SynSent, app), 2),
        with_cookie(
            first.at(snapshot_ns + 3 * MS, SynSent, Established, softirq()),
            2,
        ),
    ];
    // The read met the second socket: its inode is its own, and kept.
    let row = SnapshotRow {
        key: 2,
        ..socket_row(first, Established, 6)
    };
    let mut table = LiveTable::from_snapshot([row], snapshot_ns);
    table.replay(&buffered);
    assert_eq!(table.full_socket_count(), 1);
    let entry = table.socket(2).unwrap();
    assert_eq!(
        (entry.state, entry.inode, entry.owner),
        (Established, NonZeroU64::new(6), Some(app))
    );
    // The read met the first: it is gone, and nothing of it lands on the second.
    let row = SnapshotRow {
        key: 1,
        ..socket_row(first, Established, 5)
    };
    let mut table = LiveTable::from_snapshot([row], snapshot_ns);
    table.replay(&buffered);
    assert_eq!(table.full_socket_count(), 1);
    let entry = table.socket(2).unwrap();
    assert_eq!(
        (entry.state, entry.inode, entry.uid),
        (Established, None, None)
    );
}

#[test]
fn no_sequence_panics() {
    let mut rng = super::simulation::Rng::new(7);
    let mut table = LiveTable::from_snapshot(
        [time_wait_row(
            endpoints("10.0.0.1:1", "10.0.0.2:2"),
            u64::MAX,
        )],
        u64::MAX / 2,
    );
    for step in 0..20_000u64 {
        let pick = |rng: &mut super::simulation::Rng| TcpState::from_raw(rng.below(16) as u8);
        let ts_ns = if rng.below(10) == 0 {
            rng.next()
        } else {
            u64::MAX - step
        };
        let family = if rng.below(2) == 0 {
            Family::Inet
        } else {
            Family::Inet6
        };
        let ip = |rng: &mut super::simulation::Rng| {
            if rng.below(2) == 0 {
                IpAddr::V4(Ipv4Addr::from(rng.below(4) as u32))
            } else {
                IpAddr::V6(Ipv6Addr::from(rng.below(4) as u128))
            }
        };
        let transition = TcpTransition {
            ts_ns,
            skaddr: rng.below(8),
            family,
            local: ip(&mut rng),
            local_port: rng.below(3) as u16,
            remote: ip(&mut rng),
            remote_port: rng.below(3) as u16,
            old: pick(&mut rng),
            new: pick(&mut rng),
            task: softirq(),
            netns: 0,
            counters: None,
            cookie: None,
        };
        table.apply(&transition);
        if step % 97 == 0 {
            table.replay(&[transition, transition]);
            table.expire(rng.next());
            table.apply_owners(|inode| (inode % 2 == 0).then_some(softirq()));
        }
        if step % 1009 == 0 {
            let row = SnapshotRow {
                key: transition.skaddr,
                endpoints: Endpoints::of(&transition),
                state: transition.new,
                kind: match rng.below(3) {
                    0 => SnapshotKind::Socket {
                        inode: rng.next(),
                        uid: 0,
                    },
                    1 => SnapshotKind::TimeWait {
                        expires_in_ns: rng.next(),
                    },
                    _ => SnapshotKind::Request,
                },
            };
            table.resync([row, row], rng.next());
        }
    }
    assert!(table.full_socket_count() <= 8, "one entry per address");
}

#[test]
fn entries_are_compact() {
    let socket_bucket = size_of::<(u64, SocketEntry)>();
    let time_wait_bucket = size_of::<(Endpoints, TimeWaitEntry)>();
    println!(
        "Endpoints {} B, SocketEntry {} B, TimeWaitEntry {} B; map buckets: socket {} B, time-wait {} B",
        size_of::<Endpoints>(),
        size_of::<SocketEntry>(),
        size_of::<TimeWaitEntry>(),
        socket_bucket,
        time_wait_bucket,
    );
    let app = task(1, "c");
    let mut table = LiveTable::new();
    for i in 0..100_000u64 {
        let port = (i % 60_000) as u16 + 1024;
        let host = (i / 60_000) as u8;
        let socket = Socket::new(
            0xffff_8880_0000_0000 + i * 0x800,
            &format!("10.0.{host}.1:{port}"),
            "10.1.0.1:443",
        );
        table.apply(&socket.at(i, Close, SynSent, app));
    }
    let per_socket = table.estimated_heap_bytes() / table.len();
    println!("{} sockets: about {per_socket} B each", table.len());
    assert!(per_socket <= 200, "{per_socket} B per socket");
}

#[test]
fn the_peers_fin_moves_a_fin_wait2_time_wait_socket_to_time_wait() {
    // The client closes first and its FIN is ACKed alone: a time-wait socket in FIN_WAIT2. Then
    // the server, on this host too, closes: its FIN reaches that socket.
    let app = task(1, "c");
    let (client, child) = (client(), server_child());
    let mut table = LiveTable::new();
    run(
        &mut table,
        &[
            client.connecting(0, app),
            client.at(MS, SynSent, Established, softirq()),
            child.at(MS, Listen, SynRecv, softirq()),
            child.at(MS, SynRecv, Established, softirq()),
            client.at(2 * MS, Established, FinWait1, app),
            child.at(2 * MS, Established, CloseWait, softirq()),
            client.at(2 * MS + US, FinWait1, FinWait2, softirq()),
            client.at(2 * MS + 2 * US, FinWait2, Close, softirq()),
        ],
    );
    assert_eq!(table.time_wait(&client.endpoints).unwrap().state, FinWait2);
    run(&mut table, &[child.at(5 * MS, CloseWait, LastAck, app)]);
    let time_wait = table.time_wait(&client.endpoints).unwrap();
    assert_eq!(time_wait.state, TimeWait);
    assert_eq!(time_wait.expires_ns, 5 * MS + 60 * SECOND);
}

// --- Connection lifetimes: what `apply` reports about the sockets it closes. ---

/// Applies `transitions`, returning the lifetime of each connection they closed.
fn lifetimes(table: &mut LiveTable, transitions: &[TcpTransition]) -> Vec<u64> {
    transitions
        .iter()
        .filter_map(|t| table.apply(t)?.connection_lifetime_ns(t.ts_ns))
        .collect()
}

#[test]
fn each_end_of_a_connection_lives_from_its_creation_to_its_close() {
    let app = task(1, "c");
    let mut table = LiveTable::new();
    let mut events = active_close(client(), app, SECOND);
    events.extend(passive_close(server_child(), app, SECOND));
    events.sort_by_key(|t| t.ts_ns);
    let mut found = lifetimes(&mut table, &events);
    found.sort();
    // The child exists from the handshake's end (LISTEN -> SYN_RECV), a millisecond after the
    // client's connect().
    assert_eq!(found, [6 * MS, 7 * MS]);
}

#[test]
fn listeners_and_connects_that_never_connected_have_no_lifetime() {
    let app = task(1, "c");
    let listener = Socket::new(0x11, "0.0.0.0:80", "0.0.0.0:0");
    let refused = Socket::new(0x22, "127.0.0.1:40001", "127.0.0.1:81");
    let reset_child = Socket::new(0x33, "127.0.0.1:80", "127.0.0.1:40002");
    let mut table = LiveTable::new();
    let events = [
        listener.at(MS, Close, Listen, app),
        refused.connecting(2 * MS, app),
        refused.at(3 * MS, SynSent, Close, softirq()),
        reset_child.at(4 * MS, Listen, SynRecv, softirq()),
        reset_child.at(5 * MS, SynRecv, Close, softirq()),
        listener.at(9 * MS, Listen, Close, app),
    ];
    assert_eq!(lifetimes(&mut table, &events), Vec::<u64>::new());
    assert!(table.is_empty());
}

#[test]
fn a_socket_first_seen_in_a_snapshot_or_mid_life_has_no_known_lifetime() {
    let app = task(1, "c");
    let client = client();
    let mut table = LiveTable::from_snapshot([socket_row(client, Established, 7)], SECOND);
    table.replay(&[]);
    let closing = active_close(client, app, 2 * SECOND);
    let closed = table.apply(&closing[4]);
    assert_eq!(
        closed.map(|c| c.state),
        Some(Established),
        "closed as it was known"
    );
    assert_eq!(
        closed.unwrap().connection_lifetime_ns(closing[4].ts_ns),
        None
    );
    // Its first event is not a creation (an earlier one was lost).
    let mut table = LiveTable::new();
    assert_eq!(lifetimes(&mut table, &closing[1..]), Vec::<u64>::new());
}

#[test]
fn resync_keeps_the_creation_time_of_sockets_still_there() {
    let app = task(1, "c");
    let client = client();
    let mut table = LiveTable::new();
    run(&mut table, &active_close(client, app, SECOND)[..2]);
    table.resync([socket_row(client, Established, 5)], 2 * SECOND);
    table.replay(&[]);
    let close = client.at(3 * SECOND, Established, Close, softirq());
    assert_eq!(lifetimes(&mut table, &[close]), [2 * SECOND]);
}

#[test]
fn counts_by_family_and_state_split_inet_and_inet6() {
    let app = task(1, "c");
    let mut table = LiveTable::new();
    run(
        &mut table,
        &[
            Socket::new(0x11, "0.0.0.0:80", "0.0.0.0:0").at(0, Close, Listen, app),
            Socket::new(0x12, "[::]:80", "[::]:0").at(0, Close, Listen, app),
            Socket::new(0x13, "[::1]:81", "[::]:0").at(0, Close, Listen, app),
        ],
    );
    run(&mut table, &active_close(client(), app, 0));
    assert_eq!(
        table.counts_by_family_and_state(),
        HashMap::from([
            ((Family::Inet, Listen), 1),
            ((Family::Inet6, Listen), 2),
            ((Family::Inet, TimeWait), 1),
        ])
    );
}
