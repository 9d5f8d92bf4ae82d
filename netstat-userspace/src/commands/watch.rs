//! `enetstat watch`: the live transition stream, or with `--lifetimes` one line per closed
//! connection.

use std::io::Write;

use crate::{
    aggregator::{lifetimes::lifetime, transitions::TransitionTracker},
    events::{TcpTransition, filter::TransitionFilter},
    model::losses::Losses,
    output,
    probes::TcpStateProbe,
    sources::pump::{EventSink, Pump, StopSignals},
    views::{
        clock::Clock,
        lifetimes::LifetimePrinter,
        transitions::{StreamFormat, TransitionPrinter, describe_loss},
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

/// Everything a batch of records updates.
struct Stream<W: Write> {
    filter: TransitionFilter,
    tracker: TransitionTracker,
    printer: TransitionPrinter,
    /// Set with `--lifetimes`: closed connections are printed instead of transitions.
    lifetimes: Option<LifetimePrinter>,
    out: W,
}

impl<W: Write> EventSink<TcpTransition> for Stream<W> {
    fn on_batch(&mut self, transitions: &[TcpTransition]) -> anyhow::Result<()> {
        for &transition in transitions {
            let observed = self.tracker.observe(transition);
            if !self.filter.matches(&transition) {
                continue;
            }
            match &self.lifetimes {
                Some(printer) => {
                    if let Some(life) = lifetime(&observed) {
                        printer.write_lifetime(&mut self.out, &life)?;
                    }
                }
                None => self.printer.write_transition(&mut self.out, &observed)?,
            }
        }
        self.out.flush()?;
        Ok(())
    }

    fn on_losses(&mut self, lost: &Losses) -> anyhow::Result<()> {
        for (cause, lost) in lost.by_cause() {
            if lost > 0 {
                eprintln!(
                    "enetstat: {lost} transition records lost: {}",
                    describe_loss(cause)
                );
                self.printer
                    .write_lost(&mut self.out, Clock::monotonic_now_ns(), lost, cause)?;
            }
        }
        self.out.flush()?;
        Ok(())
    }
}

pub(crate) async fn run(config: WatchConfig) -> anyhow::Result<()> {
    let stop = StopSignals::install()?;
    let (probe, events) = TcpStateProbe::attach(&config.filter.kernel(), config.ring_bytes)?;
    let pump = Pump::new(stop, events)?;

    let clock = Clock::now();
    let mut stream = Stream {
        filter: config.filter,
        tracker: TransitionTracker::new(),
        printer: TransitionPrinter::new(config.format, clock).with_color(config.color),
        lifetimes: config
            .lifetimes
            .then(|| LifetimePrinter::new(config.format, clock)),
        out: output::stdout(),
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

    // Whatever arrived before the signal is still written, and losses are final.
    pump.run(&mut stream).await?;
    drop(probe); // detaches
    Ok(())
}
