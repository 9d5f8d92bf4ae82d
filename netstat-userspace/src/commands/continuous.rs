//! `enetstat -c`: netstat's continuous listing without polling. The probe is attached first,
//! then the table is printed once, then every TCP transition since is printed as it happens, one
//! netstat-format row each (README: "Continuous listing"). Nothing that opens and closes between
//! two netstat refreshes is missed. With `--json`, the same as JSON lines (README: "JSON output").

use std::{collections::BTreeMap, io::Write};

use anyhow::bail;

use crate::{
    aggregator::transitions::TransitionTracker,
    events::{TcpTransition, filter::TransitionFilter},
    model::{
        health::EventKinds,
        losses::Losses,
        netns::{Namespace, NetnsSpec},
        sockets::Family,
    },
    output,
    probes::{DEFAULT_RING_BYTES, TcpStateProbe},
    snapshot::{self, NetstatConfig, NetstatView},
    sources::{
        netns,
        pump::{EventSink, Pump, StopSignals},
    },
    views::{
        clock::Clock,
        printer::{SnapshotPrinter, printer_for},
    },
};

/// Whether -c shows this transition: of the namespace it lists, TCP and the families asked for,
/// and, as netstat's listing, listeners only with -a or -l, connections unless -l.
fn shown(config: &NetstatConfig, namespaces: &Sections, t: &TcpTransition) -> bool {
    if !namespaces.lists(t) {
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
        let read_at = clock.rfc3339(Clock::monotonic_now_ns());
        match &config.namespaces {
            None => {
                printer.stamp(Some(read_at));
                snapshot::render_with(&config, None, &[], printer.as_mut(), &mut out)?;
            }
            Some(spec) => {
                let found = netns::resolve(spec)?;
                snapshot::render_namespaces(&config, &found, None, Some(&read_at), &[], &mut out)?;
            }
        }
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
    let (probe, events) = TcpStateProbe::attach(
        &TransitionFilter::default().kernel(),
        DEFAULT_RING_BYTES,
        EventKinds::default(),
    )?;
    let pump = Pump::new(stop, events)?;

    config.flags.continuous = false;
    let clock = Clock::now();
    let mut out = output::stdout();
    let names = snapshot::names_for(&config.flags);
    // JSON lines throughout: the table's objects stamped with the time it was read, then one
    // object per transition stamped with its own.
    let mut printer = printer_for(&config.flags, names.as_ref());
    let read_at = clock.rfc3339(Clock::monotonic_now_ns());
    let own = crate::sources::daemon::own_netns();
    let sections = match &config.namespaces {
        None => {
            printer.stamp(Some(read_at));
            snapshot::render_with(&config, None, &[], printer.as_mut(), &mut out)?;
            Sections::own(own)
        }
        Some(spec) => {
            // A section per namespace, then transitions, each under its namespace's heading.
            let found = netns::resolve(spec)?;
            snapshot::render_namespaces(&config, &found, None, Some(&read_at), &[], &mut out)?;
            Sections::named(own, *spec == NetnsSpec::All, found)
        }
    };
    out.flush()?;

    let mut rows = Rows {
        config: &config,
        sections,
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
    sections: Sections,
    tracker: TransitionTracker,
    printer: Box<dyn SnapshotPrinter + 'a>,
    clock: Clock,
    out: W,
}

impl<W: Write> EventSink<TcpTransition> for Rows<'_, W> {
    fn on_event(&mut self, transition: &TcpTransition) -> anyhow::Result<()> {
        let observed = self.tracker.observe(*transition);
        if !shown(self.config, &self.sections, transition) {
            return Ok(());
        }
        if let Some(ns) = self.sections.entered_by(transition) {
            self.printer.namespace(&ns, false, &mut self.out)?;
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

/// Which namespaces -c lists, and under which heading the last row went.
struct Sections {
    /// The caller's namespace (None when unknown): where records that name none (0) belong.
    own: Option<u64>,
    /// Without `--netns`: the caller's alone, without headings.
    headings: bool,
    /// `--netns all`: every namespace, those found later too.
    every: bool,
    /// The namespaces listed (with `every`, those known so far), by inode.
    known: BTreeMap<u64, Namespace>,
    /// The namespace of the last row printed: a row of another starts a new section.
    last: Option<u64>,
}

impl Sections {
    fn own(own: Option<u64>) -> Self {
        Sections {
            own,
            headings: false,
            every: false,
            known: BTreeMap::new(),
            last: None,
        }
    }

    /// After the snapshot: its last section is the one rows go under until another's comes.
    fn named(own: Option<u64>, every: bool, found: Vec<Namespace>) -> Self {
        let last = found.last().map(|ns| ns.inode);
        Sections {
            own,
            headings: true,
            every,
            known: found.into_iter().map(|ns| (ns.inode, ns)).collect(),
            last,
        }
    }

    fn namespace_of(&self, t: &TcpTransition) -> Option<u64> {
        match t.netns {
            0 => self.own,
            netns => Some(u64::from(netns)),
        }
    }

    fn lists(&self, t: &TcpTransition) -> bool {
        match self.namespace_of(t) {
            // Unknown on both sides: the caller's, as before.
            None => !self.headings,
            Some(netns) if !self.headings => Some(netns) == self.own,
            Some(netns) => self.every || self.known.contains_key(&netns),
        }
    }

    /// The namespace whose heading must come before this row, when it starts a new section.
    fn entered_by(&mut self, t: &TcpTransition) -> Option<Namespace> {
        let netns = self.namespace_of(t)?;
        if !self.headings || self.last == Some(netns) {
            return None;
        }
        self.last = Some(netns);
        let ns = self.known.entry(netns).or_insert_with(|| {
            // A namespace born since the snapshot: named if it can be found.
            netns::resolve(&NetnsSpec::Inode(netns))
                .ok()
                .and_then(|mut found| found.pop())
                .unwrap_or(Namespace {
                    inode: netns,
                    name: None,
                    path: Default::default(),
                })
        });
        Some(ns.clone())
    }
}
