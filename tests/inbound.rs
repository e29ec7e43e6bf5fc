//! Inbound calls end to end: real-shaped, really signed carrier webhooks sent over HTTP to
//! the engine's public listener; Telnyx's command API played by a loopback simulator.

mod common;

use std::time::Duration;

use common::carriers::{
    TWILIO_SID, TWILIO_TOKEN, TelnyxApi, TelnyxKeys, telnyx_event, twilio_signature,
};
use common::{TestEngine, config};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PUBLIC: &str = "https://sb.example.test";
const OUR_NUMBER: &str = "+14155552671";
const CALLER: &str = "+14158675309";

struct World {
    engine: TestEngine,
    telnyx: TelnyxApi,
    keys: TelnyxKeys,
    http: reqwest::Client,
    _tmp: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// `start`, with `tweak` applied to the engine's configuration.
    async fn start_with(tweak: impl FnOnce(&mut switchboard::Config)) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let telnyx = TelnyxApi::start().await;
        let keys = TelnyxKeys::new();
        let mut cfg = config(tmp.path());
        cfg.telnyx_api_url = telnyx.base.clone();
        cfg.credential_env = vec![
            ("TWILIO_ACCOUNT_SID".into(), TWILIO_SID.into()),
            ("TWILIO_AUTH_TOKEN".into(), TWILIO_TOKEN.into()),
            ("TELNYX_API_KEY".into(), "KEY-telnyx-test".into()),
            ("TELNYX_PUBLIC_KEY".into(), keys.public_key_b64()),
        ];
        tweak(&mut cfg);
        let engine = TestEngine::start_with(cfg).await;
        let (s, _) = engine
            .api
            .put("/api/settings", json!({"public_base_url": PUBLIC}))
            .await;
        assert_eq!(s, StatusCode::OK);
        Self {
            engine,
            telnyx,
            keys,
            http: reqwest::Client::new(),
            _tmp: tmp,
        }
    }

    /// A number on `carrier` answered by a new agent; returns (number id, agent id).
    async fn number(&self, carrier: &str, max_calls: u32) -> (String, String) {
        let api = &self.engine.api;
        let (_, agent) = api
            .post(
                "/api/agents",
                json!({"name": format!("{carrier} agent"), "max_concurrent_calls": max_calls}),
            )
            .await;
        let agent = agent["id"].as_str().unwrap().to_owned();
        let (s, n) = api
            .post(
                "/api/phone-numbers",
                json!({"number": OUR_NUMBER, "carrier": carrier, "inbound_agent_id": agent}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        (n["id"].as_str().unwrap().to_owned(), agent)
    }

    /// POSTs a Twilio form webhook signed for its public URL (unless `signature` overrides).
    async fn twilio(
        &self,
        path: &str,
        params: &[(&str, &str)],
        signature: Option<&str>,
    ) -> (StatusCode, String) {
        let computed = twilio_signature(TWILIO_TOKEN, &format!("{PUBLIC}{path}"), params);
        let mut req = self
            .http
            .post(format!("{}{path}", self.engine.public_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params)
                    .finish(),
            );
        match signature {
            Some("") => {}
            Some(s) => req = req.header("x-twilio-signature", s),
            None => req = req.header("x-twilio-signature", computed),
        }
        let res = req.send().await.unwrap();
        (res.status(), res.text().await.unwrap())
    }

    /// A Twilio voice webhook for `call_sid` as relayed by a local tunnel for `sender` (the
    /// tunnel's `X-Forwarded-For`), signed or not; the status and `Retry-After`.
    async fn relayed_voice(
        &self,
        sender: &str,
        call_sid: &str,
        signed: bool,
    ) -> (StatusCode, Option<String>) {
        let path = "/webhooks/twilio/voice";
        let params = voice_params(call_sid);
        let signature = if signed {
            twilio_signature(TWILIO_TOKEN, &format!("{PUBLIC}{path}"), &params)
        } else {
            "forged".into()
        };
        let res = self
            .http
            .post(format!("{}{path}", self.engine.public_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .header("x-forwarded-for", format!("10.9.9.9, {sender}"))
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&params)
                    .finish(),
            )
            .send()
            .await
            .unwrap();
        let retry = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (res.status(), retry)
    }

    async fn twilio_voice(&self, call_sid: &str) -> (StatusCode, String) {
        self.twilio("/webhooks/twilio/voice", &voice_params(call_sid), None)
            .await
    }

    /// POSTs a Telnyx event signed at `timestamp` (now unless given).
    async fn telnyx_at(&self, body: &str, timestamp: Option<i64>) -> StatusCode {
        let ts = timestamp.unwrap_or_else(|| jiff::Timestamp::now().as_second());
        self.http
            .post(format!("{}/webhooks/telnyx", self.engine.public_url()))
            .header("content-type", "application/json")
            .header("telnyx-timestamp", ts.to_string())
            .header("telnyx-signature-ed25519", self.keys.sign(ts, body))
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn telnyx(&self, body: &str) -> StatusCode {
        self.telnyx_at(body, None).await
    }

    async fn calls(&self) -> Vec<Value> {
        let (_, page) = self.engine.api.get("/api/calls").await;
        page["items"].as_array().unwrap().clone()
    }

    async fn calls_received(&self, number_id: &str) -> i64 {
        self.engine
            .api
            .get(&format!("/api/phone-numbers/{number_id}"))
            .await
            .1["calls_received"]
            .as_i64()
            .unwrap()
    }
}

fn voice_params(call_sid: &str) -> Vec<(&str, &str)> {
    vec![
        ("AccountSid", TWILIO_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallStatus", "ringing"),
        ("Called", OUR_NUMBER),
        ("Caller", CALLER),
        ("Direction", "inbound"),
        ("From", CALLER),
        ("FromCountry", "US"),
        ("To", OUR_NUMBER),
        ("ToCountry", "US"),
    ]
}

fn initiated(call_control_id: &str, event_id: &str) -> String {
    telnyx_event(
        "call.initiated",
        event_id,
        json!({
            "call_control_id": call_control_id,
            "call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
            "call_session_id": "428c31b6-abf3-3bc1-b7f4-5013ef9657c1",
            "connection_id": "1494404757140276705",
            "direction": "incoming",
            "from": CALLER,
            "to": OUR_NUMBER,
            "state": "parked",
            "start_time": "2026-11-22T10:00:00.000000Z"
        }),
    )
}

const SID: &str = "CA0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn a_twilio_call_is_answered_with_a_stream_to_its_agent() {
    let w = World::start().await;
    let (number, agent) = w.number("twilio", 2).await;
    let mut events = w.engine.running.engine.events().subscribe();
    let (status, twiml) = w.twilio_voice(SID).await;
    assert_eq!(status, StatusCode::OK, "{twiml}");
    let calls = w.calls().await;
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        (call["direction"].as_str(), call["status"].as_str()),
        (Some("inbound"), Some("ringing"))
    );
    assert_eq!(call["agent_id"], agent.as_str());
    assert_eq!(call["number_id"], number.as_str());
    assert_eq!(call["carrier_call_id"], SID);
    assert_eq!(call["from_number"], CALLER);
    let expected = format!(
        "<Connect><Stream url=\"wss://sb.example.test/media/twilio\" name=\"call-{id}\" \
         statusCallback=\"https://sb.example.test/webhooks/twilio/stream-status\" \
         statusCallbackMethod=\"POST\">\
         <Parameter name=\"call_id\" value=\"{id}\"/><Parameter name=\"agent_id\" value=\"{agent}\"/>\
         </Stream></Connect><Hangup/>",
        id = call["id"].as_str().unwrap()
    );
    assert!(
        twiml.contains(&expected),
        "TwiML streams the call to its agent: {twiml}"
    );
    assert_eq!(w.calls_received(&number).await, 1);
    let event = tokio::time::timeout(Duration::from_secs(2), events.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&*event, switchboard::events::Event::CallCreated { call: c } if c.carrier_call_id.as_deref() == Some(SID))
    );
}

#[tokio::test]
async fn twilio_calls_are_rejected_for_each_reason_with_a_record_saying_why() {
    let w = World::start().await;
    let api = &w.engine.api;
    // Unknown number: no number is managed yet.
    let (s, twiml) = w.twilio_voice("CA00000000000000000000000000000001").await;
    assert_eq!(s, StatusCode::OK);
    assert!(twiml.contains("<Reject reason=\"rejected\"/>"), "{twiml}");

    // No inbound agent.
    let (_, n) = api
        .post(
            "/api/phone-numbers",
            json!({"number": OUR_NUMBER, "carrier": "twilio"}),
        )
        .await;
    let number = n["id"].as_str().unwrap().to_owned();
    w.twilio_voice("CA00000000000000000000000000000002").await;

    // Inactive agent.
    let (_, a) = api
        .post(
            "/api/agents",
            json!({"name": "Solo", "max_concurrent_calls": 1, "active": false}),
        )
        .await;
    let agent = a["id"].as_str().unwrap().to_owned();
    api.put(
        &format!("/api/phone-numbers/{number}"),
        json!({"inbound_agent_id": agent}),
    )
    .await;
    w.twilio_voice("CA00000000000000000000000000000003").await;

    // At its limit: one live call takes the only slot, the next gets busy.
    api.put(&format!("/api/agents/{agent}"), json!({"active": true}))
        .await;
    let (_, first) = w.twilio_voice("CA00000000000000000000000000000004").await;
    assert!(first.contains("<Connect>"), "{first}");
    let (_, busy) = w.twilio_voice("CA00000000000000000000000000000005").await;
    assert!(
        busy.contains("<Reject reason=\"busy\"/>"),
        "a full agent sounds busy: {busy}"
    );

    // Disabled number.
    api.put(
        &format!("/api/phone-numbers/{number}"),
        json!({"status": "disabled"}),
    )
    .await;
    w.twilio_voice("CA00000000000000000000000000000006").await;

    let mut reasons: Vec<(String, Value)> = w
        .calls()
        .await
        .iter()
        .map(|c| {
            (
                c["carrier_call_id"].as_str().unwrap().to_owned(),
                c["reject_reason"].clone(),
            )
        })
        .collect();
    reasons.sort_by(|a, b| a.0.cmp(&b.0));
    let reasons: Vec<Value> = reasons.into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        reasons,
        [
            json!("unknown_number"),
            json!("no_inbound_agent"),
            json!("agent_inactive"),
            Value::Null,
            json!("agent_busy"),
            json!("number_disabled")
        ]
    );
    for c in w
        .calls()
        .await
        .iter()
        .filter(|c| !c["reject_reason"].is_null())
    {
        assert_eq!(c["status"], "rejected");
    }
    assert_eq!(
        w.calls_received(&number).await,
        1,
        "only the answered call counts"
    );
}

#[tokio::test]
async fn forged_unsigned_and_mis_addressed_twilio_webhooks_are_refused_and_change_nothing() {
    let w = World::start().await;
    let (number, _) = w.number("twilio", 5).await;
    let params = voice_params(SID);
    let cases = [
        ("missing", Some("")),
        ("garbage", Some("bm90IGEgc2lnbmF0dXJl")),
        (
            "wrong token",
            Some(&*twilio_signature(
                "not-the-token",
                &format!("{PUBLIC}/webhooks/twilio/voice"),
                &params,
            )),
        ),
        // Signed for the local address instead of the public URL Twilio would have used.
        (
            "local url",
            Some(&*twilio_signature(
                TWILIO_TOKEN,
                &format!("{}/webhooks/twilio/voice", w.engine.public_url()),
                &params,
            )),
        ),
    ];
    for (what, sig) in cases {
        let (s, body) = w.twilio("/webhooks/twilio/voice", &params, sig).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{what}: {body}");
        assert!(!body.contains(TWILIO_TOKEN));
    }
    // A correctly signed request whose parameters were changed in transit.
    let signed = twilio_signature(
        TWILIO_TOKEN,
        &format!("{PUBLIC}/webhooks/twilio/voice"),
        &params,
    );
    let mut tampered = params.clone();
    tampered[8] = ("To", "+14155550000");
    let (s, _) = w
        .twilio("/webhooks/twilio/voice", &tampered, Some(&signed))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        w.calls().await.is_empty(),
        "refused webhooks record nothing"
    );
    assert_eq!(w.calls_received(&number).await, 0);

    // Signed but malformed: no CallSid.
    let (s, body) = w
        .twilio(
            "/webhooks/twilio/voice",
            &[("From", CALLER), ("To", OUR_NUMBER)],
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(w.calls().await.is_empty());
}

#[tokio::test]
async fn twilio_retries_and_status_callbacks_in_any_order_leave_one_correct_record() {
    let w = World::start().await;
    let (number, agent) = w.number("twilio", 5).await;
    let (_, first) = w.twilio_voice(SID).await;
    let (_, again) = w.twilio_voice(SID).await;
    assert_eq!(first, again, "a retried webhook gets the same answer");
    assert_eq!(w.calls().await.len(), 1);
    assert_eq!(
        w.calls_received(&number).await,
        1,
        "a retry is not counted again"
    );

    fn status<'a>(
        st: &'a str,
        seq: &'a str,
        extra: Vec<(&'a str, &'a str)>,
    ) -> Vec<(&'a str, &'a str)> {
        let mut p = vec![
            ("AccountSid", TWILIO_SID),
            ("CallSid", SID),
            ("CallStatus", st),
            ("SequenceNumber", seq),
        ];
        p.extend(extra);
        p
    }
    // completed arrives before in-progress; both twice. Times follow the call's real start
    // (Twilio's Timestamp is RFC 2822, whole seconds).
    let start = jiff::Timestamp::now();
    let at = |secs: i64| {
        let t = jiff::Timestamp::from_second(start.as_second() + secs).unwrap();
        let rfc2822 = jiff::fmt::rfc2822::to_string(&t.to_zoned(jiff::tz::TimeZone::UTC)).unwrap();
        (rfc2822, format!("{t:.3}"))
    };
    let (answered_2822, answered_3339) = at(18);
    let (ended_2822, ended_3339) = at(60);
    let completed = status(
        "completed",
        "2",
        vec![("CallDuration", "42"), ("Timestamp", ended_2822.as_str())],
    );
    let answered = status(
        "in-progress",
        "1",
        vec![("Timestamp", answered_2822.as_str())],
    );
    for p in [&completed, &completed, &answered, &answered] {
        let (s, body) = w.twilio("/webhooks/twilio/status", p, None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    }
    let call = &w.calls().await[0];
    assert_eq!(call["status"], "completed");
    assert_eq!(call["duration_secs"], 42, "the carrier's duration");
    assert_eq!(call["ended_at"], ended_3339.as_str());
    assert_eq!(
        call["answered_at"],
        answered_3339.as_str(),
        "the end less CallDuration"
    );
    let (_, stats) = w
        .engine
        .api
        .get(&format!("/api/agents/{agent}/stats"))
        .await;
    assert_eq!(stats["inbound"]["calls"], 1);
    assert_eq!(stats["inbound"]["answered"], 1);
    assert_eq!(stats["inbound"]["total_duration_secs"], 42);

    // A recording arrives later with its own callback.
    let rec = status(
        "completed",
        "3",
        vec![
            (
                "RecordingUrl",
                "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1",
            ),
            ("CallDuration", "42"),
        ],
    );
    w.twilio("/webhooks/twilio/status", &rec, None).await;
    let call = &w.calls().await[0];
    assert_eq!(
        call["recording_url"],
        "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1"
    );
    assert_eq!(
        call["duration_secs"], 42,
        "a later callback does not change the ended call"
    );

    let (s, _) = w
        .twilio(
            "/webhooks/twilio/status",
            &[("CallSid", SID), ("CallStatus", "exploded")],
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

const CCID: &str = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg";

#[tokio::test]
async fn a_telnyx_call_is_answered_with_a_bidirectional_pcmu_stream() {
    let w = World::start().await;
    let (number, agent) = w.number("telnyx", 2).await;
    assert_eq!(w.telnyx(&initiated(CCID, "evt-1")).await, StatusCode::OK);
    let commands = w.telnyx.wait_for(1).await;
    let answer = &commands[0];
    assert_eq!(
        (answer.action.as_str(), answer.call_control_id.as_str()),
        ("answer", CCID)
    );
    assert_eq!(
        answer.authorization.as_deref(),
        Some("Bearer KEY-telnyx-test")
    );
    let call = &w.calls().await[0];
    let call_id = call["id"].as_str().unwrap();
    use base64::Engine as _;
    let state = base64::engine::general_purpose::STANDARD.encode(call_id);
    assert_eq!(
        answer.body["stream_url"],
        "wss://sb.example.test/media/telnyx"
    );
    assert_eq!(answer.body["stream_bidirectional_mode"], "rtp");
    assert_eq!(answer.body["stream_bidirectional_codec"], "PCMU");
    assert_eq!(answer.body["stream_codec"], "PCMU");
    assert_eq!(
        answer.body["client_state"],
        state.as_str(),
        "the media socket finds its call by client_state"
    );
    assert_eq!(call["agent_id"], agent.as_str());
    assert_eq!(w.calls_received(&number).await, 1);

    // A repeated call.initiated neither records nor answers twice.
    assert_eq!(w.telnyx(&initiated(CCID, "evt-1")).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.telnyx.commands().len(), 1);
    assert_eq!(w.calls().await.len(), 1);

    // Hangup before answered (out of order), each delivered twice.
    let mut hangup: Value = serde_json::from_str(&telnyx_event(
        "call.hangup",
        "evt-3",
        json!({"call_control_id": CCID, "hangup_cause": "normal_clearing", "hangup_source": "caller", "sip_hangup_cause": "200"}),
    ))
    .unwrap();
    hangup["data"]["occurred_at"] = json!("2026-11-22T10:00:40.000000Z");
    let hangup = hangup.to_string();
    let mut answered: Value = serde_json::from_str(&telnyx_event(
        "call.answered",
        "evt-2",
        json!({"call_control_id": CCID, "state": "answered"}),
    ))
    .unwrap();
    // The call was offered at 10:00:00 (telnyx_event's time), answered 10 s later and hung
    // up 30 s after that.
    answered["data"]["occurred_at"] = json!("2026-11-22T10:00:10.000000Z");
    let answered = answered.to_string();
    for body in [&hangup, &hangup, &answered, &answered] {
        assert_eq!(w.telnyx(body).await, StatusCode::OK);
    }
    let call = &w.calls().await[0];
    assert_eq!(call["status"], "completed");
    assert_eq!(call["hangup_cause"], "normal_clearing");
    assert_eq!(
        call["duration_secs"], 30,
        "from the late answer to the hangup"
    );

    let saved = telnyx_event(
        "call.recording.saved",
        "evt-4",
        json!({"call_control_id": CCID, "recording_urls": {"mp3": "https://rec.example/x.mp3", "wav": "https://rec.example/x.wav"}, "channels": "single"}),
    );
    let amd = telnyx_event(
        "call.machine.detection.ended",
        "evt-5",
        json!({"call_control_id": CCID, "result": "human"}),
    );
    assert_eq!(w.telnyx(&saved).await, StatusCode::OK);
    assert_eq!(w.telnyx(&amd).await, StatusCode::OK);
    let call = &w.calls().await[0];
    assert_eq!(call["recording_url"], "https://rec.example/x.wav");
    assert_eq!(call["answered_by"], "human");
}

#[tokio::test]
async fn telnyx_calls_are_rejected_with_the_reject_command() {
    let w = World::start().await;
    assert_eq!(
        w.telnyx(&initiated("v3:unknown", "evt-a")).await,
        StatusCode::OK
    );
    let c = w.telnyx.wait_for(1).await;
    assert_eq!(
        (c[0].action.as_str(), c[0].body["cause"].as_str()),
        ("reject", Some("CALL_REJECTED"))
    );

    w.number("telnyx", 1).await;
    w.telnyx(&initiated("v3:first", "evt-b")).await;
    w.telnyx(&initiated("v3:second", "evt-c")).await;
    let c = w.telnyx.wait_for(3).await;
    let second = c.iter().find(|c| c.call_control_id == "v3:second").unwrap();
    assert_eq!(
        (second.action.as_str(), second.body["cause"].as_str()),
        ("reject", Some("USER_BUSY"))
    );
    let mut reasons: Vec<Value> = w
        .calls()
        .await
        .iter()
        .map(|c| c["reject_reason"].clone())
        .collect();
    reasons.sort_by_key(|r| r.to_string());
    assert_eq!(
        reasons,
        [json!("agent_busy"), json!("unknown_number"), Value::Null]
    );
}

#[tokio::test]
async fn forged_stale_and_malformed_telnyx_webhooks_are_refused() {
    let w = World::start().await;
    w.number("telnyx", 5).await;
    let body = initiated(CCID, "evt-1");
    let now = jiff::Timestamp::now().as_second();
    assert_eq!(
        w.telnyx_at(&body, Some(now - 600)).await,
        StatusCode::FORBIDDEN,
        "ten minutes old"
    );
    assert_eq!(
        w.telnyx_at(&body, Some(now + 600)).await,
        StatusCode::FORBIDDEN,
        "from the future"
    );
    let other = TelnyxKeys::new();
    let forged = w
        .http
        .post(format!("{}/webhooks/telnyx", w.engine.public_url()))
        .header("telnyx-timestamp", now.to_string())
        .header("telnyx-signature-ed25519", other.sign(now, &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "signed with someone else's key"
    );
    let unsigned = w
        .http
        .post(format!("{}/webhooks/telnyx", w.engine.public_url()))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
    // Signed, then changed.
    let ts = now.to_string();
    let res = w
        .http
        .post(format!("{}/webhooks/telnyx", w.engine.public_url()))
        .header("telnyx-timestamp", &ts)
        .header("telnyx-signature-ed25519", w.keys.sign(now, &body))
        .body(body.replace(OUR_NUMBER, "+14155550000"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(w.calls().await.is_empty(), "nothing was recorded");

    // Properly signed nonsense is malformed, not forbidden.
    assert_eq!(w.telnyx("{\"data\": 5}").await, StatusCode::BAD_REQUEST);
    assert_eq!(w.telnyx("not json").await, StatusCode::BAD_REQUEST);
    assert_eq!(
        w.telnyx(&telnyx_event(
            "call.answered",
            "e",
            json!({"state": "answered"})
        ))
        .await,
        StatusCode::BAD_REQUEST
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(w.telnyx.commands().is_empty(), "no command went to Telnyx");
}

#[tokio::test]
async fn telnyx_commands_are_retried_on_500_but_not_on_4xx() {
    let w = World::start().await;
    w.number("telnyx", 5).await;
    w.telnyx.fail_next(&[(
        500,
        json!({"errors": [{"code": "10000", "title": "Internal error"}]}),
    )]);
    w.telnyx(&initiated(CCID, "evt-1")).await;
    let c = w.telnyx.wait_for(2).await;
    assert!(
        c.iter()
            .all(|c| c.action == "answer" && c.call_control_id == CCID),
        "the same answer, again"
    );
    assert_eq!(
        c[0].body, c[1].body,
        "the retry is the same command (same command_id)"
    );
    assert_eq!(
        w.calls().await[0]["status"],
        "ringing",
        "the retried answer went through"
    );

    // A 4xx is final: one attempt, and the call record carries Telnyx's reason.
    w.telnyx.fail_next(&[(422, json!({"errors": [{"code": "90018", "title": "Call has already ended", "detail": "This call is no longer active"}]}))]);
    w.telnyx(&initiated("v3:gone", "evt-2")).await;
    w.telnyx.wait_for(3).await;
    let mut failed = None;
    for _ in 0..100 {
        failed = w
            .calls()
            .await
            .into_iter()
            .find(|c| c["carrier_call_id"] == "v3:gone" && c["status"] == "failed");
        if failed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failed = failed.expect("the call is marked failed");
    let cause = failed["hangup_cause"].as_str().unwrap();
    assert!(cause.contains("Call has already ended"), "{cause}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.telnyx.commands().len(), 3, "no retry after a 4xx");
}

/// The test's own signer must agree with Twilio's published vector, or every signed
/// webhook above would prove nothing.
#[test]
fn the_test_signer_matches_twilios_published_vector() {
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ];
    assert_eq!(
        twilio_signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params
        ),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
}

/// Ends the Twilio call `sid` as Twilio reports it: `completed` after `secs` answered seconds,
/// or unanswered with `status`.
async fn twilio_end(w: &World, sid: &str, status: &str, secs: Option<i64>) {
    let ended = jiff::Timestamp::now();
    let when = jiff::fmt::rfc2822::to_string(&ended.to_zoned(jiff::tz::TimeZone::UTC)).unwrap();
    let secs = secs.map(|s| s.to_string());
    let mut p = vec![
        ("AccountSid", TWILIO_SID),
        ("CallSid", sid),
        ("CallStatus", status),
        ("SequenceNumber", "9"),
        ("Timestamp", when.as_str()),
    ];
    if let Some(s) = &secs {
        p.push(("CallDuration", s.as_str()));
    }
    let (s, body) = w.twilio("/webhooks/twilio/status", &p, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
}

async fn call_by_carrier_id(w: &World, carrier_call_id: &str) -> Value {
    let call = w
        .calls()
        .await
        .into_iter()
        .find(|c| c["carrier_call_id"] == carrier_call_id)
        .expect("the call is in the log");
    let id = call["id"].as_str().unwrap();
    w.engine.api.get(&format!("/api/calls/{id}")).await.1
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-9)
}

#[tokio::test]
async fn call_costs_follow_the_rates_in_force_when_each_call_ends() {
    let w = World::start().await;
    let api = &w.engine.api;
    let (_, agent) = w.number("twilio", 5).await;

    let (s, view) = api.get("/api/cost-rates").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(view["customized"], false, "the defaults until edited");
    assert!(view["default_sources"].as_array().unwrap().len() >= 3);
    let defaults = view["rates"].clone();
    let mut rates = defaults.clone();
    rates["carriers"]["twilio"]["billing_increment_secs"] = json!(60);
    rates["carriers"]["twilio"]["regions"]["US"] = json!({"inbound": 0.01, "outbound": 0.02});
    rates["ai_per_minute"]["openai_realtime"] = json!(0.12);
    let (s, saved) = api.put("/api/cost-rates", rates.clone()).await;
    assert_eq!(s, StatusCode::OK, "{saved}");
    assert_eq!(saved["customized"], true);

    // 61 answered seconds: two started minutes at Twilio, 61 s of AI.
    w.twilio_voice("CA00000000000000000000000000000061").await;
    twilio_end(
        &w,
        "CA00000000000000000000000000000061",
        "completed",
        Some(61),
    )
    .await;
    let first = call_by_carrier_id(&w, "CA00000000000000000000000000000061").await;
    let cost = &first["cost"];
    assert_eq!(cost["answered_secs"], 61);
    assert_eq!(cost["carrier_billed_secs"], 120, "per started minute");
    assert_eq!(cost["region"], "US", "the caller's country");
    assert_eq!(cost["carrier"], "twilio");
    assert!(close(&cost["carrier_usd"], 0.02), "{cost}");
    assert!(close(&cost["ai_usd"], 0.122), "{cost}");
    assert!(close(&first["cost_estimate_usd"], 0.142), "{first}");

    // New rates: Twilio by the second at a higher price. Only calls ending later use them.
    rates["carriers"]["twilio"]["billing_increment_secs"] = json!(1);
    rates["carriers"]["twilio"]["regions"]["US"]["inbound"] = json!(0.02);
    assert_eq!(
        api.put("/api/cost-rates", rates.clone()).await.0,
        StatusCode::OK
    );
    w.twilio_voice("CA00000000000000000000000000000030").await;
    twilio_end(
        &w,
        "CA00000000000000000000000000000030",
        "completed",
        Some(30),
    )
    .await;
    let second = call_by_carrier_id(&w, "CA00000000000000000000000000000030").await;
    assert_eq!(second["cost"]["carrier_billed_secs"], 30);
    assert!(close(&second["cost_estimate_usd"], 0.01 + 0.06), "{second}");
    let first_again = call_by_carrier_id(&w, "CA00000000000000000000000000000061").await;
    assert_eq!(
        first_again["cost"], first["cost"],
        "a rate edit leaves past calls alone"
    );

    // Never answered: nothing to pay.
    w.twilio_voice("CA000000000000000000000000000000NA").await;
    twilio_end(&w, "CA000000000000000000000000000000NA", "no-answer", None).await;
    let unanswered = call_by_carrier_id(&w, "CA000000000000000000000000000000NA").await;
    assert!(close(&unanswered["cost_estimate_usd"], 0.0), "{unanswered}");

    // The sums: the agent's stats and the filtered log; the export carries each call's cost.
    let (_, stats) = api.get(&format!("/api/agents/{agent}/stats")).await;
    assert!(close(&stats["inbound"]["cost_usd"], 0.212), "{stats}");
    assert!(close(&stats["total"]["cost_usd"], 0.212), "{stats}");
    let (_, page) = api.get(&format!("/api/calls?agent_id={agent}")).await;
    assert!(close(&page["total_cost_usd"], 0.212), "{page}");
    let csv = w
        .http
        .get(format!("{}/api/calls/export", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.lines().next().unwrap().contains("cost_estimate_usd"));
    assert!(csv.contains(",0.1420,"), "{csv}");

    // Bad tables are refused, naming the field, and change nothing.
    let mut negative = rates.clone();
    negative["carriers"]["twilio"]["regions"]["US"]["outbound"] = json!(-1);
    let mut unknown = rates.clone();
    unknown["carriers"]["vonage"] = rates["carriers"]["twilio"].clone();
    let mut no_other = rates.clone();
    no_other["carriers"]["telnyx"]["regions"]
        .as_object_mut()
        .unwrap()
        .remove("other");
    let mut ai = rates.clone();
    ai["ai_per_minute"]["retell"] = json!(1000);
    for (bad, field) in [
        (negative, "carriers"),
        (unknown, "carriers"),
        (no_other, "carriers"),
        (ai, "ai_per_minute"),
    ] {
        let (s, body) = api.put("/api/cost-rates", bad).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    assert_eq!(api.get("/api/cost-rates").await.1["rates"], rates);

    // Reset: the defaults again.
    let (s, reset) = api.delete("/api/cost-rates").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (reset["customized"].clone(), reset["rates"].clone()),
        (json!(false), defaults)
    );
}

#[tokio::test]
async fn a_telnyx_calls_cost_counts_its_started_minutes() {
    let w = World::start().await;
    let api = &w.engine.api;
    w.number("telnyx", 2).await;
    let mut rates = api.get("/api/cost-rates").await.1["rates"].clone();
    rates["carriers"]["telnyx"]["billing_increment_secs"] = json!(60);
    rates["carriers"]["telnyx"]["regions"]["US"] = json!({"inbound": 0.005, "outbound": 0.009});
    rates["ai_per_minute"]["openai_realtime"] = json!(0.1);
    assert_eq!(api.put("/api/cost-rates", rates).await.0, StatusCode::OK);

    assert_eq!(w.telnyx(&initiated(CCID, "evt-1")).await, StatusCode::OK);
    w.telnyx.wait_for(1).await;
    let event = |kind: &str, id: &str, at: &str, extra: Value| {
        let mut e: Value = serde_json::from_str(&telnyx_event(kind, id, extra)).unwrap();
        e["data"]["occurred_at"] = json!(at);
        e.to_string()
    };
    let answered = event(
        "call.answered",
        "evt-2",
        "2026-11-22T10:00:10.000000Z",
        json!({"call_control_id": CCID, "state": "answered"}),
    );
    let hangup = event(
        "call.hangup",
        "evt-3",
        "2026-11-22T10:00:40.000000Z",
        json!({"call_control_id": CCID, "hangup_cause": "normal_clearing"}),
    );
    for body in [&answered, &hangup] {
        assert_eq!(w.telnyx(body).await, StatusCode::OK);
    }
    let call = call_by_carrier_id(&w, CCID).await;
    assert_eq!(call["duration_secs"], 30);
    assert_eq!(
        call["cost"]["carrier_billed_secs"], 60,
        "30 s is one started minute"
    );
    assert!(close(&call["cost"]["carrier_usd"], 0.005), "{call}");
    assert!(close(&call["cost_estimate_usd"], 0.005 + 0.05), "{call}");
}

/// A flood of forged webhooks shuts its sender out (refused unread, with Retry-After) and the
/// signed ones of another sender go on being answered; the address counted is the one a local
/// tunnel saw (its last X-Forwarded-For hop, not one the sender wrote before it).
#[tokio::test]
async fn a_forger_is_shut_out_while_the_carriers_signed_webhooks_are_answered() {
    let w = World::start().await;
    w.number("twilio", 100).await;
    let (forger, carrier) = ("198.51.100.7", "203.0.113.9");
    let mut statuses = Vec::new();
    for i in 0..200 {
        statuses.push(
            w.relayed_voice(forger, &format!("CAforged{i:04}"), false)
                .await,
        );
        if i % 20 == 0 {
            let sid = format!("CAsigned{i:04}");
            assert_eq!(
                w.relayed_voice(carrier, &sid, true).await.0,
                StatusCode::OK,
                "the carrier's webhook {i} while the forger floods"
            );
        }
    }
    let forbidden = statuses
        .iter()
        .take_while(|(s, _)| *s == StatusCode::FORBIDDEN)
        .count();
    // The allowance: 20 refusals a second, 100 at once.
    assert!(
        (100..=160).contains(&forbidden),
        "{forbidden} refused before the shut-out"
    );
    assert!(
        statuses[forbidden..]
            .iter()
            .all(|(s, r)| *s == StatusCode::TOO_MANY_REQUESTS && r.as_deref() == Some("5")),
        "{:?}",
        &statuses[forbidden..]
    );
    // Shut out means unread: even a signed webhook from that address waits.
    assert_eq!(
        w.relayed_voice(forger, "CAsignedbyforger", true).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let calls = w.calls().await;
    assert_eq!(calls.len(), 10, "only the signed calls are recorded");
    assert!(
        calls.iter().all(|c| c["carrier_call_id"]
            .as_str()
            .unwrap()
            .starts_with("CAsigned0")),
        "{calls:?}"
    );
}

/// A sender that never finishes its headers is cut off, and the listener keeps at most its cap
/// of sockets open: one more is closed unread, and a freed place is taken again.
#[tokio::test]
async fn slow_senders_are_cut_off_and_open_sockets_are_capped() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let w = World::start_with(|c| c.max_public_sockets = 4).await;
    let addr = w.engine.running.public_addr();
    let closed = async |tcp: &mut tokio::net::TcpStream, within: Duration| {
        let mut buf = [0u8; 256];
        matches!(
            tokio::time::timeout(within, tcp.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    };
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"POST /webhooks/twilio/voice HTTP/1.1\r\nHost: sb.example.test\r\n")
            .await
            .unwrap();
        held.push(tcp);
    }
    let mut fifth = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        closed(&mut fifth, Duration::from_secs(2)).await,
        "a fifth socket is closed at once"
    );
    // The slow ones: cut off once the header time (10 s) is up, not before the first second.
    assert!(!closed(&mut held[0], Duration::from_secs(1)).await);
    for tcp in &mut held {
        assert!(
            closed(tcp, Duration::from_secs(15)).await,
            "a sender slow with its headers is cut off"
        );
    }
    drop(held);
    // Their places are free again.
    let res = reqwest::get(format!("{}/health", w.engine.public_url()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
