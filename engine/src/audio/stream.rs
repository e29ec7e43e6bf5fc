//! cpal streams and their callbacks. A callback only converts samples, moves them through a
//! wait-free queue and bumps atomics: it never locks, allocates or blocks. A stream is owned
//! by the thread that built it (cpal's `Stream` is not `Send` on every host).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use cpal::traits::DeviceTrait;
use cpal::{FromSample, SizedSample};

use super::convert::{downmix, upmix};
use super::queue::push_one;

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
    /// The largest callback seen, in frames.
    pub max_request: AtomicU64,
    /// Device latency: capture → callback (input) or callback → playback (output), in µs.
    pub latency_us: AtomicU64,
    pub xruns: AtomicU64,
    pub errors: AtomicU64,
    pub lost: AtomicBool,
}

fn on_error(state: Arc<StreamState>) -> impl FnMut(cpal::Error) + Send + 'static {
    move |error| {
        use cpal::ErrorKind as K;
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
        config.clone(),
        move |data: &[T], info: &cpal::InputCallbackInfo| {
            let ts = info.timestamp();
            if let Some(d) = ts.callback.checked_duration_since(ts.capture) {
                st.latency_us.store(d.as_micros() as u64, Relaxed);
            }
            let frames = (data.len() / channels.max(1)) as u64;
            st.max_request.fetch_max(frames, Relaxed);
            downmix(data, channels, |s| push_one(&mut producer, s, &st.dropped));
            st.frames.fetch_add(frames, Relaxed);
            st.errors.store(0, Relaxed);
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
    device.build_output_stream::<T, _, _>(
        config.clone(),
        move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
            let ts = info.timestamp();
            if let Some(d) = ts.playback.checked_duration_since(ts.callback) {
                st.latency_us.store(d.as_micros() as u64, Relaxed);
            }
            let frames = (data.len() / channels.max(1)) as u64;
            st.max_request.fetch_max(frames, Relaxed);
            source.begin(&st);
            let got = upmix(data, channels, || source.next()) as u64;
            st.frames.fetch_add(got, Relaxed);
            st.position
                .fetch_add(got, std::sync::atomic::Ordering::Release);
            st.underrun.fetch_add(frames - got, Relaxed);
            st.errors.store(0, Relaxed);
        },
        on_error(state),
        None,
    )
}
