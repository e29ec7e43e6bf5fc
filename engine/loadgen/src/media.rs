//! Media bridge load: N concurrent calls, each a Twilio media stream sending 20 ms frames at
//! real-time pace through a `switchboard serve` process to a fake OpenAI Realtime backend
//! that answers every frame at once with a frame of agent audio. Every frame carries the time
//! it left its sender, so each direction's latency through the engine is measured where the
//! frame lands: caller → backend at the fake backend, backend → caller at the fake carrier.
//! Marks the engine sends are echoed at once, as a carrier with nothing queued would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use super::procfs::{CpuSplit, TICKS_PER_SEC, Ticks, cpu_ticks, rss_bytes, tcp_out_segments};
use super::{ACCOUNT_SID, EngineProcess, Percentiles, incoming_call, post, setup, tempfile_dir};

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Concurrent calls.
    #[arg(long, default_value_t = 1000)]
    pub calls: u32,
    /// Seconds to measure, once every call is streaming.
    #[arg(long, default_value_t = 30)]
    pub duration: u32,
    /// Seconds over which the calls are started.
    #[arg(long, default_value_t = 10)]
    pub ramp: u32,
}

#[derive(Debug)]
pub struct Report {
    pub calls: u32,
    pub connected: u64,
    pub failed: u64,
    pub window: Duration,
    pub caller_to_backend: Option<Percentiles>,
    pub backend_to_caller: Option<Percentiles>,
    /// Frames sent by the fake callers during the window, and frames that reached them.
    pub frames_sent: u64,
    pub frames_back: u64,
    /// Engine process: CPU over the window in cores, resident memory before and at the end.
    pub cpu_cores: Option<f64>,
    /// CPU over the window split by where it went, for the engine and for this process.
    pub engine_cpu: Option<CpuSplit>,
    pub loadgen_cpu: Option<CpuSplit>,
    /// TCP segments the machine sent during the window (all loopback here), per second.
    pub segments_per_sec: Option<f64>,
    pub rss_idle: Option<u64>,
    pub rss_loaded: Option<u64>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} calls asked, {} streaming, {} failed; measured {:.1} s",
            self.calls,
            self.connected,
            self.failed,
            self.window.as_secs_f64()
        )?;
        writeln!(
            f,
            "frames: {} sent by callers, {} agent frames back",
            self.frames_sent, self.frames_back
        )?;
        if let Some(p) = self.caller_to_backend {
            writeln!(f, "caller -> backend: {p}")?;
        }
        if let Some(p) = self.backend_to_caller {
            writeln!(f, "backend -> caller: {p}")?;
        }
        if let Some(c) = self.cpu_cores {
            let per_call = c / f64::from(self.calls.max(1));
            writeln!(
                f,
                "engine CPU: {:.2} cores ({:.3} ms of CPU per call-second)",
                c,
                per_call * 1000.0
            )?;
        }
        if let (Some(e), Some(l)) = (self.engine_cpu, self.loadgen_cpu) {
            writeln!(
                f,
                "CPU in cores, user + kernel: engine {:.2} + {:.2}, load generator {:.2} + {:.2}",
                e.user, e.kernel, l.user, l.kernel
            )?;
            if let Some(segs) = self.segments_per_sec.filter(|s| *s > 0.0) {
                // Loopback: a send runs the receiver's TCP processing too, so the kernel time
                // of both processes is what moving the segments costs on this machine.
                writeln!(
                    f,
                    "TCP: {:.0} segments/s, {:.1} us of kernel CPU per segment (both processes)",
                    segs,
                    (e.kernel + l.kernel) / segs * 1e6
                )?;
            }
        }
        if let (Some(idle), Some(loaded)) = (self.rss_idle, self.rss_loaded) {
            let per_call = loaded.saturating_sub(idle) as f64 / f64::from(self.calls.max(1));
            write!(
                f,
                "engine memory: {:.1} MiB idle, {:.1} MiB loaded, {:.1} KiB per call",
                idle as f64 / 1048576.0,
                loaded as f64 / 1048576.0,
                per_call / 1024.0
            )?;
        }
        Ok(())
    }
}

/// Latency samples, in microseconds, and whether the window is open.
#[derive(Default)]
pub(crate) struct Samples {
    recording: std::sync::atomic::AtomicBool,
    to_backend: Mutex<Vec<u32>>,
    to_caller: Mutex<Vec<u32>>,
    sent: AtomicU64,
    back: AtomicU64,
}

/// A 20 ms μ-law frame whose first 8 bytes are the time it was sent.
fn stamped(epoch: Instant) -> [u8; 160] {
    let mut frame = [0xFFu8; 160];
    let micros = epoch.elapsed().as_micros() as u64;
    frame[..8].copy_from_slice(&micros.to_be_bytes());
    frame
}

fn age_micros(epoch: Instant, b64: &str) -> Option<u32> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let sent = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    let now = epoch.elapsed().as_micros() as u64;
    u32::try_from(now.saturating_sub(sent)).ok()
}

/// A fresh engine whose calls are bridged to a fake OpenAI Realtime backend recording into
/// `samples`, set up with `agents` agents on one number; its data directory is the caller's
/// to remove.
pub(crate) async fn bridged_engine(
    epoch: Instant,
    samples: &Arc<Samples>,
    agents: u32,
) -> anyhow::Result<(std::path::PathBuf, EngineProcess)> {
    let backend = TcpListener::bind("127.0.0.1:0").await?;
    let backend_url = format!("ws://{}/v1/realtime", backend.local_addr()?);
    tokio::spawn(fake_backend(backend, epoch, samples.clone()));

    let dir = tempfile_dir()?;
    let engine = EngineProcess::spawn(
        &dir,
        &["--openai-realtime-url", &backend_url],
        &[("OPENAI_API_KEY", "loadgen-openai-key")],
    )
    .await?;
    setup(&engine.control, agents).await?;
    Ok((dir, engine))
}

pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let epoch = Instant::now();
    let samples = Arc::new(Samples::default());
    let (dir, engine) = bridged_engine(epoch, &samples, opts.calls).await?;
    let pid = engine.pid();
    let rss_idle = pid.and_then(rss_bytes);

    let connected = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let http = reqwest::Client::new();
    let mut calls = tokio::task::JoinSet::new();
    let ramp = Duration::from_secs(u64::from(opts.ramp)).div_f64(f64::from(opts.calls.max(1)));
    for i in 0..opts.calls {
        tokio::time::sleep_until((epoch + ramp.mul_f64(f64::from(i))).into()).await;
        let call = Call {
            index: i,
            public: engine.public.clone(),
            http: http.clone(),
            epoch,
            samples: samples.clone(),
            stop: stop_rx.clone(),
        };
        let (connected, failed, first_error) =
            (connected.clone(), failed.clone(), first_error.clone());
        calls.spawn(async move {
            if let Err(e) = call.run(&connected).await.map(|_| ()) {
                failed.fetch_add(1, Ordering::Relaxed);
                first_error.lock().await.get_or_insert(e.to_string());
            }
        });
    }
    // Let every call settle into its stream, then measure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_start = pid.and_then(cpu_ticks);
    let own_start = cpu_ticks(std::process::id());
    let segs_start = tcp_out_segments();
    let window_start = Instant::now();
    samples.recording.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(u64::from(opts.duration))).await;
    samples.recording.store(false, Ordering::Relaxed);
    let window = window_start.elapsed();
    let cpu_end = pid.and_then(cpu_ticks);
    let own_end = cpu_ticks(std::process::id());
    let segs_end = tcp_out_segments();
    let rss_loaded = pid.and_then(rss_bytes);
    let _ = stop_tx.send(true);
    while calls.join_next().await.is_some() {}
    engine.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(e) = first_error.lock().await.take() {
        eprintln!("first error: {e}");
    }

    let micros = |v: Vec<u32>| -> Vec<Duration> {
        v.into_iter()
            .map(|m| Duration::from_micros(u64::from(m)))
            .collect()
    };
    let mut to_backend = micros(std::mem::take(&mut *samples.to_backend.lock().await));
    let mut to_caller = micros(std::mem::take(&mut *samples.to_caller.lock().await));
    let secs = window.as_secs_f64();
    let split = |a: Option<Ticks>, b: Option<Ticks>| {
        a.zip(b).map(|(a, b)| CpuSplit {
            user: (b.user - a.user) as f64 / TICKS_PER_SEC / secs,
            kernel: (b.kernel - a.kernel) as f64 / TICKS_PER_SEC / secs,
        })
    };
    let engine_cpu = split(cpu_start, cpu_end);
    Ok(Report {
        calls: opts.calls,
        connected: connected.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        window,
        caller_to_backend: Percentiles::of(&mut to_backend),
        backend_to_caller: Percentiles::of(&mut to_caller),
        frames_sent: samples.sent.load(Ordering::Relaxed),
        frames_back: samples.back.load(Ordering::Relaxed),
        cpu_cores: engine_cpu.map(|c| c.user + c.kernel),
        engine_cpu,
        loadgen_cpu: split(own_start, own_end),
        segments_per_sec: segs_start
            .zip(segs_end)
            .map(|(a, b)| b.saturating_sub(a) as f64 / secs),
        rss_idle,
        rss_loaded,
    })
}

/// One inbound call: its voice webhook, then a Twilio media stream at real-time pace (frames
/// stamped with their send time) until `stop`, echoing the engine's marks.
pub(crate) struct Call {
    pub(crate) index: u32,
    pub(crate) public: String,
    pub(crate) http: reqwest::Client,
    pub(crate) epoch: Instant,
    pub(crate) samples: Arc<Samples>,
    pub(crate) stop: tokio::sync::watch::Receiver<bool>,
}

impl Call {
    /// Returns how many agent frames reached the caller.
    pub(crate) async fn run(mut self, connected: &AtomicU64) -> anyhow::Result<u64> {
        let sid = format!("CA{:032x}", u64::from(self.index) + 1);
        let twiml = post(
            &self.http,
            &self.public,
            "/webhooks/twilio/voice",
            incoming_call(&sid),
        )
        .await
        .map_err(|e| anyhow::anyhow!("voice webhook: {e}"))?;
        let param = |name: &str| -> anyhow::Result<String> {
            let key = format!("name=\"{name}\" value=\"");
            let at = twiml
                .find(&key)
                .ok_or_else(|| anyhow::anyhow!("no {name} in {twiml}"))?
                + key.len();
            Ok(twiml[at..].split('"').next().unwrap_or_default().to_owned())
        };
        let (call_id, agent_id) = (param("call_id")?, param("agent_id")?);
        let url = format!("{}/media/twilio", self.public.replacen("http", "ws", 1));
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), true).await?;
        let (mut tx, mut rx) = ws.split();
        let stream_sid = format!("MZ{:032x}", u64::from(self.index) + 1);
        tx.send(Message::text(
            json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string(),
        ))
        .await?;
        tx.send(Message::text(
            json!({
                "event": "start", "sequenceNumber": "1", "streamSid": stream_sid,
                "start": {
                    "accountSid": ACCOUNT_SID, "streamSid": stream_sid, "callSid": sid,
                    "tracks": ["inbound"],
                    "customParameters": {"call_id": call_id, "agent_id": agent_id},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
                }
            })
            .to_string(),
        ))
        .await?;
        connected.fetch_add(1, Ordering::Relaxed);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seq = 1u64;
        let mut to_caller = Vec::new();
        let mut heard = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    seq += 1;
                    let frame = base64::engine::general_purpose::STANDARD.encode(stamped(self.epoch));
                    let text = format!(
                        "{{\"event\":\"media\",\"sequenceNumber\":\"{seq}\",\"streamSid\":\"{stream_sid}\",\
                         \"media\":{{\"track\":\"inbound\",\"chunk\":\"{seq}\",\"timestamp\":\"{}\",\"payload\":\"{frame}\"}}}}",
                        seq * 20
                    );
                    tx.send(Message::text(text)).await?;
                    if self.samples.recording.load(Ordering::Relaxed) {
                        self.samples.sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                m = rx.next() => {
                    let Some(m) = m else { anyhow::bail!("the engine closed the stream") };
                    let Message::Text(text) = m? else { continue };
                    // Read by position, not parsed: the load generator shares the machine
                    // with the engine, so its own CPU is kept small.
                    if text.starts_with("{\"event\":\"media\"") {
                        heard += 1;
                        if self.samples.recording.load(Ordering::Relaxed) {
                            self.samples.back.fetch_add(1, Ordering::Relaxed);
                            if let Some(age) = field(&text, "payload").and_then(|p| age_micros(self.epoch, p)) {
                                to_caller.push(age);
                            }
                        }
                    } else if text.contains("\"event\":\"mark\"") {
                        let v: Value = serde_json::from_str(&text)?;
                        seq += 1;
                        let echo = json!({
                            "event": "mark", "sequenceNumber": seq.to_string(),
                            "streamSid": stream_sid, "mark": v["mark"]
                        });
                        tx.send(Message::text(echo.to_string())).await?;
                    }
                }
                _ = self.stop.changed() => break,
            }
        }
        self.samples.to_caller.lock().await.extend(to_caller);
        let stop = json!({
            "event": "stop", "sequenceNumber": (seq + 1).to_string(), "streamSid": stream_sid,
            "stop": {"accountSid": ACCOUNT_SID, "callSid": sid}
        });
        tx.send(Message::text(stop.to_string())).await?;
        let _ = tx.close().await;
        Ok(heard)
    }
}

/// OpenAI Realtime as far as the bridge needs under load: `session.created`, `session.updated`
/// for the first update, and for every appended frame an agent frame straight back.
pub(crate) async fn fake_backend(listener: TcpListener, epoch: Instant, samples: Arc<Samples>) {
    let mut n = 0u64;
    while let Ok((tcp, _)) = listener.accept().await {
        n += 1;
        let samples = samples.clone();
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(ws_config())).await
            else {
                return;
            };
            let (mut tx, mut rx) = ws.split();
            let created = json!({"type": "session.created", "event_id": "e0",
                "session": {"type": "realtime", "object": "realtime.session", "id": format!("sess_{n}")}});
            if tx.send(Message::text(created.to_string())).await.is_err() {
                return;
            }
            let item = format!("item_{n}");
            let mut events = 0u64;
            let mut ages = Vec::new();
            while let Some(Ok(m)) = rx.next().await {
                let Message::Text(text) = m else { continue };
                events += 1;
                let reply = if text.starts_with("{\"type\":\"input_audio_buffer.append\"") {
                    let audio = field(&text, "audio").unwrap_or_default();
                    if samples.recording.load(Ordering::Relaxed)
                        && let Some(age) = age_micros(epoch, audio)
                    {
                        ages.push(age);
                    }
                    let frame = base64::engine::general_purpose::STANDARD.encode(stamped(epoch));
                    format!(
                        "{{\"type\":\"response.output_audio.delta\",\"event_id\":\"e{events}\",\
                         \"response_id\":\"resp_{n}\",\"item_id\":\"{item}\",\"output_index\":0,\
                         \"content_index\":0,\"delta\":\"{frame}\"}}"
                    )
                } else {
                    let Ok(v) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    if v["type"] != "session.update" {
                        continue;
                    }
                    json!({"type": "session.updated", "event_id": format!("e{events}"),
                        "session": v["session"]})
                    .to_string()
                };
                if tx.send(Message::text(reply)).await.is_err() {
                    break;
                }
            }
            samples.to_backend.lock().await.extend(ages);
        });
    }
}

/// The string value of `"name":"…"` in a flat JSON text (base64 needs no unescaping).
pub(crate) fn field<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    let key = format!("\"{name}\":\"");
    let start = text.find(&key)? + key.len();
    text[start..].split('"').next()
}

/// The load generator's sockets get the engine's small read buffers, so its own CPU goes to
/// load, not to zero-filling buffers.
pub(crate) fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(switchboard::media::WS_READ_BUFFER)
}
