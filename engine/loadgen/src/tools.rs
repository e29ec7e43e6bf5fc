//! A tool's round trip through the engine: calls stream audio through a `switchboard serve`
//! process to a fake OpenAI Realtime backend that, round after round, has the model call an
//! HTTP tool (a `response.done` carrying a function call); the tool is a loopback server that
//! answers at once. What the engine adds is timed on both legs, on one clock: from the model's
//! call leaving the backend to the tool's request arriving, and from the tool's answer to the
//! `function_call_output` arriving at the backend. The tool's own time is not in it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

use super::media::{Call, Samples, ws_config};
use super::{EngineProcess, Percentiles, TOKEN, setup, tempfile_dir};

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Concurrent calls, each calling the tool round after round.
    #[arg(long, default_value_t = 10)]
    pub calls: u32,
    /// Tool calls per call.
    #[arg(long, default_value_t = 200)]
    pub rounds: u32,
    /// Pause between one round's output and the next call, per call.
    #[arg(long, default_value_t = 20)]
    pub pause_ms: u64,
}

#[derive(Debug)]
pub struct Report {
    pub calls: u32,
    pub rounds: u64,
    pub to_request: Option<Percentiles>,
    pub to_output: Option<Percentiles>,
    pub added: Option<Percentiles>,
    /// Rounds whose output never came (or came as an error).
    pub lost: u64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} calls, {} tool round trips, {} lost",
            self.calls, self.rounds, self.lost
        )?;
        if let Some(p) = self.to_request {
            writeln!(f, "model's call -> tool request arrives: {p}")?;
        }
        if let Some(p) = self.to_output {
            writeln!(f, "tool's answer -> function_call_output arrives: {p}")?;
        }
        if let Some(p) = self.added {
            write!(f, "added by the engine, both legs: {p}")?;
        }
        Ok(())
    }
}

/// When each leg's ends happened, by round key, on this process's clock.
#[derive(Default)]
struct Times {
    called: HashMap<String, Instant>,
    requested: HashMap<String, Instant>,
    answered: HashMap<String, Instant>,
    output: HashMap<String, (Instant, bool)>,
}

type Shared = Arc<Mutex<Times>>;

pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let times: Shared = Arc::default();
    let tool = TcpListener::bind("127.0.0.1:0").await?;
    let tool_url = format!("http://{}/tool", tool.local_addr()?);
    let app = axum::Router::new()
        .route("/tool", axum::routing::post(answer))
        .with_state(times.clone());
    tokio::spawn(async move { axum::serve(tool, app).await });
    let backend = TcpListener::bind("127.0.0.1:0").await?;
    let backend_url = format!("ws://{}/v1/realtime", backend.local_addr()?);
    tokio::spawn(fake_backend(backend, opts.clone(), times.clone()));

    let dir = tempfile_dir()?;
    let engine = EngineProcess::spawn(
        &dir,
        &["--openai-realtime-url", &backend_url],
        &[("OPENAI_API_KEY", "loadgen-openai-key")],
    )
    .await?;
    setup(&engine.control, opts.calls).await?;
    give_tool(&engine.control, &tool_url).await?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let connected = Arc::new(AtomicU64::new(0));
    let mut calls = tokio::task::JoinSet::new();
    let epoch = Instant::now();
    for index in 0..opts.calls {
        let call = Call {
            index,
            public: engine.public.clone(),
            http: reqwest::Client::new(),
            epoch,
            samples: Arc::new(Samples::default()),
            stop: stop_rx.clone(),
        };
        let connected = connected.clone();
        calls.spawn(async move { call.run(&connected).await });
    }
    // Every round of every call, or a minute: whichever comes first.
    let expected = u64::from(opts.calls) * u64::from(opts.rounds);
    let deadline = Instant::now() + Duration::from_secs(60);
    while (times.lock().await.output.len() as u64) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    while calls.join_next().await.is_some() {}
    engine.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);

    let t = times.lock().await;
    let (mut to_request, mut to_output, mut added) = (Vec::new(), Vec::new(), Vec::new());
    let mut lost = 0;
    for (key, called) in &t.called {
        let legs = (t.requested.get(key), t.answered.get(key), t.output.get(key));
        match legs {
            (Some(requested), Some(answered), Some((output, true))) => {
                let a = requested.duration_since(*called);
                let b = output.duration_since(*answered);
                to_request.push(a);
                to_output.push(b);
                added.push(a + b);
            }
            _ => lost += 1,
        }
    }
    Ok(Report {
        calls: opts.calls,
        rounds: t.called.len() as u64,
        to_request: Percentiles::of(&mut to_request),
        to_output: Percentiles::of(&mut to_output),
        added: Percentiles::of(&mut added),
        lost,
    })
}

/// The agent gets one HTTP tool: the loopback server.
async fn give_tool(control: &str, url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let agents: Value = http
        .get(format!("{control}/api/agents"))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = agents[0]["id"].as_str().unwrap_or_default();
    http.put(format!("{control}/api/agents/{id}"))
        .bearer_auth(TOKEN)
        .json(&json!({"tools": [{
            "name": "bench_tool", "url": url,
            "parameters": {"type": "object", "required": ["k"], "properties": {"k": {"type": "string"}}}
        }]}))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

/// The tool: notes when the request arrived and when it answers (at once).
async fn answer(
    axum::extract::State(times): axum::extract::State<Shared>,
    axum::Json(body): axum::Json<Value>,
) -> axum::Json<Value> {
    let arrived = Instant::now();
    let key = body["k"].as_str().unwrap_or_default().to_owned();
    let mut t = times.lock().await;
    t.requested.insert(key.clone(), arrived);
    t.answered.insert(key.clone(), Instant::now());
    axum::Json(json!({"ok": true, "k": key}))
}

type Sink = Arc<
    Mutex<
        futures_util::stream::SplitSink<
            tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
            Message,
        >,
    >,
>;

async fn send(tx: &Sink, v: Value) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    tx.lock().await.send(Message::text(v.to_string())).await
}

/// OpenAI Realtime as far as tool calls need: the session confirmed; every `response.create`
/// answered with an empty response at once; and, once the session is up, round after round
/// a response in which the model calls `bench_tool`, the next only after the last one's
/// output has come.
async fn fake_backend(listener: TcpListener, opts: Options, times: Shared) {
    let mut n = 0u32;
    while let Ok((tcp, _)) = listener.accept().await {
        n += 1;
        let (times, opts) = (times.clone(), opts.clone());
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async_with_config(tcp, Some(ws_config())).await
            else {
                return;
            };
            let (tx, mut rx) = ws.split();
            let tx: Sink = Arc::new(Mutex::new(tx));
            let created = json!({"type": "session.created", "event_id": "e0",
                "session": {"type": "realtime", "id": format!("sess_{n}")}});
            if send(&tx, created).await.is_err() {
                return;
            }
            let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            let mut driver = Some(done_rx);
            let mut responses = 0u32;
            while let Some(Ok(m)) = rx.next().await {
                let Message::Text(text) = m else { continue };
                if text.starts_with("{\"type\":\"input_audio_buffer.append\"") {
                    continue;
                }
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                match v["type"].as_str() {
                    Some("session.update") => {
                        let updated = json!({"type": "session.updated", "session": v["session"]});
                        let _ = send(&tx, updated).await;
                        if let Some(done_rx) = driver.take() {
                            tokio::spawn(rounds(
                                n,
                                tx.clone(),
                                done_rx,
                                opts.clone(),
                                times.clone(),
                            ));
                        }
                    }
                    Some("conversation.item.create")
                        if v["item"]["type"] == "function_call_output" =>
                    {
                        let at = Instant::now();
                        let key = v["item"]["call_id"].as_str().unwrap_or_default().to_owned();
                        let ok = v["item"]["output"]
                            .as_str()
                            .is_some_and(|o| !o.contains("\"error\""));
                        times.lock().await.output.insert(key, (at, ok));
                        let _ = done_tx.send(());
                    }
                    Some("response.create") => {
                        responses += 1;
                        let id = format!("resp_plain_{n}_{responses}");
                        let _ = send(
                            &tx,
                            json!({"type": "response.created",
                            "response": {"id": id, "status": "in_progress", "output": []}}),
                        )
                        .await;
                        let _ = send(
                            &tx,
                            json!({"type": "response.done",
                            "response": {"id": id, "status": "completed", "output": []}}),
                        )
                        .await;
                    }
                    _ => {}
                }
            }
        });
    }
}

/// Session `n`'s rounds: the model calls the tool, then waits for the output before the next.
async fn rounds(
    n: u32,
    tx: Sink,
    mut done: tokio::sync::mpsc::UnboundedReceiver<()>,
    opts: Options,
    times: Shared,
) {
    for round in 0..opts.rounds {
        tokio::time::sleep(Duration::from_millis(opts.pause_ms)).await;
        let key = format!("{n}-{round}");
        let item = json!({"type": "function_call", "id": format!("item_{key}"),
            "call_id": key, "name": "bench_tool", "status": "completed",
            "arguments": json!({"k": key}).to_string()});
        let response = |status: &str, output: Value| json!({"id": format!("resp_{key}"), "status": status, "output": output});
        let created =
            json!({"type": "response.created", "response": response("in_progress", json!([]))});
        if send(&tx, created).await.is_err() {
            return;
        }
        times
            .lock()
            .await
            .called
            .insert(key.clone(), Instant::now());
        let done_event =
            json!({"type": "response.done", "response": response("completed", json!([item]))});
        if send(&tx, done_event).await.is_err() {
            return;
        }
        if tokio::time::timeout(Duration::from_secs(10), done.recv())
            .await
            .is_err()
        {
            return;
        }
    }
}
