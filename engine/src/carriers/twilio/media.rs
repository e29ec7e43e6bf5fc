//! Twilio Media Streams (protocols/twilio.md §6) as the engine's media session: Twilio
//! connects to `/media/twilio`, sends `connected` and `start` (whose custom parameters name
//! Switchboard's call and agent), then `media`, `mark`, `dtmf` and finally `stop`. We send
//! only `media`, `mark` and `clear`, each carrying the stream's sid: anything else fails
//! Twilio's stream (error 31924).

use axum::extract::State;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde::Deserialize;

use crate::carriers::media::{self, START_TIMEOUT};
use crate::domain::Carrier;
use crate::engine::Engine;
use crate::media::{CarrierMedia, G711, MediaError, MediaIn, MediaOut};

pub async fn stream(State(engine): State<Engine>, ws: WebSocketUpgrade) -> Response {
    media::small_buffers(ws).on_upgrade(move |socket| run(engine, socket))
}

#[derive(Deserialize)]
struct Frame {
    event: String,
    #[serde(default)]
    media: Option<MediaBody>,
    #[serde(default)]
    mark: Option<Named>,
    #[serde(default)]
    dtmf: Option<Dtmf>,
    #[serde(default)]
    start: Option<Start>,
}

#[derive(Deserialize)]
struct MediaBody {
    #[serde(default)]
    track: Option<String>,
    payload: String,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Dtmf {
    digit: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Start {
    stream_sid: String,
    call_sid: String,
    #[serde(default)]
    custom_parameters: std::collections::HashMap<String, String>,
    #[serde(default)]
    media_format: Option<MediaFormat>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaFormat {
    encoding: String,
    sample_rate: u32,
}

async fn run(engine: Engine, mut socket: WebSocket) {
    let start = match tokio::time::timeout(START_TIMEOUT, read_start(&mut socket)).await {
        Ok(Ok(start)) => start,
        Ok(Err(why)) => {
            tracing::warn!(reason = %why, "Twilio media stream refused");
            return media::close(socket, false, &why).await;
        }
        Err(_) => {
            tracing::warn!("Twilio media stream sent no start; closed");
            return media::close(socket, false, "no start message").await;
        }
    };
    let Some(call_id) = start.custom_parameters.get("call_id").cloned() else {
        tracing::warn!("Twilio media stream without a call_id parameter; closed");
        return media::close(socket, false, "no call_id parameter").await;
    };
    let agent_id = start.custom_parameters.get("agent_id").cloned();
    let stream = TwilioStream {
        socket,
        stream_sid: start.stream_sid,
    };
    media::bridge(
        engine,
        Carrier::Twilio,
        &call_id,
        &start.call_sid,
        agent_id.as_deref(),
        stream,
    )
    .await;
}

/// `connected` (optional, first) then `start`.
async fn read_start(socket: &mut WebSocket) -> Result<Start, String> {
    loop {
        let text = media::next_text(socket).await.map_err(|e| e.to_string())?;
        let frame: Frame =
            serde_json::from_str(&text).map_err(|e| format!("unreadable frame: {e}"))?;
        match (frame.event.as_str(), frame.start) {
            ("connected", _) => {}
            ("start", Some(start)) => {
                // Written back unescaped in every frame we send.
                if start.stream_sid.is_empty()
                    || !start.stream_sid.bytes().all(|b| b.is_ascii_alphanumeric())
                {
                    return Err("malformed streamSid".into());
                }
                if let Some(f) = &start.media_format
                    && (f.encoding != "audio/x-mulaw" || f.sample_rate != 8000)
                {
                    return Err(format!(
                        "unsupported media format {} at {} Hz",
                        f.encoding, f.sample_rate
                    ));
                }
                return Ok(start);
            }
            (other, _) => return Err(format!("expected start, got {other}")),
        }
    }
}

pub struct TwilioStream {
    socket: WebSocket,
    stream_sid: String,
}

impl CarrierMedia for TwilioStream {
    async fn recv(&mut self) -> Result<MediaIn, MediaError> {
        loop {
            let text = media::next_text(&mut self.socket).await?;
            let frame: Frame = serde_json::from_str(&text)
                .map_err(|e| MediaError::Malformed(format!("unreadable frame: {e}")))?;
            return match frame.event.as_str() {
                "media" => {
                    let m = frame
                        .media
                        .ok_or_else(|| MediaError::Malformed("media without media".into()))?;
                    if m.track.as_deref().is_some_and(|t| t != "inbound") {
                        continue; // only the caller's side goes to the agent
                    }
                    Ok(MediaIn::Audio(G711::from_base64(m.payload)?))
                }
                "mark" => frame
                    .mark
                    .map(|m| MediaIn::Mark(m.name))
                    .ok_or_else(|| MediaError::Malformed("mark without name".into())),
                "dtmf" => frame
                    .dtmf
                    .and_then(|d| d.digit.chars().next())
                    .map(MediaIn::Dtmf)
                    .ok_or_else(|| MediaError::Malformed("dtmf without digit".into())),
                "stop" => Ok(MediaIn::Stop),
                other => Err(MediaError::Malformed(format!("unexpected event {other:?}"))),
            };
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
