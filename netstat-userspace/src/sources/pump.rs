//! The event pump: the one loop under every live command (`watch`, `-c`, `-ic`,
//! `watch --interfaces`, `serve`). It drains a probe's ring in bounded batches and hands each
//! record to the command's [`EventSink`] as it decodes it where it lies in the ring; it reads the probe's loss counters and hands
//! over their growth; it counts malformed records and says so on stderr at most once a second;
//! and it stops at SIGINT, SIGTERM or SIGHUP (the daemon is told of SIGHUP instead). The
//! commands keep only what they do with each event.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::time::{Interval, MissedTickBehavior};

use super::ring::RingReader;
use crate::{
    events::{DecodeError, TcpTransition, health::LiveEvent, interface::InterfaceEvent},
    model::losses::Losses,
    probes::stream::{EventStream, LossReader},
};

/// Records handed to the sink at once before other tasks get a turn.
const BATCH: usize = 4096;

/// How often the ring is drained without a wakeup: the bound on latency. The probe wakes the
/// reader itself only when the ring is a quarter full (each wakeup costs the traced CPU an IPI).
const DRAIN_INTERVAL: Duration = Duration::from_millis(20);

/// How often the loss counters are read (README: "Nothing lost silently").
const LOSS_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// At most one line about malformed records per this.
const MALFORMED_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// SIGINT, SIGTERM and SIGHUP. Installed before the probes attach, so that a Ctrl-C during the
/// attach still ends in the command's orderly exit (drain, report losses, detach).
pub(crate) struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
    /// SIGHUP is handed to the command ([`Flow::HungUp`]) instead of stopping it.
    report_hangup: bool,
}

impl StopSignals {
    /// All three stop: a closed terminal (SIGHUP) ends a live command as Ctrl-C does.
    pub(crate) fn install() -> anyhow::Result<Self> {
        Self::install_with(false)
    }

    /// SIGINT and SIGTERM stop; SIGHUP is reported as [`Flow::HungUp`] (the daemon resyncs).
    pub(crate) fn install_reporting_hangup() -> anyhow::Result<Self> {
        Self::install_with(true)
    }

    fn install_with(report_hangup: bool) -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt()).context("installing a SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing a SIGTERM handler")?,
            hangup: signal(SignalKind::hangup()).context("installing a SIGHUP handler")?,
            report_hangup,
        })
    }

    /// Resolves at the first signal: [`Flow::Stopped`], or [`Flow::HungUp`] for a SIGHUP that is
    /// reported.
    async fn received(&mut self) -> Flow {
        let on_hangup = if self.report_hangup {
            Flow::HungUp
        } else {
            Flow::Stopped
        };
        tokio::select! {
            _ = self.interrupt.recv() => Flow::Stopped,
            _ = self.terminate.recv() => Flow::Stopped,
            _ = self.hangup.recv() => on_hangup,
        }
    }
}

/// A record the probes write, decoded from the ring's bytes.
pub(crate) trait Decode: Sized {
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;
}

impl Decode for TcpTransition {
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        TcpTransition::decode(bytes)
    }
}

impl Decode for LiveEvent {
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        LiveEvent::decode(bytes)
    }
}

impl Decode for InterfaceEvent {
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        InterfaceEvent::decode(bytes)
    }
}

/// What a command does with the pump's news.
pub(crate) trait EventSink<E> {
    /// One record, decoded, in ring order: straight from the ring, with no batch in between.
    fn on_event(&mut self, event: &E) -> anyhow::Result<()>;
    /// After the events of a batch (at most [`BATCH`] of them, never none): where a stream
    /// flushes.
    fn end_batch(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    /// What the probe lost since the last call; called only when something was.
    fn on_losses(&mut self, lost: &Losses) -> anyhow::Result<()>;
    /// The count of malformed records so far, when it grew. The pump has reported them on
    /// stderr already; a sink that shows counters (the daemon) keeps it.
    fn on_malformed(&mut self, _total: u64) {}
}

/// What the command should do after a turn of the pump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Running,
    /// A stop signal came: finish ([`Pump::finish`]) or just leave.
    Stopped,
    /// SIGHUP came, and the command asked to hear of it
    /// ([`StopSignals::install_reporting_hangup`]).
    HungUp,
}

/// A probe's stream, read.
pub(crate) struct Pump<E> {
    stop: StopSignals,
    ring: RingReader,
    loss_reader: LossReader,
    intake: Intake<E>,
    drain_tick: Interval,
    loss_check: Interval,
}

/// A timer whose ticks are delayed rather than bunched up after a stall.
fn timer(period: Duration) -> Interval {
    let mut timer = tokio::time::interval(period);
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    timer
}

impl<E: Decode> Pump<E> {
    /// Reads an attached probe's stream; `stop` was installed before the attach.
    pub(crate) fn new(stop: StopSignals, stream: EventStream) -> anyhow::Result<Self> {
        let baseline = stream.losses.read()?;
        let ring =
            RingReader::new(stream.ring).context("registering the ring buffer with tokio")?;
        Ok(Pump {
            stop,
            ring,
            loss_reader: stream.losses,
            intake: Intake::new(baseline),
            drain_tick: timer(DRAIN_INTERVAL),
            loss_check: timer(LOSS_CHECK_INTERVAL),
        })
    }

    /// One turn: waits for records, the drain timer, the loss check or a stop signal, and does
    /// what it calls for. Cancel-safe (records leave the ring, and the sink is called, only after
    /// the wait), so it can sit in a `select!` beside a command's own sources.
    pub(crate) async fn next<S: EventSink<E> + ?Sized>(
        &mut self,
        sink: &mut S,
    ) -> anyhow::Result<Flow> {
        let intake = &mut self.intake;
        tokio::select! {
            flow = self.stop.received() => return Ok(flow),
            taken = self.ring.next_batch(BATCH, |bytes| intake.take(bytes, sink)) => {
                taken?;
                intake.deliver(sink)?;
            }
            _ = self.drain_tick.tick() => {
                if intake.pass_batch(&mut self.ring, sink)? {
                    // More is waiting: come back after the other branches had a turn.
                    self.drain_tick.reset_immediately();
                }
            }
            _ = self.loss_check.tick() => {
                let losses = self.loss_reader.read()?;
                intake.report(losses, sink, Instant::now(), false)?;
            }
        }
        Ok(Flow::Running)
    }

    /// Everything in the ring now, in bounded batches: before an answer, so that it is at least
    /// as fresh as the question.
    pub(crate) fn drain_all<S: EventSink<E> + ?Sized>(
        &mut self,
        sink: &mut S,
    ) -> anyhow::Result<()> {
        while self.intake.pass_batch(&mut self.ring, sink)? {}
        Ok(())
    }

    /// Everything in the ring now, decoded (malformed records counted as always), for a consumer
    /// that takes them all at once: the daemon's replay around its snapshot.
    pub(crate) fn drain_into(&mut self, events: &mut Vec<E>)
    where
        E: Clone,
    {
        let mut collect = Collect(events);
        while self
            .ring
            .take(BATCH, |bytes| self.intake.take(bytes, &mut collect))
            == BATCH
        {}
    }

    /// After the stop: what arrived before it is still delivered, the losses are final, and
    /// malformed records not yet reported are.
    pub(crate) fn finish<S: EventSink<E> + ?Sized>(mut self, sink: &mut S) -> anyhow::Result<()> {
        self.drain_all(sink)?;
        let losses = self.loss_reader.read()?;
        self.intake.report(losses, sink, Instant::now(), true)
    }

    /// Until a stop signal, then [`Pump::finish`].
    pub(crate) async fn run<S: EventSink<E> + ?Sized>(
        mut self,
        sink: &mut S,
    ) -> anyhow::Result<()> {
        while self.next(sink).await? == Flow::Running {}
        self.finish(sink)
    }
}

/// Where records come from: the probe's ring, or a test's queue.
trait Records {
    /// Passes up to `max` records that are there now to `handle`, until it returns false;
    /// returns how many it was passed.
    fn take(&mut self, max: usize, handle: impl FnMut(&[u8]) -> bool) -> usize;
}

impl Records for RingReader {
    fn take(&mut self, max: usize, handle: impl FnMut(&[u8]) -> bool) -> usize {
        self.drain_now(max, handle)
    }
}

/// The replay's sink: the events kept for the daemon to take all at once.
struct Collect<'a, E>(&'a mut Vec<E>);

impl<E: Clone> EventSink<E> for Collect<'_, E> {
    fn on_event(&mut self, event: &E) -> anyhow::Result<()> {
        self.0.push(event.clone());
        Ok(())
    }

    fn on_losses(&mut self, _lost: &Losses) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The pump's bookkeeping, apart from the ring's wakeups and the timers.
struct Intake<E> {
    /// Events the sink was given since its last [`EventSink::end_batch`].
    unfinished: usize,
    /// The sink's error on an event: the batch stopped there, and the pump returns it.
    failed: Option<anyhow::Error>,
    decodes: std::marker::PhantomData<fn() -> E>,
    malformed: MalformedRecords,
    /// The malformed count the sink was last given.
    malformed_told: u64,
    /// The loss counters at the last report.
    reported: Losses,
}

impl<E: Decode> Intake<E> {
    fn new(baseline: Losses) -> Self {
        Intake {
            unfinished: 0,
            failed: None,
            decodes: std::marker::PhantomData,
            malformed: MalformedRecords::default(),
            malformed_told: 0,
            reported: baseline,
        }
    }

    /// Decodes one record and hands it to the sink, or counts it as malformed. Returns false
    /// when the sink failed: no more records are taken, and [`Intake::deliver`] returns its error.
    fn take<S: EventSink<E> + ?Sized>(&mut self, bytes: &[u8], sink: &mut S) -> bool {
        match E::decode(bytes) {
            Ok(event) => {
                self.unfinished += 1;
                if let Err(err) = sink.on_event(&event) {
                    self.failed = Some(err);
                    return false;
                }
            }
            Err(err) => {
                if let Some(line) = self.malformed.record(&err, Instant::now()) {
                    log::warn!("{line}");
                }
            }
        }
        true
    }

    /// Ends the batch the sink was given (if any) and hands it a grown malformed count.
    fn deliver<S: EventSink<E> + ?Sized>(&mut self, sink: &mut S) -> anyhow::Result<()> {
        if let Some(err) = self.failed.take() {
            self.unfinished = 0;
            return Err(err);
        }
        if self.unfinished > 0 {
            self.unfinished = 0;
            sink.end_batch()?;
        }
        if self.malformed.total > self.malformed_told {
            self.malformed_told = self.malformed.total;
            sink.on_malformed(self.malformed_told);
        }
        Ok(())
    }

    /// Takes up to [`BATCH`] records from `records` and delivers them. Returns whether the batch
    /// was full, so more may be waiting.
    fn pass_batch<S: EventSink<E> + ?Sized>(
        &mut self,
        records: &mut impl Records,
        sink: &mut S,
    ) -> anyhow::Result<bool> {
        let taken = records.take(BATCH, |bytes| self.take(bytes, sink));
        self.deliver(sink)?;
        Ok(taken == BATCH)
    }

    /// Reports the growth of the loss counters since the last report, and a malformed summary
    /// when one is due (or, at the end, whenever one is pending).
    fn report<S: EventSink<E> + ?Sized>(
        &mut self,
        losses: Losses,
        sink: &mut S,
        now: Instant,
        at_exit: bool,
    ) -> anyhow::Result<()> {
        let lost = losses.since(&self.reported);
        self.reported = losses;
        let line = if at_exit {
            self.malformed.pending_line(now)
        } else {
            self.malformed.due_line(now)
        };
        if let Some(line) = line {
            log::warn!("{line}");
        }
        self.deliver(sink)?;
        if lost.total() > 0 {
            sink.on_losses(&lost)?;
        }
        Ok(())
    }
}

/// Records that did not decode: every one counted; on stderr the first at once, then at most one
/// summary line per [`MALFORMED_REPORT_INTERVAL`].
#[derive(Debug, Default)]
struct MalformedRecords {
    total: u64,
    /// Counted since the last line.
    unreported: u64,
    /// Why the latest unreported one did not decode.
    last_error: String,
    last_line_at: Option<Instant>,
}

impl MalformedRecords {
    /// Counts one; returns the line to write if one is due.
    fn record(&mut self, err: &DecodeError, now: Instant) -> Option<String> {
        self.total += 1;
        self.unreported += 1;
        self.last_error = err.to_string();
        self.due_line(now)
    }

    /// The summary of the unreported ones, if the last line is old enough.
    fn due_line(&mut self, now: Instant) -> Option<String> {
        let recent = self
            .last_line_at
            .is_some_and(|at| now.duration_since(at) < MALFORMED_REPORT_INTERVAL);
        if recent {
            return None;
        }
        self.pending_line(now)
    }

    /// The summary of the unreported ones, due or not.
    fn pending_line(&mut self, now: Instant) -> Option<String> {
        if self.unreported == 0 {
            return None;
        }
        let (n, total, why) = (self.unreported, self.total, &self.last_error);
        let line = match (n, total) {
            (1, 1) => format!("skipped a malformed record: {why}"),
            (1, _) => format!("skipped a malformed record ({total} in all): {why}"),
            _ => format!("skipped {n} malformed records ({total} in all), the last: {why}"),
        };
        self.unreported = 0;
        self.last_line_at = Some(now);
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use netstat_common::{AF_INET, TcpStateRecord};

    use super::*;

    /// A well-formed transition record of socket `skaddr`.
    fn record(skaddr: u64) -> Vec<u8> {
        // SAFETY: the record is plain old data; all-zero is a valid value.
        let mut record: TcpStateRecord = unsafe { std::mem::zeroed() };
        record.family = AF_INET;
        record.skaddr = skaddr;
        // SAFETY: reading a repr(C) plain-old-data value as its bytes.
        unsafe {
            std::slice::from_raw_parts(
                (&raw const record).cast::<u8>(),
                size_of::<TcpStateRecord>(),
            )
        }
        .to_vec()
    }

    /// One that does not decode: cut short.
    fn truncated() -> Vec<u8> {
        record(0)[..10].to_vec()
    }

    impl Records for VecDeque<Vec<u8>> {
        fn take(&mut self, max: usize, mut handle: impl FnMut(&[u8]) -> bool) -> usize {
            let mut taken = 0;
            while taken < max {
                let Some(bytes) = self.pop_front() else { break };
                taken += 1;
                if !handle(&bytes) {
                    break;
                }
            }
            taken
        }
    }

    /// The socket whose event the recorder refuses.
    const FAILS: u64 = u64::MAX;

    #[derive(Default)]
    struct Recorder {
        batches: Vec<Vec<u64>>,
        current: Vec<u64>,
        losses: Vec<Losses>,
        malformed: Vec<u64>,
    }

    impl EventSink<TcpTransition> for Recorder {
        fn on_event(&mut self, event: &TcpTransition) -> anyhow::Result<()> {
            if event.skaddr == FAILS {
                anyhow::bail!("the sink failed");
            }
            self.current.push(event.skaddr);
            Ok(())
        }
        fn end_batch(&mut self) -> anyhow::Result<()> {
            self.batches.push(std::mem::take(&mut self.current));
            Ok(())
        }
        fn on_losses(&mut self, lost: &Losses) -> anyhow::Result<()> {
            self.losses.push(*lost);
            Ok(())
        }
        fn on_malformed(&mut self, total: u64) {
            self.malformed.push(total);
        }
    }

    #[test]
    fn batches_are_bounded_and_keep_ring_order() {
        let mut ring: VecDeque<Vec<u8>> = (0..2 * BATCH as u64 + 5).map(record).collect();
        let mut intake = Intake::<TcpTransition>::new(Losses::default());
        let mut sink = Recorder::default();
        assert!(intake.pass_batch(&mut ring, &mut sink).unwrap(), "full");
        assert!(intake.pass_batch(&mut ring, &mut sink).unwrap(), "full");
        assert!(
            !intake.pass_batch(&mut ring, &mut sink).unwrap(),
            "the rest"
        );
        assert!(!intake.pass_batch(&mut ring, &mut sink).unwrap(), "empty");
        let sizes: Vec<usize> = sink.batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [BATCH, BATCH, 5], "an empty ring makes no batch");
        let all: Vec<u64> = sink.batches.concat();
        assert_eq!(all, (0..2 * BATCH as u64 + 5).collect::<Vec<_>>());
        assert!(sink.losses.is_empty() && sink.malformed.is_empty());
    }

    #[test]
    fn a_sink_s_error_stops_the_batch_and_is_returned_once() {
        let mut ring: VecDeque<Vec<u8>> = [record(1), record(FAILS), record(2)].into();
        let mut intake = Intake::<TcpTransition>::new(Losses::default());
        let mut sink = Recorder::default();
        let err = intake.pass_batch(&mut ring, &mut sink).unwrap_err();
        assert_eq!(err.to_string(), "the sink failed");
        assert!(sink.batches.is_empty(), "a failed batch is not ended");
        assert_eq!(ring.len(), 1, "nothing is taken after the failure");
        assert!(!intake.pass_batch(&mut ring, &mut sink).unwrap());
        assert_eq!(sink.batches, [vec![1, 2]]);
    }

    #[test]
    fn the_replay_collects_every_event_in_ring_order() {
        let mut ring: VecDeque<Vec<u8>> = (0..BATCH as u64 + 3).map(record).collect();
        let mut intake = Intake::<TcpTransition>::new(Losses::default());
        let mut events = Vec::new();
        let mut collect = Collect(&mut events);
        while ring.take(BATCH, |bytes| intake.take(bytes, &mut collect)) == BATCH {}
        let skaddrs: Vec<u64> = events.iter().map(|t| t.skaddr).collect();
        assert_eq!(skaddrs, (0..BATCH as u64 + 3).collect::<Vec<_>>());
    }

    #[test]
    fn malformed_records_are_counted_and_skipped() {
        let mut ring: VecDeque<Vec<u8>> = [record(1), truncated(), record(2), truncated()].into();
        let mut intake = Intake::<TcpTransition>::new(Losses::default());
        let mut sink = Recorder::default();
        intake.pass_batch(&mut ring, &mut sink).unwrap();
        assert_eq!(sink.batches, [vec![1, 2]]);
        assert_eq!(sink.malformed, [2]);
        assert_eq!(intake.malformed.total, 2);
        // Told again only when the count grows.
        ring.push_back(record(3));
        intake.pass_batch(&mut ring, &mut sink).unwrap();
        assert_eq!(sink.malformed, [2]);
    }

    #[test]
    fn malformed_lines_come_at_most_once_a_second() {
        let err = DecodeError::Short {
            got: 10,
            expected: 112,
        };
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut malformed = MalformedRecords::default();
        assert_eq!(
            malformed.record(&err, at(0)).as_deref(),
            Some("skipped a malformed record: record of 10 bytes, expected 112")
        );
        for ms in [1, 300, 999] {
            assert_eq!(malformed.record(&err, at(ms)), None, "{ms} ms");
        }
        assert_eq!(malformed.due_line(at(999)), None);
        assert_eq!(
            malformed.due_line(at(1000)).as_deref(),
            Some(
                "skipped 3 malformed records (4 in all), the last: record of 10 bytes, expected 112"
            )
        );
        assert_eq!(malformed.due_line(at(5000)), None, "nothing new");
        assert_eq!(
            malformed.record(&err, at(5000)).as_deref(),
            Some("skipped a malformed record (5 in all): record of 10 bytes, expected 112"),
            "a second after the last line, the next one is reported at once"
        );
        malformed.record(&err, at(5001));
        assert_eq!(malformed.due_line(at(5002)), None);
        assert!(
            malformed.pending_line(at(5002)).is_some(),
            "at exit, due or not"
        );
        assert_eq!(malformed.pending_line(at(5003)), None);
        assert_eq!(malformed.total, 6);
    }

    #[test]
    fn losses_are_reported_as_growth_and_only_when_there_is_some() {
        let baseline = Losses {
            ring_full: 5,
            ..Losses::default()
        };
        let mut intake = Intake::<TcpTransition>::new(baseline);
        let mut sink = Recorder::default();
        let now = Instant::now();
        intake.report(baseline, &mut sink, now, false).unwrap();
        assert!(sink.losses.is_empty(), "nothing lost since the attach");
        let later = Losses {
            ring_full: 12,
            recursion: 1,
            ..Losses::default()
        };
        intake.report(later, &mut sink, now, false).unwrap();
        intake.report(later, &mut sink, now, true).unwrap();
        assert_eq!(
            sink.losses,
            [Losses {
                ring_full: 7,
                recursion: 1,
                ..Losses::default()
            }]
        );
    }

    #[test]
    fn a_report_tells_the_sink_of_malformed_records_left_from_a_replay() {
        let mut ring: VecDeque<Vec<u8>> = [truncated()].into();
        let mut intake = Intake::<TcpTransition>::new(Losses::default());
        let mut sink = Recorder::default();
        ring.take(BATCH, |bytes| intake.take(bytes, &mut sink));
        intake
            .report(Losses::default(), &mut sink, Instant::now(), false)
            .unwrap();
        assert_eq!(sink.malformed, [1]);
        assert!(sink.batches.is_empty());
    }
}
