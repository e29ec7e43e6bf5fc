//! The speakers alone, for listening in on a call: 8 kHz mono frames in, played at the
//! device's own rate and format, at a volume the listener can change while it plays. The
//! device callback only reads a wait-free queue; a feeder thread resamples into it. Nothing
//! here ever waits on the caller: a frame that finds the feeder behind is dropped and counted.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use super::devices::{find, stream_config};
use super::error::{AudioError, Direction};
use super::queue::push_one;
use super::stream::{QueueSource, StreamState, build_output, by_format, start_output};
use crate::media::frame::TELEPHONY_RATE;
use crate::media::resample::Resampler;

/// Frames (20 ms each) waiting for the feeder: half a second, then the newest are dropped.
const FRAMES_QUEUED: usize = 25;
/// How often the feeder looks up from an empty queue: to keep the device fed, and to see
/// whether it must stop.
const POLL: Duration = Duration::from_millis(10);
/// Audio kept queued for the device, in ms: silence fills it while no frame comes, so the
/// stream never runs dry (a sound server that sees its stream starve re-buffers, and plays
/// what follows late and clipped).
const KEEP_QUEUED_MS: usize = 40;

pub struct Speaker {
    frames: SyncSender<Vec<i16>>,
    volume: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    state: Arc<StreamState>,
    dropped: Arc<AtomicU64>,
    label: String,
}

impl Speaker {
    /// Opens `output` (None: the default speaker) at `volume` (0 silent, 1 as is). Blocks
    /// while the device opens: from async code, call it in `spawn_blocking`.
    pub fn open(output: Option<&str>, volume: f32) -> Result<Speaker, AudioError> {
        let (frames, incoming) = sync_channel(FRAMES_QUEUED);
        let (ready, opened) = sync_channel(1);
        let volume = Arc::new(AtomicU32::new(clamp(volume).to_bits()));
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(StreamState::default());
        let dropped = Arc::new(AtomicU64::new(0));
        let feeder = Feeder {
            volume: volume.clone(),
            stop: stop.clone(),
            state: state.clone(),
            dropped: dropped.clone(),
        };
        let output = output.map(str::to_owned);
        std::thread::Builder::new()
            .name("audio-speaker".into())
            .spawn(move || feeder.run(output.as_deref(), incoming, ready))
            .map_err(|e| AudioError::Device {
                kind: "speaker",
                name: "listen-in".into(),
                detail: e.to_string(),
            })?;
        let label = opened.recv().map_err(|_| AudioError::Closed)??;
        Ok(Speaker {
            frames,
            volume,
            stop,
            state,
            dropped,
            label,
        })
    }

    /// Queues one frame of 8 kHz mono audio; never waits.
    pub fn play(&self, frame: &[i16]) {
        match self.frames.try_send(frame.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(frame.len() as u64, Relaxed);
            }
        }
    }

    pub fn set_volume(&self, volume: f32) {
        self.volume.store(clamp(volume).to_bits(), Relaxed);
    }

    pub fn volume(&self) -> f32 {
        f32::from_bits(self.volume.load(Relaxed))
    }

    /// The device went away (unplugged, the sound server stopped): nothing more will play.
    pub fn is_lost(&self) -> bool {
        self.state.lost.load(Relaxed)
    }

    /// Samples (8 kHz) dropped because the feeder or the device was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// The device, as its id.
    pub fn device(&self) -> &str {
        &self.label
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        // The feeder ends by itself within `POLL` and drops the stream on its own thread (a
        // stream of a sound server that died can block there; nobody waits on it).
        self.stop.store(true, Relaxed);
    }
}

fn clamp(volume: f32) -> f32 {
    if volume.is_finite() {
        volume.clamp(0.0, 1.0)
    } else {
        1.0
    }
}

struct Feeder {
    volume: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    state: Arc<StreamState>,
    dropped: Arc<AtomicU64>,
}

impl Feeder {
    fn run(
        self,
        output: Option<&str>,
        incoming: Receiver<Vec<i16>>,
        ready: SyncSender<Result<String, AudioError>>,
    ) {
        let started = (|| {
            let opened = find(Direction::Output, output)?;
            let (config, format) = stream_config(&opened, Direction::Output)?;
            let rate = config.sample_rate;
            let resampler = Resampler::new(TELEPHONY_RATE, rate).map_err(|e| {
                AudioError::UnsupportedFormat {
                    kind: "speaker",
                    name: opened.label.clone(),
                    detail: e.to_string(),
                }
            })?;
            let err = |e: cpal::Error| AudioError::from_cpal(Direction::Output, &opened.label, &e);
            let (stream, producer) = start_output(
                &self.state,
                || {
                    // A fifth of a second at the device's rate: the feeder keeps it topped up.
                    let (producer, consumer) = rtrb::RingBuffer::<f32>::new(rate as usize / 5);
                    let stream = by_format!(format, |T| build_output::<T, _>(
                        &opened.device,
                        &config,
                        QueueSource(consumer),
                        self.state.clone()
                    ))
                    .ok_or_else(|| AudioError::UnsupportedFormat {
                        kind: "speaker",
                        name: opened.label.clone(),
                        detail: format!("sample format {format} is not converted"),
                    })?
                    .map_err(err)?;
                    Ok((stream, producer))
                },
                err,
            )?;
            Ok((stream, producer, resampler, opened.label, rate))
        })();
        let (stream, mut producer, mut resampler, label, rate) = match started {
            Ok(s) => s,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(label));
        let mut resampled = Vec::with_capacity(1024);
        let keep = rate as usize * KEEP_QUEUED_MS / 1000;
        while !self.stop.load(Relaxed) && !self.state.lost.load(Relaxed) {
            let queued = producer.buffer().capacity() - producer.slots();
            if queued < keep {
                for _ in queued..keep {
                    push_one(&mut producer, 0.0, &self.dropped);
                }
            }
            match incoming.recv_timeout(POLL) {
                Ok(frame) => {
                    resampled.clear();
                    resampler.process(&frame, &mut resampled);
                    let gain = f32::from_bits(self.volume.load(Relaxed)) / 32768.0;
                    for &s in &resampled {
                        push_one(&mut producer, f32::from(s) * gain, &self.dropped);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        drop(stream);
    }
}

#[cfg(test)]
mod tests {
    use super::clamp;

    #[test]
    fn volume_is_kept_between_silent_and_as_is() {
        assert_eq!(clamp(0.5), 0.5);
        assert_eq!(clamp(-1.0), 0.0);
        assert_eq!(clamp(3.0), 1.0);
        assert_eq!(clamp(f32::NAN), 1.0);
    }
}
