//! Telnyx media streaming (protocols/telnyx.md §4) as the engine's media session: Telnyx
//! connects to `/media/telnyx`, sends `connected`, then `start` whose `client_state` is the
//! base64 of Switchboard's call id (set on the answer command), then `media`, `mark`, `dtmf`
//! and `stop`. We send `media`, `mark` and `clear` (no stream id, as Telnyx's own samples).
//! Telnyx does not promise frame order; 20 ms frames on one TCP connection arrive in order
//! in practice, so they are forwarded as received.

use axum::extract::State;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::response::Response;
use base64::Engine as _;
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
    #[serde(default)]
    payload: Option<serde_json::Value>,
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
struct Start {
    call_control_id: String,
    #[serde(default)]
    client_state: Option<String>,
    #[serde(default)]
    media_format: Option<MediaFormat>,
}

#[derive(Deserialize)]
struct MediaFormat {
    encoding: String,
    sample_rate: u32,
}

async fn run(engine: Engine, mut socket: WebSocket) {
    let start = match tokio::time::timeout(START_TIMEOUT, read_start(&mut socket)).await {
        Ok(Ok(start)) => start,
        Ok(Err(why)) => {
            tracing::warn!(reason = %why, "Telnyx media stream refused");
            return media::close(socket, false, &why).await;
        }
        Err(_) => {
            tracing::warn!("Telnyx media stream sent no start; closed");
            return media::close(socket, false, "no start message").await;
        }
    };
    let call_id = start
        .client_state
        .as_deref()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let Some(call_id) = call_id else {
        tracing::warn!("Telnyx media stream without Switchboard's client_state; closed");
        return media::close(socket, false, "no call id in client_state").await;
    };
    let stream = TelnyxStream { socket };
    media::bridge(
        engine,
        Carrier::Telnyx,
        &call_id,
        &start.call_control_id,
        None,
        stream,
    )
    .await;
}

async fn read_start(socket: &mut WebSocket) -> Result<Start, String> {
    loop {
        let text = media::next_text(socket).await.map_err(|e| e.to_string())?;
        let frame: Frame =
            serde_json::from_str(&text).map_err(|e| format!("unreadable frame: {e}"))?;
        match (frame.event.as_str(), frame.start) {
            ("connected", _) => {}
            ("start", Some(start)) => {
                if let Some(f) = &start.media_format
                    && (f.encoding != "PCMU" || f.sample_rate != 8000)
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

pub struct TelnyxStream {
    socket: WebSocket,
}

impl CarrierMedia for TelnyxStream {
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
                        continue;
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
                "error" => {
                    let detail = frame.payload.map(|p| p.to_string()).unwrap_or_default();
                    tracing::warn!(%detail, "Telnyx reported a media stream error");
                    continue;
                }
                other => Err(MediaError::Malformed(format!("unexpected event {other:?}"))),
            };
        }
    }

    async fn feed(&mut self, out: MediaOut) -> Result<(), MediaError> {
        let text = match out {
            MediaOut::Audio(a) => format!(
                "{{\"event\":\"media\",\"media\":{{\"payload\":\"{}\"}}}}",
                a.base64()
            ),
            MediaOut::Mark(name) => {
                serde_json::json!({"event": "mark", "mark": {"name": name}}).to_string()
            }
            MediaOut::Clear => "{\"event\":\"clear\"}".to_owned(),
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
