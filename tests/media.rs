//! The media bridge end to end: a call arrives by signed webhook, the carrier's media stream
//! (played by a protocol-exact Twilio or Telnyx client) connects to the engine, and the
//! engine bridges it to a fake OpenAI Realtime server that checks every event it receives
//! against the protocol notes. All over real loopback sockets.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::campaigns::TestClock;
use common::carriers::{
    TWILIO_SID, TWILIO_TOKEN, TelnyxApi, TelnyxKeys, TwilioApi, telnyx_event, twilio_signature,
};
use common::media_stream::MediaStream;
use common::realtime::{FakeRealtime, Script, TEST_API_KEY};
use common::telnyx_media::TelnyxMedia;
use common::twilio_media::TwilioMedia;
use common::{TestEngine, config, pcmu, sound};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PUBLIC: &str = "https://sb.example.test";
const OUR_NUMBER: &str = "+14155552671";
const CALLER: &str = "+14158675309";
const WAIT: Duration = Duration::from_secs(5);

struct World {
    engine: TestEngine,
    realtime: FakeRealtime,
    twilio: TwilioApi,
    telnyx: TelnyxApi,
    keys: TelnyxKeys,
    http: reqwest::Client,
    agent: String,
    _tmp: tempfile::TempDir,
}

/// The engine's configuration in a `World` (its simulators and credentials).
fn world_config(
    dir: &std::path::Path,
    twilio: &TwilioApi,
    telnyx: &TelnyxApi,
    keys: &TelnyxKeys,
    backend_url: String,
) -> switchboard::config::Config {
    let mut cfg = config(dir);
    cfg.telnyx_api_url = telnyx.base.clone();
    cfg.twilio_api_url = twilio.base.clone();
    cfg.openai_realtime_url = backend_url;
    cfg.credential_env = vec![
        ("TWILIO_ACCOUNT_SID".into(), TWILIO_SID.into()),
        ("TWILIO_AUTH_TOKEN".into(), TWILIO_TOKEN.into()),
        ("TELNYX_API_KEY".into(), "KEY-telnyx-test".into()),
        ("TELNYX_PUBLIC_KEY".into(), keys.public_key_b64()),
        ("OPENAI_API_KEY".into(), TEST_API_KEY.into()),
    ];
    cfg
}

impl World {
    /// The same world with its engine stopped and started again on its data directory.
    async fn restarted(self) -> Self {
        let cfg = world_config(
            self._tmp.path(),
            &self.twilio,
            &self.telnyx,
            &self.keys,
            self.realtime.url(),
        );
        let World {
            engine,
            realtime,
            twilio,
            telnyx,
            keys,
            http,
            agent,
            _tmp,
        } = self;
        engine.stop().await;
        let engine = TestEngine::start_with(cfg).await;
        Self {
            engine,
            realtime,
            twilio,
            telnyx,
            keys,
            http,
            agent,
            _tmp,
        }
    }

    async fn start(script: Script) -> Self {
        Self::start_with(script, None, false).await
    }

    /// With the engine's clock (what the recording retention reads) in the test's hands.
    async fn start_clocked(script: Script, clock: Arc<TestClock>) -> Self {
        Self::start_full(script, None, false, Some(clock)).await
    }

    /// With a private keyring (tool secrets live only there); needs the Secret Service that
    /// scripts/test.sh starts.
    async fn start_with_keyring(script: Script) -> Self {
        Self::start_with(script, None, true).await
    }

    /// `backend_url` overrides the fake's own URL (to point at nothing).
    async fn start_with(script: Script, backend_url: Option<String>, keyring: bool) -> Self {
        Self::start_full(script, backend_url, keyring, None).await
    }

    async fn start_full(
        script: Script,
        backend_url: Option<String>,
        keyring: bool,
        clock: Option<Arc<TestClock>>,
    ) -> Self {
        Self::start_on(script, backend_url, keyring, clock, None).await
    }

    /// `database`: a PostgreSQL URL and schema other engines share (else the suite's own).
    async fn start_on(
        script: Script,
        backend_url: Option<String>,
        keyring: bool,
        clock: Option<Arc<TestClock>>,
        database: Option<&(String, String)>,
    ) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let realtime = FakeRealtime::start(script).await;
        let twilio = TwilioApi::start().await;
        let telnyx = TelnyxApi::start().await;
        let keys = TelnyxKeys::new();
        let backend_url = backend_url.unwrap_or_else(|| realtime.url());
        let mut cfg = world_config(tmp.path(), &twilio, &telnyx, &keys, backend_url);
        cfg.clock = clock.map(|c| c as switchboard::domain::SharedClock);
        if let Some((url, schema)) = database {
            cfg.database_url = Some(url.clone());
            cfg.database_schema = Some(schema.clone());
        }
        if keyring {
            cfg.no_keyring = false;
            cfg.keyring_service = format!("switchboard-media-test-{}", common::rand_suffix());
        }
        let engine = TestEngine::start_with(cfg).await;
        let api = &engine.api;
        let (s, _) = api
            .put("/api/settings", json!({"public_base_url": PUBLIC}))
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, agent) = api
            .post(
                "/api/agents",
                json!({
                    "name": "Receptionist",
                    "system_prompt": "You answer for Acme Plumbing. The caller is {name}.",
                    "greeting": "Acme Plumbing, how can I help?",
                    "voice": "cedar",
                    "model": "gpt-realtime",
                    "context": {"opening_hours": "8-18"},
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{agent}");
        let agent = agent["id"].as_str().unwrap().to_owned();
        Self {
            engine,
            realtime,
            twilio,
            telnyx,
            keys,
            http: reqwest::Client::new(),
            agent,
            _tmp: tmp,
        }
    }

    async fn number(&self, carrier: &str) {
        let (s, n) = self
            .engine
            .api
            .post(
                "/api/phone-numbers",
                json!({"number": OUR_NUMBER, "carrier": carrier, "inbound_agent_id": self.agent}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
    }

    fn media_url(&self, carrier: &str) -> String {
        format!(
            "{}/media/{carrier}",
            self.engine.public_url().replacen("http", "ws", 1)
        )
    }

    /// A Twilio call arrives; returns the TwiML's stream parameters (call id, agent id).
    async fn twilio_call(&self, call_sid: &str) -> (String, String) {
        let path = "/webhooks/twilio/voice";
        let params = [
            ("AccountSid", TWILIO_SID),
            ("CallSid", call_sid),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
            ("From", CALLER),
            ("To", OUR_NUMBER),
        ];
        let sig = twilio_signature(TWILIO_TOKEN, &format!("{PUBLIC}{path}"), &params);
        let res = self
            .http
            .post(format!("{}{path}", self.engine.public_url()))
            .header("x-twilio-signature", sig)
            .form(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let twiml = res.text().await.unwrap();
        let param = |name: &str| {
            let key = format!("name=\"{name}\" value=\"");
            let at = twiml.find(&key).unwrap_or_else(|| panic!("{twiml}")) + key.len();
            twiml[at..].split('"').next().unwrap().to_owned()
        };
        assert!(
            twiml.contains("<Stream url=\"wss://sb.example.test/media/twilio\""),
            "{twiml}"
        );
        assert!(
            twiml.contains(
                "statusCallback=\"https://sb.example.test/webhooks/twilio/stream-status\""
            ),
            "{twiml}"
        );
        (param("call_id"), param("agent_id"))
    }

    async fn twilio_stream(&self, call_sid: &str) -> (String, TwilioMedia) {
        let (call_id, agent_id) = self.twilio_call(call_sid).await;
        let media = TwilioMedia::connect(
            &self.media_url("twilio"),
            call_sid,
            &[("call_id", &call_id), ("agent_id", &agent_id)],
        )
        .await
        .unwrap();
        (call_id, media)
    }

    /// The sid the Twilio simulator gave the last call placed through it.
    fn twilio_leg_sid(&self) -> String {
        let requests = self.twilio.requests();
        let n = requests
            .iter()
            .rposition(|r| r.path.ends_with("/Calls.json"))
            .expect("a call was placed");
        format!("CA{:032x}", 0xc0ffee_u128 + n as u128 + 1)
    }

    /// Sends a Twilio form webhook signed for its public URL.
    async fn twilio_webhook(&self, path: &str, params: &[(&str, &str)]) -> StatusCode {
        let sig = twilio_signature(TWILIO_TOKEN, &format!("{PUBLIC}{path}"), params);
        self.http
            .post(format!("{}{path}", self.engine.public_url()))
            .header("x-twilio-signature", sig)
            .form(params)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Sends a signed Telnyx Call Control event.
    async fn telnyx_webhook(&self, event_type: &str, event_id: &str, payload: Value) {
        let body = telnyx_event(event_type, event_id, payload);
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let res = self
            .http
            .post(format!("{}/webhooks/telnyx", self.engine.public_url()))
            .header("telnyx-signature-ed25519", self.keys.sign(ts, &body))
            .header("telnyx-timestamp", ts.to_string())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    /// A Telnyx call arrives at our number.
    async fn telnyx_incoming(&self, ccid: &str) {
        self.telnyx_webhook(
            "call.initiated",
            &format!("initiated-{ccid}"),
            json!({
                "call_control_id": ccid, "call_leg_id": "leg-1", "call_session_id": "sess-1",
                "connection_id": "1494404757140276705", "direction": "incoming",
                "from": CALLER, "to": OUR_NUMBER, "state": "parked",
                "start_time": "2026-11-22T10:00:00.000000Z"
            }),
        )
        .await;
    }

    /// A Telnyx call arrives, is answered, and its media stream connects with the answer's
    /// client state; returns the call id and the stream.
    async fn telnyx_stream(&self, ccid: &str) -> (String, TelnyxMedia) {
        let before = self.telnyx.commands().len();
        self.telnyx_incoming(ccid).await;
        let answer = self.telnyx.wait_for(before + 1).await.remove(before);
        assert_eq!(answer.action, "answer");
        let client_state = answer.body["client_state"].as_str().unwrap().to_owned();
        let call_id = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(&client_state)
                .unwrap(),
        )
        .unwrap();
        let media = TelnyxMedia::connect(&self.media_url("telnyx"), ccid, Some(&client_state), &[])
            .await
            .unwrap();
        (call_id, media)
    }

    async fn call(&self, id: &str) -> Value {
        let (s, call) = self.engine.api.get(&format!("/api/calls/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{call}");
        call
    }

    /// Polls the call until `check` holds (the record is written off the media path).
    async fn call_until(&self, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let call = self.call(id).await;
            if check(&call) {
                return call;
            }
            assert!(Instant::now() < deadline, "call never {what}: {call:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The call's record once it has ended.
    async fn ended(&self, id: &str) -> Value {
        self.call_until(id, "ended", |c| c["ended_at"].is_string())
            .await
    }

    fn assert_clean(&self, media: &[&[String]]) {
        assert_eq!(
            self.realtime.violations(),
            Vec::<String>::new(),
            "every event the engine sent the backend follows the GA protocol"
        );
        for v in media {
            assert!(
                v.is_empty(),
                "every frame the engine sent the carrier is valid: {v:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_twilio_call_talks_to_the_agent_from_webhook_to_hangup() {
    let w = World::start(Script::new().respond_with_audio(4_000, "Acme Plumbing, how can I help?"))
        .await;
    w.number("twilio").await;
    let (call_id, media) = w.twilio_stream("CA00000000000000000000000000000001").await;
    media.set_instant_playback(true);

    // The session is configured from the agent, in the GA shape, μ-law both ways.
    let update = w.realtime.wait_for_event("session.update", WAIT).await;
    let s = &update["session"];
    assert_eq!(s["type"], "realtime");
    assert_eq!(s["model"], "gpt-realtime");
    assert_eq!(s["audio"]["input"]["format"]["type"], "audio/pcmu");
    assert_eq!(s["audio"]["output"]["format"]["type"], "audio/pcmu");
    assert_eq!(s["audio"]["output"]["voice"], "cedar");
    assert_eq!(s["audio"]["input"]["turn_detection"]["type"], "server_vad");
    assert!(s["audio"]["input"]["transcription"]["model"].is_string());
    let instructions = s["instructions"].as_str().unwrap();
    assert!(
        instructions.starts_with("You answer for Acme Plumbing."),
        "{instructions}"
    );
    assert!(
        instructions.contains("- opening hours: 8-18"),
        "{instructions}"
    );
    let connection = &w.realtime.connections()[0];
    assert_eq!(connection.model, "gpt-realtime");
    assert_eq!(connection.api_key, TEST_API_KEY);

    // Inbound: the agent greets first, and its audio reaches the caller unchanged.
    let greet = w.realtime.wait_for_event("response.create", WAIT).await;
    assert!(
        greet["response"]["instructions"]
            .as_str()
            .unwrap()
            .contains("Acme Plumbing, how can I help?"),
        "{greet}"
    );
    media.wait_for_audio_bytes(4_000, WAIT).await;
    let sent: Vec<u8> = w
        .realtime
        .server_events()
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .flat_map(|e| {
            base64::engine::general_purpose::STANDARD
                .decode(e["delta"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    assert_eq!(
        media.audio(),
        sent,
        "agent audio passes through byte for byte"
    );
    assert!(
        !media.marks().is_empty(),
        "each chunk is followed by a mark"
    );

    // The caller's audio reaches the backend unchanged.
    let hello = pcmu::tone(3_200, 440.0);
    media.send_audio(&hello).await.unwrap();
    let appended = w.realtime.wait_for_appended_bytes(hello.len(), WAIT).await;
    assert_eq!(appended, hello.len());

    // Transcript lines of both sides are kept, in order.
    w.realtime.caller_transcript("My sink is leaking.");
    let call = w
        .call_until(&call_id, "has two transcript lines", |c| {
            c["transcript"].as_array().unwrap().len() >= 2
        })
        .await;
    let lines: Vec<(String, String)> = call["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["speaker"].as_str().unwrap().into(),
                l["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("agent".into(), "Acme Plumbing, how can I help?".into()),
            ("caller".into(), "My sink is leaking.".into()),
        ]
    );
    assert_eq!(
        call["status"], "in_progress",
        "a streaming call is answered"
    );
    let (_, live) = w.engine.api.get("/api/calls?status=live").await;
    assert_eq!(live["total"], 1);
    let monitored = &live["items"][0];
    assert_eq!(monitored["agent_name"], "Receptionist");
    assert_eq!(monitored["direction"], "inbound");
    assert_eq!(monitored["to_number"], OUR_NUMBER);
    assert!(
        monitored["duration_secs"].as_i64().is_some_and(|d| d >= 0),
        "a live call's duration so far: {monitored}"
    );

    // The caller hangs up: the backend session is closed and the record completed.
    media.stop().await.unwrap();
    let ended = w.realtime.wait_for_disconnect(WAIT).await;
    assert!(format!("{ended:?}").contains("ClientClosed"), "{ended:?}");
    let call = w
        .call_until(&call_id, "completed", |c| c["status"] == "completed")
        .await;
    assert!(call["duration_secs"].is_number(), "{call}");
    w.assert_clean(&[&media.violations()]);
}

/// Five seconds of agent audio arrive at once, as OpenAI sends them; the carrier plays them
/// in real time; 600 ms in, the caller speaks.
async fn barge_in(w: &World, media: &MediaStream) {
    media.wait_for_audio_bytes(40_000, WAIT).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let played_before = media.played_ms();
    w.realtime.speech_started(1_000);
    media.wait_for_clear(WAIT).await;
    let played_after = media.played_ms();
    let truncate = w
        .realtime
        .wait_for_event("conversation.item.truncate", WAIT)
        .await;
    let audio_end_ms = truncate["audio_end_ms"].as_u64().unwrap();
    assert_eq!(truncate["content_index"], 0);
    let item = w
        .realtime
        .server_events()
        .into_iter()
        .find(|e| e["type"] == "response.output_audio.delta")
        .unwrap();
    assert_eq!(
        truncate["item_id"], item["item_id"],
        "the agent's item is the one cut"
    );
    // What the caller heard lies between the playback position just before and just after
    // the barge-in; allow one 20 ms frame either side for the engine's estimate.
    assert!(
        audio_end_ms + 20 >= played_before && audio_end_ms <= played_after + 20,
        "truncated at {audio_end_ms} ms; the caller had heard {played_before}..{played_after} ms"
    );
    assert!(media.queued_ms() == 0, "the carrier's queue was emptied");
    w.assert_clean(&[&media.violations()]);
}

#[tokio::test]
async fn the_caller_barging_in_clears_the_carrier_and_truncates_at_what_was_heard() {
    let w = World::start(Script::new().respond_with_audio(40_000, "A long answer.")).await;
    w.number("twilio").await;
    let (_call_id, media) = w.twilio_stream("CA00000000000000000000000000000002").await;
    barge_in(&w, &media).await;
}

#[tokio::test]
async fn barge_in_works_the_same_on_telnyx() {
    let w = World::start(Script::new().respond_with_audio(40_000, "A long answer.")).await;
    w.number("telnyx").await;
    let (_call_id, media) = w.telnyx_stream("v3:telnyx-barge-in").await;
    barge_in(&w, &media).await;
}

#[tokio::test]
async fn context_edits_reach_live_sessions_and_an_event_says_so() {
    let w = World::start(Script::new().respond_with_audio(800, "Hi.")).await;
    w.number("twilio").await;
    let (call_id, media) = w.twilio_stream("CA00000000000000000000000000000003").await;
    media.set_instant_playback(true);
    w.realtime.wait_for_event("session.update", WAIT).await;

    let events_url = format!(
        "ws://{}/api/events?access_token={}",
        w.engine.running.control_addr(),
        w.engine.running.token()
    );
    let (mut events, _) = tokio_tungstenite::connect_async(events_url).await.unwrap();

    // The agent's context changes mid-call.
    let asked = Instant::now();
    let (s, body) = w
        .engine
        .api
        .put(
            &format!("/api/agents/{}/context", w.agent),
            json!({"opening_hours": "closed today", "emergency_line": "+14155550199"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["live_calls_updated"], 1);
    let updates = w.realtime.wait_for_events("session.update", 2, WAIT).await;
    let text = updates[1]["session"]["instructions"].as_str().unwrap();
    assert!(text.contains("- opening hours: closed today"), "{text}");
    assert!(text.contains("- emergency line: +14155550199"), "{text}");
    assert!(!text.contains("8-18"), "the old context is gone: {text}");
    let (arrived, _) = w.realtime.instructions_history()[1].clone();
    // Reported, not asserted (timing belongs to benchmarks): the issue asks for < 200 ms.
    eprintln!(
        "context edit reached the voice session {:.1} ms after the request",
        arrived.duration_since(asked).as_secs_f64() * 1e3
    );
    wait_for_event(&mut events, "call_context_applied", &call_id).await;

    // The call's own context fills the prompt's placeholders.
    let (s, body) = w
        .engine
        .api
        .put(
            &format!("/api/calls/{call_id}/context"),
            json!({"name": "Ada Lovelace"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["live_calls_updated"], 1);
    let updates = w.realtime.wait_for_events("session.update", 3, WAIT).await;
    let text = updates[2]["session"]["instructions"].as_str().unwrap();
    assert!(text.contains("The caller is Ada Lovelace."), "{text}");
    assert!(
        text.contains("About this call:\n- name: Ada Lovelace"),
        "{text}"
    );
    wait_for_event(&mut events, "call_context_applied", &call_id).await;
    assert_eq!(w.call(&call_id).await["context"]["name"], "Ada Lovelace");

    // Bad input changes nothing.
    let (s, _) = w
        .engine
        .api
        .put(
            &format!("/api/calls/{call_id}/context"),
            json!(["not", "an", "object"]),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = w
        .engine
        .api
        .put("/api/calls/nope/context", json!({"name": "x"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(w.realtime.client_events_of("session.update").len(), 3);

    media.stop().await.unwrap();
    w.call_until(&call_id, "completed", |c| c["status"] == "completed")
        .await;
    let (s, _) = w
        .engine
        .api
        .put(
            &format!("/api/calls/{call_id}/context"),
            json!({"name": "late"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "an ended call takes no context");
    w.assert_clean(&[&media.violations()]);
}

async fn wait_for_event(
    events: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    kind: &str,
    call_id: &str,
) {
    use futures_util::StreamExt as _;
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, events.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event for {call_id}"))
            .unwrap()
            .unwrap();
        if let Ok(text) = msg.to_text()
            && let Ok(v) = serde_json::from_str::<Value>(text)
            && v["type"] == kind
            && v["call_id"] == call_id
        {
            return;
        }
    }
}

#[tokio::test]
async fn an_unreachable_backend_ends_the_call_through_twilio_and_says_why() {
    let w = World::start_with(Script::new(), Some(FakeRealtime::unreachable_url()), false).await;
    w.number("twilio").await;
    let sid = "CA00000000000000000000000000000004";
    let (call_id, media) = w.twilio_stream(sid).await;
    let requests = w.twilio.wait_for(1).await;
    assert_eq!(
        requests[0].path,
        format!("/2010-04-01/Accounts/{TWILIO_SID}/Calls/{sid}.json")
    );
    assert_eq!(
        requests[0].form,
        vec![("Status".into(), "completed".into())]
    );
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}"))
    );
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some(expected_auth.as_str())
    );
    assert!(
        w.twilio.violations().is_empty(),
        "the hang-up is an operation of Twilio's OpenAPI document: {:?}",
        w.twilio.violations()
    );
    media.wait_closed(WAIT).await;
    let call = w.ended(&call_id).await;
    // The carrier connected the call, so it completed; the cause says what went wrong.
    assert_eq!(call["status"], "completed");
    let cause = call["hangup_cause"].as_str().unwrap();
    assert!(
        cause.contains("voice backend could not be reached"),
        "{cause}"
    );
    assert!(!cause.contains(TEST_API_KEY), "no secret in the record");
    assert_eq!(
        w.engine.running.engine.live_calls().len(),
        0,
        "nothing hangs"
    );
}

#[tokio::test]
async fn a_backend_refusing_the_session_ends_the_call() {
    let w = World::start(Script::new().refuse_connections()).await;
    w.number("twilio").await;
    let (call_id, media) = w.twilio_stream("CA00000000000000000000000000000005").await;
    w.twilio.wait_for(1).await;
    media.wait_closed(WAIT).await;
    let call = w.ended(&call_id).await;
    let cause = call["hangup_cause"].as_str().unwrap();
    assert!(cause.contains("refused"), "{cause}");
    assert!(
        cause.contains("503"),
        "the backend's status is kept: {cause}"
    );
}

#[tokio::test]
async fn a_backend_dropping_mid_call_ends_the_call_cleanly() {
    let w = World::start(Script::new().respond_with_audio(800, "Hi.")).await;
    w.number("twilio").await;
    let (call_id, media) = w.twilio_stream("CA00000000000000000000000000000006").await;
    media.set_instant_playback(true);
    media.wait_for_audio_bytes(800, WAIT).await;
    w.realtime.drop_connection();
    w.twilio.wait_for(1).await;
    media.wait_closed(WAIT).await;
    let call = w.ended(&call_id).await;
    assert_eq!(call["status"], "completed");
    assert!(
        call["hangup_cause"]
            .as_str()
            .unwrap()
            .contains("connection was lost"),
        "{call}"
    );
    assert_eq!(w.engine.running.engine.live_calls().len(), 0);
}

#[tokio::test]
async fn a_hang_up_the_carrier_refuses_is_on_the_record() {
    let w = World::start(Script::new().respond_with_audio(800, "Hi.")).await;
    w.number("twilio").await;
    let (call_id, media) = w.twilio_stream("CA0000000000000000000000000000000a").await;
    media.set_instant_playback(true);
    media.wait_for_audio_bytes(800, WAIT).await;
    w.twilio.refuse(
        401,
        json!({"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}),
    );
    w.realtime.drop_connection();
    media.wait_closed(WAIT).await;
    let call = w.ended(&call_id).await;
    let cause = call["hangup_cause"].as_str().unwrap();
    assert!(cause.contains("connection was lost"), "{cause}");
    assert!(
        cause.contains("could not hang up") && cause.contains("Authenticate"),
        "the operator can see the carrier may still have the call: {cause}"
    );
    assert!(!cause.contains(TWILIO_TOKEN), "{cause}");
}

#[tokio::test]
async fn malformed_frames_are_skipped_and_streams_for_unknown_calls_are_closed() {
    let w = World::start(Script::new().respond_with_audio(800, "Hi.")).await;
    w.number("twilio").await;
    let (call_id, media) = w.twilio_stream("CA00000000000000000000000000000007").await;
    media.set_instant_playback(true);
    w.realtime.wait_for_event("session.update", WAIT).await;
    for bad in [
        "not json",
        r#"{"event":"media"}"#,
        r#"{"event":"media","media":{"payload":"***"}}"#,
        r#"{"event":"dance"}"#,
    ] {
        media.send_raw(bad).await.unwrap();
    }
    let frame = pcmu::tone(160, 300.0);
    media.send_audio(&frame).await.unwrap();
    w.realtime.wait_for_appended_bytes(frame.len(), WAIT).await;
    assert_eq!(
        w.realtime.appended_bytes(),
        frame.len(),
        "only the good frame went through"
    );
    assert_eq!(
        w.call(&call_id).await["status"],
        "in_progress",
        "the call goes on"
    );

    // A stream naming no known call, or another call's Twilio sid, is closed with a reason.
    let stranger = TwilioMedia::connect(
        &w.media_url("twilio"),
        "CA00000000000000000000000000000099",
        &[("call_id", "no-such-call"), ("agent_id", &w.agent)],
    )
    .await
    .unwrap();
    let close = stranger.wait_closed(WAIT).await.expect("a close frame");
    assert!(close.reason.contains("unknown call"), "{close:?}");
    let thief = TwilioMedia::connect(
        &w.media_url("twilio"),
        "CA00000000000000000000000000000098",
        &[("call_id", &call_id), ("agent_id", &w.agent)],
    )
    .await
    .unwrap();
    let close = thief.wait_closed(WAIT).await.expect("a close frame");
    assert!(close.reason.contains("does not match"), "{close:?}");
    assert_eq!(
        w.realtime.connection_count(),
        1,
        "neither reached the backend"
    );
    media.stop().await.unwrap();
}

#[tokio::test]
async fn keypad_presses_reach_the_agent_as_text() {
    let w = World::start(Script::new().respond_with_audio(800, "Pressed.")).await;
    w.number("twilio").await;
    let (_call_id, media) = w.twilio_stream("CA00000000000000000000000000000008").await;
    media.set_instant_playback(true);
    // Wait for the greeting's response to finish, so the keypad press asks for a new one.
    w.realtime
        .wait_for_server_event("response.done", WAIT)
        .await;
    media.dtmf('7').await.unwrap();
    let item = w
        .realtime
        .wait_for_event("conversation.item.create", WAIT)
        .await;
    assert_eq!(item["item"]["role"], "user");
    let text = item["item"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains('7'), "{text}");
    w.realtime.wait_for_events("response.create", 2, WAIT).await;
    w.assert_clean(&[&media.violations()]);
    media.stop().await.unwrap();
}

#[tokio::test]
async fn an_operator_hangs_up_a_live_call() {
    let w = World::start(Script::new().respond_with_audio(800, "Hi.")).await;
    w.number("twilio").await;
    let sid = "CA00000000000000000000000000000009";
    let (call_id, media) = w.twilio_stream(sid).await;
    w.realtime.wait_for_event("session.update", WAIT).await;
    let (s, _) = w
        .engine
        .api
        .post(&format!("/api/calls/{call_id}/hangup"), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let requests = w.twilio.wait_for(1).await;
    assert!(requests[0].path.ends_with(&format!("/Calls/{sid}.json")));
    assert!(
        w.twilio.violations().is_empty(),
        "the hang-up is an operation of Twilio's OpenAPI document: {:?}",
        w.twilio.violations()
    );
    media.wait_closed(WAIT).await;
    w.realtime.wait_for_disconnect(WAIT).await;
    let call = w.ended(&call_id).await;
    assert_eq!(call["hangup_cause"], "ended by an operator");
    assert_eq!(call["status"], "completed");
    let (s, _) = w
        .engine
        .api
        .post(&format!("/api/calls/{call_id}/hangup"), json!({}))
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "an ended call cannot be hung up again"
    );
}

#[tokio::test]
async fn a_telnyx_call_is_bridged_the_same_way() {
    let w = World::start(Script::new().respond_with_audio(1_600, "Acme, hello.")).await;
    w.number("telnyx").await;
    let ccid = "v3:telnyx-media-test-call";
    let (call_id, media) = w.telnyx_stream(ccid).await;
    media.set_instant_playback(true);
    media.wait_for_audio_bytes(1_600, WAIT).await;
    let hello = pcmu::tone(1_600, 500.0);
    media.send_audio(&hello).await.unwrap();
    w.realtime.wait_for_appended_bytes(hello.len(), WAIT).await;
    // A malformed frame is skipped; the call goes on.
    media
        .send_raw(r#"{"event":"media","media":{"payload":"!!"}}"#)
        .await
        .unwrap();
    media.send_audio(&hello).await.unwrap();
    w.realtime
        .wait_for_appended_bytes(2 * hello.len(), WAIT)
        .await;
    w.realtime.speech_started(0); // nothing is playing any more: no clear, no truncate
    w.realtime.caller_transcript("Is anyone there?");
    w.call_until(&call_id, "has the caller's line", |c| {
        c["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["text"] == "Is anyone there?")
    })
    .await;
    assert_eq!(media.clears(), 0);

    // The backend drops: Telnyx is told to hang up.
    w.realtime.drop_connection();
    let commands = w.telnyx.wait_for(2).await;
    assert_eq!(commands[1].action, "hangup");
    assert_eq!(commands[1].call_control_id, ccid);
    media.wait_closed(WAIT).await;
    let call = w.ended(&call_id).await;
    assert_eq!(call["status"], "completed");
    assert!(
        call["hangup_cause"]
            .as_str()
            .unwrap()
            .contains("connection was lost"),
        "{call}"
    );
    w.assert_clean(&[&media.violations()]);
}

#[tokio::test]
async fn a_telnyx_stream_that_fails_ends_the_call_instead_of_leaving_silence() {
    let w = World::start(Script::new()).await;
    w.number("telnyx").await;
    let ccid = "v3:telnyx-stream-fails";
    w.telnyx_incoming(ccid).await;
    let answer = w.telnyx.wait_for(1).await.remove(0);
    assert_eq!(answer.action, "answer");
    w.telnyx_webhook(
        "call.answered",
        "answered-1",
        json!({"call_control_id": ccid, "call_leg_id": "leg-1"}),
    )
    .await;
    w.telnyx_webhook(
        "streaming.failed",
        "streaming-failed-1",
        json!({
            "call_control_id": ccid, "call_leg_id": "leg-1",
            "failure_reason": "connection_failed",
            "stream_id": "1edb94f9-7ef0-4150-b502-e0ebadfd9491",
            "stream_type": "websocket",
            "stream_params": {"stream_url": "wss://sb.example.test/media/telnyx"}
        }),
    )
    .await;
    let commands = w.telnyx.wait_for(2).await;
    assert_eq!(commands[1].action, "hangup");
    assert_eq!(commands[1].call_control_id, ccid);
    let (_, page) = w.engine.api.get("/api/calls").await;
    let call = &page["items"][0];
    assert_eq!(call["status"], "completed", "it was answered: {call}");
    assert_eq!(
        call["hangup_cause"],
        "the media stream failed: connection_failed"
    );
    assert_eq!(w.realtime.connection_count(), 0);
}

#[tokio::test]
async fn a_twilio_stream_that_fails_is_on_the_record() {
    let w = World::start(Script::new()).await;
    w.number("twilio").await;
    let sid = "CA0000000000000000000000000000000b";
    let (call_id, _agent) = w.twilio_call(sid).await;
    let path = "/webhooks/twilio/stream-status";
    let error = [
        ("AccountSid", TWILIO_SID),
        ("CallSid", sid),
        ("StreamSid", "MZ00000000000000000000000000000001"),
        ("StreamName", "call-x"),
        ("StreamEvent", "stream-error"),
        ("StreamError", "Stream - WebSocket - Connection Refused"),
        ("Timestamp", "2026-11-22T10:00:00Z"),
    ];
    assert_eq!(w.twilio_webhook(path, &error).await, StatusCode::NO_CONTENT);
    let call = w.call(&call_id).await;
    assert!(call["ended_at"].is_string(), "{call}");
    assert_eq!(
        call["hangup_cause"],
        "the media stream failed: Stream - WebSocket - Connection Refused"
    );
    // Twilio's own end of the call follows and changes nothing.
    let completed = [
        ("AccountSid", TWILIO_SID),
        ("CallSid", sid),
        ("CallStatus", "completed"),
        ("CallDuration", "0"),
    ];
    assert_eq!(
        w.twilio_webhook("/webhooks/twilio/status", &completed)
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(w.call(&call_id).await["hangup_cause"], call["hangup_cause"]);
    // Unsigned or unknown events are refused.
    let res = w
        .http
        .post(format!("{}{path}", w.engine.public_url()))
        .form(&error)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let odd = [("CallSid", sid), ("StreamEvent", "stream-dance")];
    assert_eq!(w.twilio_webhook(path, &odd).await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_wrong_openai_key_ends_the_call_without_the_key_reaching_the_record() {
    // The fake, like OpenAI, quotes the presented key back in its 401.
    let w = World::start(Script::new().api_key("sk-the-right-key")).await;
    w.number("twilio").await;
    let (call_id, media) = w.twilio_stream("CA0000000000000000000000000000000c").await;
    w.twilio.wait_for(1).await;
    media.wait_closed(WAIT).await;
    let call = w.ended(&call_id).await;
    let cause = call["hangup_cause"].as_str().unwrap();
    assert!(cause.contains("401"), "{cause}");
    assert!(cause.contains("[key redacted]"), "{cause}");
    assert!(
        !cause.contains(TEST_API_KEY),
        "the key stays out of the record: {cause}"
    );
}

#[tokio::test]
async fn transcript_lines_keep_the_order_things_were_said_in() {
    let w = World::start(Script::new().respond_with_audio(800, "Acme, hello.")).await;
    w.number("twilio").await;
    let (call_id, media) = w.twilio_stream("CA0000000000000000000000000000000d").await;
    media.set_instant_playback(true);
    media.wait_for_audio_bytes(800, WAIT).await;
    w.realtime
        .wait_for_server_event("response.done", WAIT)
        .await;
    // The caller speaks; the backend answers at once, and only then finishes transcribing
    // what the caller said (transcription runs on its own, as the protocol notes warn).
    w.realtime.speech_started(2_000);
    tokio::time::sleep(Duration::from_millis(30)).await;
    w.realtime.speech_stopped();
    w.realtime.wait_for_events("response.create", 1, WAIT).await;
    media.wait_for_audio_bytes(1_600, WAIT).await;
    w.call_until(&call_id, "has the agent's answer", |c| {
        c["transcript"].as_array().unwrap().len() == 2
    })
    .await;
    w.realtime.caller_transcript("Is the shop open?");
    let call = w
        .call_until(&call_id, "has three lines", |c| {
            c["transcript"].as_array().unwrap().len() == 3
        })
        .await;
    let speakers: Vec<&str> = call["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["speaker"].as_str().unwrap())
        .collect();
    assert_eq!(
        speakers,
        ["agent", "caller", "agent"],
        "the caller's line sits where they spoke, not where its text arrived"
    );
    media.stop().await.unwrap();
}

#[tokio::test]
async fn a_stream_with_a_bad_start_is_closed_with_the_reason() {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    let w = World::start(Script::new()).await;
    let start = |format: &str, params: Value| {
        json!({
            "event": "start", "sequenceNumber": "1", "streamSid": "MZ0123",
            "start": {
                "accountSid": TWILIO_SID, "streamSid": "MZ0123", "callSid": "CA0123",
                "tracks": ["inbound"], "customParameters": params,
                "mediaFormat": {"encoding": format, "sampleRate": 8000, "channels": 1}
            }
        })
        .to_string()
    };
    for (frame, reason) in [
        (
            start("audio/x-alaw", json!({"call_id": "x"})),
            "unsupported media format",
        ),
        (start("audio/x-mulaw", json!({})), "no call_id parameter"),
        (r#"{"event":"media"}"#.to_owned(), "expected start"),
        ("not json".to_owned(), "unreadable frame"),
    ] {
        let (mut ws, _) = tokio_tungstenite::connect_async(w.media_url("twilio"))
            .await
            .unwrap();
        ws.send(Message::text(
            r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
        ))
        .await
        .unwrap();
        ws.send(Message::text(frame)).await.unwrap();
        let close = tokio::time::timeout(WAIT, async {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Close(c) = m {
                    return c;
                }
            }
            None
        })
        .await
        .unwrap()
        .expect("a close frame");
        assert!(close.reason.contains(reason), "{close:?} for {reason}");
    }
    assert_eq!(w.realtime.connection_count(), 0);
}

#[tokio::test]
async fn agent_audio_in_chunks_shorter_than_telnyx_accepts_is_joined_into_whole_frames() {
    let chunks: Vec<Vec<u8>> = vec![vec![0x10; 100], vec![0x20; 100], vec![0x30; 30]];
    let w = World::start(Script::new().respond_with_chunks(chunks, "Hi.")).await;
    w.number("telnyx").await;
    let (_call_id, media) = w.telnyx_stream("v3:telnyx-short-chunks").await;
    media.set_instant_playback(true);
    w.realtime
        .wait_for_server_event("response.done", WAIT)
        .await;
    let got = media.wait_for_audio_bytes(230, WAIT).await;
    let audio = media.audio();
    let mut expected = [vec![0x10; 100], vec![0x20; 100], vec![0x30; 30]].concat();
    assert_eq!(&audio[..230], &expected[..], "every byte, in order");
    // The held-back tail went out topped up with silence to a whole 20 ms frame.
    expected.resize(360, 0xFF);
    media.wait_for_audio_bytes(360, WAIT).await;
    assert_eq!(media.audio(), expected, "{got} bytes first");
    w.assert_clean(&[&media.violations()]);
}

/// A backend that accepts the session and then never confirms it (nor says anything else).
async fn silent_backend() -> String {
    use futures_util::{SinkExt as _, StreamExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v1/realtime", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let created = json!({"type": "session.created", "event_id": "e1",
                    "session": {"type": "realtime", "object": "realtime.session", "id": "sess_1"}});
                ws.send(tokio_tungstenite::tungstenite::Message::text(
                    created.to_string(),
                ))
                .await
                .unwrap();
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    url
}

#[tokio::test]
async fn a_backend_that_never_confirms_the_session_ends_the_call() {
    let w = World::start_with(Script::new(), Some(silent_backend().await), false).await;
    w.number("twilio").await;
    let (call_id, media) = w.twilio_stream("CA0000000000000000000000000000000e").await;
    // The caller's line stays up (silence streams in real time) until the engine gives up.
    let (_, close) = tokio::join!(
        media.send_silence(15_000),
        media.wait_closed(Duration::from_secs(15))
    );
    assert!(close.is_some(), "closed by the engine");
    assert_eq!(w.twilio.wait_for(1).await.len(), 1, "hung up at Twilio");
    let call = w.ended(&call_id).await;
    assert!(
        call["hangup_cause"]
            .as_str()
            .unwrap()
            .contains("not confirmed within 10 s"),
        "{call}"
    );
}

#[tokio::test]
async fn a_carrier_stream_that_goes_quiet_ends_the_call_and_its_voice_session() {
    let w = World::start(Script::new()).await;
    w.number("twilio").await;
    let sid = "CA0000000000000000000000000000000f";
    let (call_id, media) = w.twilio_stream(sid).await;
    w.realtime.wait_for_event("session.update", WAIT).await;
    // No frames and no stop: the connection is gone as far as the call is concerned.
    media.wait_closed(Duration::from_secs(20)).await;
    w.realtime.wait_for_disconnect(WAIT).await;
    assert_eq!(w.twilio.wait_for(1).await.len(), 1, "hung up at Twilio");
    let call = w.ended(&call_id).await;
    assert_eq!(call["hangup_cause"], "the carrier sent nothing for 10 s");
}

#[tokio::test]
async fn listening_in_hears_the_caller_and_the_agent_and_strangers_are_refused() {
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let w = World::start(Script::new()).await;
    w.number("twilio").await;
    let (call_id, media) = w.twilio_stream("CA00000000000000000000000000000077").await;
    w.realtime.wait_for_event("response.create", WAIT).await;
    let url = format!(
        "{}/api/calls/{call_id}/audio",
        w.engine.api.base.replacen("http", "ws", 1)
    );
    let refused = async |request: tokio_tungstenite::tungstenite::handshake::client::Request| {
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
            other => panic!("not refused: {:?}", other.map(|(_, r)| r.status())),
        }
    };
    assert_eq!(
        refused(url.clone().into_client_request().unwrap()).await,
        401,
        "no token"
    );
    let mut foreign = format!("{url}?access_token={}", w.engine.api.token)
        .into_client_request()
        .unwrap();
    foreign
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    assert_eq!(refused(foreign).await, 403, "a page of another origin");

    let (mut listener, _) =
        tokio_tungstenite::connect_async(format!("{url}?access_token={}", w.engine.api.token))
            .await
            .unwrap();
    // The agent speaks (440 Hz) while the caller does (1 kHz): the listener hears both.
    w.realtime.agent_says(8_000, "One moment.");
    media.send_audio(&pcmu::tone(8_000, 1000.0)).await.unwrap();
    let mut heard = Vec::new();
    while heard.len() < 8_000 {
        let m = tokio::time::timeout(WAIT, listener.next())
            .await
            .expect("a frame within the wait")
            .expect("the stream goes on")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Binary(b) = m {
            assert_eq!(b.len(), 320, "20 ms of 16-bit samples at 8 kHz");
            heard.extend(b.chunks_exact(2).map(|p| i16::from_le_bytes([p[0], p[1]])));
        }
    }
    let part = &heard[800..7_200];
    let (agent, caller, neither) = (
        sound::tone_dbfs(part, 8000, 440.0),
        sound::tone_dbfs(part, 8000, 1000.0),
        sound::tone_dbfs(part, 8000, 700.0),
    );
    println!("listen-in: agent {agent:.1} dB, caller {caller:.1} dB, between {neither:.1} dB");
    assert!(
        agent > -20.0 && caller > -20.0,
        "both voices: {agent:.1}, {caller:.1} dB"
    );
    assert!(
        neither < agent - 25.0 && neither < caller - 25.0,
        "and little else"
    );

    // The call ends: so does the stream.
    media.stop().await.unwrap();
    let end = tokio::time::timeout(WAIT, async {
        while let Some(Ok(m)) = listener.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the listener is let go when the call ends");
}

#[tokio::test]
async fn listening_in_through_the_speakers_plays_the_call_and_follows_the_operator() {
    let _card = sound::card().await;
    let speaker = sound::record_speaker();
    let w = World::start(Script::new()).await;
    w.number("twilio").await;
    let (first, media) = w.twilio_stream("CA00000000000000000000000000000066").await;
    w.realtime.wait_for_event("response.create", WAIT).await;
    let api = &w.engine.api;
    let (s, l) = api.get("/api/listen").await;
    assert_eq!((s, &l["call_id"]), (StatusCode::OK, &Value::Null), "{l}");

    let (s, l) = api
        .put("/api/listen", json!({"call_id": first, "volume": 1.0}))
        .await;
    assert_eq!(s, StatusCode::OK, "{l}");
    assert_eq!(l["call_id"], first.as_str());
    sound::wait(Duration::from_millis(300)).await;
    // The agent speaks (440 Hz) over the caller (1 kHz) for two seconds.
    w.realtime.agent_says(16_000, "One moment.");
    media.send_audio(&pcmu::tone(16_000, 1000.0)).await.unwrap();
    // parec delivers the speaker's monitor late by up to a second or two.
    sound::wait(Duration::from_millis(2500)).await;
    let played = speaker.stop().await;
    let part = sound::loud_part(&played, sound::RATE, -40.0, 100);
    let (agent, caller, neither) = (
        sound::tone_dbfs(part, sound::RATE, 440.0),
        sound::tone_dbfs(part, sound::RATE, 1000.0),
        sound::tone_dbfs(part, sound::RATE, 700.0),
    );
    println!(
        "speakers: {} ms; agent {agent:.1} dB, caller {caller:.1} dB, between {neither:.1} dB",
        part.len() as u32 * 1000 / sound::RATE
    );
    // Alone this hears all of it (1.84 s of the 1.8 s the trimmed tone can give); with the
    // whole suite loading both cores, 0.56 s was seen once (see the issue note): held to a
    // part, for now.
    assert!(
        part.len() as u32 >= sound::RATE * 2 / 5,
        "the call was heard"
    );
    assert!(
        agent > -20.0 && caller > -20.0,
        "both voices: {agent:.1}, {caller:.1} dB"
    );
    assert!(
        neither < agent - 20.0 && neither < caller - 20.0,
        "and little else"
    );

    // Turned down, then off: the speakers go quiet while the call goes on.
    let (s, l) = api.put("/api/listen", json!({"volume": 2.0})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{l}");
    let (s, _) = api.put("/api/listen", json!({"call_id": null})).await;
    assert_eq!(s, StatusCode::OK);
    let speaker = sound::record_speaker();
    media.send_audio(&pcmu::tone(4_000, 1000.0)).await.unwrap();
    let quiet = speaker.stop().await;
    assert!(
        sound::rms_dbfs(&quiet) < -60.0,
        "nothing plays once stopped"
    );

    // A call that has ended cannot be listened to; one that ends stops the listening.
    let (s, _) = api.put("/api/listen", json!({"call_id": first})).await;
    assert_eq!(s, StatusCode::OK);
    media.stop().await.unwrap();
    let until = Instant::now() + WAIT;
    while api.get("/api/listen").await.1["call_id"] != Value::Null {
        assert!(
            Instant::now() < until,
            "listening did not end with the call"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, e) = api.put("/api/listen", json!({"call_id": first})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
}

/// What connection `c` appended to the backend, as PCM.
fn appended_on(w: &World, c: usize) -> Vec<i16> {
    w.realtime
        .appended_audio(Some(c))
        .into_iter()
        .map(pcmu::decode)
        .collect()
}

/// Waits until connection `c` has sent a client event that `matches`; returns it.
async fn wait_for_event_on(
    w: &World,
    c: usize,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    let until = Instant::now() + WAIT;
    loop {
        if let Some(conn) = w.realtime.connections().get(c)
            && let Some(e) = conn.events.iter().find(|e| matches(e))
        {
            return e.clone();
        }
        assert!(Instant::now() < until, "connection {c} never sent {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn taking_over_through_the_speakers_gives_the_caller_the_operator_not_the_agent() {
    let _card = sound::card().await;
    let w = World::start(Script::new().record_appends(true)).await;
    w.number("twilio").await;
    let (id, media) = w.twilio_stream("CA00000000000000000000000000000077").await;
    w.realtime.wait_for_event("response.create", WAIT).await;
    let api = &w.engine.api;

    // Only a call being listened to here can be taken over.
    let (s, e) = api
        .post(&format!("/api/calls/{id}/take-over"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("listen to it first"),
        "{e}"
    );
    let (s, _) = api
        .put("/api/listen", json!({"call_id": id, "volume": 1.0}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, l) = api
        .post(&format!("/api/calls/{id}/take-over"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{l}");
    assert_eq!(
        (&l["call_id"], &l["taken_over"]),
        (&json!(id), &json!(true))
    );
    assert_eq!(api.get("/api/listen").await.1["taken_over"], true);
    // The microphone has one holder: no test call meanwhile.
    let (s, e) = api
        .post("/api/test-calls", json!({"agent_id": w.agent}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains(&id),
        "it says who holds it: {e}"
    );

    // The agent's session stops answering (VAD and transcription go on) and a second session,
    // which only listens, transcribes the operator.
    let paused = |e: &Value| {
        e["type"] == "session.update"
            && e["session"]["audio"]["input"]["turn_detection"]["create_response"] == false
    };
    let update = wait_for_event_on(&w, 0, "a pause", paused).await;
    assert_eq!(
        update["session"]["audio"]["input"]["turn_detection"]["interrupt_response"],
        false
    );
    w.realtime.wait_for_connections(2, WAIT).await;
    wait_for_event_on(&w, 1, "its configuration", paused).await;
    let (to_agent, to_caller) = (appended_on(&w, 0).len(), media.audio_bytes());

    // The caller speaks (1 kHz) while the operator speaks into the microphone (700 Hz).
    let (caller, operator) = (
        pcmu::tone(8_000, 1000.0),
        sound::tone(700.0, -6.0, 1000, sound::RATE),
    );
    let (sent, ()) = tokio::join!(media.send_audio(&caller), sound::speak(&operator));
    sent.unwrap();
    sound::wait(Duration::from_millis(400)).await;

    let heard: Vec<i16> = media.audio()[to_caller..]
        .iter()
        .map(|&b| pcmu::decode(b))
        .collect();
    let spoken = sound::loud_part(&heard, 8000, -30.0, 60);
    let (hz, ms) = (sound::frequency(spoken, 8000), spoken.len() / 8);
    println!("the caller heard {hz:.1} Hz for {ms} ms");
    assert!(
        (hz - 700.0).abs() < 15.0,
        "the operator's voice reaches the caller: {hz} Hz"
    );
    assert!(ms >= 600, "most of the second: {ms} ms");
    let agent = appended_on(&w, 0);
    let agent = &agent[to_agent..];
    let (caller_db, operator_db) = (
        sound::tone_dbfs(agent, 8000, 1000.0),
        sound::tone_dbfs(agent, 8000, 700.0),
    );
    println!(
        "the agent heard the caller at {caller_db:.1} dB, the operator at {operator_db:.1} dB"
    );
    assert!(caller_db > -20.0, "the agent still hears the caller");
    assert!(operator_db < caller_db - 30.0, "and not the operator");
    let transcriber = appended_on(&w, 1);
    let operator_db = sound::tone_dbfs(&transcriber, 8000, 700.0);
    assert!(
        operator_db > -30.0,
        "the transcriber hears the operator: {operator_db:.1} dB"
    );

    // Both sides' words go on the record, and to the agent when it has the call back.
    let lines = |d: &Value| -> Vec<(String, String)> {
        d["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["speaker"].as_str().unwrap().to_owned(),
                    l["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    // The operator speaks, and the caller answers once that is on the record.
    for (c, speaker, text) in [
        (1, "operator", "This is Sam from the front desk."),
        (0, "caller", "Can you move my booking to Friday?"),
    ] {
        w.realtime.caller_transcript_on(c, text);
        let line = (speaker.to_owned(), text.to_owned());
        let until = Instant::now() + WAIT;
        while !lines(&api.get(&format!("/api/calls/{id}")).await.1).contains(&line) {
            assert!(Instant::now() < until, "{line:?} did not arrive");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (s, l) = api
        .post(&format!("/api/calls/{id}/hand-back"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{l}");
    assert_eq!(
        (&l["call_id"], &l["taken_over"]),
        (&json!(id), &json!(false))
    );
    let note = wait_for_event_on(&w, 0, "the hand-back note", |e| {
        e["type"] == "conversation.item.create" && e["item"]["role"] == "system"
    })
    .await;
    let note = note["item"]["content"][0]["text"].as_str().unwrap();
    assert!(
        note.contains(
            "Operator: This is Sam from the front desk.\nCaller: Can you move my booking to Friday?"
        ),
        "{note}"
    );
    let events = &w.realtime.connections()[0].events;
    let at = events
        .iter()
        .position(|e| e["type"] == "conversation.item.create" && e["item"]["role"] == "system")
        .unwrap();
    assert!(
        events[..at].iter().any(|e| e["type"] == "session.update"
            && e["session"]["audio"]["input"]["turn_detection"]["create_response"] == true),
        "answering is back on before the note"
    );
    let until = Instant::now() + WAIT;
    while !w.realtime.connections()[0].events[at..]
        .iter()
        .any(|e| e["type"] == "response.create")
    {
        assert!(
            Instant::now() < until,
            "the agent was not asked to answer after the note"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let until = Instant::now() + WAIT;
    while w.realtime.connections()[1].ended.is_none() {
        assert!(Instant::now() < until, "the transcriber was not closed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let detail = api.get(&format!("/api/calls/{id}")).await.1;
    let said = lines(&detail);
    for (speaker, text) in [
        ("system", "An operator took the call over."),
        ("operator", "This is Sam from the front desk."),
        ("caller", "Can you move my booking to Friday?"),
        ("system", "The operator handed the call back to the agent."),
    ] {
        assert!(
            said.contains(&(speaker.to_owned(), text.to_owned())),
            "{speaker}: {text} in {said:?}"
        );
    }
    assert!(
        w.realtime.violations().is_empty(),
        "{:?}",
        w.realtime.violations()
    );
    // Listening goes on through the speaker; stopping it leaves the call with the agent.
    let (s, _) = api.put("/api/listen", json!({"call_id": null})).await;
    assert_eq!(s, StatusCode::OK);
    media.stop().await.unwrap();
}

#[tokio::test]
async fn a_whisper_reaches_the_agent_and_the_record_not_the_caller() {
    let w = World::start(Script::new()).await;
    w.number("twilio").await;
    let (id, media) = w.twilio_stream("CA00000000000000000000000000000078").await;
    w.realtime.wait_for_event("response.create", WAIT).await;
    let api = &w.engine.api;
    let path = format!("/api/calls/{id}/whisper");
    let (s, e) = api.post(&path, json!({"text": "  "})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["field"], "text");
    let (s, e) = api.post(&path, json!({"text": "x".repeat(501)})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, e) = api
        .post("/api/calls/nope/whisper", json!({"text": "hi"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");

    let to_caller = media.audio_bytes();
    for text in ["Offer the 10% discount.", "Keep it short."] {
        let (s, r) = api.post(&path, json!({"text": text})).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(r["live_calls_updated"], 1);
    }
    let until = Instant::now() + WAIT;
    let instructions = loop {
        let history = w.realtime.instructions_history();
        let last = history.last().map(|(_, i)| i.clone()).unwrap_or_default();
        if last.contains("Keep it short.") {
            break last;
        }
        assert!(
            Instant::now() < until,
            "the note never reached the agent: {last}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let notes = instructions
        .split_once("Notes from your operator")
        .unwrap()
        .1;
    assert!(
        notes.contains("- Offer the 10% discount.\n- Keep it short."),
        "{instructions}"
    );
    let detail = api.get(&format!("/api/calls/{id}")).await.1;
    assert_eq!(
        detail["context"]["operator_notes"],
        json!(["Offer the 10% discount.", "Keep it short."])
    );
    let operator: Vec<&str> = detail["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["speaker"] == "operator")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(operator.len(), 2, "{detail}");
    assert!(
        operator[0].ends_with("Offer the 10% discount."),
        "{operator:?}"
    );
    assert_eq!(
        media.audio_bytes(),
        to_caller,
        "the caller hears nothing of it"
    );
    media.stop().await.unwrap();
    let until = Instant::now() + WAIT;
    while api.get(&format!("/api/calls/{id}")).await.1["ended_at"].is_null() {
        assert!(Instant::now() < until, "the call did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, e) = api.post(&path, json!({"text": "Too late."})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(
        w.realtime.violations().is_empty(),
        "{:?}",
        w.realtime.violations()
    );
}

/// The agent acts during the call: its HTTP tools, run against a tool server on loopback
/// that records what it received, and its built-in `end_call`.
mod tools {
    use super::*;
    use axum::extract::State;
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};

    /// What the tool server received: method, path and query, body, the call header and the
    /// authorization header.
    type Received = Arc<Mutex<Vec<(String, String, Value, Option<String>, Option<String>)>>>;

    async fn tool_server() -> (String, Received) {
        let got: Received = Arc::default();
        let record =
            |got: &Received, method: &str, uri: &axum::http::Uri, body: Value, h: &HeaderMap| {
                got.lock().unwrap().push((
                    method.to_owned(),
                    uri.to_string(),
                    body,
                    h.get("x-switchboard-call")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    h.get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                ));
            };
        let app = axum::Router::new()
            .route(
                "/orders",
                axum::routing::post(
                    move |State(got): State<Received>, uri: axum::http::Uri, h: HeaderMap, axum::Json(body): axum::Json<Value>| async move {
                        record(&got, "POST", &uri, body.clone(), &h);
                        axum::Json(json!({"order": body["order_id"], "status": "shipped"}))
                    },
                ),
            )
            .route(
                "/slots",
                axum::routing::get(move |State(got): State<Received>, uri: axum::http::Uri, h: HeaderMap| async move {
                    record(&got, "GET", &uri, Value::Null, &h);
                    axum::Json(json!({"slots": ["9:00", "14:00"]}))
                }),
            )
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/huge", axum::routing::get(|| async { axum::Json(json!({"blob": "x".repeat(20_000)})) }))
            .route("/broken", axum::routing::get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database down") }))
            .route("/text", axum::routing::get(|| async { "<html>hello</html>" }))
            .with_state(got.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, got)
    }

    async fn give_tools(w: &World, body: Value) {
        let (s, a) = w
            .engine
            .api
            .put(&format!("/api/agents/{}", w.agent), body)
            .await;
        assert_eq!(s, StatusCode::OK, "{a}");
    }

    /// The model calls `name`; the output the engine hands back for that call, parsed.
    async fn output_of(w: &World, name: &str, arguments: &str) -> Value {
        let before = w
            .realtime
            .client_events_of("conversation.item.create")
            .len();
        let creates = w.realtime.client_events_of("response.create").len();
        let call_id = w.realtime.agent_calls(name, arguments);
        let deadline = Instant::now() + WAIT;
        loop {
            let items = w.realtime.client_events_of("conversation.item.create");
            if let Some(item) = items[before.min(items.len())..]
                .iter()
                .find(|e| e["item"]["call_id"] == call_id.as_str())
            {
                assert_eq!(item["item"]["type"], "function_call_output");
                let output = item["item"]["output"]
                    .as_str()
                    .expect("the output is a JSON string");
                // Each output is followed by a new response for the model to speak about it;
                // the next call waits for every response so far to be done.
                let asked = |w: &World| w.realtime.client_events_of("response.create").len();
                let count = |w: &World, ty: &str| {
                    w.realtime
                        .server_events()
                        .iter()
                        .filter(|e| e["type"] == ty)
                        .count()
                };
                while asked(w) <= creates
                    || count(w, "response.done") < count(w, "response.created")
                {
                    assert!(
                        Instant::now() < deadline,
                        "no response after the output of {name}"
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                return serde_json::from_str(output).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "no output for {name}: {items:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn the_models_tool_calls_are_run_and_every_failure_is_a_result_it_can_speak_about() {
        let w =
            World::start_with_keyring(Script::new().respond_with_audio(400, "Let me see.")).await;
        let (base, got) = tool_server().await;
        let (s, b) = w
            .engine
            .api
            .put(
                "/api/tool-secrets/crm_token",
                json!({"value": "crm-secret-7f3a"}),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
        give_tools(
            &w,
            json!({"tools": [
                {"name": "lookup_order", "description": "Find an order by its number.",
                 "url": format!("{base}/orders"), "wait_message": "One moment while I look.",
                 "headers": [{"name": "Authorization", "value": "Bearer {{secret:crm_token}}"}],
                 "parameters": {"type": "object", "required": ["order_id"],
                                "properties": {"order_id": {"type": "string", "pattern": "^A-[0-9]+$"}}}},
                {"name": "free_slots", "method": "GET", "url": format!("{base}/slots"),
                 "parameters": {"type": "object", "properties": {"day": {"type": "string"}, "people": {"type": "integer"}}}},
                {"name": "slow", "method": "GET", "url": format!("{base}/slow"), "timeout_ms": 300},
                {"name": "huge", "method": "GET", "url": format!("{base}/huge")},
                {"name": "broken", "method": "GET", "url": format!("{base}/broken")},
                {"name": "text", "method": "GET", "url": format!("{base}/text")},
            ]}),
        )
        .await;
        w.number("twilio").await;
        let (call_id, media) = w.twilio_stream("CA00000000000000000000000000000031").await;
        media.set_instant_playback(true);
        let session = w.realtime.wait_for_event("session.update", WAIT).await;
        let declared: Vec<&str> = session["session"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            declared,
            [
                "lookup_order",
                "free_slots",
                "slow",
                "huge",
                "broken",
                "text"
            ]
        );
        assert_eq!(session["session"]["tools"][0]["type"], "function");
        assert_eq!(
            session["session"]["tools"][0]["parameters"]["required"],
            json!(["order_id"])
        );
        w.realtime
            .wait_for_server_event("response.done", WAIT)
            .await;

        // A good call: sent as JSON with the call's id, its answer handed back as it came.
        let out = output_of(&w, "lookup_order", r#"{"order_id":"A-17"}"#).await;
        assert_eq!(out, json!({"order": "A-17", "status": "shipped"}));
        {
            let got = got.lock().unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].2, json!({"order_id": "A-17"}));
            assert_eq!(got[0].3.as_deref(), Some(call_id.as_str()));
            assert_eq!(
                got[0].4.as_deref(),
                Some("Bearer crm-secret-7f3a"),
                "the secret is filled in from the keyring"
            );
        }
        // Its wait message was said while it ran.
        let said: Vec<String> = w
            .realtime
            .client_events_of("response.create")
            .iter()
            .filter_map(|e| e["response"]["instructions"].as_str().map(str::to_owned))
            .collect();
        assert!(
            said.iter().any(|i| i.contains("One moment while I look.")),
            "{said:?}"
        );

        // GET: the arguments are the query.
        let out = output_of(&w, "free_slots", r#"{"day":"monday","people":2}"#).await;
        assert_eq!(out["slots"][0], "9:00");
        assert_eq!(got.lock().unwrap()[1].1, "/slots?day=monday&people=2");

        // Arguments that break the schema, an unknown tool: refused before anything is sent.
        let out = output_of(&w, "lookup_order", r#"{"order_id":"17"}"#).await;
        assert!(out["error"].as_str().unwrap().contains("schema"), "{out}");
        let out = output_of(&w, "lookup_order", "not json").await;
        assert!(out["error"].as_str().unwrap().contains("not JSON"), "{out}");
        let out = output_of(&w, "cancel_order", "{}").await;
        assert!(
            out["error"]
                .as_str()
                .unwrap()
                .contains("no tool named cancel_order"),
            "{out}"
        );
        assert_eq!(got.lock().unwrap().len(), 2, "nothing sent for those");

        // A tool too slow, too big, failing or not answering JSON: said so, the call goes on.
        for (tool, words) in [
            ("slow", "did not answer within 300 ms"),
            ("huge", "over 16 KB"),
            ("broken", "HTTP 500: database down"),
            ("text", "not JSON"),
        ] {
            let out = output_of(&w, tool, "{}").await;
            assert!(
                out["error"].as_str().unwrap().contains(words),
                "{tool}: {out}"
            );
        }

        // A model calling in a loop: four requests may be under way at once; a fifth is told
        // to wait, at once, and the four still come back.
        let settled = |w: &World| {
            let events = w.realtime.server_events();
            let n = |ty: &str| events.iter().filter(|e| e["type"] == ty).count();
            n("response.done") == n("response.created")
        };
        let mut slow_calls = Vec::new();
        for _ in 0..4 {
            while !settled(&w) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            slow_calls.push(w.realtime.agent_calls("slow", "{}"));
        }
        while !settled(&w) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let out = output_of(&w, "slow", "{}").await;
        assert!(
            out["error"]
                .as_str()
                .unwrap()
                .contains("4 tool calls are still running"),
            "{out}"
        );
        let deadline = Instant::now() + WAIT;
        while !slow_calls.iter().all(|id| {
            w.realtime
                .client_events_of("conversation.item.create")
                .iter()
                .any(|e| e["item"]["call_id"] == id.as_str())
        }) {
            assert!(
                Instant::now() < deadline,
                "the four slow calls' outputs never came"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        while !settled(&w) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // In the transcript, in order: each call, then what it came to.
        let call = w
            .call_until(&call_id, "has the tool lines", |c| {
                c["transcript"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|l| l["speaker"] == "tool")
                    .count()
                    >= 28
            })
            .await;
        let tool_lines: Vec<&str> = call["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["speaker"] == "tool")
            .map(|l| l["text"].as_str().unwrap())
            .collect();
        assert_eq!(tool_lines[0], r#"lookup_order({"order_id":"A-17"})"#);
        assert_eq!(
            tool_lines[1],
            r#"lookup_order → {"order":"A-17","status":"shipped"}"#
        );
        assert!(
            tool_lines[5].starts_with("lookup_order failed: the arguments do not fit"),
            "{tool_lines:?}"
        );
        assert!(
            tool_lines[11].starts_with("slow failed: the tool did not answer within 300 ms"),
            "{tool_lines:?}"
        );
        let (s, _) = w.engine.api.get(&format!("/api/calls/{call_id}")).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            call["ended_at"].is_null(),
            "the call went on through every failure"
        );
        assert!(
            !call.to_string().contains("crm-secret-7f3a"),
            "the secret is nowhere in the record"
        );
        // The agent's stats count each tool's calls and failures.
        let deadline = Instant::now() + WAIT;
        let stats = loop {
            let (_, stats) = w
                .engine
                .api
                .get(&format!("/api/agents/{}/stats", w.agent))
                .await;
            let counted: i64 = stats["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["calls"].as_i64().unwrap())
                .sum();
            if counted == 14 || Instant::now() > deadline {
                break stats;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let tool = |name: &str| {
            stats["tools"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["tool"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("{name} not in {stats}"))
        };
        assert_eq!(
            (
                tool("lookup_order")["calls"].as_i64(),
                tool("lookup_order")["failures"].as_i64()
            ),
            (Some(3), Some(2)),
            "{stats}"
        );
        assert_eq!(tool("free_slots")["failures"], 0);
        assert_eq!(tool("slow")["failures"], 6, "{stats}");
        // Five ran to their 300 ms timeout; the sixth was refused at once.
        assert!(
            tool("slow")["average_ms"].as_f64().unwrap() >= 250.0,
            "{stats}"
        );
        w.assert_clean(&[&media.violations()]);
        media.stop().await.unwrap();
    }

    #[tokio::test]
    async fn end_call_hangs_up_through_the_carrier_once_the_goodbye_has_been_heard() {
        let w = World::start(Script::new().respond_with_audio(1_600, "Goodbye, and thanks!")).await;
        give_tools(&w, json!({"builtin_tools": ["end_call"]})).await;
        w.number("twilio").await;
        // A live view on the event stream, told of the tool call.
        let events_url = format!(
            "ws://{}/api/events?access_token={}",
            w.engine.running.control_addr(),
            w.engine.api.token
        );
        let (mut events, _) = tokio_tungstenite::connect_async(&events_url).await.unwrap();
        let sid = "CA00000000000000000000000000000032";
        let (call_id, media) = w.twilio_stream(sid).await;
        let session = w.realtime.wait_for_event("session.update", WAIT).await;
        assert_eq!(session["session"]["tools"][0]["name"], "end_call");
        media.set_instant_playback(true);
        w.realtime
            .wait_for_server_event("response.done", WAIT)
            .await;
        let greeting_bytes = media.audio_bytes();

        let out = output_of(&w, "end_call", "{}").await;
        assert_eq!(out["ok"], true);
        // The goodbye is played, its marks come back, and only then Twilio is asked to hang up.
        let requests = w.twilio.wait_for(1).await;
        assert!(
            requests[0].path.ends_with(&format!("/Calls/{sid}.json")),
            "{requests:?}"
        );
        assert!(
            media.audio_bytes() >= greeting_bytes + 1_600,
            "the goodbye ({} bytes) was sent before the hang-up",
            media.audio_bytes() - greeting_bytes
        );
        let call = w.ended(&call_id).await;
        assert_eq!(call["hangup_cause"], "the agent ended the call");
        let told = tokio::time::timeout(WAIT, async {
            while let Some(Ok(m)) = futures_util::StreamExt::next(&mut events).await {
                let Ok(text) = m.to_text() else { continue };
                let e: Value = serde_json::from_str(text).unwrap_or_default();
                if e["type"] == "tool_called" {
                    return e;
                }
            }
            panic!("the event stream ended");
        })
        .await
        .expect("a tool_called event");
        assert_eq!(
            (&told["call_id"], &told["tool"], &told["ok"]),
            (&json!(call_id), &json!("end_call"), &json!(true))
        );
        assert_eq!(told["agent_id"], w.agent.as_str());
        assert!(
            w.twilio.violations().is_empty(),
            "{:?}",
            w.twilio.violations()
        );
        w.assert_clean(&[&media.violations()]);
    }

    #[tokio::test]
    async fn tools_that_cannot_work_are_refused_when_the_agent_is_saved_naming_the_tool() {
        let w = World::start(Script::new()).await;
        for (tools, words) in [
            (json!([{"name": "a b", "url": "https://x.example"}]), "name"),
            (json!([{"name": "t", "url": "file:///etc/passwd"}]), "url"),
            (
                json!([{"name": "t", "url": "https://x.example", "parameters": {"type": "object", "properties": {"n": {"type": 5}}}}]),
                "JSON Schema",
            ),
            (
                json!([{"name": "t", "url": "https://x.example", "headers": [{"name": "Authorization", "value": "Bearer sk-live"}]}]),
                "credential",
            ),
        ] {
            let (s, e) = w
                .engine
                .api
                .put(&format!("/api/agents/{}", w.agent), json!({"tools": tools}))
                .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
            assert_eq!(e["error"]["field"], "tools");
            let message = e["error"]["message"].as_str().unwrap();
            assert!(message.contains(words), "{message}");
            assert!(
                !message.contains("sk-live"),
                "a credential is never echoed: {message}"
            );
        }
        let (s, e) = w
            .engine
            .api
            .put(
                &format!("/api/agents/{}", w.agent),
                json!({"builtin_tools": ["self_destruct"]}),
            )
            .await;
        assert_eq!(
            (s, &e["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("builtin_tools"))
        );
        let (_, agent) = w.engine.api.get(&format!("/api/agents/{}", w.agent)).await;
        assert_eq!(
            (&agent["tools"], &agent["builtin_tools"]),
            (&json!([]), &json!([])),
            "nothing changed"
        );
    }

    const FRONT_DESK: &str = "+14155550100";

    async fn with_transfer(w: &World) {
        let agent = format!("/api/agents/{}", w.agent);
        // Refused: transfer_call without a target, a target that is no number.
        let (s, e) = w
            .engine
            .api
            .put(&agent, json!({"builtin_tools": ["transfer_call"]}))
            .await;
        assert_eq!(
            (s, &e["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("transfer_targets"))
        );
        let (s, e) = w
            .engine
            .api
            .put(
                &agent,
                json!({"transfer_targets": [{"name": "desk", "to": "12"}]}),
            )
            .await;
        assert_eq!(
            (s, &e["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!("transfer_targets")),
            "{e}"
        );
        give_tools(
            w,
            json!({"builtin_tools": ["transfer_call"], "transfer_targets": [
                {"name": "front_desk", "to": "+1 415 555 0100", "description": "a person at reception"}]}),
        )
        .await;
    }

    #[tokio::test]
    async fn transfer_call_hands_the_caller_to_an_allowed_target_through_twilio_and_refuses_others()
    {
        let w =
            World::start(Script::new().respond_with_audio(1_600, "Transferring you now.")).await;
        with_transfer(&w).await;
        w.number("twilio").await;
        let sid = "CA00000000000000000000000000000033";
        let (call_id, media) = w.twilio_stream(sid).await;
        let session = w.realtime.wait_for_event("session.update", WAIT).await;
        let declared = &session["session"]["tools"][0];
        assert_eq!(declared["name"], "transfer_call");
        assert_eq!(
            declared["parameters"]["properties"]["target"]["enum"],
            json!(["front_desk"])
        );
        assert!(
            declared["description"]
                .as_str()
                .unwrap()
                .contains("front_desk: a person at reception")
        );
        media.set_instant_playback(true);
        w.realtime
            .wait_for_server_event("response.done", WAIT)
            .await;
        let greeting_bytes = media.audio_bytes();

        // A target not on the agent's list: said so, nothing at the carrier, the call goes on.
        let out = output_of(&w, "transfer_call", r#"{"target":"sales"}"#).await;
        assert!(
            out["error"]
                .as_str()
                .unwrap()
                .contains("not a transfer target"),
            "{out}"
        );
        assert!(w.twilio.requests().is_empty());

        // An allowed one: the agent says so, and once that has been heard Twilio is given the
        // call's new instructions: dial the target (no hang-up).
        let out = output_of(
            &w,
            "transfer_call",
            r#"{"target":"front_desk","reason":"wants a person"}"#,
        )
        .await;
        assert_eq!(out["ok"], true);
        let requests = w.twilio.wait_for(1).await;
        assert!(
            requests[0].path.ends_with(&format!("/Calls/{sid}.json")),
            "{requests:?}"
        );
        assert!(
            media.audio_bytes() >= greeting_bytes + 2 * 1_600,
            "the refusal's answer and the agent's word that it transfers were sent before"
        );
        let form: std::collections::HashMap<_, _> = requests[0].form.iter().cloned().collect();
        assert_eq!(form.get("Status"), None, "not a hang-up");
        let twiml = form.get("Twiml").expect("new TwiML");
        assert!(
            twiml.contains(&format!(
                "<Dial timeout=\"30\"><Number>{FRONT_DESK}</Number></Dial>"
            )),
            "{twiml}"
        );
        assert!(
            w.twilio.violations().is_empty(),
            "{:?}",
            w.twilio.violations()
        );
        w.ended(&call_id).await;
        // The session's last lines are written a moment after the call's end.
        let call = w
            .call_until(&call_id, "has the transfer's lines", |c| {
                c["transcript"].as_array().is_some_and(|l| {
                    l.iter()
                        .any(|l| l["text"] == "Transferred to front_desk (+14155550100).")
                })
            })
            .await;
        assert_eq!(
            call["hangup_cause"],
            format!("transferred to front_desk ({FRONT_DESK})")
        );
        let lines: Vec<&str> = call["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["text"].as_str().unwrap())
            .collect();
        assert!(
            lines.contains(&"transfer_call → to front_desk (+14155550100)"),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"Transferred to front_desk (+14155550100)."),
            "{lines:?}"
        );
        assert_eq!(
            w.twilio.requests().len(),
            1,
            "transferred once, never hung up"
        );
        w.assert_clean(&[&media.violations()]);
    }

    #[tokio::test]
    async fn a_telnyx_call_is_transferred_with_the_transfer_command_after_its_stream_stops() {
        let w = World::start(Script::new().respond_with_audio(800, "Transferring you now.")).await;
        with_transfer(&w).await;
        w.number("telnyx").await;
        let ccid = "v3:telnyx-transfer-test-call";
        let (call_id, media) = w.telnyx_stream(ccid).await;
        media.set_instant_playback(true);
        w.realtime
            .wait_for_server_event("response.done", WAIT)
            .await;
        let before = w.telnyx.commands().len();
        output_of(&w, "transfer_call", r#"{"target":"front_desk"}"#).await;
        let commands = w.telnyx.wait_for(before + 2).await;
        let (stop, transfer) = (&commands[before], &commands[before + 1]);
        assert_eq!(
            (stop.action.as_str(), stop.call_control_id.as_str()),
            ("streaming_stop", ccid)
        );
        assert_eq!(transfer.action, "transfer");
        assert_eq!(transfer.body["to"], FRONT_DESK);
        assert!(
            transfer.body["command_id"].is_string(),
            "repeat-safe: {}",
            transfer.body
        );
        let call = w.ended(&call_id).await;
        assert_eq!(
            call["hangup_cause"],
            format!("transferred to front_desk ({FRONT_DESK})")
        );
        assert!(
            !w.telnyx.commands().iter().any(|c| c.action == "hangup"),
            "the transferred call is not hung up"
        );
    }

    #[tokio::test]
    async fn a_transfer_the_carrier_refuses_leaves_the_caller_with_the_agent_told_why() {
        let w = World::start(Script::new().respond_with_audio(800, "One moment.")).await;
        with_transfer(&w).await;
        w.number("twilio").await;
        let (call_id, media) = w.twilio_stream("CA00000000000000000000000000000034").await;
        media.set_instant_playback(true);
        w.realtime
            .wait_for_server_event("response.done", WAIT)
            .await;
        w.twilio.refuse(
            400,
            json!({"code": 21220, "message": "Call is not in-progress.", "status": 400}),
        );
        output_of(&w, "transfer_call", r#"{"target":"front_desk"}"#).await;
        // The agent is told, as a note it answers.
        let deadline = Instant::now() + WAIT;
        let note = loop {
            let notes: Vec<Value> = w
                .realtime
                .client_events_of("conversation.item.create")
                .into_iter()
                .filter(|e| e["item"]["role"] == "system")
                .collect();
            if let Some(n) = notes.last() {
                break n["item"]["content"][0]["text"].as_str().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "the agent was never told");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            note.contains("did not happen: the carrier refused it"),
            "{note}"
        );
        let call = w
            .call_until(&call_id, "has the failure line", |c| {
                c["transcript"].as_array().unwrap().iter().any(|l| {
                    l["text"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("transfer_call failed")
                })
            })
            .await;
        assert!(call["ended_at"].is_null(), "the call goes on: {call}");
        w.assert_clean(&[&media.violations()]);
        media.stop().await.unwrap();
    }

    const MANAGER: &str = "+14155550177";

    /// The agent may transfer warm to "manager" (rings `ring_secs`).
    async fn with_warm_transfer(w: &World, ring_secs: u32) {
        give_tools(
            w,
            json!({"builtin_tools": ["transfer_call"], "transfer_targets": [
                {"name": "manager", "to": MANAGER, "description": "the duty manager",
                 "warm": true, "ring_secs": ring_secs}]}),
        )
        .await;
    }

    /// The call's record once `check` holds of its transfers.
    async fn transfers_until(
        w: &World,
        call_id: &str,
        what: &str,
        check: impl Fn(&[Value]) -> bool,
    ) -> Value {
        w.call_until(call_id, what, |c| check(c["transfers"].as_array().unwrap()))
            .await
    }

    /// The note the agent was last given (a system item), waited for.
    async fn last_note(w: &World) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let notes: Vec<Value> = w
                .realtime
                .client_events_of("conversation.item.create")
                .into_iter()
                .filter(|e| e["item"]["role"] == "system")
                .collect();
            if let Some(n) = notes.last() {
                return n["item"]["content"][0]["text"].as_str().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "the agent was never told");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn lines(call: &Value) -> Vec<String> {
        call["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["text"].as_str().unwrap().to_owned())
            .collect()
    }

    const SUMMARY: &str = "Dana Reyes wants a refund for order 1182.";

    #[tokio::test]
    async fn a_warm_transfer_on_twilio_calls_the_person_tells_them_and_only_then_moves_the_caller()
    {
        let w =
            World::start(Script::new().respond_with_audio(1_600, "Let me get the manager.")).await;
        with_warm_transfer(&w, 20).await;
        w.number("twilio").await;
        let sid = "CA00000000000000000000000000000041";
        let (call_id, media) = w.twilio_stream(sid).await;
        let session = w.realtime.wait_for_event("session.update", WAIT).await;
        let declared = &session["session"]["tools"][0];
        assert!(
            declared["description"]
                .as_str()
                .unwrap()
                .contains("manager (warm): the duty manager"),
            "{declared}"
        );
        assert!(declared["parameters"]["properties"]["summary"].is_object());
        media.set_instant_playback(true);
        w.realtime
            .wait_for_server_event("response.done", WAIT)
            .await;

        let out = output_of(
            &w,
            "transfer_call",
            &json!({"target": "manager", "summary": SUMMARY}).to_string(),
        )
        .await;
        assert!(
            out["next"].as_str().unwrap().contains("stay on the line"),
            "{out}"
        );
        // Once the caller has heard that, the person is called: from our number, the
        // summary said to them, then Twilio asks what next.
        let requests = w.twilio.wait_for(1).await;
        let create = &requests[0];
        assert!(create.path.ends_with("/Calls.json"), "{requests:?}");
        let form: std::collections::HashMap<_, _> = create.form.iter().cloned().collect();
        assert_eq!(
            (
                form["To"].as_str(),
                form["From"].as_str(),
                form["Timeout"].as_str()
            ),
            (MANAGER, OUR_NUMBER, "20")
        );
        let twiml = &form["Twiml"];
        assert!(
            twiml.contains("<Say>Hello, this is Receptionist"),
            "{twiml}"
        );
        assert!(twiml.contains(SUMMARY), "{twiml}");
        let status_url = &form["StatusCallback"];
        let transfer_id = status_url
            .split("transfer_id=")
            .nth(1)
            .expect("the transfer's id rides in the callback")
            .to_owned();
        assert_eq!(
            status_url,
            &format!("{PUBLIC}/webhooks/twilio/transfer?transfer_id={transfer_id}")
        );
        let ready_path = format!("/webhooks/twilio/transfer-ready?transfer_id={transfer_id}");
        assert!(
            twiml.contains(&format!(
                "<Redirect method=\"POST\">{PUBLIC}{ready_path}</Redirect>"
            )),
            "{twiml}"
        );
        let call = transfers_until(&w, &call_id, "calling", |t| {
            t.len() == 1 && t[0]["state"] == "calling"
        })
        .await;
        assert_eq!(call["transfers"][0]["target"], "manager");
        assert_eq!(call["transfers"][0]["warm"], true);
        assert!(
            call["ended_at"].is_null(),
            "the caller is still with the agent"
        );

        // An unsigned report changes nothing.
        let status_path = format!("/webhooks/twilio/transfer?transfer_id={transfer_id}");
        let unsigned = w
            .http
            .post(format!("{}{status_path}", w.engine.public_url()))
            .form(&[("CallSid", "CA1"), ("CallStatus", "in-progress")])
            .send()
            .await
            .unwrap();
        assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);

        let leg = w.twilio_leg_sid();
        let ringing = [
            ("CallSid", leg.as_str()),
            ("CallStatus", "ringing"),
            ("AccountSid", TWILIO_SID),
        ];
        assert_eq!(
            w.twilio_webhook(&status_path, &ringing).await,
            StatusCode::NO_CONTENT
        );
        let answered = [
            ("CallSid", leg.as_str()),
            ("CallStatus", "in-progress"),
            ("AccountSid", TWILIO_SID),
        ];
        assert_eq!(
            w.twilio_webhook(&status_path, &answered).await,
            StatusCode::NO_CONTENT
        );
        transfers_until(&w, &call_id, "answered", |t| t[0]["state"] == "answered").await;
        assert_eq!(w.twilio.requests().len(), 1, "nobody moved yet");

        // The person has heard it: they go into the room, and so does the caller.
        let sig = twilio_signature(TWILIO_TOKEN, &format!("{PUBLIC}{ready_path}"), &answered);
        let res = w
            .http
            .post(format!("{}{ready_path}", w.engine.public_url()))
            .header("x-twilio-signature", sig)
            .form(&answered)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let person = res.text().await.unwrap();
        let room = format!("transfer-{call_id}");
        assert!(
            person.contains(&format!(">{room}</Conference>")),
            "{person}"
        );
        let requests = w.twilio.wait_for(2).await;
        assert!(
            requests[1].path.ends_with(&format!("/Calls/{sid}.json")),
            "{requests:?}"
        );
        let form: std::collections::HashMap<_, _> = requests[1].form.iter().cloned().collect();
        assert!(
            form["Twiml"].contains(&format!(">{room}</Conference>")),
            "{form:?}"
        );
        assert!(!form.contains_key("Status"), "not a hang-up");
        assert!(
            w.twilio.violations().is_empty(),
            "{:?}",
            w.twilio.violations()
        );

        let call = w.ended(&call_id).await;
        assert_eq!(
            call["hangup_cause"],
            format!("warm transfer to manager ({MANAGER})")
        );
        let t = &call["transfers"][0];
        assert_eq!(
            (t["state"].as_str(), t["leg_id"].as_str()),
            (Some("connected"), Some(leg.as_str()))
        );
        assert!(t["ended_at"].is_string(), "{t}");
        let lines = lines(&call);
        for expected in [
            format!("Calling manager ({MANAGER}) to hand the caller over…"),
            "manager answered; telling them who is calling.".to_owned(),
            format!("Transferred to manager ({MANAGER}) after telling them who is calling."),
        ] {
            assert!(lines.contains(&expected), "{expected:?} in {lines:?}");
        }
        w.assert_clean(&[&media.violations()]);
    }

    #[tokio::test]
    async fn a_warm_transfer_nobody_answers_leaves_the_caller_with_the_agent_told_so() {
        let w = World::start(Script::new().respond_with_audio(800, "One moment.")).await;
        with_warm_transfer(&w, 5).await;
        w.number("twilio").await;
        let (call_id, media) = w.twilio_stream("CA00000000000000000000000000000042").await;
        media.set_instant_playback(true);
        w.realtime
            .wait_for_server_event("response.done", WAIT)
            .await;
        output_of(
            &w,
            "transfer_call",
            r#"{"target":"manager","reason":"billing"}"#,
        )
        .await;
        let create = w.twilio.wait_for(1).await.remove(0);
        let form: std::collections::HashMap<_, _> = create.form.iter().cloned().collect();
        assert!(
            form["Twiml"].contains("billing"),
            "the reason stands in for a summary"
        );
        let transfer_id = form["StatusCallback"]
            .split("transfer_id=")
            .nth(1)
            .unwrap()
            .to_owned();
        let leg = w.twilio_leg_sid();
        let status_path = format!("/webhooks/twilio/transfer?transfer_id={transfer_id}");
        let no_answer = [
            ("CallSid", leg.as_str()),
            ("CallStatus", "no-answer"),
            ("AccountSid", TWILIO_SID),
        ];
        assert_eq!(
            w.twilio_webhook(&status_path, &no_answer).await,
            StatusCode::NO_CONTENT
        );

        let note = last_note(&w).await;
        assert!(note.contains("did not happen: nobody answered"), "{note}");
        let call = transfers_until(&w, &call_id, "failed", |t| t[0]["state"] == "failed").await;
        assert_eq!(call["transfers"][0]["detail"], "nobody answered");
        assert!(call["ended_at"].is_null(), "the call goes on: {call}");
        // The transcript line is written beside the transfer's record, a moment apart.
        let failed = format!("transfer_call failed: manager ({MANAGER}): nobody answered");
        w.call_until(&call_id, "with the failure in its transcript", |c| {
            lines(c).contains(&failed)
        })
        .await;
        assert_eq!(w.twilio.requests().len(), 1, "the caller was never moved");

        // A second try is allowed, and is refused while under way.
        output_of(&w, "transfer_call", r#"{"target":"manager"}"#).await;
        w.twilio.wait_for(2).await;
        let out = output_of(&w, "transfer_call", r#"{"target":"manager"}"#).await;
        assert!(
            out["error"].as_str().unwrap().contains("already under way"),
            "{out}"
        );
        // The caller hangs up while it rings: the person's call is canceled.
        media.stop().await.unwrap();
        let requests = w.twilio.wait_for(3).await;
        let leg2 = w.twilio_leg_sid();
        assert!(
            requests[2].path.ends_with(&format!("/Calls/{leg2}.json")),
            "{requests:?}"
        );
        assert!(
            requests[2]
                .form
                .contains(&("Status".to_owned(), "canceled".to_owned()))
        );
        let call = transfers_until(&w, &call_id, "second failed", |t| {
            t.len() == 2 && t[1]["state"] == "failed"
        })
        .await;
        assert_eq!(call["transfers"][1]["detail"], "the call ended first");
        assert!(
            w.twilio.violations().is_empty(),
            "{:?}",
            w.twilio.violations()
        );
    }

    #[tokio::test]
    async fn a_warm_transfer_on_telnyx_speaks_the_summary_then_bridges_and_a_declined_one_does_not()
    {
        let w = World::start(Script::new().respond_with_audio(800, "Please hold.")).await;
        with_warm_transfer(&w, 15).await;
        w.number("telnyx").await;
        let (s, _) = w
            .engine
            .api
            .put(
                "/api/settings",
                json!({"telnyx_connection_id": "1494404757140276705"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let ccid = "v3:telnyx-warm-transfer-call";
        let (call_id, media) = w.telnyx_stream(ccid).await;
        media.set_instant_playback(true);
        w.realtime
            .wait_for_server_event("response.done", WAIT)
            .await;

        // Declined first: the agent is told, nothing is bridged.
        let before = w.telnyx.commands().len();
        output_of(
            &w,
            "transfer_call",
            &json!({"target": "manager", "summary": SUMMARY}).to_string(),
        )
        .await;
        let dial = w.telnyx.wait_for(before + 1).await.remove(before);
        assert_eq!(dial.action, "dial");
        assert_eq!(
            (
                dial.body["to"].as_str(),
                dial.body["from"].as_str(),
                dial.body["timeout_secs"].as_u64()
            ),
            (Some(MANAGER), Some(OUR_NUMBER), Some(15))
        );
        assert_eq!(dial.body["connection_id"], "1494404757140276705");
        let state = dial.body["client_state"].as_str().unwrap().to_owned();
        let leg = format!("v3:sim-leg-{before}");
        let wr = &w;
        let leg_event = |ty: &'static str, extra: Value| {
            let mut payload = json!({"call_control_id": leg, "call_leg_id": "l", "call_session_id": "s",
                "connection_id": "1494404757140276705", "client_state": state,
                "from": OUR_NUMBER, "to": MANAGER});
            for (k, v) in extra.as_object().unwrap() {
                payload[k] = v.clone();
            }
            let id = format!("{ty}-{}", common::rand_suffix());
            async move { wr.telnyx_webhook(ty, &id, payload).await }
        };
        leg_event("call.initiated", json!({"direction": "outgoing"})).await;
        leg_event("call.hangup", json!({"hangup_cause": "call_rejected"})).await;
        let note = last_note(&w).await;
        assert!(note.contains("they declined the call"), "{note}");
        transfers_until(&w, &call_id, "declined", |t| t[0]["state"] == "failed").await;

        // Then answered: the summary is spoken to them, and once said, the caller is bridged
        // to them and the agent's stream stopped.
        let before = w.telnyx.commands().len();
        output_of(
            &w,
            "transfer_call",
            &json!({"target": "manager", "summary": SUMMARY}).to_string(),
        )
        .await;
        let dial = w.telnyx.wait_for(before + 1).await.remove(before);
        let state = dial.body["client_state"].as_str().unwrap().to_owned();
        let leg = format!("v3:sim-leg-{before}");
        let leg_event = |ty: &'static str| {
            let payload = json!({"call_control_id": leg, "call_leg_id": "l2", "call_session_id": "s2",
                "connection_id": "1494404757140276705", "client_state": state,
                "from": OUR_NUMBER, "to": MANAGER});
            let id = format!("{ty}-{}", common::rand_suffix());
            async move { wr.telnyx_webhook(ty, &id, payload).await }
        };
        leg_event("call.answered").await;
        let speak = w.telnyx.wait_for(before + 2).await.remove(before + 1);
        assert_eq!(
            (speak.action.as_str(), speak.call_control_id.as_str()),
            ("speak", leg.as_str())
        );
        assert!(
            speak.body["payload"].as_str().unwrap().contains(SUMMARY),
            "{}",
            speak.body
        );
        transfers_until(&w, &call_id, "answered", |t| {
            t.len() == 2 && t[1]["state"] == "answered"
        })
        .await;
        leg_event("call.speak.ended").await;
        let commands = w.telnyx.wait_for(before + 4).await;
        let (bridge, stop) = (&commands[before + 2], &commands[before + 3]);
        assert_eq!(
            (bridge.action.as_str(), bridge.call_control_id.as_str()),
            ("bridge", ccid)
        );
        assert_eq!(bridge.body["call_control_id"], leg.as_str());
        assert_eq!(
            (stop.action.as_str(), stop.call_control_id.as_str()),
            ("streaming_stop", ccid)
        );
        let call = w.ended(&call_id).await;
        assert_eq!(
            call["hangup_cause"],
            format!("warm transfer to manager ({MANAGER})")
        );
        let states: Vec<&str> = call["transfers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["failed", "connected"]);
        assert!(
            !w.telnyx.commands().iter().any(|c| c.action == "hangup"),
            "nobody was hung up on"
        );
    }

    #[tokio::test]
    async fn send_dtmf_presses_checked_keys_through_telnyx_and_the_call_goes_on() {
        let w = World::start(Script::new().respond_with_audio(800, "Pressing one.")).await;
        give_tools(&w, json!({"builtin_tools": ["send_dtmf"]})).await;
        w.number("telnyx").await;
        let ccid = "v3:telnyx-dtmf-call";
        let (call_id, media) = w.telnyx_stream(ccid).await;
        let session = w.realtime.wait_for_event("session.update", WAIT).await;
        let declared = &session["session"]["tools"][0];
        assert_eq!(declared["name"], "send_dtmf");
        assert!(declared["parameters"]["properties"]["digits"]["pattern"].is_string());
        media.set_instant_playback(true);
        w.realtime
            .wait_for_server_event("response.done", WAIT)
            .await;
        let before = w.telnyx.commands().len();

        // Not keys: refused to the model, nothing sent.
        let out = output_of(&w, "send_dtmf", r#"{"digits":"1 then 2"}"#).await;
        assert!(
            out["error"].as_str().unwrap().contains("is not a key"),
            "{out}"
        );
        assert_eq!(w.telnyx.commands().len(), before);

        let out = output_of(&w, "send_dtmf", r#"{"digits":"1w2#"}"#).await;
        assert_eq!(out, json!({"ok": true, "pressed": "1w2#"}));
        let sent = w.telnyx.wait_for(before + 1).await.remove(before);
        assert_eq!(
            (sent.action.as_str(), sent.call_control_id.as_str()),
            ("send_dtmf", ccid)
        );
        assert_eq!(
            (
                sent.body["digits"].as_str(),
                sent.body["duration_millis"].as_u64()
            ),
            (Some("1w2#"), Some(250))
        );
        assert!(sent.body["command_id"].is_string(), "a retry presses once");
        let call = w
            .call_until(&call_id, "has the keys' line", |c| {
                lines(c).contains(&"send_dtmf → pressed 1w2#".to_owned())
            })
            .await;
        assert!(call["ended_at"].is_null(), "the call goes on");
        assert_eq!(w.realtime.connection_count(), 1);
        w.assert_clean(&[&media.violations()]);
        media.stop().await.unwrap();
    }

    #[tokio::test]
    async fn send_dtmf_on_twilio_plays_the_keys_and_the_call_carries_on_over_the_new_stream() {
        let w = World::start(Script::new().respond_with_audio(1_600, "I pressed three.")).await;
        give_tools(&w, json!({"builtin_tools": ["send_dtmf"]})).await;
        w.number("twilio").await;
        let sid = "CA00000000000000000000000000000051";
        let (call_id, media) = w.twilio_stream(sid).await;
        media.set_instant_playback(true);
        w.realtime
            .wait_for_server_event("response.done", WAIT)
            .await;

        // A resumed stream nobody asked for is refused; the call goes on.
        let forged = TwilioMedia::connect(
            &w.media_url("twilio"),
            sid,
            &[
                ("call_id", &call_id),
                ("agent_id", &w.agent),
                ("resume", "1"),
            ],
        )
        .await
        .unwrap();
        forged.wait_closed(WAIT).await;

        let agent_calls = w.realtime.client_events_of("response.create").len();
        let call_item = w.realtime.agent_calls("send_dtmf", r#"{"digits":"3"}"#);
        let requests = w.twilio.wait_for(1).await;
        assert!(
            requests[0].path.ends_with(&format!("/Calls/{sid}.json")),
            "{requests:?}"
        );
        let form: std::collections::HashMap<_, _> = requests[0].form.iter().cloned().collect();
        let twiml = &form["Twiml"];
        assert!(
            twiml.contains("<Play digits=\"3\"/><Connect><Stream"),
            "{twiml}"
        );
        assert!(
            twiml.contains("<Parameter name=\"resume\" value=\"1\"/>"),
            "{twiml}"
        );
        assert!(twiml.contains(&format!(
            "<Parameter name=\"call_id\" value=\"{call_id}\"/>"
        )));
        assert!(
            w.twilio.violations().is_empty(),
            "{:?}",
            w.twilio.violations()
        );

        // Twilio ends the old stream, plays the key, and streams the call again.
        media.stop().await.unwrap();
        let resumed = TwilioMedia::connect(
            &w.media_url("twilio"),
            sid,
            &[
                ("call_id", &call_id),
                ("agent_id", &w.agent),
                ("resume", "1"),
            ],
        )
        .await
        .unwrap();
        resumed.set_instant_playback(true);
        // The model was told the key went, and what it says next reaches the caller over the
        // new stream, in the same session.
        let deadline = Instant::now() + WAIT;
        while resumed.audio_bytes() < 1_600 {
            assert!(
                Instant::now() < deadline,
                "no agent audio on the new stream"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let output = w
            .realtime
            .client_events_of("conversation.item.create")
            .into_iter()
            .find(|e| e["item"]["call_id"] == call_item.as_str())
            .expect("the output");
        assert_eq!(output["item"]["output"], r#"{"ok":true,"pressed":"3"}"#);
        assert!(w.realtime.client_events_of("response.create").len() > agent_calls);
        assert_eq!(
            w.realtime.connection_count(),
            1,
            "one conversation throughout"
        );
        let call = w.call(&call_id).await;
        assert!(call["ended_at"].is_null(), "the call goes on: {call}");
        assert!(lines(&call).contains(&"send_dtmf → pressed 3".to_owned()));
        w.assert_clean(&[&resumed.violations()]);
        resumed.stop().await.unwrap();
        w.ended(&call_id).await;
    }

    #[tokio::test]
    async fn mcp_servers_are_given_to_the_session_and_what_the_backend_calls_on_them_is_recorded() {
        let w = World::start_with_keyring(Script::new().respond_with_audio(400, "Hello.")).await;
        let (s, b) = w
            .engine
            .api
            .put(
                "/api/tool-secrets/crm_mcp",
                json!({"value": "mcp-secret-91c2"}),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
        // Refused, naming the server: a key in plain text, a URL that is none.
        let agent = format!("/api/agents/{}", w.agent);
        for (bad, words) in [
            (
                json!([{"label": "crm", "url": "https://mcp.example.test/mcp",
                        "headers": [{"name": "Authorization", "value": "Bearer mcp-secret-91c2"}]}]),
                "server 1 (crm): header",
            ),
            (
                json!([{"label": "crm", "url": "mcp.example.test"}]),
                "server 1 (crm): url",
            ),
        ] {
            let (s, e) = w.engine.api.put(&agent, json!({"mcp_servers": bad})).await;
            assert_eq!(
                (s, &e["error"]["field"]),
                (StatusCode::UNPROCESSABLE_ENTITY, &json!("mcp_servers")),
                "{e}"
            );
            assert!(
                e["error"]["message"].as_str().unwrap().contains(words),
                "{e}"
            );
            assert!(
                !e.to_string().contains("mcp-secret"),
                "no secret echoed: {e}"
            );
        }
        give_tools(
            &w,
            json!({"mcp_servers": [
                {"label": "crm", "url": "https://mcp.example.test/mcp",
                 "description": "Customer records", "allowed_tools": ["lookup_customer"],
                 "headers": [{"name": "Authorization", "value": "Bearer {{secret:crm_mcp}}"}]},
                {"label": "calendar", "url": "https://cal.example.test/mcp",
                 "headers": [{"name": "X-Api-Key", "value": "{{secret:not_set_yet}}"}]}]}),
        )
        .await;
        let (_, stored) = w.engine.api.get(&agent).await;
        assert!(
            !stored.to_string().contains("mcp-secret"),
            "kept by reference only"
        );
        w.number("twilio").await;
        let (call_id, media) = w.twilio_stream("CA00000000000000000000000000000061").await;
        let session = w.realtime.wait_for_event("session.update", WAIT).await;
        // The session gets the server with its key filled in, never asking for approval; the
        // one whose secret is not set is left out, and the record says so.
        assert_eq!(
            session["session"]["tools"],
            json!([{"type": "mcp", "server_label": "crm", "server_url": "https://mcp.example.test/mcp",
                    "server_description": "Customer records", "allowed_tools": ["lookup_customer"],
                    "headers": {"Authorization": "Bearer mcp-secret-91c2"},
                    "require_approval": "never"}])
        );
        media.set_instant_playback(true);
        w.realtime
            .wait_for_server_event("response.done", WAIT)
            .await;

        w.realtime.mcp_call(
            "crm",
            "lookup_customer",
            r#"{"phone":"+14155550123","token":"mcp-secret-91c2"}"#,
            Ok(r#"{"name":"Dana Reyes","plan":"gold"}"#),
        );
        // The next once this response is done (the greeting's was the first).
        let deadline = Instant::now() + WAIT;
        while w
            .realtime
            .server_events()
            .iter()
            .filter(|e| e["type"] == "response.done")
            .count()
            < 2
        {
            assert!(Instant::now() < deadline, "the MCP response never ended");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        w.realtime
            .mcp_call("crm", "lookup_customer", "{}", Err("phone is required"));
        w.realtime.mcp_list_fails("crm");
        let call = w
            .call_until(&call_id, "has the MCP lines", |c| {
                lines(c)
                    .iter()
                    .any(|l| l.starts_with("The tools of MCP server"))
                    && lines(c)
                        .iter()
                        .any(|l| l.contains("failed: phone is required"))
            })
            .await;
        let lines = lines(&call);
        for expected in [
            "MCP server calendar was left out: a tool secret its headers name is not set (Settings → Tool secrets).",
            r#"crm.lookup_customer({"phone":"+14155550123","token":"••••"})"#,
            r#"crm.lookup_customer → {"name":"Dana Reyes","plan":"gold"}"#,
            "crm.lookup_customer failed: phone is required",
            "The tools of MCP server crm could not be listed; the agent goes on without them.",
        ] {
            assert!(
                lines.iter().any(|l| l == expected),
                "{expected:?} in {lines:#?}"
            );
        }
        assert!(!lines.iter().any(|l| l.contains("mcp-secret")), "{lines:?}");
        // Counted in the agent's stats, as its tools are.
        let deadline = Instant::now() + WAIT;
        loop {
            let (_, stats) = w
                .engine
                .api
                .get(&format!("/api/agents/{}/stats", w.agent))
                .await;
            let counted = stats["tools"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["tool"] == "crm.lookup_customer")
                .map(|t| (t["calls"].as_i64(), t["failures"].as_i64()));
            if counted == Some((Some(2), Some(1))) {
                break;
            }
            assert!(Instant::now() < deadline, "{stats}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        w.assert_clean(&[&media.violations()]);
        media.stop().await.unwrap();
    }
}

/// The call's recording, as the API serves it: (left, right) channels at 8 kHz.
async fn recording(w: &World, call_id: &str) -> (Vec<i16>, Vec<i16>) {
    let r = w
        .http
        .get(format!(
            "{}/api/calls/{call_id}/recording",
            w.engine.api.base
        ))
        .bearer_auth(&w.engine.api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "audio/wav");
    let bytes = r.bytes().await.unwrap();
    let mut wav = hound::WavReader::new(std::io::Cursor::new(bytes)).unwrap();
    let spec = wav.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let left = samples.iter().step_by(2).copied().collect();
    let right = samples.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}

/// 20 ms windows of `channel` in which `hz` is present (a tone at speaking level).
fn windows_with(channel: &[i16], hz: f64) -> Vec<usize> {
    channel
        .chunks(160)
        .enumerate()
        .filter(|(_, w)| w.len() == 160 && sound::tone_dbfs(w, 8000, hz) > -25.0)
        .map(|(i, _)| i)
        .collect()
}

/// The agent records its calls and says so first. The caller speaks (a 1 kHz tone) for
/// three seconds while the agent answers with five seconds of a 440 Hz tone, sent at once; a
/// second in, the caller barges in. The file: the caller on the left throughout, the agent on
/// the right for as long as the marks say the caller heard it, then silence.
#[tokio::test]
async fn a_recorded_call_has_the_caller_left_and_the_agent_right_as_heard_cut_at_the_barge_in() {
    let w = World::start(Script::new().respond_with_audio(40_000, "A long answer.")).await;
    let (s, agent) = w
        .engine
        .api
        .put(
            &format!("/api/agents/{}", w.agent),
            json!({"record_calls": true, "recording_disclosure": "  This call is recorded. "}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{agent}");
    assert_eq!(agent["recording_disclosure"], "This call is recorded.");
    w.number("twilio").await;
    let (call_id, media) = w.twilio_stream("CA000000000000000000000000000000a1").await;

    let speech = pcmu::tone(24_000, 1000.0);
    let caller = media.send_audio(&speech);
    let barge = async {
        let greet = w.realtime.wait_for_event("response.create", WAIT).await;
        media.wait_for_audio_bytes(40_000, WAIT).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        w.realtime.speech_started(1_000);
        media.wait_for_clear(WAIT).await;
        let truncate = w
            .realtime
            .wait_for_event("conversation.item.truncate", WAIT)
            .await;
        (greet, truncate["audio_end_ms"].as_u64().unwrap())
    };
    let (sent, (greet, heard_ms)) = tokio::join!(caller, barge);
    sent.unwrap();
    assert!(
        greet
            .to_string()
            .contains("This call is recorded. Acme Plumbing, how can I help?"),
        "the disclosure is said first: {greet}"
    );
    let live = w.call(&call_id).await;
    assert!(live["recording"]["started_at"].is_string(), "{live}");
    assert!(
        live["recording"]["duration_ms"].is_null(),
        "still recording: {live}"
    );
    media.stop().await.unwrap();
    let call = w
        .call_until(&call_id, "with its recording's length", |c| {
            c["recording"]["duration_ms"].is_number()
        })
        .await;
    let duration = call["recording"]["duration_ms"].as_u64().unwrap();
    assert!(
        (2_900..=3_300).contains(&duration),
        "the recording lasts as long as the caller's audio: {duration} ms"
    );

    let (left, right) = recording(&w, &call_id).await;
    assert_eq!(left.len() as u64, duration * 8);
    let caller_on_left = windows_with(&left, 1000.0).len();
    let agent_on_left = windows_with(&left, 440.0).len();
    assert!(
        caller_on_left * 20 >= 2_800,
        "the caller, left: {caller_on_left} windows"
    );
    assert_eq!(agent_on_left, 0, "none of the agent on the left");
    assert!(
        windows_with(&right, 1000.0).is_empty(),
        "none of the caller on the right"
    );
    let agent = windows_with(&right, 440.0);
    let (first, last) = (agent[0], *agent.last().unwrap());
    let agent_ms = (last - first + 1) as u64 * 20;
    println!(
        "recording: {duration} ms; the agent heard for {heard_ms} ms, in the file {agent_ms} ms from {} ms",
        first * 20
    );
    assert_eq!(
        agent.len(),
        last - first + 1,
        "the agent's part is unbroken"
    );
    assert!(
        agent_ms.abs_diff(heard_ms) <= 60,
        "the agent's part lasts what the caller heard ({heard_ms} ms), not the 5 s sent: {agent_ms} ms"
    );
    // The window after the last loud one may hold the tone's last samples: the cut need not
    // fall on a window's edge.
    let after = &right[(last + 2) * 160..];
    assert!(after.len() >= 8_000, "the caller talks on after the cut");
    assert!(
        sound::rms_dbfs(after) < -60.0,
        "the cut-off stays silent: {:.1} dBFS",
        sound::rms_dbfs(after)
    );

    // A player seeks by ranges.
    let r = w
        .http
        .get(format!(
            "{}/api/calls/{call_id}/recording",
            w.engine.api.base
        ))
        .bearer_auth(&w.engine.api.token)
        .header("range", "bytes=0-43")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    let head = r.bytes().await.unwrap();
    assert_eq!(
        (head.len(), &head[..4], &head[8..12]),
        (44, &b"RIFF"[..], &b"WAVE"[..])
    );
    w.assert_clean(&[&media.violations()]);
}

/// Recordings go with their call, and past the retention the user sets; a live call cannot be
/// deleted, and a call that was never recorded says so.
#[tokio::test]
async fn recordings_are_deleted_with_their_call_and_after_the_retention() {
    let clock = Arc::new(TestClock(Mutex::new(switchboard::domain::Timestamp::now())));
    let w = World::start_clocked(Script::new(), clock.clone()).await;
    let api = &w.engine.api;
    let (s, _) = api
        .put(
            &format!("/api/agents/{}", w.agent),
            json!({"record_calls": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    w.number("twilio").await;
    let mut files = Vec::new();
    let mut ids = Vec::new();
    for sid in [
        "CA000000000000000000000000000000b1",
        "CA000000000000000000000000000000b2",
    ] {
        let (call_id, media) = w.twilio_stream(sid).await;
        media.send_audio(&pcmu::tone(4_000, 1000.0)).await.unwrap();
        if ids.is_empty() {
            let (s, e) = api.delete(&format!("/api/calls/{call_id}")).await;
            assert_eq!(s, StatusCode::CONFLICT, "a live call stays: {e}");
        }
        media.stop().await.unwrap();
        w.call_until(&call_id, "recorded", |c| {
            c["recording"]["duration_ms"].is_number()
        })
        .await;
        let file = w
            ._tmp
            .path()
            .join("recordings")
            .join(format!("{call_id}.wav"));
        assert!(file.exists());
        files.push(file);
        ids.push(call_id);
    }

    // Deleting a call deletes its recording.
    let (s, _) = api.delete(&format!("/api/calls/{}", ids[0])).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(!files[0].exists(), "the file went with the call");
    let (s, _) = api.get(&format!("/api/calls/{}", ids[0])).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.delete(&format!("/api/calls/{}", ids[0])).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Three days on, a week's retention keeps the other; two days' deletes it at once.
    let later = clock.0.lock().unwrap().as_millis() + 3 * 86_400_000;
    *clock.0.lock().unwrap() = switchboard::domain::Timestamp::from_millis(later);
    let (s, set) = api
        .put("/api/settings", json!({"recording_retention_days": 7}))
        .await;
    assert_eq!(
        (s, &set["recording_retention_days"]),
        (StatusCode::OK, &json!(7))
    );
    assert!(files[1].exists(), "within a week");
    assert!(w.call(&ids[1]).await["recording"].is_object());
    for bad in [json!(0), json!(3651), json!(-1), json!("7")] {
        let (s, e) = api
            .put("/api/settings", json!({"recording_retention_days": bad}))
            .await;
        assert!(s.is_client_error(), "{bad} refused: {e}");
    }
    let (s, _) = api
        .put("/api/settings", json!({"recording_retention_days": 2}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(!files[1].exists(), "past two days: deleted");
    let call = w.call(&ids[1]).await;
    assert!(call["recording"].is_null(), "{call}");
    assert_eq!(call["status"], "completed", "the call itself stays");
    let r = w
        .http
        .get(format!("{}/api/calls/{}/recording", api.base, ids[1]))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not recorded"),
        "{e}"
    );
}

/// A recorded call cut by a crash: `switchboard serve` is killed (SIGKILL) two and a half
/// seconds into a recorded call; started again on the same data, it repairs the file, which
/// plays the caller up to the last second flushed before the kill.
#[tokio::test]
async fn a_recording_cut_by_a_crash_plays_up_to_the_crash_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let realtime = FakeRealtime::start(Script::new()).await;
    let token = "crash-recording-token";
    let envs = [
        ("TWILIO_ACCOUNT_SID", TWILIO_SID),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("OPENAI_API_KEY", TEST_API_KEY),
        ("SWITCHBOARD_TOKEN", token),
        ("WEBHOOK_BASE_URL", PUBLIC),
    ];
    let extra = [
        "--no-keyring",
        "--twilio-api-url",
        "http://127.0.0.1:9",
        "--openai-realtime-url",
        &realtime.url(),
    ];
    let serve = common::serve(tmp.path(), &envs, &extra).await;
    let api = common::Api::new(serve.control.clone(), token.into());
    let (s, agent) = api
        .post(
            "/api/agents",
            json!({"name": "Recorder", "greeting": "Hello.", "record_calls": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{agent}");
    let (s, n) = api
        .post(
            "/api/phone-numbers",
            json!({"number": OUR_NUMBER, "carrier": "twilio", "inbound_agent_id": agent["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    let sid = "CA000000000000000000000000000000c1";
    let path = "/webhooks/twilio/voice";
    let params = [
        ("AccountSid", TWILIO_SID),
        ("CallSid", sid),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", CALLER),
        ("To", OUR_NUMBER),
    ];
    let twiml = reqwest::Client::new()
        .post(format!("{}{path}", serve.public))
        .header(
            "x-twilio-signature",
            twilio_signature(TWILIO_TOKEN, &format!("{PUBLIC}{path}"), &params),
        )
        .form(&params)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let param = |name: &str| {
        let key = format!("name=\"{name}\" value=\"");
        let at = twiml.find(&key).unwrap_or_else(|| panic!("{twiml}")) + key.len();
        twiml[at..].split('"').next().unwrap().to_owned()
    };
    let call_id = param("call_id");
    let media = TwilioMedia::connect(
        &format!("{}/media/twilio", serve.public.replacen("http", "ws", 1)),
        sid,
        &[("call_id", &call_id), ("agent_id", &param("agent_id"))],
    )
    .await
    .unwrap();
    media.send_audio(&pcmu::tone(20_000, 1000.0)).await.unwrap();
    let mut child = serve.child;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let file = tmp.path().join("recordings").join(format!("{call_id}.wav"));
    let on_disk = std::fs::metadata(&file).unwrap().len();

    let serve = common::serve(tmp.path(), &envs, &extra).await;
    let api = common::Api::new(serve.control.clone(), token.into());
    let deadline = Instant::now() + WAIT;
    let call = loop {
        let (s, call) = api.get(&format!("/api/calls/{call_id}")).await;
        assert_eq!(s, StatusCode::OK, "{call}");
        if call["recording"]["duration_ms"].is_number() {
            break call;
        }
        assert!(Instant::now() < deadline, "never repaired: {call}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ms = call["recording"]["duration_ms"].as_u64().unwrap();
    println!("killed after 2.5 s of the caller ({on_disk} bytes on disk): {ms} ms kept");
    assert!(
        (1_000..=2_500).contains(&ms) && ms % 1_000 == 0,
        "whole seconds up to the kill: {ms} ms"
    );
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(
        bytes.len() as u64,
        44 + ms * 32,
        "trimmed to what the header counts"
    );
    let samples: Vec<i16> = hound::WavReader::new(std::io::Cursor::new(bytes))
        .unwrap()
        .samples::<i16>()
        .map(Result::unwrap)
        .collect();
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let caller = windows_with(&left, 1000.0).len() as u64 * 20;
    assert!(
        caller + 100 >= ms,
        "the caller throughout: {caller} of {ms} ms"
    );
    drop(media);
}

/// A carrier's recording as Twilio and Telnyx serve it: stereo 16-bit WAV at 8 kHz, two
/// seconds, the caller (1 kHz) on the left and the agent (440 Hz) on the right.
fn two_tone_wav() -> Vec<u8> {
    let (left, right) = (
        sound::tone(1000.0, -12.0, 2000, 8000),
        sound::tone(440.0, -12.0, 2000, 8000),
    );
    let mut out = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for (l, r) in left.iter().zip(&right) {
        w.write_sample(*l).unwrap();
        w.write_sample(*r).unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}

/// The agent's recordings are the carrier's; a bad choice is refused naming the field.
async fn record_at_carrier(w: &World) {
    let path = format!("/api/agents/{}", w.agent);
    let (s, body) = w
        .engine
        .api
        .put(
            &path,
            json!({"record_calls": true, "recording_source": "tape"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("recording_source"), "{body}");
    let (s, agent) = w.engine.api.get(&path).await;
    assert_eq!((s, &agent["record_calls"]), (StatusCode::OK, &json!(false)));
    let (s, agent) = w
        .engine
        .api
        .put(
            &path,
            json!({"record_calls": true, "recording_source": "carrier"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{agent}");
    assert_eq!(agent["recording_source"], "carrier");
}

/// Polls until `check` holds of what the simulator saw.
async fn until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The carrier records: once the call is bridged Twilio is asked for a dual-channel recording
/// (a valid operation of its document) with a signed status callback; when the callback says
/// it is ready, the file is fetched with the account's credentials and the call plays it, the
/// caller left and the agent right. A recording whose file cannot be fetched leaves its URL.
#[tokio::test]
async fn a_twilio_recording_is_asked_for_when_bridged_and_fetched_when_ready() {
    let w = World::start(Script::new()).await;
    record_at_carrier(&w).await;
    w.number("twilio").await;
    let call_sid = "CA0000000000000000000000000000c1a1";
    let (call_id, media) = w.twilio_stream(call_sid).await;
    let start = until("Twilio was asked to record", || {
        w.twilio
            .requests()
            .into_iter()
            .find(|r| r.path.ends_with("/Recordings.json"))
    })
    .await;
    assert_eq!(
        start.path,
        format!("/2010-04-01/Accounts/{TWILIO_SID}/Calls/{call_sid}/Recordings.json")
    );
    let form = |k: &str| {
        start
            .form
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(form("RecordingChannels").as_deref(), Some("dual"));
    let callback = form("RecordingStatusCallback").unwrap();
    assert_eq!(
        callback,
        format!("{PUBLIC}/webhooks/twilio/recording?call_id={call_id}")
    );
    assert!(start.authorization.is_some());
    assert_eq!(w.twilio.violations(), Vec::<String>::new());
    let live = w.call(&call_id).await;
    assert!(live["recording"].is_null(), "nothing recorded here: {live}");
    media.stop().await.unwrap();
    w.ended(&call_id).await;

    // Twilio says the file is ready; a forged callback changes nothing.
    let sid = "RE0000000000000000000000000000c1a1";
    w.twilio.add_recording(sid, two_tone_wav());
    let url = w.twilio.recording_url(sid);
    let path = callback.strip_prefix(PUBLIC).unwrap();
    let params = [
        ("AccountSid", TWILIO_SID),
        ("CallSid", call_sid),
        ("RecordingSid", sid),
        ("RecordingUrl", url.as_str()),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "2"),
        ("RecordingChannels", "2"),
        ("RecordingSource", "StartCallRecordingAPI"),
    ];
    let forged = w
        .http
        .post(format!("{}{path}", w.engine.public_url()))
        .header("x-twilio-signature", "bm90IGEgc2lnbmF0dXJl")
        .form(&params)
        .send()
        .await
        .unwrap();
    assert!(forged.status().is_client_error(), "{}", forged.status());
    assert_eq!(
        w.twilio_webhook(path, &params).await,
        StatusCode::NO_CONTENT
    );
    let call = w
        .call_until(&call_id, "with the carrier's recording", |c| {
            c["recording"]["duration_ms"].is_number()
        })
        .await;
    assert_eq!(call["recording"]["duration_ms"], 2000, "{call}");
    assert_eq!(call["recording_url"], url.as_str());
    let fetch = w
        .twilio
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with(".wav"))
        .unwrap();
    assert_eq!(
        fetch.path,
        format!("/2010-04-01/Accounts/{TWILIO_SID}/Recordings/{sid}.wav")
    );
    assert!(fetch.authorization.is_some(), "Basic auth on the media URL");
    let (left, right) = recording(&w, &call_id).await;
    assert_eq!(left.len(), 16_000);
    assert!(windows_with(&left, 1000.0).len() >= 95, "the caller, left");
    assert!(windows_with(&left, 440.0).is_empty());
    assert!(windows_with(&right, 440.0).len() >= 95, "the agent, right");
    assert!(windows_with(&right, 1000.0).is_empty());

    // A recording Twilio announces but does not serve: tried three times, then the call keeps
    // the URL.
    let call_sid = "CA0000000000000000000000000000c1a2";
    let (call_id, media) = w.twilio_stream(call_sid).await;
    media.stop().await.unwrap();
    w.ended(&call_id).await;
    let sid = "RE0000000000000000000000000000c1a2";
    let url = w.twilio.recording_url(sid);
    let path = format!("/webhooks/twilio/recording?call_id={call_id}");
    let params = [
        ("AccountSid", TWILIO_SID),
        ("CallSid", call_sid),
        ("RecordingSid", sid),
        ("RecordingUrl", url.as_str()),
        ("RecordingStatus", "completed"),
    ];
    let began = Instant::now();
    assert_eq!(
        w.twilio_webhook(&path, &params).await,
        StatusCode::NO_CONTENT
    );
    let tries = || {
        w.twilio
            .requests()
            .iter()
            .filter(|r| r.path.ends_with(&format!("{sid}.wav")))
            .count()
    };
    until("three tries", || (tries() == 3).then_some(())).await;
    println!("three fetches refused in {:?}", began.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tries(), 3, "no more tries");
    let call = w.call(&call_id).await;
    assert_eq!(call["recording_url"], url.as_str(), "{call}");
    assert!(call["recording"].is_null(), "{call}");
    assert_eq!(w.twilio.violations(), Vec::<String>::new());
}

/// The same on Telnyx: `record_start` (WAV, dual) once bridged; `call.recording.saved`, which
/// names the call by its client state only, has the file fetched from its URL without
/// credentials.
#[tokio::test]
async fn a_telnyx_recording_is_asked_for_when_bridged_and_fetched_when_saved() {
    let w = World::start(Script::new()).await;
    record_at_carrier(&w).await;
    w.number("telnyx").await;
    let ccid = "v3:rec-telnyx-1";
    let (call_id, media) = w.telnyx_stream(ccid).await;
    let start = until("Telnyx was asked to record", || {
        w.telnyx
            .commands()
            .into_iter()
            .find(|c| c.action == "record_start")
    })
    .await;
    assert_eq!(start.call_control_id, ccid);
    assert_eq!(start.body["format"], "wav");
    assert_eq!(start.body["channels"], "dual");
    media.stop().await.unwrap();
    w.ended(&call_id).await;

    let url = w.telnyx.add_recording("rec-1.wav", two_tone_wav());
    let client_state = base64::engine::general_purpose::STANDARD.encode(&call_id);
    w.telnyx_webhook(
        "call.recording.saved",
        "saved-rec-1",
        json!({
            "connection_id": "1494404757140276705", "call_leg_id": "leg-1",
            "call_session_id": "sess-1", "client_state": client_state,
            "recording_started_at": "2026-11-22T10:00:01.000000Z",
            "recording_ended_at": "2026-11-22T10:00:03.000000Z",
            "channels": "dual",
            "recording_urls": {"wav": url, "mp3": null},
            "public_recording_urls": {},
        }),
    )
    .await;
    let call = w
        .call_until(&call_id, "with the carrier's recording", |c| {
            c["recording"]["duration_ms"].is_number()
        })
        .await;
    assert_eq!(call["recording"]["duration_ms"], 2000, "{call}");
    assert_eq!(
        w.telnyx.recording_fetches(),
        vec![("rec-1.wav".to_owned(), false)],
        "fetched once, without credentials"
    );
    let (left, right) = recording(&w, &call_id).await;
    assert!(windows_with(&left, 1000.0).len() >= 95, "the caller, left");
    assert!(windows_with(&right, 440.0).len() >= 95, "the agent, right");
    assert!(windows_with(&right, 1000.0).is_empty());
}

/// A fetch the engine's stop interrupts is taken up at the next start: the call waits for
/// its recording across the restart.
#[tokio::test]
async fn a_recording_fetch_cut_short_by_a_stop_is_finished_at_the_next_start() {
    let w = World::start(Script::new()).await;
    record_at_carrier(&w).await;
    w.number("telnyx").await;
    let (call_id, media) = w.telnyx_stream("v3:rec-telnyx-2").await;
    media.stop().await.unwrap();
    w.ended(&call_id).await;
    // Not served yet: the first try is refused, and the engine stops before the next.
    let url = w.telnyx.recording_url("rec-2.wav");
    let client_state = base64::engine::general_purpose::STANDARD.encode(&call_id);
    w.telnyx_webhook(
        "call.recording.saved",
        "saved-rec-2",
        json!({
            "call_leg_id": "leg-1", "call_session_id": "sess-1", "client_state": client_state,
            "channels": "dual", "recording_urls": {"wav": url},
        }),
    )
    .await;
    until("a first try", || {
        (!w.telnyx.recording_fetches().is_empty()).then_some(())
    })
    .await;
    // Served from now on; the next try (a second later) is the stop's to cut short.
    w.telnyx.add_recording("rec-2.wav", two_tone_wav());
    let w = w.restarted().await;
    let call = w
        .call_until(
            &call_id,
            "with the carrier's recording after the restart",
            |c| c["recording"]["duration_ms"].is_number(),
        )
        .await;
    assert_eq!(call["recording"]["duration_ms"], 2000, "{call}");
    assert_eq!(
        w.telnyx.recording_fetches().len(),
        2,
        "one try before the stop, one after the start: {:?}",
        w.telnyx.recording_fetches()
    );
    let (left, right) = recording(&w, &call_id).await;
    assert!(windows_with(&left, 1000.0).len() >= 95);
    assert!(windows_with(&right, 440.0).len() >= 95);
}

/// Two nodes on one PostgreSQL: a call bridged on one is heard, edited and hung up through
/// the other, whose `/api/events` shows what the first one's session does.
#[tokio::test]
async fn a_call_held_by_one_node_is_heard_edited_and_hung_up_through_another() {
    use futures_util::StreamExt as _;
    let database = common::cluster_database();
    let w = World::start_on(
        Script::new().respond_with_audio(800, "Hi."),
        None,
        false,
        None,
        Some(&database),
    )
    .await;
    w.number("twilio").await;
    let other_dir = tempfile::tempdir().unwrap();
    let mut cfg = world_config(
        other_dir.path(),
        &w.twilio,
        &w.telnyx,
        &w.keys,
        w.realtime.url(),
    );
    cfg.database_url = Some(database.0.clone());
    cfg.database_schema = Some(database.1.clone());
    let other = TestEngine::start_with(cfg).await;

    // Both nodes are up; the first one started leads.
    let (s, cluster) = other.api.get("/api/cluster").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cluster["store"], "postgresql");
    assert_eq!(cluster["nodes"].as_array().unwrap().len(), 2, "{cluster}");
    assert_eq!(cluster["leads_campaigns"], false);
    assert_eq!(
        w.engine.api.get("/api/cluster").await.1["leads_campaigns"],
        true
    );

    let (call_id, media) = w.twilio_stream("CA00000000000000000000000000000f01").await;
    media.set_instant_playback(true);
    w.realtime.wait_for_event("session.update", WAIT).await;
    let events_url = format!(
        "ws://{}/api/events?access_token={}",
        other.running.control_addr(),
        other.running.token()
    );
    let (mut events, _) = tokio_tungstenite::connect_async(events_url).await.unwrap();

    // The call's context, edited through the other node, reaches the session here.
    let (s, body) = other
        .api
        .put(
            &format!("/api/calls/{call_id}/context"),
            json!({"name": "Grace Hopper"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["live_calls_updated"], 1, "{body}");
    let updates = w.realtime.wait_for_events("session.update", 2, WAIT).await;
    let text = updates[1]["session"]["instructions"].as_str().unwrap();
    assert!(text.contains("The caller is Grace Hopper."), "{text}");
    // The session's confirmation, published on the first node, reaches the other's events.
    wait_for_event(&mut events, "call_context_applied", &call_id).await;

    // Listening in through the other node: the agent (440 Hz) and the caller (1 kHz) come
    // through, from the node whose bridge mixes them.
    let url = format!(
        "{}/api/calls/{call_id}/audio?access_token={}",
        other.api.base.replacen("http", "ws", 1),
        other.api.token
    );
    let (mut listener, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // The first node is asked to stream as the socket opens: give the request a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    w.realtime.agent_says(16_000, "One moment.");
    media.send_audio(&pcmu::tone(16_000, 1000.0)).await.unwrap();
    let mut heard = Vec::new();
    let deadline = Instant::now() + WAIT;
    while heard.len() < 12_000 {
        let left = deadline.saturating_duration_since(Instant::now());
        let m = tokio::time::timeout(left, listener.next())
            .await
            .expect("audio through the other node within the wait")
            .expect("the stream goes on")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Binary(b) = m {
            assert_eq!(b.len(), 320, "20 ms of 16-bit samples at 8 kHz");
            heard.extend(b.chunks_exact(2).map(|p| i16::from_le_bytes([p[0], p[1]])));
        }
    }
    let part = &heard[2_000..10_000];
    let (agent, caller, neither) = (
        sound::tone_dbfs(part, 8000, 440.0),
        sound::tone_dbfs(part, 8000, 1000.0),
        sound::tone_dbfs(part, 8000, 700.0),
    );
    println!(
        "listen-in through another node: agent {agent:.1} dB, caller {caller:.1} dB, between {neither:.1} dB"
    );
    assert!(
        agent > -20.0 && caller > -20.0,
        "both voices: {agent:.1}, {caller:.1} dB"
    );
    assert!(
        neither < agent - 25.0 && neither < caller - 25.0,
        "and little else"
    );

    // Hung up through the other node: this node's bridge ends it, with the operator's reason.
    let (s, _) = other
        .api
        .post(&format!("/api/calls/{call_id}/hangup"), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    media.wait_closed(WAIT).await;
    let call = w.ended(&call_id).await;
    assert_eq!(call["hangup_cause"], "ended by an operator");
    let end = tokio::time::timeout(WAIT, async {
        while let Some(Ok(m)) = listener.next().await {
            if m.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the listener through the other node is let go");
    other.stop().await;
}
