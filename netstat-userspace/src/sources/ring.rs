//! Consuming a BPF ring buffer from tokio without starving other tasks.

use std::io;

use aya::maps::{MapData, RingBuf};
use tokio::io::{Interest, unix::AsyncFd};

/// Reads a ring buffer in bounded batches: on the kernel's wakeup (epoll), or when polled.
pub(crate) struct RingReader {
    ring: AsyncFd<RingBuf<MapData>>,
}

impl RingReader {
    pub(crate) fn new(ring: RingBuf<MapData>) -> io::Result<Self> {
        // SAFETY: the RingBuf owns its map fd and keeps it open, unchanged, until it is dropped,
        // which only happens when this AsyncFd is.
        let ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(RingReader { ring })
    }

    /// Waits for records, then passes up to `max` of them to `handle`, until it returns false.
    /// Returns how many were handled. Cancel-safe: records are only taken out of the ring synchronously, after the
    /// wait.
    pub(crate) async fn next_batch(
        &mut self,
        max: usize,
        mut handle: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<usize> {
        loop {
            let mut guard = self.ring.readable_mut().await?;
            let handled = drain(guard.get_inner_mut(), max, &mut handle);
            if handled < max {
                // Empty: sleep until the kernel signals new data. Tokio keeps a wakeup that raced
                // with this clear.
                guard.clear_ready();
            }
            if handled > 0 {
                return Ok(handled);
            }
        }
    }

    /// Takes up to `max` records that are in the ring now, without waiting: for the periodic
    /// drain (the probe wakes the reader only when the ring fills up) and for shutdown.
    pub(crate) fn drain_now(&mut self, max: usize, mut handle: impl FnMut(&[u8]) -> bool) -> usize {
        drain(self.ring.get_mut(), max, &mut handle)
    }
}

/// Each record is handed over where it lies, and released when `handle` returns.
fn drain(ring: &mut RingBuf<MapData>, max: usize, handle: &mut impl FnMut(&[u8]) -> bool) -> usize {
    let mut handled = 0;
    while handled < max {
        let Some(item) = ring.next() else { break };
        handled += 1;
        if !handle(&item) {
            break;
        }
    }
    handled
}
