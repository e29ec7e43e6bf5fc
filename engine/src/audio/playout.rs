//! The agent side of the duplex: audio waiting to be played (8 kHz), and the bookkeeping that
//! turns "how far the output callback has read" into "how many agent samples were played".
//!
//! The worker feeds the output resampler a continuous 8 kHz timeline, 10 ms per render tick:
//! agent samples while there are any, silence otherwise. The resampler's output is aligned with
//! its input, so output sample `r` is timeline sample `r * 8000 / rate`, and it lands in the
//! output queue at position `base + r` (`base` moves on by every filler sample pushed while the
//! resampler had nothing ready). Spans of the timeline that held agent audio therefore map to
//! exact output-queue positions, and the callback's read position says how much was played.
//! Invariant: `played` never counts cleared audio and never runs ahead of the callback.

use std::collections::VecDeque;

const TELEPHONY_RATE: u64 = 8_000;

#[derive(Debug)]
pub struct Playout {
    queue: VecDeque<i16>,
    capacity: usize,
    /// Agent samples refused because the queue was full.
    pub dropped: u64,
    /// Timeline ranges `[start, end)` of agent audio fed since the last reset, not yet retired.
    spans: VecDeque<(u64, u64)>,
    timeline: u64,
    /// Agent samples played before the spans still held.
    played_before: u64,
    base: u64,
    rate: u64,
    /// Set by `clear`: the worker must reset its resampler and restart the timeline.
    pub clear_requested: bool,
}

impl Playout {
    /// `rate`: the output device's; `capacity`: the most agent samples (8 kHz) held.
    pub fn new(rate: u32, capacity: usize) -> Self {
        Self {
            queue: VecDeque::with_capacity(capacity.min(8_000 * 10)),
            capacity,
            dropped: 0,
            spans: VecDeque::new(),
            timeline: 0,
            played_before: 0,
            base: 0,
            rate: u64::from(rate),
            clear_requested: false,
        }
    }

    /// Queues agent audio; what does not fit is dropped (the newest: the agent is far ahead
    /// of real time already, and a gap at the end beats a jump backwards) and counted.
    pub fn push(&mut self, samples: &[i16]) {
        let room = self.capacity - self.queue.len();
        let take = samples.len().min(room);
        self.queue.extend(&samples[..take]);
        self.dropped += (samples.len() - take) as u64;
    }

    /// Barge-in: forgets every agent sample not yet played (as of read position `consumed`).
    pub fn clear(&mut self, consumed: u64) {
        self.played_before = self.played(consumed);
        self.spans.clear();
        self.queue.clear();
        self.clear_requested = true;
    }

    /// The output queue was replaced: what it held is gone. Keeps what was played by read
    /// position `consumed` and the queued audio, and restarts the timeline (as after `clear`).
    pub fn rebase(&mut self, consumed: u64) {
        self.played_before = self.played(consumed);
        self.spans.clear();
        self.clear_requested = true;
    }

    /// Restarts the timeline at output-queue position `position` (after a clear).
    pub fn restart(&mut self, position: u64) {
        self.base = position;
        self.timeline = 0;
        self.clear_requested = false;
    }

    /// Fills `out` (one 10 ms tick of the timeline) with queued agent audio, then silence.
    pub fn take(&mut self, out: &mut [i16]) -> usize {
        let n = out.len().min(self.queue.len());
        for (slot, sample) in out.iter_mut().zip(self.queue.drain(..n)) {
            *slot = sample;
        }
        out[n..].fill(0);
        if n > 0 {
            let start = self.timeline;
            match self.spans.back_mut() {
                Some(last) if last.1 == start => last.1 += n as u64,
                _ => self.spans.push_back((start, start + n as u64)),
            }
        }
        self.timeline += out.len() as u64;
        n
    }

    /// `n` filler samples went into the output queue ahead of the resampler's output.
    pub fn filler(&mut self, n: u64) {
        self.base += n;
    }

    /// Timeline position reached by output-queue read position `consumed`.
    fn timeline_at(&self, consumed: u64) -> u64 {
        consumed.saturating_sub(self.base) * TELEPHONY_RATE / self.rate
    }

    /// Agent samples played by read position `consumed`.
    pub fn played(&self, consumed: u64) -> u64 {
        let t = self.timeline_at(consumed);
        self.played_before
            + self
                .spans
                .iter()
                .map(|&(start, end)| end.min(t).saturating_sub(start))
                .sum::<u64>()
    }

    /// Agent samples queued or on their way to the speaker, not yet played.
    pub fn pending(&self, consumed: u64) -> u64 {
        let fed: u64 = self.spans.iter().map(|&(s, e)| e - s).sum();
        self.queue.len() as u64 + fed - (self.played(consumed) - self.played_before)
    }

    /// Moves fully played spans into the running total, so the list stays short.
    pub fn retire(&mut self, consumed: u64) {
        let t = self.timeline_at(consumed);
        while let Some(&(start, end)) = self.spans.front() {
            if end > t {
                break;
            }
            self.played_before += end - start;
            self.spans.pop_front();
        }
    }

    /// Whether agent audio is still to be read by the output callback at `consumed`.
    pub fn agent_playing(&self, consumed: u64) -> bool {
        let t = self.timeline_at(consumed);
        !self.queue.is_empty() || self.spans.iter().any(|&(_, end)| end > t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn played_follows_the_read_position_not_the_queue() {
        // Output at 48 kHz: 10 ms of timeline (80) is 480 output samples.
        let mut p = Playout::new(48_000, 1_000);
        p.push(&[1; 200]);
        assert_eq!(p.pending(0), 200);
        let mut tick = [0i16; 80];
        assert_eq!(p.take(&mut tick), 80);
        assert_eq!(p.take(&mut tick), 80);
        assert_eq!(p.take(&mut tick), 40);
        assert_eq!(&tick[38..42], &[1, 1, 0, 0], "agent audio, then silence");
        assert_eq!(p.played(0), 0, "nothing read yet");
        assert_eq!(p.played(480), 80);
        assert_eq!(p.played(960 + 240), 200);
        assert_eq!(
            p.played(100_000),
            200,
            "silence after the agent is not counted"
        );
        assert_eq!(p.pending(960), 40);
        p.retire(960);
        assert_eq!((p.played(960), p.pending(960)), (160, 40));
    }

    #[test]
    fn fillers_shift_the_mapping() {
        let mut p = Playout::new(8_000, 1_000);
        p.filler(80);
        p.push(&[1; 80]);
        p.take(&mut [0; 80]);
        assert_eq!(p.played(80), 0, "the first 80 read were filler");
        assert_eq!(p.played(160), 80);
    }

    #[test]
    fn clear_keeps_what_was_played_and_drops_the_rest() {
        let mut p = Playout::new(8_000, 1_000);
        p.push(&[1; 500]);
        for _ in 0..3 {
            p.take(&mut [0; 80]);
        }
        p.clear(100);
        assert!(p.clear_requested);
        assert_eq!((p.played(100), p.pending(100)), (100, 0));
        assert!(!p.agent_playing(100));
        p.restart(240);
        p.push(&[1; 80]);
        p.take(&mut [0; 80]);
        assert_eq!(
            p.played(240 + 40),
            140,
            "counting resumes from the new position"
        );
    }

    #[test]
    fn a_full_queue_refuses_the_newest_and_counts() {
        let mut p = Playout::new(8_000, 100);
        p.push(&[1; 60]);
        p.push(&[2; 60]);
        assert_eq!((p.pending(0), p.dropped), (100, 20));
    }
}
