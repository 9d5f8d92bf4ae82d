//! What an attached probe delivers: its ring of records, and the counts of those it could not
//! deliver. They only keep maps and programs readable: dropping the probe still detaches it.

use std::os::fd::AsFd as _;

use anyhow::Context as _;
use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray, RingBuf},
    programs::ProgramFd,
};

use super::prog_stats;
use crate::model::losses::Losses;

/// A probe's records and their loss counters, handed to the reader (the event pump).
pub(crate) struct EventStream {
    pub(crate) ring: RingBuf<MapData>,
    pub(crate) losses: LossReader,
}

/// Where a probe keeps its loss counts: slots of a per-CPU array it writes, and the kernel's
/// recursion misses of each of its programs.
pub(crate) struct LossReader {
    counters: PerCpuArray<MapData, u64>,
    slots: LossSlots,
    programs: Vec<ProgramFd>,
}

/// Which slot of the probe's counter array holds which cause (`None`: this probe has no such
/// cause).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LossSlots {
    pub(crate) ring_full: u32,
    pub(crate) rate_limited: Option<u32>,
    pub(crate) untracked: Option<u32>,
}

impl LossReader {
    /// `programs` are the probe's attached programs, by name in `ebpf`.
    pub(crate) fn new(
        ebpf: &Ebpf,
        counters: PerCpuArray<MapData, u64>,
        slots: LossSlots,
        programs: &[&str],
    ) -> anyhow::Result<Self> {
        let mut fds = Vec::new();
        for &name in programs {
            if let Some(program) = ebpf.program(name) {
                fds.push(
                    program
                        .fd()?
                        .try_clone()
                        .with_context(|| format!("duplicating the {name} program's fd"))?,
                );
            }
        }
        Ok(LossReader {
            counters,
            slots,
            programs: fds,
        })
    }

    /// The losses so far, summed over CPUs and programs.
    pub(crate) fn read(&self) -> anyhow::Result<Losses> {
        let slot = |index: Option<u32>| -> anyhow::Result<u64> {
            let Some(index) = index else { return Ok(0) };
            Ok(self
                .counters
                .get(&index, 0)
                .context("reading the probe's loss counters")?
                .iter()
                .sum())
        };
        let mut recursion = 0;
        for program in &self.programs {
            recursion += prog_stats::recursion_misses(program.as_fd())?;
        }
        Ok(Losses {
            ring_full: slot(Some(self.slots.ring_full))?,
            recursion,
            rate_limited: slot(self.slots.rate_limited)?,
            untracked: slot(self.slots.untracked)?,
        })
    }
}
