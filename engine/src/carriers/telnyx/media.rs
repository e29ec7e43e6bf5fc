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

use crate::carriers::media;
use crate::domain::Carrier;
use crate::engine::Engine;
use crate::media::{CarrierMedia, MediaError, MediaIn, MediaOut};

pub async fn stream(State(engine): State<Engine>, ws: WebSocketUpgrade) -> Response {
    media::small_buffers(ws).on_upgrade(move |socket| run(engine, socket))
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

async fn run(engine: Engine, socket: WebSocket) {
    let Some((socket, start)) = media::started::<Start>(socket, Carrier::Telnyx, check_start).await
    else {
        return;
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

fn check_start(start: &Start) -> Result<(), String> {
    match &start.media_format {
        Some(f) => media::check_format(&f.encoding, f.sample_rate, "PCMU"),
        None => Ok(()),
    }
}

pub struct TelnyxStream {
    socket: WebSocket,
}

impl CarrierMedia for TelnyxStream {
    async fn recv(&mut self) -> Result<MediaIn, MediaError> {
        media::recv(&mut self.socket, Carrier::Telnyx).await
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
