//! OpenAI Realtime (the GA protocol, `../shared/protocols/openai-realtime.md`) as a voice
//! backend: one WebSocket per call, G.711 μ-law in and out unchanged, server-side turn
//! detection and input transcription. Beta-era names are never sent.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{McpOutcome, VoiceCommand, VoiceConfig, VoiceError, VoiceEvent, VoiceSession};
use crate::media::G711;

/// Input transcription model: the transcript the call log keeps of what the caller said.
const TRANSCRIPTION_MODEL: &str = "gpt-4o-mini-transcribe";
/// How long connecting (TCP, TLS, upgrade and the first `session.created`) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct OpenAiRealtime {
    ws: Socket,
    next_event: u64,
    reader: Reader,
}

/// The server's events read into the bridge's, with what that takes remembering.
#[derive(Default)]
pub(crate) struct Reader {
    configured: bool,
    /// Events read from one server event that carried several (a response's function calls).
    queued: std::collections::VecDeque<VoiceEvent>,
    /// The MCP servers' tool-list items by id, to name the server when listing fails.
    mcp_lists: std::collections::HashMap<String, String>,
}

impl std::fmt::Debug for OpenAiRealtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiRealtime")
            .field("configured", &self.reader.configured)
            .finish_non_exhaustive()
    }
}

/// The server events the bridge consumes, read without building a JSON tree per audio chunk.
#[derive(Deserialize)]
struct ServerEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    delta: Option<String>,
    #[serde(default)]
    item_id: Option<String>,
    #[serde(default)]
    transcript: Option<String>,
    #[serde(default)]
    error: Option<Value>,
    /// On `response.done`: the response, with its status and output items.
    #[serde(default)]
    response: Option<Value>,
    /// On `conversation.item.*`: the item (an MCP server's tool list names its server).
    #[serde(default)]
    item: Option<Value>,
}

impl OpenAiRealtime {
    /// Connects to `base_url` (`…/v1/realtime`; `?model=` is added) and configures the
    /// session. Returns once the server has accepted the connection; `Ready` follows from
    /// `recv` when the configuration is in force.
    pub async fn connect(
        base_url: &str,
        api_key: &str,
        config: &VoiceConfig,
    ) -> Result<Self, VoiceError> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::open(base_url, api_key, config))
            .await
            .map_err(|_| VoiceError::Unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
    }

    async fn open(base_url: &str, api_key: &str, config: &VoiceConfig) -> Result<Self, VoiceError> {
        let mut url = url::Url::parse(base_url)
            .map_err(|e| VoiceError::Unreachable(format!("bad backend URL: {e}")))?;
        url.query_pairs_mut().append_pair("model", &config.model);
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| VoiceError::Unreachable(format!("bad backend URL: {e}")))?;
        let auth = HeaderValue::from_str(&format!("Bearer {api_key}"))
            .map_err(|_| VoiceError::Refused("the OpenAI API key has invalid characters".into()))?;
        request.headers_mut().insert("authorization", auth);
        // No Nagle: each 20 ms frame should leave at once.
        // Small read buffer: see `media::WS_READ_BUFFER`.
        let ws_config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(crate::media::WS_READ_BUFFER);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(ws_config), true)
            .await
            .map_err(|e| match e {
                WsError::Http(res) => VoiceError::Refused(redact_keys(&format!(
                    "HTTP {}{}",
                    res.status(),
                    res.body()
                        .as_deref()
                        .map(|b| format!(
                            ": {}",
                            String::from_utf8_lossy(b)
                                .chars()
                                .take(200)
                                .collect::<String>()
                        ))
                        .unwrap_or_default()
                ))),
                other => VoiceError::Unreachable(other.to_string()),
            })?;
        let mut session = Self {
            ws,
            next_event: 0,
            reader: Reader::default(),
        };
        // The server speaks first; anything else means this is not a Realtime endpoint.
        let first = loop {
            if let Some(event) = parse(&session.next_text().await?) {
                break event;
            }
        };
        match first {
            e if e.kind == "session.created" => {}
            e if e.kind == "error" => return Err(VoiceError::Refused(error_text(&e))),
            e => {
                return Err(VoiceError::Refused(format!(
                    "expected session.created, got {}",
                    e.kind
                )));
            }
        }
        let update = json!({
            "type": "session.update",
            "event_id": session.event_id(),
            "session": {
                "type": "realtime",
                "model": config.model,
                "output_modalities": ["audio"],
                "instructions": config.instructions,
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcmu"},
                        "transcription": {"model": TRANSCRIPTION_MODEL},
                        "turn_detection": turn_detection(config.replies)
                    },
                    "output": {
                        "format": {"type": "audio/pcmu"},
                        "voice": config.voice
                    }
                },
                "tools": config.tools.iter().map(|t| json!({
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                })).chain(config.mcp.iter().map(mcp_tool)).collect::<Vec<_>>(),
                "tool_choice": "auto"
            }
        });
        session.send_json(update.to_string()).await?;
        Ok(session)
    }

    fn event_id(&mut self) -> String {
        self.next_event += 1;
        format!("sb_{}", self.next_event)
    }

    async fn send_json(&mut self, text: String) -> Result<(), VoiceError> {
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|e| VoiceError::Lost(e.to_string()))
    }

    /// The next text message, skipping pings and such. Cancel-safe: one `next()` per message.
    async fn next_text(&mut self) -> Result<tokio_tungstenite::tungstenite::Utf8Bytes, VoiceError> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => return Ok(text),
                Some(Ok(Message::Close(frame))) => {
                    return Err(VoiceError::Lost(match frame {
                        Some(f) => format!(
                            "closed by the backend ({}: {})",
                            u16::from(f.code),
                            redact_keys(&f.reason)
                        ),
                        None => "closed by the backend".into(),
                    }));
                }
                Some(Ok(_)) => {} // ping/pong/binary: nothing for the bridge
                Some(Err(e)) => return Err(VoiceError::Lost(e.to_string())),
                None => return Err(VoiceError::Lost("connection ended".into())),
            }
        }
    }
}

/// A server event as read; an unreadable one is logged and skipped.
fn parse(text: &str) -> Option<ServerEvent> {
    serde_json::from_str(text)
        .inspect_err(|e| tracing::warn!(error = %e, "unreadable event from the voice backend"))
        .ok()
}

impl Reader {
    /// What one server event (a text message) means to the bridge; `None` for one that
    /// means nothing to it. A response's function and MCP calls wait in `queued`.
    pub(crate) fn read(&mut self, text: &str) -> Option<VoiceEvent> {
        let e = parse(text)?;
        Some(match e.kind.as_str() {
            "response.output_audio.delta" => match (e.item_id, e.delta) {
                (Some(item_id), Some(delta)) => match G711::from_base64(delta) {
                    Ok(audio) => VoiceEvent::Audio { item_id, audio },
                    Err(err) => VoiceEvent::Warning(format!("agent audio: {err}")),
                },
                _ => VoiceEvent::Warning("agent audio without item or data".into()),
            },
            "response.output_audio.done" => match e.item_id {
                Some(item_id) => VoiceEvent::AudioDone { item_id },
                None => return None,
            },
            "input_audio_buffer.speech_started" => VoiceEvent::SpeechStarted { item_id: e.item_id },
            "response.created" => VoiceEvent::ResponseStarted,
            "response.done" => {
                // Its function calls follow its end, and only if it completed: the
                // `.done` events also come for a response cut short (§7.2).
                if let Some(r) = e.response.as_ref() {
                    self.queued.extend(mcp_calls(r));
                    self.queued.extend(tool_calls(r));
                }
                VoiceEvent::ResponseDone
            }
            "conversation.item.added" | "conversation.item.done" => {
                let item = e.item.as_ref();
                if let Some(item) = item.filter(|i| i["type"] == "mcp_list_tools")
                    && let (Some(id), Some(label)) =
                        (item["id"].as_str(), item["server_label"].as_str())
                {
                    self.mcp_lists.insert(id.to_owned(), label.to_owned());
                }
                return None;
            }
            "mcp_list_tools.failed" => VoiceEvent::McpUnavailable {
                server: e
                    .item_id
                    .and_then(|id| self.mcp_lists.get(&id).cloned())
                    .unwrap_or_else(|| "(unnamed)".into()),
            },
            "conversation.item.input_audio_transcription.completed" => {
                match e.transcript.filter(|t| !t.trim().is_empty()) {
                    Some(t) => VoiceEvent::CallerSaid {
                        item_id: e.item_id,
                        text: t.trim().to_owned(),
                    },
                    None => return None,
                }
            }
            "response.output_audio_transcript.done" => {
                match e.transcript.filter(|t| !t.trim().is_empty()) {
                    Some(t) => VoiceEvent::AgentSaid {
                        item_id: e.item_id,
                        text: t.trim().to_owned(),
                    },
                    None => return None,
                }
            }
            "session.updated" if !self.configured => {
                self.configured = true;
                VoiceEvent::Ready
            }
            "session.updated" => VoiceEvent::InstructionsApplied,
            "error" => VoiceEvent::Warning(error_text(&e)),
            _ => return None,
        })
    }

    /// The next event a server event carried beside the one it was read as.
    pub(crate) fn queued(&mut self) -> Option<VoiceEvent> {
        self.queued.pop_front()
    }
}

/// Server VAD, answering and interrupting by itself or not at all (VAD and transcription go on
/// either way, §7.6). The whole object is sent each time: whether an update merges nested
/// objects is unconfirmed.
fn turn_detection(replies: bool) -> Value {
    json!({
        "type": "server_vad",
        "create_response": replies,
        "interrupt_response": replies
    })
}

/// An MCP server as a session tool (§7.4). A phone call has nobody to approve a call, so
/// none is asked for.
fn mcp_tool(m: &super::McpTool) -> Value {
    let mut tool = json!({
        "type": "mcp",
        "server_label": m.label,
        "server_url": m.url,
        "require_approval": "never",
    });
    if !m.description.is_empty() {
        tool["server_description"] = json!(m.description);
    }
    if !m.allowed_tools.is_empty() {
        tool["allowed_tools"] = json!(m.allowed_tools);
    }
    if !m.headers.is_empty() {
        let headers: serde_json::Map<String, Value> = m
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        tool["headers"] = Value::Object(headers);
    }
    tool
}

/// The MCP calls the backend made in a response (its `mcp_call` output items), however the
/// response ended: a call made is a call made.
fn mcp_calls(response: &Value) -> Vec<VoiceEvent> {
    let Some(output) = response["output"].as_array() else {
        return Vec::new();
    };
    output
        .iter()
        .filter(|item| item["type"] == "mcp_call")
        .filter_map(|item| {
            let error = &item["error"];
            let outcome = if error.is_null() {
                McpOutcome::Answered(item["output"].as_str().unwrap_or_default().to_owned())
            } else {
                McpOutcome::Failed(
                    error["message"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| error.to_string()),
                )
            };
            Some(VoiceEvent::McpCalled {
                server: item["server_label"].as_str()?.to_owned(),
                name: item["name"].as_str()?.to_owned(),
                arguments: item["arguments"].as_str().unwrap_or("{}").to_owned(),
                outcome,
            })
        })
        .collect()
}

/// The function calls of a completed response (`response.done`'s `response`).
fn tool_calls(response: &Value) -> Vec<VoiceEvent> {
    if response["status"] != "completed" {
        return Vec::new();
    }
    let Some(output) = response["output"].as_array() else {
        return Vec::new();
    };
    output
        .iter()
        .filter(|item| item["type"] == "function_call")
        .filter_map(|item| {
            Some(VoiceEvent::ToolCall {
                call_id: item["call_id"].as_str()?.to_owned(),
                name: item["name"].as_str()?.to_owned(),
                arguments: item["arguments"].as_str().unwrap_or("{}").to_owned(),
            })
        })
        .collect()
}

fn error_text(e: &ServerEvent) -> String {
    let err = e.error.as_ref();
    let field = |k: &str| {
        err.and_then(|v| v[k].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    redact_keys(&match (field("code"), field("message")) {
        (c, m) if c.is_empty() => m,
        (c, m) => format!("{c}: {m}"),
    })
}

/// Backend messages end up in call records and logs. OpenAI quotes (masked) API keys back
/// in some errors ("Incorrect API key provided: sk-proj-****abcd."): drop any word that
/// looks like a key, masked or not.
fn redact_keys(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let bare = word.trim_end();
            if !bare.starts_with("sk-") {
                return word.to_owned();
            }
            let space = &word[bare.len()..];
            let stop = if bare.ends_with(['.', ',', ';', ')']) {
                &bare[bare.len() - 1..]
            } else {
                ""
            };
            format!("[key redacted]{stop}{space}")
        })
        .collect()
}

impl VoiceSession for OpenAiRealtime {
    async fn send(&mut self, command: VoiceCommand) -> Result<(), VoiceError> {
        let text = match command {
            // The hot path: base64 needs no JSON escaping, so no serializer.
            VoiceCommand::Audio(audio) => format!(
                "{{\"type\":\"input_audio_buffer.append\",\"audio\":\"{}\"}}",
                audio.base64()
            ),
            VoiceCommand::Instructions(instructions) => json!({
                "type": "session.update",
                "event_id": self.event_id(),
                "session": {"type": "realtime", "instructions": instructions}
            })
            .to_string(),
            VoiceCommand::Greet(greeting) => json!({
                "type": "response.create",
                "event_id": self.event_id(),
                "response": {
                    "instructions": format!(
                        "Greet the caller by saying exactly this, then wait for them: {greeting}"
                    )
                }
            })
            .to_string(),
            VoiceCommand::Say(text) => json!({
                "type": "response.create",
                "event_id": self.event_id(),
                "response": {
                    "instructions": format!(
                        "You are speaking to an answering machine. Say exactly this, then stop: {text}"
                    )
                }
            })
            .to_string(),
            VoiceCommand::Hold(text) => json!({
                "type": "response.create",
                "event_id": self.event_id(),
                "response": {
                    "instructions": format!(
                        "A tool you called is still working. Say exactly this, then stop and \
                         wait for its result: {text}"
                    )
                }
            })
            .to_string(),
            VoiceCommand::CallerText(text) => json!({
                "type": "conversation.item.create",
                "event_id": self.event_id(),
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}]
                }
            })
            .to_string(),
            VoiceCommand::Pause | VoiceCommand::Resume => json!({
                "type": "session.update",
                "event_id": self.event_id(),
                "session": {"type": "realtime", "audio": {"input": {
                    "turn_detection": turn_detection(matches!(command, VoiceCommand::Resume))
                }}}
            })
            .to_string(),
            VoiceCommand::Cancel => json!({
                "type": "response.cancel",
                "event_id": self.event_id(),
            })
            .to_string(),
            VoiceCommand::Note(text) => json!({
                "type": "conversation.item.create",
                "event_id": self.event_id(),
                "item": {
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "input_text", "text": text}]
                }
            })
            .to_string(),
            VoiceCommand::Respond => json!({
                "type": "response.create",
                "event_id": self.event_id(),
            })
            .to_string(),
            VoiceCommand::ToolResult { call_id, output } => json!({
                "type": "conversation.item.create",
                "event_id": self.event_id(),
                "item": {
                    "type": "function_call_output",
                    "call_id": call_id,
                    "output": output
                }
            })
            .to_string(),
            VoiceCommand::Truncate {
                item_id,
                audio_end_ms,
            } => json!({
                "type": "conversation.item.truncate",
                "event_id": self.event_id(),
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": audio_end_ms
            })
            .to_string(),
        };
        self.send_json(text).await
    }

    async fn recv(&mut self) -> Result<VoiceEvent, VoiceError> {
        if let Some(queued) = self.reader.queued() {
            return Ok(queued);
        }
        loop {
            let text = self.next_text().await?;
            if let Some(event) = self.reader.read(&text) {
                return Ok(event);
            }
        }
    }

    async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_quoted_back_by_the_backend_are_redacted() {
        assert_eq!(
            redact_keys("Incorrect API key provided: sk-proj-****abcd. You can find it"),
            "Incorrect API key provided: [key redacted]. You can find it"
        );
        assert_eq!(redact_keys("sk-test-realtime"), "[key redacted]");
        assert_eq!(redact_keys("no keys here"), "no keys here");
    }
}
