//! `enetstat serve`: keeps the live table from the probe's events and answers requests on the
//! control socket. Start-up leaves no gap: the probe is attached first, its events buffered, the
//! snapshot taken, and the buffered events replayed against it.

use std::{io, time::Duration};

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    cli::ServeConfig,
    daemon::{
        server::ControlSocket,
        state::{Daemon, release_free_memory},
    },
    events::TcpTransition,
    probes::TcpStateProbe,
    sources::ring::{DEFAULT_BATCH, DRAIN_INTERVAL, RingReader},
    views::clock::Clock,
};

const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);

pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;

    let mut probe = TcpStateProbe::attach(&Default::default(), config.ring_bytes)?;
    let mut ring = RingReader::new(probe.events.take().expect("fresh probe has its ring"))
        .context("registering the ring buffer with tokio")?;
    let socket = ControlSocket::bind(&config.socket).await?;

    // The ring holds every event since the attach; the snapshot is read, then they are replayed.
    let snapshot_ns = Clock::monotonic_now_ns();
    let mut daemon = Daemon::from_snapshot(snapshot_ns)?;
    let mut buffered = Vec::new();
    ring.drain_now(usize::MAX, |bytes| {
        if let Ok(t) = TcpTransition::decode(bytes) {
            buffered.push(t);
        }
        Ok(())
    })?;
    daemon.replay(&buffered);
    drop(buffered);
    // Loading the probe parsed the kernel's BTF (megabytes, freed since): give that memory back,
    // so the daemon's resident size is what it keeps.
    release_free_memory();

    let mut reported_losses = probe.losses()?;
    let mut requests = socket.serve();
    // The line that tells people and scripts the daemon answers (logging.rs keeps its form).
    log::info!("serving on {}", config.socket.display());

    let mut drain_tick = tokio::time::interval(DRAIN_INTERVAL);
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    let on_record = |daemon: &mut Daemon, bytes: &[u8]| -> io::Result<()> {
        match TcpTransition::decode(bytes) {
            Ok(t) => daemon.apply(&t),
            Err(_) => daemon.counters.malformed_records += 1,
        }
        Ok(())
    };
    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            batch = ring.next_batch(DEFAULT_BATCH, |bytes| on_record(&mut daemon, bytes)) => { batch?; }
            _ = drain_tick.tick() => {
                if ring.drain_now(DEFAULT_BATCH, |bytes| on_record(&mut daemon, bytes))? == DEFAULT_BATCH {
                    drain_tick.reset_immediately();
                }
            }
            _ = housekeeping.tick() => {
                daemon.tick(Clock::monotonic_now_ns());
                let losses = probe.losses()?;
                let lost = losses.since(&reported_losses);
                reported_losses = losses;
                if lost > 0 {
                    log::warn!("{lost} transition records lost; resynchronising from /proc");
                    daemon.resync(lost)?;
                }
            }
            Some(incoming) = requests.recv() => {
                // Events that arrived before the request are applied first, so the answer is
                // at least as fresh as the request.
                ring.drain_now(usize::MAX, |bytes| on_record(&mut daemon, bytes))?;
                let answer = daemon.answer(&incoming.request, incoming.connection_inode);
                let _ = incoming.reply.send(answer);
            }
        }
    }
    drop(probe);
    Ok(())
}
