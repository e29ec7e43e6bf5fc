//! The latency a test call's local path adds, each way, beyond the sound devices' own buffers
//! (issue 13, point 9). A real `Duplex` runs against the virtual sound card of
//! `scripts/audio-rig.sh`, inside a real `LocalSession`, and talks to a stand-in OpenAI
//! Realtime backend over a loopback WebSocket through the real `OpenAiRealtime` client; the
//! loop between them does per frame what the bridge does (`bridge/mod.rs`: a caller frame
//! goes straight to `VoiceSession::send`, agent audio straight to `feed` + `flush`).
//!
//! Measured per 20 ms frame, with the device callbacks' own timestamps (`LatencyProbe`):
//! - uplink: from the input callback handing over the frame's last sample to the backend
//!   reading the frame's `input_audio_buffer.append` off its socket;
//! - downlink: from the backend writing a `response.output_audio.delta` to its socket to the
//!   output callback taking the frame's first sample.
//!
//! Both ends are device callbacks, so whatever the device buffers (the periods the streams
//! ask for, 20 ms in and 10 ms out, and the sound server's own queue) lies outside the
//! figures: it is before the input callback and after the output callback. The backend paces
//! its audio in real time (one frame every 20 ms or a little more) and speaks in turns with
//! pauses between, so no figure includes audio queued because the backend ran ahead of the
//! speaker.
//!
//! Needs the rig and fails without it: `eval "$(bash scripts/audio-rig.sh start)"`, then
//! `cargo bench -p switchboard --bench local_latency`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use switchboard::audio::{Duplex, DuplexConfig, EchoMode, LatencyProbe, Played, Stamp};
use switchboard::carriers::local::LocalSession;
use switchboard::media::codec::pcm_to_mulaw;
use switchboard::media::frame::TELEPHONY_FRAME_SAMPLES as FRAME;
use switchboard::media::{G711, MediaIn, MediaOut, MediaSession};
use switchboard::voice::openai_realtime::OpenAiRealtime;
use switchboard::voice::{VoiceCommand, VoiceConfig, VoiceEvent, VoiceSession};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Frames before this are left out: the streams settling, the first capture backlog.
const WARM_UP: Duration = Duration::from_secs(2);
const MEASURED: Duration = Duration::from_secs(30);
const FRAME_MS: u64 = 20;
/// The agent speaks in turns, as on a call: this many frames (2 s) in real time, then a pause
/// of `PAUSE_FRAMES` (0.5 s) while it listens. A pause is also where a sound device's start
/// (seen to hold its first callbacks back for over a second) stops counting: audio the
/// backend sent meanwhile has been played, not left queued ahead of every later frame.
const TURN_FRAMES: usize = 100;
const PAUSE_FRAMES: usize = 25;
/// Issue 13's target, each way, at p99.
const TARGET: Duration = Duration::from_millis(30);
/// How often the probe is read. Far below a callback's 20 ms, so each output callback's
/// position is seen on its own (checked: `ambiguous` below).
const POLL: Duration = Duration::from_micros(500);
/// The rig's devices (scripts/audio-rig.sh), named so no real sound card is measured.
const MIC: &str = "pulseaudio:mic";
const SPEAKER: &str = "pulseaudio:spk";

fn main() {
    // `cargo test --benches` runs bench targets without `--bench`: nothing to test here.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    require_rig();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(measure());
}

fn require_rig() {
    let server = std::env::var("PULSE_SERVER").unwrap_or_default();
    let up = !server.is_empty()
        && std::process::Command::new("pactl")
            .arg("info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        up,
        "local_latency needs the virtual sound card (PULSE_SERVER is {server:?} and no server \
         answers there): run `eval \"$(bash scripts/audio-rig.sh start)\"` first"
    );
}

/// What the stand-in backend saw: when each caller frame arrived, when each agent frame left.
#[derive(Default)]
struct Backend {
    uplink_read: Vec<Instant>,
    downlink_sent: Vec<Instant>,
}

/// What the probe reader saw.
#[derive(Default)]
struct Probed {
    input: Vec<Stamp>,
    output: Vec<Stamp>,
    /// Every change of the agent audio played, in order, as read.
    played: Vec<Played>,
    /// The output queue's depth at every read.
    queued: Vec<u64>,
}

async fn measure() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the stand-in backend");
    let addr = listener.local_addr().expect("its address");
    let (speak_tx, speak_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let backend = tokio::spawn(backend(listener, speak_rx, stop_rx));

    let mut voice = connect(addr).await;
    let duplex = tokio::task::spawn_blocking(|| {
        Duplex::open(DuplexConfig {
            input: Some(MIC.into()),
            output: Some(SPEAKER.into()),
            echo: EchoMode::Cancel,
        })
    })
    .await
    .expect("open the duplex")
    .unwrap_or_else(|e| panic!("opening the rig's {MIC} and {SPEAKER} failed: {e}"));
    let opened = Instant::now();
    let probe = duplex.latency_probe();
    let opening = duplex.stats();
    let (in_rate, out_rate) = (opening.input_rate, opening.output_rate);
    let stop_reading = Arc::new(AtomicBool::new(false));
    let reader = {
        let (probe, stop) = (probe.clone(), stop_reading.clone());
        std::thread::spawn(move || read_probe(&probe, &stop))
    };
    let mut session = LocalSession::new(duplex, Arc::new(AtomicBool::new(false)));
    let _ = speak_tx.send(());

    // The bridge's loop, reduced to the audio.
    let mut uplink_recv = Vec::new();
    let end = tokio::time::sleep(WARM_UP + MEASURED);
    tokio::pin!(end);
    loop {
        tokio::select! {
            heard = session.recv() => match heard.expect("the microphone") {
                MediaIn::Audio(audio) => {
                    uplink_recv.push(Instant::now());
                    voice.send(VoiceCommand::Audio(audio)).await.expect("send to the backend");
                }
                other => panic!("unexpected from the local session: {other:?}"),
            },
            event = voice.recv() => match event.expect("the backend") {
                VoiceEvent::Audio { audio, .. } => {
                    session.feed(MediaOut::Audio(audio)).await.expect("feed");
                    session.flush().await.expect("flush");
                }
                other => panic!("unexpected from the backend: {other:?}"),
            },
            () = &mut end => break,
        }
    }
    let device_latency = probe.device_latency();
    let _ = stop_tx.send(());
    voice.close().await;
    let Backend {
        uplink_read,
        downlink_sent,
    } = backend.await.expect("the stand-in backend");
    stop_reading.store(true, Ordering::Relaxed);
    let probed = reader.join().expect("the probe reader");
    let stats = probe.stats();
    session.close("done").await;

    let from = opened + WARM_UP;
    let uplink = uplink_latencies(&probed.input, &uplink_read, in_rate, from);
    let uplink_to_recv = uplink_latencies(&probed.input, &uplink_recv, in_rate, from);
    let (downlink, ambiguous) = downlink_latencies(&probed, &downlink_sent, from);

    println!(
        "local latency: {in_rate} Hz in, {out_rate} Hz out; the streams asked for {} frames (20 \
         ms) in and {} (10 ms) out per callback; the host reports {:.1} ms (capture to input \
         callback) and {:.1} ms (output callback to playback): not included below",
        in_rate / 50,
        out_rate / 100,
        device_latency[0].as_secs_f64() * 1e3,
        device_latency[1].as_secs_f64() * 1e3,
    );
    println!(
        "callbacks: input {}; output {}",
        interval(&probed.input),
        interval(&probed.output)
    );
    report(
        "uplink   (input callback -> backend socket)",
        &uplink,
        Some(TARGET),
    );
    report(
        "  of it  (input callback -> LocalSession::recv)",
        &uplink_to_recv,
        None,
    );
    report(
        "downlink (backend socket -> output callback)",
        &downlink,
        Some(TARGET),
    );
    let mut queued = probed.queued.clone();
    queued.sort();
    println!(
        "output queue (worker -> output callback): {:.1} ms (p50), {:.1} ms (max)",
        queued[queued.len() / 2] as f64 * 1e3 / f64::from(out_rate),
        *queued.last().expect("read at least once") as f64 * 1e3 / f64::from(out_rate),
    );
    println!(
        "downlink frames whose output callback was not seen alone (counted at the later one): \
         {ambiguous}"
    );
    println!(
        "lost on the way: input {} samples, capture {}, agent {}; output underruns {} frames; \
         xruns {} in / {} out",
        stats.input_dropped,
        stats.capture_dropped,
        stats.agent_dropped,
        stats.output_underrun,
        stats.input_xruns,
        stats.output_xruns
    );
    assert!(
        stats.input_dropped == 0 && stats.capture_dropped == 0 && stats.agent_dropped == 0,
        "audio was dropped, so frame numbers no longer map to device positions: the figures are \
         void (was the machine overloaded?)"
    );
}

/// Connects the real OpenAI Realtime client to the stand-in and waits for the session.
async fn connect(addr: SocketAddr) -> OpenAiRealtime {
    let config = VoiceConfig {
        model: "gpt-realtime".into(),
        voice: "marin".into(),
        instructions: "Say hello.".into(),
        replies: true,
        tools: Vec::new(),
        mcp: Vec::new(),
    };
    let mut voice =
        OpenAiRealtime::connect(&format!("ws://{addr}/v1/realtime"), "sk-bench", &config)
            .await
            .expect("connect to the stand-in backend");
    match voice.recv().await.expect("the session") {
        VoiceEvent::Ready => voice,
        other => panic!("expected the session to be ready, got {other:?}"),
    }
}

/// The stand-in backend: accepts one session, notes when each caller frame arrives, and once
/// told to speak sends agent audio (a tone) in real time, one 20 ms frame at a time.
async fn backend(
    listener: tokio::net::TcpListener,
    speak: tokio::sync::oneshot::Receiver<()>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Backend {
    let (tcp, _) = listener.accept().await.expect("accept");
    tcp.set_nodelay(true).expect("nodelay");
    let mut ws = tokio_tungstenite::accept_async(tcp)
        .await
        .expect("WebSocket upgrade");
    let event = |kind: &str| Message::text(format!("{{\"type\":\"{kind}\"}}"));
    ws.send(event("session.created")).await.expect("send");
    let mut seen = Backend::default();
    let (tick_tx, mut tick) = mpsc::channel::<()>(1);
    let mut speak = Some(speak);
    let frames = tone_frames();
    let mut ticks = 0usize;
    loop {
        tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if text.contains("\"input_audio_buffer.append\"") {
                        seen.uplink_read.push(Instant::now());
                    } else if text.contains("\"session.update\"") {
                        ws.send(event("session.updated")).await.expect("send");
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            Ok(()) = async { speak.as_mut().expect("guarded").await }, if speak.is_some() => {
                speak = None;
                let tick_tx = tick_tx.clone();
                tokio::spawn(async move {
                    // Delay, not Burst: a late tick never sends frames back to back, so the
                    // speaker never has agent audio queued ahead of real time.
                    let mut interval = tokio::time::interval(Duration::from_millis(FRAME_MS));
                    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        interval.tick().await;
                        if tick_tx.send(()).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Some(()) = tick.recv() => {
                ticks += 1;
                if (ticks - 1) % (TURN_FRAMES + PAUSE_FRAMES) >= TURN_FRAMES {
                    continue;
                }
                let k = seen.downlink_sent.len();
                let delta = format!(
                    "{{\"type\":\"response.output_audio.delta\",\"item_id\":\"item_1\",\"delta\":\"{}\"}}",
                    frames[k % frames.len()].base64()
                );
                seen.downlink_sent.push(Instant::now());
                ws.send(Message::text(delta)).await.expect("send agent audio");
            }
            _ = &mut stop => break,
        }
    }
    seen
}

/// One second of a 440 Hz tone as 20 ms μ-law frames.
fn tone_frames() -> Vec<G711> {
    (0..50)
        .map(|k| {
            let pcm: Vec<i16> = (0..FRAME)
                .map(|n| {
                    let t = (k * FRAME + n) as f64 / 8_000.0;
                    ((std::f64::consts::TAU * 440.0 * t).sin() * 8_000.0) as i16
                })
                .collect();
            let mut mulaw = vec![0u8; FRAME];
            pcm_to_mulaw(&pcm, &mut mulaw);
            G711::from_bytes(&mulaw)
        })
        .collect()
}

/// Reads the probe until told to stop: every callback's stamp, and every change of what the
/// speaker has played with the read position it was played by.
fn read_probe(probe: &LatencyProbe, stop: &AtomicBool) -> Probed {
    let mut probed = Probed::default();
    let (mut next_in, mut next_out) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        next_in = probe.input_stamps(next_in, &mut probed.input);
        next_out = probe.output_stamps(next_out, &mut probed.output);
        let played = probe.played();
        if probed.played.last() != Some(&played) {
            probed.played.push(played);
        }
        probed.queued.push(played.queued);
        std::thread::sleep(POLL);
    }
    probe.input_stamps(next_in, &mut probed.input);
    probe.output_stamps(next_out, &mut probed.output);
    probed
}

/// Per caller frame read at `done[k]` (frame k of the 8 kHz stream, from its start): the time
/// since the input callback handed over its last sample. The 8 kHz stream and the device's
/// stream start together and are aligned sample for sample (`media::resample`'s invariant),
/// and nothing was dropped (checked by the caller), so 8 kHz sample `j` is device frame
/// `j * rate / 8000`.
fn uplink_latencies(input: &[Stamp], done: &[Instant], rate: u32, from: Instant) -> Vec<Duration> {
    done.iter()
        .enumerate()
        .filter_map(|(k, &done)| {
            let last = ((k + 1) * FRAME - 1) as u64 * u64::from(rate) / 8_000;
            let handed = input.iter().find(|s| s.position > last)?;
            (handed.at >= from).then(|| done.saturating_duration_since(handed.at))
        })
        .collect()
}

/// Per agent frame sent at `sent[k]` (agent samples `k * 160 ..`): the time until the output
/// callback that took its first sample. That callback is the one whose read position is the
/// first at which the speaker had played past the sample. Also returns how many frames fell
/// to a read that spanned more than one callback (then the later one is taken: an upper bound).
fn downlink_latencies(probed: &Probed, sent: &[Instant], from: Instant) -> (Vec<Duration>, usize) {
    let mut ambiguous = 0;
    let latencies = sent
        .iter()
        .enumerate()
        .filter(|&(_, &sent)| sent >= from)
        .filter_map(|(k, &sent)| {
            let first = (k * FRAME) as u64;
            let at = probed.played.iter().position(|p| p.agent_samples > first)?;
            let position = probed.played[at].position;
            let callback = probed.output.iter().position(|s| s.position == position)?;
            let before = at.checked_sub(1).map(|i| probed.played[i].position);
            let alone = callback > 0 && before == Some(probed.output[callback - 1].position);
            if !alone {
                ambiguous += 1;
            }
            Some(probed.output[callback].at.saturating_duration_since(sent))
        })
        .collect();
    (latencies, ambiguous)
}

/// How often a stream's callbacks ran and how many frames each moved (p50, max).
fn interval(stamps: &[Stamp]) -> String {
    let mut gaps: Vec<Duration> = stamps.windows(2).map(|w| w[1].at - w[0].at).collect();
    // The first callback moved the stream from 0 (the ring still holds it: read from the start).
    let first = stamps.first().map(|s| s.position);
    let mut sizes: Vec<u64> = first
        .into_iter()
        .chain(stamps.windows(2).map(|w| w[1].position - w[0].position))
        .collect();
    if gaps.is_empty() {
        return "never".into();
    }
    gaps.sort();
    sizes.sort();
    format!(
        "every {:.1} ms (p50; max {:.1} ms), {} frames (p50; max {})",
        ms(gaps[gaps.len() / 2]),
        ms(*gaps.last().expect("not empty")),
        sizes[sizes.len() / 2],
        sizes.last().expect("not empty"),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(what: &str, latencies: &[Duration], target: Option<Duration>) {
    assert!(
        !latencies.is_empty(),
        "{what}: no frame measured (did audio flow?)"
    );
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let pct =
        |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    let p99 = pct(0.99);
    let verdict = target.map_or(String::new(), |t| {
        let met = if p99 < t { "met" } else { "NOT met" };
        format!("; target p99 under {:.0} ms: {met}", ms(t))
    });
    println!(
        "{what}: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} frames{verdict}",
        ms(pct(0.5)),
        ms(pct(0.9)),
        ms(p99),
        ms(*sorted.last().expect("not empty")),
        sorted.len(),
    );
}
