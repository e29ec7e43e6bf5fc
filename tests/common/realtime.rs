//! A fake OpenAI Realtime server (GA protocol) on loopback, written from
//! protocols/openai-realtime.md (§0 beta rejection, §1 connecting, §2 GA session, §3 beta fields
//! it refuses, §4 audio math, §5 client events, §6 server events, §7 function calls, §8
//! truncation): it checks every client event against the GA shapes, answers like the real
//! server, records everything, and plays scripted responses, VAD events and failures.
//!
//! Independent of the engine: nothing here comes from the `switchboard` crate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::observed::Observed;
use super::pcmu;

/// The key [`Script::new`] expects in `Authorization: Bearer …`.
pub const TEST_API_KEY: &str = "sk-test-realtime";

/// Bytes of audio per `response.output_audio.delta` when a reply is given as a length.
pub const DELTA_BYTES: usize = 800;

/// The error the real server sends before closing a connection that carries the beta header
/// (§0); the close frame's code and reason are from a third-party capture of the real server.
const BETA_CLOSE_CODE: u16 = 4000;
const BETA_CLOSE_REASON: &str = "invalid_request_error.beta_api_shape_disabled";

// ---------------------------------------------------------------------------------------------
// Script
// ---------------------------------------------------------------------------------------------

/// How the fake behaves. Build with [`Script::new`] and the chained setters.
#[derive(Clone, Debug)]
pub struct Script {
    api_key: Option<String>,
    replies: Vec<Reply>,
    delta_interval: Duration,
    echo: bool,
    refuse: bool,
    record_appends: bool,
}

#[derive(Clone, Debug)]
struct Reply {
    chunks: Vec<Vec<u8>>,
    transcript: String,
}

impl Reply {
    fn audio(len: usize, transcript: &str) -> Self {
        let audio = pcmu::tone(len, 440.0);
        Self {
            chunks: audio.chunks(DELTA_BYTES).map(<[u8]>::to_vec).collect(),
            transcript: transcript.to_owned(),
        }
    }
}

impl Default for Script {
    fn default() -> Self {
        Self::new()
    }
}

impl Script {
    /// Expects the key [`TEST_API_KEY`]; every response is one second of a 440 Hz μ-law tone
    /// (8000 bytes in 800-byte deltas) saying "Hello, how can I help?", sent all at once.
    pub fn new() -> Self {
        Self {
            api_key: Some(TEST_API_KEY.to_owned()),
            replies: Vec::new(),
            delta_interval: Duration::ZERO,
            echo: false,
            refuse: false,
            record_appends: true,
        }
    }

    /// The API key the upgrade must carry as `Authorization: Bearer <key>`; others get 401.
    pub fn api_key(mut self, key: &str) -> Self {
        self.api_key = Some(key.to_owned());
        self
    }

    /// Accepts any non-empty bearer key (still recorded per connection).
    pub fn any_api_key(mut self) -> Self {
        self.api_key = None;
        self
    }

    /// Adds a reply of `len` bytes of μ-law tone (8 bytes = 1 ms) in [`DELTA_BYTES`] deltas with
    /// this transcript. Responses use the added replies in order; the last one repeats.
    pub fn respond_with_audio(mut self, len: usize, transcript: &str) -> Self {
        self.replies.push(Reply::audio(len, transcript));
        self
    }

    /// Adds a reply whose `response.output_audio.delta` events carry exactly these chunks
    /// (raw μ-law, base64-encoded by the fake), in order, with this transcript.
    pub fn respond_with_chunks(mut self, chunks: Vec<Vec<u8>>, transcript: &str) -> Self {
        self.replies.push(Reply {
            chunks,
            transcript: transcript.to_owned(),
        });
        self
    }

    /// Waits this long after each audio delta (default zero: a whole response at once, as the
    /// real server generates faster than real time).
    pub fn delta_interval(mut self, interval: Duration) -> Self {
        self.delta_interval = interval;
        self
    }

    /// Echo mode, for load tests: each `input_audio_buffer.append` is answered at once by one
    /// `response.output_audio.delta` carrying the same base64 payload (one item and response id
    /// per connection) and nothing else; `response.create` and VAD scripting are off.
    pub fn echo(mut self) -> Self {
        self.echo = true;
        self
    }

    /// Answers every upgrade with HTTP 503 (toggle later with [`FakeRealtime::refuse_connections`]).
    pub fn refuse_connections(mut self) -> Self {
        self.refuse = true;
        self
    }

    /// Whether `input_audio_buffer.append` events and `response.output_audio.delta` events are
    /// kept in the client and server event logs (default true); appended bytes and audio sent
    /// are counted either way. Turn off for long load runs.
    pub fn record_appends(mut self, record: bool) -> Self {
        self.record_appends = record;
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Public records
// ---------------------------------------------------------------------------------------------

/// How a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The client sent a close frame, with this code if it gave one.
    ClientClosed(Option<u16>),
    /// The client's TCP connection ended without a close frame.
    ClientDropped,
    /// The fake closed it with this code ([`FakeRealtime::close`], or the beta rejection).
    ServerClosed(u16),
    /// The fake dropped TCP without a close frame ([`FakeRealtime::drop_connection`]).
    ServerDropped,
}

/// An upgrade the fake answered with an HTTP error instead of 101.
#[derive(Clone, Debug)]
pub struct Rejection {
    pub status: u16,
    pub reason: String,
}

/// What one accepted WebSocket connection did.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The `model` query parameter.
    pub model: String,
    /// The bearer key it presented.
    pub api_key: String,
    /// It carried `OpenAI-Beta: realtime=v1` and was rejected (§0).
    pub beta_header: bool,
    /// Its session config after every accepted `session.update` (merged like the server).
    pub session: Value,
    /// Its client events, in order.
    pub events: Vec<Value>,
    /// Decoded bytes of audio it appended.
    pub appended_bytes: usize,
    /// Each `session.update` `instructions` value, with when it arrived.
    pub instructions: Vec<(Instant, String)>,
    /// `None` while open.
    pub ended: Option<Ended>,
}

// ---------------------------------------------------------------------------------------------
// Server state
// ---------------------------------------------------------------------------------------------

struct Shared {
    state: Observed<State>,
    script: Script,
    nonce: String,
}

struct State {
    refusing: bool,
    /// Keep appends and audio deltas in the logs ([`Script::record_appends`]).
    record_audio: bool,
    next_id: u64,
    next_reply: usize,
    client_events: Vec<(usize, Value)>,
    server_events: Vec<(usize, Value)>,
    violations: Vec<String>,
    rejections: Vec<Rejection>,
    instructions: Vec<(Instant, String)>,
    appended_bytes: usize,
    conns: Vec<Conn>,
}

struct Conn {
    model: String,
    api_key: String,
    beta: bool,
    out: mpsc::UnboundedSender<Out>,
    ended: Option<Ended>,
    session: Value,
    instructions: Vec<(Instant, String)>,
    appended_bytes: usize,
    /// Bytes appended since the last commit or clear (§5: committing an empty buffer fails).
    buffered_bytes: usize,
    items: Vec<Item>,
    active: Option<Active>,
    speech_item: Option<String>,
    last_user_item: Option<String>,
    /// The model has spoken, so the voice can no longer change (§2).
    spoken: bool,
    echo: Option<(String, String)>,
}

struct Item {
    id: String,
    role: &'static str,
    audio_sent: usize,
    value: Value,
}

struct Active {
    response_id: String,
    item_id: String,
}

enum Out {
    Event(Value),
    Close(u16, String),
    Drop,
}

/// Why a client event was refused: becomes a violation and an `error` event.
struct Problem {
    code: &'static str,
    param: Option<String>,
    message: String,
}

impl Problem {
    fn new(code: &'static str, param: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            code,
            param: param.map(str::to_owned),
            message: message.into(),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Bytes per millisecond for a GA audio format object (§4).
fn bytes_per_ms(format: &Value) -> usize {
    match format["type"].as_str() {
        Some("audio/pcm") => 48,
        _ => pcmu::BYTES_PER_MS,
    }
}

/// Decoded length of a base64 string already known to be valid.
fn decoded_len(b64: &str) -> usize {
    let pad = b64.bytes().rev().take_while(|&b| b == b'=').count();
    b64.len() / 4 * 3 - pad
}

fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

impl State {
    fn id(&mut self, nonce: &str, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_{nonce}{:06}", self.next_id)
    }

    /// Sends a server event on connection `c`, stamping it with a fresh `event_id`.
    fn emit(&mut self, nonce: &str, c: usize, mut event: Value) {
        let event_id = self.id(nonce, "event");
        event["event_id"] = json!(event_id);
        if self.record_audio || event["type"] != "response.output_audio.delta" {
            self.server_events.push((c, event.clone()));
        }
        let _ = self.conns[c].out.send(Out::Event(event));
    }

    fn latest_live(&self) -> usize {
        self.conns
            .iter()
            .rposition(|c| c.ended.is_none() && !c.beta)
            .expect("no open Realtime connection to act on")
    }

    fn end(&mut self, c: usize, how: Ended) {
        let conn = &mut self.conns[c];
        if conn.ended.is_none() {
            conn.ended = Some(how);
        }
        conn.active = None;
    }

    fn turn_detection(&self, c: usize) -> (bool, bool) {
        let td = &self.conns[c].session["audio"]["input"]["turn_detection"];
        if !td.is_object() {
            return (false, false);
        }
        let create = td["create_response"].as_bool().unwrap_or(true);
        let interrupt = td["interrupt_response"].as_bool().unwrap_or(true);
        (create, interrupt)
    }

    fn has_item(&self, c: usize, id: &str) -> bool {
        self.conns[c].items.iter().any(|i| i.id == id)
    }

    fn item(&mut self, c: usize, id: &str) -> Option<&mut Item> {
        self.conns[c].items.iter_mut().find(|i| i.id == id)
    }

    fn last_item_id(&self, c: usize) -> Value {
        self.conns[c]
            .items
            .last()
            .map_or(Value::Null, |i| json!(i.id))
    }
}

// ---------------------------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------------------------

/// A fake OpenAI Realtime server on `127.0.0.1`. Cheap to clone; the listener stops when the
/// last clone is dropped. Control methods act on the most recent open connection and panic if
/// there is none.
#[derive(Clone)]
pub struct FakeRealtime {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _listener: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl FakeRealtime {
    /// Binds `127.0.0.1:0` and serves WebSocket upgrades on `/v1/realtime?model=…`.
    pub async fn start(script: Script) -> FakeRealtime {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Observed::new(State {
                refusing: script.refuse,
                record_audio: script.record_appends,
                next_id: 0,
                next_reply: 0,
                client_events: Vec::new(),
                server_events: Vec::new(),
                violations: Vec::new(),
                rejections: Vec::new(),
                instructions: Vec::new(),
                appended_bytes: 0,
                conns: Vec::new(),
            }),
            script,
            nonce: format!("{:08x}", rand::random::<u32>()),
        });
        let accept = tokio::spawn({
            let shared = shared.clone();
            async move {
                // Owning the connection tasks here means dropping the fake ends them too.
                let mut conns = JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            if let Ok((tcp, _)) = accepted {
                                conns.spawn(serve(shared.clone(), tcp));
                            }
                        }
                        Some(_) = conns.join_next() => {}
                    }
                }
            }
        });
        FakeRealtime {
            shared,
            addr,
            _listener: Arc::new(AbortOnDrop(accept)),
        }
    }

    /// `ws://127.0.0.1:PORT/v1/realtime`, without the `?model=` query.
    pub fn url(&self) -> String {
        format!("ws://{}/v1/realtime", self.addr)
    }

    /// A Realtime URL on a loopback port with nothing listening (connections are refused).
    pub fn unreachable_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("ws://{addr}/v1/realtime")
    }

    /// Turns refusing (HTTP 503 to every upgrade) on or off.
    pub fn refuse_connections(&self, refuse: bool) {
        self.shared.state.update(|s| s.refusing = refuse);
    }

    // --- records ---------------------------------------------------------------------------

    /// Every protocol violation seen, human-readable. Tests assert this is empty.
    pub fn violations(&self) -> Vec<String> {
        self.shared.state.read(|s| s.violations.clone())
    }

    /// All client events of all connections, in arrival order.
    pub fn client_events(&self) -> Vec<Value> {
        self.shared
            .state
            .read(|s| s.client_events.iter().map(|(_, e)| e.clone()).collect())
    }

    /// Client events of one `type`, in order.
    pub fn client_events_of(&self, ty: &str) -> Vec<Value> {
        self.shared.state.read(|s| {
            s.client_events
                .iter()
                .filter(|(_, e)| e["type"] == ty)
                .map(|(_, e)| e.clone())
                .collect()
        })
    }

    /// All server events the fake sent, in order.
    pub fn server_events(&self) -> Vec<Value> {
        self.shared
            .state
            .read(|s| s.server_events.iter().map(|(_, e)| e.clone()).collect())
    }

    /// The most recent connection's session config after all its updates (`Null` if none).
    pub fn session(&self) -> Value {
        self.shared
            .state
            .read(|s| s.conns.last().map_or(Value::Null, |c| c.session.clone()))
    }

    /// The μ-law audio connection `c` appended (every connection's, in order, when `None`),
    /// decoded from base64 (none when `Script::record_appends(false)`).
    pub fn appended_audio(&self, c: Option<usize>) -> Vec<u8> {
        self.shared.state.read(|s| {
            s.client_events
                .iter()
                .filter(|(i, e)| {
                    c.is_none_or(|c| c == *i) && e["type"] == "input_audio_buffer.append"
                })
                .flat_map(|(_, e)| {
                    base64::engine::general_purpose::STANDARD
                        .decode(e["audio"].as_str().unwrap_or_default())
                        .unwrap_or_default()
                })
                .collect()
        })
    }

    /// Decoded audio bytes appended over all connections.
    pub fn appended_bytes(&self) -> usize {
        self.shared.state.read(|s| s.appended_bytes)
    }

    /// Every `session.update` instructions value over all connections, with arrival times.
    pub fn instructions_history(&self) -> Vec<(Instant, String)> {
        self.shared.state.read(|s| s.instructions.clone())
    }

    /// Upgrades accepted with 101 (including beta-header ones).
    pub fn connection_count(&self) -> usize {
        self.shared.state.read(|s| s.conns.len())
    }

    /// Each accepted connection, oldest first.
    pub fn connections(&self) -> Vec<Connection> {
        self.shared.state.read(|s| {
            s.conns
                .iter()
                .enumerate()
                .map(|(i, c)| Connection {
                    model: c.model.clone(),
                    api_key: c.api_key.clone(),
                    beta_header: c.beta,
                    session: c.session.clone(),
                    events: s
                        .client_events
                        .iter()
                        .filter(|(c, _)| *c == i)
                        .map(|(_, e)| e.clone())
                        .collect(),
                    appended_bytes: c.appended_bytes,
                    instructions: c.instructions.clone(),
                    ended: c.ended.clone(),
                })
                .collect()
        })
    }

    /// Upgrades answered with an HTTP error (401, 404, 400, 503), oldest first.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.shared.state.read(|s| s.rejections.clone())
    }

    // --- waits (panic with context on timeout) ----------------------------------------------

    /// The first client event of `ty`, once it has arrived.
    pub async fn wait_for_event(&self, ty: &str, timeout: Duration) -> Value {
        self.wait_for_events(ty, 1, timeout).await.remove(0)
    }

    /// The first `n` client events of `ty`, once that many have arrived.
    pub async fn wait_for_events(&self, ty: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let got = self
            .shared
            .state
            .wait(timeout, |s| {
                let of: Vec<_> = s
                    .client_events
                    .iter()
                    .filter(|(_, e)| e["type"] == ty)
                    .take(n)
                    .map(|(_, e)| e.clone())
                    .collect();
                (of.len() == n).then_some(of)
            })
            .await;
        got.unwrap_or_else(|| {
            panic!(
                "fake Realtime: no {n} `{ty}` client event(s) within {timeout:?}; types seen: {:?}",
                self.client_events()
                    .iter()
                    .map(|e| e["type"].clone())
                    .collect::<Vec<_>>()
            )
        })
    }

    /// The first server event of `ty` the fake has sent.
    pub async fn wait_for_server_event(&self, ty: &str, timeout: Duration) -> Value {
        let got = self
            .shared
            .state
            .wait(timeout, |s| {
                s.server_events
                    .iter()
                    .find(|(_, e)| e["type"] == ty)
                    .map(|(_, e)| e.clone())
            })
            .await;
        got.unwrap_or_else(|| panic!("fake Realtime sent no `{ty}` within {timeout:?}"))
    }

    /// Waits until at least `n` decoded audio bytes were appended; returns the total.
    pub async fn wait_for_appended_bytes(&self, n: usize, timeout: Duration) -> usize {
        let got = self
            .shared
            .state
            .wait(timeout, |s| {
                (s.appended_bytes >= n).then_some(s.appended_bytes)
            })
            .await;
        got.unwrap_or_else(|| {
            panic!(
                "fake Realtime: {} audio bytes appended after {timeout:?}, expected at least {n}",
                self.appended_bytes()
            )
        })
    }

    /// Waits until at least `n` upgrades were accepted.
    pub async fn wait_for_connections(&self, n: usize, timeout: Duration) {
        let got = self
            .shared
            .state
            .wait(timeout, |s| (s.conns.len() >= n).then_some(()))
            .await;
        got.unwrap_or_else(|| {
            panic!(
                "fake Realtime: {} connection(s) after {timeout:?}, expected {n}; rejected: {:?}",
                self.connection_count(),
                self.rejections()
            )
        })
    }

    /// Waits until the most recent connection has ended and says how.
    pub async fn wait_for_disconnect(&self, timeout: Duration) -> Ended {
        let got = self
            .shared
            .state
            .wait(timeout, |s| s.conns.last().and_then(|c| c.ended.clone()))
            .await;
        got.unwrap_or_else(|| panic!("fake Realtime: connection still open after {timeout:?}"))
    }

    // --- injections ------------------------------------------------------------------------

    /// Sends `input_audio_buffer.speech_started` with a new user item id (returned). With a
    /// response in flight and `interrupt_response` on (the default under server VAD), the
    /// response is then cancelled: `response.done`, status `cancelled`, reason `turn_detected`.
    pub fn speech_started(&self, audio_start_ms: u64) -> String {
        let nonce = self.shared.nonce.clone();
        self.shared.state.update(|s| {
            let c = s.latest_live();
            let item_id = s.id(&nonce, "item");
            s.conns[c].speech_item = Some(item_id.clone());
            s.emit(
                &nonce,
                c,
                json!({"type": "input_audio_buffer.speech_started",
                       "audio_start_ms": audio_start_ms, "item_id": item_id}),
            );
            let (_, interrupt) = s.turn_detection(c);
            if interrupt && s.conns[c].active.is_some() {
                cancel_response(s, &nonce, c, "turn_detected");
            }
            item_id
        })
    }

    /// Sends `input_audio_buffer.speech_stopped` (`audio_end_ms` = audio appended so far),
    /// `input_audio_buffer.committed` and the user item's `conversation.item.added`/`.done`;
    /// then, if `create_response` is on (the default under server VAD), starts the next
    /// scripted response. Returns the user item id.
    pub fn speech_stopped(&self) -> String {
        let shared = self.shared.clone();
        let nonce = self.shared.nonce.clone();
        self.shared.state.update(|s| {
            let c = s.latest_live();
            let item_id = match s.conns[c].speech_item.take() {
                Some(id) => id,
                None => s.id(&nonce, "item"),
            };
            let bpm = bytes_per_ms(&s.conns[c].session["audio"]["input"]["format"]);
            let audio_end_ms = s.conns[c].appended_bytes / bpm;
            s.emit(
                &nonce,
                c,
                json!({"type": "input_audio_buffer.speech_stopped",
                       "audio_end_ms": audio_end_ms, "item_id": item_id}),
            );
            let previous = s.last_item_id(c);
            s.emit(
                &nonce,
                c,
                json!({"type": "input_audio_buffer.committed",
                       "item_id": item_id, "previous_item_id": previous}),
            );
            let item = json!({"id": item_id, "object": "realtime.item", "type": "message",
                              "status": "completed", "role": "user",
                              "content": [{"type": "input_audio", "transcript": null}]});
            for ty in ["conversation.item.added", "conversation.item.done"] {
                s.emit(
                    &nonce,
                    c,
                    json!({"type": ty, "previous_item_id": previous, "item": item}),
                );
            }
            let conn = &mut s.conns[c];
            conn.buffered_bytes = 0;
            conn.last_user_item = Some(item_id.clone());
            conn.items.push(Item {
                id: item_id.clone(),
                role: "user",
                audio_sent: 0,
                value: item,
            });
            let (create, _) = s.turn_detection(c);
            if create && s.conns[c].active.is_none() {
                let reply = next_reply(s, &shared.script);
                start_response(s, &shared, c, reply);
            }
            item_id
        })
    }

    /// Sends `conversation.item.input_audio_transcription.completed` for the latest user item
    /// (or a new item id if there was none), with token `usage`.
    pub fn caller_transcript(&self, text: &str) {
        self.transcript_on(None, text);
    }

    /// `caller_transcript` on connection `c` (0 is the first accepted), not the latest.
    pub fn caller_transcript_on(&self, c: usize, text: &str) {
        self.transcript_on(Some(c), text);
    }

    fn transcript_on(&self, c: Option<usize>, text: &str) {
        let nonce = self.shared.nonce.clone();
        self.shared.state.update(|s| {
            let c = c.unwrap_or_else(|| s.latest_live());
            let item_id = match s.conns[c]
                .last_user_item
                .clone()
                .or_else(|| s.conns[c].speech_item.clone())
            {
                Some(id) => id,
                None => s.id(&nonce, "item"),
            };
            let out_tokens = text.split_whitespace().count();
            s.emit(
                &nonce,
                c,
                json!({"type": "conversation.item.input_audio_transcription.completed",
                       "item_id": item_id, "content_index": 0, "transcript": text,
                       "usage": {"type": "tokens", "input_tokens": 40,
                                 "output_tokens": out_tokens, "total_tokens": 40 + out_tokens,
                                 "input_token_details": {"audio_tokens": 40, "text_tokens": 0}}}),
            );
        });
    }

    /// Starts a response nobody asked for (as after VAD): `len` bytes of tone with this
    /// transcript, the full event sequence, paced like scripted replies. Returns the response
    /// id. Panics if a response is already in flight.
    pub fn agent_says(&self, len: usize, transcript: &str) -> String {
        let shared = self.shared.clone();
        self.shared.state.update(|s| {
            let c = s.latest_live();
            assert!(
                s.conns[c].active.is_none(),
                "agent_says while a response is in flight"
            );
            start_response(s, &shared, c, Reply::audio(len, transcript))
        })
    }

    /// Starts a response nobody asked for in which the model calls function `name` with
    /// `arguments` (§7.2's event sequence: the item added, the arguments in two deltas, then
    /// done, then `response.done` completed with the call in its output). Returns the
    /// `call_id`. Panics if a response is already in flight.
    pub fn agent_calls(&self, name: &str, arguments: &str) -> String {
        let shared = self.shared.clone();
        self.shared.state.update(|s| {
            let c = s.latest_live();
            assert!(
                s.conns[c].active.is_none(),
                "agent_calls while a response is in flight"
            );
            let nonce = shared.nonce.as_str();
            let response_id = s.id(nonce, "resp");
            let item_id = s.id(nonce, "item");
            let call_id = s.id(nonce, "call");
            let item = |status: &str, args: &str| {
                json!({"id": item_id, "object": "realtime.item", "type": "function_call",
                       "status": status, "name": name, "call_id": call_id, "arguments": args})
            };
            s.conns[c].active = Some(Active {
                response_id: response_id.clone(),
                item_id: item_id.clone(),
            });
            s.conns[c].items.push(Item {
                id: item_id.clone(),
                role: "function",
                audio_sent: 0,
                value: item("in_progress", ""),
            });
            s.emit(
                nonce,
                c,
                json!({"type": "response.created",
                       "response": response_object(&response_id, "in_progress", Value::Null, json!([]), Value::Null)}),
            );
            let ids = json!({"response_id": response_id, "item_id": item_id,
                             "output_index": 0, "call_id": call_id});
            let with_ids = |mut v: Value| {
                for (k, val) in ids.as_object().unwrap() {
                    v[k] = val.clone();
                }
                v
            };
            let half = arguments.len() / 2;
            let half = (0..=half).rev().find(|&i| arguments.is_char_boundary(i)).unwrap_or(0);
            let done = item("completed", arguments);
            let steps: Vec<(Value, usize)> = [
                json!({"type": "response.output_item.added", "response_id": response_id,
                       "output_index": 0, "item": item("in_progress", "")}),
                json!({"type": "conversation.item.added", "previous_item_id": null,
                       "item": item("in_progress", "")}),
                with_ids(json!({"type": "response.function_call_arguments.delta",
                                "delta": &arguments[..half]})),
                with_ids(json!({"type": "response.function_call_arguments.delta",
                                "delta": &arguments[half..]})),
                with_ids(json!({"type": "response.function_call_arguments.done",
                                "name": name, "arguments": arguments})),
                json!({"type": "conversation.item.done", "item": done}),
                json!({"type": "response.output_item.done", "response_id": response_id,
                       "output_index": 0, "item": done}),
                json!({"type": "response.done", "response": response_object(
                    &response_id, "completed", Value::Null, json!([done]), usage(0, ""))}),
            ]
            .into_iter()
            .map(|e| (e, 0))
            .collect();
            tokio::spawn(stream_response(
                shared.clone(),
                c,
                response_id,
                steps,
                Duration::ZERO,
            ));
            call_id
        })
    }

    /// Starts a response nobody asked for in which the backend calls tool `name` of MCP
    /// server `server` itself (§7.4's event sequence: the `mcp_call` item added, its arguments
    /// in a delta and done, in progress, then completed with `output` or failed with `error`,
    /// the item done, `response.done` with it in its output). Returns the item's id.
    pub fn mcp_call(
        &self,
        server: &str,
        name: &str,
        arguments: &str,
        result: Result<&str, &str>,
    ) -> String {
        let shared = self.shared.clone();
        self.shared.state.update(|s| {
            let c = s.latest_live();
            assert!(
                s.conns[c].active.is_none(),
                "mcp_call while a response is in flight"
            );
            let nonce = shared.nonce.as_str();
            let response_id = s.id(nonce, "resp");
            let item_id = s.id(nonce, "mcp");
            let (output, error) = match result {
                Ok(o) => (json!(o), Value::Null),
                Err(e) => (
                    Value::Null,
                    json!({"type": "tool_execution_error", "message": e}),
                ),
            };
            let item = |done: bool| {
                json!({"id": item_id, "type": "mcp_call", "server_label": server, "name": name,
                       "arguments": if done { arguments } else { "" },
                       "output": if done { output.clone() } else { Value::Null },
                       "error": if done { error.clone() } else { Value::Null },
                       "approval_request_id": null})
            };
            s.conns[c].active = Some(Active {
                response_id: response_id.clone(),
                item_id: item_id.clone(),
            });
            s.conns[c].items.push(Item {
                id: item_id.clone(),
                role: "mcp",
                audio_sent: 0,
                value: item(false),
            });
            s.emit(
                nonce,
                c,
                json!({"type": "response.created",
                       "response": response_object(&response_id, "in_progress", Value::Null, json!([]), Value::Null)}),
            );
            let ids = json!({"response_id": response_id, "item_id": item_id, "output_index": 0});
            let with_ids = |mut v: Value| {
                for (k, val) in ids.as_object().unwrap() {
                    v[k] = val.clone();
                }
                v
            };
            let ended = if result.is_ok() {
                "response.mcp_call.completed"
            } else {
                "response.mcp_call.failed"
            };
            let steps: Vec<(Value, usize)> = [
                json!({"type": "response.output_item.added", "response_id": response_id,
                       "output_index": 0, "item": item(false)}),
                with_ids(json!({"type": "response.mcp_call_arguments.delta", "delta": arguments})),
                with_ids(json!({"type": "response.mcp_call_arguments.done", "arguments": arguments})),
                json!({"type": "response.mcp_call.in_progress", "item_id": item_id, "output_index": 0}),
                json!({"type": ended, "item_id": item_id, "output_index": 0}),
                json!({"type": "response.output_item.done", "response_id": response_id,
                       "output_index": 0, "item": item(true)}),
                json!({"type": "response.done", "response": response_object(
                    &response_id, "completed", Value::Null, json!([item(true)]), usage(0, ""))}),
            ]
            .into_iter()
            .map(|e| (e, 0))
            .collect();
            tokio::spawn(stream_response(
                shared.clone(),
                c,
                response_id,
                steps,
                Duration::ZERO,
            ));
            item_id
        })
    }

    /// The backend could not list MCP server `server`'s tools (§7.4): its `mcp_list_tools`
    /// item, then `mcp_list_tools.in_progress` and `.failed`.
    pub fn mcp_list_fails(&self, server: &str) {
        let nonce = self.shared.nonce.clone();
        self.shared.state.update(|s| {
            let c = s.latest_live();
            let item_id = s.id(&nonce, "mcpl");
            let item = json!({"id": item_id, "type": "mcp_list_tools", "server_label": server,
                              "tools": []});
            for e in [
                json!({"type": "conversation.item.added", "previous_item_id": null, "item": item}),
                json!({"type": "mcp_list_tools.in_progress", "item_id": item_id}),
                json!({"type": "mcp_list_tools.failed", "item_id": item_id}),
            ] {
                s.emit(&nonce, c, e);
            }
        });
    }

    /// Sends a recoverable `error` event (`invalid_request_error`, this code and message).
    pub fn error(&self, code: &str, message: &str) {
        let nonce = self.shared.nonce.clone();
        self.shared.state.update(|s| {
            let c = s.latest_live();
            s.emit(
                &nonce,
                c,
                json!({"type": "error", "error": {"type": "invalid_request_error", "code": code,
                       "message": message, "param": null, "event_id": null}}),
            );
        });
    }

    /// Drops the TCP connection without a close frame.
    pub fn drop_connection(&self) {
        self.shared.state.update(|s| {
            let c = s.latest_live();
            let _ = s.conns[c].out.send(Out::Drop);
        });
    }

    /// Closes the connection with a close frame carrying `code`.
    pub fn close(&self, code: u16) {
        self.shared.state.update(|s| {
            let c = s.latest_live();
            let _ = s.conns[c].out.send(Out::Close(code, String::new()));
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

struct Accepted {
    model: String,
    api_key: String,
    beta: bool,
}

fn http_error(status: u16, code: &str, message: &str) -> ErrorResponse {
    let body = json!({"error": {"message": message, "type": "invalid_request_error",
                                "param": null, "code": code}});
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Some(body.to_string()))
        .unwrap()
}

/// An upgrade refused with an HTTP error: status, error code, message.
struct Refusal(u16, &'static str, String);

/// Checks an upgrade request (§1); a refusal is recorded and becomes the HTTP answer.
fn check_upgrade(shared: &Shared, req: &Request) -> Result<Accepted, Refusal> {
    let reject = |status: u16, code: &'static str, message: String| {
        shared.state.update(|s| {
            s.rejections.push(Rejection {
                status,
                reason: message.clone(),
            })
        });
        Err(Refusal(status, code, message))
    };
    if shared.state.read(|s| s.refusing) {
        return reject(
            503,
            "service_unavailable",
            "The server is overloaded.".into(),
        );
    }
    if req.uri().path() != "/v1/realtime" {
        return reject(
            404,
            "not_found",
            format!("Invalid URL (GET {})", req.uri().path()),
        );
    }
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let Some(key) = bearer else {
        return reject(
            401,
            "missing_api_key",
            "You didn't provide an API key (Authorization: Bearer …).".into(),
        );
    };
    if shared.script.api_key.as_deref().is_some_and(|k| k != key) {
        return reject(
            401,
            "invalid_api_key",
            format!("Incorrect API key provided: {key}."),
        );
    }
    let model = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "model")
        .map(|(_, v)| v.into_owned())
        .filter(|m| !m.is_empty());
    let Some(model) = model else {
        return reject(
            400,
            "missing_model",
            "Missing required parameter: 'model'.".into(),
        );
    };
    let beta = req
        .headers()
        .get_all("openai-beta")
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains("realtime=v1")));
    Ok(Accepted {
        model,
        api_key: key.to_owned(),
        beta,
    })
}

fn default_session(id: &str, model: &str) -> Value {
    json!({
        "type": "realtime", "object": "realtime.session", "id": id, "model": model,
        "output_modalities": ["audio"], "instructions": "",
        "audio": {
            "input": {"format": {"type": "audio/pcm", "rate": 24000}, "noise_reduction": null,
                      "transcription": null,
                      "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                         "prefix_padding_ms": 300, "silence_duration_ms": 500,
                                         "idle_timeout_ms": null, "create_response": true,
                                         "interrupt_response": true}},
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin",
                       "speed": 1.0}
        },
        "tools": [], "tool_choice": "auto", "max_output_tokens": "inf",
        "tracing": null, "truncation": "auto", "prompt": null
    })
}

// tungstenite's handshake callback fixes the size of its error type.
#[allow(clippy::result_large_err)]
async fn serve(shared: Arc<Shared>, tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let mut accepted = None;
    let ws =
        tokio_tungstenite::accept_hdr_async(
            tcp,
            |req: &Request, resp: Response| match check_upgrade(&shared, req) {
                Ok(a) => {
                    accepted = Some(a);
                    Ok(resp)
                }
                Err(Refusal(status, code, message)) => Err(http_error(status, code, &message)),
            },
        )
        .await;
    let (Ok(mut ws), Some(acc)) = (ws, accepted) else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let nonce = shared.nonce.clone();
    let c = shared.state.update(|s| {
        let session_id = s.id(&nonce, "sess");
        s.conns.push(Conn {
            session: default_session(&session_id, &acc.model),
            model: acc.model,
            api_key: acc.api_key,
            beta: acc.beta,
            out: tx,
            ended: None,
            instructions: Vec::new(),
            appended_bytes: 0,
            buffered_bytes: 0,
            items: Vec::new(),
            active: None,
            speech_item: None,
            last_user_item: None,
            spoken: false,
            echo: None,
        });
        let c = s.conns.len() - 1;
        if acc.beta {
            s.violations.push(format!(
                "connection {c}: upgrade carried `OpenAI-Beta: realtime=v1` (beta shape, §0)"
            ));
            s.emit(
                &nonce,
                c,
                json!({"type": "error", "error": {"type": "invalid_request_error",
                       "code": "beta_api_shape_disabled",
                       "message": "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API.",
                       "param": null, "event_id": null}}),
            );
            let _ = s.conns[c]
                .out
                .send(Out::Close(BETA_CLOSE_CODE, BETA_CLOSE_REASON.into()));
        } else {
            let session = s.conns[c].session.clone();
            s.emit(
                &nonce,
                c,
                json!({"type": "session.created", "session": session}),
            );
        }
        c
    });
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => on_client_text(&shared, c, &text),
                Some(Ok(Message::Binary(_))) => shared.state.update(|s| {
                    let problem = Problem::new("invalid_request_error", None,
                        "Binary frames are not supported; send JSON text frames (§1).");
                    refuse(s, &nonce, c, None, "(binary frame)", vec![problem]);
                }),
                Some(Ok(Message::Close(frame))) => shared.state.update(|s| {
                    s.end(c, Ended::ClientClosed(frame.map(|f| u16::from(f.code))));
                }),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    shared.state.update(|s| s.end(c, Ended::ClientDropped));
                    return;
                }
            },
            out = rx.recv() => match out {
                Some(Out::Event(event)) => {
                    if ws.send(Message::text(event.to_string())).await.is_err() {
                        shared.state.update(|s| s.end(c, Ended::ClientDropped));
                        return;
                    }
                }
                Some(Out::Close(code, reason)) => {
                    shared.state.update(|s| s.end(c, Ended::ServerClosed(code)));
                    let frame = CloseFrame { code: code.into(), reason: reason.into() };
                    let _ = ws.close(Some(frame)).await;
                }
                Some(Out::Drop) | None => {
                    shared.state.update(|s| s.end(c, Ended::ServerDropped));
                    // Dropping the socket here closes TCP with no close frame.
                    return;
                }
            }
        }
    }
}

/// Records a refused client event as violations and answers with one `error` event.
fn refuse(
    s: &mut State,
    nonce: &str,
    c: usize,
    client_event_id: Option<&str>,
    ty: &str,
    problems: Vec<Problem>,
) {
    for p in &problems {
        let param = p
            .param
            .as_deref()
            .map_or(String::new(), |p| format!(" [{p}]"));
        let id = client_event_id.map_or(String::new(), |id| format!(" (event_id {id})"));
        s.violations
            .push(format!("connection {c}: `{ty}`{id}{param}: {}", p.message));
    }
    let first = &problems[0];
    s.emit(
        nonce,
        c,
        json!({"type": "error", "error": {"type": "invalid_request_error", "code": first.code,
               "message": first.message, "param": first.param, "event_id": client_event_id}}),
    );
}

fn on_client_text(shared: &Arc<Shared>, c: usize, text: &str) {
    let nonce = shared.nonce.as_str();
    shared.state.update(|s| {
        let event: Value = match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                let p = Problem::new(
                    "invalid_json",
                    None,
                    format!("The event is not a JSON object: {text:.80}"),
                );
                return refuse(s, nonce, c, None, "(not JSON)", vec![p]);
            }
        };
        let ty = event["type"].as_str().unwrap_or("(no type)").to_owned();
        if shared.script.record_appends || ty != "input_audio_buffer.append" {
            s.client_events.push((c, event.clone()));
        }
        if s.conns[c].beta || s.conns[c].ended.is_some() {
            return;
        }
        let event_id = event.get("event_id").and_then(Value::as_str);
        let mut check = Check::default();
        check.event(&event);
        if !check.problems.is_empty() {
            return refuse(s, nonce, c, event_id, &ty, check.problems);
        }
        if let Err(problem) = apply(s, shared, c, &ty, &event) {
            refuse(s, nonce, c, event_id, &ty, vec![problem]);
        }
    });
}

/// Applies a well-formed client event and sends the server's answer; `Err` when the real
/// server would refuse it in this state.
fn apply(
    s: &mut State,
    shared: &Arc<Shared>,
    c: usize,
    ty: &str,
    event: &Value,
) -> Result<(), Problem> {
    let nonce = shared.nonce.as_str();
    match ty {
        "session.update" => {
            let update = &event["session"];
            if let Some(model) = update["model"].as_str()
                && model != s.conns[c].model
            {
                return Err(Problem::new(
                    "invalid_value",
                    Some("session.model"),
                    format!(
                        "The session's model cannot be changed (connected with '{}', update says '{model}').",
                        s.conns[c].model
                    ),
                ));
            }
            let voice = &update["audio"]["output"]["voice"];
            if !voice.is_null()
                && s.conns[c].spoken
                && *voice != s.conns[c].session["audio"]["output"]["voice"]
            {
                return Err(Problem::new(
                    "cannot_update_voice",
                    Some("session.audio.output.voice"),
                    "Cannot update a conversation's voice if assistant audio is present.",
                ));
            }
            merge(&mut s.conns[c].session, update);
            if let Some(instructions) = update["instructions"].as_str() {
                let entry = (Instant::now(), instructions.to_owned());
                s.conns[c].instructions.push(entry.clone());
                s.instructions.push(entry);
            }
            let session = s.conns[c].session.clone();
            s.emit(
                nonce,
                c,
                json!({"type": "session.updated", "session": session}),
            );
        }
        "input_audio_buffer.append" => {
            let audio = event["audio"].as_str().unwrap_or_default();
            let len = decoded_len(audio);
            s.appended_bytes += len;
            let conn = &mut s.conns[c];
            conn.appended_bytes += len;
            conn.buffered_bytes += len;
            if shared.script.echo {
                let (response_id, item_id) = match conn.echo.clone() {
                    Some(ids) => ids,
                    None => {
                        let ids = (s.id(nonce, "resp"), s.id(nonce, "item"));
                        let conn = &mut s.conns[c];
                        conn.echo = Some(ids.clone());
                        conn.items.push(Item {
                            id: ids.1.clone(),
                            role: "assistant",
                            audio_sent: 0,
                            value: json!({"id": ids.1, "object": "realtime.item",
                                          "type": "message", "role": "assistant",
                                          "status": "in_progress", "content": []}),
                        });
                        ids
                    }
                };
                if let Some(item) = s.item(c, &item_id) {
                    item.audio_sent += len;
                }
                s.conns[c].spoken = true;
                s.emit(
                    nonce,
                    c,
                    json!({"type": "response.output_audio.delta", "response_id": response_id,
                           "item_id": item_id, "output_index": 0, "content_index": 0,
                           "delta": audio}),
                );
            }
        }
        "input_audio_buffer.commit" => {
            let buffered = s.conns[c].buffered_bytes;
            let bpm = bytes_per_ms(&s.conns[c].session["audio"]["input"]["format"]);
            if buffered < 100 * bpm {
                return Err(Problem::new(
                    "input_audio_buffer_commit_empty",
                    None,
                    format!(
                        "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {:.2}ms of audio.",
                        buffered as f64 / bpm as f64
                    ),
                ));
            }
            let item_id = s.id(nonce, "item");
            let previous = s.last_item_id(c);
            let conn = &mut s.conns[c];
            conn.buffered_bytes = 0;
            conn.last_user_item = Some(item_id.clone());
            conn.items.push(Item {
                id: item_id.clone(),
                role: "user",
                audio_sent: 0,
                value: json!({"id": item_id, "object": "realtime.item", "type": "message",
                              "status": "completed", "role": "user",
                              "content": [{"type": "input_audio", "transcript": null}]}),
            });
            s.emit(
                nonce,
                c,
                json!({"type": "input_audio_buffer.committed", "item_id": item_id,
                       "previous_item_id": previous}),
            );
        }
        "input_audio_buffer.clear" => {
            s.conns[c].buffered_bytes = 0;
            s.emit(nonce, c, json!({"type": "input_audio_buffer.cleared"}));
        }
        "conversation.item.create" => {
            let previous = match event["previous_item_id"].as_str() {
                None => s.last_item_id(c),
                Some("root") => json!("root"),
                Some(p) if s.has_item(c, p) => json!(p),
                Some(p) => {
                    return Err(Problem::new(
                        "invalid_value",
                        Some("previous_item_id"),
                        format!("Item with item_id '{p}' not found in the conversation."),
                    ));
                }
            };
            let mut item = event["item"].clone();
            let id = match item["id"].as_str() {
                Some(id) if s.has_item(c, id) => {
                    return Err(Problem::new(
                        "item_create_duplicate_id",
                        Some("item.id"),
                        format!("Item with id '{id}' already exists."),
                    ));
                }
                Some(id) => id.to_owned(),
                None => s.id(nonce, "item"),
            };
            item["id"] = json!(id);
            item["object"] = json!("realtime.item");
            item["status"] = json!("completed");
            let role = match (item["type"].as_str(), item["role"].as_str()) {
                (Some("message"), Some("user")) => "user",
                (Some("message"), Some("system")) => "system",
                (Some("message"), _) => "assistant",
                _ => "function",
            };
            s.conns[c].items.push(Item {
                id,
                role,
                audio_sent: 0,
                value: item.clone(),
            });
            for ty in ["conversation.item.added", "conversation.item.done"] {
                s.emit(
                    nonce,
                    c,
                    json!({"type": ty, "previous_item_id": previous, "item": item}),
                );
            }
        }
        "conversation.item.retrieve" => {
            let id = event["item_id"].as_str().unwrap_or_default();
            let Some(item) = s.item(c, id).map(|i| i.value.clone()) else {
                return Err(not_found(id));
            };
            s.emit(
                nonce,
                c,
                json!({"type": "conversation.item.retrieved", "item": item}),
            );
        }
        "conversation.item.delete" => {
            let id = event["item_id"].as_str().unwrap_or_default();
            let Some(pos) = s.conns[c].items.iter().position(|i| i.id == id) else {
                return Err(not_found(id));
            };
            s.conns[c].items.remove(pos);
            s.emit(
                nonce,
                c,
                json!({"type": "conversation.item.deleted", "item_id": id}),
            );
        }
        "conversation.item.truncate" => {
            let id = event["item_id"].as_str().unwrap_or_default();
            let audio_end_ms = event["audio_end_ms"].as_u64().unwrap_or_default();
            let bpm = bytes_per_ms(&s.conns[c].session["audio"]["output"]["format"]);
            let Some(item) = s.item(c, id) else {
                return Err(not_found(id));
            };
            if item.role != "assistant" {
                return Err(Problem::new(
                    "invalid_value",
                    Some("item_id"),
                    format!("Only assistant messages can be truncated; '{id}' is not one."),
                ));
            }
            let sent_ms = (item.audio_sent / bpm) as u64;
            if audio_end_ms > sent_ms {
                return Err(Problem::new(
                    "invalid_value",
                    Some("audio_end_ms"),
                    format!(
                        "Audio content of {sent_ms}ms is already shorter than {audio_end_ms}ms"
                    ),
                ));
            }
            s.emit(
                nonce,
                c,
                json!({"type": "conversation.item.truncated", "item_id": id,
                       "content_index": 0, "audio_end_ms": audio_end_ms}),
            );
        }
        "response.create" => {
            if let Some(active) = &s.conns[c].active {
                return Err(Problem::new(
                    "conversation_already_has_active_response",
                    None,
                    format!(
                        "Conversation already has an active response in progress: {}. Wait until the response is finished before creating a new one.",
                        active.response_id
                    ),
                ));
            }
            if !shared.script.echo {
                let reply = next_reply(s, &shared.script);
                start_response(s, shared, c, reply);
            }
        }
        "response.cancel" => {
            let wanted = event["response_id"].as_str();
            let matches = s.conns[c]
                .active
                .as_ref()
                .is_some_and(|a| wanted.is_none_or(|w| w == a.response_id));
            if matches {
                cancel_response(s, nonce, c, "client_cancelled");
            } else {
                // Harmless per §5: an error event, not a protocol violation.
                let client_event_id = event.get("event_id").cloned().unwrap_or(Value::Null);
                s.emit(
                    nonce,
                    c,
                    json!({"type": "error", "error": {"type": "invalid_request_error",
                           "code": "response_cancel_not_active",
                           "message": "Cancellation failed: no active response found",
                           "param": null, "event_id": client_event_id}}),
                );
            }
        }
        _ => unreachable!("Check::event accepts only known types"),
    }
    Ok(())
}

fn not_found(id: &str) -> Problem {
    Problem::new(
        "item_not_found",
        Some("item_id"),
        format!("Item with item_id '{id}' not found in the conversation."),
    )
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

fn next_reply(s: &mut State, script: &Script) -> Reply {
    if script.replies.is_empty() {
        return Reply::audio(8000, "Hello, how can I help?");
    }
    let i = s.next_reply.min(script.replies.len() - 1);
    s.next_reply += 1;
    script.replies[i].clone()
}

fn usage(audio_bytes: usize, transcript: &str) -> Value {
    // Deterministic numbers shaped like §6.2: 1 audio token per 50 ms, 1 text token per word.
    let audio_tokens = audio_bytes.div_ceil(400);
    let text_tokens = transcript.split_whitespace().count();
    let output = audio_tokens + text_tokens;
    json!({"total_tokens": 120 + output, "input_tokens": 120, "output_tokens": output,
           "input_token_details": {"text_tokens": 100, "audio_tokens": 20, "image_tokens": 0,
                                   "cached_tokens": 64,
                                   "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 0,
                                                             "image_tokens": 0}},
           "output_token_details": {"text_tokens": text_tokens, "audio_tokens": audio_tokens}})
}

fn response_object(id: &str, status: &str, details: Value, output: Value, usage: Value) -> Value {
    json!({"object": "realtime.response", "id": id, "status": status,
           "status_details": details, "conversation_id": "conv_fake",
           "output_modalities": ["audio"], "output": output, "usage": usage,
           "audio": {"output": {"format": {"type": "audio/pcmu"}, "voice": "marin"}},
           "max_output_tokens": "inf", "metadata": null})
}

/// Starts a response on connection `c`: `response.created` now, the rest from a task.
fn start_response(s: &mut State, shared: &Arc<Shared>, c: usize, reply: Reply) -> String {
    let nonce = shared.nonce.as_str();
    let response_id = s.id(nonce, "resp");
    let item_id = s.id(nonce, "item");
    let item = |status: &str, content: Value| {
        json!({"id": item_id, "object": "realtime.item", "type": "message",
               "role": "assistant", "status": status, "content": content})
    };
    s.conns[c].active = Some(Active {
        response_id: response_id.clone(),
        item_id: item_id.clone(),
    });
    s.conns[c].items.push(Item {
        id: item_id.clone(),
        role: "assistant",
        audio_sent: 0,
        value: item("in_progress", json!([])),
    });
    s.emit(
        nonce,
        c,
        json!({"type": "response.created",
               "response": response_object(&response_id, "in_progress", Value::Null, json!([]), Value::Null)}),
    );

    let ids = json!({"response_id": response_id, "item_id": item_id, "output_index": 0,
                     "content_index": 0});
    let with_ids = |mut v: Value| {
        for (k, val) in ids.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let transcript = reply.transcript.as_str();
    let total: usize = reply.chunks.iter().map(Vec::len).sum();
    let done_item = item(
        "completed",
        json!([{"type": "output_audio", "transcript": transcript}]),
    );
    // Transcript words are spread over the audio deltas, as the real server interleaves them.
    let words: Vec<String> = transcript.split_inclusive(' ').map(str::to_owned).collect();
    let n = reply.chunks.len().max(1);
    let mut steps: Vec<(Value, usize)> = vec![
        (
            json!({"type": "rate_limits.updated", "rate_limits": [
                {"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 0.06},
                {"name": "tokens", "limit": 50000, "remaining": 49000, "reset_seconds": 1.2}]}),
            0,
        ),
        (
            json!({"type": "response.output_item.added", "response_id": response_id,
                   "output_index": 0, "item": item("in_progress", json!([]))}),
            0,
        ),
        (
            with_ids(json!({"type": "response.content_part.added",
                            "part": {"type": "audio", "transcript": ""}})),
            0,
        ),
    ];
    let mut next_word = 0;
    for (i, chunk) in reply.chunks.iter().enumerate() {
        let delta = base64::engine::general_purpose::STANDARD.encode(chunk);
        steps.push((
            with_ids(json!({"type": "response.output_audio.delta", "delta": delta})),
            chunk.len(),
        ));
        let upto = (i + 1) * words.len() / n;
        for w in &words[next_word..upto] {
            steps.push((
                with_ids(json!({"type": "response.output_audio_transcript.delta", "delta": w})),
                0,
            ));
        }
        next_word = upto;
    }
    for w in &words[next_word..] {
        steps.push((
            with_ids(json!({"type": "response.output_audio_transcript.delta", "delta": w})),
            0,
        ));
    }
    for event in [
        with_ids(json!({"type": "response.output_audio.done"})),
        with_ids(
            json!({"type": "response.output_audio_transcript.done", "transcript": transcript}),
        ),
        with_ids(json!({"type": "response.content_part.done",
                        "part": {"type": "audio", "transcript": transcript}})),
        json!({"type": "response.output_item.done", "response_id": response_id,
               "output_index": 0, "item": done_item}),
        json!({"type": "response.done", "response": response_object(
            &response_id, "completed", Value::Null, json!([done_item]), usage(total, transcript))}),
    ] {
        steps.push((event, 0));
    }
    tokio::spawn(stream_response(
        shared.clone(),
        c,
        response_id.clone(),
        steps,
        shared.script.delta_interval,
    ));
    response_id
}

async fn stream_response(
    shared: Arc<Shared>,
    c: usize,
    response_id: String,
    steps: Vec<(Value, usize)>,
    interval: Duration,
) {
    let last = steps.len() - 1;
    for (i, (event, audio)) in steps.into_iter().enumerate() {
        let sent = shared.state.update(|s| {
            let conn = &mut s.conns[c];
            let Some(active) = conn
                .active
                .as_ref()
                .filter(|a| a.response_id == response_id)
            else {
                return false; // cancelled or the connection ended
            };
            let item_id = active.item_id.clone();
            if audio > 0 {
                conn.spoken = true;
            }
            if i == last {
                conn.active = None;
            }
            if let Some(item) = s.item(c, &item_id) {
                item.audio_sent += audio;
                if i == last {
                    item.value = event["response"]["output"][0].clone();
                }
            }
            s.emit(&shared.nonce, c, event);
            true
        });
        if !sent {
            return;
        }
        if audio > 0 && !interval.is_zero() {
            tokio::time::sleep(interval).await;
        }
    }
}

/// Ends the in-flight response: `response.done` with status `cancelled` and this reason.
fn cancel_response(s: &mut State, nonce: &str, c: usize, reason: &str) {
    let Some(active) = s.conns[c].active.take() else {
        return;
    };
    let (sent, output) = match s.item(c, &active.item_id) {
        Some(item) => {
            item.value["status"] = json!("incomplete");
            (item.audio_sent, json!([item.value.clone()]))
        }
        None => (0, json!([])),
    };
    s.emit(
        nonce,
        c,
        json!({"type": "response.done", "response": response_object(
            &active.response_id, "cancelled", json!({"type": "cancelled", "reason": reason}),
            output, usage(sent, ""))}),
    );
}

// ---------------------------------------------------------------------------------------------
// Validation of client events against the GA shapes (§2, §3, §5, §7)
// ---------------------------------------------------------------------------------------------

const GA_CLIENT_EVENTS: [&str; 11] = [
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
];

/// Beta session fields (§3) and where GA moved them.
const BETA_SESSION_FIELDS: [(&str, &str); 10] = [
    ("modalities", "output_modalities"),
    ("voice", "audio.output.voice"),
    ("input_audio_format", "audio.input.format"),
    ("output_audio_format", "audio.output.format"),
    ("input_audio_transcription", "audio.input.transcription"),
    ("turn_detection", "audio.input.turn_detection"),
    ("input_audio_noise_reduction", "audio.input.noise_reduction"),
    ("max_response_output_tokens", "max_output_tokens"),
    ("temperature", "nothing: GA has no temperature"),
    ("speed", "audio.output.speed"),
];

const BETA_RESPONSE_FIELDS: [(&str, &str); 5] = [
    ("modalities", "output_modalities"),
    ("voice", "audio.output.voice"),
    ("output_audio_format", "audio.output.format"),
    ("max_response_output_tokens", "max_output_tokens"),
    ("temperature", "nothing: GA has no temperature"),
];

const VOICES: [&str; 10] = [
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar",
];

const TRANSCRIPTION_MODELS: [&str; 8] = [
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-4o-transcribe-diarize",
    "gpt-transcribe",
    "gpt-live-transcribe",
    "gpt-realtime-whisper",
];

/// 15 MiB per append (§4).
const MAX_APPEND_BYTES: usize = 15 * 1024 * 1024;

#[derive(Default)]
struct Check {
    problems: Vec<Problem>,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

impl Check {
    fn fail(&mut self, code: &'static str, param: &str, message: String) {
        self.problems.push(Problem::new(code, Some(param), message));
    }

    fn invalid(&mut self, param: &str, message: String) {
        self.fail("invalid_value", param, message);
    }

    fn wrong_type(&mut self, param: &str, expected: &str, got: &Value) {
        self.fail(
            "invalid_type",
            param,
            format!(
                "Invalid type for '{param}': expected {expected}, but got {}.",
                kind(got)
            ),
        );
    }

    /// Flags keys outside `allowed`; beta keys name their GA replacement.
    fn keys(
        &mut self,
        map: &Map<String, Value>,
        prefix: &str,
        allowed: &[&str],
        beta: &[(&str, &str)],
    ) {
        for key in map.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let param = join(prefix, key);
            let message = match beta.iter().find(|(b, _)| b == key) {
                Some((_, ga)) => {
                    format!("Unknown parameter: '{param}'. (beta-shape field; GA uses {ga})")
                }
                None => format!("Unknown parameter: '{param}'."),
            };
            self.fail("unknown_parameter", &param, message);
        }
    }

    fn object<'v>(&mut self, v: &'v Value, param: &str) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.wrong_type(param, "an object", other);
                None
            }
        }
    }

    /// The value under `key`, flagging it if `required` and absent.
    fn field<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        prefix: &str,
        key: &str,
        required: bool,
    ) -> Option<&'v Value> {
        let v = map.get(key);
        if v.is_none() && required {
            let param = join(prefix, key);
            self.fail(
                "missing_required_parameter",
                &param,
                format!("Missing required parameter: '{param}'."),
            );
        }
        v
    }

    fn string<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        prefix: &str,
        key: &str,
        required: bool,
    ) -> Option<&'v str> {
        match self.field(map, prefix, key, required)? {
            Value::String(s) => Some(s),
            other => {
                self.wrong_type(&join(prefix, key), "a string", other);
                None
            }
        }
    }

    fn one_of(&mut self, map: &Map<String, Value>, prefix: &str, key: &str, values: &[&str]) {
        if let Some(v) = self.string(map, prefix, key, false)
            && !values.contains(&v)
        {
            self.invalid(
                &join(prefix, key),
                format!(
                    "Invalid value: '{v}'. Supported values are: {}.",
                    values.join(", ")
                ),
            );
        }
    }

    fn boolean(&mut self, map: &Map<String, Value>, prefix: &str, key: &str) {
        if let Some(v) = map.get(key)
            && !v.is_boolean()
        {
            self.wrong_type(&join(prefix, key), "a boolean", v);
        }
    }

    fn number_in(&mut self, map: &Map<String, Value>, prefix: &str, key: &str, lo: f64, hi: f64) {
        match map.get(key) {
            None => {}
            Some(Value::Number(n)) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if !(lo..=hi).contains(&x) {
                    self.invalid(
                        &join(prefix, key),
                        format!(
                            "'{}' must be between {lo} and {hi}; got {x}.",
                            join(prefix, key)
                        ),
                    );
                }
            }
            Some(other) => self.wrong_type(&join(prefix, key), "a number", other),
        }
    }

    fn non_negative_int(
        &mut self,
        map: &Map<String, Value>,
        prefix: &str,
        key: &str,
        null_ok: bool,
    ) {
        match map.get(key) {
            None => {}
            Some(Value::Null) if null_ok => {}
            Some(v) if v.is_u64() => {}
            Some(v) if v.is_i64() => self.invalid(
                &join(prefix, key),
                format!("'{}' must be >= 0.", join(prefix, key)),
            ),
            Some(other) => self.wrong_type(&join(prefix, key), "an integer", other),
        }
    }

    // --- events ---

    fn event(&mut self, event: &Value) {
        let map = event.as_object().expect("checked by the caller");
        if let Some(id) = map.get("event_id")
            && !id.is_string()
        {
            self.wrong_type("event_id", "a string", id);
        }
        let ty = match map.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(other) => return self.wrong_type("type", "a string", other),
            None => {
                return self.fail(
                    "missing_required_parameter",
                    "type",
                    "Missing required parameter: 'type'.".into(),
                );
            }
        };
        if !GA_CLIENT_EVENTS.contains(&ty) {
            return self.invalid(
                "type",
                format!(
                    "Invalid value: '{ty}'. Supported values are: {}.",
                    GA_CLIENT_EVENTS.join(", ")
                ),
            );
        }
        let base = ["type", "event_id"];
        let with = |extra: &[&'static str]| -> Vec<&'static str> {
            base.iter().chain(extra).copied().collect()
        };
        match ty {
            "session.update" => {
                self.keys(map, "", &with(&["session"]), &[]);
                if let Some(session) = self.field(map, "", "session", true)
                    && let Some(session) = self.object(session, "session")
                {
                    self.session(session);
                }
            }
            "input_audio_buffer.append" => {
                self.keys(map, "", &with(&["audio"]), &[]);
                if let Some(audio) = self.string(map, "", "audio", true) {
                    self.base64_audio(audio, "audio");
                }
            }
            "input_audio_buffer.commit" | "input_audio_buffer.clear" => {
                self.keys(map, "", &base, &[]);
            }
            "conversation.item.create" => {
                self.keys(map, "", &with(&["previous_item_id", "item"]), &[]);
                self.string(map, "", "previous_item_id", false);
                if let Some(item) = self.field(map, "", "item", true) {
                    self.item(item, "item");
                }
            }
            "conversation.item.retrieve" | "conversation.item.delete" => {
                self.keys(map, "", &with(&["item_id"]), &[]);
                self.string(map, "", "item_id", true);
            }
            "conversation.item.truncate" => {
                self.keys(
                    map,
                    "",
                    &with(&["item_id", "content_index", "audio_end_ms"]),
                    &[],
                );
                self.string(map, "", "item_id", true);
                if let Some(ci) = self.field(map, "", "content_index", true) {
                    if !ci.is_u64() {
                        self.wrong_type("content_index", "an integer", ci);
                    } else if ci != 0 {
                        self.invalid(
                            "content_index",
                            format!("'content_index' must be 0 (audio is part 0); got {ci}."),
                        );
                    }
                }
                if self.field(map, "", "audio_end_ms", true).is_some() {
                    self.non_negative_int(map, "", "audio_end_ms", false);
                }
            }
            "response.create" => {
                self.keys(map, "", &with(&["response"]), &[]);
                if let Some(r) = map.get("response")
                    && let Some(r) = self.object(r, "response")
                {
                    self.response_params(r);
                }
            }
            "response.cancel" => {
                self.keys(map, "", &with(&["response_id"]), &[]);
                self.string(map, "", "response_id", false);
            }
            "output_audio_buffer.clear" => self.invalid(
                "type",
                "output_audio_buffer.clear is for WebRTC/SIP connections only, not WebSocket (§5)."
                    .into(),
            ),
            _ => unreachable!(),
        }
    }

    fn base64_audio(&mut self, audio: &str, param: &str) {
        if audio.is_empty() {
            return self.invalid(param, format!("'{param}' is empty."));
        }
        match base64::engine::general_purpose::STANDARD.decode(audio) {
            Ok(bytes) if bytes.is_empty() => self.invalid(param, format!("'{param}' is empty.")),
            Ok(bytes) if bytes.len() > MAX_APPEND_BYTES => self.invalid(
                param,
                format!(
                    "'{param}' holds {} bytes; the limit is 15 MiB.",
                    bytes.len()
                ),
            ),
            Ok(_) => {}
            Err(e) => self.invalid(param, format!("'{param}' is not valid base64: {e}.")),
        }
    }

    fn session(&mut self, s: &Map<String, Value>) {
        let p = "session";
        self.keys(
            s,
            p,
            &[
                "type",
                "model",
                "instructions",
                "output_modalities",
                "audio",
                "tools",
                "tool_choice",
                "max_output_tokens",
                "include",
                "truncation",
                "tracing",
                "prompt",
                "reasoning",
                "parallel_tool_calls",
            ],
            &BETA_SESSION_FIELDS,
        );
        if let Some(ty) = self.string(s, p, "type", true)
            && ty != "realtime"
        {
            self.invalid(
                "session.type",
                format!("'session.type' must be 'realtime' for a voice session; got '{ty}'."),
            );
        }
        self.string(s, p, "model", false);
        self.string(s, p, "instructions", false);
        self.output_modalities(s, p);
        if let Some(audio) = s.get("audio")
            && let Some(audio) = self.object(audio, "session.audio")
        {
            let p = "session.audio";
            self.keys(audio, p, &["input", "output"], &[]);
            if let Some(input) = audio.get("input")
                && let Some(input) = self.object(input, "session.audio.input")
            {
                self.audio_input(input);
            }
            if let Some(output) = audio.get("output")
                && let Some(output) = self.object(output, "session.audio.output")
            {
                self.audio_output(output, "session.audio.output", true);
            }
        }
        self.tools(s, p);
        self.tool_choice(s, p);
        self.max_output_tokens(s, p);
        if let Some(include) = s.get("include") {
            match include.as_array() {
                Some(list) => {
                    for v in list {
                        if v != "item.input_audio_transcription.logprobs" {
                            self.invalid(
                                "session.include",
                                format!("Invalid value in 'session.include': {v}."),
                            );
                        }
                    }
                }
                None => self.wrong_type("session.include", "an array", include),
            }
        }
    }

    fn output_modalities(&mut self, map: &Map<String, Value>, prefix: &str) {
        let param = join(prefix, "output_modalities");
        let Some(v) = map.get("output_modalities") else {
            return;
        };
        let Some(list) = v.as_array() else {
            return self.wrong_type(&param, "an array", v);
        };
        let ok = list.len() == 1 && (list[0] == "audio" || list[0] == "text");
        if !ok {
            self.invalid(
                &param,
                format!("'{param}' must be [\"audio\"] or [\"text\"], not both; got {v}."),
            );
        }
    }

    fn format(&mut self, v: &Value, param: &str) {
        let Some(f) = v.as_object() else {
            return self.fail(
                "invalid_type",
                param,
                format!(
                    "Invalid type for '{param}': expected an object like {{\"type\":\"audio/pcmu\"}}, but got {} ({v}).",
                    kind(v)
                ),
            );
        };
        self.keys(f, param, &["type", "rate"], &[]);
        match self.string(f, param, "type", true) {
            Some("audio/pcmu" | "audio/pcma") if f.contains_key("rate") => self.fail(
                "unknown_parameter",
                &join(param, "rate"),
                format!("'{param}.rate' applies to audio/pcm only."),
            ),
            Some("audio/pcmu" | "audio/pcma") => {}
            Some("audio/pcm") => {
                if let Some(rate) = f.get("rate")
                    && rate != 24000
                {
                    self.invalid(
                        &join(param, "rate"),
                        format!("'{param}.rate' must be 24000; got {rate}."),
                    );
                }
            }
            Some(other) => self.invalid(
                &join(param, "type"),
                format!(
                    "Invalid value: '{other}'. Supported values are: audio/pcmu, audio/pcma, audio/pcm."
                ),
            ),
            None => {}
        }
    }

    fn audio_input(&mut self, input: &Map<String, Value>) {
        let p = "session.audio.input";
        self.keys(
            input,
            p,
            &[
                "format",
                "noise_reduction",
                "transcription",
                "turn_detection",
            ],
            &[],
        );
        if let Some(f) = input.get("format") {
            self.format(f, "session.audio.input.format");
        }
        if let Some(nr) = input.get("noise_reduction")
            && !nr.is_null()
            && let Some(nr) = self.object(nr, "session.audio.input.noise_reduction")
        {
            let p = "session.audio.input.noise_reduction";
            self.keys(nr, p, &["type"], &[]);
            self.one_of(nr, p, "type", &["near_field", "far_field"]);
        }
        if let Some(t) = input.get("transcription")
            && !t.is_null()
            && let Some(t) = self.object(t, "session.audio.input.transcription")
        {
            let p = "session.audio.input.transcription";
            self.keys(t, p, &["model", "language", "prompt"], &[]);
            self.one_of(t, p, "model", &TRANSCRIPTION_MODELS);
            self.string(t, p, "language", false);
            self.string(t, p, "prompt", false);
        }
        if let Some(td) = input.get("turn_detection")
            && !td.is_null()
            && let Some(td) = self.object(td, "session.audio.input.turn_detection")
        {
            let p = "session.audio.input.turn_detection";
            match self.string(td, p, "type", true) {
                Some("server_vad") => {
                    self.keys(
                        td,
                        p,
                        &[
                            "type",
                            "threshold",
                            "prefix_padding_ms",
                            "silence_duration_ms",
                            "create_response",
                            "interrupt_response",
                            "idle_timeout_ms",
                        ],
                        &[],
                    );
                    self.number_in(td, p, "threshold", 0.0, 1.0);
                    self.non_negative_int(td, p, "prefix_padding_ms", false);
                    self.non_negative_int(td, p, "silence_duration_ms", false);
                    self.non_negative_int(td, p, "idle_timeout_ms", true);
                }
                Some("semantic_vad") => {
                    self.keys(
                        td,
                        p,
                        &["type", "eagerness", "create_response", "interrupt_response"],
                        &[],
                    );
                    self.one_of(td, p, "eagerness", &["low", "medium", "high", "auto"]);
                }
                Some(other) => self.invalid(
                    "session.audio.input.turn_detection.type",
                    format!(
                        "Invalid value: '{other}'. Supported values are: server_vad, semantic_vad."
                    ),
                ),
                None => {}
            }
            self.boolean(td, p, "create_response");
            self.boolean(td, p, "interrupt_response");
        }
    }

    fn audio_output(&mut self, output: &Map<String, Value>, p: &str, speed: bool) {
        let allowed: &[&str] = if speed {
            &["format", "voice", "speed"]
        } else {
            &["format", "voice"]
        };
        self.keys(output, p, allowed, &[]);
        if let Some(f) = output.get("format") {
            self.format(f, &join(p, "format"));
        }
        match output.get("voice") {
            None => {}
            Some(Value::String(v)) if VOICES.contains(&v.as_str()) => {}
            Some(Value::String(v)) => self.invalid(
                &join(p, "voice"),
                format!(
                    "Invalid value: '{v}'. Supported values are: {}.",
                    VOICES.join(", ")
                ),
            ),
            Some(Value::Object(o)) => {
                self.keys(o, &join(p, "voice"), &["id"], &[]);
                self.string(o, &join(p, "voice"), "id", true);
            }
            Some(other) => self.wrong_type(&join(p, "voice"), "a string or {\"id\"}", other),
        }
        self.number_in(output, p, "speed", 0.25, 1.5);
    }

    fn tools(&mut self, map: &Map<String, Value>, prefix: &str) {
        let param = join(prefix, "tools");
        let Some(v) = map.get("tools") else { return };
        let Some(list) = v.as_array() else {
            return self.wrong_type(&param, "an array", v);
        };
        for (i, tool) in list.iter().enumerate() {
            let tp = format!("{param}[{i}]");
            let Some(tool) = self.object(tool, &tp) else {
                continue;
            };
            match self.string(tool, &tp, "type", true) {
                Some("function") => {
                    self.keys(
                        tool,
                        &tp,
                        &["type", "name", "description", "parameters"],
                        &[],
                    );
                    self.string(tool, &tp, "name", true);
                    self.string(tool, &tp, "description", false);
                    if let Some(params) = tool.get("parameters") {
                        self.object(params, &join(&tp, "parameters"));
                    }
                }
                Some("mcp") => self.mcp_tool(tool, &tp),
                Some(other) => self.invalid(
                    &join(&tp, "type"),
                    format!("Invalid value: '{other}'. Supported values are: function, mcp."),
                ),
                None => {}
            }
        }
    }

    /// A remote MCP server tool (openai-realtime.md §7.4).
    fn mcp_tool(&mut self, tool: &Map<String, Value>, tp: &str) {
        self.keys(
            tool,
            tp,
            &[
                "type",
                "server_label",
                "server_url",
                "connector_id",
                "tunnel_id",
                "server_description",
                "headers",
                "authorization",
                "allowed_tools",
                "require_approval",
                "defer_loading",
                "allowed_callers",
            ],
            &[],
        );
        self.string(tool, tp, "server_label", true);
        let sources = ["server_url", "connector_id", "tunnel_id"]
            .iter()
            .filter(|k| tool.contains_key(**k))
            .count();
        if sources != 1 {
            self.invalid(
                tp,
                "Exactly one of server_url, connector_id or tunnel_id is required.".into(),
            );
        }
        if let Some(h) = tool.get("headers") {
            let hp = join(tp, "headers");
            if let Some(h) = self.object(h, &hp) {
                for (k, v) in h {
                    if !v.is_string() {
                        self.wrong_type(&join(&hp, k), "a string", v);
                    }
                }
            }
        }
        match tool.get("require_approval") {
            None | Some(Value::Object(_)) => {}
            Some(Value::String(s)) if s == "always" || s == "never" => {}
            Some(other) => self.invalid(
                &join(tp, "require_approval"),
                format!(
                    "Invalid value: {other}. Supported values are: always, never, or an object."
                ),
            ),
        }
        if let Some(a) = tool.get("allowed_tools")
            && !(a.is_array() || a.is_object())
        {
            self.wrong_type(&join(tp, "allowed_tools"), "an array or an object", a);
        }
    }

    fn tool_choice(&mut self, map: &Map<String, Value>, prefix: &str) {
        let param = join(prefix, "tool_choice");
        match map.get("tool_choice") {
            None => {}
            Some(Value::String(s)) if ["auto", "none", "required"].contains(&s.as_str()) => {}
            Some(Value::Object(o)) => match o.get("type").and_then(Value::as_str) {
                Some("function") => {
                    self.keys(o, &param, &["type", "name"], &[]);
                    self.string(o, &param, "name", true);
                }
                Some("mcp") => {}
                _ => self.invalid(
                    &param,
                    format!("'{param}' objects are {{\"type\":\"function\",\"name\"}} or MCP."),
                ),
            },
            Some(other) => self.invalid(
                &param,
                format!("'{param}' must be auto, none, required or an object; got {other}."),
            ),
        }
    }

    fn max_output_tokens(&mut self, map: &Map<String, Value>, prefix: &str) {
        let param = join(prefix, "max_output_tokens");
        match map.get("max_output_tokens") {
            None => {}
            Some(v) if v == "inf" => {}
            Some(v) if v.as_u64().is_some_and(|n| (1..=4096).contains(&n)) => {}
            Some(v) => self.invalid(
                &param,
                format!("'{param}' must be an integer 1-4096 or \"inf\"; got {v}."),
            ),
        }
    }

    fn response_params(&mut self, r: &Map<String, Value>) {
        let p = "response";
        self.keys(
            r,
            p,
            &[
                "instructions",
                "tools",
                "tool_choice",
                "output_modalities",
                "audio",
                "conversation",
                "input",
                "metadata",
                "max_output_tokens",
                "prompt",
            ],
            &BETA_RESPONSE_FIELDS,
        );
        self.string(r, p, "instructions", false);
        self.tools(r, p);
        self.tool_choice(r, p);
        self.output_modalities(r, p);
        self.max_output_tokens(r, p);
        if let Some(audio) = r.get("audio")
            && let Some(audio) = self.object(audio, "response.audio")
        {
            self.keys(audio, "response.audio", &["output"], &[]);
            if let Some(output) = audio.get("output")
                && let Some(output) = self.object(output, "response.audio.output")
            {
                self.audio_output(output, "response.audio.output", false);
            }
        }
        self.one_of(r, p, "conversation", &["auto", "none"]);
        if let Some(input) = r.get("input") {
            match input.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let ip = format!("response.input[{i}]");
                        if item["type"] == "item_reference" {
                            if let Some(o) = self.object(item, &ip) {
                                self.keys(o, &ip, &["type", "id"], &[]);
                                self.string(o, &ip, "id", true);
                            }
                        } else {
                            self.item(item, &ip);
                        }
                    }
                }
                None => self.wrong_type("response.input", "an array", input),
            }
        }
        if let Some(md) = r.get("metadata")
            && !md.is_null()
            && let Some(md) = self.object(md, "response.metadata")
        {
            if md.len() > 16 {
                self.invalid(
                    "response.metadata",
                    format!("'response.metadata' has {} pairs; at most 16.", md.len()),
                );
            }
            for (k, v) in md {
                let ok = k.len() <= 64 && v.as_str().is_some_and(|v| v.len() <= 512);
                if !ok {
                    self.invalid(
                        "response.metadata",
                        format!("metadata '{k}': keys <= 64 chars, values strings <= 512 chars."),
                    );
                }
            }
        }
    }

    /// A conversation item a client may create (§5, §7).
    fn item(&mut self, item: &Value, p: &str) {
        let Some(item) = self.object(item, p) else {
            return;
        };
        self.string(item, p, "id", false);
        match self.string(item, p, "type", true) {
            Some("message") => {
                self.keys(
                    item,
                    p,
                    &["id", "type", "object", "status", "role", "content"],
                    &[],
                );
                let role = self.string(item, p, "role", true);
                if let Some(role) = role
                    && !["user", "system", "assistant"].contains(&role)
                {
                    self.invalid(
                        &join(p, "role"),
                        format!(
                            "Invalid value: '{role}'. Supported values are: user, system, assistant."
                        ),
                    );
                }
                let cp = join(p, "content");
                match self.field(item, p, "content", true) {
                    Some(Value::Array(parts)) if parts.is_empty() => {
                        self.invalid(&cp, format!("'{cp}' must not be empty."));
                    }
                    Some(Value::Array(parts)) => {
                        for (i, part) in parts.iter().enumerate() {
                            self.content_part(part, &format!("{cp}[{i}]"), role.unwrap_or(""));
                        }
                    }
                    Some(other) => self.wrong_type(&cp, "an array", other),
                    None => {}
                }
            }
            Some("function_call_output") => {
                self.keys(
                    item,
                    p,
                    &["id", "type", "object", "status", "call_id", "output"],
                    &[],
                );
                self.string(item, p, "call_id", true);
                // `output` is a JSON *string* (§7), not an object.
                self.string(item, p, "output", true);
            }
            Some("function_call") => {
                self.keys(
                    item,
                    p,
                    &[
                        "id",
                        "type",
                        "object",
                        "status",
                        "call_id",
                        "name",
                        "arguments",
                    ],
                    &[],
                );
                self.string(item, p, "call_id", true);
                self.string(item, p, "name", true);
                self.string(item, p, "arguments", true);
            }
            Some(other) => self.invalid(
                &join(p, "type"),
                format!(
                    "Invalid value: '{other}'. Supported values are: message, function_call, function_call_output."
                ),
            ),
            None => {}
        }
    }

    fn content_part(&mut self, part: &Value, p: &str, role: &str) {
        let Some(part) = self.object(part, p) else {
            return;
        };
        let Some(ty) = self.string(part, p, "type", true) else {
            return;
        };
        let allowed: &[&str] = match role {
            "user" => &["input_text", "input_audio", "input_image"],
            "system" => &["input_text"],
            _ => &["output_text"],
        };
        if !allowed.contains(&ty) {
            let why = match (role, ty) {
                ("assistant", "output_audio") => {
                    "assistant audio messages cannot be created by the client".to_owned()
                }
                (_, "text" | "audio") => format!("'{ty}' is a beta content type"),
                _ => format!("not a {role} content type"),
            };
            return self.invalid(
                &join(p, "type"),
                format!(
                    "Invalid value: '{ty}' ({why}). Supported values for role '{role}': {}.",
                    allowed.join(", ")
                ),
            );
        }
        match ty {
            "input_text" | "output_text" => {
                self.keys(part, p, &["type", "text"], &[]);
                self.string(part, p, "text", true);
            }
            "input_audio" => {
                self.keys(part, p, &["type", "audio", "transcript"], &[]);
                if let Some(audio) = self.string(part, p, "audio", true) {
                    self.base64_audio(audio, &join(p, "audio"));
                }
                self.string(part, p, "transcript", false);
            }
            _ => {
                self.keys(part, p, &["type", "image_url", "detail"], &[]);
                self.string(part, p, "image_url", true);
            }
        }
    }
}
