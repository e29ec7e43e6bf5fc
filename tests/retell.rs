//! Retell as an agent's voice backend, end to end: the engine's Retell LLM and agent kept in
//! step with its agent against a loopback Retell (tests/common/retell_api.rs, built from
//! protocols/retell.md), faults at each step leaving nothing orphaned, an inbound Twilio call
//! dialed over to Retell by SIP, and Retell's signed webhooks filling the call record.

mod common;

use std::time::Duration;

use common::carriers::{
    TWILIO_SID, TWILIO_TOKEN, TelnyxApi, TelnyxKeys, telnyx_event, twilio_signature,
};
use common::retell_api::{Fault, RETELL_KEY, RetellApi, sign};
use common::{TestEngine, assert_error, config};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PUBLIC: &str = "https://sb.example.test";
const OUR_NUMBER: &str = "+14155552671";
const CALLER: &str = "+14158675309";
const SID: &str = "CA0123456789abcdef0123456789abcdef";

struct World {
    engine: TestEngine,
    retell: RetellApi,
    telnyx: TelnyxApi,
    keys: TelnyxKeys,
    _tmp: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        Self::start_with_key(Some(RETELL_KEY)).await
    }

    async fn start_with_key(key: Option<&str>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let retell = RetellApi::start().await;
        let telnyx = TelnyxApi::start().await;
        let keys = TelnyxKeys::new();
        let mut cfg = config(tmp.path());
        cfg.retell_api_url = retell.base.clone();
        cfg.telnyx_api_url = telnyx.base.clone();
        cfg.credential_env = vec![
            ("TWILIO_ACCOUNT_SID".into(), TWILIO_SID.into()),
            ("TWILIO_AUTH_TOKEN".into(), TWILIO_TOKEN.into()),
            ("TELNYX_API_KEY".into(), "KEY-telnyx-test".into()),
            ("TELNYX_PUBLIC_KEY".into(), keys.public_key_b64()),
        ];
        if let Some(key) = key {
            cfg.credential_env
                .push(("RETELL_API_KEY".into(), key.into()));
        }
        let engine = TestEngine::start_with(cfg).await;
        let (s, _) = engine
            .api
            .put("/api/settings", json!({"public_base_url": PUBLIC}))
            .await;
        assert_eq!(s, StatusCode::OK);
        Self {
            engine,
            retell,
            telnyx,
            keys,
            _tmp: tmp,
        }
    }

    async fn retell_agent(&self, name: &str) -> Value {
        let (s, a) = self
            .engine
            .api
            .post(
                "/api/agents",
                json!({
                    "name": name, "backend": "retell", "retell_voice_id": "11labs-Adrian",
                    "system_prompt": "You answer for Acme Plumbing.", "greeting": "Acme, hello!",
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        a
    }

    /// A number on `carrier` whose inbound agent is `agent`.
    async fn number(&self, carrier: &str, agent: &str) -> String {
        let (s, n) = self
            .engine
            .api
            .post(
                "/api/phone-numbers",
                json!({"number": OUR_NUMBER, "carrier": carrier, "inbound_agent_id": agent}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        n["id"].as_str().unwrap().to_owned()
    }

    /// Twilio's voice webhook for a call to our number, signed as Twilio signs it.
    async fn twilio_voice(&self, call_sid: &str) -> (StatusCode, String) {
        let params = [
            ("AccountSid", TWILIO_SID),
            ("CallSid", call_sid),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
            ("From", CALLER),
            ("To", OUR_NUMBER),
        ];
        let path = "/webhooks/twilio/voice";
        let signature = twilio_signature(TWILIO_TOKEN, &format!("{PUBLIC}{path}"), &params);
        let res = reqwest::Client::new()
            .post(format!("{}{path}", self.engine.public_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params)
                    .finish(),
            )
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    }

    fn webhook_url(&self) -> String {
        format!("{}/webhooks/retell", self.engine.public_url())
    }

    async fn call(&self, id: &str) -> Value {
        let (s, c) = self.engine.api.get(&format!("/api/calls/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        c
    }

    async fn only_call(&self) -> Value {
        let (_, page) = self.engine.api.get("/api/calls").await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{page}");
        self.call(items[0]["id"].as_str().unwrap()).await
    }

    /// A Retell agent answering our Twilio number, and a call to it handed over; returns
    /// (our call id, Retell's call id).
    async fn handed_over_call(&self) -> (String, String) {
        let agent = self.retell_agent("Front desk").await;
        self.number("twilio", agent["id"].as_str().unwrap()).await;
        let (s, twiml) = self.twilio_voice(SID).await;
        assert_eq!(s, StatusCode::OK, "{twiml}");
        let call = self.only_call().await;
        let registered = self.retell.calls();
        assert_eq!(registered.len(), 1, "one registration per call");
        (
            call["id"].as_str().unwrap().to_owned(),
            registered[0]["call_id"].as_str().unwrap().to_owned(),
        )
    }
}

fn ended_body(retell_call_id: &str, our_call_id: &str, start: i64) -> String {
    json!({
        "event": "call_ended",
        "call": {
            "call_id": retell_call_id, "call_type": "phone_call", "agent_id": "agent_x",
            "call_status": "ended", "direction": "inbound",
            "from_number": CALLER, "to_number": OUR_NUMBER,
            "metadata": {"switchboard_call_id": our_call_id},
            "start_timestamp": start, "end_timestamp": start + 42_500, "duration_ms": 42_500,
            "disconnection_reason": "user_hangup",
            "transcript": "Agent: Acme, hello!\nUser: My sink is leaking.\n",
            "transcript_object": [
                {"role": "agent", "content": "Acme, hello!",
                 "words": [{"word": "Acme,", "start": 0.4, "end": 0.8}]},
                {"role": "user", "content": "My sink is leaking.",
                 "words": [{"word": "My", "start": 2.1, "end": 2.3}]}
            ]
        }
    })
    .to_string()
}

#[tokio::test]
async fn a_retell_agent_is_made_kept_in_step_and_deleted_with_its_agent() {
    let w = World::start().await;
    let agent = w.retell_agent("Front desk").await;
    assert_eq!(agent["backend"], "retell");
    let (llms, agents) = (w.retell.llms(), w.retell.agents());
    assert_eq!(
        (llms.len(), agents.len()),
        (1, 1),
        "one LLM and one agent at Retell"
    );
    let (llm, ragent) = (&llms[0], &agents[0]);
    assert_eq!(
        agent["retell_llm_id"], llm["llm_id"],
        "the ids are kept on the agent"
    );
    assert_eq!(agent["retell_agent_id"], ragent["agent_id"]);
    assert_eq!(llm["general_prompt"], "You answer for Acme Plumbing.");
    assert_eq!(llm["begin_message"], "Acme, hello!");
    assert_eq!(llm["start_speaker"], "agent");
    assert_eq!(
        ragent["response_engine"],
        json!({"type": "retell-llm", "llm_id": llm["llm_id"]})
    );
    assert_eq!(ragent["voice_id"], "11labs-Adrian");
    assert_eq!(ragent["webhook_url"], format!("{PUBLIC}/webhooks/retell"));

    let id = agent["id"].as_str().unwrap();
    let (s, edited) = w
        .engine
        .api
        .put(
            &format!("/api/agents/{id}"),
            json!({"system_prompt": "You answer for Acme Heating.", "greeting": "",
                   "retell_voice_id": "retell-Cimo"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    let (llm, ragent) = (&w.retell.llms()[0], &w.retell.agents()[0]);
    assert_eq!(llm["general_prompt"], "You answer for Acme Heating.");
    assert_eq!(
        llm["begin_message"], "",
        "no greeting: Retell waits for the caller"
    );
    assert_eq!(llm["start_speaker"], "user");
    assert_eq!(ragent["voice_id"], "retell-Cimo");
    assert_eq!(
        edited["retell_agent_id"], agent["retell_agent_id"],
        "the same objects, updated"
    );

    // An edit Retell does not hear of (notes) asks nothing of it.
    let patches = w.retell.requests_to("update-retell-llm");
    w.engine
        .api
        .put(&format!("/api/agents/{id}"), json!({"notes": "internal"}))
        .await;
    assert_eq!(w.retell.requests_to("update-retell-llm"), patches);

    let (s, _) = w.engine.api.delete(&format!("/api/agents/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(
        w.retell.llms().is_empty() && w.retell.agents().is_empty(),
        "both deleted"
    );
    assert!(w.retell.refused().is_empty(), "{:?}", w.retell.refused());
}

#[tokio::test]
async fn moving_an_agent_onto_retell_and_off_again_makes_and_deletes_its_objects() {
    let w = World::start().await;
    let id = w.engine.api.agent("Sales").await;
    assert!(
        w.retell.llms().is_empty(),
        "an OpenAI agent asks nothing of Retell"
    );
    let (s, a) = w
        .engine
        .api
        .put(&format!("/api/agents/{id}"), json!({"backend": "retell"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["retell_voice_id"], "retell-Cimo", "the default voice");
    assert_eq!((w.retell.llms().len(), w.retell.agents().len()), (1, 1));
    let (s, a) = w
        .engine
        .api
        .put(
            &format!("/api/agents/{id}"),
            json!({"backend": "openai_realtime"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(
        (a["retell_llm_id"].clone(), a["retell_agent_id"].clone()),
        (Value::Null, Value::Null)
    );
    assert!(w.retell.llms().is_empty() && w.retell.agents().is_empty());

    // Back onto Retell, then off it under a name that is taken: Retell's objects are gone, and
    // the agent says it is not on Retell (its next save makes them again) instead of naming
    // deleted ones.
    w.engine.api.agent("Taken").await;
    w.engine
        .api
        .put(&format!("/api/agents/{id}"), json!({"backend": "retell"}))
        .await;
    let got = w
        .engine
        .api
        .put(
            &format!("/api/agents/{id}"),
            json!({"backend": "openai_realtime", "name": "Taken"}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "duplicate_name");
    let (_, a) = w.engine.api.get(&format!("/api/agents/{id}")).await;
    assert_eq!(
        (a["name"].as_str(), a["backend"].as_str()),
        (Some("Sales"), Some("retell"))
    );
    assert_eq!(a["retell_agent_id"], Value::Null, "{a}");
    assert!(w.retell.llms().is_empty() && w.retell.agents().is_empty());
    assert!(w.retell.refused().is_empty(), "{:?}", w.retell.refused());
}

#[tokio::test]
async fn a_fault_at_any_step_of_making_a_retell_agent_leaves_nothing_behind() {
    let w = World::start().await;
    let api = &w.engine.api;
    let body = json!({"name": "Front desk", "backend": "retell"});
    for (endpoint, fault, words) in [
        ("create-agent", Fault::Status(500), "did not confirm"),
        ("create-agent", Fault::Status(401), "API key"),
        ("create-agent", Fault::Status(402), "billing"),
        ("create-retell-llm", Fault::Status(429), "try again"),
        (
            "create-agent",
            Fault::Stall(Duration::from_secs(12)),
            "did not confirm",
        ),
        // Made at Retell but never confirmed: found by its LLM and deleted with it.
        (
            "create-agent",
            Fault::ActThenStall(Duration::from_secs(12)),
            "did not confirm",
        ),
    ] {
        w.retell.fault(endpoint, fault.clone());
        let got = api.post("/api/agents", body.clone()).await;
        assert_error(&got, StatusCode::BAD_GATEWAY, "carrier_error");
        let message = got.1["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{endpoint} {fault:?}: {message}");
        assert!(
            !message.contains(RETELL_KEY),
            "the key never reaches an error"
        );
        assert!(
            w.retell.llms().is_empty(),
            "{endpoint} {fault:?}: the LLM was deleted"
        );
        assert!(w.retell.agents().is_empty());
        assert_eq!(
            api.get("/api/agents").await.1,
            json!([]),
            "no agent kept here either"
        );
    }
    // A name that is taken is found only when storing: Retell's objects go again.
    w.retell_agent("Taken").await;
    let got = api
        .post("/api/agents", json!({"name": "Taken", "backend": "retell"}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "duplicate_name");
    assert_eq!((w.retell.llms().len(), w.retell.agents().len()), (1, 1));
}

#[tokio::test]
async fn a_failed_edit_or_delete_at_retell_changes_nothing() {
    let w = World::start().await;
    let agent = w.retell_agent("Front desk").await;
    let id = agent["id"].as_str().unwrap();
    w.retell.fault("update-agent", Fault::Status(400));
    let got = w
        .engine
        .api
        .put(
            &format!("/api/agents/{id}"),
            json!({"system_prompt": "New prompt"}),
        )
        .await;
    assert_error(&got, StatusCode::BAD_GATEWAY, "carrier_error");
    assert_eq!(
        w.retell.llms()[0]["general_prompt"],
        "You answer for Acme Plumbing.",
        "the LLM is put back when the agent's update fails"
    );
    let (_, kept) = w.engine.api.get(&format!("/api/agents/{id}")).await;
    assert_eq!(kept["system_prompt"], "You answer for Acme Plumbing.");

    w.retell.fault("delete-agent", Fault::Status(401));
    let got = w.engine.api.delete(&format!("/api/agents/{id}")).await;
    assert_error(&got, StatusCode::BAD_GATEWAY, "carrier_error");
    assert_eq!(
        w.engine.api.get(&format!("/api/agents/{id}")).await.0,
        StatusCode::OK
    );
    assert_eq!((w.retell.llms().len(), w.retell.agents().len()), (1, 1));
}

#[tokio::test]
async fn without_a_retell_key_or_with_a_bad_backend_the_api_says_what_to_do() {
    let w = World::start_with_key(None).await;
    let got = w
        .engine
        .api
        .post("/api/agents", json!({"name": "A", "backend": "retell"}))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let message = got.1["error"]["message"].as_str().unwrap();
    // Without a keyring (as here) the key can only come from the environment, and it says so;
    // with one, it says to save the key in Settings.
    assert!(
        message.contains("Retell API key") && message.contains("RETELL_API_KEY"),
        "{message}"
    );
    let got = w
        .engine
        .api
        .post("/api/agents", json!({"name": "A", "backend": "vapi"}))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(got.1["error"]["field"], "backend");
    assert_eq!(w.retell.requests_to("create-retell-llm"), 0);
    assert_eq!(w.engine.api.get("/api/agents").await.1, json!([]));
}

#[tokio::test]
async fn an_inbound_twilio_call_for_a_retell_agent_is_dialed_over_to_retell() {
    let w = World::start().await;
    let agent = w.retell_agent("Front desk").await;
    let number = w.number("twilio", agent["id"].as_str().unwrap()).await;
    let (s, twiml) = w.twilio_voice(SID).await;
    assert_eq!(s, StatusCode::OK);
    let call = w.only_call().await;
    let registered = w.retell.calls();
    assert_eq!(registered.len(), 1);
    let r = &registered[0];
    assert_eq!(r["agent_id"], agent["retell_agent_id"]);
    assert_eq!(
        (
            r["direction"].as_str(),
            r["from_number"].as_str(),
            r["to_number"].as_str()
        ),
        (Some("inbound"), Some(CALLER), Some(OUR_NUMBER))
    );
    assert_eq!(r["metadata"]["switchboard_call_id"], call["id"]);
    assert_eq!(
        call["retell_call_id"], r["call_id"],
        "the record keeps Retell's call id"
    );
    let expected = format!(
        "<Response><Dial answerOnBridge=\"true\" timeout=\"30\"><Sip>sip:{}@sip.retellai.com</Sip></Dial></Response>",
        r["call_id"].as_str().unwrap()
    );
    assert!(twiml.ends_with(&expected), "{twiml}");
    assert_eq!(
        (
            call["carrier"].as_str(),
            call["carrier_call_id"].as_str(),
            call["number_id"].as_str()
        ),
        (Some("twilio"), Some(SID), Some(number.as_str()))
    );

    // Twilio retrying the webhook gets the same answer, without a second registration.
    let (_, again) = w.twilio_voice(SID).await;
    assert_eq!(again, twiml);
    assert_eq!(w.retell.calls().len(), 1);
    assert!(w.retell.refused().is_empty(), "{:?}", w.retell.refused());
}

#[tokio::test]
async fn a_call_retell_cannot_take_hears_an_apology_and_the_record_says_why() {
    let w = World::start().await;
    let agent = w.retell_agent("Front desk").await;
    w.number("twilio", agent["id"].as_str().unwrap()).await;
    w.retell.fault("register-phone-call", Fault::Status(500));
    let (s, twiml) = w.twilio_voice(SID).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        twiml.contains("<Say>") && twiml.contains("<Hangup/>"),
        "{twiml}"
    );
    assert!(!twiml.contains("<Sip>"), "{twiml}");
    let call = w.only_call().await;
    assert_eq!(call["status"], "failed");
    assert!(
        call["hangup_cause"].as_str().unwrap().contains("Retell"),
        "{call}"
    );
    assert!(w.retell.calls().is_empty());
}

#[tokio::test]
async fn a_signed_call_ended_fills_the_call_record_and_its_transcript() {
    let w = World::start().await;
    let (ours, theirs) = w.handed_over_call().await;
    let start = jiff::Timestamp::now().as_millisecond();
    let started = json!({"event": "call_started", "call": {
        "call_id": theirs, "call_status": "ongoing", "start_timestamp": start,
        "metadata": {"switchboard_call_id": ours}}})
    .to_string();
    let (s, b) = RetellApi::send_webhook(&w.webhook_url(), &started, RETELL_KEY, None, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(w.call(&ours).await["status"], "in_progress");

    let ended = ended_body(&theirs, &ours, start);
    for _ in 0..2 {
        // Retell may deliver twice: the record is the same after both.
        let (s, b) =
            RetellApi::send_webhook(&w.webhook_url(), &ended, RETELL_KEY, None, None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    }
    let call = w.call(&ours).await;
    assert_eq!(call["status"], "completed");
    let ended_at: jiff::Timestamp = call["ended_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        ended_at.as_millisecond(),
        start + 42_500,
        "Retell's end time"
    );
    assert_eq!(call["duration_secs"], 42);
    assert_eq!(call["hangup_cause"], "retell: user_hangup");
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
            ("agent".into(), "Acme, hello!".into()),
            ("caller".into(), "My sink is leaking.".into())
        ]
    );
    // call_analyzed carries the transcript again: it is not written twice.
    let analyzed = ended.replace("\"call_ended\"", "\"call_analyzed\"");
    let (s, _) = RetellApi::send_webhook(&w.webhook_url(), &analyzed, RETELL_KEY, None, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        w.call(&ours).await["transcript"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn unsigned_badly_signed_or_unknown_webhooks_change_nothing() {
    let w = World::start().await;
    let (ours, theirs) = w.handed_over_call().await;
    let before = w.call(&ours).await;
    let now = jiff::Timestamp::now().as_millisecond();
    let body = ended_body(&theirs, &ours, now);
    let url = w.webhook_url();
    let stale = sign(RETELL_KEY, &body, now - 6 * 60 * 1000);
    let other_key = sign("key_someone_else", &body, now);
    let other_body = sign(RETELL_KEY, "{}", now);
    let upper = sign(RETELL_KEY, &body, now)
        .to_uppercase()
        .replace("V=", "v=")
        .replace(",D=", ",d=");
    for (what, signature) in [
        ("no signature", ""),
        ("stale", stale.as_str()),
        ("another key", other_key.as_str()),
        ("another body", other_body.as_str()),
        ("uppercase hex", upper.as_str()),
        ("not the format", "sha256=abc"),
    ] {
        let (s, b) = RetellApi::send_webhook(&url, &body, RETELL_KEY, None, Some(signature)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {b}");
        assert!(!b.contains(RETELL_KEY));
    }
    let (s, _) = RetellApi::send_webhook(&url, "{not json", RETELL_KEY, None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "signed but unreadable");
    let unknown = ended_body("call_not_ours", &ours, now);
    let (s, b) = RetellApi::send_webhook(&url, &unknown, RETELL_KEY, None, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert!(b.contains("call_not_ours"), "{b}");
    assert_eq!(w.call(&ours).await, before, "nothing changed");
    let (_, page) = w.engine.api.get("/api/calls").await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        1,
        "nothing created"
    );
}

#[tokio::test]
async fn a_telnyx_call_for_a_retell_agent_is_transferred_to_retells_sip_uri() {
    let w = World::start().await;
    let agent = w.retell_agent("Front desk").await;
    w.number("telnyx", agent["id"].as_str().unwrap()).await;
    let control_id = "v3:telnyx-call-1";
    let body = telnyx_event(
        "call.initiated",
        "ev-1",
        json!({
            "call_control_id": control_id, "call_leg_id": "leg-1", "call_session_id": "s-1",
            "connection_id": "1494404757140276705", "direction": "incoming",
            "from": CALLER, "to": OUR_NUMBER, "state": "parked",
            "start_time": "2026-11-22T10:00:00.000000Z"
        }),
    );
    let ts = jiff::Timestamp::now().as_second();
    let s = reqwest::Client::new()
        .post(format!("{}/webhooks/telnyx", w.engine.public_url()))
        .header("content-type", "application/json")
        .header("telnyx-timestamp", ts.to_string())
        .header("telnyx-signature-ed25519", w.keys.sign(ts, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert!(s.is_success(), "{s}");
    let commands = w.telnyx.wait_for(1).await;
    let registered = w.retell.calls();
    assert_eq!(registered.len(), 1);
    assert_eq!(commands[0].action, "transfer");
    assert_eq!(commands[0].call_control_id, control_id);
    assert_eq!(
        commands[0].body["to"],
        format!(
            "sip:{}@sip.retellai.com",
            registered[0]["call_id"].as_str().unwrap()
        )
    );
}

#[tokio::test]
async fn calls_switchboard_would_have_to_bridge_are_refused_for_a_retell_agent() {
    let w = World::start().await;
    let agent = w.retell_agent("Front desk").await;
    let id = agent["id"].as_str().unwrap();
    let number = w.number("twilio", id).await;
    let api = &w.engine.api;
    for (path, body, field) in [
        (
            "/api/calls/outbound",
            json!({"from_number_id": number, "to": CALLER, "agent_id": id}),
            "agent_id",
        ),
        ("/api/test-calls", json!({"agent_id": id}), "agent_id"),
        (
            "/api/campaigns",
            json!({"name": "Spring", "agents": [{"agent_id": id}]}),
            "agents",
        ),
    ] {
        let got = api.post(path, body).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(got.1["error"]["field"], field, "{path}: {}", got.1);
        assert!(
            got.1["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Retell"),
            "{path}: {}",
            got.1
        );
    }
    let (_, page) = api.get("/api/calls").await;
    assert_eq!(page["items"], json!([]), "no call was recorded");
    assert_eq!(api.get("/api/campaigns").await.1, json!([]));
}

/// Polls `check` until it holds (Retell agents are moved in the background).
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_new_public_url_moves_retell_agents_webhooks_and_a_refusal_shows_until_the_next_save() {
    let w = World::start().await;
    let first = w.retell_agent("Front desk").await;
    w.retell_agent("After hours").await;
    assert_eq!(
        first["retell_webhook_url"],
        format!("{PUBLIC}/webhooks/retell")
    );
    let moved = "https://moved.example.test";
    // Retell refuses the first agent's move (whichever comes first); the other moves.
    w.retell.fault("update-agent", Fault::Status(401));
    let (s, _) = w
        .engine
        .api
        .put("/api/settings", json!({"public_base_url": moved}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let new_url = format!("{moved}/webhooks/retell");
    eventually("one agent moved", async || {
        w.retell.requests_to("update-agent") == 2
            && w.retell
                .agents()
                .iter()
                .filter(|a| a["webhook_url"] == new_url.as_str())
                .count()
                == 1
    })
    .await;
    let (_, agents) = w.engine.api.get("/api/agents").await;
    let urls: Vec<&str> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["retell_webhook_url"].as_str().unwrap())
        .collect();
    assert!(
        urls.contains(&new_url.as_str())
            && urls.contains(&format!("{PUBLIC}/webhooks/retell").as_str()),
        "the refused one keeps its old URL on record: {urls:?}"
    );
    // Saving the stale agent moves it.
    let stale = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["retell_webhook_url"] != new_url.as_str())
        .unwrap();
    let (s, saved) = w
        .engine
        .api
        .put(
            &format!("/api/agents/{}", stale["id"].as_str().unwrap()),
            json!({"notes": "moved"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{saved}");
    assert_eq!(saved["retell_webhook_url"], new_url.as_str());
    assert!(
        w.retell
            .agents()
            .iter()
            .all(|a| a["webhook_url"] == new_url.as_str())
    );
}
