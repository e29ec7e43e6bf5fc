//! cpal streams and their callbacks. A callback only converts samples, moves them through a
//! wait-free queue and bumps atomics: it never locks, allocates or blocks. A stream is owned
//! by the thread that built it (cpal's `Stream` is not `Send` on every host).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{FromSample, SizedSample};

use super::convert::{downmix, upmix};
use super::queue::push_one;
use super::stamps::CallbackStamps;

/// A stream ends with errors it cannot report as lost (the ALSA pulse plugin whose server went
/// away keeps failing): after this many in a row, it is treated as lost.
const ERRORS_BEFORE_LOST: u64 = 50;

/// What a stream's callbacks tell the rest: counters and flags, all atomics.
#[derive(Debug, Default)]
pub struct StreamState {
    /// Input: samples dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Output: frames written as silence because nothing was queued.
    pub underrun: AtomicU64,
    /// Frames moved: pushed (input) or taken from the source (output).
    pub frames: AtomicU64,
    /// Output: the read position in the queue, discarded samples included.
    pub position: AtomicU64,
    /// Output: queue positions before this are stale (cleared) and skipped unplayed.
    pub discard_until: AtomicU64,
    /// The largest callback seen, in frames: input, ever; output, over the last second or two
    /// (`RequestWindow`).
    pub max_request: AtomicU64,
    /// Device latency: capture → callback (input) or callback → playback (output), in µs.
    pub latency_us: AtomicU64,
    pub xruns: AtomicU64,
    pub errors: AtomicU64,
    pub lost: AtomicBool,
    /// Callbacks run so far.
    pub callbacks: AtomicU64,
    /// The last error's kind (`ERROR_KINDS` index + 1; 0 = none), for the lost message.
    pub last_error: AtomicU8,
    /// When the last callbacks ran: `frames` (input) or `position` (output) after each.
    pub stamps: CallbackStamps,
}

/// The kinds `StreamState::last_error` names, by index.
const ERROR_KINDS: [&str; 8] = [
    "device not available",
    "stream invalidated",
    "sound server unavailable",
    "backend error",
    "device busy",
    "permission denied",
    "unsupported configuration",
    "other error",
];

impl StreamState {
    /// Whether the last error says the device (or the server) is gone, not just the stream.
    pub fn device_gone(&self) -> bool {
        matches!(self.last_error.load(Relaxed), 1 | 3)
    }

    /// Why the stream was given up on, from the last error seen.
    pub fn lost_reason(&self) -> &'static str {
        match self.last_error.load(Relaxed) {
            0 => "the stream stopped",
            n => ERROR_KINDS[usize::from(n - 1).min(ERROR_KINDS.len() - 1)],
        }
    }
}

fn on_error(state: Arc<StreamState>) -> impl FnMut(cpal::Error) + Send + 'static {
    move |error| {
        use cpal::ErrorKind as K;
        let code = match error.kind() {
            K::DeviceNotAvailable => 1,
            K::StreamInvalidated => 2,
            K::HostUnavailable => 3,
            K::BackendError => 4,
            K::DeviceBusy => 5,
            K::PermissionDenied => 6,
            K::UnsupportedConfig => 7,
            _ => 8,
        };
        if !matches!(error.kind(), K::Xrun | K::DeviceChanged | K::RealtimeDenied) {
            state.last_error.store(code, Relaxed);
        }
        match error.kind() {
            K::Xrun => {
                state.xruns.fetch_add(1, Relaxed);
            }
            K::DeviceChanged | K::RealtimeDenied => {}
            K::DeviceNotAvailable | K::StreamInvalidated | K::HostUnavailable => {
                state.lost.store(true, Relaxed);
            }
            _ => {
                if state.errors.fetch_add(1, Relaxed) + 1 >= ERRORS_BEFORE_LOST {
                    state.lost.store(true, Relaxed);
                }
            }
        }
    }
}

/// Builds `$body` with `$t` bound to the Rust type of sample format `$format`; `None` for
/// formats we do not convert (24-bit packed, 64-bit integers, DSD).
macro_rules! by_format {
    ($format:expr, |$t:ident| $body:expr) => {
        match $format {
            cpal::SampleFormat::F32 => {
                type $t = f32;
                Some($body)
            }
            cpal::SampleFormat::F64 => {
                type $t = f64;
                Some($body)
            }
            cpal::SampleFormat::I16 => {
                type $t = i16;
                Some($body)
            }
            cpal::SampleFormat::I32 => {
                type $t = i32;
                Some($body)
            }
            cpal::SampleFormat::I8 => {
                type $t = i8;
                Some($body)
            }
            cpal::SampleFormat::U16 => {
                type $t = u16;
                Some($body)
            }
            cpal::SampleFormat::U8 => {
                type $t = u8;
                Some($body)
            }
            _ => None,
        }
    };
}
pub(crate) use by_format;

/// An input stream pushing mono f32 into `producer`.
pub fn build_input<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut producer: rtrb::Producer<f32>,
    state: Arc<StreamState>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels);
    let st = state.clone();
    device.build_input_stream::<T, _, _>(
        *config,
        move |data: &[T], info: &cpal::InputCallbackInfo| {
            let ts = info.timestamp();
            if let Some(d) = ts.callback.checked_duration_since(ts.capture) {
                st.latency_us.store(d.as_micros() as u64, Relaxed);
            }
            let frames = (data.len() / channels.max(1)) as u64;
            st.max_request.fetch_max(frames, Relaxed);
            downmix(data, channels, |s| push_one(&mut producer, s, &st.dropped));
            let handed_over = st.frames.fetch_add(frames, Relaxed) + frames;
            st.stamps.record(handed_over);
            st.errors.store(0, Relaxed);
            st.callbacks.fetch_add(1, Relaxed);
        },
        on_error(state),
        None,
    )
}

/// Where an output stream's mono samples come from.
pub trait MonoSource: Send + 'static {
    /// Called once per callback before any `next`.
    fn begin(&mut self, _state: &StreamState) {}
    fn next(&mut self) -> Option<f32>;
}

/// The duplex's output queue, with clear's discard mark honoured.
pub struct QueueSource(pub rtrb::Consumer<f32>);

impl MonoSource for QueueSource {
    fn begin(&mut self, state: &StreamState) {
        let position = state.position.load(Relaxed);
        let until = state
            .discard_until
            .load(std::sync::atomic::Ordering::Acquire);
        if position < until {
            let n = ((until - position) as usize).min(self.0.slots());
            if let Ok(chunk) = self.0.read_chunk(n) {
                chunk.commit_all();
            }
            state.position.fetch_add(n as u64, Relaxed);
        }
    }

    fn next(&mut self) -> Option<f32> {
        self.0.pop().ok()
    }
}

/// An output stream playing `source` on every channel; silence when it runs dry.
pub fn build_output<T, S: MonoSource>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut source: S,
    state: Arc<StreamState>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels);
    let st = state.clone();
    let mut requests = RequestWindow::default();
    device.build_output_stream::<T, _, _>(
        *config,
        move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
            let ts = info.timestamp();
            if let Some(d) = ts.playback.checked_duration_since(ts.callback) {
                st.latency_us.store(d.as_micros() as u64, Relaxed);
            }
            let frames = (data.len() / channels.max(1)) as u64;
            // A new stream's first request fills the server's buffer (about two periods on
            // PulseAudio): sizing the output queue by it added ~45 ms to every call's playback.
            if st.callbacks.load(Relaxed) > 0 {
                st.max_request.store(requests.add(frames), Relaxed);
            }
            source.begin(&st);
            let got = upmix(data, channels, || source.next()) as u64;
            st.frames.fetch_add(got, Relaxed);
            let position = st
                .position
                .fetch_add(got, std::sync::atomic::Ordering::Release)
                + got;
            st.stamps.record(position);
            st.underrun.fetch_add(frames - got, Relaxed);
            st.errors.store(0, Relaxed);
            st.callbacks.fetch_add(1, Relaxed);
        },
        on_error(state),
        None,
    )
}

/// The largest of the recent requests: the queue must cover the callbacks the device makes
/// now, and a one-off large one (a sound server catching up after a hiccup) must not keep
/// it, and the agent's audio, longer for the rest of the call.
#[derive(Debug, Default)]
struct RequestWindow {
    current: u64,
    previous: u64,
    seen: u32,
}

impl RequestWindow {
    /// Callbacks per window: a second at 10 ms periods.
    const LEN: u32 = 100;

    /// Counts one callback of `frames`; returns the largest of this and the last window.
    fn add(&mut self, frames: u64) -> u64 {
        if self.seen == Self::LEN {
            self.previous = std::mem::take(&mut self.current);
            self.seen = 0;
        }
        self.seen += 1;
        self.current = self.current.max(frames);
        self.current.max(self.previous)
    }
}

/// Attempts at starting an output stream that fails as it starts (below).
const OUTPUT_START_ATTEMPTS: usize = 5;
/// How long a started output stream has to run its first callback.
const OUTPUT_START_TIMEOUT: Duration = Duration::from_millis(500);

/// Builds (with `build`, which makes a fresh stream and whatever feeds it) and starts an
/// output stream, making sure it runs.
///
/// Why: the ALSA pulse plugin (libasound2-plugins 1.2.x, alsa-project/alsa-plugins#65) returns
/// EIO from `snd_pcm_avail_delay` while PulseAudio has no timing data for a new playback stream
/// yet. cpal's ALSA worker then reports a `BackendError` and polls again without writing, so
/// the stream never reaches its start threshold and stays silent for good (seen on about half
/// the opens against the test rig). Waiting a moment before `play` lets the timing data
/// arrive; a stream that still fails before its first callback is dropped and built again.
pub fn start_output<F, X>(
    state: &StreamState,
    mut build: impl FnMut() -> Result<(cpal::Stream, X), F>,
    play_error: impl Fn(cpal::Error) -> F,
) -> Result<(cpal::Stream, X), F> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        state.errors.store(0, Relaxed);
        state.last_error.store(0, Relaxed);
        state.lost.store(false, Relaxed);
        state.callbacks.store(0, Relaxed);
        let (stream, extra) = build()?;
        std::thread::sleep(Duration::from_millis(30));
        stream.play().map_err(&play_error)?;
        let deadline = Instant::now() + OUTPUT_START_TIMEOUT;
        while state.callbacks.load(Relaxed) == 0
            && state.last_error.load(Relaxed) == 0
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        let stuck = state.callbacks.load(Relaxed) == 0 && state.last_error.load(Relaxed) != 0;
        if !stuck || attempt == OUTPUT_START_ATTEMPTS {
            return Ok((stream, extra));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_request_counts_for_one_to_two_windows() {
        let mut window = RequestWindow::default();
        assert_eq!(window.add(441), 441);
        assert_eq!(window.add(882), 882, "at once");
        for _ in 2..RequestWindow::LEN {
            assert_eq!(window.add(441), 882, "for the rest of its window");
        }
        for _ in 0..RequestWindow::LEN {
            assert_eq!(window.add(441), 882, "and the next one");
        }
        assert_eq!(window.add(441), 441, "then it is forgotten");
    }
}
