//! Telnyx Media Streaming as Telnyx plays it: the WebSocket client that sends `connected`,
//! `start`, inbound `media`, `dtmf` and `stop`, accepts only `media`/`mark`/`clear` back (RTP
//! mode, PCMU), plays the returned audio in real time and echoes marks
//! (protocols/telnyx.md §4.1, §4.2).

use std::ops::Deref;

use serde_json::{Value, json};

use super::media_stream::{self, Dialect, MediaError, MediaStream, Outbound};

/// The handshake header (and `connected` field) carrying a configured stream auth token.
pub const AUTH_TOKEN_HEADER: &str = "x-telnyx-streaming-auth-token";

/// A Telnyx media stream connected to the engine. Sending, recording, playback and waits are
/// on [`MediaStream`], reached through `Deref`.
#[derive(Clone)]
pub struct TelnyxMedia {
    stream: MediaStream,
    stream_id: String,
    call_control_id: String,
}

impl Deref for TelnyxMedia {
    type Target = MediaStream;
    fn deref(&self) -> &MediaStream {
        &self.stream
    }
}

struct Telnyx {
    stream_id: String,
    call_control_id: String,
    user_id: String,
}

/// An uppercase UUID-shaped id, as Telnyx writes `stream_id`.
pub fn uuid_upper() -> String {
    let h = format!("{:032X}", rand::random::<u128>());
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

impl TelnyxMedia {
    /// Connects to `url` (ws://) with these extra handshake headers and sends `connected`
    /// then `start` (§4.1) for `call_control_id`: a fresh top-level `stream_id`, `client_state`
    /// as given (omitted when `None`), PCMU 8 kHz mono `media_format`. An
    /// [`AUTH_TOKEN_HEADER`] header is also copied into the `connected` frame, as Telnyx does.
    pub async fn connect(
        url: &str,
        call_control_id: &str,
        client_state_b64: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<TelnyxMedia, MediaError> {
        let stream_id = uuid_upper();
        let user_id = uuid_upper();
        let mut connected = json!({"event": "connected", "version": "1.0.0"});
        if let Some((_, token)) = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(AUTH_TOKEN_HEADER))
        {
            connected[AUTH_TOKEN_HEADER] = json!(token);
        }
        let mut start = json!({
            "event": "start",
            "sequence_number": "1",
            "stream_id": stream_id,
            "start": {
                "user_id": user_id,
                "call_control_id": call_control_id,
                "call_session_id": uuid_upper().to_lowercase(),
                "from": "+13122010094",
                "to": "+13122123456",
                "custom_parameters": {},
                "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}
            }
        });
        if let Some(state) = client_state_b64 {
            start["start"]["client_state"] = json!(state);
        }
        let dialect = Telnyx {
            stream_id: stream_id.clone(),
            call_control_id: call_control_id.to_owned(),
            user_id,
        };
        let request = MediaStream::request(url, headers)?;
        let stream = MediaStream::open(request, Box::new(dialect), connected, start).await?;
        Ok(TelnyxMedia {
            stream,
            stream_id,
            call_control_id: call_control_id.to_owned(),
        })
    }

    /// This stream's `stream_id`.
    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// The `call_control_id` given at connect.
    pub fn call_control_id(&self) -> &str {
        &self.call_control_id
    }
}

/// §4.2: a media frame holds 20 ms to 30 s of audio (PCMU: 160 to 240 000 bytes).
const MIN_FRAME: usize = 160;
const MAX_FRAME: usize = 240_000;

impl Dialect for Telnyx {
    fn media(&self, seq: u64, chunk: u64, timestamp_ms: u64, payload_b64: &str) -> Value {
        json!({"event": "media", "sequence_number": seq.to_string(), "stream_id": self.stream_id,
               "media": {"track": "inbound", "chunk": chunk.to_string(),
                         "timestamp": timestamp_ms.to_string(), "payload": payload_b64}})
    }

    fn dtmf(&self, seq: u64, digit: char) -> Value {
        json!({"event": "dtmf", "sequence_number": seq.to_string(), "stream_id": self.stream_id,
               "dtmf": {"digit": digit.to_string()}})
    }

    fn mark(&self, seq: u64, name: &str) -> Value {
        json!({"event": "mark", "sequence_number": seq.to_string(), "stream_id": self.stream_id,
               "mark": {"name": name}})
    }

    fn stop(&self, seq: u64) -> Value {
        json!({"event": "stop", "sequence_number": seq.to_string(), "stream_id": self.stream_id,
               "stop": {"user_id": self.user_id, "call_control_id": self.call_control_id}})
    }

    /// §4.2: only `media`, `mark` and `clear`; `stream_id` is optional but, when present, must
    /// be this stream's.
    fn check(&self, frame: &Value) -> Result<Outbound, String> {
        let obj = frame.as_object().ok_or("frame is not a JSON object")?;
        let event = obj
            .get("event")
            .and_then(Value::as_str)
            .ok_or("frame has no string `event`")?;
        match obj.get("stream_id") {
            None => {}
            Some(Value::String(id)) if *id == self.stream_id => {}
            Some(other) => {
                return Err(format!(
                    "`{event}` carries stream_id {other}, not this stream's {}",
                    self.stream_id
                ));
            }
        }
        match event {
            "media" => {
                media_stream::only_keys(obj, "", &["event", "stream_id", "media"])?;
                let media = media_stream::object(obj, "media")?;
                media_stream::only_keys(media, "media.", &["payload"])?;
                let audio = media_stream::payload(media)?;
                if !(MIN_FRAME..=MAX_FRAME).contains(&audio.len()) {
                    return Err(format!(
                        "`media` holds {} bytes ({} ms); Telnyx takes 20 ms to 30 s per frame",
                        audio.len(),
                        audio.len() / 8
                    ));
                }
                Ok(Outbound::Media(audio))
            }
            "mark" => {
                media_stream::only_keys(obj, "", &["event", "stream_id", "mark"])?;
                let mark = media_stream::object(obj, "mark")?;
                media_stream::only_keys(mark, "mark.", &["name"])?;
                Ok(Outbound::Mark(media_stream::mark_name(mark)?))
            }
            "clear" => {
                media_stream::only_keys(obj, "", &["event", "stream_id"])?;
                Ok(Outbound::Clear)
            }
            other => Err(format!(
                "`{other}` is not a frame Telnyx accepts (media, mark, clear)"
            )),
        }
    }
}
