//! Post-call analysis end to end: an inbound call arrives by signed Twilio webhook, its media
//! stream (a protocol-exact Twilio client) is bridged to the fake OpenAI Realtime, the caller
//! hangs up, and the engine asks a fake Chat Completions server (tests/common/openai_api.rs)
//! for the analysis. That fake checks the key, the model and that the JSON Schema is strict and
//! exactly the agent's fields, and fails on demand (500, 429 with retry-after, not JSON, an
//! answer breaking the schema, no answer). All over real loopback sockets.

mod common;

use std::time::{Duration, Instant};

use common::carriers::{TWILIO_SID, TWILIO_TOKEN, TwilioApi, twilio_signature};
use common::openai_api::{FakeOpenAi, OPENAI_KEY, Reply};
use common::realtime::{FakeRealtime, Script};
use common::twilio_media::TwilioMedia;
use common::{TestEngine, config};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PUBLIC: &str = "https://sb.example.test";
const OUR_NUMBER: &str = "+14155552671";
const CALLER: &str = "+14158675309";
const WAIT: Duration = Duration::from_secs(10);
const GREETING: &str = "Acme Plumbing, how can I help?";
const CALLER_SAYS: &str = "My kitchen tap is leaking, can someone come on Tuesday?";

struct World {
    engine: TestEngine,
    realtime: FakeRealtime,
    openai: FakeOpenAi,
    _twilio: TwilioApi,
    http: reqwest::Client,
    agent: String,
    dir: std::path::PathBuf,
    retry_base_ms: u64,
    keyring: Option<String>,
    _tmp: tempfile::TempDir,
}

fn engine_config(
    w_dir: &std::path::Path,
    realtime: &FakeRealtime,
    openai: &FakeOpenAi,
    twilio: &TwilioApi,
    retry_base_ms: u64,
    keyring: Option<&str>,
) -> switchboard::Config {
    let mut cfg = config(w_dir);
    if let Some(service) = keyring {
        // Webhook endpoints keep their signing secrets there.
        cfg.no_keyring = false;
        cfg.keyring_service = service.to_owned();
    }
    cfg.twilio_api_url = twilio.base.clone();
    cfg.openai_realtime_url = realtime.url();
    cfg.openai_api_url = openai.base.clone();
    cfg.analysis_retry_base_ms = retry_base_ms;
    cfg.credential_env = vec![
        ("TWILIO_ACCOUNT_SID".into(), TWILIO_SID.into()),
        ("TWILIO_AUTH_TOKEN".into(), TWILIO_TOKEN.into()),
        ("OPENAI_API_KEY".into(), OPENAI_KEY.into()),
    ];
    cfg
}

/// The agent's analysis settings every test starts from.
fn analysis_settings() -> Value {
    json!({
        "enabled": true,
        "goal": "The caller books a plumber's visit.",
        "model": "gpt-4.1-nano",
        "fields": [
            {"name": "problem", "type": "text", "description": "What is broken"},
            {"name": "budget_usd", "type": "number"},
            {"name": "urgent", "type": "yes_no", "description": "Water is flooding"},
            {"name": "visit_day", "type": "one_of", "options": ["monday", "tuesday", "wednesday"]},
        ],
    })
}

/// A valid answer for [`analysis_settings`].
fn valid_answer() -> Value {
    json!({
        "summary": "The caller reported a leaking kitchen tap and booked a visit for Tuesday (zanzibarite).",
        "goal_met": true,
        "sentiment": "positive",
        "fields": {"problem": "leaking kitchen tap", "budget_usd": null, "urgent": false, "visit_day": "tuesday"},
    })
}

impl World {
    async fn start(otherwise: Reply, retry_base_ms: u64) -> Self {
        Self::start_with(otherwise, retry_base_ms, None).await
    }

    /// With a private keyring (webhook endpoints' secrets live only there); needs the Secret
    /// Service that scripts/test.sh starts.
    async fn start_with_keyring(otherwise: Reply, retry_base_ms: u64) -> Self {
        let service = format!("switchboard-analysis-test-{}", common::rand_suffix());
        Self::start_with(otherwise, retry_base_ms, Some(service)).await
    }

    async fn start_with(otherwise: Reply, retry_base_ms: u64, keyring: Option<String>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        // The one OpenAI key serves both; this fake judges the analysis requests' key.
        let realtime = FakeRealtime::start(
            Script::new()
                .any_api_key()
                .respond_with_audio(800, GREETING),
        )
        .await;
        let openai = FakeOpenAi::start(otherwise).await;
        let twilio = TwilioApi::start().await;
        let cfg = engine_config(
            tmp.path(),
            &realtime,
            &openai,
            &twilio,
            retry_base_ms,
            keyring.as_deref(),
        );
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
                    "system_prompt": "You answer for Acme Plumbing.",
                    "greeting": GREETING,
                    "analysis": analysis_settings(),
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{agent}");
        let agent = agent["id"].as_str().unwrap().to_owned();
        let (s, n) = api
            .post(
                "/api/phone-numbers",
                json!({"number": OUR_NUMBER, "carrier": "twilio", "inbound_agent_id": agent}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        Self {
            engine,
            realtime,
            openai,
            _twilio: twilio,
            http: reqwest::Client::new(),
            agent,
            dir: tmp.path().to_owned(),
            retry_base_ms,
            keyring,
            _tmp: tmp,
        }
    }

    /// Stops the engine and starts it again on the same data directory.
    async fn restart(mut self) -> Self {
        self.engine.stop().await;
        let cfg = engine_config(
            &self.dir,
            &self.realtime,
            &self.openai,
            &self._twilio,
            self.retry_base_ms,
            self.keyring.as_deref(),
        );
        self.engine = TestEngine::start_with(cfg).await;
        self
    }

    /// A Twilio call arrives and its stream connects; the agent greets, the caller speaks
    /// (unless `silent`), the caller hangs up. Returns the call id once it has ended.
    async fn call(&self, call_sid: &str, caller_speaks: bool) -> String {
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
        let (call_id, agent_id) = (param("call_id"), param("agent_id"));
        let media_url = format!(
            "{}/media/twilio",
            self.engine.public_url().replacen("http", "ws", 1)
        );
        let media = TwilioMedia::connect(
            &media_url,
            call_sid,
            &[("call_id", &call_id), ("agent_id", &agent_id)],
        )
        .await
        .unwrap();
        media.set_instant_playback(true);
        if caller_speaks {
            self.call_until(&call_id, "greeted", |c| {
                !c["transcript"].as_array().unwrap().is_empty()
            })
            .await;
            self.realtime.caller_transcript(CALLER_SAYS);
            self.call_until(&call_id, "heard the caller", |c| {
                c["transcript"].as_array().unwrap().len() >= 2
            })
            .await;
        } else {
            self.call_until(&call_id, "answered", |c| c["status"] == "in_progress")
                .await;
        }
        media.stop().await.unwrap();
        self.call_until(&call_id, "completed", |c| c["status"] == "completed")
            .await;
        call_id
    }

    async fn detail(&self, id: &str) -> Value {
        let (s, call) = self.engine.api.get(&format!("/api/calls/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{call}");
        call
    }

    async fn call_until(&self, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let call = self.detail(id).await;
            if check(&call) {
                return call;
            }
            assert!(Instant::now() < deadline, "call never {what}: {call:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The call's analysis once it has stopped moving (done, failed or skipped).
    async fn settled(&self, id: &str) -> Value {
        self.call_until(id, "analysed", |c| {
            ["done", "failed", "skipped"].contains(&c["analysis"]["status"].as_str().unwrap_or(""))
        })
        .await["analysis"]
            .clone()
    }

    async fn list(&self, query: &str) -> Value {
        let (s, page) = self.engine.api.get(&format!("/api/calls?{query}")).await;
        assert_eq!(s, StatusCode::OK, "{query}: {page}");
        page
    }
}

#[tokio::test]
async fn an_answered_call_is_analysed_against_the_agents_own_schema() {
    let w = World::start(Reply::Content(valid_answer()), 50).await;
    let events_url = format!(
        "ws://{}/api/events?access_token={}",
        w.engine.running.control_addr(),
        w.engine.running.token()
    );
    let (mut events, _) = tokio_tungstenite::connect_async(events_url).await.unwrap();
    let call_id = w.call("CA00000000000000000000000000000a01", true).await;

    let analysis = w.settled(&call_id).await;
    assert_eq!(analysis["status"], "done", "{analysis}");
    assert_eq!(analysis["summary"], valid_answer()["summary"]);
    assert_eq!(analysis["goal_met"], true);
    assert_eq!(analysis["sentiment"], "positive");
    assert_eq!(analysis["fields"], valid_answer()["fields"]);
    assert_eq!(analysis["attempts"], 1);
    assert_eq!(analysis["model"], "gpt-4.1-nano");
    assert!(analysis["analyzed_at"].is_string() && analysis["error"].is_null());

    // What the model was sent: the key, the agent's model, the transcript, and exactly the
    // schema the agent's fields make, strict at every level.
    assert_eq!(w.openai.violations(), Vec::<String>::new());
    let seen = w.openai.seen();
    assert_eq!(seen.len(), 1, "one request for one call");
    let body = &seen[0].body;
    assert_eq!(seen[0].authorization, format!("Bearer {OPENAI_KEY}"));
    assert_eq!(body["model"], "gpt-4.1-nano");
    assert_eq!(body["store"], false, "call data is not kept by OpenAI");
    let said = body["messages"][1]["content"].as_str().unwrap();
    assert!(said.contains(&format!("agent: {GREETING}")), "{said}");
    assert!(said.contains(&format!("caller: {CALLER_SAYS}")), "{said}");
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("The caller books a plumber's visit."),
        "the goal is in the instructions"
    );
    let nullable = |t: &str| json!([t, "null"]);
    assert_eq!(
        body["response_format"]["json_schema"]["schema"]["properties"]["fields"],
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "problem": {"type": nullable("string"), "description": "What is broken"},
                "budget_usd": {"type": nullable("number")},
                "urgent": {"type": nullable("boolean"), "description": "Water is flooding"},
                "visit_day": {"type": nullable("string"), "enum": ["monday", "tuesday", "wednesday", null]},
            },
            "required": ["problem", "budget_usd", "urgent", "visit_day"],
        })
    );
    let schema = &body["response_format"]["json_schema"]["schema"];
    assert_eq!(
        schema["required"],
        json!(["summary", "goal_met", "sentiment", "fields"])
    );
    assert_eq!(
        schema["properties"]["sentiment"]["enum"],
        json!(["positive", "neutral", "negative"])
    );

    // The live views are told.
    {
        use futures_util::StreamExt as _;
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = tokio::time::timeout(left, events.next())
                .await
                .expect("a call_analysis event")
                .unwrap()
                .unwrap();
            if let Ok(v) = serde_json::from_str::<Value>(msg.to_text().unwrap_or(""))
                && v["type"] == "call_analysis"
                && v["analysis"]["status"] == "done"
            {
                assert_eq!(v["analysis"]["call_id"], call_id.as_str());
                break;
            }
        }
    }

    // The call log filters on it.
    for (query, found) in [
        ("goal_met=true", 1),
        ("goal_met=false", 0),
        ("sentiment=positive", 1),
        ("sentiment=negative", 0),
        ("analysis_status=done", 1),
        ("analysis_status=failed", 0),
        ("goal_met=true&sentiment=positive&direction=inbound", 1),
    ] {
        assert_eq!(w.list(query).await["total"], found, "{query}");
    }
    for bad in ["goal_met=maybe", "sentiment=happy", "analysis_status=x"] {
        let (s, body) = w.engine.api.get(&format!("/api/calls?{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // A word only the summary holds finds the call, marked.
    let page = w.list("q=zanzibarite").await;
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["items"][0]["id"], call_id.as_str());
    assert_eq!(page["matches"], json!([]), "no transcript line holds it");
    let parts = &page["summary_matches"][0]["parts"];
    assert_eq!(page["summary_matches"][0]["call_id"], call_id.as_str());
    let hits: Vec<&str> = parts
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["hit"] == true)
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(hits, ["zanzibarite"]);
    // And a transcript word still finds it by its line.
    let page = w.list("q=kitchen").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["matches"][0]["call_id"], call_id.as_str());
}

#[tokio::test]
async fn failures_are_retried_with_backoff_until_a_valid_answer_is_stored() {
    let w = World::start(Reply::Content(valid_answer()), 50).await;
    let mut breaks = valid_answer();
    breaks["sentiment"] = json!("ecstatic");
    w.openai.then([
        Reply::Status(500, None),
        Reply::Status(429, Some("1")),
        Reply::NotJson,
        Reply::Content(breaks),
    ]);
    let call_id = w.call("CA00000000000000000000000000000a02", true).await;
    let analysis = w.settled(&call_id).await;
    assert_eq!(analysis["status"], "done", "{analysis}");
    assert_eq!(analysis["attempts"], 5, "four failures, then the answer");
    assert!(
        analysis["error"].is_null(),
        "a stored answer clears the last failure"
    );
    let seen = w.openai.seen();
    assert_eq!(seen.len(), 5);
    let gap = |i: usize| seen[i].at - seen[i - 1].at;
    assert!(
        gap(2) >= Duration::from_millis(950),
        "429's retry-after of 1 s is obeyed (base backoff is 50 ms): {:?}",
        gap(2)
    );
    assert!(
        gap(1) < Duration::from_millis(900),
        "a 500 backs off from the 50 ms base: {:?}",
        gap(1)
    );
    assert_eq!(w.openai.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_model_that_keeps_failing_is_recorded_as_failed_and_a_retry_runs_it_again() {
    let w = World::start(Reply::Status(503, None), 10).await;
    let call_id = w.call("CA00000000000000000000000000000a03", true).await;
    let analysis = w.settled(&call_id).await;
    assert_eq!(analysis["status"], "failed", "{analysis}");
    assert_eq!(analysis["attempts"], 5);
    let error = analysis["error"].as_str().unwrap();
    assert!(
        error.contains("OpenAI answered 503") && error.contains("gave up after 5 attempts"),
        "{error}"
    );
    assert!(!error.contains(OPENAI_KEY));
    assert_eq!(w.list("analysis_status=failed").await["total"], 1);

    // Run again against a server refusing the key: a 401 is not retried.
    w.openai.otherwise(Reply::Status(401, None));
    let (s, queued) = w
        .engine
        .api
        .post(&format!("/api/calls/{call_id}/analysis"), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["attempts"], 0);
    let analysis = w.settled(&call_id).await;
    assert_eq!(analysis["status"], "failed");
    assert_eq!(analysis["attempts"], 1, "a refused request is not repeated");
    assert_eq!(w.openai.seen().len(), 6);

    // Back up: the retry stores the analysis.
    w.openai.otherwise(Reply::Content(valid_answer()));
    let (s, _) = w
        .engine
        .api
        .post(&format!("/api/calls/{call_id}/analysis"), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let analysis = w.settled(&call_id).await;
    assert_eq!(analysis["status"], "done", "{analysis}");
    assert_eq!(analysis["goal_met"], true);

    let (s, body) = w
        .engine
        .api
        .post("/api/calls/no-such-call/analysis", json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn a_call_with_an_empty_transcript_is_skipped_and_a_call_of_an_agent_without_analysis_is_not_queued()
 {
    let w = World::start(Reply::Content(valid_answer()), 10).await;
    let (s, agent) = w
        .engine
        .api
        .put(&format!("/api/agents/{}", w.agent), json!({"greeting": ""}))
        .await;
    assert_eq!(s, StatusCode::OK, "{agent}");
    assert_eq!(agent["analysis"], {
        let mut a = analysis_settings();
        a["fields"][0]["options"] = json!([]);
        a["fields"][1]["description"] = json!("");
        a["fields"][1]["options"] = json!([]);
        a["fields"][2]["options"] = json!([]);
        a["fields"][3]["description"] = json!("");
        a
    });
    let call_id = w.call("CA00000000000000000000000000000a04", false).await;
    let analysis = w.settled(&call_id).await;
    assert_eq!(analysis["status"], "skipped", "{analysis}");
    assert!(analysis["error"].as_str().unwrap().contains("empty"));
    assert!(
        w.openai.seen().is_empty(),
        "nothing was sent for an empty call"
    );

    let (s, _) = w
        .engine
        .api
        .put(
            &format!("/api/agents/{}", w.agent),
            json!({"greeting": GREETING, "analysis": {"enabled": false}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let call_id = w.call("CA00000000000000000000000000000a05", true).await;
    let call = w.detail(&call_id).await;
    assert!(call["analysis"].is_null(), "{call}");
}

#[tokio::test]
async fn agents_analysis_fields_are_checked_and_the_broken_one_named() {
    let w = World::start(Reply::Content(valid_answer()), 10).await;
    for (fields, says) in [
        (json!([{"name": "Visit Day", "type": "text"}]), "snake_case"),
        (
            json!([{"name": "a", "type": "text"}, {"name": "a", "type": "yes_no"}]),
            "already named a",
        ),
        (
            json!([{"name": "kind", "type": "one_of", "options": []}]),
            "at least one option",
        ),
    ] {
        let (s, body) = w
            .engine
            .api
            .put(
                &format!("/api/agents/{}", w.agent),
                json!({"analysis": {"fields": fields}}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("analysis.fields") && message.contains(says),
            "{message}"
        );
    }
    let (s, body) = w
        .engine
        .api
        .put(
            &format!("/api/agents/{}", w.agent),
            json!({"analysis": {"fields": [{"name": "x", "type": "date"}]}}),
        )
        .await;
    assert!(s.is_client_error(), "{s} {body}");
    let (_, agent) = w.engine.api.get(&format!("/api/agents/{}", w.agent)).await;
    assert_eq!(
        agent["analysis"]["fields"].as_array().unwrap().len(),
        4,
        "nothing changed"
    );
}

#[tokio::test]
async fn an_analysis_cut_short_by_a_restart_resumes_after_it() {
    let w = World::start(Reply::Stall, 10).await;
    let call_id = w.call("CA00000000000000000000000000000a06", true).await;
    w.openai.wait_for(1, WAIT).await;
    let call = w.detail(&call_id).await;
    assert_eq!(call["analysis"]["status"], "running", "{call}");

    w.openai.otherwise(Reply::Content(valid_answer()));
    let w = w.restart().await;
    let analysis = w.settled(&call_id).await;
    assert_eq!(analysis["status"], "done", "{analysis}");
    assert_eq!(analysis["attempts"], 2, "the attempt cut short counts");
    assert_eq!(w.openai.seen().len(), 2);
}

/// A final analysis reaches the user's systems as `call.analyzed`, signed like every webhook,
/// with the call and the analysis; stored in the write that settles the analysis.
#[tokio::test]
async fn a_finished_analysis_reaches_the_users_systems_as_call_analyzed() {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;
    use std::sync::{Arc, Mutex};

    let w = World::start_with_keyring(Reply::Content(valid_answer()), 50).await;
    // Each request's signature, idempotency key and body.
    type Got = Vec<(String, String, Vec<u8>)>;
    let got: Arc<Mutex<Got>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/crm",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let header = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                seen.lock().unwrap().push((
                    header("switchboard-signature"),
                    header("idempotency-key"),
                    body.to_vec(),
                ));
                StatusCode::OK
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (s, endpoint) = w
        .engine
        .api
        .post(
            "/api/webhooks",
            json!({"url": format!("http://{addr}/crm"), "events": ["call.analyzed"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_owned();

    let call_id = w.call("CA00000000000000000000000000000a09", true).await;
    assert_eq!(w.settled(&call_id).await["status"], "done");
    let deadline = Instant::now() + WAIT;
    while got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "call.analyzed never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (signature, key, body) = got.lock().unwrap()[0].clone();
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["type"], "call.analyzed", "{event}");
    assert_eq!(event["id"], key, "the idempotency key is the event's id");
    assert_eq!(event["data"]["call"]["id"], call_id.as_str());
    assert_eq!(
        event["data"]["analysis"]["summary"],
        valid_answer()["summary"]
    );
    assert_eq!(event["data"]["analysis"]["goal_met"], true);
    let (t, v1) = signature
        .split_once(",v1=")
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v)))
        .unwrap_or_else(|| panic!("signature header: {signature}"));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected, "signed with the endpoint's secret");
    assert_eq!(
        got.lock().unwrap().len(),
        1,
        "only what it asked for: call.analyzed"
    );
}

/// The overview's numbers (issue 16, point 5) over calls carried through the simulators: three
/// answered and analysed, one of them deleted afterwards, and one refused on arrival.
#[tokio::test]
async fn the_overview_counts_calls_carried_through_the_simulators_with_their_analyses() {
    let w = World::start(Reply::Content(valid_answer()), 10).await;
    let api = &w.engine.api;
    let mut kept = Vec::new();
    for sid in [
        "CA00000000000000000000000000000b01",
        "CA00000000000000000000000000000b02",
        "CA00000000000000000000000000000b03",
    ] {
        let id = w.call(sid, true).await;
        assert_eq!(w.settled(&id).await["status"], "done");
        kept.push(id);
    }
    let gone = kept.pop().unwrap();
    let (s, body) = api.delete(&format!("/api/calls/{gone}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    // A call to a number Switchboard does not manage is refused on arrival.
    let path = "/webhooks/twilio/voice";
    let params = [
        ("AccountSid", TWILIO_SID),
        ("CallSid", "CA00000000000000000000000000000b04"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", CALLER),
        ("To", "+14155550000"),
    ];
    let sig = twilio_signature(TWILIO_TOKEN, &format!("{PUBLIC}{path}"), &params);
    let res = w
        .http
        .post(format!("{}{path}", w.engine.public_url()))
        .header("x-twilio-signature", sig)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let refused = w.list("status=rejected").await;
    assert_eq!(refused["total"], 1, "{refused}");

    let (s, o) = api.get("/api/overview?tz=UTC").await;
    assert_eq!(s, StatusCode::OK, "{o}");
    let t = &o["totals"];
    assert_eq!(
        t["calls"], 3,
        "two answered calls and the refused one: {o:#}"
    );
    assert_eq!(t["inbound"], 3);
    assert_eq!(
        (t["outbound"].as_i64(), t["test"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(t["answered"], 2);
    let mut talk = 0;
    for id in &kept {
        talk += w.detail(id).await["duration_secs"].as_i64().unwrap();
    }
    assert_eq!(
        t["total_duration_secs"], talk,
        "the kept calls' own durations"
    );
    let day_calls: i64 = o["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["totals"]["calls"].as_i64().unwrap())
        .sum();
    assert_eq!(day_calls, 3, "every call on one of the days");
    assert_eq!(
        o["outcomes"],
        json!([{"status": "completed", "calls": 2}, {"status": "rejected", "calls": 1}])
    );
    assert_eq!(
        o["analysis"],
        json!({"analyzed": 2, "goal_met": 2, "goal_missed": 0, "positive": 2, "neutral": 0, "negative": 0}),
        "the deleted call's analysis went with it"
    );
    let agents = o["agents"].as_array().unwrap();
    assert_eq!(agents[0]["agent_id"], w.agent.as_str());
    assert_eq!(agents[0]["totals"]["calls"], 2);
    assert_eq!(agents[0]["analysis"]["goal_met"], 2);
    assert_eq!(
        agents[1]["agent_id"],
        Value::Null,
        "the refused call had no agent"
    );
    assert_eq!(agents[1]["totals"]["calls"], 1);

    // A re-run takes the analysis out until it is done again, then counts it once.
    let (s, body) = api
        .post(&format!("/api/calls/{}/analysis", kept[0]), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert_eq!(w.settled(&kept[0]).await["status"], "done");
    let (_, o) = api.get("/api/overview?tz=UTC").await;
    assert_eq!(o["analysis"]["analyzed"], 2, "{o:#}");
    assert_eq!(o["analysis"]["goal_met"], 2);
}
