//! The listen-in tap: mixes both directions of one call into 8 kHz PCM frames for whoever
//! listens (the desktop speakers, for one). Invariants: with nobody listening, feeding the tap
//! costs one atomic load (no decoding, no lock, no allocation) and it holds no audio; the
//! caller's audio is the clock, so listeners get one 20 ms frame per 20 ms of caller audio
//! however the agent's audio arrives; the bridge never waits on a listener, whose bounded queue
//! drops its oldest frame when full and counts the drop.

use std::collections::VecDeque;
use std::fmt;
use std::mem;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::Notify;

use super::codec::mulaw_decode;
use super::frame::{AudioFrame, TELEPHONY_FRAME_SAMPLES, TELEPHONY_RATE};

/// Frames a listener may fall behind by before it loses the oldest: one second. Further
/// behind, hearing stale audio late would be worse than a gap.
pub const LISTENER_QUEUE_FRAMES: usize = 50;

/// Agent audio held for playback while someone listens: 60 s at 8 kHz. Backends send speech
/// faster than real time, but not a minute ahead; past that the oldest is dropped and counted.
pub const AGENT_QUEUE_SAMPLES: usize = 60 * TELEPHONY_RATE as usize;

/// One call's tap. Cheap to clone: the bridge and whoever hands out listeners share it.
#[derive(Clone, Default)]
pub struct Tap {
    core: Arc<Core>,
}

#[derive(Default)]
struct Core {
    /// How many listeners there are: the gate the bridge reads, without the lock, on every
    /// call. Written only with `mix` locked, so it always equals `mix.queues.len()` there.
    listeners: AtomicUsize,
    agent_dropped: AtomicU64,
    mix: Mutex<Mix>,
    /// Samples decoded, so tests can see that an unheard tap does no work.
    #[cfg(test)]
    decoded: AtomicUsize,
}

#[derive(Default)]
struct Mix {
    /// Agent audio not yet played, kept as mu-law: half the memory of PCM, and only the part
    /// that gets played is decoded (barge-in discards the rest).
    agent: VecDeque<u8>,
    /// The frame being filled: carriers need not send exactly 160 samples at a time.
    frame: Vec<i16>,
    queues: Vec<Arc<ListenerQueue>>,
}

struct ListenerQueue {
    frames: Mutex<VecDeque<AudioFrame>>,
    dropped: AtomicU64,
    /// Set once every `Tap` handle is gone: no frame will come after those queued.
    closed: AtomicBool,
    ready: Notify,
}

/// A subscription to a tap's mixed audio: mono 8 kHz frames of 160 samples (20 ms). Dropping
/// it unsubscribes.
pub struct Listener {
    queue: Arc<ListenerQueue>,
    /// Weak so that the call ending (every `Tap` dropped) closes the listener rather than the
    /// listener keeping the call's tap alive.
    core: Weak<Core>,
}

impl Tap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Caller audio: G.711 mu-law at 8 kHz, normally one 20 ms frame of 160 bytes. Each sample
    /// is mixed with the next queued agent sample (silence if none) and every 160 mixed samples
    /// go to the listeners as one frame.
    pub fn caller(&self, mulaw: &[u8]) {
        if !self.is_heard() {
            return;
        }
        let mut mix = lock(&self.core.mix);
        let Mix {
            agent,
            frame,
            queues,
        } = &mut *mix;
        if queues.is_empty() {
            // The last listener left between the load and the lock.
            return;
        }
        let mut agent_decoded = 0;
        for &code in mulaw {
            let agent_sample = agent.pop_front().map_or(0, |code| {
                agent_decoded += 1;
                mulaw_decode(code)
            });
            // Saturating: two loud voices clip, as they would on a line, instead of wrapping
            // into a full-scale click of the opposite sign.
            frame.push(mulaw_decode(code).saturating_add(agent_sample));
            if frame.len() == TELEPHONY_FRAME_SAMPLES {
                let full = mem::replace(frame, Vec::with_capacity(TELEPHONY_FRAME_SAMPLES));
                deliver(queues, AudioFrame::telephony(full));
            }
        }
        #[cfg(test)]
        self.core
            .decoded
            .fetch_add(mulaw.len() + agent_decoded, Ordering::Relaxed);
        #[cfg(not(test))]
        let _ = agent_decoded;
    }

    /// Agent audio: G.711 mu-law at 8 kHz, any length, typically in bursts ahead of real time.
    /// Queued until caller audio clocks it out.
    pub fn agent(&self, mulaw: &[u8]) {
        if !self.is_heard() {
            return;
        }
        let mut mix = lock(&self.core.mix);
        if mix.queues.is_empty() {
            return;
        }
        // Keep the newest AGENT_QUEUE_SAMPLES of what is queued plus what arrives.
        let keep_new = mulaw.len().min(AGENT_QUEUE_SAMPLES);
        let drop_new = mulaw.len() - keep_new;
        let drop_queued = (mix.agent.len() + keep_new).saturating_sub(AGENT_QUEUE_SAMPLES);
        mix.agent.drain(..drop_queued);
        mix.agent.extend(&mulaw[drop_new..]);
        let dropped = drop_new + drop_queued;
        if dropped > 0 {
            self.core
                .agent_dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
    }

    /// Barge-in: the agent audio not yet played is discarded, as the carrier discards it.
    pub fn clear_agent(&self) {
        if !self.is_heard() {
            return;
        }
        lock(&self.core.mix).agent.clear();
    }

    /// Subscribes to the mixed audio from the next caller frame on. Agent audio that arrived
    /// before is not heard: an unheard tap keeps none.
    pub fn listen(&self) -> Listener {
        let queue = Arc::new(ListenerQueue {
            frames: Mutex::new(VecDeque::with_capacity(LISTENER_QUEUE_FRAMES)),
            dropped: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            ready: Notify::new(),
        });
        let mut mix = lock(&self.core.mix);
        if mix.queues.is_empty() {
            mix.frame.reserve_exact(TELEPHONY_FRAME_SAMPLES);
        }
        mix.queues.push(Arc::clone(&queue));
        self.core
            .listeners
            .store(mix.queues.len(), Ordering::Release);
        Listener {
            queue,
            core: Arc::downgrade(&self.core),
        }
    }

    /// How many listeners there are now.
    pub fn listeners(&self) -> usize {
        self.core.listeners.load(Ordering::Acquire)
    }

    /// Agent samples lost because more than [`AGENT_QUEUE_SAMPLES`] were waiting.
    pub fn agent_dropped(&self) -> u64 {
        self.core.agent_dropped.load(Ordering::Relaxed)
    }

    /// The one atomic load every call from the bridge starts with.
    #[inline]
    fn is_heard(&self) -> bool {
        self.core.listeners.load(Ordering::Acquire) != 0
    }
}

impl fmt::Debug for Tap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tap")
            .field("listeners", &self.listeners())
            .field("agent_dropped", &self.agent_dropped())
            .finish()
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // Every `Tap` is gone, so no frame will follow: wake listeners waiting in `recv`.
        let mix = self.mix.get_mut().unwrap_or_else(PoisonError::into_inner);
        for queue in &mix.queues {
            queue.closed.store(true, Ordering::Release);
            queue.ready.notify_one();
        }
    }
}

/// Hands a frame to every listener: copies for all but the last, which gets the original.
fn deliver(queues: &[Arc<ListenerQueue>], frame: AudioFrame) {
    if let Some((last, others)) = queues.split_last() {
        for queue in others {
            queue.push(frame.clone());
        }
        last.push(frame);
    }
}

impl ListenerQueue {
    fn push(&self, frame: AudioFrame) {
        {
            // Held only for a push here and a pop in the listener: never across an await.
            let mut frames = lock(&self.frames);
            if frames.len() == LISTENER_QUEUE_FRAMES {
                frames.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            frames.push_back(frame);
        }
        self.ready.notify_one();
    }
}

impl Listener {
    /// The oldest frame not yet taken, if any.
    pub fn try_recv(&self) -> Option<AudioFrame> {
        lock(&self.queue.frames).pop_front()
    }

    /// Waits for the next frame; `None` once the call's tap is gone and every frame is taken.
    pub async fn recv(&self) -> Option<AudioFrame> {
        loop {
            if let Some(frame) = self.try_recv() {
                return Some(frame);
            }
            if self.queue.closed.load(Ordering::Acquire) {
                // Closing happens after the last push, so one more look finds any frame that
                // raced in before it.
                return self.try_recv();
            }
            // A push or the close between the look above and this wait leaves a permit
            // behind, so the wake-up is not lost.
            self.queue.ready.notified().await;
        }
    }

    /// Frames this listener lost by falling more than [`LISTENER_QUEUE_FRAMES`] behind.
    pub fn dropped(&self) -> u64 {
        self.queue.dropped.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("queued", &lock(&self.queue.frames).len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let Some(core) = self.core.upgrade() else {
            return;
        };
        let mut mix = lock(&core.mix);
        mix.queues.retain(|queue| !Arc::ptr_eq(queue, &self.queue));
        core.listeners.store(mix.queues.len(), Ordering::Release);
        if mix.queues.is_empty() {
            // Back to an unheard tap: it holds no audio, and a new listener starts afresh.
            mix.agent = VecDeque::new();
            mix.frame = Vec::new();
        }
    }
}

/// Locks, shrugging off poisoning: the state behind these locks is whole between any two
/// statements (pushes and pops), so a panic elsewhere must not silence the tap for good.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    use super::*;
    use crate::media::codec::mulaw_encode;

    const SILENCE: u8 = 0xFF;

    fn frame_of(code: u8) -> [u8; TELEPHONY_FRAME_SAMPLES] {
        [code; TELEPHONY_FRAME_SAMPLES]
    }

    fn decoded(tap: &Tap) -> usize {
        tap.core.decoded.load(Ordering::Relaxed)
    }

    fn agent_queued(tap: &Tap) -> usize {
        lock(&tap.core.mix).agent.len()
    }

    fn agent_capacity(tap: &Tap) -> usize {
        lock(&tap.core.mix).agent.capacity()
    }

    fn drain(listener: &Listener) -> Vec<AudioFrame> {
        std::iter::from_fn(|| listener.try_recv()).collect()
    }

    #[test]
    fn an_unheard_tap_does_no_work_and_holds_no_audio() {
        let tap = Tap::new();
        for _ in 0..50 {
            tap.agent(&[0x80; 800]);
            tap.caller(&frame_of(0x80));
        }
        tap.clear_agent();
        assert_eq!(decoded(&tap), 0, "nothing is decoded when nobody listens");
        assert_eq!(agent_queued(&tap), 0, "no agent audio is kept for nobody");
        assert_eq!(agent_capacity(&tap), 0, "nor memory reserved for it");
        assert_eq!(lock(&tap.core.mix).frame.capacity(), 0);
    }

    #[test]
    fn an_unheard_tap_never_takes_the_lock() {
        let tap = Tap::new();
        let bridge = tap.clone();
        let (done, finished) = mpsc::channel();
        // Hold the lock the whole time: a bridge call that tried to take it would block.
        let held = lock(&tap.core.mix);
        let worker = thread::spawn(move || {
            bridge.caller(&frame_of(0x80));
            bridge.agent(&[0x80; 160]);
            bridge.clear_agent();
            done.send(()).unwrap();
        });
        let result = finished.recv_timeout(Duration::from_secs(5));
        drop(held);
        worker.join().unwrap();
        assert!(
            result.is_ok(),
            "caller/agent/clear_agent blocked on the mix lock with no listener"
        );
    }

    #[test]
    fn a_listener_hears_caller_and_agent_mixed() {
        let tap = Tap::new();
        let listener = tap.listen();
        assert_eq!(tap.listeners(), 1);

        // 0xE0 decodes to 372 and 0x8F to 16764.
        tap.agent(&frame_of(0x8F));
        tap.caller(&frame_of(0xE0));
        let frames = drain(&listener);
        assert_eq!(frames.len(), 1, "one caller frame in, one mixed frame out");
        let frame = &frames[0];
        assert_eq!(frame.sample_rate(), 8000);
        assert_eq!(frame.channels(), 1);
        assert_eq!(frame.samples_per_channel(), 160);
        assert!(
            frame.data().iter().all(|&s| s == 372 + 16764),
            "caller plus agent: {:?}",
            &frame.data()[..4]
        );

        // Full-scale on both sides saturates rather than wrapping.
        tap.agent(&[0x80; 80]);
        tap.agent(&[0x00; 80]);
        tap.caller(&[0x80; 80]);
        tap.caller(&[0x00; 80]);
        let frame = listener.try_recv().expect("a second frame");
        assert_eq!(mulaw_decode(0x80), 32124);
        assert!(frame.data()[..80].iter().all(|&s| s == i16::MAX));
        assert!(frame.data()[80..].iter().all(|&s| s == i16::MIN));
        assert!(listener.try_recv().is_none());
    }

    #[test]
    fn caller_audio_alone_is_heard_as_is() {
        let tap = Tap::new();
        let listener = tap.listen();
        let caller: Vec<u8> = (0..160).map(|n| mulaw_encode(n * 100 - 8000)).collect();
        tap.caller(&caller);
        let frame = listener.try_recv().expect("a frame");
        let expected: Vec<i16> = caller.iter().map(|&c| mulaw_decode(c)).collect();
        assert_eq!(
            frame.data(),
            &expected[..],
            "silence is added for the agent"
        );
    }

    #[test]
    fn caller_audio_in_odd_sizes_still_makes_twenty_millisecond_frames() {
        let tap = Tap::new();
        let listener = tap.listen();
        tap.caller(&[0xE0; 100]);
        assert!(
            listener.try_recv().is_none(),
            "100 samples are not a frame yet"
        );
        tap.caller(&[0xE0; 100]);
        tap.caller(&[0xE0; 120]);
        let frames = drain(&listener);
        assert_eq!(frames.len(), 2, "320 samples make two frames");
        assert!(frames.iter().all(|f| f.samples_per_channel() == 160));
    }

    #[test]
    fn an_agent_burst_plays_out_at_the_callers_pace() {
        let tap = Tap::new();
        let listener = tap.listen();
        // One second of agent speech arrives at once, as a backend sends it.
        tap.agent(&[0x8F; 8000]);
        assert!(
            listener.try_recv().is_none(),
            "agent audio alone does not make frames: the caller is the clock"
        );
        for n in 0..50 {
            tap.caller(&frame_of(SILENCE));
            let frame = listener.try_recv().expect("a frame per caller frame");
            assert!(
                frame.data().iter().all(|&s| s == 16764),
                "frame {n} carries the next 20 ms of the agent"
            );
        }
        tap.caller(&frame_of(SILENCE));
        let after = listener.try_recv().expect("frame 51");
        assert!(
            after.data().iter().all(|&s| s == 0),
            "one second of agent audio lasts exactly 50 frames"
        );
    }

    #[test]
    fn clear_agent_discards_what_was_not_played() {
        let tap = Tap::new();
        let listener = tap.listen();
        tap.agent(&[0x8F; 8000]);
        for _ in 0..10 {
            tap.caller(&frame_of(SILENCE));
        }
        tap.clear_agent();
        assert_eq!(agent_queued(&tap), 0);
        tap.caller(&frame_of(0xE0));
        let frames = drain(&listener);
        assert_eq!(frames.len(), 11);
        assert!(frames[..10].iter().all(|f| f.data()[0] == 16764));
        assert!(
            frames[10].data().iter().all(|&s| s == 372),
            "after barge-in only the caller is heard"
        );
    }

    #[test]
    fn agent_audio_is_bounded_and_the_overflow_counted() {
        let tap = Tap::new();
        let listener = tap.listen();
        // One second of one sound, then sixty of another: the first second must go.
        tap.agent(&[0x8F; 8000]);
        tap.agent(&vec![0xE0; AGENT_QUEUE_SAMPLES]);
        assert_eq!(agent_queued(&tap), AGENT_QUEUE_SAMPLES);
        assert_eq!(tap.agent_dropped(), 8000);
        tap.caller(&frame_of(SILENCE));
        let frame = listener.try_recv().unwrap();
        assert!(
            frame.data().iter().all(|&s| s == 372),
            "the oldest audio was dropped, not the newest"
        );
        // A single burst longer than the bound keeps its own tail.
        tap.agent(&vec![0x8F; AGENT_QUEUE_SAMPLES + 5]);
        assert_eq!(agent_queued(&tap), AGENT_QUEUE_SAMPLES);
        assert_eq!(
            tap.agent_dropped(),
            8000 + (AGENT_QUEUE_SAMPLES as u64 - 160) + 5
        );
        tap.caller(&frame_of(SILENCE));
        assert!(
            listener
                .try_recv()
                .unwrap()
                .data()
                .iter()
                .all(|&s| s == 16764)
        );
    }

    #[test]
    fn a_slow_listener_loses_the_oldest_frames_and_knows_how_many() {
        let tap = Tap::new();
        let listener = tap.listen();
        let extra = 7;
        // Each frame a different level, so we can tell which ones survived.
        let codes: Vec<u8> = (0..(LISTENER_QUEUE_FRAMES + extra) as u8)
            .map(|n| 0x80 + n)
            .collect();
        for &code in &codes {
            tap.caller(&frame_of(code));
        }
        assert_eq!(listener.dropped(), extra as u64);
        let frames = drain(&listener);
        assert_eq!(frames.len(), LISTENER_QUEUE_FRAMES);
        let heard: Vec<i16> = frames.iter().map(|f| f.data()[0]).collect();
        let newest: Vec<i16> = codes[extra..].iter().map(|&c| mulaw_decode(c)).collect();
        assert_eq!(heard, newest, "the newest frames are kept, in order");
    }

    #[test]
    fn two_listeners_both_hear_the_call() {
        let tap = Tap::new();
        let first = tap.listen();
        let second = tap.listen();
        assert_eq!(tap.listeners(), 2);
        tap.agent(&[0x8F; 160]);
        tap.caller(&frame_of(0xE0));
        let a = drain(&first);
        let b = drain(&second);
        assert_eq!(a.len(), 1);
        assert_eq!(a, b, "both hear the same mix");

        drop(first);
        assert_eq!(tap.listeners(), 1);
        tap.caller(&frame_of(0xE0));
        assert_eq!(drain(&second).len(), 1, "the other listener carries on");
    }

    #[test]
    fn the_last_listener_leaving_makes_the_tap_free_again() {
        let tap = Tap::new();
        let listener = tap.listen();
        tap.agent(&[0x8F; 8000]);
        tap.caller(&frame_of(SILENCE));
        assert!(decoded(&tap) > 0);
        assert!(agent_capacity(&tap) >= 8000 - 160);

        drop(listener);
        assert_eq!(tap.listeners(), 0);
        assert_eq!(agent_capacity(&tap), 0, "the agent buffer is freed");
        let before = decoded(&tap);
        tap.agent(&[0x8F; 8000]);
        tap.caller(&frame_of(SILENCE));
        assert_eq!(decoded(&tap), before, "and no work is done again");
        assert_eq!(agent_queued(&tap), 0);

        // A new listener hears only what comes after it, not the old queue.
        let listener = tap.listen();
        tap.caller(&frame_of(SILENCE));
        assert!(listener.try_recv().unwrap().data().iter().all(|&s| s == 0));
    }

    #[tokio::test]
    async fn recv_waits_for_frames_and_ends_with_the_call() {
        let tap = Tap::new();
        let listener = tap.listen();
        let reader = tokio::spawn(async move {
            let mut frames = Vec::new();
            while let Some(frame) = listener.recv().await {
                frames.push(frame);
            }
            frames
        });
        let bridge = tap.clone();
        for _ in 0..3 {
            tokio::task::yield_now().await;
            bridge.caller(&frame_of(0xE0));
        }
        drop(bridge);
        drop(tap);
        let frames = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .expect("recv returns None once every Tap handle is dropped")
            .unwrap();
        assert_eq!(
            frames.len(),
            3,
            "every frame sent before the end is received"
        );
    }
}
