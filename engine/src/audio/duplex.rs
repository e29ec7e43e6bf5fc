//! Microphone and speaker as one full-duplex 8 kHz mono pipe, with echo handling.
//!
//! Threads: the devices' callbacks (cpal's), one worker thread (ours, which also owns the
//! streams), and the caller. Callbacks talk to the worker only through wait-free rtrb queues
//! and atomics. The caller talks to the worker through two short mutexes that callbacks never
//! touch: the agent playout (`play`, `clear`, `played`) and the captured 8 kHz audio
//! (`capture`, woken by a tokio `Notify`).
//!
//! The worker is driven by the devices: whenever the output queue holds less than its target
//! (the device's largest callback and a few ms: just in time) it renders 10 ms (agent audio
//! resampled to the device rate, or silence) and hands it to the echo canceller as the far
//! end; whenever 10 ms of microphone audio has arrived it cleans it (per `EchoMode`),
//! resamples it to 8 kHz and wakes `capture`. With nothing to do it sleeps 1 ms (no spinning).
//!
//! Agent audio's wait for the speaker is what the queue holds ahead of it when it is rendered
//! plus the time to the next callback, so the queue is kept as short as the worker's wake-up
//! allows, and while no agent audio is in flight it is trimmed to exactly that with a little
//! silence (output periods are 10 ms, as are render ticks, so a queue that is a tick too long
//! would otherwise stay so).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use cpal::traits::StreamTrait;

use super::convert::{from_i16, to_i16};
use super::devices::{Opened, find, stream_config};
use super::echo::{Canceller, HalfDuplexGate};
use super::error::{AudioError, Direction};
use super::playout::Playout;
use super::stream::{QueueSource, StreamState, build_input, build_output, by_format, start_output};
use crate::media::frame::TELEPHONY_RATE;
use crate::media::resample::Resampler;

pub use super::echo::EchoMode;
pub use super::stamps::Stamp;

/// Agent audio held at most: two minutes at 8 kHz (a backend sends faster than real time).
const PLAYOUT_CAPACITY: usize = 8_000 * 120;
/// Captured 8 kHz audio held for `capture` at most: 2 s; older audio is dropped (a reader
/// that far behind wants the present, not a backlog).
const CAPTURE_CAPACITY: usize = 8_000 * 2;
/// The output queue is kept this much fuller than the device's largest callback: the time the
/// worker has, after a callback, to render the next one (its idle sleep is 1 ms).
const OUTPUT_MARGIN_MS: u64 = 4;
/// Microphone backlog beyond this is skipped (oldest first) so latency stays bounded.
const INPUT_BACKLOG_MS: usize = 200;
const IDLE_SLEEP: Duration = Duration::from_millis(1);
/// How long dropping a `Duplex` waits for its streams to stop.
const WORKER_STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// Output streams rebuilt at most, over a duplex's life, before it gives up.
const MAX_OUTPUT_RESTARTS: u64 = 20;

#[derive(Debug, Clone, Default)]
pub struct DuplexConfig {
    /// Device ids (`DeviceInfo::id`) or names; `None` = the system default.
    pub input: Option<String>,
    pub output: Option<String>,
    pub echo: EchoMode,
}

/// How the duplex runs: devices, formats, and what was lost on the way.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct AudioStats {
    pub input_device: String,
    pub output_device: String,
    pub input_rate: u32,
    pub output_rate: u32,
    pub input_channels: u16,
    pub output_channels: u16,
    pub input_format: String,
    pub output_format: String,
    pub echo: EchoMode,
    /// Microphone samples (device rate) dropped: the input queue was full or backlogged.
    pub input_dropped: u64,
    /// Captured 8 kHz samples dropped because `capture` was not called in time.
    pub capture_dropped: u64,
    /// Agent samples (8 kHz) refused by `play` because two minutes were already queued.
    pub agent_dropped: u64,
    /// Output frames the speaker got as silence because the worker was late (after start).
    pub output_underrun: u64,
    pub input_xruns: u64,
    pub output_xruns: u64,
    /// The render-to-capture delay last given to the echo canceller, in ms.
    pub echo_delay_ms: u32,
    /// Times the output stream was rebuilt because it stopped running (see `start_output`).
    pub output_restarts: u64,
}

struct Shared {
    playout: Mutex<Playout>,
    captured: Mutex<VecDeque<i16>>,
    capture_dropped: AtomicU64,
    notify: tokio::sync::Notify,
    input: Arc<StreamState>,
    output: Arc<StreamState>,
    /// Output-queue position up to which the worker has pushed (written under `playout`).
    pushed: AtomicU64,
    muted: AtomicBool,
    stop: AtomicBool,
    /// Set by the worker when a stream is lost or the worker ended; `capture` reports it.
    failure: Mutex<Option<AudioError>>,
    echo_delay_ms: AtomicU64,
    output_restarts: AtomicU64,
}

/// What the worker reports once the streams run.
struct Opening {
    input: Opened,
    output: Opened,
    input_config: cpal::StreamConfig,
    output_config: cpal::StreamConfig,
    input_format: cpal::SampleFormat,
    output_format: cpal::SampleFormat,
}

pub struct Duplex {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    /// Closed (the sender dropped) when the worker thread has ended, streams dropped.
    worker_done: std::sync::mpsc::Receiver<()>,
    stats: AudioStats,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Duplex {
    /// Opens both devices and starts the streams. Blocks for the devices to open (tens of
    /// ms): from async code, call it in `spawn_blocking`.
    pub fn open(config: DuplexConfig) -> Result<Duplex, AudioError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let echo = config.echo;
        // The playout needs the output rate, known only once the device is opened: start
        // with a placeholder and set it before any audio moves.
        let shared = Arc::new(Shared {
            playout: Mutex::new(Playout::new(48_000, PLAYOUT_CAPACITY)),
            captured: Mutex::new(VecDeque::with_capacity(CAPTURE_CAPACITY)),
            capture_dropped: AtomicU64::new(0),
            notify: tokio::sync::Notify::new(),
            input: Arc::default(),
            output: Arc::default(),
            pushed: AtomicU64::new(0),
            muted: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            failure: Mutex::new(None),
            echo_delay_ms: AtomicU64::new(0),
            output_restarts: AtomicU64::new(0),
        });
        let worker_shared = shared.clone();
        let (done_tx, worker_done) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("audio-duplex".into())
            .spawn(move || {
                let _done = done_tx;
                run(config, worker_shared, tx);
            })
            .map_err(|e| AudioError::Device {
                kind: "audio",
                name: "worker".into(),
                detail: e.to_string(),
            })?;
        match rx.recv() {
            Ok(Ok(o)) => Ok(Duplex {
                stats: AudioStats {
                    input_device: o.input.label,
                    output_device: o.output.label,
                    input_rate: o.input_config.sample_rate,
                    output_rate: o.output_config.sample_rate,
                    input_channels: o.input_config.channels,
                    output_channels: o.output_config.channels,
                    input_format: o.input_format.to_string(),
                    output_format: o.output_format.to_string(),
                    echo,
                    input_dropped: 0,
                    capture_dropped: 0,
                    agent_dropped: 0,
                    output_underrun: 0,
                    input_xruns: 0,
                    output_xruns: 0,
                    echo_delay_ms: 0,
                    output_restarts: 0,
                },
                shared,
                worker: Some(worker),
                worker_done,
            }),
            Ok(Err(e)) => {
                let _ = worker.join();
                Err(e)
            }
            Err(_) => {
                let _ = worker.join();
                Err(AudioError::Closed)
            }
        }
    }

    /// Queues agent audio (8 kHz mono) for the speaker. Never waits on the devices.
    pub fn play(&self, samples: &[i16]) {
        lock(&self.shared.playout).push(samples);
    }

    /// Barge-in: drops every agent sample not yet played, including what is already in the
    /// output queue (the callback skips it), at once.
    pub fn clear(&self) {
        let mut playout = lock(&self.shared.playout);
        let position = self.shared.output.position.load(Relaxed);
        playout.clear(position);
        // Holding `playout` keeps the worker from pushing meanwhile: everything queued up to
        // `pushed` is stale.
        let pushed = self.shared.pushed.load(Relaxed);
        self.shared
            .output
            .discard_until
            .store(pushed, std::sync::atomic::Ordering::Release);
    }

    /// Agent samples (8 kHz) the output callback has taken so far; cleared audio excluded.
    pub fn played(&self) -> u64 {
        lock(&self.shared.playout).played(self.shared.output.position.load(Relaxed))
    }

    /// A read-only view of this duplex's timing, usable from another thread while the duplex
    /// itself is owned elsewhere (a `LocalSession`): for measuring its latency.
    pub fn latency_probe(&self) -> LatencyProbe {
        LatencyProbe {
            shared: self.shared.clone(),
            opened: self.stats.clone(),
        }
    }

    /// Agent samples (8 kHz) queued or in flight, not yet played.
    pub fn pending(&self) -> u64 {
        lock(&self.shared.playout).pending(self.shared.output.position.load(Relaxed))
    }

    /// Microphone audio (8 kHz, processed per the echo mode): waits until at least `min`
    /// samples (capped at the 2 s held) are ready, then returns all that are. Cancel-safe:
    /// nothing is taken until it returns. Fails once a device is lost.
    pub async fn capture(&mut self, min: usize) -> Result<Vec<i16>, AudioError> {
        let min = min.min(CAPTURE_CAPACITY);
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(e) = lock(&self.shared.failure).clone() {
                return Err(e);
            }
            {
                let mut captured = lock(&self.shared.captured);
                if captured.len() >= min {
                    return Ok(captured.drain(..).collect());
                }
            }
            notified.await;
        }
    }

    /// Muted: `capture` delivers silence (the stream keeps running, and the canceller adapting).
    pub fn set_muted(&self, muted: bool) {
        self.shared.muted.store(muted, Relaxed);
    }

    pub fn stats(&self) -> AudioStats {
        stats(&self.shared, &self.stats)
    }
}

/// `opened` (the devices and formats) with the counters as they are now.
fn stats(s: &Shared, opened: &AudioStats) -> AudioStats {
    AudioStats {
        input_dropped: s.input.dropped.load(Relaxed),
        capture_dropped: s.capture_dropped.load(Relaxed),
        agent_dropped: lock(&s.playout).dropped,
        output_underrun: s.output.underrun.load(Relaxed),
        input_xruns: s.input.xruns.load(Relaxed),
        output_xruns: s.output.xruns.load(Relaxed),
        echo_delay_ms: s.echo_delay_ms.load(Relaxed) as u32,
        output_restarts: s.output_restarts.load(Relaxed),
        ..opened.clone()
    }
}

/// When a duplex's device callbacks ran, and what the speaker had played by then: enough to
/// time a sample from the microphone's callback to wherever it ends up, and agent audio from
/// `play` to the speaker's callback (`engine/benches/local_latency.rs`). Reading it costs the
/// callbacks nothing; the duplex stops as usual when dropped, whoever still holds a probe.
#[derive(Clone)]
pub struct LatencyProbe {
    shared: Arc<Shared>,
    opened: AudioStats,
}

/// Agent audio played as of an output-queue read position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Played {
    /// The output queue's read position: a `Stamp::position` of the output callback.
    pub position: u64,
    /// Agent samples (8 kHz) the output callback had taken by then; cleared audio excluded.
    pub agent_samples: u64,
    /// Frames (device rate) the worker had queued for the output callback and it had not taken.
    pub queued: u64,
}

impl LatencyProbe {
    /// Input callbacks from number `since` on (see `CallbackStamps::read`): the microphone's
    /// frames (device rate, mono) handed over so far, and when. Returns the next `since`.
    pub fn input_stamps(&self, since: u64, out: &mut Vec<Stamp>) -> u64 {
        self.shared.input.stamps.read(since, out)
    }

    /// Output callbacks from number `since` on: the output queue's read position (device
    /// rate), and when. Returns the next `since`.
    pub fn output_stamps(&self, since: u64, out: &mut Vec<Stamp>) -> u64 {
        self.shared.output.stamps.read(since, out)
    }

    /// The output read position and the agent audio played by it, read together.
    pub fn played(&self) -> Played {
        let playout = lock(&self.shared.playout);
        let position = self.shared.output.position.load(Relaxed);
        Played {
            position,
            agent_samples: playout.played(position),
            // `pushed` is written under `playout`.
            queued: self.shared.pushed.load(Relaxed).saturating_sub(position),
        }
    }

    /// As `Duplex::stats`.
    pub fn stats(&self) -> AudioStats {
        stats(&self.shared, &self.opened)
    }

    /// The devices' own latency as their last callbacks reported it (capture → input
    /// callback, output callback → playback), when the host reports it.
    pub fn device_latency(&self) -> [Duration; 2] {
        [&self.shared.input, &self.shared.output]
            .map(|state| Duration::from_micros(state.latency_us.load(Relaxed)))
    }
}

impl Drop for Duplex {
    fn drop(&mut self) {
        self.shared.stop.store(true, Relaxed);
        // The worker notices within its 1 ms sleep. Dropping a cpal stream joins cpal's
        // thread, which can block for good inside the ALSA pulse plugin once the sound server
        // has died (seen when the test rig was killed under a running duplex): then the worker
        // is left blocked (not spinning) rather than hanging whoever dropped the duplex.
        match self.worker_done.recv_timeout(WORKER_STOP_TIMEOUT) {
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                tracing::warn!("local audio: a stream did not stop; its thread is left behind");
            }
            _ => {
                if let Some(worker) = self.worker.take() {
                    let _ = worker.join();
                }
            }
        }
    }
}

/// The worker thread: opens the streams, reports, then processes until stopped or lost.
fn run(
    config: DuplexConfig,
    shared: Arc<Shared>,
    opened: std::sync::mpsc::SyncSender<Result<Opening, AudioError>>,
) {
    let started = start(&config, &shared);
    let (mut streams, mut worker, mut restart_output) = match started {
        Ok(Started {
            streams,
            worker,
            opening,
            restart_output,
        }) => {
            let _ = opened.send(Ok(opening));
            (streams, worker, restart_output)
        }
        Err(e) => {
            let _ = opened.send(Err(e));
            return;
        }
    };
    let failure = loop {
        match worker.run(&shared) {
            Exit::OutputStuck if shared.output_restarts.load(Relaxed) < MAX_OUTPUT_RESTARTS => {
                shared.output_restarts.fetch_add(1, Relaxed);
                let [_, output] = &mut streams;
                // The stuck stream goes first: its callback owns the old queue.
                drop(output.take());
                let position = shared.output.position.load(Relaxed);
                shared
                    .output
                    .discard_until
                    .store(position, std::sync::atomic::Ordering::Release);
                match restart_output() {
                    Ok((stream, speaker)) => {
                        *output = Some(stream);
                        worker.replace_output(speaker, &shared);
                    }
                    // Already says the speaker stopped, and why.
                    Err(e @ AudioError::DeviceLost { .. }) => break e,
                    Err(e) => {
                        break AudioError::DeviceLost {
                            kind: Direction::Output.noun(),
                            name: worker.labels[1].clone(),
                            detail: format!("it could not be restarted: {e}"),
                        };
                    }
                }
            }
            Exit::OutputStuck => {
                break AudioError::DeviceLost {
                    kind: Direction::Output.noun(),
                    name: worker.labels[1].clone(),
                    detail: shared.output.lost_reason().into(),
                };
            }
            Exit::Failed(e) => break e,
        }
    };
    *lock(&shared.failure) = Some(failure);
    drop(streams);
    // Wake a waiting `capture` (and one arriving later: notify_one keeps a permit).
    shared.notify.notify_waiters();
    shared.notify.notify_one();
}

/// Builds and starts a fresh output stream and its queue (after the first one got stuck).
type RestartOutput = Box<dyn FnMut() -> Result<(cpal::Stream, rtrb::Producer<f32>), AudioError>>;

/// What `start` hands the worker thread: the running streams (input, output), the worker,
/// what to report, and how to rebuild the output.
struct Started {
    streams: [Option<cpal::Stream>; 2],
    worker: Worker,
    opening: Opening,
    restart_output: RestartOutput,
}

/// The worker ends, or asks for a new output stream.
enum Exit {
    Failed(AudioError),
    /// The output stream stopped running without the device being gone (see `start_output`).
    OutputStuck,
}

fn start(config: &DuplexConfig, shared: &Arc<Shared>) -> Result<Started, AudioError> {
    let input = find(Direction::Input, config.input.as_deref())?;
    let output = find(Direction::Output, config.output.as_deref())?;
    let (input_config, input_format) = stream_config(&input, Direction::Input)?;
    let (output_config, output_format) = stream_config(&output, Direction::Output)?;
    let (in_rate, out_rate) = (input_config.sample_rate, output_config.sample_rate);
    let unsupported = |direction: Direction, opened: &Opened, format: cpal::SampleFormat| {
        AudioError::UnsupportedFormat {
            kind: direction.noun(),
            name: opened.label.clone(),
            detail: format!("sample format {format} is not converted"),
        }
    };
    let resample_error =
        |direction: Direction, opened: &Opened, e: crate::media::resample::ResampleError| {
            AudioError::UnsupportedFormat {
                kind: direction.noun(),
                name: opened.label.clone(),
                detail: e.to_string(),
            }
        };
    let to_8k = Resampler::new(in_rate, TELEPHONY_RATE)
        .map_err(|e| resample_error(Direction::Input, &input, e))?;
    // 10 ms blocks, as the render ticks: a tick's agent audio leaves the resampler in that tick.
    let from_8k = Resampler::low_delay(TELEPHONY_RATE, out_rate)
        .map_err(|e| resample_error(Direction::Output, &output, e))?;
    *lock(&shared.playout) = Playout::new(out_rate, PLAYOUT_CAPACITY);

    // One second each way: far more than the worker's lag, so a full queue means it stalled.
    let (mic_producer, mic) = rtrb::RingBuffer::<f32>::new(in_rate as usize);
    let build_output_stream = {
        let (device, config, label) = (output.device.clone(), output_config, output.label.clone());
        let state = shared.output.clone();
        move || {
            let (speaker, speaker_consumer) = rtrb::RingBuffer::<f32>::new(out_rate as usize);
            let stream = by_format!(output_format, |T| build_output::<T, _>(
                &device,
                &config,
                QueueSource(speaker_consumer),
                state.clone()
            ))
            .ok_or_else(|| AudioError::UnsupportedFormat {
                kind: Direction::Output.noun(),
                name: label.clone(),
                detail: format!("sample format {output_format} is not converted"),
            })?
            .map_err(|e| AudioError::from_cpal(Direction::Output, &label, &e))?;
            Ok((stream, speaker))
        }
    };
    let mut restart_output: RestartOutput = {
        let (state, label) = (shared.output.clone(), output.label.clone());
        let mut build = build_output_stream;
        Box::new(move || {
            start_output(&state, &mut build, |e| {
                AudioError::from_cpal(Direction::Output, &label, &e)
            })
        })
    };
    let (output_stream, speaker) = restart_output()?;
    let input_stream = by_format!(input_format, |T| build_input::<T>(
        &input.device,
        &input_config,
        mic_producer,
        shared.input.clone()
    ))
    .ok_or_else(|| unsupported(Direction::Input, &input, input_format))?
    .map_err(|e| AudioError::from_cpal(Direction::Input, &input.label, &e))?;
    input_stream
        .play()
        .map_err(|e| AudioError::from_cpal(Direction::Input, &input.label, &e))?;

    let mut worker = Worker::new(config.echo, in_rate, out_rate, mic, speaker, to_8k, from_8k);
    worker.labels = [input.label.clone(), output.label.clone()];
    let opening = Opening {
        input,
        output,
        input_config,
        output_config,
        input_format,
        output_format,
    };
    Ok(Started {
        streams: [Some(input_stream), Some(output_stream)],
        worker,
        opening,
        restart_output,
    })
}

/// The worker's state: everything here lives on the worker thread only.
struct Worker {
    echo: EchoMode,
    in_rate: u32,
    out_rate: u32,
    mic: rtrb::Consumer<f32>,
    speaker: rtrb::Producer<f32>,
    to_8k: Resampler,
    from_8k: Resampler,
    canceller: Option<Canceller>,
    gate: HalfDuplexGate,
    /// Device-rate agent audio (or silence) from the resampler, waiting to be queued.
    render: VecDeque<f32>,
    // Scratch buffers, allocated once.
    agent_tick: Vec<i16>,
    resampled: Vec<i16>,
    render_frame: Vec<f32>,
    /// What went to the speaker since the canceller's last 10 ms far-end frame.
    far: Vec<f32>,
    mic_frame: Vec<f32>,
    clean: Vec<f32>,
    clean_i16: Vec<i16>,
    out_8k: Vec<i16>,
    pushed: u64,
    /// The input's and the output's device labels, for messages.
    labels: [String; 2],
}

impl Worker {
    fn new(
        echo: EchoMode,
        in_rate: u32,
        out_rate: u32,
        mic: rtrb::Consumer<f32>,
        speaker: rtrb::Producer<f32>,
        to_8k: Resampler,
        from_8k: Resampler,
    ) -> Self {
        let (in_frame, out_frame) = ((in_rate / 100) as usize, (out_rate / 100) as usize);
        Self {
            echo,
            in_rate,
            out_rate,
            mic,
            speaker,
            to_8k,
            from_8k,
            canceller: (echo == EchoMode::Cancel).then(|| Canceller::new(in_rate, out_rate)),
            gate: HalfDuplexGate::new(in_rate),
            render: VecDeque::with_capacity(out_frame * 4),
            agent_tick: vec![0; (TELEPHONY_RATE / 100) as usize],
            resampled: Vec::with_capacity(out_frame * 4),
            render_frame: vec![0.0; out_frame],
            far: Vec::with_capacity(out_frame),
            mic_frame: vec![0.0; in_frame],
            clean: vec![0.0; in_frame],
            clean_i16: vec![0; in_frame],
            out_8k: Vec::with_capacity(320),
            pushed: 0,
            labels: Default::default(),
        }
    }

    fn run(&mut self, shared: &Shared) -> Exit {
        let out_per_ms = u64::from(self.out_rate) / 1000;
        loop {
            if shared.stop.load(Relaxed) {
                return Exit::Failed(AudioError::Closed);
            }
            if shared.output.lost.load(Relaxed) && !shared.output.device_gone() {
                return Exit::OutputStuck;
            }
            for (state, direction) in [
                (&shared.input, Direction::Input),
                (&shared.output, Direction::Output),
            ] {
                if state.lost.load(Relaxed) {
                    return Exit::Failed(AudioError::DeviceLost {
                        kind: direction.noun(),
                        name: self.labels[direction as usize].clone(),
                        detail: state.lost_reason().into(),
                    });
                }
            }
            let mut busy = false;
            let tick = self.render_frame.len() as u64;
            let target =
                shared.output.max_request.load(Relaxed).max(tick) + OUTPUT_MARGIN_MS * out_per_ms;
            loop {
                let queued = self
                    .pushed
                    .saturating_sub(shared.output.position.load(Relaxed));
                let Some(short) = target.checked_sub(queued).filter(|&n| n > 0) else {
                    break;
                };
                busy = true;
                // A whole tick would leave the queue longer than the target by more than
                // the callback takes: while nothing of the agent's is on its way, make up
                // the difference with silence, so that the queue lines up with the callbacks.
                if short < tick && self.render.is_empty() && self.idle(shared) {
                    self.fill_silence(shared, short as usize);
                } else {
                    self.render_tick(shared);
                }
            }
            self.skip_input_backlog(shared);
            while self.mic.slots() >= self.mic_frame.len() {
                self.capture_tick(shared);
                busy = true;
            }
            if !busy {
                std::thread::sleep(IDLE_SLEEP);
            }
        }
    }

    /// 10 ms of output: agent audio (or silence) to the output queue and the canceller.
    fn render_tick(&mut self, shared: &Shared) {
        let frame_len = self.render_frame.len();
        {
            let mut playout = lock(&shared.playout);
            if playout.clear_requested {
                self.from_8k.reset();
                self.render.clear();
                playout.restart(self.pushed);
            }
            playout.take(&mut self.agent_tick);
            self.resampled.clear();
            self.from_8k.process(&self.agent_tick, &mut self.resampled);
            self.render
                .extend(self.resampled.iter().map(|&s| from_i16(s)));
            let ready = self.render.len().min(frame_len);
            for (slot, s) in self.render_frame.iter_mut().zip(self.render.drain(..ready)) {
                *slot = s;
            }
            self.render_frame[ready..].fill(0.0);
            playout.filler((frame_len - ready) as u64);
            self.push_out(shared, frame_len);
            let position = shared.output.position.load(Relaxed);
            playout.retire(position);
        }
        self.feed_far(frame_len);
    }

    /// Whether no agent audio is waiting or in the resampler: everything rendered so far
    /// has been pushed, so silence may be put in without delaying the agent.
    fn idle(&self, shared: &Shared) -> bool {
        !lock(&shared.playout).agent_playing(self.pushed)
    }

    /// `n` (less than a tick) samples of silence, ahead of the resampler's output.
    fn fill_silence(&mut self, shared: &Shared, n: usize) {
        let mut playout = lock(&shared.playout);
        self.render_frame[..n].fill(0.0);
        playout.filler(n as u64);
        self.push_out(shared, n);
        drop(playout);
        self.feed_far(n);
    }

    /// The first `n` of `render_frame` to the output queue (with `playout` held by the caller).
    fn push_out(&mut self, shared: &Shared, n: usize) {
        // The queue holds a second; the target is far below it, so this always fits.
        let (_, rest) = self.speaker.push_partial_slice(&self.render_frame[..n]);
        self.pushed += (n - rest.len()) as u64;
        shared.pushed.store(self.pushed, Relaxed);
    }

    /// The first `n` of `render_frame` to the echo canceller, in its 10 ms frames.
    fn feed_far(&mut self, n: usize) {
        let Some(canceller) = &mut self.canceller else {
            return;
        };
        let frame_len = self.render_frame.len();
        let mut rest = &self.render_frame[..n];
        while !rest.is_empty() {
            let take = (frame_len - self.far.len()).min(rest.len());
            self.far.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.far.len() == frame_len {
                canceller.render(&self.far);
                self.far.clear();
            }
        }
    }

    /// A new output queue (the stream was rebuilt): what the old queue held is gone, agent
    /// audio in it included (neither played nor pending); the timeline restarts.
    fn replace_output(&mut self, speaker: rtrb::Producer<f32>, shared: &Shared) {
        let mut playout = lock(&shared.playout);
        self.speaker = speaker;
        let position = shared.output.position.load(Relaxed);
        playout.rebase(position);
        self.pushed = position;
        shared.pushed.store(position, Relaxed);
    }

    fn skip_input_backlog(&mut self, shared: &Shared) {
        let limit = self.in_rate as usize * INPUT_BACKLOG_MS / 1000;
        let backlog = self.mic.slots();
        if backlog > limit {
            let skip = backlog - limit;
            if let Ok(chunk) = self.mic.read_chunk(skip) {
                chunk.commit_all();
            }
            shared.input.dropped.fetch_add(skip as u64, Relaxed);
        }
    }

    /// 10 ms of microphone: cleaned per the mode, resampled to 8 kHz, handed to `capture`.
    fn capture_tick(&mut self, shared: &Shared) {
        if self.mic.pop_entire_slice(&mut self.mic_frame).is_err() {
            return;
        }
        let position = shared.output.position.load(Relaxed);
        match self.echo {
            EchoMode::Cancel => {
                let delay = self.echo_delay_ms(shared, position);
                shared.echo_delay_ms.store(u64::from(delay), Relaxed);
                if let Some(canceller) = &mut self.canceller {
                    canceller.capture(&self.mic_frame, &mut self.clean, delay);
                }
            }
            EchoMode::Headphones => self.clean.copy_from_slice(&self.mic_frame),
            EchoMode::HalfDuplex => {
                let playing = lock(&shared.playout).agent_playing(position);
                if self.gate.pass(playing, self.mic_frame.len()) {
                    self.clean.copy_from_slice(&self.mic_frame);
                } else {
                    self.clean.fill(0.0);
                }
            }
        }
        if shared.muted.load(Relaxed) {
            self.clean.fill(0.0);
        }
        for (dst, &s) in self.clean_i16.iter_mut().zip(&self.clean) {
            *dst = to_i16(s);
        }
        self.out_8k.clear();
        self.to_8k.process(&self.clean_i16, &mut self.out_8k);
        if self.out_8k.is_empty() {
            return;
        }
        {
            let mut captured = lock(&shared.captured);
            let over = (captured.len() + self.out_8k.len()).saturating_sub(CAPTURE_CAPACITY);
            if over > 0 {
                let over = over.min(captured.len());
                captured.drain(..over);
                shared.capture_dropped.fetch_add(over as u64, Relaxed);
            }
            captured.extend(&self.out_8k);
        }
        shared.notify.notify_one();
    }

    /// Render → capture delay: what is queued for the speaker, the output device's latency,
    /// the input device's latency and what waits in the microphone queue. AEC3 refines it
    /// with its own estimator; this puts it in the right neighbourhood.
    fn echo_delay_ms(&self, shared: &Shared, position: u64) -> u32 {
        let queued_out = self.pushed.saturating_sub(position) * 1000 / u64::from(self.out_rate);
        let queued_in = self.mic.slots() as u64 * 1000 / u64::from(self.in_rate);
        let devices =
            (shared.output.latency_us.load(Relaxed) + shared.input.latency_us.load(Relaxed)) / 1000;
        (queued_out + queued_in + devices).min(500) as u32
    }
}
