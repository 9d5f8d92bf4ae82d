//! `enetstat serve`: keeps the live table from the probe's events and answers requests on the
//! control socket. Start-up leaves no gap: the probe is attached first, its events buffered, the
//! snapshot taken, and the buffered events replayed against it.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context as _;
use tokio::sync::mpsc;

use crate::{
    aggregator::interfaces::InterfaceSample,
    commands::live_interfaces::LiveInterfaces,
    daemon::{
        metrics_http::{MetricsEndpoint, Scrape},
        server::ControlSocket,
        state::{Daemon, map_large_allocations, release_free_memory},
        web_config::WebConfig,
    },
    events::health::LiveEvent,
    model::{
        health::{EventKind, EventKinds},
        hooks::TcpHook,
        system::page_size,
    },
    probes::{
        TcpStateProbe, check_ring_size,
        privileges::{Capabilities, keep_only},
    },
    sources::{
        daemon::protocol::CheckArgs,
        pump::{Flow, Pump, StopSignals},
    },
    views::{clock::Clock, metrics::InterfaceTotals},
};

/// `enetstat serve`, checked.
#[derive(Debug)]
pub(crate) struct ServeConfig {
    pub(crate) socket: PathBuf,
    pub(crate) ring_bytes: u32,
    /// Where to serve metrics, if anywhere.
    pub(crate) metrics: Option<SocketAddr>,
    /// TLS and basic authentication for the metrics (`--web-config`), checked already.
    pub(crate) web: WebConfig,
    /// `--metrics-container-label`: the most containers labelled by name, when the label is on.
    pub(crate) metrics_containers: Option<usize>,
    /// Checks the netstat command line that protocol version 1 and 2 clients send: the CLI's own
    /// rules, handed down so that the daemon never imports the CLI.
    pub(crate) check_legacy_args: CheckArgs,
    /// `--events`: the health kinds followed besides transitions.
    pub(crate) events: EventKinds,
}

const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) async fn run(config: ServeConfig) -> anyhow::Result<()> {
    map_large_allocations();
    // SIGHUP re-reads the kernel's tables; SIGINT and SIGTERM stop.
    let stop = StopSignals::install_reporting_hangup()?;

    // Transitions are always followed: the table is made of them.
    let kinds = EventKinds::of(&[EventKind::State]).with(config.events);
    let (probe, events) = TcpStateProbe::attach(&Default::default(), config.ring_bytes, kinds)?;
    let mut pump = Pump::<LiveEvent>::new(stop, events)?;
    let socket = ControlSocket::bind(&config.socket).await?;
    let metrics = match config.metrics {
        Some(addr) => Some(MetricsEndpoint::bind(addr).await?),
        None => None,
    };

    // The ring holds every event since the attach; the snapshot is read, then they are replayed.
    let mut daemon = Daemon::from_snapshot(probe.hook)?;
    // Interface metrics need the interface probes; without --metrics they stay detached, so
    // the daemon costs nothing per packet.
    let mut interfaces = None;
    if metrics.is_some() {
        daemon.enable_metrics();
        if let (Some(cap), Some(metrics)) = (config.metrics_containers, daemon.metrics_mut()) {
            metrics.label_containers(cap);
        }
        let ring_bytes = check_ring_size(page_size()).map_err(anyhow::Error::msg)?;
        // Drops are counted, not reported one by one: no events, so their stream goes unread.
        let options = super::interfaces::probe_options(ring_bytes, 0, true)?;
        let (live, _no_events) = LiveInterfaces::start(options)?;
        interfaces = Some(live);
    }
    daemon.follow_events(kinds, probe.reasons.clone());
    let mut buffered = Vec::new();
    pump.drain_into(&mut buffered);
    daemon.replay_events(&buffered);
    drop(buffered);
    // Loading the probe parsed the kernel's BTF (megabytes, freed since): give that memory back,
    // so the daemon's resident size is what it keeps.
    release_free_memory();
    // Everything that needed privileges is done: the probes are attached, the sockets bound.
    let keep = Capabilities::kept_after_attach(probe.hook == TcpHook::Tracepoint);
    match keep_only(keep) {
        Ok(kept) => log::debug!("capabilities kept: {:#x}", kept.0),
        Err(err) => log::warn!("could not give up capabilities: {err}"),
    }

    let socket_path = socket.path().to_path_buf();
    let mut requests = socket.serve(config.check_legacy_args);
    let mut scrapes = match metrics {
        Some(endpoint) => {
            let addr = endpoint
                .local_addr()
                .context("reading the metrics address")?;
            let scheme = if config.web.tls.is_some() {
                "https"
            } else {
                "http"
            };
            log::info!("metrics on {scheme}://{addr}/metrics");
            Some(endpoint.serve(config.web.clone()))
        }
        None => None,
    };
    // The line that tells people and scripts the daemon answers (logging.rs keeps its form).
    log::info!("serving on {}", socket_path.display());

    let mut housekeeping = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    loop {
        tokio::select! {
            flow = pump.next(&mut daemon) => match flow? {
                Flow::Running => {}
                Flow::Stopped => break,
                Flow::HungUp => resync_on_hangup(&mut pump, &mut daemon)?,
            },
            _ = housekeeping.tick() => daemon.tick(Clock::monotonic_now_ns()),
            Some(incoming) = requests.recv() => {
                // Events that arrived before the request are applied first, so the answer is
                // at least as fresh as the request.
                pump.drain_all(&mut daemon)?;
                incoming.respond(|request, inode| daemon.answer(request, inode));
            }
            changes = next_link_changes(&mut interfaces) => {
                changes?;
            }
            Some(scrape) = next_scrape(&mut scrapes) => {
                pump.drain_all(&mut daemon)?;
                if let (Some(live), Some(metrics)) = (&mut interfaces, daemon.metrics_mut()) {
                    let samples = live.sample(Clock::monotonic_now_ns())?;
                    metrics.publish_interfaces(samples.iter().map(interface_totals));
                }
                let _ = scrape.reply.send(daemon.metrics_exposition());
            }
        }
    }
    drop(probe);
    drop(interfaces);
    Ok(())
}

/// SIGHUP: the table is rebuilt from a fresh snapshot as at start-up, so the events the ring
/// holds across the read are replayed against it.
fn resync_on_hangup(pump: &mut Pump<LiveEvent>, daemon: &mut Daemon) -> anyhow::Result<()> {
    log::info!("SIGHUP: re-reading the kernel's socket tables");
    pump.drain_all(daemon)?;
    daemon.resync_now()?;
    let mut buffered = Vec::new();
    pump.drain_into(&mut buffered);
    daemon.replay_events(&buffered);
    log::info!(
        "SIGHUP: the table was re-read: {} sockets",
        daemon.sockets_tracked()
    );
    Ok(())
}

/// Link changes applied to the live interfaces, or never when they are off.
async fn next_link_changes(interfaces: &mut Option<LiveInterfaces>) -> anyhow::Result<()> {
    match interfaces {
        Some(live) => live.link_changes().await.map(drop),
        None => std::future::pending().await,
    }
}

/// Packets and bytes are the kernel's totals (the /proc/net/dev baseline plus the probes'
/// counts); errors and drops are those the probes saw since the daemon started: transmit
/// failures and the stack's drops (a driver's own error counters have no tracepoint).
fn interface_totals(sample: &InterfaceSample) -> InterfaceTotals {
    InterfaceTotals {
        name: sample.link.name.clone(),
        ifindex: sample.link.ifindex,
        rx_packets: sample.totals.rx_packets,
        rx_bytes: sample.totals.rx_bytes,
        tx_packets: sample.totals.tx_packets,
        tx_bytes: sample.totals.tx_bytes,
        rx_errors: 0,
        tx_errors: sample.seen.tx_errors,
        rx_dropped: sample.seen.rx_dropped,
        tx_dropped: sample.seen.tx_dropped,
    }
}

/// The next scrape, or never when metrics are off.
async fn next_scrape(scrapes: &mut Option<mpsc::Receiver<Scrape>>) -> Option<Scrape> {
    match scrapes {
        Some(scrapes) => scrapes.recv().await,
        None => std::future::pending().await,
    }
}
