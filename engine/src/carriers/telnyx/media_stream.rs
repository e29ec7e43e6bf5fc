//! Telnyx media streaming (protocols/telnyx.md §4) as the engine's media session: Telnyx
//! connects to `/media/telnyx`, sends `connected`, then `start` whose `client_state` is the
//! base64 of Switchboard's call id (set on the answer command), then `media`, `mark`, `dtmf`
//! and `stop`. We send `media`, `mark` and `clear` (no stream id, as Telnyx's own samples).
//! Telnyx does not promise frame order; 20 ms frames on one TCP connection arrive in order
//! in practice, so they are forwarded as received.

use axum::extract::State;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde::Deserialize;

use super::adapter::our_call_id;
use crate::carriers::stream::{self as media, StreamRefused};
use crate::domain::Carrier;
use crate::engine::Engine;
use crate::media::{G711, MediaError, MediaIn, MediaOut, MediaSession};

pub async fn stream(State(engine): State<Engine>, ws: WebSocketUpgrade) -> Response {
    media::small_buffers(ws).on_upgrade(move |socket| run(engine, socket))
}

#[derive(Deserialize)]
pub(crate) struct Start {
    pub(crate) call_control_id: String,
    #[serde(default)]
    pub(crate) client_state: Option<String>,
    #[serde(default)]
    media_format: Option<MediaFormat>,
}

#[derive(Deserialize)]
struct MediaFormat {
    encoding: String,
    sample_rate: u32,
}

async fn run(engine: Engine, socket: WebSocket) {
    let Some((socket, start)) = media::started(socket, Carrier::Telnyx, read_start).await else {
        return;
    };
    let call_id = start.client_state.as_deref().and_then(our_call_id);
    let Some(call_id) = call_id else {
        tracing::warn!("Telnyx media stream without Switchboard's client_state; closed");
        return media::close(socket, false, "no call id in client_state").await;
    };
    let stream = TelnyxStream {
        socket,
        short: Vec::new(),
    };
    crate::bridge::admission::admit(
        engine,
        Carrier::Telnyx,
        &call_id,
        &start.call_control_id,
        None,
        false,
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
    media::read_frame(text, Carrier::Telnyx)
}

fn check_start(start: &Start) -> Result<(), StreamRefused> {
    match &start.media_format {
        Some(f) => media::check_format(&f.encoding, f.sample_rate, "PCMU"),
        None => Ok(()),
    }
}

pub struct TelnyxStream {
    socket: WebSocket,
    /// Agent audio too short to send alone: Telnyx takes 20 ms to 30 s per media frame.
    short: Vec<u8>,
}

/// 20 ms of μ-law: the shortest media frame Telnyx accepts.
const MIN_FRAME: usize = 160;

impl TelnyxStream {
    async fn send_media(&mut self, b64: &str) -> Result<(), MediaError> {
        let text = format!("{{\"event\":\"media\",\"media\":{{\"payload\":\"{b64}\"}}}}");
        media::feed_text(&mut self.socket, text).await
    }

    /// Sends what is held back, topped up with silence to a whole frame: the audio before a
    /// mark must be on its way before the mark.
    async fn send_short(&mut self) -> Result<(), MediaError> {
        if self.short.is_empty() {
            return Ok(());
        }
        let mut frame = std::mem::take(&mut self.short);
        frame.resize(
            frame.len().max(MIN_FRAME),
            crate::media::codec::MULAW_SILENCE,
        );
        self.send_media(G711::from_bytes(&frame).base64()).await
    }
}

impl MediaSession for TelnyxStream {
    async fn recv(&mut self) -> Result<MediaIn, MediaError> {
        loop {
            let text = media::next_text(&mut self.socket).await?;
            if let Some(message) = read_frame(text.as_str())? {
                return Ok(message);
            }
        }
    }

    async fn feed(&mut self, out: MediaOut) -> Result<(), MediaError> {
        match out {
            // The usual case: a chunk long enough, nothing held back: passed through as is.
            MediaOut::Audio(a) if self.short.is_empty() && a.len() >= MIN_FRAME => {
                self.send_media(a.base64()).await
            }
            MediaOut::Audio(a) => {
                self.short.extend_from_slice(&a.bytes());
                if self.short.len() >= MIN_FRAME {
                    let frame = G711::from_bytes(&std::mem::take(&mut self.short));
                    self.send_media(frame.base64()).await?;
                }
                Ok(())
            }
            MediaOut::Mark(name) => {
                self.send_short().await?;
                let text = serde_json::json!({"event": "mark", "mark": {"name": name}});
                media::feed_text(&mut self.socket, text.to_string()).await
            }
            MediaOut::Clear => {
                self.short.clear();
                media::feed_text(&mut self.socket, "{\"event\":\"clear\"}".to_owned()).await
            }
        }
    }

    async fn flush(&mut self) -> Result<(), MediaError> {
        media::flush(&mut self.socket).await
    }

    async fn close(self, reason: &str) {
        media::close(self.socket, true, reason).await;
    }
}
