//! `enetstat -c`: netstat's continuous listing without polling. The probe is attached first,
//! then the table is printed once, then every TCP transition since is printed as it happens, one
//! netstat-format row each (README: "Continuous listing"). Nothing that opens and closes between
//! two netstat refreshes is missed. With `--json`, the same as JSON lines (README: "JSON output").

use std::io::Write;

use anyhow::bail;

use crate::{
    aggregator::transitions::TransitionTracker,
    events::{TcpTransition, filter::TransitionFilter},
    model::{losses::Losses, sockets::Family},
    output,
    probes::{DEFAULT_RING_BYTES, TcpStateProbe},
    snapshot::{self, NetstatConfig, NetstatView},
    sources::pump::{EventSink, Pump, StopSignals},
    views::{
        clock::Clock,
        printer::{SnapshotPrinter, printer_for},
    },
};

/// Whether -c shows this transition: of this network namespace (as netstat's /proc listing),
/// TCP and the families asked for, and, as netstat's listing, listeners only with -a or -l,
/// connections unless -l. `own_netns` is None when unknown; records tagged 0 are unknown too.
fn shown(config: &NetstatConfig, own_netns: Option<u64>, t: &TcpTransition) -> bool {
    if let Some(own) = own_netns
        && t.netns != 0
        && u64::from(t.netns) != own
    {
        return false;
    }
    let flags = &config.flags;
    let family = match t.family {
        Family::Inet => flags.families.inet || !flags.named_protocols,
        Family::Inet6 => flags.families.inet6 || !flags.named_protocols,
    };
    let listener = t.remote_port == 0;
    family && (!flags.named_protocols || flags.tcp) && (flags.all || listener == flags.listening)
}

/// Whether `-c` follows TCP transitions (a listing that shows TCP sockets, and `-i`, whose
/// counters come from the probes); other views are reprinted every second, as netstat does.
pub(crate) fn follows_events(config: &NetstatConfig) -> bool {
    let flags = &config.flags;
    match config.view {
        NetstatView::Interfaces => true,
        NetstatView::Sockets => !flags.named_protocols || flags.tcp,
        NetstatView::Route | NetstatView::Statistics => false,
    }
}

/// netstat's own `-c` for the views no event describes (`-rc`, `-gc`, `-uc`, `-xc`, ...): the
/// whole view again every second, until a signal ends the process as it ends netstat's. `-s`
/// ignores `-c`, as in netstat. No async runtime: a UNIX listing would show its sockets.
pub(crate) fn refresh(mut config: NetstatConfig) -> anyhow::Result<()> {
    config.flags.continuous = false;
    let clock = Clock::now();
    let mut out = output::stdout();
    let names = snapshot::names_for(&config.flags);
    let mut printer = printer_for(&config.flags, names.as_ref());
    loop {
        // As -ic --json: each refresh's objects stamped with the time it was read.
        printer.stamp(Some(clock.rfc3339(Clock::monotonic_now_ns())));
        snapshot::render_with(&config, None, &[], printer.as_mut(), &mut out)?;
        out.flush()?;
        if config.view == NetstatView::Statistics {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

pub(crate) async fn run(mut config: NetstatConfig) -> anyhow::Result<()> {
    if config.view == NetstatView::Interfaces {
        return super::interfaces::continuous(config).await;
    }
    if !follows_events(&config) {
        bail!("-c: this view is refreshed, not followed");
    }
    let stop = StopSignals::install()?;
    let (probe, events) =
        TcpStateProbe::attach(&TransitionFilter::default().kernel(), DEFAULT_RING_BYTES)?;
    let pump = Pump::new(stop, events)?;

    config.flags.continuous = false;
    let clock = Clock::now();
    let mut out = output::stdout();
    let names = snapshot::names_for(&config.flags);
    // JSON lines throughout: the table's objects stamped with the time it was read, then one
    // object per transition stamped with its own.
    let mut printer = printer_for(&config.flags, names.as_ref());
    printer.stamp(Some(clock.rfc3339(Clock::monotonic_now_ns())));
    snapshot::render_with(&config, None, &[], printer.as_mut(), &mut out)?;
    out.flush()?;

    let mut rows = Rows {
        config: &config,
        own_netns: crate::sources::daemon::own_netns(),
        tracker: TransitionTracker::new(),
        printer,
        clock,
        out,
    };
    pump.run(&mut rows).await?;
    drop(probe); // detaches
    Ok(())
}

/// One row (or JSON object) per transition shown.
struct Rows<'a, W: Write> {
    config: &'a NetstatConfig,
    own_netns: Option<u64>,
    tracker: TransitionTracker,
    printer: Box<dyn SnapshotPrinter + 'a>,
    clock: Clock,
    out: W,
}

impl<W: Write> EventSink<TcpTransition> for Rows<'_, W> {
    fn on_event(&mut self, transition: &TcpTransition) -> anyhow::Result<()> {
        let observed = self.tracker.observe(*transition);
        if !shown(self.config, self.own_netns, transition) {
            return Ok(());
        }
        let owner = observed.owner.as_ref();
        self.printer
            .transition(&self.clock, transition, owner, &mut self.out)?;
        Ok(())
    }

    fn end_batch(&mut self) -> anyhow::Result<()> {
        self.out.flush()?;
        Ok(())
    }

    /// netstat's columns stay as they are: losses go to stderr.
    fn on_losses(&mut self, lost: &Losses) -> anyhow::Result<()> {
        eprintln!("enetstat: {} transition records lost", lost.total());
        Ok(())
    }
}
