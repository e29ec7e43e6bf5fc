//! Device checks for a settings screen: play a tone through a speaker, measure a microphone's
//! level. Each opens its one device for the call's duration and blocks while it runs (call it
//! from `spawn_blocking` in async code).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use cpal::traits::StreamTrait;

use super::convert::level_dbfs;
use super::devices::{find, stream_config};
use super::error::{AudioError, Direction};
use super::stream::{MonoSource, StreamState, build_input, build_output, by_format, start_output};

/// The longest `measure_level` listens (its buffer is sized for it).
pub const MAX_MEASURE: Duration = Duration::from_secs(30);
/// Time allowed past the expected end before a stream that does not move is given up on. A
/// sound server may take a while to start a stream (PulseAudio's null-sink monitor, idle,
/// was measured taking over 2 s to deliver a new recording's first audio).
const GRACE: Duration = Duration::from_secs(5);

/// A microphone's level over a measurement, in dBFS (0 = full scale; a full-scale sine has an
/// RMS of -3 dBFS; silence reads -120).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Level {
    pub rms_dbfs: f32,
    pub peak_dbfs: f32,
}

struct Tone {
    step: f32,
    phase: f32,
    amplitude: f32,
    left: u64,
}

impl MonoSource for Tone {
    fn next(&mut self) -> Option<f32> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let s = self.amplitude * self.phase.sin();
        self.phase = (self.phase + self.step) % std::f32::consts::TAU;
        Some(s)
    }
}

/// Plays a sine of `frequency_hz` for `duration` through `output` (None = the default), its
/// peak at `level_dbfs` (0 = full scale), and returns once it has been handed to the device.
pub fn play_tone(
    output: Option<&str>,
    frequency_hz: f32,
    duration: Duration,
    level_dbfs: f32,
) -> Result<(), AudioError> {
    let opened = find(Direction::Output, output)?;
    let (config, format) = stream_config(&opened, Direction::Output)?;
    let rate = config.sample_rate;
    let total = (duration.as_secs_f64() * f64::from(rate)) as u64;
    let tone = || Tone {
        step: std::f32::consts::TAU * frequency_hz / rate as f32,
        phase: 0.0,
        amplitude: 10f32.powf(level_dbfs.min(0.0) / 20.0),
        left: total,
    };
    let state = Arc::new(StreamState::default());
    let err = |e: cpal::Error| AudioError::from_cpal(Direction::Output, &opened.label, &e);
    let (_stream, ()) = start_output(
        &state,
        || {
            // A retried start begins the tone again, so it plays in full.
            state.frames.store(0, Relaxed);
            let stream = by_format!(format, |T| build_output::<T, _>(
                &opened.device,
                &config,
                tone(),
                state.clone()
            ))
            .ok_or_else(|| unsupported(&opened.label, Direction::Output, format))?
            .map_err(err)?;
            Ok((stream, ()))
        },
        err,
    )?;
    let deadline = Instant::now() + duration + GRACE;
    while state.frames.load(Relaxed) < total {
        if state.lost.load(Relaxed) {
            return Err(lost(&opened.label, Direction::Output));
        }
        if Instant::now() > deadline {
            return Err(stalled(&opened.label, Direction::Output));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // The last callback's audio is still in the device's buffer: let it out before the stream
    // is dropped, or the tone's end is cut.
    let latency = Duration::from_micros(state.latency_us.load(Relaxed));
    std::thread::sleep(latency.min(Duration::from_millis(500)) + Duration::from_millis(50));
    Ok(())
}

/// Listens to `input` (None = the default) for `duration` (at most [`MAX_MEASURE`]).
pub fn measure_level(input: Option<&str>, duration: Duration) -> Result<Level, AudioError> {
    let duration = duration.min(MAX_MEASURE);
    let opened = find(Direction::Input, input)?;
    let (config, format) = stream_config(&opened, Direction::Input)?;
    let rate = config.sample_rate;
    let total = (duration.as_secs_f64() * f64::from(rate)) as usize;
    let (producer, mut consumer) = rtrb::RingBuffer::<f32>::new(total + rate as usize);
    let state = Arc::new(StreamState::default());
    let err = |e: cpal::Error| AudioError::from_cpal(Direction::Input, &opened.label, &e);
    let stream = by_format!(format, |T| build_input::<T>(
        &opened.device,
        &config,
        producer,
        state.clone()
    ))
    .ok_or_else(|| unsupported(&opened.label, Direction::Input, format))?
    .map_err(err)?;
    stream.play().map_err(err)?;
    let deadline = Instant::now() + duration + GRACE;
    while consumer.slots() < total {
        if state.lost.load(Relaxed) {
            return Err(lost(&opened.label, Direction::Input));
        }
        if Instant::now() > deadline {
            return Err(stalled(&opened.label, Direction::Input));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(stream);
    let chunk = consumer
        .read_chunk(total)
        .map_err(|_| stalled(&opened.label, Direction::Input))?;
    let (a, b) = chunk.as_slices();
    let (rms_dbfs, peak_dbfs) = level_dbfs(a.iter().chain(b).copied());
    Ok(Level {
        rms_dbfs,
        peak_dbfs,
    })
}

fn unsupported(label: &str, direction: Direction, format: cpal::SampleFormat) -> AudioError {
    AudioError::UnsupportedFormat {
        kind: direction.noun(),
        name: label.to_owned(),
        detail: format!("sample format {format} is not converted"),
    }
}

fn lost(label: &str, direction: Direction) -> AudioError {
    AudioError::DeviceLost {
        kind: direction.noun(),
        name: label.to_owned(),
        detail: "the stream stopped".into(),
    }
}

fn stalled(label: &str, direction: Direction) -> AudioError {
    AudioError::DeviceLost {
        kind: direction.noun(),
        name: label.to_owned(),
        detail: "the device stopped delivering audio".into(),
    }
}
