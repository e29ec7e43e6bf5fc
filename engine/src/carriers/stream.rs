//! The framing Twilio's and Telnyx's media streams share: JSON text frames on a WebSocket
//! (`event` with `media`, `mark`, `dtmf` bodies of the same shape), read and written here, and
//! the `start` frame a stream must open with. Each carrier's own stream (`media_stream.rs` in
//! its folder) adds only what differs.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::domain::Carrier;
use crate::media::{G711, MediaError, MediaIn, WS_READ_BUFFER};

/// How long a carrier may take from connecting to its `start` frame.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a new stream is closed before it is bridged; the reason goes back in the close frame.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamRefused {
    #[error("no start message")]
    NoStart,
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("unreadable frame: {0}")]
    Unreadable(serde_json::Error),
    #[error("expected start, got {0}")]
    NotStart(String),
    #[error("unsupported media format {encoding} at {rate} Hz")]
    Format { encoding: String, rate: u32 },
    /// A `start` field Switchboard must write back unescaped is not safe to.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// Media frames are small: see `media::WS_READ_BUFFER`.
pub(super) fn small_buffers(
    ws: axum::extract::ws::WebSocketUpgrade,
) -> axum::extract::ws::WebSocketUpgrade {
    ws.read_buffer_size(WS_READ_BUFFER)
}

/// The next text frame. Pings are answered by axum; binary frames are not part of either
/// carrier's protocol. Cancel-safe: one `recv()` per call.
pub(super) async fn next_text(
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

pub(super) async fn feed_text(socket: &mut WebSocket, text: String) -> Result<(), MediaError> {
    use futures_util::SinkExt as _;
    socket
        .feed(Message::Text(text.into()))
        .await
        .map_err(|e| MediaError::Closed(e.to_string()))
}

pub(super) async fn flush(socket: &mut WebSocket) -> Result<(), MediaError> {
    futures_util::SinkExt::flush(socket)
        .await
        .map_err(|e| MediaError::Closed(e.to_string()))
}

/// Closes with a policy-violation code (1008) or a normal one, with a short reason.
pub(super) async fn close(mut socket: WebSocket, normal: bool, reason: &str) {
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
pub(super) struct Frame<S> {
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

/// Waits (bounded) for the stream's `start`, read from each frame by `read` (the carrier's
/// `read_start`); a stream that sends none, or a bad one, is logged and closed with the
/// reason, and `None` comes back.
pub(super) async fn started<S>(
    mut socket: WebSocket,
    carrier: Carrier,
    read: impl Fn(&str) -> Result<Option<S>, StreamRefused>,
) -> Option<(WebSocket, S)> {
    let why = match tokio::time::timeout(START_TIMEOUT, read_start(&mut socket, read)).await {
        Ok(Ok(start)) => return Some((socket, start)),
        Ok(Err(why)) => why.to_string(),
        Err(_) => StreamRefused::NoStart.to_string(),
    };
    tracing::warn!(carrier = carrier.as_str(), reason = %why, "media stream refused");
    close(socket, false, &why).await;
    None
}

async fn read_start<S>(
    socket: &mut WebSocket,
    read: impl Fn(&str) -> Result<Option<S>, StreamRefused>,
) -> Result<S, StreamRefused> {
    loop {
        if let Some(start) = read(next_text(socket).await?.as_str())? {
            return Ok(start);
        }
    }
}

/// One frame of a stream not yet started: `None` for `connected`, which comes first; the
/// `start` body checked by `check`; anything else refuses the stream.
pub(super) fn read_start_frame<S: DeserializeOwned>(
    text: &str,
    check: impl Fn(&S) -> Result<(), StreamRefused>,
) -> Result<Option<S>, StreamRefused> {
    let frame: Frame<S> = serde_json::from_str(text).map_err(StreamRefused::Unreadable)?;
    match (frame.event.as_str(), frame.start) {
        ("connected", _) => Ok(None),
        ("start", Some(start)) => check(&start).map(|()| Some(start)),
        (other, _) => Err(StreamRefused::NotStart(other.to_owned())),
    }
}

/// A G.711 8 kHz format check for a `start` frame's declared encoding.
pub(super) fn check_format(encoding: &str, rate: u32, expected: &str) -> Result<(), StreamRefused> {
    if encoding == expected && rate == 8000 {
        Ok(())
    } else {
        Err(StreamRefused::Format {
            encoding: encoding.to_owned(),
            rate,
        })
    }
}

/// What one text frame of a started stream says; `None` for a frame with nothing for the
/// call (the outbound track, which is our own audio; a carrier's error report, logged here).
pub(super) fn read_frame(text: &str, carrier: Carrier) -> Result<Option<MediaIn>, MediaError> {
    let frame: Frame<serde::de::IgnoredAny> = serde_json::from_str(text)
        .map_err(|e| MediaError::Malformed(format!("unreadable frame: {e}")))?;
    match frame.event.as_str() {
        "media" => {
            let m = frame
                .media
                .ok_or_else(|| MediaError::Malformed("media without media".into()))?;
            if m.track.as_deref().is_some_and(|t| t != "inbound") {
                return Ok(None);
            }
            Ok(Some(MediaIn::Audio(G711::from_base64(m.payload)?)))
        }
        "mark" => frame
            .mark
            .map(|m| Some(MediaIn::Mark(m.name)))
            .ok_or_else(|| MediaError::Malformed("mark without name".into())),
        "dtmf" => frame
            .dtmf
            .and_then(|d| d.digit.chars().next())
            .map(|d| Some(MediaIn::Dtmf(d)))
            .ok_or_else(|| MediaError::Malformed("dtmf without digit".into())),
        "stop" => Ok(Some(MediaIn::Stop)),
        "error" => {
            let detail = frame.payload.map(|p| p.to_string()).unwrap_or_default();
            tracing::warn!(carrier = carrier.as_str(), %detail, "the carrier reported a media stream error");
            Ok(None)
        }
        other => Err(MediaError::Malformed(format!("unexpected event {other:?}"))),
    }
}
