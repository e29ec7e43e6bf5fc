//! A call's recording as the caller heard it: stereo 8 kHz PCM, the caller on the left and
//! the agent on the right. Like the tap, the caller's audio is the clock: the agent's audio
//! is queued as it is given to the carrier and laid one sample per caller sample, the way the
//! carrier plays it out, so a reply the backend sent in a burst lands where it was heard and
//! not when it arrived. A barge-in keeps of the cut item exactly what the marks say was heard
//! and discards the rest, so the cut-off shows in the file. Pure: no I/O, no clock of its own.

use std::collections::VecDeque;

use super::codec::mulaw_decode;
use super::frame::TELEPHONY_RATE;

/// Agent audio held ahead of the caller's clock: 60 s, as the tap. Past it the oldest goes
/// (and is counted): a backend does not send a minute ahead of what is played.
pub const AGENT_AHEAD_SAMPLES: usize = 60 * TELEPHONY_RATE as usize;

#[derive(Debug, Default)]
pub struct Recorder {
    /// Agent audio given to the carrier and not yet played, as mu-law.
    agent: VecDeque<u8>,
    /// Samples of the current item given so far, and how many of them are still queued
    /// (always the queue's tail).
    item_given: usize,
    item_queued: usize,
    /// Interleaved stereo samples not yet taken by the writer.
    out: Vec<i16>,
    /// Caller samples recorded: the recording's length.
    frames: u64,
    agent_dropped: u64,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Caller audio (G.711 mu-law, 8 kHz): each sample is paired with the next agent sample
    /// due, or silence.
    pub fn caller(&mut self, mulaw: &[u8]) {
        self.out.reserve(mulaw.len() * 2);
        for &code in mulaw {
            let agent = self.agent.pop_front().map_or(0, mulaw_decode);
            self.out.push(mulaw_decode(code));
            self.out.push(agent);
        }
        self.item_queued = self.item_queued.min(self.agent.len());
        self.frames += mulaw.len() as u64;
    }

    /// Agent audio given to the carrier now. `new_item` starts a reply whose cut, should the
    /// caller barge in, is measured from here.
    pub fn agent(&mut self, mulaw: &[u8], new_item: bool) {
        if new_item {
            self.item_given = 0;
            self.item_queued = 0;
        }
        self.agent.extend(mulaw);
        self.item_given += mulaw.len();
        self.item_queued += mulaw.len();
        let over = self.agent.len().saturating_sub(AGENT_AHEAD_SAMPLES);
        if over > 0 {
            self.agent.drain(..over);
            self.item_queued = self.item_queued.min(self.agent.len());
            self.agent_dropped += over as u64;
        }
    }

    /// A barge-in: the caller heard `heard_ms` of the current item (by the marks). What of it
    /// is not laid down yet but was heard stays queued; the rest is discarded, as the carrier
    /// discards it. Earlier items were heard whole.
    pub fn cut(&mut self, heard_ms: u64) {
        let heard =
            usize::try_from(heard_ms * u64::from(TELEPHONY_RATE) / 1000).unwrap_or(usize::MAX);
        let laid = self.item_given - self.item_queued;
        let keep = heard.saturating_sub(laid).min(self.item_queued);
        let earlier = self.agent.len() - self.item_queued;
        self.agent.truncate(earlier + keep);
        self.item_queued = keep;
        self.item_given = laid + keep;
    }

    /// Interleaved samples laid down since the last take (left: caller, right: agent).
    pub fn take(&mut self) -> Vec<i16> {
        std::mem::take(&mut self.out)
    }

    /// Stereo frames waiting to be taken.
    pub fn pending_frames(&self) -> usize {
        self.out.len() / 2
    }

    /// The recording's length so far, in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.frames * 1000 / u64::from(TELEPHONY_RATE)
    }

    /// Agent samples lost because more than [`AGENT_AHEAD_SAMPLES`] were waiting.
    pub fn agent_dropped(&self) -> u64 {
        self.agent_dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::mulaw_encode;

    fn tone(level: i16, samples: usize) -> Vec<u8> {
        vec![mulaw_encode(level); samples]
    }

    fn channel(stereo: &[i16], right: bool) -> Vec<i16> {
        stereo
            .iter()
            .skip(usize::from(right))
            .step_by(2)
            .copied()
            .collect()
    }

    #[test]
    fn agent_audio_sent_ahead_is_laid_as_the_caller_clock_plays_it() {
        let mut r = Recorder::new();
        r.caller(&tone(1000, 160));
        // A second of reply arrives at once, 20 ms into the call.
        r.agent(&tone(-4000, 8000), true);
        for _ in 0..60 {
            r.caller(&tone(1000, 160));
        }
        let out = r.take();
        let (left, right) = (channel(&out, false), channel(&out, true));
        assert_eq!(left.len(), 61 * 160);
        assert!(left.iter().all(|&s| s > 900));
        // Silence for the first frame, then the whole reply, then silence again.
        assert!(right[..160].iter().all(|&s| s == 0));
        assert!(right[160..8160].iter().all(|&s| s < -3500));
        assert!(right[8160..].iter().all(|&s| s == 0));
        assert_eq!(r.duration_ms(), 61 * 20);
    }

    #[test]
    fn a_cut_keeps_what_the_marks_say_was_heard_and_drops_the_rest() {
        let mut r = Recorder::new();
        r.agent(&tone(-4000, 2000), true); // an earlier reply, still playing
        r.agent(&tone(3000, 16000), true); // this one: 2 s
        for _ in 0..50 {
            r.caller(&tone(0, 160)); // 1 s laid: the earlier reply and 6000 samples of this one
        }
        // The marks say 1 s of this reply was heard: 2000 more samples are still to be laid.
        r.cut(1000);
        for _ in 0..50 {
            r.caller(&tone(0, 160));
        }
        let right = channel(&r.take(), true);
        assert!(right[..2000].iter().all(|&s| s < -3500));
        assert!(
            right[2000..10000].iter().all(|&s| s > 2500),
            "heard part of the reply"
        );
        assert!(
            right[10000..].iter().all(|&s| s == 0),
            "the cut-off stays silent"
        );
    }

    #[test]
    fn a_cut_behind_the_recording_drops_all_that_is_queued() {
        let mut r = Recorder::new();
        r.agent(&tone(3000, 8000), true);
        for _ in 0..25 {
            r.caller(&tone(0, 160));
        }
        // Marks lag: only 200 ms confirmed though 500 ms were laid. Nothing is unlaid.
        r.cut(200);
        for _ in 0..25 {
            r.caller(&tone(0, 160));
        }
        let right = channel(&r.take(), true);
        assert!(right[..4000].iter().all(|&s| s > 2500));
        assert!(right[4000..].iter().all(|&s| s == 0));
    }

    #[test]
    fn more_than_a_minute_ahead_loses_the_oldest_and_counts_it() {
        let mut r = Recorder::new();
        r.agent(&tone(3000, AGENT_AHEAD_SAMPLES), true);
        r.agent(&tone(-3000, 800), false);
        assert_eq!(r.agent_dropped(), 800);
        r.caller(&tone(0, 160));
        assert_eq!(r.pending_frames(), 160);
    }
}
