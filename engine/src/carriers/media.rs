//! What the carriers' media streams share: reading and writing JSON text frames on an axum
//! WebSocket, and the checks a new stream passes before it is bridged to an agent.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::domain::Carrier;
use crate::engine::Engine;
use crate::media::{CarrierMedia, G711, MediaError, MediaIn};

/// How long a carrier may take from connecting to its `start` frame.
const START_TIMEOUT: Duration = Duration::from_secs(10);

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
pub(crate) async fn next_text(
    socket: &mut WebSocket,
) -> Result<axum::extract::ws::Utf8Bytes, MediaError> {
    loop {
        match socket.recv().await {
            Some(Ok(Message::Text(t))) => return Ok(t),
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

/// A frame from either carrier: both use `event` with `media`, `mark`, `dtmf` bodies of the
/// same shape; only `start` differs (`S`), and Telnyx adds `error` frames with a `payload`.
#[derive(Deserialize)]
pub(crate) struct Frame<S> {
    event: String,
    #[serde(default)]
    media: Option<MediaBody>,
    #[serde(default)]
    mark: Option<Named>,
    #[serde(default)]
    dtmf: Option<Dtmf>,
    #[serde(default = "Option::default")]
    start: Option<S>,
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

/// Waits (bounded) for the stream's `start` and checks it; a stream that sends none, or a bad
/// one, is logged and closed with the reason, and `None` comes back.
pub(crate) async fn started<S: DeserializeOwned>(
    mut socket: WebSocket,
    carrier: Carrier,
    check: impl Fn(&S) -> Result<(), String>,
) -> Option<(WebSocket, S)> {
    let why = match tokio::time::timeout(START_TIMEOUT, read_start(&mut socket, check)).await {
        Ok(Ok(start)) => return Some((socket, start)),
        Ok(Err(why)) => why,
        Err(_) => "no start message".to_owned(),
    };
    tracing::warn!(carrier = carrier.as_str(), reason = %why, "media stream refused");
    close(socket, false, &why).await;
    None
}

/// Skips `connected` and returns the `start` body (`S`), checked by `check`.
async fn read_start<S: DeserializeOwned>(
    socket: &mut WebSocket,
    check: impl Fn(&S) -> Result<(), String>,
) -> Result<S, String> {
    loop {
        let text = next_text(socket).await.map_err(|e| e.to_string())?;
        let frame: Frame<S> =
            serde_json::from_str(text.as_str()).map_err(|e| format!("unreadable frame: {e}"))?;
        match (frame.event.as_str(), frame.start) {
            ("connected", _) => {}
            ("start", Some(start)) => return check(&start).map(|()| start),
            (other, _) => return Err(format!("expected start, got {other}")),
        }
    }
}

/// A G.711 8 kHz format check for a `start` frame's declared encoding.
pub(crate) fn check_format(encoding: &str, rate: u32, expected: &str) -> Result<(), String> {
    if encoding == expected && rate == 8000 {
        Ok(())
    } else {
        Err(format!("unsupported media format {encoding} at {rate} Hz"))
    }
}

/// The next message of a started stream. Only the caller's track goes to the agent; carrier
/// error frames are logged and skipped.
pub(crate) async fn recv(socket: &mut WebSocket, carrier: Carrier) -> Result<MediaIn, MediaError> {
    loop {
        let text = next_text(socket).await?;
        let frame: Frame<serde::de::IgnoredAny> = serde_json::from_str(text.as_str())
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
                tracing::warn!(carrier = carrier.as_str(), %detail, "the carrier reported a media stream error");
                continue;
            }
            other => Err(MediaError::Malformed(format!("unexpected event {other:?}"))),
        };
    }
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
