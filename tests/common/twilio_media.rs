//! Twilio Media Streams as Twilio plays it: the WebSocket client that sends `connected`,
//! `start`, inbound `media`, `dtmf` and `stop`, accepts only `media`/`mark`/`clear` back, plays
//! the returned audio in real time and echoes marks (protocols/twilio.md §6.1, §6.2).

use std::ops::Deref;

use serde_json::{Map, Value, json};

use super::carriers::TWILIO_SID;
use super::media_stream::{self, Dialect, MediaError, MediaStream, Outbound};

/// A Twilio media stream connected to the engine. Sending, recording, playback and waits are
/// on [`MediaStream`], reached through `Deref`.
#[derive(Clone)]
pub struct TwilioMedia {
    stream: MediaStream,
    stream_sid: String,
    call_sid: String,
}

impl Deref for TwilioMedia {
    type Target = MediaStream;
    fn deref(&self) -> &MediaStream {
        &self.stream
    }
}

struct Twilio {
    stream_sid: String,
    call_sid: String,
}

impl TwilioMedia {
    /// Connects to `url` (ws://) and sends `connected` then `start` (§6.1) for `call_sid`, with
    /// a fresh `streamSid` (`MZ` + 32 hex), account [`TWILIO_SID`], `tracks: ["inbound"]`, these
    /// `customParameters` (the TwiML `<Parameter>`s) and μ-law 8 kHz mono `mediaFormat`.
    pub async fn connect(
        url: &str,
        call_sid: &str,
        custom_parameters: &[(&str, &str)],
    ) -> Result<TwilioMedia, MediaError> {
        let stream_sid = format!("MZ{:032x}", rand::random::<u128>());
        let params: Map<String, Value> = custom_parameters
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let connected = json!({"event": "connected", "protocol": "Call", "version": "1.0.0"});
        let start = json!({
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": TWILIO_SID,
                "streamSid": stream_sid,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": params,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
            },
            "streamSid": stream_sid
        });
        let dialect = Twilio {
            stream_sid: stream_sid.clone(),
            call_sid: call_sid.to_owned(),
        };
        let request = MediaStream::request(url, &[])?;
        let stream = MediaStream::open(request, Box::new(dialect), connected, start).await?;
        Ok(TwilioMedia {
            stream,
            stream_sid,
            call_sid: call_sid.to_owned(),
        })
    }

    /// This stream's `streamSid`.
    pub fn stream_sid(&self) -> &str {
        &self.stream_sid
    }

    /// The `callSid` given at connect.
    pub fn call_sid(&self) -> &str {
        &self.call_sid
    }
}

impl Dialect for Twilio {
    fn media(&self, seq: u64, chunk: u64, timestamp_ms: u64, payload_b64: &str) -> Value {
        json!({"event": "media", "sequenceNumber": seq.to_string(),
               "media": {"track": "inbound", "chunk": chunk.to_string(),
                         "timestamp": timestamp_ms.to_string(), "payload": payload_b64},
               "streamSid": self.stream_sid})
    }

    fn dtmf(&self, seq: u64, digit: char) -> Value {
        json!({"event": "dtmf", "streamSid": self.stream_sid, "sequenceNumber": seq.to_string(),
               "dtmf": {"track": "inbound_track", "digit": digit.to_string()}})
    }

    fn mark(&self, seq: u64, name: &str) -> Value {
        json!({"event": "mark", "sequenceNumber": seq.to_string(), "streamSid": self.stream_sid,
               "mark": {"name": name}})
    }

    fn stop(&self, seq: u64) -> Value {
        json!({"event": "stop", "sequenceNumber": seq.to_string(), "streamSid": self.stream_sid,
               "stop": {"accountSid": TWILIO_SID, "callSid": self.call_sid}})
    }

    /// §6.2: only `media`, `mark` and `clear`, each with this stream's `streamSid`; anything
    /// else fails a real stream with error 31924.
    fn check(&self, frame: &Value) -> Result<Outbound, String> {
        let obj = frame.as_object().ok_or("frame is not a JSON object")?;
        let event = obj
            .get("event")
            .and_then(Value::as_str)
            .ok_or("frame has no string `event`")?;
        match obj.get("streamSid") {
            Some(Value::String(sid)) if *sid == self.stream_sid => {}
            Some(other) => {
                return Err(format!(
                    "`{event}` carries streamSid {other}, not this stream's {}",
                    self.stream_sid
                ));
            }
            None => return Err(format!("`{event}` has no `streamSid` (§6.2)")),
        }
        match event {
            "media" => {
                media_stream::only_keys(obj, "", &["event", "streamSid", "media"])?;
                let media = media_stream::object(obj, "media")?;
                media_stream::only_keys(media, "media.", &["payload"])?;
                Ok(Outbound::Media(media_stream::payload(media)?))
            }
            "mark" => {
                media_stream::only_keys(obj, "", &["event", "streamSid", "mark"])?;
                let mark = media_stream::object(obj, "mark")?;
                media_stream::only_keys(mark, "mark.", &["name"])?;
                Ok(Outbound::Mark(media_stream::mark_name(mark)?))
            }
            "clear" => {
                media_stream::only_keys(obj, "", &["event", "streamSid"])?;
                Ok(Outbound::Clear)
            }
            other => Err(format!(
                "`{other}` is not a message Twilio accepts (media, mark, clear; error 31924)"
            )),
        }
    }
}
