//! Live interface counters: `enetstat watch --interfaces` (rates, error and drop events, links
//! appearing and vanishing) and `enetstat -ic` (netstat's interface table, refreshed from the
//! probes instead of /proc/net/dev).

use std::{io::Write, time::Duration};

use anyhow::Context as _;

use crate::{
    aggregator::interfaces::{InterfaceSample, LinkEvent},
    commands::live_interfaces::LiveInterfaces,
    events::interface::InterfaceEvent,
    model::losses::{LossCause, Losses},
    output,
    probes::{
        check_ring_size,
        interfaces::{InterfaceProbe, InterfaceProbeOptions},
    },
    snapshot::{self, NetstatConfig},
    sources::{
        daemon::own_netns,
        names::kernel_symbols::KernelSymbolsOnDemand,
        proc::dev::InterfaceList,
        pump::{EventSink, Flow, Pump, StopSignals},
    },
    views::{
        clock::Clock,
        interface_stream::{InterfacePrinter, describe_loss, interface_printer},
        printer::{SnapshotPrinter, printer_for},
        transitions::StreamFormat,
    },
};

/// `watch --interfaces`, checked.
#[derive(Debug)]
pub(crate) struct InterfaceWatchConfig {
    pub(crate) format: StreamFormat,
    pub(crate) interval: Duration,
    pub(crate) ring_bytes: u32,
    pub(crate) events_per_sec: u32,
}

/// What a live view does with each kind of news.
trait LiveView {
    fn samples(&mut self, now_ns: u64, samples: &[InterfaceSample]) -> anyhow::Result<()>;
    fn event(&mut self, event: &InterfaceEvent) -> std::io::Result<()>;
    fn link(&mut self, now_ns: u64, event: &LinkEvent) -> anyhow::Result<()>;
    fn lost(&mut self, now_ns: u64, lost: u64, cause: LossCause) -> anyhow::Result<()>;
    fn flush(&mut self) -> std::io::Result<()>;
    /// The probes are attached: what they know of this kernel is available.
    fn attached(&mut self, _probe: &InterfaceProbe) -> anyhow::Result<()> {
        Ok(())
    }
    /// Whether the counters are shown once more on exit.
    fn final_sample(&self) -> bool {
        true
    }
}

/// Every view takes the pump's events and losses alike.
impl<V: LiveView + ?Sized> EventSink<InterfaceEvent> for V {
    fn on_event(&mut self, event: &InterfaceEvent) -> anyhow::Result<()> {
        self.event(event)?;
        Ok(())
    }

    fn end_batch(&mut self) -> anyhow::Result<()> {
        self.flush()?;
        Ok(())
    }

    /// Nothing is lost silently: growth of the probes' own counters is reported.
    fn on_losses(&mut self, lost: &Losses) -> anyhow::Result<()> {
        let now = Clock::monotonic_now_ns();
        for (cause, lost) in lost.by_cause() {
            if lost > 0 {
                eprintln!("enetstat: {lost} {}", describe_loss(cause));
                self.lost(now, lost, cause)?;
            }
        }
        self.flush()?;
        Ok(())
    }
}

/// Attaches, then feeds `view` until SIGINT/SIGTERM; dropping the probes detaches them.
async fn run_live(
    options: InterfaceProbeOptions,
    interval: Duration,
    view: &mut dyn LiveView,
    ready: Option<&str>,
) -> anyhow::Result<()> {
    let stop = StopSignals::install()?;
    let (mut live, events) = LiveInterfaces::start(options)?;
    view.attached(&live.probe)?;
    if let Some(ready) = ready {
        // Once counting has begun, so people and scripts know what is covered.
        eprintln!("{ready}");
    }
    let mut pump = Pump::new(stop, events)?;
    if !live.probe.drops_attached && options.count_drops {
        eprintln!("enetstat: drop events unavailable on this kernel (no skb:kfree_skb reason)");
    }

    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            flow = pump.next(view) => {
                if flow? == Flow::Stopped {
                    break;
                }
            }
            changes = live.link_changes() => {
                let now = Clock::monotonic_now_ns();
                for change in changes? {
                    view.link(now, &change)?;
                }
            }
            _ = tick.tick() => {
                let now = Clock::monotonic_now_ns();
                let samples = live.sample(now)?;
                view.samples(now, &samples)?;
            }
        }
        view.flush()?;
    }
    // What arrived before the signal is still shown, then the counters as they stand, then
    // the final losses.
    pump.drain_all(view)?;
    if view.final_sample() {
        let now = Clock::monotonic_now_ns();
        view.samples(now, &live.sample(now)?)?;
    }
    pump.finish(view)?;
    view.flush()?;
    Ok(())
}

/// Probes for this process's network namespace.
pub(crate) fn probe_options(
    ring_bytes: u32,
    events_per_sec: u32,
    count_drops: bool,
) -> anyhow::Result<InterfaceProbeOptions> {
    let netns = own_netns().context("reading /proc/self/ns/net")?;
    Ok(InterfaceProbeOptions {
        netns: u32::try_from(netns).context("network namespace inode out of range")?,
        ring_bytes,
        events_per_sec,
        count_drops,
    })
}

struct StreamView<W: Write> {
    printer: Box<dyn InterfacePrinter>,
    out: W,
}

impl<W: Write> LiveView for StreamView<W> {
    fn samples(&mut self, now_ns: u64, samples: &[InterfaceSample]) -> anyhow::Result<()> {
        Ok(self.printer.samples(&mut self.out, now_ns, samples)?)
    }
    fn event(&mut self, event: &InterfaceEvent) -> std::io::Result<()> {
        self.printer.event(&mut self.out, event)
    }
    fn link(&mut self, now_ns: u64, event: &LinkEvent) -> anyhow::Result<()> {
        Ok(self.printer.link_event(&mut self.out, now_ns, event)?)
    }
    fn lost(&mut self, now_ns: u64, lost: u64, cause: LossCause) -> anyhow::Result<()> {
        Ok(self.printer.lost(&mut self.out, now_ns, lost, cause)?)
    }
    /// The header only now: a failed attach (not root, say) prints its one line and nothing else.
    fn attached(&mut self, probe: &InterfaceProbe) -> anyhow::Result<()> {
        self.printer.set_drop_reasons(probe.drop_reasons.clone());
        self.printer.header(&mut self.out)?;
        Ok(self.out.flush()?)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// `enetstat watch --interfaces`.
pub(crate) async fn watch(config: InterfaceWatchConfig) -> anyhow::Result<()> {
    let mut view = StreamView {
        printer: interface_printer(
            config.format,
            Clock::now(),
            Box::new(KernelSymbolsOnDemand::default()),
        ),
        out: output::stdout(),
    };
    let options = probe_options(config.ring_bytes, config.events_per_sec, true)?;
    let ready = "enetstat: watching interfaces (Ctrl-C to stop)";
    run_live(options, config.interval, &mut view, Some(ready)).await
}

/// netstat's table, each refresh built from the live counters.
struct NetstatTableView<'a, W: Write> {
    config: &'a NetstatConfig,
    printer: Box<dyn SnapshotPrinter + 'a>,
    clock: Clock,
    first: bool,
    out: W,
}

impl<W: Write> LiveView for NetstatTableView<'_, W> {
    fn samples(&mut self, now_ns: u64, samples: &[InterfaceSample]) -> anyhow::Result<()> {
        let mut list = InterfaceList::default();
        for sample in samples {
            list.add_with_stats(&sample.link.name, sample.totals);
        }
        // JSON objects are stamped with their refresh's time.
        self.printer.stamp(Some(self.clock.rfc3339(now_ns)));
        let flags = &self.config.flags;
        snapshot::interfaces::render(
            flags,
            self.printer.as_mut(),
            list,
            self.first,
            &mut self.out,
        )?;
        self.first = false;
        Ok(())
    }
    // netstat -ic shows tables only; events and link changes show in the next table.
    fn event(&mut self, _event: &InterfaceEvent) -> std::io::Result<()> {
        Ok(())
    }
    fn link(&mut self, _now_ns: u64, _event: &LinkEvent) -> anyhow::Result<()> {
        Ok(())
    }
    fn lost(&mut self, _now_ns: u64, _lost: u64, _cause: LossCause) -> anyhow::Result<()> {
        Ok(())
    }
    // netstat -ic ends on Ctrl-C without another table.
    fn final_sample(&self) -> bool {
        false
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// `enetstat -ic`: netstat's refresh every second, the counters from the probes.
pub(crate) async fn continuous(config: NetstatConfig) -> anyhow::Result<()> {
    let names = snapshot::names_for(&config.flags);
    let mut view = NetstatTableView {
        config: &config,
        printer: printer_for(&config.flags, names.as_ref()),
        clock: Clock::now(),
        first: true,
        out: output::stdout(),
    };
    let ring_bytes = check_ring_size(1 << 16).map_err(anyhow::Error::msg)?;
    // No events in this view: the drop probe stays detached.
    let options = probe_options(ring_bytes, 0, false)?;
    run_live(options, Duration::from_secs(1), &mut view, None).await
}
