//! Twilio Media Streams (protocols/twilio.md §6) as the engine's media session: Twilio
//! connects to `/media/twilio`, sends `connected` and `start` (whose custom parameters name
//! Switchboard's call and agent), then `media`, `mark`, `dtmf` and finally `stop`. We send
//! only `media`, `mark` and `clear`, each carrying the stream's sid: anything else fails
//! Twilio's stream (error 31924).

use axum::extract::State;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde::Deserialize;

use crate::carriers::stream::{self as media, StreamRefused};
use crate::domain::Carrier;
use crate::engine::Engine;
use crate::media::{MediaError, MediaIn, MediaOut, MediaSession};

pub async fn stream(State(engine): State<Engine>, ws: WebSocketUpgrade) -> Response {
    media::small_buffers(ws).on_upgrade(move |socket| run(engine, socket))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Start {
    pub(crate) stream_sid: String,
    pub(crate) call_sid: String,
    #[serde(default)]
    pub(crate) custom_parameters: std::collections::HashMap<String, String>,
    #[serde(default)]
    media_format: Option<MediaFormat>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaFormat {
    encoding: String,
    sample_rate: u32,
}

async fn run(engine: Engine, socket: WebSocket) {
    let Some((socket, start)) = media::started(socket, Carrier::Twilio, read_start).await else {
        return;
    };
    let Some(call_id) = start.custom_parameters.get("call_id").cloned() else {
        tracing::warn!("Twilio media stream without a call_id parameter; closed");
        return media::close(socket, false, "no call_id parameter").await;
    };
    let agent_id = start.custom_parameters.get("agent_id").cloned();
    // A stream Switchboard restarted after playing keys (twiml::play_digits).
    let resumes = start.custom_parameters.get("resume").map(String::as_str) == Some("1");
    let stream = TwilioStream {
        socket,
        stream_sid: start.stream_sid,
    };
    crate::bridge::admission::admit(
        engine,
        Carrier::Twilio,
        &call_id,
        &start.call_sid,
        agent_id.as_deref(),
        resumes,
        stream,
    )
    .await;
}

/// One frame before the stream has started, read as `run` reads it (`None`: `connected`).
pub(crate) fn read_start(text: &str) -> Result<Option<Start>, StreamRefused> {
    media::read_start_frame(text, check_start)
}

/// One frame of a started stream, read as `recv` reads it (`None`: nothing for the call).
pub(crate) fn read_frame(text: &str) -> Result<Option<MediaIn>, MediaError> {
    media::read_frame(text, Carrier::Twilio)
}

fn check_start(start: &Start) -> Result<(), StreamRefused> {
    // Written back unescaped in every frame we send.
    if start.stream_sid.is_empty() || !start.stream_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(StreamRefused::Malformed("streamSid"));
    }
    match &start.media_format {
        Some(f) => media::check_format(&f.encoding, f.sample_rate, "audio/x-mulaw"),
        None => Ok(()),
    }
}

pub struct TwilioStream {
    socket: WebSocket,
    stream_sid: String,
}

impl MediaSession for TwilioStream {
    async fn recv(&mut self) -> Result<MediaIn, MediaError> {
        loop {
            let text = media::next_text(&mut self.socket).await?;
            if let Some(message) = read_frame(text.as_str())? {
                return Ok(message);
            }
        }
    }

    async fn feed(&mut self, out: MediaOut) -> Result<(), MediaError> {
        // Sids and base64 need no JSON escaping; mark names are ours (digits and a dot).
        let sid = &self.stream_sid;
        let text = match out {
            MediaOut::Audio(a) => format!(
                "{{\"event\":\"media\",\"streamSid\":\"{sid}\",\"media\":{{\"payload\":\"{}\"}}}}",
                a.base64()
            ),
            MediaOut::Mark(name) => serde_json::json!({
                "event": "mark", "streamSid": sid, "mark": {"name": name}
            })
            .to_string(),
            MediaOut::Clear => format!("{{\"event\":\"clear\",\"streamSid\":\"{sid}\"}}"),
        };
        media::feed_text(&mut self.socket, text).await
    }

    async fn flush(&mut self) -> Result<(), MediaError> {
        media::flush(&mut self.socket).await
    }

    async fn close(self, reason: &str) {
        media::close(self.socket, true, reason).await;
    }
}
