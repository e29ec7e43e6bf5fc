//! The carrier's side of a media-stream WebSocket, shared by the Twilio and Telnyx simulators
//! (protocols/twilio.md §6, protocols/telnyx.md §4): it sends the caller's audio as 20 ms
//! μ-law frames, checks every frame the engine sends through the carrier's [`Dialect`], and
//! plays the engine's audio out in real time like the carrier does, echoing each `mark` when
//! the audio queued before it has played (at once when nothing is queued) and every pending
//! mark on `clear`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::observed::Observed;
use super::pcmu;

/// Bytes in one 20 ms μ-law frame.
pub const FRAME_BYTES: usize = 160;

/// How [`MediaStream::send_audio`] spaces the caller's frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// 20 ms apart, as a carrier sends them (the default).
    RealTime,
    /// As fast as the socket takes them.
    Burst,
}

/// A frame the engine sent, after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// Decoded μ-law from a `media` frame.
    Media(Vec<u8>),
    /// A `mark` with this name.
    Mark(String),
    /// A `clear`.
    Clear,
}

/// One frame the engine sent, with when it arrived.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub frame: Outbound,
}

/// A WebSocket close frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}

/// Why a send or connect failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("cannot connect the media stream: {0}")]
    Connect(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the media socket is closed")]
    Closed,
}

/// A carrier's wire format: frames it sends and its rules for frames it receives.
pub trait Dialect: Send + Sync + 'static {
    /// One inbound-track `media` frame.
    fn media(&self, seq: u64, chunk: u64, timestamp_ms: u64, payload_b64: &str) -> Value;
    /// A DTMF key press.
    fn dtmf(&self, seq: u64, digit: char) -> Value;
    /// The echo of a `mark` whose audio has played.
    fn mark(&self, seq: u64, name: &str) -> Value;
    /// The last frame: the stream ends.
    fn stop(&self, seq: u64) -> Value;
    /// Checks one frame from the engine; `Err` says which rule it breaks.
    fn check(&self, frame: &Value) -> Result<Outbound, String>;
}

/// Flags keys of `obj` (at `path`) outside `allowed`.
pub fn only_keys(obj: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unexpected field `{path}{k}` (allowed: {})",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

/// The object under `key`, or why not.
pub fn object<'v>(
    obj: &'v Map<String, Value>,
    key: &str,
) -> Result<&'v Map<String, Value>, String> {
    obj.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("`{key}` must be an object"))
}

/// Decodes a `media.payload`: a non-empty standard-base64 string of raw μ-law, no WAV header.
pub fn payload(media: &Map<String, Value>) -> Result<Vec<u8>, String> {
    let b64 = media
        .get("payload")
        .and_then(Value::as_str)
        .ok_or("`media.payload` must be a base64 string")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("`media.payload` is not valid base64: {e}"))?;
    if bytes.is_empty() {
        return Err("`media.payload` is empty".into());
    }
    if bytes.starts_with(b"RIFF") {
        return Err("`media.payload` starts with a WAV header; send raw μ-law".into());
    }
    Ok(bytes)
}

/// A mark's name: a non-empty string.
pub fn mark_name(mark: &Map<String, Value>) -> Result<String, String> {
    match mark.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => Ok(name.to_owned()),
        _ => Err("`mark.name` must be a non-empty string".into()),
    }
}

// ---------------------------------------------------------------------------------------------

/// One media-stream connection as the carrier sees it. Cheap to clone (clones share the
/// socket, so a test can send audio from one task and wait on another); the socket closes
/// when the last clone is dropped.
#[derive(Clone)]
pub struct MediaStream {
    core: Arc<Core>,
    _tasks: Arc<Tasks>,
}

struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

struct Core {
    dialect: Box<dyn Dialect>,
    wire: Mutex<Wire>,
    clock: tokio::sync::Mutex<Clock>,
    state: Observed<State>,
    player: Notify,
}

/// The carrier's sequence counter and the socket's send queue, locked together so frames go
/// out in sequence-number order.
struct Wire {
    seq: u64,
    tx: mpsc::UnboundedSender<Out>,
}

enum Out {
    Text(String),
    Close,
}

/// The inbound track's stream time.
struct Clock {
    anchor: Option<Instant>,
    chunk: u64,
}

struct State {
    received: Vec<Received>,
    audio: Vec<u8>,
    marks: Vec<String>,
    clears: usize,
    marks_echoed: Vec<(Instant, String)>,
    violations: Vec<String>,
    close_frame: Option<CloseFrame>,
    closed: bool,
    pacing: Pacing,
    instant: bool,
    sent_ms: u64,
    playback: Playback,
}

/// The carrier's playback buffer: audio plays at 8 bytes per ms in arrival order.
#[derive(Default)]
struct Playback {
    queue: VecDeque<Queued>,
    /// When the audio at the head of the queue started playing.
    head_started: Option<Instant>,
    played_bytes: usize,
}

enum Queued {
    Audio(usize),
    Mark(String),
}

fn play_time(bytes: usize) -> Duration {
    // 8 bytes per ms: 125 µs per byte.
    Duration::from_micros(bytes as u64 * 125)
}

impl Playback {
    /// Plays everything due by `now`; returns marks reached, in order.
    fn advance(&mut self, now: Instant) -> Vec<String> {
        let mut reached = Vec::new();
        loop {
            match self.queue.front() {
                None => {
                    self.head_started = None;
                    break;
                }
                Some(Queued::Mark(_)) => {
                    if let Some(Queued::Mark(name)) = self.queue.pop_front() {
                        reached.push(name);
                    }
                }
                Some(&Queued::Audio(len)) => {
                    let start = *self.head_started.get_or_insert(now);
                    let end = start + play_time(len);
                    if end > now {
                        break;
                    }
                    self.played_bytes += len;
                    self.queue.pop_front();
                    // The next entry starts where this one ended, not when we noticed.
                    self.head_started = Some(end);
                }
            }
        }
        reached
    }

    /// Bytes of the head audio entry played so far.
    fn partial(&self, now: Instant) -> usize {
        match (self.queue.front(), self.head_started) {
            (Some(&Queued::Audio(len)), Some(start)) => {
                let us = now.saturating_duration_since(start).as_micros() as usize;
                (us / 125).min(len)
            }
            _ => 0,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        match (self.queue.front(), self.head_started) {
            (Some(&Queued::Audio(len)), Some(start)) => Some(start + play_time(len)),
            _ => None,
        }
    }

    fn queued_bytes(&self, now: Instant) -> usize {
        let total: usize = self
            .queue
            .iter()
            .map(|q| match q {
                Queued::Audio(len) => *len,
                Queued::Mark(_) => 0,
            })
            .sum();
        total - self.partial(now)
    }
}

impl Core {
    /// Sends a frame numbered with the next sequence number.
    fn send(&self, frame: impl FnOnce(u64) -> Value) -> Result<(), MediaError> {
        let mut wire = self.wire.lock().unwrap_or_else(|e| e.into_inner());
        wire.seq += 1;
        let text = frame(wire.seq).to_string();
        wire.tx
            .send(Out::Text(text))
            .map_err(|_| MediaError::Closed)
    }

    fn echo_marks(&self, s: &mut State, names: Vec<String>) {
        for name in names {
            let _ = self.send(|seq| self.dialect.mark(seq, &name));
            s.marks_echoed.push((Instant::now(), name));
        }
    }

    fn on_text(&self, text: &str) {
        let now = Instant::now();
        let frame = serde_json::from_str::<Value>(text)
            .map_err(|e| format!("not JSON ({e})"))
            .and_then(|v| self.dialect.check(&v));
        self.state.update(|s| {
            let frame = match frame {
                Ok(f) => f,
                Err(why) => {
                    s.violations.push(format!("{why}: {text:.200}"));
                    return;
                }
            };
            let reached = s.playback.advance(now);
            self.echo_marks(s, reached);
            match &frame {
                Outbound::Media(bytes) => {
                    s.audio.extend_from_slice(bytes);
                    if s.instant {
                        s.playback.played_bytes += bytes.len();
                    } else {
                        if s.playback.queue.is_empty() {
                            s.playback.head_started = Some(now);
                        }
                        s.playback.queue.push_back(Queued::Audio(bytes.len()));
                    }
                }
                Outbound::Mark(name) => {
                    s.marks.push(name.clone());
                    if s.instant || s.playback.queue.is_empty() {
                        self.echo_marks(s, vec![name.clone()]);
                    } else {
                        s.playback.queue.push_back(Queued::Mark(name.clone()));
                    }
                }
                Outbound::Clear => {
                    s.clears += 1;
                    let played = s.playback.partial(now);
                    s.playback.played_bytes += played;
                    let pending: Vec<String> = s
                        .playback
                        .queue
                        .drain(..)
                        .filter_map(|q| match q {
                            Queued::Mark(name) => Some(name),
                            Queued::Audio(_) => None,
                        })
                        .collect();
                    s.playback.head_started = None;
                    self.echo_marks(s, pending);
                }
            }
            s.received.push(Received { at: now, frame });
        });
        self.player.notify_one();
    }
}

/// Plays the queue out in real time, echoing marks as playback reaches them.
async fn play(core: Arc<Core>) {
    loop {
        let deadline = core.state.update(|s| {
            let reached = s.playback.advance(Instant::now());
            core.echo_marks(s, reached);
            s.playback.next_deadline()
        });
        match deadline {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = core.player.notified() => {}
                }
            }
            None => core.player.notified().await,
        }
    }
}

async fn run(
    core: Arc<Core>,
    mut ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    mut rx: mpsc::UnboundedReceiver<Out>,
) {
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => core.on_text(&text),
                Some(Ok(Message::Binary(b))) => core.state.update(|s| {
                    s.violations.push(format!(
                        "binary frame of {} bytes: carriers take JSON text frames only", b.len()
                    ));
                }),
                Some(Ok(Message::Close(frame))) => {
                    core.state.update(|s| {
                        s.close_frame = frame.map(|f| CloseFrame {
                            code: u16::from(f.code),
                            reason: f.reason.to_string(),
                        });
                    });
                    // Send tungstenite's queued close reply, then hang up rather than wait for
                    // the server to drop TCP: the stream is over either way.
                    let _ = ws.flush().await;
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            out = rx.recv() => match out {
                Some(Out::Text(text)) => {
                    if ws.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Out::Close) => {
                    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                        code: CloseCode::Normal,
                        reason: "".into(),
                    };
                    let _ = ws.close(Some(frame)).await;
                }
                None => break,
            }
        }
    }
    core.state.update(|s| s.closed = true);
}

impl MediaStream {
    /// Connects and sends `connected` (no sequence number) then `start` (sequence number 1);
    /// later frames continue from 2.
    pub(super) async fn open(
        request: Request,
        dialect: Box<dyn Dialect>,
        connected: Value,
        start: Value,
    ) -> Result<MediaStream, MediaError> {
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        for frame in [connected, start] {
            let _ = tx.send(Out::Text(frame.to_string()));
        }
        let core = Arc::new(Core {
            dialect,
            wire: Mutex::new(Wire { seq: 1, tx }),
            clock: tokio::sync::Mutex::new(Clock {
                anchor: None,
                chunk: 0,
            }),
            state: Observed::new(State {
                received: Vec::new(),
                audio: Vec::new(),
                marks: Vec::new(),
                clears: 0,
                marks_echoed: Vec::new(),
                violations: Vec::new(),
                close_frame: None,
                closed: false,
                pacing: Pacing::RealTime,
                instant: false,
                sent_ms: 0,
                playback: Playback::default(),
            }),
            player: Notify::new(),
        });
        let tasks = Tasks(vec![
            tokio::spawn(run(core.clone(), ws, rx)),
            tokio::spawn(play(core.clone())),
        ]);
        Ok(MediaStream {
            core,
            _tasks: Arc::new(tasks),
        })
    }

    /// A client request for `url` with extra handshake headers.
    pub(super) fn request(url: &str, headers: &[(&str, &str)]) -> Result<Request, MediaError> {
        let mut request = url.into_client_request()?;
        for (name, value) in headers {
            let name: tokio_tungstenite::tungstenite::http::HeaderName =
                name.parse().expect("a valid header name");
            request
                .headers_mut()
                .append(name, value.parse().expect("a valid header value"));
        }
        Ok(request)
    }

    // --- sending ---------------------------------------------------------------------------

    /// Sends caller audio (raw μ-law) as inbound `media` frames of 160 bytes (20 ms), each with
    /// the next `chunk` and a `timestamp` 20 ms after the previous frame's; a trailing partial
    /// frame is padded with μ-law silence, as carriers only send whole frames. Paced per
    /// [`MediaStream::set_pacing`]; after an idle gap, real-time pacing resumes without a
    /// catch-up burst and timestamps stay contiguous (they count audio sent). Concurrent calls
    /// queue behind each other.
    pub async fn send_audio(&self, pcmu: &[u8]) -> Result<(), MediaError> {
        let mut clock = self.core.clock.lock().await;
        for frame in pcmu.chunks(FRAME_BYTES) {
            let mut frame = frame.to_vec();
            frame.resize(FRAME_BYTES, pcmu::SILENCE);
            let (pacing, ts) = self.core.state.read(|s| (s.pacing, s.sent_ms));
            if pacing == Pacing::RealTime {
                let now = Instant::now();
                let anchor = *clock.anchor.get_or_insert(now);
                let mut due = anchor + Duration::from_millis(ts);
                if now > due + Duration::from_millis(20) {
                    clock.anchor = now.checked_sub(Duration::from_millis(ts));
                    due = now;
                }
                tokio::time::sleep_until(due.into()).await;
            }
            clock.chunk += 1;
            let chunk = clock.chunk;
            let b64 = base64::engine::general_purpose::STANDARD.encode(&frame);
            self.core
                .send(|seq| self.core.dialect.media(seq, chunk, ts, &b64))?;
            self.core.state.update(|s| s.sent_ms += 20);
        }
        Ok(())
    }

    /// Sends `ms` of μ-law silence (rounded up to whole 20 ms frames) like [`Self::send_audio`].
    pub async fn send_silence(&self, ms: usize) -> Result<(), MediaError> {
        self.send_audio(&pcmu::silence(ms)).await
    }

    /// Sends a `dtmf` frame for this key.
    pub async fn dtmf(&self, digit: char) -> Result<(), MediaError> {
        self.core.send(|seq| self.core.dialect.dtmf(seq, digit))
    }

    /// Sends `stop`, then closes the socket (close code 1000), as the carrier does at hang-up.
    pub async fn stop(&self) -> Result<(), MediaError> {
        self.core.send(|seq| self.core.dialect.stop(seq))?;
        let wire = self.core.wire.lock().unwrap_or_else(|e| e.into_inner());
        wire.tx.send(Out::Close).map_err(|_| MediaError::Closed)
    }

    /// Sends this text frame as is (for malformed-input tests); no sequence number is used.
    pub async fn send_raw(&self, text: &str) -> Result<(), MediaError> {
        let wire = self.core.wire.lock().unwrap_or_else(|e| e.into_inner());
        wire.tx
            .send(Out::Text(text.to_owned()))
            .map_err(|_| MediaError::Closed)
    }

    /// How caller audio is paced from now on (default [`Pacing::RealTime`]).
    pub fn set_pacing(&self, pacing: Pacing) {
        self.core.state.update(|s| s.pacing = pacing);
    }

    /// With `true`, the engine's audio counts as played the moment it arrives and marks are
    /// echoed at once (default `false`: real-time playback, 8 bytes per ms).
    pub fn set_instant_playback(&self, instant: bool) {
        self.core.state.update(|s| s.instant = instant);
        self.core.player.notify_one();
    }

    // --- what the engine sent --------------------------------------------------------------

    /// Every rule the engine's frames broke, human-readable. Tests assert this is empty.
    pub fn violations(&self) -> Vec<String> {
        self.core.state.read(|s| s.violations.clone())
    }

    /// The engine's valid frames in arrival order, with arrival times.
    pub fn received(&self) -> Vec<Received> {
        self.core.state.read(|s| s.received.clone())
    }

    /// All μ-law the engine sent, decoded and concatenated.
    pub fn audio(&self) -> Vec<u8> {
        self.core.state.read(|s| s.audio.clone())
    }

    /// Bytes of μ-law the engine sent (8 bytes = 1 ms).
    pub fn audio_bytes(&self) -> usize {
        self.core.state.read(|s| s.audio.len())
    }

    /// Names of the marks the engine sent, in order.
    pub fn marks(&self) -> Vec<String> {
        self.core.state.read(|s| s.marks.clone())
    }

    /// How many `clear` frames the engine sent.
    pub fn clears(&self) -> usize {
        self.core.state.read(|s| s.clears)
    }

    /// Names of the marks echoed back to the engine, in echo order.
    pub fn marks_echoed(&self) -> Vec<String> {
        self.core
            .state
            .read(|s| s.marks_echoed.iter().map(|(_, n)| n.clone()).collect())
    }

    /// Milliseconds of the engine's audio played to the caller so far (including audio a
    /// `clear` cut off part-way, up to where it was cut).
    pub fn played_ms(&self) -> u64 {
        let now = Instant::now();
        self.core
            .state
            .read(|s| ((s.playback.played_bytes + s.playback.partial(now)) / 8) as u64)
    }

    /// Milliseconds of the engine's audio queued and not yet played.
    pub fn queued_ms(&self) -> u64 {
        let now = Instant::now();
        self.core
            .state
            .read(|s| (s.playback.queued_bytes(now) / 8) as u64)
    }

    /// Milliseconds of caller audio sent so far (the next frame's `timestamp`).
    pub fn sent_ms(&self) -> u64 {
        self.core.state.read(|s| s.sent_ms)
    }

    /// Whether the socket has closed (either side).
    pub fn is_closed(&self) -> bool {
        self.core.state.read(|s| s.closed)
    }

    // --- waits (panic with context on timeout) ----------------------------------------------

    /// Waits until the engine has sent at least `n` bytes of audio; returns the total.
    pub async fn wait_for_audio_bytes(&self, n: usize, timeout: Duration) -> usize {
        let got = self
            .core
            .state
            .wait(timeout, |s| (s.audio.len() >= n).then_some(s.audio.len()))
            .await;
        got.unwrap_or_else(|| {
            panic!(
                "media stream: {} audio bytes from the engine after {timeout:?}, expected {n}",
                self.audio_bytes()
            )
        })
    }

    /// Waits until the engine has sent at least one `clear`.
    pub async fn wait_for_clear(&self, timeout: Duration) {
        self.wait_for_clears(1, timeout).await;
    }

    /// Waits until the engine has sent at least `n` `clear` frames.
    pub async fn wait_for_clears(&self, n: usize, timeout: Duration) {
        let got = self
            .core
            .state
            .wait(timeout, |s| (s.clears >= n).then_some(()))
            .await;
        got.unwrap_or_else(|| {
            panic!(
                "media stream: {} clear(s) from the engine after {timeout:?}, expected {n}",
                self.clears()
            )
        })
    }

    /// Waits until at least `n` marks were echoed; returns the echoed names.
    pub async fn wait_for_marks_echoed(&self, n: usize, timeout: Duration) -> Vec<String> {
        let got = self
            .core
            .state
            .wait(timeout, |s| {
                (s.marks_echoed.len() >= n)
                    .then(|| s.marks_echoed.iter().map(|(_, m)| m.clone()).collect())
            })
            .await;
        got.unwrap_or_else(|| {
            panic!(
                "media stream: marks echoed after {timeout:?}: {:?} (received {:?}), expected {n}",
                self.marks_echoed(),
                self.marks()
            )
        })
    }

    /// Waits until all the engine's audio has played and every mark was echoed.
    pub async fn wait_for_playback_idle(&self, timeout: Duration) {
        let got = self
            .core
            .state
            .wait(timeout, |s| s.playback.queue.is_empty().then_some(()))
            .await;
        got.unwrap_or_else(|| {
            panic!(
                "media stream: {} ms still queued after {timeout:?}",
                self.queued_ms()
            )
        })
    }

    /// Waits until the socket is closed; returns the engine's close frame, if it sent one.
    pub async fn wait_closed(&self, timeout: Duration) -> Option<CloseFrame> {
        let got = self
            .core
            .state
            .wait(timeout, |s| s.closed.then(|| s.close_frame.clone()))
            .await;
        got.unwrap_or_else(|| panic!("media stream still open after {timeout:?}"))
    }
}
