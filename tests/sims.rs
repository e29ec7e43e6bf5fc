//! The simulators themselves under test: the fake OpenAI Realtime server driven by a plain
//! tokio-tungstenite client, and the Twilio/Telnyx media-stream clients driven by a plain
//! WebSocket server standing in for the engine. Each side follows the protocol notes, so these
//! tests pin the notes' shapes as much as the simulators' behaviour.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::carriers::{TWILIO_SID, TWILIO_TOKEN, TwilioApi};
use common::media_stream::{CloseFrame, MediaError, Outbound, Pacing};
use common::pcmu;
use common::realtime::{Ended, FakeRealtime, Script, TEST_API_KEY};
use common::telnyx_media::{AUTH_TOKEN_HEADER, TelnyxMedia};
use common::twilio_media::TwilioMedia;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const T: Duration = Duration::from_secs(5);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_str().expect("a base64 string"))
        .expect("valid base64")
}

// =============================================================================================
// Fake OpenAI Realtime
// =============================================================================================

/// A well-behaved GA client, as the engine should be.
struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u32,
}

impl Client {
    async fn connect(fake: &FakeRealtime) -> Client {
        Self::connect_with(fake, "gpt-realtime", Some(TEST_API_KEY), &[])
            .await
            .expect("the fake accepts a GA client")
    }

    async fn connect_with(
        fake: &FakeRealtime,
        model: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Client, tungstenite::Error> {
        let url = if model.is_empty() {
            fake.url()
        } else {
            format!("{}?model={model}", fake.url())
        };
        let mut req = url.into_client_request().unwrap();
        if let Some(key) = key {
            req.headers_mut()
                .insert("authorization", format!("Bearer {key}").parse().unwrap());
        }
        for (k, v) in headers {
            let name: tungstenite::http::HeaderName = k.parse().unwrap();
            req.headers_mut().insert(name, v.parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Client { ws, next_id: 0 })
    }

    /// Sends an event with a fresh `event_id`; returns the id.
    async fn send(&mut self, mut event: Value) -> String {
        self.next_id += 1;
        let id = format!("evt_client_{}", self.next_id);
        event["event_id"] = json!(id);
        self.ws
            .send(Message::text(event.to_string()))
            .await
            .unwrap();
        id
    }

    async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// The next server event (panics on close or after 5 s).
    async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(T, self.ws.next())
                .await
                .expect("the fake answers within 5 s")
                .expect("the socket is open")
                .expect("a clean frame");
            if let Message::Text(t) = msg {
                return serde_json::from_str(&t).unwrap();
            }
        }
    }

    /// Server events up to and including the first of type `ty`.
    async fn until(&mut self, ty: &str) -> Vec<Value> {
        let mut got = Vec::new();
        loop {
            let e = self.next().await;
            let done = e["type"] == ty;
            got.push(e);
            if done {
                return got;
            }
        }
    }

    /// The `error` event answering a bad client event.
    async fn expect_error(&mut self, client_event_id: &str) -> Value {
        let e = self.next().await;
        assert_eq!(
            e["type"], "error",
            "a refused event is answered by `error`: {e}"
        );
        assert_eq!(
            e["error"]["event_id"], client_event_id,
            "the error echoes the client's event_id so the client can log it (§1): {e}"
        );
        assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
        e
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// The §2 GA session.update.
fn ga_session_update(instructions: &str) -> Value {
    json!({"type": "session.update", "session": {
        "type": "realtime", "model": "gpt-realtime", "output_modalities": ["audio"],
        "instructions": instructions,
        "audio": {
            "input": {"format": {"type": "audio/pcmu"}, "noise_reduction": {"type": "far_field"},
                      "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
                      "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                         "prefix_padding_ms": 300, "silence_duration_ms": 500,
                                         "create_response": true, "interrupt_response": true,
                                         "idle_timeout_ms": 8000}},
            "output": {"format": {"type": "audio/pcmu"}, "voice": "marin", "speed": 1.0}
        },
        "tools": [{"type": "function", "name": "book_appointment",
                   "description": "Book a plumber visit.",
                   "parameters": {"type": "object",
                                  "properties": {"date": {"type": "string"}},
                                  "required": ["date"]}}],
        "tool_choice": "auto", "max_output_tokens": "inf"
    }})
}

#[tokio::test]
async fn realtime_well_behaved_client_gets_ga_replies_and_no_violations() {
    let fake =
        FakeRealtime::start(Script::new().respond_with_audio(2400, "Sure, I can book that.")).await;
    let mut c = Client::connect(&fake).await;

    let created = c.next().await;
    assert_eq!(
        created["type"], "session.created",
        "the first server event (§1)"
    );
    assert_eq!(created["session"]["type"], "realtime");
    assert_eq!(created["session"]["model"], "gpt-realtime");

    c.send(ga_session_update("You are the receptionist.")).await;
    let updated = c.next().await;
    assert_eq!(updated["type"], "session.updated");
    assert_eq!(
        updated["session"]["audio"]["input"]["format"]["type"],
        "audio/pcmu"
    );
    assert_eq!(updated["session"]["audio"]["output"]["voice"], "marin");
    assert_eq!(
        updated["session"]["id"], created["session"]["id"],
        "an update merges into the session, keeping fields it does not name"
    );

    // A partial update changes only what it names.
    c.send(json!({"type": "session.update",
                  "session": {"type": "realtime", "instructions": "Be brief."}}))
        .await;
    let updated = c.next().await;
    assert_eq!(updated["session"]["instructions"], "Be brief.");
    assert_eq!(
        updated["session"]["audio"]["output"]["format"]["type"],
        "audio/pcmu"
    );

    for _ in 0..10 {
        c.send(json!({"type": "input_audio_buffer.append", "audio": b64(&pcmu::tone(160, 300.0))}))
            .await;
    }
    assert_eq!(fake.wait_for_appended_bytes(1600, T).await, 1600);

    c.send(json!({"type": "conversation.item.create", "item": {
        "type": "message", "role": "system",
        "content": [{"type": "input_text", "text": "The shop closes at 5pm today."}]}}))
        .await;
    let added = c.next().await;
    let done = c.next().await;
    assert_eq!(
        (added["type"].as_str(), done["type"].as_str()),
        (
            Some("conversation.item.added"),
            Some("conversation.item.done")
        )
    );
    assert_eq!(added["item"]["role"], "system");
    let system_item = added["item"]["id"].as_str().unwrap().to_owned();

    c.send(json!({"type": "response.create",
                  "response": {"instructions": "Greet the caller.",
                               "metadata": {"call": "c_1"}}}))
        .await;
    let response = c.until("response.done").await;
    let t = types(&response);
    assert_eq!(
        t[..5],
        [
            "response.created",
            "rate_limits.updated",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_audio.delta"
        ]
    );
    assert_eq!(
        t[t.len() - 5..],
        [
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.done"
        ]
    );
    let deltas: Vec<&Value> = response
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .collect();
    assert_eq!(deltas.len(), 3, "2400 bytes in 800-byte deltas");
    let audio: Vec<u8> = deltas.iter().flat_map(|d| unb64(&d["delta"])).collect();
    assert_eq!(
        audio,
        pcmu::tone(2400, 440.0),
        "the scripted tone, byte for byte"
    );
    let item_id = deltas[0]["item_id"].clone();
    let response_id = response[0]["response"]["id"].clone();
    for d in &deltas {
        assert_eq!(d["item_id"], item_id, "one item per response");
        assert_eq!(d["response_id"], response_id);
        assert_eq!(
            (d["output_index"].as_u64(), d["content_index"].as_u64()),
            (Some(0), Some(0))
        );
    }
    let transcript: String = response
        .iter()
        .filter(|e| e["type"] == "response.output_audio_transcript.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(transcript, "Sure, I can book that.");
    let done = response.last().unwrap();
    assert_eq!(done["response"]["status"], "completed");
    assert_eq!(
        done["response"]["output"][0]["content"][0]["transcript"],
        "Sure, I can book that."
    );
    assert!(done["response"]["usage"]["total_tokens"].as_u64().unwrap() > 0);

    // 2400 bytes = 300 ms: truncating at exactly 300 ms is allowed.
    c.send(
        json!({"type": "conversation.item.truncate", "item_id": item_id,
                  "content_index": 0, "audio_end_ms": 300}),
    )
    .await;
    let truncated = c.next().await;
    assert_eq!(truncated["type"], "conversation.item.truncated");
    assert_eq!(truncated["audio_end_ms"], 300);

    c.send(json!({"type": "conversation.item.create",
                  "previous_item_id": system_item,
                  "item": {"type": "function_call_output", "call_id": "call_abc",
                           "output": "{\"ok\":true}"}}))
        .await;
    assert_eq!(c.next().await["type"], "conversation.item.added");
    assert_eq!(c.next().await["type"], "conversation.item.done");
    c.send(json!({"type": "response.cancel"})).await;
    let not_active = c.next().await;
    assert_eq!(
        not_active["error"]["code"], "response_cancel_not_active",
        "cancelling with nothing in flight is an error event…"
    );

    assert!(
        fake.violations().is_empty(),
        "…but not a protocol violation (§5 calls it harmless): {:?}",
        fake.violations()
    );
    let conns = fake.connections();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].model, "gpt-realtime");
    assert_eq!(conns[0].api_key, TEST_API_KEY);
    assert_eq!(conns[0].appended_bytes, 1600);
    assert_eq!(fake.session()["instructions"], "Be brief.");
    let history: Vec<String> = fake
        .instructions_history()
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    assert_eq!(history, ["You are the receptionist.", "Be brief."]);
    assert_eq!(
        fake.wait_for_event("response.create", T).await["response"]["instructions"],
        "Greet the caller."
    );
    let ids: Vec<String> = fake
        .server_events()
        .iter()
        .map(|e| {
            e["event_id"]
                .as_str()
                .expect("every server event has an event_id")
                .to_owned()
        })
        .collect();
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        ids.len(),
        "server event ids are unique"
    );

    c.ws.close(None).await.unwrap();
    assert_eq!(fake.wait_for_disconnect(T).await, Ended::ClientClosed(None));
}

#[tokio::test]
async fn realtime_flags_beta_shaped_session_update() {
    let fake = FakeRealtime::start(Script::new()).await;
    let mut c = Client::connect(&fake).await;
    c.next().await;

    let id = c
        .send(json!({"type": "session.update", "session": {
            "modalities": ["text", "audio"], "voice": "alloy",
            "input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw",
            "turn_detection": {"type": "server_vad"}, "temperature": 0.8}}))
        .await;
    let err = c.expect_error(&id).await;
    assert!(!err["error"]["message"].as_str().unwrap().is_empty());
    let v = fake.violations().join("\n");
    for field in [
        "session.type",
        "session.modalities",
        "session.voice",
        "session.input_audio_format",
        "session.output_audio_format",
        "session.turn_detection",
        "session.temperature",
    ] {
        assert!(v.contains(field), "{field} is flagged in:\n{v}");
    }
    assert_eq!(
        fake.session()["audio"]["input"]["format"]["type"],
        "audio/pcm",
        "a refused update changes nothing"
    );

    // GA shape with a beta value inside, and both modalities.
    let id = c
        .send(json!({"type": "session.update", "session": {
            "type": "realtime", "output_modalities": ["audio", "text"],
            "audio": {"input": {"format": "g711_ulaw"}, "output": {"voice": "nova", "speed": 3}}}}))
        .await;
    c.expect_error(&id).await;
    let v = fake.violations().join("\n");
    for param in [
        "session.output_modalities",
        "session.audio.input.format",
        "session.audio.output.voice",
        "session.audio.output.speed",
    ] {
        assert!(v.contains(param), "{param} is flagged in:\n{v}");
    }
}

#[tokio::test]
async fn realtime_flags_malformed_events_and_answers_each_with_error() {
    let fake = FakeRealtime::start(Script::new().respond_with_audio(800, "Hi.")).await;
    let mut c = Client::connect(&fake).await;
    c.next().await;
    c.send(ga_session_update("Answer.")).await;
    c.until("session.updated").await;

    let bad = [
        json!({"type": "input_audio_buffer.append", "audio": "not base64!"}),
        json!({"type": "input_audio_buffer.append", "audio": ""}),
        json!({"type": "input_audio_buffer.append"}),
        json!({"type": "input_audio_buffer.append", "audio": b64(&[1, 2]), "extra": 1}),
        json!({"type": "response.audio.delta", "delta": "AAAA"}),
        json!({"type": "conversation.item.create", "item": {"type": "message", "role": "assistant",
               "content": [{"type": "output_audio", "audio": "AAAA"}]}}),
        json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
               "content": [{"type": "text", "text": "beta part type"}]}}),
        json!({"type": "conversation.item.create", "item": {"type": "function_call_output",
               "call_id": "call_1", "output": {"ok": true}}}),
        json!({"type": "conversation.item.create", "previous_item_id": "item_nope",
               "item": {"type": "message", "role": "user",
                        "content": [{"type": "input_text", "text": "hi"}]}}),
        json!({"type": "response.create", "response": {"modalities": ["audio"],
               "voice": "alloy", "conversation": "sometimes"}}),
        json!({"type": "conversation.item.truncate", "item_id": "item_x", "content_index": 1,
               "audio_end_ms": -5}),
        json!({"type": "conversation.item.truncate", "item_id": "item_x", "audio_end_ms": 1.5}),
        json!({"type": "conversation.item.truncate", "item_id": "item_unknown",
               "content_index": 0, "audio_end_ms": 10}),
        json!({"type": "input_audio_buffer.commit"}),
        json!({"type": "output_audio_buffer.clear"}),
        json!({"type": "session.update", "session": {"type": "realtime", "model": "gpt-4o"}}),
    ];
    for (i, event) in bad.iter().enumerate() {
        let id = c.send(event.clone()).await;
        c.expect_error(&id).await;
        assert!(
            fake.violations().len() > i,
            "event {i} ({event}) is recorded as a violation: {:?}",
            fake.violations()
        );
    }

    c.send_text("{not json").await;
    assert_eq!(c.next().await["type"], "error");
    c.ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(c.next().await["type"], "error");
    let before = fake.violations().len();

    // Truncating past the audio actually sent is refused like the real server does (§8).
    c.send(json!({"type": "response.create"})).await;
    let response = c.until("response.done").await;
    let item_id = response
        .iter()
        .find(|e| e["type"] == "response.output_audio.delta")
        .unwrap()["item_id"]
        .clone();
    let id = c
        .send(
            json!({"type": "conversation.item.truncate", "item_id": item_id,
                     "content_index": 0, "audio_end_ms": 101}),
        )
        .await;
    let err = c.expect_error(&id).await;
    assert_eq!(
        err["error"]["message"], "Audio content of 100ms is already shorter than 101ms",
        "800 bytes of μ-law is 100 ms (8 bytes = 1 ms)"
    );
    assert_eq!(fake.violations().len(), before + 1);
    assert!(fake.violations().last().unwrap().contains("audio_end_ms"));
}

#[tokio::test]
async fn realtime_rejects_bad_upgrades_and_the_beta_header() {
    let fake = FakeRealtime::start(Script::new()).await;

    let status = |r: Result<Client, tungstenite::Error>| match r {
        Err(tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("expected an HTTP answer, got {e}"),
        Ok(_) => panic!("expected the upgrade to be refused"),
    };
    assert_eq!(
        status(Client::connect_with(&fake, "gpt-realtime", Some("sk-wrong"), &[]).await),
        401
    );
    assert_eq!(
        status(Client::connect_with(&fake, "gpt-realtime", None, &[]).await),
        401
    );
    assert_eq!(
        status(Client::connect_with(&fake, "", Some(TEST_API_KEY), &[]).await),
        400
    );
    let rejected: Vec<u16> = fake.rejections().iter().map(|r| r.status).collect();
    assert_eq!(rejected, [401, 401, 400]);
    assert_eq!(fake.connection_count(), 0, "no upgrade happened");

    // Beta header: 101, then the error event, then a close (§0).
    let mut c = Client::connect_with(
        &fake,
        "gpt-4o-realtime-preview",
        Some(TEST_API_KEY),
        &[("openai-beta", "realtime=v1")],
    )
    .await
    .expect("the beta header still gets 101");
    let err = c.next().await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"]["code"], "beta_api_shape_disabled");
    assert_eq!(
        err["error"]["message"],
        "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
    );
    let close = tokio::time::timeout(T, c.ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Close(Some(frame)) = close else {
        panic!("expected a close frame, got {close:?}")
    };
    assert_eq!(u16::from(frame.code), 4000);
    assert_eq!(fake.wait_for_disconnect(T).await, Ended::ServerClosed(4000));
    assert!(fake.connections()[0].beta_header);
    assert!(
        fake.violations()[0].contains("OpenAI-Beta"),
        "the beta header is a client mistake: {:?}",
        fake.violations()
    );
}

#[tokio::test]
async fn realtime_refuses_on_request_and_unreachable_url_refuses_tcp() {
    let fake = FakeRealtime::start(Script::new().refuse_connections()).await;
    let err = Client::connect_with(&fake, "gpt-realtime", Some(TEST_API_KEY), &[])
        .await
        .err()
        .expect("refused");
    let tungstenite::Error::Http(resp) = err else {
        panic!("expected HTTP 503, got {err}")
    };
    assert_eq!(resp.status().as_u16(), 503);

    fake.refuse_connections(false);
    let mut c = Client::connect(&fake).await;
    assert_eq!(c.next().await["type"], "session.created");

    let url = format!("{}?model=gpt-realtime", FakeRealtime::unreachable_url());
    let err = tokio_tungstenite::connect_async(url)
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, tungstenite::Error::Io(_)), "{err}");
}

#[tokio::test]
async fn realtime_drop_and_close_end_the_connection_as_asked() {
    let fake = FakeRealtime::start(Script::new()).await;

    let mut c = Client::connect(&fake).await;
    c.next().await;
    fake.drop_connection();
    match tokio::time::timeout(T, c.ws.next()).await.unwrap() {
        None | Some(Err(_)) => {}
        Some(Ok(m)) => panic!("a dropped connection sends nothing, got {m:?}"),
    }
    assert_eq!(fake.wait_for_disconnect(T).await, Ended::ServerDropped);

    let mut c = Client::connect(&fake).await;
    c.next().await;
    fake.wait_for_connections(2, T).await;
    fake.close(1011);
    let msg = tokio::time::timeout(T, c.ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Close(Some(frame)) = msg else {
        panic!("expected a close frame, got {msg:?}")
    };
    assert_eq!(frame.code, CloseCode::Error);
    assert_eq!(fake.wait_for_disconnect(T).await, Ended::ServerClosed(1011));
    assert_eq!(fake.connection_count(), 2);
}

#[tokio::test]
async fn realtime_speech_started_cancels_the_response_in_flight_and_vad_starts_the_next() {
    // 20 deltas of 800 bytes, 50 ms apart: the response is still streaming when speech starts.
    let fake = FakeRealtime::start(
        Script::new()
            .respond_with_audio(16_000, "This is a long answer that the caller interrupts.")
            .respond_with_audio(800, "Go ahead.")
            .delta_interval(Duration::from_millis(50)),
    )
    .await;
    let mut c = Client::connect(&fake).await;
    c.next().await;
    c.send(ga_session_update("Be helpful.")).await;
    c.until("session.updated").await;

    c.send(json!({"type": "response.create"})).await;
    let first = c.until("response.output_audio.delta").await;
    let item_id = first.last().unwrap()["item_id"].clone();

    let user_item = fake.speech_started(1200);
    let mut after = Vec::new();
    loop {
        let e = c.next().await;
        if e["type"] == "response.done" {
            after.push(e);
            break;
        }
        after.push(e);
    }
    let started = after
        .iter()
        .find(|e| e["type"] == "input_audio_buffer.speech_started")
        .expect("speech_started is sent");
    assert_eq!(started["audio_start_ms"], 1200);
    assert_eq!(started["item_id"], user_item.as_str());
    let done = after.last().unwrap();
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(
        done["response"]["status_details"]["reason"],
        "turn_detected"
    );
    let sent: usize = first
        .iter()
        .chain(&after)
        .filter(|e| e["type"] == "response.output_audio.delta")
        .map(|e| unb64(&e["delta"]).len())
        .sum();
    assert!(
        sent < 16_000,
        "the cancelled response stopped early ({sent} bytes)"
    );

    // Truncating at what was sent is valid; nothing follows the cancelled response.done.
    c.send(
        json!({"type": "conversation.item.truncate", "item_id": item_id,
                  "content_index": 0, "audio_end_ms": sent / 8}),
    )
    .await;
    assert_eq!(c.next().await["type"], "conversation.item.truncated");

    fake.speech_stopped();
    let turn = c.until("response.done").await;
    let t = types(&turn);
    assert_eq!(
        t[..5],
        [
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "response.created"
        ],
        "create_response: the server answers the caller's turn by itself"
    );
    assert_eq!(turn[0]["item_id"], user_item.as_str());
    assert_eq!(turn.last().unwrap()["response"]["status"], "completed");
    assert_eq!(
        turn.last().unwrap()["response"]["output"][0]["content"][0]["transcript"],
        "Go ahead."
    );

    fake.caller_transcript("I need a plumber tomorrow.");
    let tr = c.next().await;
    assert_eq!(
        tr["type"],
        "conversation.item.input_audio_transcription.completed"
    );
    assert_eq!(tr["item_id"], user_item.as_str());
    assert_eq!(tr["content_index"], 0);
    assert_eq!(tr["transcript"], "I need a plumber tomorrow.");
    assert_eq!(tr["usage"]["type"], "tokens");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn realtime_agent_says_and_injected_errors_reach_the_client() {
    let fake = FakeRealtime::start(Script::new()).await;
    let mut c = Client::connect(&fake).await;
    c.next().await;
    fake.wait_for_connections(1, T).await;

    let response_id = fake.agent_says(1600, "Hi there");
    let events = c.until("response.done").await;
    assert_eq!(events[0]["type"], "response.created");
    assert_eq!(events[0]["response"]["id"], response_id.as_str());
    let audio: usize = events
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .map(|e| unb64(&e["delta"]).len())
        .sum();
    assert_eq!(audio, 1600);

    fake.error("rate_limit_exceeded", "Slow down.");
    let e = c.next().await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["code"], "rate_limit_exceeded");
    assert!(e["event_id"].is_string());

    // The client cancelling its own request.
    let fake2 = FakeRealtime::start(
        Script::new()
            .respond_with_audio(16_000, "Long.")
            .delta_interval(Duration::from_millis(50)),
    )
    .await;
    let mut c2 = Client::connect(&fake2).await;
    c2.next().await;
    c2.send(json!({"type": "response.create"})).await;
    c2.until("response.output_audio.delta").await;
    c2.send(json!({"type": "response.cancel"})).await;
    let done = c2.until("response.done").await;
    assert_eq!(done.last().unwrap()["response"]["status"], "cancelled");
    assert_eq!(
        done.last().unwrap()["response"]["status_details"]["reason"],
        "client_cancelled"
    );
    assert!(fake.violations().is_empty() && fake2.violations().is_empty());
}

#[tokio::test]
async fn realtime_echo_mode_answers_each_append_with_one_delta() {
    let fake = FakeRealtime::start(Script::new().echo()).await;
    let mut c = Client::connect(&fake).await;
    c.next().await;
    c.send(ga_session_update("Echo.")).await;
    c.until("session.updated").await;

    let mut item = None;
    for i in 0..20u8 {
        let frame = b64(&[i; 160]);
        c.send(json!({"type": "input_audio_buffer.append", "audio": frame}))
            .await;
        let e = c.next().await;
        assert_eq!(
            e["type"], "response.output_audio.delta",
            "one delta per append, nothing else"
        );
        assert_eq!(e["delta"], frame.as_str(), "the same payload comes back");
        let id = item.get_or_insert_with(|| e["item_id"].clone());
        assert_eq!(&e["item_id"], id, "one item id per connection");
    }
    assert_eq!(fake.appended_bytes(), 3200);
    // The echoed item is a real assistant item: truncating within it is valid.
    c.send(
        json!({"type": "conversation.item.truncate", "item_id": item.unwrap(),
                  "content_index": 0, "audio_end_ms": 400}),
    )
    .await;
    assert_eq!(c.next().await["type"], "conversation.item.truncated");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

// =============================================================================================
// Carrier media-stream clients
// =============================================================================================

type ServerWs = WebSocketStream<TcpStream>;

/// A bare WebSocket server playing the engine: accepts one connection, hands over the socket
/// and the handshake headers.
// tungstenite's handshake callback fixes the size of its error type.
#[allow(clippy::result_large_err)]
async fn engine_double() -> (
    String,
    tokio::task::JoinHandle<(ServerWs, tungstenite::http::HeaderMap)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/media", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut headers = None;
        let ws = tokio_tungstenite::accept_hdr_async(
            tcp,
            |req: &tungstenite::handshake::server::Request,
             resp: tungstenite::handshake::server::Response| {
                headers = Some(req.headers().clone());
                Ok(resp)
            },
        )
        .await
        .unwrap();
        (ws, headers.unwrap())
    });
    (url, task)
}

async fn recv(ws: &mut ServerWs) -> Value {
    loop {
        let msg = tokio::time::timeout(T, ws.next())
            .await
            .expect("the simulator sends within 5 s")
            .expect("open")
            .expect("clean frame");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Close(_) => panic!("unexpected close"),
            _ => {}
        }
    }
}

/// Reads the simulator's normal close (code 1000) and completes the closing handshake.
async fn expect_close(ws: &mut ServerWs) {
    let close = tokio::time::timeout(T, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        matches!(close, Message::Close(Some(ref f)) if f.code == CloseCode::Normal),
        "the carrier closes normally after `stop`: {close:?}"
    );
    // Reading on sends tungstenite's close reply and sees the end of the stream.
    let _ = tokio::time::timeout(T, ws.next()).await;
}

async fn send(ws: &mut ServerWs, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

#[tokio::test]
async fn twilio_sends_connected_start_and_numbered_media_dtmf_stop() {
    let (url, server) = engine_double().await;
    let twilio = TwilioMedia::connect(
        &url,
        "CA0123",
        &[("agent_id", "agt_42"), ("call_id", "c_9")],
    )
    .await
    .unwrap();
    let (mut ws, _) = server.await.unwrap();

    assert_eq!(
        recv(&mut ws).await,
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    );
    let start = recv(&mut ws).await;
    let sid = twilio.stream_sid().to_owned();
    assert!(
        sid.len() == 34 && sid.starts_with("MZ") && sid[2..].chars().all(|c| c.is_ascii_hexdigit()),
        "streamSid is MZ + 32 hex: {sid}"
    );
    assert_eq!(
        start,
        json!({"event": "start", "sequenceNumber": "1", "streamSid": sid,
               "start": {"accountSid": common::carriers::TWILIO_SID, "streamSid": sid,
                         "callSid": "CA0123", "tracks": ["inbound"],
                         "customParameters": {"agent_id": "agt_42", "call_id": "c_9"},
                         "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                         "channels": 1}}})
    );

    // 5 frames, real-time: the last leaves 80 ms after the first.
    let began = Instant::now();
    twilio.send_audio(&pcmu::tone(720, 300.0)).await.unwrap();
    assert!(
        began.elapsed() >= Duration::from_millis(80),
        "frames are paced 20 ms apart"
    );
    for i in 0..5u64 {
        let m = recv(&mut ws).await;
        assert_eq!(m["event"], "media");
        assert_eq!(m["streamSid"], sid.as_str());
        assert_eq!(
            m["sequenceNumber"],
            (i + 2).to_string(),
            "counters are strings"
        );
        assert_eq!(m["media"]["track"], "inbound");
        assert_eq!(m["media"]["chunk"], (i + 1).to_string());
        assert_eq!(m["media"]["timestamp"], (i * 20).to_string());
        let bytes = unb64(&m["media"]["payload"]);
        assert_eq!(bytes.len(), 160, "whole 20 ms frames");
        if i == 4 {
            assert_eq!(
                bytes[80..],
                [pcmu::SILENCE; 80],
                "the partial frame is padded"
            );
        }
    }
    assert_eq!(twilio.sent_ms(), 100);

    twilio.set_pacing(Pacing::Burst);
    twilio.send_silence(40).await.unwrap();
    for _ in 0..2 {
        assert_eq!(recv(&mut ws).await["event"], "media");
    }

    twilio.dtmf('7').await.unwrap();
    assert_eq!(
        recv(&mut ws).await,
        json!({"event": "dtmf", "streamSid": sid, "sequenceNumber": "9",
               "dtmf": {"track": "inbound_track", "digit": "7"}})
    );
    twilio.stop().await.unwrap();
    assert_eq!(
        recv(&mut ws).await,
        json!({"event": "stop", "sequenceNumber": "10", "streamSid": sid,
               "stop": {"accountSid": common::carriers::TWILIO_SID, "callSid": "CA0123"}})
    );
    expect_close(&mut ws).await;
    let closed = twilio.wait_closed(T).await;
    assert_eq!(
        closed.map(|f| f.code),
        Some(1000),
        "the double's reply to our close"
    );
    assert!(twilio.violations().is_empty());
}

#[tokio::test]
async fn twilio_accepts_only_media_mark_clear_for_its_stream() {
    let (url, server) = engine_double().await;
    let twilio = TwilioMedia::connect(&url, "CA1", &[]).await.unwrap();
    twilio.set_instant_playback(true);
    let (mut ws, _) = server.await.unwrap();
    recv(&mut ws).await;
    recv(&mut ws).await;
    let sid = twilio.stream_sid().to_owned();

    let audio = pcmu::tone(320, 500.0);
    send(
        &mut ws,
        json!({"event": "media", "streamSid": sid, "media": {"payload": b64(&audio)}}),
    )
    .await;
    send(
        &mut ws,
        json!({"event": "mark", "streamSid": sid, "mark": {"name": "m1"}}),
    )
    .await;
    send(&mut ws, json!({"event": "clear", "streamSid": sid})).await;
    let echo = recv(&mut ws).await;
    assert_eq!(echo["event"], "mark");
    assert_eq!(echo["streamSid"], sid.as_str());
    assert_eq!(echo["mark"]["name"], "m1");
    assert_eq!(
        echo["sequenceNumber"], "2",
        "the echo is numbered like every Twilio message"
    );
    twilio.wait_for_clear(T).await;
    assert_eq!(twilio.audio(), audio);
    let frames: Vec<Outbound> = twilio.received().into_iter().map(|r| r.frame).collect();
    assert_eq!(
        frames,
        [
            Outbound::Media(audio),
            Outbound::Mark("m1".into()),
            Outbound::Clear
        ]
    );
    assert!(twilio.violations().is_empty(), "{:?}", twilio.violations());

    let bad = [
        json!({"event": "media", "streamSid": "MZ0000", "media": {"payload": "AAAA"}}),
        json!({"event": "media", "media": {"payload": "AAAA"}}),
        json!({"event": "media", "streamSid": sid, "media": {"payload": "@@@"}}),
        json!({"event": "media", "streamSid": sid, "media": {"payload": ""}}),
        json!({"event": "media", "streamSid": sid,
               "media": {"payload": b64(b"RIFF\0\0\0\0WAVEfmt ")}}),
        json!({"event": "media", "streamSid": sid,
               "media": {"payload": "AAAA", "track": "outbound"}}),
        json!({"event": "mark", "streamSid": sid, "mark": {}}),
        json!({"event": "play", "streamSid": sid}),
        json!({"streamSid": sid}),
        json!({"event": "clear", "streamSid": sid, "sequenceNumber": "1"}),
    ];
    for b in &bad {
        send(&mut ws, b.clone()).await;
    }
    ws.send(Message::binary(vec![0xFFu8; 160])).await.unwrap();
    ws.send(Message::text("not json")).await.unwrap();
    // Then a valid frame: once it is recorded, every earlier frame has been judged.
    send(&mut ws, json!({"event": "clear", "streamSid": sid})).await;
    twilio.wait_for_clears(2, T).await;
    let v = twilio.violations();
    assert_eq!(
        v.len(),
        bad.len() + 2,
        "each bad frame is one violation: {v:#?}"
    );
    assert!(v[0].contains("streamSid"), "{}", v[0]);
    assert!(v[7].contains("31924"), "{}", v[7]);
}

#[tokio::test]
async fn twilio_echoes_a_mark_when_the_audio_before_it_has_played() {
    let (url, server) = engine_double().await;
    let twilio = TwilioMedia::connect(&url, "CA2", &[]).await.unwrap();
    let (mut ws, _) = server.await.unwrap();
    recv(&mut ws).await;
    recv(&mut ws).await;
    let sid = twilio.stream_sid().to_owned();

    // Nothing queued: the mark comes straight back.
    send(
        &mut ws,
        json!({"event": "mark", "streamSid": sid, "mark": {"name": "idle"}}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["mark"]["name"], "idle");

    // 100 ms of audio, then a mark: echoed once it has played, not before.
    let sent = Instant::now();
    send(
        &mut ws,
        json!({"event": "media", "streamSid": sid,
                         "media": {"payload": b64(&pcmu::tone(800, 440.0))}}),
    )
    .await;
    send(
        &mut ws,
        json!({"event": "mark", "streamSid": sid, "mark": {"name": "after-100ms"}}),
    )
    .await;
    let echo = recv(&mut ws).await;
    let waited = sent.elapsed();
    assert_eq!(echo["mark"]["name"], "after-100ms");
    assert!(
        waited >= Duration::from_millis(100),
        "8 bytes per ms: 800 bytes play for 100 ms (echo after {waited:?})"
    );
    assert_eq!(twilio.played_ms(), 100);
    assert_eq!(twilio.queued_ms(), 0);
    assert_eq!(twilio.marks_echoed(), ["idle", "after-100ms"]);
}

#[tokio::test]
async fn twilio_clear_drops_queued_audio_and_returns_pending_marks_at_once() {
    let (url, server) = engine_double().await;
    let twilio = TwilioMedia::connect(&url, "CA3", &[]).await.unwrap();
    let (mut ws, _) = server.await.unwrap();
    recv(&mut ws).await;
    recv(&mut ws).await;
    let sid = twilio.stream_sid().to_owned();

    for name in ["a", "b"] {
        send(
            &mut ws,
            json!({"event": "media", "streamSid": sid,
                             "media": {"payload": b64(&pcmu::tone(16_000, 440.0))}}),
        )
        .await;
        send(
            &mut ws,
            json!({"event": "mark", "streamSid": sid, "mark": {"name": name}}),
        )
        .await;
    }
    twilio.wait_for_audio_bytes(32_000, T).await;
    assert!(
        twilio.queued_ms() > 2000,
        "four seconds queued, real-time playback"
    );
    assert!(twilio.marks_echoed().is_empty());

    let cleared = Instant::now();
    send(&mut ws, json!({"event": "clear", "streamSid": sid})).await;
    assert_eq!(recv(&mut ws).await["mark"]["name"], "a");
    assert_eq!(recv(&mut ws).await["mark"]["name"], "b");
    assert!(
        cleared.elapsed() < Duration::from_millis(1500),
        "pending marks return at once on clear, not after the audio"
    );
    assert_eq!(twilio.queued_ms(), 0);
    let played = twilio.played_ms();
    assert!(
        played < 2000,
        "only what played before the clear counts: {played} ms"
    );
    twilio.wait_for_playback_idle(T).await;
}

#[tokio::test]
async fn twilio_reports_the_engine_closing_the_socket() {
    let (url, server) = engine_double().await;
    let twilio = TwilioMedia::connect(&url, "CA4", &[]).await.unwrap();
    let (mut ws, _) = server.await.unwrap();
    recv(&mut ws).await;
    recv(&mut ws).await;
    ws.close(Some(tungstenite::protocol::CloseFrame {
        code: CloseCode::Normal,
        reason: "call over".into(),
    }))
    .await
    .unwrap();
    assert_eq!(
        twilio.wait_closed(T).await,
        Some(CloseFrame {
            code: 1000,
            reason: "call over".into()
        })
    );
    assert!(matches!(
        twilio.send_silence(20).await,
        Err(MediaError::Closed)
    ));
}

#[tokio::test]
async fn telnyx_sends_its_own_frame_shapes_and_auth_header() {
    let (url, server) = engine_double().await;
    let telnyx = TelnyxMedia::connect(
        &url,
        "v2:abc",
        Some("aGF2ZSBhIG5pY2UgZGF5"),
        &[(AUTH_TOKEN_HEADER, "tok-1")],
    )
    .await
    .unwrap();
    let (mut ws, headers) = server.await.unwrap();
    assert_eq!(headers[AUTH_TOKEN_HEADER], "tok-1");

    assert_eq!(
        recv(&mut ws).await,
        json!({"event": "connected", "version": "1.0.0", AUTH_TOKEN_HEADER: "tok-1"})
    );
    let start = recv(&mut ws).await;
    let id = telnyx.stream_id().to_owned();
    assert_eq!(start["event"], "start");
    assert_eq!(start["sequence_number"], "1");
    assert_eq!(
        start["stream_id"],
        id.as_str(),
        "stream_id is top-level (§4.1)"
    );
    assert!(start["start"].get("stream_id").is_none());
    assert_eq!(start["start"]["call_control_id"], "v2:abc");
    assert_eq!(start["start"]["client_state"], "aGF2ZSBhIG5pY2UgZGF5");
    assert_eq!(
        start["start"]["media_format"],
        json!({"encoding": "PCMU", "sample_rate": 8000, "channels": 1})
    );

    telnyx.set_pacing(Pacing::Burst);
    telnyx.send_audio(&pcmu::tone(320, 300.0)).await.unwrap();
    for i in 0..2u64 {
        let m = recv(&mut ws).await;
        assert_eq!(m["event"], "media");
        assert_eq!(m["sequence_number"], (i + 2).to_string());
        assert_eq!(m["stream_id"], id.as_str());
        assert_eq!(m["media"]["track"], "inbound");
        assert_eq!(m["media"]["chunk"], (i + 1).to_string());
        assert_eq!(m["media"]["timestamp"], (i * 20).to_string());
        assert_eq!(unb64(&m["media"]["payload"]).len(), 160);
    }
    telnyx.dtmf('#').await.unwrap();
    assert_eq!(
        recv(&mut ws).await,
        json!({"event": "dtmf", "sequence_number": "4", "stream_id": id, "dtmf": {"digit": "#"}})
    );
    telnyx.stop().await.unwrap();
    let stop = recv(&mut ws).await;
    assert_eq!(stop["event"], "stop");
    assert_eq!(stop["sequence_number"], "5");
    assert_eq!(stop["stop"]["call_control_id"], "v2:abc");
    assert!(stop["stop"]["user_id"].is_string());
    expect_close(&mut ws).await;
    telnyx.wait_closed(T).await;
}

#[tokio::test]
async fn telnyx_checks_frames_and_plays_out_like_telnyx() {
    let (url, server) = engine_double().await;
    let telnyx = TelnyxMedia::connect(&url, "v2:def", None, &[])
        .await
        .unwrap();
    let (mut ws, _) = server.await.unwrap();
    assert_eq!(
        recv(&mut ws).await,
        json!({"event": "connected", "version": "1.0.0"})
    );
    assert!(recv(&mut ws).await["start"].get("client_state").is_none());
    let id = telnyx.stream_id().to_owned();

    // Valid with and without stream_id (§4.2 leaves it open).
    send(
        &mut ws,
        json!({"event": "media", "media": {"payload": b64(&pcmu::tone(800, 440.0))}}),
    )
    .await;
    send(
        &mut ws,
        json!({"event": "mark", "stream_id": id, "mark": {"name": "p1"}}),
    )
    .await;
    let echo = recv(&mut ws).await;
    assert_eq!(echo["event"], "mark");
    assert_eq!(echo["stream_id"], id.as_str());
    assert_eq!(echo["sequence_number"], "2");
    assert_eq!(echo["mark"]["name"], "p1");
    assert_eq!(
        telnyx.played_ms(),
        100,
        "the mark came back once 100 ms had played"
    );

    send(
        &mut ws,
        json!({"event": "media", "media": {"payload": b64(&pcmu::tone(8000, 440.0))}}),
    )
    .await;
    send(&mut ws, json!({"event": "mark", "mark": {"name": "p2"}})).await;
    send(&mut ws, json!({"event": "clear"})).await;
    assert_eq!(recv(&mut ws).await["mark"]["name"], "p2");
    assert_eq!(telnyx.queued_ms(), 0);
    assert!(telnyx.violations().is_empty(), "{:?}", telnyx.violations());

    let bad = [
        json!({"event": "media", "stream_id": "OTHER", "media": {"payload": b64(&[0xFF; 160])}}),
        json!({"event": "media", "media": {"payload": b64(&[0xFF; 80])}}),
        json!({"event": "media", "media": {"payload": b64(&[0xFF; 160]), "track": "outbound"}}),
        json!({"event": "mark", "mark": {"label": "x"}}),
        json!({"event": "stop"}),
    ];
    for b in &bad {
        send(&mut ws, b.clone()).await;
    }
    send(&mut ws, json!({"event": "clear"})).await;
    telnyx.wait_for_clears(2, T).await;
    let v = telnyx.violations();
    assert_eq!(v.len(), bad.len(), "{v:#?}");
    assert!(v[1].contains("20 ms to 30 s"), "{}", v[1]);
}

// =============================================================================================
// Telnyx Call Control dialing
// =============================================================================================

/// The simulator's own checks fire: a wrong key is refused, a dial off the protocol notes is
/// refused and logged as a violation, a repeated `command_id` places no second call, and a
/// hangup ends the call once (then `90018`), as `is_alive` shows.
#[tokio::test]
async fn telnyx_calls_checks_dials_and_commands_like_telnyx() {
    use common::telnyx_calls::{Script, TELNYX_API_KEY, TELNYX_CONNECTION_ID, TelnyxCalls};
    let sim = TelnyxCalls::start().await;
    sim.default_script(Script::Answer {
        talk: Duration::from_secs(30),
    });
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, key: &str, body: Option<Value>| {
        let mut req = http
            .request(method, format!("{}{path}", sim.base))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let dial = json!({"connection_id": TELNYX_CONNECTION_ID, "to": "+14155550199",
        "from": "+14155552671", "stream_url": "wss://sb.example.test/media/telnyx",
        "stream_bidirectional_mode": "rtp", "stream_bidirectional_codec": "PCMU",
        "client_state": b64(b"call-1"), "command_id": "dial-1"});

    let (status, _) = send(reqwest::Method::POST, "/calls", "wrong", Some(dial.clone())).await;
    assert_eq!(status, 401);
    let mut bad = dial.clone();
    bad["to"] = json!("4155550199");
    bad["stream_bidirectional_mode"] = json!("mp3");
    bad["answering_machine_detect"] = json!("detect");
    let (status, body) = send(reqwest::Method::POST, "/calls", TELNYX_API_KEY, Some(bad)).await;
    assert_eq!(status, 422, "{body}");
    let violations = sim.violations().join("\n");
    for expected in [
        "to 4155550199 is not E.164",
        "only used with stream_bidirectional_mode rtp",
        "a field Telnyx does not know: answering_machine_detect",
    ] {
        assert!(violations.contains(expected), "{violations}");
    }
    assert!(sim.dials().is_empty(), "nothing refused was dialed");

    let (status, first) = send(
        reqwest::Method::POST,
        "/calls",
        TELNYX_API_KEY,
        Some(dial.clone()),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let (_, again) = send(reqwest::Method::POST, "/calls", TELNYX_API_KEY, Some(dial)).await;
    let ccid = first["data"]["call_control_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(again["data"]["call_control_id"], ccid.as_str());
    assert_eq!(sim.dials().len(), 1, "a repeated command_id is ignored");
    assert_eq!(
        sim.dials()[0].call_id,
        "call-1",
        "our id, from client_state"
    );

    let path: String = url::form_urlencoded::byte_serialize(ccid.as_bytes()).collect();
    let status_now = async || {
        let call = format!("/calls/{path}");
        send(reqwest::Method::GET, &call, TELNYX_API_KEY, None)
            .await
            .1
    };
    let now = status_now().await;
    assert_eq!(now["data"]["is_alive"], true, "{now}");
    let hangup = format!("/calls/{path}/actions/hangup");
    let (status, _) = send(
        reqwest::Method::POST,
        &hangup,
        TELNYX_API_KEY,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sim.up_now(), 0);
    let (status, body) = send(
        reqwest::Method::POST,
        &hangup,
        TELNYX_API_KEY,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["code"].clone()),
        (422, json!("90018"))
    );
    let now = status_now().await;
    assert_eq!(now["data"]["is_alive"], false, "{now}");
    assert_eq!(sim.violations().len(), 3, "{:?}", sim.violations());
}

// =============================================================================================
// Twilio's REST API: numbers, judged by Twilio's OpenAPI document
// =============================================================================================

/// A plain client of the Twilio REST simulator, with the test account's credentials.
struct Rest {
    http: reqwest::Client,
    /// `http://127.0.0.1:port`: the host every `…_uri` in a reply is relative to (§7.7).
    host: String,
    account: String,
}

impl Rest {
    fn new(api: &TwilioApi) -> Self {
        Self {
            http: reqwest::Client::new(),
            host: api.base.trim_end_matches("/2010-04-01").to_owned(),
            account: format!("/2010-04-01/Accounts/{TWILIO_SID}"),
        }
    }

    /// `path` is relative to the host; the reply's status and JSON (`Null` if empty).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.host))
            .basic_auth(TWILIO_SID, Some(TWILIO_TOKEN));
        if !form.is_empty() {
            req = req.form(form);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, &[]).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, form).await
    }

    /// `…/Accounts/AC…{rest}`.
    fn at(&self, rest: &str) -> String {
        format!("{}{rest}", self.account)
    }
}

/// Five numbers read two at a time: each page's metadata says where it is, and following
/// `next_page_uri` (relative to the host) visits every number once, in order, until it is null.
#[tokio::test]
async fn twilio_api_pages_numbers_through_next_page_uri() {
    let twilio = TwilioApi::start().await;
    let rest = Rest::new(&twilio);
    let sids: Vec<String> = (0..5)
        .map(|i| twilio.add_number(&format!("+6129000000{i}"), None))
        .collect();

    let mut next = Some(rest.at("/IncomingPhoneNumbers.json?PageSize=2"));
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    while let Some(uri) = next {
        let (status, page) = rest.get(&uri).await;
        assert_eq!(status, 200, "{page}");
        for n in page["incoming_phone_numbers"].as_array().unwrap() {
            seen.push(n["sid"].as_str().unwrap().to_owned());
        }
        next = page["next_page_uri"].as_str().map(str::to_owned);
        pages.push(page);
    }
    assert_eq!(
        seen, sids,
        "every number once, in the order they were added"
    );
    assert_eq!(pages.len(), 3, "5 numbers, 2 a page");
    let meta = |p: &Value| {
        (
            p["page"].as_u64().unwrap(),
            p["page_size"].as_u64().unwrap(),
            p["start"].as_u64().unwrap(),
            p["end"].as_u64().unwrap(),
        )
    };
    assert_eq!(meta(&pages[0]), (0, 2, 0, 1));
    assert_eq!(meta(&pages[1]), (1, 2, 2, 3));
    assert_eq!(meta(&pages[2]), (2, 2, 4, 4));
    assert!(pages[0]["previous_page_uri"].is_null());
    let next_uri = pages[0]["next_page_uri"].as_str().unwrap();
    assert!(
        next_uri.starts_with(&rest.at("/IncomingPhoneNumbers.json?PageSize=2&Page=1&PageToken=PA")),
        "Twilio's shape of a next page URI: {next_uri}"
    );
    assert_eq!(
        pages[0]["first_page_uri"],
        rest.at("/IncomingPhoneNumbers.json?PageSize=2&Page=0")
    );
    // Going back from the last page lands on the middle one.
    let (_, back) = rest
        .get(pages[2]["previous_page_uri"].as_str().unwrap())
        .await;
    assert_eq!(
        back["incoming_phone_numbers"],
        pages[1]["incoming_phone_numbers"]
    );

    // A filter is applied and kept in the page URIs.
    let (_, one) = rest
        .get(&rest.at("/IncomingPhoneNumbers.json?PhoneNumber=%2B61290000003"))
        .await;
    assert_eq!(one["incoming_phone_numbers"].as_array().unwrap().len(), 1);
    assert_eq!(one["incoming_phone_numbers"][0]["sid"], sids[3].as_str());
    assert!(
        one["first_page_uri"]
            .as_str()
            .unwrap()
            .contains("PhoneNumber=%2B61290000003"),
        "{one}"
    );
    assert!(twilio.violations().is_empty(), "{:?}", twilio.violations());
}

/// What is not an operation of Twilio's OpenAPI document is refused with Twilio's error body
/// and recorded, naming the operation and the problem; the request is still on the record.
#[tokio::test]
async fn twilio_api_refuses_requests_off_the_openapi_document() {
    let twilio = TwilioApi::start().await;
    let rest = Rest::new(&twilio);

    let (status, body) = rest
        .get(&rest.at("/IncomingPhoneNumbers.json?Colour=blue"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], 20001);
    assert_eq!(body["status"], 400);
    assert!(body["more_info"].as_str().unwrap().contains("20001"));
    assert!(
        body["message"].as_str().unwrap().contains("Colour"),
        "{body}"
    );

    let (status, _) = rest
        .post(
            &rest.at("/IncomingPhoneNumbers.json"),
            &[("FriendlyName", "Main line")],
        )
        .await;
    assert_eq!(status, 400, "buying needs a PhoneNumber or an AreaCode");
    let (status, _) = rest
        .post(
            &rest.at("/IncomingPhoneNumbers.json"),
            &[("PhoneNumber", "+61290000000"), ("AreaCode", "415")],
        )
        .await;
    assert_eq!(status, 400, "and not both");
    let (status, _) = rest
        .post(
            &rest.at("/Calls/CA00000000000000000000000000000001.json"),
            &[("Status", "hung-up")],
        )
        .await;
    assert_eq!(status, 400, "a call's Status is completed or canceled");
    let (status, _) = rest
        .get(&rest.at("/IncomingPhoneNumbers.json?PageSize=0"))
        .await;
    assert_eq!(status, 400, "PageSize is 1 to 1000");
    let (status, body) = rest.get(&rest.at("/PhoneNumbers.json")).await;
    assert_eq!((status, body["code"].clone()), (404, json!(20404)));
    let (status, body) = rest
        .get(&format!(
            "/2010-04-01/Accounts/{TWILIO_SID}x/IncomingPhoneNumbers.json"
        ))
        .await;
    assert_eq!(status, 400, "an AccountSid is AC and 32 hex digits: {body}");

    let violations = twilio.violations();
    assert_eq!(violations.len(), 7, "{violations:#?}");
    let expected = [
        "ListIncomingPhoneNumber): unknown query parameter Colour",
        "CreateIncomingPhoneNumber): exactly one of PhoneNumber/AreaCode is required, 0 given",
        "CreateIncomingPhoneNumber): exactly one of PhoneNumber/AreaCode is required, 2 given",
        "UpdateCall): form Status=\"hung-up\": not one of canceled, completed",
        "ListIncomingPhoneNumber): query PageSize=\"0\": below the minimum 1",
        "/PhoneNumbers.json: no such path",
        "path AccountSid=",
    ];
    for (v, e) in violations.iter().zip(expected) {
        assert!(v.contains(e), "{v:?} should say {e:?}");
    }
    assert_eq!(
        twilio.requests().len(),
        7,
        "refused requests are recorded too"
    );
    assert_eq!(
        twilio.requests()[0].query,
        vec![("Colour".into(), "blue".into())]
    );

    // Valid but without credentials: Twilio's 401, not a violation of the document.
    let res = reqwest::get(format!(
        "{}/IncomingPhoneNumbers.json",
        rest.host.clone() + &rest.account
    ))
    .await
    .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(twilio.violations().len(), 7);
}

/// A number found by search is bought (with its voice URL), leaves the catalog, is updated,
/// fetched and released (204); after that it is gone (20404).
#[tokio::test]
async fn twilio_api_buys_updates_and_releases_a_number() {
    let twilio = TwilioApi::start().await;
    let rest = Rest::new(&twilio);
    twilio.add_available("AU", "Mobile", "+61412345678", "none", false);
    twilio.add_available("AU", "Mobile", "+61498765432", "none", false);
    twilio.add_available("AU", "Local", "+61291234567", "none", false);

    let search = rest.at("/AvailablePhoneNumbers/AU/Mobile.json?Contains=4*2345&VoiceEnabled=true");
    let (status, found) = rest.get(&search).await;
    assert_eq!(status, 200, "{found}");
    let numbers = found["available_phone_numbers"].as_array().unwrap();
    assert_eq!(numbers.len(), 1, "the wildcard matches one mobile: {found}");
    assert_eq!(numbers[0]["phone_number"], "+61412345678");
    assert_eq!(numbers[0]["iso_country"], "AU");
    assert_eq!(numbers[0]["address_requirements"], "none");
    assert_eq!(numbers[0]["capabilities"]["voice"], true);

    let (status, bought) = rest
        .post(
            &rest.at("/IncomingPhoneNumbers.json"),
            &[
                ("PhoneNumber", "+61412345678"),
                ("VoiceUrl", "https://sb.example.test/webhooks/twilio/voice"),
                ("FriendlyName", "Switchboard"),
            ],
        )
        .await;
    assert_eq!(status, 201, "{bought}");
    let sid = bought["sid"].as_str().unwrap().to_owned();
    assert!(
        sid.len() == 34 && sid.starts_with("PN") && sid[2..].chars().all(|c| c.is_ascii_hexdigit()),
        "{sid}"
    );
    assert_eq!(
        bought["voice_url"],
        "https://sb.example.test/webhooks/twilio/voice"
    );
    assert_eq!(bought["voice_method"], "POST", "Twilio's default");
    assert_eq!(bought["friendly_name"], "Switchboard");
    assert_eq!(bought["type"], "mobile");
    assert_eq!(bought["account_sid"], TWILIO_SID);
    assert_eq!(
        bought["uri"],
        rest.at(&format!("/IncomingPhoneNumbers/{sid}.json"))
    );
    assert_eq!(twilio.numbers(), vec![bought.clone()]);

    let (_, found) = rest.get(&search).await;
    assert_eq!(found["available_phone_numbers"], json!([]), "sold");
    let (status, body) = rest
        .post(
            &rest.at("/IncomingPhoneNumbers.json"),
            &[("PhoneNumber", "+61412345678")],
        )
        .await;
    assert_eq!((status, body["code"].clone()), (400, json!(21422)));

    let one = rest.at(&format!("/IncomingPhoneNumbers/{sid}.json"));
    let (status, updated) = rest
        .post(
            &one,
            &[
                ("VoiceMethod", "GET"),
                (
                    "StatusCallback",
                    "https://sb.example.test/webhooks/twilio/status",
                ),
            ],
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["voice_method"], "GET");
    assert_eq!(
        updated["status_callback"],
        "https://sb.example.test/webhooks/twilio/status"
    );
    assert_eq!(
        updated["voice_url"], bought["voice_url"],
        "what was not sent stays"
    );
    let (status, fetched) = rest.get(&one).await;
    assert_eq!((status, &fetched), (200, &updated));

    let (status, body) = rest.send(reqwest::Method::DELETE, &one, &[]).await;
    assert_eq!((status, body), (204, Value::Null), "released, empty body");
    assert!(twilio.numbers().is_empty());
    let (status, body) = rest.get(&one).await;
    assert_eq!((status, body["code"].clone()), (404, json!(20404)));
    let (status, _) = rest.send(reqwest::Method::DELETE, &one, &[]).await;
    assert_eq!(status, 404);
    assert!(twilio.violations().is_empty(), "{:?}", twilio.violations());
}

/// A number needing an address is not sold without one that meets its requirement (21631),
/// a regulated one not without a bundle (21649), and one someone else took not at all (21422).
#[tokio::test]
async fn twilio_api_requires_addresses_and_bundles_to_buy() {
    let twilio = TwilioApi::start().await;
    let rest = Rest::new(&twilio);
    twilio.add_available("AU", "Local", "+61290000001", "local", false);
    twilio.add_available("AU", "Mobile", "+61400000002", "any", true);
    twilio.add_available("AU", "Mobile", "+61400000003", "none", false);
    let buy = rest.at("/IncomingPhoneNumbers.json");

    let (status, body) = rest.post(&buy, &[("PhoneNumber", "+61290000001")]).await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!(21631)),
        "{body}"
    );
    let auckland = twilio.add_address("Auckland office", "NZ");
    let (status, body) = rest
        .post(
            &buy,
            &[("PhoneNumber", "+61290000001"), ("AddressSid", &auckland)],
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!(21631)),
        "a local number needs an address in its own country: {body}"
    );
    let sydney = twilio.add_address("Sydney office", "AU");
    let (status, body) = rest
        .post(
            &buy,
            &[("PhoneNumber", "+61290000001"), ("AddressSid", &sydney)],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["address_sid"], sydney.as_str());
    assert_eq!(body["address_requirements"], "local");

    let (status, body) = rest
        .post(
            &buy,
            &[("PhoneNumber", "+61400000002"), ("AddressSid", &auckland)],
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!(21649)),
        "{body}"
    );
    // A bundle that is not an approved one of this account's for that country: as none.
    let draft = twilio.add_bundle("AU draft", "AU", "mobile", "draft", None);
    let bundle = twilio.add_bundle("AU mobiles", "AU", "mobile", "twilio-approved", None);
    for refused in ["BU0123456789abcdef0123456789abcdef", draft.as_str()] {
        let (status, body) = rest
            .post(
                &buy,
                &[
                    ("PhoneNumber", "+61400000002"),
                    ("AddressSid", &auckland),
                    ("BundleSid", refused),
                ],
            )
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!(21649)),
            "{refused}: {body}"
        );
    }
    let (status, body) = rest
        .post(
            &buy,
            &[
                ("PhoneNumber", "+61400000002"),
                ("AddressSid", &auckland),
                ("BundleSid", &bundle),
            ],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["bundle_sid"], bundle.as_str());

    twilio.take_available("+61400000003");
    let (status, body) = rest.post(&buy, &[("PhoneNumber", "+61400000003")]).await;
    assert_eq!(
        (status, body["code"].clone()),
        (400, json!(21422)),
        "{body}"
    );

    let (status, list) = rest.get(&rest.at("/Addresses.json?IsoCountry=AU")).await;
    assert_eq!(status, 200, "{list}");
    let addresses = list["addresses"].as_array().unwrap();
    assert_eq!(addresses.len(), 1, "{list}");
    assert_eq!(addresses[0]["sid"], sydney.as_str());
    assert_eq!(addresses[0]["friendly_name"], "Sydney office");
    assert!(list["next_page_uri"].is_null());
    assert_eq!(twilio.numbers().len(), 2);
    assert!(twilio.violations().is_empty(), "{:?}", twilio.violations());
}

/// `stall_next` holds a request without an answer, so a client's timeout fires; `refuse`
/// answers every valid request with the error it was given.
#[tokio::test]
async fn twilio_api_stalls_and_refuses_on_request() {
    let twilio = TwilioApi::start().await;
    let rest = Rest::new(&twilio);
    twilio.stall_next(1);
    let list = format!("{}{}", rest.host, rest.at("/IncomingPhoneNumbers.json"));
    let stalled = rest
        .http
        .get(&list)
        .basic_auth(TWILIO_SID, Some(TWILIO_TOKEN))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(stalled.is_err_and(|e| e.is_timeout()), "no answer came");
    let (status, _) = rest.get(&rest.at("/IncomingPhoneNumbers.json")).await;
    assert_eq!(status, 200, "only the next request stalls");

    let error = json!({"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429});
    twilio.refuse(429, error.clone());
    let (status, body) = rest.get(&rest.at("/IncomingPhoneNumbers.json")).await;
    assert_eq!((status, body), (429, error));
    assert_eq!(twilio.requests().len(), 3);
}
