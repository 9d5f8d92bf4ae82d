//! `enetstat watch`: the live transition stream, or with `--lifetimes` one line per closed
//! connection.

use std::io::Write;

use crate::{
    aggregator::{lifetimes::lifetime, transitions::TransitionTracker},
    events::{
        filter::TransitionFilter,
        health::{HealthEvent, LiveEvent},
    },
    model::{
        health::{EventKind, EventKinds},
        losses::Losses,
        netns::NetnsSpec,
    },
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
    /// `--events`: the kinds shown, with an EVENT column; None for transitions alone, as
    /// before.
    pub(crate) events: Option<EventKinds>,
}

/// Everything a batch of records updates.
struct Stream<W: Write> {
    filter: TransitionFilter,
    tracker: TransitionTracker,
    printer: Box<dyn WatchPrinter>,
    /// `--lifetimes`: closed connections are printed instead of transitions.
    lifetimes: bool,
    /// The kinds shown; transitions are traced whether shown or not (owners come from them).
    kinds: EventKinds,
    out: W,
}

impl<W: Write> Stream<W> {
    fn on_health(&mut self, event: &HealthEvent) -> anyhow::Result<()> {
        if !self.filter.matches_health(event) {
            return Ok(());
        }
        let owner = event
            .socket_key()
            .and_then(|key| self.tracker.owner_of(key));
        self.printer.health(&mut self.out, event, owner)?;
        Ok(())
    }
}

impl<W: Write> EventSink<LiveEvent> for Stream<W> {
    fn on_event(&mut self, event: &LiveEvent) -> anyhow::Result<()> {
        let transition = match event {
            LiveEvent::State(transition) => transition,
            LiveEvent::Health(health) => return self.on_health(health),
        };
        let observed = self.tracker.observe(*transition);
        if !self.kinds.contains(EventKind::State) || !self.filter.matches(transition) {
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
                    "enetstat: {lost} {} records lost: {}",
                    if self.kinds.any_health() {
                        "event"
                    } else {
                        "transition"
                    },
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
    let kinds = config.events.unwrap_or_default();
    let stop = StopSignals::install()?;
    let (probe, events) = TcpStateProbe::attach(&config.filter.kernel(), config.ring_bytes, kinds)?;
    let pump = Pump::new(stop, events)?;

    let clock = Clock::now();
    let rows = if config.lifetimes {
        WatchRows::Lifetimes
    } else {
        WatchRows::Transitions
    };
    let tracker = if kinds.any_health() {
        TransitionTracker::new().keeping_closed_owners()
    } else {
        TransitionTracker::new()
    };
    let mut stream = Stream {
        filter: config.filter,
        tracker,
        printer: watch_printer(config.format, rows, clock, config.color),
        lifetimes: config.lifetimes,
        kinds,
        out: output::stream_stdout(),
    };
    if config.namespaces.is_some() {
        stream.printer.show_namespaces();
    }
    if config.events.is_some() {
        stream.printer.show_events(probe.reasons.clone());
    }
    stream.printer.header(&mut stream.out)?;
    stream.out.flush()?;
    if config.lifetimes
        && let Some(why) = &probe.close_counters_unknown
    {
        eprintln!(
            "enetstat: byte counts, retransmits and RTT unknown, shown as - (JSON null): {why}"
        );
    }
    // Like tcpdump's "listening on", so people and scripts know when capture begins.
    let what = if config.lifetimes {
        "TCP connection lifetimes".to_string()
    } else if config.events.is_some() {
        format!("socket events ({kinds})")
    } else {
        "TCP state transitions".to_string()
    };
    eprintln!("enetstat: watching {what} (Ctrl-C to stop)");

    // Whatever arrived before the signal is still written, and losses are final.
    pump.run(&mut stream).await?;
    drop(probe); // detaches
    Ok(())
}
