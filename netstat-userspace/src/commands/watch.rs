//! `enetstat watch`: the live transition stream, or with `--lifetimes` one line per closed
//! connection.

use std::{
    io::{self, Write},
    time::Duration,
};

use anyhow::Context as _;

use crate::{
    aggregator::{lifetimes::lifetime, transitions::TransitionTracker},
    events::{TcpTransition, filter::TransitionFilter},
    output,
    probes::{LossCounts, TcpStateProbe},
    sources::ring::{DEFAULT_BATCH, RingReader, drain_timer},
    views::{
        clock::Clock,
        lifetimes::LifetimePrinter,
        transitions::{LossCause, StreamFormat, TransitionPrinter},
    },
};

/// `enetstat watch`, checked.
#[derive(Debug)]
pub(crate) struct WatchConfig {
    pub(crate) filter: TransitionFilter,
    pub(crate) format: StreamFormat,
    pub(crate) ring_bytes: u32,
    /// Colour the table's states (`--color`).
    pub(crate) color: bool,
    /// Closed connections' lifetimes instead of transitions.
    pub(crate) lifetimes: bool,
}

/// How often the lost-record counters are read.
const LOSS_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Everything a batch of records updates.
struct Stream<W: Write> {
    filter: TransitionFilter,
    tracker: TransitionTracker,
    printer: TransitionPrinter,
    /// Set with `--lifetimes`: closed connections are printed instead of transitions.
    lifetimes: Option<LifetimePrinter>,
    out: W,
    reported: LossCounts,
    malformed: u64,
}

impl<W: Write> Stream<W> {
    fn record(&mut self, bytes: &[u8]) -> io::Result<()> {
        let transition = match TcpTransition::decode(bytes) {
            Ok(t) => t,
            Err(err) => {
                // Not fatal: count it and go on.
                self.malformed += 1;
                eprintln!("enetstat: skipped a malformed record: {err}");
                return Ok(());
            }
        };
        let observed = self.tracker.observe(transition);
        if !self.filter.matches(&transition) {
            return Ok(());
        }
        match &self.lifetimes {
            Some(printer) => match lifetime(&observed) {
                Some(life) => printer.write_lifetime(&mut self.out, &life),
                None => Ok(()),
            },
            None => self.printer.write_transition(&mut self.out, &observed),
        }
    }

    /// Reports any growth of the lost counters since the last report.
    fn report_losses(&mut self, now: LossCounts) -> io::Result<()> {
        let growth = [
            (now.ring_full - self.reported.ring_full, LossCause::RingFull),
            (
                now.recursion - self.reported.recursion,
                LossCause::ProbeRecursion,
            ),
        ];
        for (lost, cause) in growth {
            if lost > 0 {
                eprintln!(
                    "enetstat: {lost} transition records lost: {}",
                    cause.describe()
                );
                self.printer
                    .write_lost(&mut self.out, Clock::monotonic_now_ns(), lost, cause)?;
            }
        }
        self.reported = now;
        Ok(())
    }
}

pub(crate) async fn run(config: WatchConfig) -> anyhow::Result<()> {
    let mut stop = super::StopSignals::install()?;

    let mut probe = TcpStateProbe::attach(&config.filter.kernel(), config.ring_bytes)?;
    let mut ring = RingReader::new(probe.events.take().expect("fresh probe has its ring"))
        .context("registering the ring buffer with tokio")?;

    let clock = Clock::now();
    let mut stream = Stream {
        filter: config.filter,
        tracker: TransitionTracker::new(),
        printer: TransitionPrinter::new(config.format, clock).with_color(config.color),
        lifetimes: config
            .lifetimes
            .then(|| LifetimePrinter::new(config.format, clock)),
        out: output::stdout(),
        reported: probe.losses()?,
        malformed: 0,
    };
    match &stream.lifetimes {
        Some(printer) => printer.write_header(&mut stream.out)?,
        None => stream.printer.write_header(&mut stream.out)?,
    }
    stream.out.flush()?;
    if config.lifetimes
        && let Some(why) = &probe.close_counters_unknown
    {
        eprintln!("enetstat: byte counts unknown, shown as - (JSON null): {why}");
    }
    // Like tcpdump's "listening on", so people and scripts know when capture begins.
    let what = if config.lifetimes {
        "TCP connection lifetimes"
    } else {
        "TCP state transitions"
    };
    eprintln!("enetstat: watching {what} (Ctrl-C to stop)");

    let mut loss_check = tokio::time::interval(LOSS_CHECK_INTERVAL);
    let mut drain_tick = drain_timer();
    loop {
        tokio::select! {
            _ = stop.received() => break,
            batch = ring.next_batch(DEFAULT_BATCH, |bytes| stream.record(bytes)) => {
                batch?;
                stream.out.flush()?;
            }
            _ = drain_tick.tick() => {
                let drained = ring.drain_now(DEFAULT_BATCH, |bytes| stream.record(bytes))?;
                if drained > 0 {
                    stream.out.flush()?;
                }
                if drained == DEFAULT_BATCH {
                    // More is waiting: come back after giving other branches a turn.
                    drain_tick.reset_immediately();
                }
            }
            _ = loss_check.tick() => {
                stream.report_losses(probe.losses()?)?;
                stream.out.flush()?;
            }
        }
    }

    // Whatever arrived before the signal is still written, and losses are final.
    ring.drain_now(usize::MAX, |bytes| stream.record(bytes))?;
    stream.report_losses(probe.losses()?)?;
    stream.out.flush()?;
    drop(probe); // detaches
    Ok(())
}
