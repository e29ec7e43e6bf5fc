//! Outbound calls and campaigns end to end: the engine places calls through a Twilio
//! simulator (protocol-exact requests, signed status callbacks, its own log of every dial and
//! of how many calls it had up at every instant), bridges answered calls to a fake OpenAI
//! Realtime server, and works campaigns through lead lists within their limits, across a
//! SIGKILL and restart.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::campaigns::{
    TestClock, agent, campaign, import, lead_phone, leads_csv, settings, wait_for, wait_for_status,
    wait_until,
};
use common::carriers::{TWILIO_SID, TWILIO_TOKEN};
use common::realtime::{FakeRealtime, Script as Voice, TEST_API_KEY};
use common::twilio_calls::{Script, TwilioCalls};
use common::twilio_media::TwilioMedia;
use common::{Api, TestEngine, config};
use reqwest::StatusCode;
use serde_json::json;
use switchboard::domain::Timestamp;

const PUBLIC: &str = "https://sb.example.test";
const OUR_NUMBER: &str = "+14155552671";
const WAIT: Duration = Duration::from_secs(10);

struct World {
    engine: TestEngine,
    twilio: TwilioCalls,
    realtime: FakeRealtime,
    number: String,
    _tmp: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        Self::start_with_clock(None).await
    }

    async fn start_with_clock(clock: Option<Arc<TestClock>>) -> Self {
        Self::start_with(clock, Voice::new()).await
    }

    async fn start_with(clock: Option<Arc<TestClock>>, voice: Voice) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let realtime = FakeRealtime::start(voice).await;
        let twilio = TwilioCalls::start(PUBLIC, "http://unset").await;
        let mut cfg = config(tmp.path());
        cfg.twilio_api_url = twilio.base.clone();
        cfg.openai_realtime_url = realtime.url();
        cfg.clock = clock.map(|c| c as switchboard::campaigns::SharedClock);
        cfg.credential_env = vec![
            ("TWILIO_ACCOUNT_SID".into(), TWILIO_SID.into()),
            ("TWILIO_AUTH_TOKEN".into(), TWILIO_TOKEN.into()),
            ("OPENAI_API_KEY".into(), TEST_API_KEY.into()),
        ];
        let engine = TestEngine::start_with(cfg).await;
        twilio.deliver_to(&engine.public_url());
        let (s, _) = engine
            .api
            .put("/api/settings", json!({"public_base_url": PUBLIC}))
            .await;
        assert_eq!(s, StatusCode::OK);
        let number = number(&engine.api, None).await;
        Self {
            engine,
            twilio,
            realtime,
            number,
            _tmp: tmp,
        }
    }
}

async fn number(api: &Api, outbound_agent: Option<&str>) -> String {
    let (s, n) = api
        .post(
            "/api/phone-numbers",
            json!({"number": OUR_NUMBER, "carrier": "twilio", "outbound_agent_id": outbound_agent}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    n["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_single_call_is_placed_bridged_and_the_agent_waits_for_the_callee() {
    let w = World::start().await;
    let api = &w.engine.api;
    let agent_id = agent(api, "Caller", 2, "Hi, this is Acme calling.").await;
    w.twilio.default_script(Script::Answer {
        talk: Duration::from_secs(30),
    });
    let (s, call) = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": "(415) 555-0199", "agent_id": agent_id,
                   "context": {"name": "Dana"}}),
        )
        .await;
    // No default region: a national number is refused before anything is dialed.
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{call}");
    assert_eq!(call["error"]["field"], "to");
    assert!(w.twilio.dials().is_empty());

    let (s, call) = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": "+14155550199", "agent_id": agent_id,
                   "context": {"name": "Dana"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{call}");
    let dials = w.twilio.dials();
    assert_eq!(dials.len(), 1);
    assert_eq!(dials[0].to, "+14155550199");
    assert_eq!(dials[0].from, OUR_NUMBER);
    assert_eq!(dials[0].agent_id, agent_id, "the TwiML names the agent");
    assert_eq!(dials[0].call_id, call["id"].as_str().unwrap());
    assert_eq!(
        call["carrier_call_id"].as_str(),
        Some(dials[0].sid.as_str())
    );
    assert_eq!(call["direction"], "outbound");

    // The callee answers; the media stream connects exactly as an inbound one does.
    let id = call["id"].as_str().unwrap().to_owned();
    let media = TwilioMedia::connect(
        &format!(
            "{}/media/twilio",
            w.engine.public_url().replacen("http", "ws", 1)
        ),
        &dials[0].sid,
        &[("call_id", &id), ("agent_id", &agent_id)],
    )
    .await
    .unwrap();
    let update = w.realtime.wait_for_event("session.update", WAIT).await;
    let instructions = update["session"]["instructions"].as_str().unwrap();
    assert!(
        instructions.contains("You call Dana for Acme."),
        "{instructions}"
    );
    let configured = Instant::now();
    // The agent does not talk over the callee's "hello": it greets only after a silence.
    let greet = w.realtime.wait_for_event("response.create", WAIT).await;
    let waited = configured.elapsed();
    assert!(
        waited >= Duration::from_millis(2000),
        "greeted after only {waited:?}"
    );
    assert!(
        greet["response"]["instructions"]
            .as_str()
            .unwrap()
            .contains("Hi, this is Acme calling."),
        "{greet}"
    );
    // Twilio's answered report moves the record on.
    wait_for(
        api,
        &format!("/api/calls/{id}"),
        "status",
        "in_progress",
        WAIT,
    )
    .await;
    drop(media);
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
    assert!(
        w.realtime.violations().is_empty(),
        "{:?}",
        w.realtime.violations()
    );
}

#[tokio::test]
async fn a_callee_who_speaks_first_is_answered_not_greeted() {
    let w = World::start().await;
    let api = &w.engine.api;
    let agent_id = agent(api, "Caller", 2, "Hi, this is Acme calling.").await;
    w.twilio.default_script(Script::Answer {
        talk: Duration::from_secs(30),
    });
    let (s, call) = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": "+14155550199", "agent_id": agent_id}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{call}");
    let sid = w.twilio.dials()[0].sid.clone();
    let id = call["id"].as_str().unwrap().to_owned();
    let _media = TwilioMedia::connect(
        &format!(
            "{}/media/twilio",
            w.engine.public_url().replacen("http", "ws", 1)
        ),
        &sid,
        &[("call_id", &id), ("agent_id", &agent_id)],
    )
    .await
    .unwrap();
    w.realtime.wait_for_event("session.update", WAIT).await;
    w.realtime.speech_started(0);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(
        w.realtime
            .client_events_of("response.create")
            .iter()
            .all(|e| !e.to_string().contains("Hi, this is Acme calling.")),
        "the callee spoke first, so the scripted greeting is not forced on them"
    );
}

#[tokio::test]
async fn a_dial_the_carrier_refuses_fails_the_call_with_its_message() {
    let w = World::start().await;
    let api = &w.engine.api;
    let agent_id = agent(api, "Caller", 2, "").await;
    w.twilio.default_script(Script::Refuse);
    let (s, body) = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": "+14155550199", "agent_id": agent_id}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not appear to be valid"),
        "{body}"
    );
    let (_, page) = api.get("/api/calls?direction=outbound").await;
    let call = &page["items"][0];
    assert_eq!(call["status"], "failed");
    assert!(
        call["hangup_cause"]
            .as_str()
            .unwrap()
            .contains("does not appear to be valid"),
        "{call}"
    );
    // Bad input changes nothing.
    let (s, _) = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": "nope", "to": "+14155550199"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": "+14155550199"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no outbound agent"),
        "{body}"
    );
    assert_eq!(
        w.twilio.dials().len(),
        1,
        "only the refused dial reached Twilio"
    );
}

/// The sequence: primary (max 2) takes calls 1 and 2, backup-1 takes call 3, and after
/// call 1 ends the primary takes call 4.
#[tokio::test]
async fn primary_first_selection_follows_the_agents_limits() {
    let w = World::start().await;
    let api = &w.engine.api;
    let primary = agent(api, "Primary", 2, "").await;
    let backup = agent(api, "Backup 1", 1, "").await;
    w.twilio.default_script(Script::Answer {
        talk: Duration::from_secs(60),
    });
    let id = campaign(
        api,
        json!({"name": "Sequence", "agents": [
                   {"agent_id": backup, "primary": false},
                   {"agent_id": primary, "primary": true}],
               "number_ids": [w.number],               "settings": settings(json!({"max_concurrent_calls": 10, "calls_per_second": 50.0}))}),
    )
    .await;
    import(api, &id, &leads_csv(4)).await;
    let (s, body) = api
        .post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    wait_until("three dials", WAIT, || w.twilio.dials().len() == 3).await;
    // Everyone is full now: the fourth lead waits rather than being dropped or over-dialed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dials = w.twilio.dials();
    assert_eq!(dials.len(), 3, "no agent was free for a fourth call");
    let agents: Vec<&str> = dials.iter().map(|d| d.agent_id.as_str()).collect();
    assert_eq!(
        agents,
        [primary.as_str(), primary.as_str(), backup.as_str()]
    );
    let (_, loads) = api.get("/api/agents/load-stats").await;
    let load = |a: &str| {
        loads
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["agent_id"] == a)
            .unwrap()["live_calls"]
            .clone()
    };
    assert_eq!(load(&primary), 2);
    assert_eq!(load(&backup), 1);

    // Call 1 ends: the primary has a free slot again and takes call 4.
    let first = dials[0].call_id.clone();
    let (s, _) = api
        .post(&format!("/api/calls/{first}/hangup"), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    wait_until("a fourth dial", WAIT, || w.twilio.dials().len() == 4).await;
    assert_eq!(w.twilio.dials()[3].agent_id, primary);
    assert_eq!(w.twilio.dials()[3].to, lead_phone(3));
    assert_eq!(w.twilio.max_up_per_agent()[&primary], 2);
    assert_eq!(w.twilio.max_up_per_agent()[&backup], 1);
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

#[tokio::test]
async fn a_campaign_with_mixed_outcomes_keeps_its_limits_and_retries_as_configured() {
    let w = World::start().await;
    let api = &w.engine.api;
    let a = agent(api, "A", 2, "").await;
    let b = agent(api, "B", 3, "").await;
    w.twilio.ring_for(Duration::from_millis(30));
    let n = 40;
    // Outcomes by lead, deterministic but mixed.
    let mut expected_dials = HashMap::new();
    for i in 0..n {
        let (script, dials) = match i % 6 {
            0 | 1 => (
                Script::Answer {
                    talk: Duration::from_millis(150),
                },
                1,
            ),
            2 => (Script::Busy, 3),
            3 => (Script::NoAnswer, 3),
            4 => (
                Script::Voicemail {
                    talk: Duration::from_secs(5),
                },
                1,
            ),
            _ => (Script::Fail, 1),
        };
        w.twilio.script(&lead_phone(i), script);
        expected_dials.insert(lead_phone(i), dials);
    }
    let id = campaign(
        api,
        json!({"name": "Mixed", "agents": [{"agent_id": a}, {"agent_id": b, "primary": false}],
               "number_ids": [w.number],               "settings": settings(json!({"max_concurrent_calls": 4, "calls_per_second": 40.0,
                   "retry": {"retry_on": ["busy", "no_answer"], "max_attempts": 3, "delay_secs": 0},
                   "strategy": "least_loaded", "default_region": "US"}))}),
    )
    .await;
    let report = import(api, &id, &leads_csv(n)).await;
    assert_eq!(report["imported"], n);
    let (s, _) = api
        .post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let done = wait_for_status(api, &id, "completed", Duration::from_secs(60)).await;

    // Judged from the simulator's own log.
    assert!(
        w.twilio.max_up() <= 4,
        "campaign limit broken: {}",
        w.twilio.max_up()
    );
    let per_agent = w.twilio.max_up_per_agent();
    assert!(per_agent[&a] <= 2, "{per_agent:?}");
    assert!(
        per_agent.get(&b).copied().unwrap_or(0) <= 3,
        "{per_agent:?}"
    );
    assert_eq!(
        w.twilio.dials_per_number(),
        expected_dials,
        "busy and unanswered leads get three attempts, everyone else one"
    );
    let leads = &done["progress"]["leads"];
    assert_eq!(leads["total"], n);
    assert_eq!(leads["pending"], 0);
    assert_eq!(leads["dialing"], 0);
    // Answered: 14 done; busy/no-answer out of attempts, voicemail and failures: failed.
    assert_eq!(leads["done"], 14, "{leads}");
    assert_eq!(leads["failed"], n - 14, "{leads}");
    let (_, page) = api
        .get(&format!(
            "/api/campaigns/{id}/leads?status=failed&limit=500"
        ))
        .await;
    let outcomes: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["last_outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes.contains(&"voicemail"), "{outcomes:?}");
    assert!(outcomes.contains(&"busy"), "{outcomes:?}");
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

#[tokio::test]
async fn dialing_keeps_to_the_configured_pace() {
    let w = World::start().await;
    let api = &w.engine.api;
    let a = agent(api, "A", 100, "").await;
    w.twilio.default_script(Script::Answer {
        talk: Duration::from_millis(100),
    });
    let id = campaign(
        api,
        json!({"name": "Paced", "agents": [{"agent_id": a}], "number_ids": [w.number],               "settings": settings(json!({"max_concurrent_calls": 100, "calls_per_second": 10.0}))}),
    )
    .await;
    import(api, &id, &leads_csv(31)).await;
    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    wait_for_status(api, &id, "completed", Duration::from_secs(30)).await;
    let dials = w.twilio.dials();
    assert_eq!(dials.len(), 31);
    let span = dials[30].at - dials[0].at;
    let rate = 30.0 / span.as_secs_f64();
    assert!(
        (9.0..=11.0).contains(&rate),
        "10 calls/s configured, {rate:.2} measured at the carrier"
    );
}

#[tokio::test]
async fn nothing_is_dialed_outside_the_calling_window() {
    // 2026-01-15 06:00 in New York: three hours before the window opens.
    let clock = Arc::new(TestClock(Mutex::new(
        Timestamp::parse("2026-01-15T11:00:00Z").unwrap(),
    )));
    let w = World::start_with_clock(Some(clock.clone())).await;
    let api = &w.engine.api;
    let a = agent(api, "A", 5, "").await;
    let id = campaign(
        api,
        json!({"name": "Window", "agents": [{"agent_id": a}], "number_ids": [w.number],               "settings": settings(json!({
                   "window": {"start": "09:00", "end": "17:00", "time_zone": "America/New_York",
                              "days": [1, 2, 3, 4, 5]}}))}),
    )
    .await;
    import(api, &id, &leads_csv(3)).await;
    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(
        w.twilio.dials().is_empty(),
        "dialed before the window opened"
    );
    // 09:00:01 in New York.
    *clock.0.lock().unwrap() = Timestamp::parse("2026-01-15T14:00:01Z").unwrap();
    wait_until("dials once the window is open", WAIT, || {
        w.twilio.dials().len() == 3
    })
    .await;
}

#[tokio::test]
async fn bad_campaign_input_is_refused_and_changes_nothing() {
    let w = World::start().await;
    let api = &w.engine.api;
    let (s, body) = api
        .post(
            "/api/campaigns",
            json!({"name": "X", "settings": settings(json!({"calls_per_second": 0.0}))}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "calls_per_second");
    let (s, body) = api
        .post(
            "/api/campaigns",
            json!({"name": "X", "agents": [{"agent_id": "ghost"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, list) = api.get("/api/campaigns").await;
    assert_eq!(list, json!([]), "nothing was created");
    let id = campaign(api, json!({"name": "Empty"})).await;
    let (s, body) = api
        .post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, _) = api.post("/api/campaigns/nope/start", json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = api
        .post(&format!("/api/campaigns/{id}/pause"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn a_campaign_survives_sigkill_and_restart_without_dialing_anyone_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let twilio = TwilioCalls::start(PUBLIC, "http://unset").await;
    twilio.default_script(Script::Answer {
        talk: Duration::from_millis(400),
    });
    twilio.ring_for(Duration::from_millis(100));
    let token = "kill-test-token";
    let envs = [
        ("TWILIO_ACCOUNT_SID", TWILIO_SID),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("OPENAI_API_KEY", TEST_API_KEY),
        ("SWITCHBOARD_TOKEN", token),
        ("WEBHOOK_BASE_URL", PUBLIC),
        ("SWITCHBOARD_LOG", "info"),
    ];
    let extra = ["--no-keyring", "--twilio-api-url", twilio.base.as_str()];
    let serve = common::serve(tmp.path(), &envs, &extra).await;
    twilio.deliver_to(&serve.public);
    let api = Api::new(serve.control.clone(), token.into());
    let a = agent(&api, "A", 10, "").await;
    let number = number(&api, None).await;
    let n = 60;
    let id = campaign(
        &api,
        json!({"name": "Crash", "agents": [{"agent_id": a}], "number_ids": [number],               "settings": settings(json!({"calls_per_second": 25.0,
                   "retry": {"retry_on": ["busy", "no_answer", "failed"], "max_attempts": 3,
                             "delay_secs": 0}}))}),
    )
    .await;
    import(&api, &id, &leads_csv(n)).await;
    let (s, _) = api
        .post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    wait_until(
        "a third of the leads dialed",
        Duration::from_secs(30),
        || twilio.dials().len() >= n / 3,
    )
    .await;
    // Killed mid-campaign, with calls up and dials in flight.
    let mut child = serve.child;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let at_kill = twilio.dials().len();
    // Calls end while the engine is down; their reports go nowhere.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let serve = common::serve(tmp.path(), &envs, &extra).await;
    twilio.deliver_to(&serve.public);
    let api = Api::new(serve.control.clone(), token.into());
    let done = wait_for_status(&api, &id, "completed", Duration::from_secs(60)).await;

    let per_number = twilio.dials_per_number();
    assert_eq!(per_number.len(), n, "every lead was dialed: none lost");
    let twice: Vec<_> = per_number.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "dialed more than once: {twice:?}");
    assert!(
        at_kill < n,
        "the kill came mid-campaign ({at_kill} of {n} dialed)"
    );
    assert!(
        twilio.max_up() <= 5,
        "limit broken across the restart: {}",
        twilio.max_up()
    );
    let leads = &done["progress"]["leads"];
    assert_eq!(
        leads["done"], n,
        "every call was answered, so every lead is done: {leads}"
    );
    assert!(twilio.violations().is_empty(), "{:?}", twilio.violations());
    let (status, _) = serve.terminate().await;
    assert!(status.success());
}

#[tokio::test]
async fn a_pause_stops_dialing_at_once_and_a_resume_carries_on() {
    let w = World::start().await;
    let api = &w.engine.api;
    let a = agent(api, "A", 50, "").await;
    let id = campaign(
        api,
        json!({"name": "Pausing", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({"max_concurrent_calls": 50, "calls_per_second": 20.0}))}),
    )
    .await;
    import(api, &id, &leads_csv(200)).await;
    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    wait_until("some dials", WAIT, || w.twilio.dials().len() >= 5).await;
    let (s, body) = api
        .post(&format!("/api/campaigns/{id}/pause"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // A dial already claimed when the pause landed may still reach the carrier.
    let at_pause = w.twilio.dials().len();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let after = w.twilio.dials().len();
    assert!(
        after <= at_pause + 1,
        "paused at {at_pause} dials, {after} a second later (20/s would be {})",
        at_pause + 24
    );
    let (s, _) = api
        .post(&format!("/api/campaigns/{id}/resume"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    wait_until("dialing again", WAIT, || {
        w.twilio.dials().len() >= after + 5
    })
    .await;
    let per_number = w.twilio.dials_per_number();
    assert!(
        per_number.values().all(|n| *n == 1),
        "a lead was dialed twice"
    );
}

#[tokio::test]
async fn a_campaign_call_speaks_with_the_campaign_prompt_and_the_leads_details() {
    let w = World::start().await;
    let api = &w.engine.api;
    let a = agent(api, "A", 2, "").await;
    w.twilio.default_script(Script::Answer {
        talk: Duration::from_secs(30),
    });
    let id = campaign(
        api,
        json!({"name": "Solar", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "prompt": "Offer {name} a free roof survey; their email is {email}.",
               "settings": settings(json!({}))}),
    )
    .await;
    import(api, &id, &leads_csv(1)).await;
    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    wait_until("the dial", WAIT, || w.twilio.dials().len() == 1).await;
    let dial = w.twilio.dials()[0].clone();
    let _media = TwilioMedia::connect(
        &format!(
            "{}/media/twilio",
            w.engine.public_url().replacen("http", "ws", 1)
        ),
        &dial.sid,
        &[("call_id", &dial.call_id), ("agent_id", &dial.agent_id)],
    )
    .await
    .unwrap();
    let update = w.realtime.wait_for_event("session.update", WAIT).await;
    let instructions = update["session"]["instructions"].as_str().unwrap();
    assert!(
        instructions.contains(
            "You call Lead 0 for Acme.\n\nOffer Lead 0 a free roof survey; their email is \
             lead0@example.com."
        ),
        "agent prompt, then the campaign's, both with the lead filled in: {instructions}"
    );
}

#[tokio::test]
async fn a_telnyx_call_is_dialed_with_its_stream_and_its_reports_find_it() {
    use base64::Engine as _;
    use common::carriers::{TelnyxApi, TelnyxKeys, telnyx_event};
    let tmp = tempfile::tempdir().unwrap();
    let telnyx = TelnyxApi::start().await;
    let keys = TelnyxKeys::new();
    let mut cfg = config(tmp.path());
    cfg.telnyx_api_url = telnyx.base.clone();
    cfg.credential_env = vec![
        ("TELNYX_API_KEY".into(), "KEY-telnyx-test".into()),
        ("TELNYX_PUBLIC_KEY".into(), keys.public_key_b64()),
    ];
    let engine = TestEngine::start_with(cfg).await;
    let api = &engine.api;
    api.put("/api/settings", json!({"public_base_url": PUBLIC}))
        .await;
    let a = agent(api, "A", 2, "").await;
    let (s, n) = api
        .post(
            "/api/phone-numbers",
            json!({"number": OUR_NUMBER, "carrier": "telnyx", "outbound_agent_id": a}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    let request = json!({"from_number_id": n["id"], "to": "+14155550199"});

    // Telnyx places calls on a Call Control application: without its id, nothing is dialed.
    let (s, body) = api.post("/api/calls/outbound", request.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Telnyx connection id"),
        "{body}"
    );
    assert!(telnyx.commands().is_empty());
    let (s, body) = api
        .put(
            "/api/settings",
            json!({"telnyx_connection_id": "has spaces"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "telnyx_connection_id");
    let (s, body) = api
        .put(
            "/api/settings",
            json!({"telnyx_connection_id": "1494404757140276705"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["telnyx_connection_id"], "1494404757140276705");

    let (s, call) = api.post("/api/calls/outbound", request).await;
    assert_eq!(s, StatusCode::CREATED, "{call}");
    let id = call["id"].as_str().unwrap();
    let dial = &telnyx.commands()[0];
    assert_eq!(dial.action, "dial");
    assert_eq!(
        dial.authorization.as_deref(),
        Some("Bearer KEY-telnyx-test")
    );
    let b = &dial.body;
    assert_eq!(b["connection_id"], "1494404757140276705");
    assert_eq!(b["to"], "+14155550199");
    assert_eq!(b["from"], OUR_NUMBER);
    assert_eq!(b["stream_url"], "wss://sb.example.test/media/telnyx");
    assert_eq!(b["stream_bidirectional_mode"], "rtp");
    assert_eq!(b["stream_bidirectional_codec"], "PCMU");
    let state = base64::engine::general_purpose::STANDARD.encode(id);
    assert_eq!(b["client_state"], state.as_str(), "our call id rides along");
    assert_eq!(call["carrier_call_id"], "v3:sim-dial-0");

    // Telnyx's signed report of the answer finds the call by its id.
    let body = telnyx_event(
        "call.answered",
        "evt-answer-1",
        json!({"call_control_id": "v3:sim-dial-0", "client_state": state,
               "from": OUR_NUMBER, "to": "+14155550199", "state": "answered"}),
    );
    let ts = jiff::Timestamp::now().as_second();
    let res = reqwest::Client::new()
        .post(format!("{}/webhooks/telnyx", engine.public_url()))
        .header("telnyx-timestamp", ts.to_string())
        .header("telnyx-signature-ed25519", keys.sign(ts, &body))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    wait_for(
        api,
        &format!("/api/calls/{id}"),
        "status",
        "in_progress",
        WAIT,
    )
    .await;
}

#[tokio::test]
async fn calls_whose_end_reports_are_lost_are_asked_about_and_free_their_slots() {
    let clock = Arc::new(TestClock(Mutex::new(
        Timestamp::parse("2026-03-02T15:00:00Z").unwrap(),
    )));
    let w = World::start_with_clock(Some(clock.clone())).await;
    let api = &w.engine.api;
    let a = agent(api, "A", 5, "").await;
    w.twilio.default_script(Script::Answer {
        talk: Duration::from_millis(100),
    });
    // Every report of the first two calls is lost on the way.
    w.twilio.mute(true);
    let id = campaign(
        api,
        json!({"name": "Lost reports", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({"max_concurrent_calls": 2}))}),
    )
    .await;
    import(api, &id, &leads_csv(3)).await;
    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    wait_until("two dials", WAIT, || w.twilio.dials().len() == 2).await;
    wait_until("both calls over at the carrier", WAIT, || {
        w.twilio.up_now() == 0
    })
    .await;
    w.twilio.mute(false);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        w.twilio.dials().len(),
        2,
        "the engine still counts both calls live, so the third lead waits"
    );
    // Two minutes on, the engine asks Twilio about them, learns they ended, and carries on.
    *clock.0.lock().unwrap() = Timestamp::parse("2026-03-02T15:02:30Z").unwrap();
    let done = wait_for_status(api, &id, "completed", WAIT).await;
    assert_eq!(w.twilio.dials().len(), 3);
    assert_eq!(done["progress"]["leads"]["done"], 3, "{done}");
}

#[tokio::test]
async fn on_an_answering_machine_the_agent_leaves_the_campaigns_message_then_hangs_up() {
    let w = World::start_with(
        None,
        Voice::new().respond_with_audio(3_200, "Hi, this is Acme about your roof survey."),
    )
    .await;
    let api = &w.engine.api;
    let a = agent(api, "A", 2, "").await;
    w.twilio.default_script(Script::Voicemail {
        talk: Duration::from_secs(30),
    });
    let id = campaign(
        api,
        json!({"name": "Voicemail", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({"voicemail": {"action": "leave_message",
                   "message": "Hi, this is Acme about your roof survey. Call us back."}}))}),
    )
    .await;
    import(api, &id, &leads_csv(1)).await;
    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    wait_until("the dial", WAIT, || w.twilio.dials().len() == 1).await;
    let dial = w.twilio.dials()[0].clone();
    let media = TwilioMedia::connect(
        &format!(
            "{}/media/twilio",
            w.engine.public_url().replacen("http", "ws", 1)
        ),
        &dial.sid,
        &[("call_id", &dial.call_id), ("agent_id", &dial.agent_id)],
    )
    .await
    .unwrap();
    media.set_instant_playback(true);

    let say = w.realtime.wait_for_event("response.create", WAIT).await;
    let instructions = say["response"]["instructions"].as_str().unwrap();
    assert!(
        instructions.contains("answering machine") && instructions.contains("Call us back."),
        "{instructions}"
    );
    media.wait_for_audio_bytes(3_200, WAIT).await;
    // Once the machine has heard it all, the call ends through Twilio and the lead says why.
    let call = wait_for(
        api,
        &format!("/api/calls/{}", dial.call_id),
        "status",
        "completed",
        WAIT,
    )
    .await;
    assert_eq!(call["answered_by"], "machine_start");
    assert_eq!(
        call["hangup_cause"], "left the campaign's voicemail message",
        "{call}"
    );
    assert_eq!(w.twilio.up_now(), 0, "hung up at the carrier");
    let (_, leads) = api.get(&format!("/api/campaigns/{id}/leads")).await;
    assert_eq!(leads["items"][0]["last_outcome"], "voicemail", "{leads}");
}
