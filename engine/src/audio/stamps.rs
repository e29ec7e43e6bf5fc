//! When a stream's device callbacks ran, by stream position: what a latency measurement needs
//! to tell when a given sample was handed over by (input) or taken by (output) the device
//! (`engine/benches/local_latency.rs`). Always on: a callback pays one clock read and a few
//! stores into a fixed ring, no lock, no allocation.
//!
//! Invariants: one writer (the stream's callback); readers never block it. Each slot is a small
//! seqlock (its sequence number is cleared while the slot is written), so a reader that falls a
//! whole ring behind skips what was overwritten instead of reading a torn stamp.

use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

/// Callbacks remembered: about 1.3 s of 20 ms callbacks.
const SLOTS: usize = 64;

/// One callback: the stream position once it was done, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Input: frames handed over so far (this callback's included). Output: the queue's read
    /// position after the callback (what it took and what it skipped as cleared).
    pub position: u64,
    /// When the callback had handed its frames over (input) or taken them (output).
    pub at: Instant,
}

#[derive(Default)]
struct Slot {
    /// Callback number + 1 once the slot holds it; 0 while it is written.
    seq: AtomicU64,
    position: AtomicU64,
    nanos: AtomicU64,
}

pub struct CallbackStamps {
    epoch: Instant,
    /// Callbacks recorded so far.
    count: AtomicU64,
    slots: [Slot; SLOTS],
}

impl Default for CallbackStamps {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            count: AtomicU64::new(0),
            slots: std::array::from_fn(|_| Slot::default()),
        }
    }
}

impl std::fmt::Debug for CallbackStamps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackStamps")
            .field("count", &self.count.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl CallbackStamps {
    /// Records a callback that brought the stream to `position`, now. The callback's only.
    pub fn record(&self, position: u64) {
        let nanos = self.epoch.elapsed().as_nanos() as u64;
        let n = self.count.load(Ordering::Relaxed);
        let slot = &self.slots[(n % SLOTS as u64) as usize];
        slot.seq.store(0, Ordering::Relaxed);
        fence(Ordering::Release);
        slot.position.store(position, Ordering::Relaxed);
        slot.nanos.store(nanos, Ordering::Relaxed);
        slot.seq.store(n + 1, Ordering::Release);
        self.count.store(n + 1, Ordering::Release);
    }

    /// Appends the stamps of callbacks `since` onwards (callback numbers, from 0) still held,
    /// oldest first, and returns the number to pass next time. Callbacks already overwritten
    /// (the reader fell more than a ring behind) are skipped.
    pub fn read(&self, since: u64, out: &mut Vec<Stamp>) -> u64 {
        let end = self.count.load(Ordering::Acquire);
        for n in since.max(end.saturating_sub(SLOTS as u64))..end {
            let slot = &self.slots[(n % SLOTS as u64) as usize];
            if slot.seq.load(Ordering::Acquire) != n + 1 {
                continue;
            }
            let position = slot.position.load(Ordering::Relaxed);
            let nanos = slot.nanos.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) != n + 1 {
                continue;
            }
            out.push(Stamp {
                position,
                at: self.epoch + Duration::from_nanos(nanos),
            });
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_come_back_in_order_once() {
        let stamps = CallbackStamps::default();
        let mut out = Vec::new();
        assert_eq!(stamps.read(0, &mut out), 0);
        for p in [480, 960, 1440] {
            stamps.record(p);
        }
        let next = stamps.read(0, &mut out);
        assert_eq!(next, 3);
        let positions: Vec<_> = out.iter().map(|s| s.position).collect();
        assert_eq!(positions, [480, 960, 1440]);
        assert!(
            out.windows(2).all(|w| w[0].at <= w[1].at),
            "recorded one after the other"
        );
        out.clear();
        stamps.record(1920);
        assert_eq!(stamps.read(next, &mut out), 4);
        assert_eq!(out.len(), 1, "only what is new since the last read");
        assert_eq!(out[0].position, 1920);
    }

    #[test]
    fn a_reader_a_ring_behind_gets_only_what_is_still_held() {
        let stamps = CallbackStamps::default();
        for p in 0..(SLOTS as u64 + 10) {
            stamps.record(p);
        }
        let mut out = Vec::new();
        assert_eq!(stamps.read(0, &mut out), SLOTS as u64 + 10);
        assert_eq!(out.len(), SLOTS, "the first ten were overwritten");
        assert_eq!(out[0].position, 10);
    }
}
