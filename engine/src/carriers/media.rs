//! What the carriers' media streams share: reading and writing JSON text frames on an axum
//! WebSocket, and the checks a new stream passes before it is bridged to an agent.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};

use crate::domain::Carrier;
use crate::engine::Engine;
use crate::media::{CarrierMedia, MediaError};

/// How long a carrier may take from connecting to its `start` frame.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Media frames are a few hundred bytes. The WebSocket library zero-fills its whole read
/// buffer on every read (128 KiB by default), which at 50 frames a second per call was a
/// quarter of the engine's CPU; 4 KiB holds any frame in one read.
pub(crate) const READ_BUFFER: usize = 4 * 1024;

pub(crate) fn small_buffers(
    ws: axum::extract::ws::WebSocketUpgrade,
) -> axum::extract::ws::WebSocketUpgrade {
    ws.read_buffer_size(READ_BUFFER)
}

/// The next text frame. Pings are answered by axum; binary frames are not part of either
/// carrier's protocol. Cancel-safe: one `recv()` per call.
pub(crate) async fn next_text(socket: &mut WebSocket) -> Result<String, MediaError> {
    loop {
        match socket.recv().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Binary(_))) => {
                return Err(MediaError::Malformed("binary frame".into()));
            }
            Some(Ok(Message::Close(_))) | None => {
                return Err(MediaError::Closed("the carrier closed the stream".into()));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(MediaError::Closed(e.to_string())),
        }
    }
}

pub(crate) async fn feed_text(socket: &mut WebSocket, text: String) -> Result<(), MediaError> {
    use futures_util::SinkExt as _;
    socket
        .feed(Message::Text(text.into()))
        .await
        .map_err(|e| MediaError::Closed(e.to_string()))
}

pub(crate) async fn flush(socket: &mut WebSocket) -> Result<(), MediaError> {
    futures_util::SinkExt::flush(socket)
        .await
        .map_err(|e| MediaError::Closed(e.to_string()))
}

/// Closes with a policy-violation code (1008) or a normal one, with a short reason.
pub(crate) async fn close(mut socket: WebSocket, normal: bool, reason: &str) {
    let reason: String = reason.chars().take(120).collect();
    let frame = CloseFrame {
        code: if normal { 1000 } else { 1008 },
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// The stream names a call; bridge it if the call is a live one of this carrier's, with this
/// carrier id (and this agent, when the stream says), else close it saying why.
pub(crate) async fn bridge<C: CarrierMedia>(
    engine: Engine,
    carrier: Carrier,
    call_id: &str,
    carrier_call_id: &str,
    agent_id: Option<&str>,
    media: C,
) {
    let refuse = |why: String| {
        tracing::warn!(carrier = carrier.as_str(), %call_id, reason = %why, "media stream refused");
        why
    };
    let call = match engine.store().get_call(call_id).await {
        Ok(c) => c,
        Err(e) => {
            let why = refuse(format!("unknown call: {e}"));
            return media.close(&why).await;
        }
    };
    let why = if call.carrier != carrier || call.carrier_call_id.as_deref() != Some(carrier_call_id)
    {
        Some("the stream's carrier call does not match the call".to_owned())
    } else if call.ended_at.is_some() {
        Some("the call has ended".to_owned())
    } else if agent_id.is_some() && agent_id != call.agent_id.as_deref() {
        Some("the stream's agent is not the call's agent".to_owned())
    } else {
        None
    };
    if let Some(why) = why {
        let why = refuse(why);
        return media.close(&why).await;
    }
    let Some(agent_id) = call.agent_id.clone() else {
        let why = refuse("the call has no agent".into());
        return media.close(&why).await;
    };
    match engine.store().get_agent(&agent_id).await {
        Ok(agent) => crate::media::bridge::run(engine, call, agent, media).await,
        Err(e) => {
            let why = refuse(format!("unknown agent: {e}"));
            media.close(&why).await
        }
    }
}
