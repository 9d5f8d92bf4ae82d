//! `enetstat watch`: the live transition stream, or with `--lifetimes` one line per closed
//! connection.

use std::io::Write;

use crate::{
    aggregator::{lifetimes::lifetime, transitions::TransitionTracker},
    events::{TcpTransition, filter::TransitionFilter},
    model::{losses::Losses, netns::NetnsSpec},
    output,
    probes::TcpStateProbe,
    sources::{
        netns,
        pump::{EventSink, Pump, StopSignals},
    },
    views::{
        clock::Clock,
        transitions::{StreamFormat, WatchPrinter, WatchRows, describe_loss, watch_printer},
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
    /// `--netns`: only these namespaces' sockets, with a NETNS column; None for every
    /// namespace's, as before.
    pub(crate) namespaces: Option<NetnsSpec>,
}

/// Everything a batch of records updates.
struct Stream<W: Write> {
    filter: TransitionFilter,
    tracker: TransitionTracker,
    printer: Box<dyn WatchPrinter>,
    /// `--lifetimes`: closed connections are printed instead of transitions.
    lifetimes: bool,
    out: W,
}

impl<W: Write> EventSink<TcpTransition> for Stream<W> {
    fn on_event(&mut self, transition: &TcpTransition) -> anyhow::Result<()> {
        let observed = self.tracker.observe(*transition);
        if !self.filter.matches(transition) {
            return Ok(());
        }
        if !self.lifetimes {
            self.printer.transition(&mut self.out, &observed)?;
        } else if let Some(life) = lifetime(&observed) {
            self.printer.lifetime(&mut self.out, &life)?;
        }
        Ok(())
    }

    fn end_batch(&mut self) -> anyhow::Result<()> {
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
                    .lost(&mut self.out, Clock::monotonic_now_ns(), lost, cause)?;
            }
        }
        self.out.flush()?;
        Ok(())
    }
}

pub(crate) async fn run(mut config: WatchConfig) -> anyhow::Result<()> {
    // One namespace named: its inode is compared in the probe. `all` is every one, as without.
    if let Some(spec) = config
        .namespaces
        .as_ref()
        .filter(|spec| **spec != NetnsSpec::All)
    {
        let inode = netns::resolve(spec)?
            .first()
            .map(|ns| ns.inode)
            .ok_or_else(|| anyhow::anyhow!("--netns {spec}: no such network namespace"))?;
        let inode = u32::try_from(inode)
            .map_err(|_| anyhow::anyhow!("--netns {spec}: inode {inode} out of range"))?;
        config.filter = config.filter.in_namespace(inode);
    }
    let stop = StopSignals::install()?;
    let (probe, events) = TcpStateProbe::attach(&config.filter.kernel(), config.ring_bytes)?;
    let pump = Pump::new(stop, events)?;

    let clock = Clock::now();
    let rows = if config.lifetimes {
        WatchRows::Lifetimes
    } else {
        WatchRows::Transitions
    };
    let mut stream = Stream {
        filter: config.filter,
        tracker: TransitionTracker::new(),
        printer: watch_printer(config.format, rows, clock, config.color),
        lifetimes: config.lifetimes,
        out: output::stream_stdout(),
    };
    if config.namespaces.is_some() {
        stream.printer.show_namespaces();
    }
    stream.printer.header(&mut stream.out)?;
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
