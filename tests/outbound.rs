//! Outbound calls and campaigns end to end: the engine places calls through a Twilio
//! simulator (protocol-exact requests, signed status callbacks, its own log of every dial and
//! of how many calls it had up at every instant), bridges answered calls to a fake OpenAI
//! Realtime server, and works campaigns through lead lists within their limits, across a
//! SIGKILL and restart.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::campaigns::{
    TestClock, agent, campaign, import, lead_index, lead_phone, leads_csv, leads_csv_in, settings,
    wait_for, wait_for_status, wait_until,
};
use common::carriers::{TWILIO_SID, TWILIO_TOKEN};
use common::dialing::{Dial, Ledger};
use common::media_stream::MediaStream;
use common::realtime::{FakeRealtime, Script as Voice, TEST_API_KEY};
use common::telnyx_calls::{TELNYX_API_KEY, TELNYX_CONNECTION_ID, TelnyxCalls};
use common::telnyx_media::TelnyxMedia;
use common::twilio_calls::{Script, TwilioCalls};
use common::twilio_media::TwilioMedia;
use common::{Api, TestEngine, config};
use reqwest::StatusCode;
use serde_json::{Value, json};
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
    /// Opens the media stream Twilio would for a call the engine placed.
    async fn stream(&self, sid: &str, call_id: &str, agent_id: &str) -> TwilioMedia {
        let url = self.engine.public_url().replacen("http", "ws", 1);
        TwilioMedia::connect(
            &format!("{url}/media/twilio"),
            sid,
            &[("call_id", call_id), ("agent_id", agent_id)],
        )
        .await
        .unwrap()
    }

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
        let engine = engine_with(tmp.path(), clock, &realtime, |cfg| {
            cfg.twilio_api_url = twilio.base.clone();
            cfg.credential_env.extend([
                ("TWILIO_ACCOUNT_SID".into(), TWILIO_SID.into()),
                ("TWILIO_AUTH_TOKEN".into(), TWILIO_TOKEN.into()),
            ]);
        })
        .await;
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

/// An engine speaking through `realtime`, on the campaign clock when one is given; `carrier`
/// adds its carrier's API URL and credentials.
async fn engine_with(
    dir: &std::path::Path,
    clock: Option<Arc<TestClock>>,
    realtime: &FakeRealtime,
    carrier: impl FnOnce(&mut switchboard::Config),
) -> TestEngine {
    let mut cfg = config(dir);
    cfg.openai_realtime_url = realtime.url();
    cfg.clock = clock.map(|c| c as switchboard::domain::SharedClock);
    cfg.credential_env = vec![("OPENAI_API_KEY".into(), TEST_API_KEY.into())];
    carrier(&mut cfg);
    TestEngine::start_with(cfg).await
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
        Some(dials[0].carrier_call_id.as_str())
    );
    assert_eq!(call["direction"], "outbound");

    // The callee answers; the media stream connects exactly as an inbound one does.
    let id = call["id"].as_str().unwrap().to_owned();
    let media = w.stream(&dials[0].carrier_call_id, &id, &agent_id).await;
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
    let sid = w.twilio.dials()[0].carrier_call_id.clone();
    let id = call["id"].as_str().unwrap().to_owned();
    let _media = w.stream(&sid, &id, &agent_id).await;
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

/// A call placed without `agent_id` is the number's to make: its outbound agent takes it, and
/// the dial carries that agent (the TwiML's `agent_id` parameter is what the media stream
/// opens the agent's session with), as does the call's record.
#[tokio::test]
async fn an_outbound_call_without_an_agent_is_taken_by_its_numbers_outbound_agent() {
    let w = World::start().await;
    let api = &w.engine.api;
    // Two agents, so that a fallback to "some agent" (the first, say) would show.
    let other = agent(api, "Other", 2, "").await;
    let outbound = agent(api, "Outbound", 2, "").await;
    let (s, n) = api
        .put(
            &format!("/api/phone-numbers/{}", w.number),
            json!({"outbound_agent_id": outbound}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{n}");
    w.twilio.default_script(Script::Answer {
        talk: Duration::from_secs(30),
    });
    let (s, call) = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": "+14155550199"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{call}");
    let id = call["id"].as_str().unwrap();
    let dials = w.twilio.dials();
    assert_eq!(dials.len(), 1, "one call, one dial: {dials:?}");
    assert_eq!(dials[0].call_id, id, "the dial is the call just placed");
    assert_eq!(
        dials[0].agent_id, outbound,
        "no agent was named, so the number's outbound agent takes the call (not {other})"
    );
    let (s, record) = api.get(&format!("/api/calls/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{record}");
    assert_eq!(
        record["agent_id"], outbound,
        "the call's record names the agent that was dialed with"
    );
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

/// With no agent named and none assigned to the number, nobody could speak on the call: it is
/// refused as invalid on `agent_id` before anything reaches the carrier.
#[tokio::test]
async fn an_outbound_call_with_no_agent_named_or_assigned_is_refused_before_dialing() {
    let w = World::start().await;
    let api = &w.engine.api;
    // An agent exists, but it is not the number's: it must not be picked up by default.
    agent(api, "Someone", 2, "").await;
    let got = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": "+14155550199"}),
        )
        .await;
    common::assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(
        got.1["error"]["field"], "agent_id",
        "the missing agent is the fault: {}",
        got.1
    );
    assert!(
        w.twilio.dials().is_empty(),
        "a refused call dials nobody: {:?}",
        w.twilio.dials()
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

/// A campaign pool's agents, id → name, so that dials read as `A B C ...`.
type Names = HashMap<String, &'static str>;

/// Starts a campaign of `n` leads over `pool` (agent ids, all primaries, in pool order) that
/// chooses agents by `strategy` within `limits` (top-level settings fields), and waits until
/// the carrier has received a dial for every lead. Returns the campaign's id.
async fn run_pool(w: &World, strategy: &str, pool: &[&str], limits: Value, n: usize) -> String {
    let api = &w.engine.api;
    let agents: Vec<Value> = pool.iter().map(|a| json!({"agent_id": a})).collect();
    let mut settings = settings(limits);
    settings["strategy"] = json!(strategy);
    let id = campaign(
        api,
        json!({"name": strategy, "agents": agents, "number_ids": [w.number],
               "settings": settings}),
    )
    .await;
    assert_eq!(import(api, &id, &leads_csv(n)).await["imported"], n);
    let (s, body) = api
        .post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    wait_until("a dial for every lead", Duration::from_secs(60), || {
        w.twilio.dials().len() >= n
    })
    .await;
    id
}

/// The agent (by name) each of leads 0..n was dialed with, in the order the dialer chose
/// them, from the carrier's log; each lead must have been dialed exactly once. The dialer
/// claims leads in list order and selects an agent once per claim, so lead i's dial is its
/// i-th choice. (Dials go out from separate tasks, so two close ones could reach the carrier
/// in either order: arrival order is not choice order.)
fn choices(sim: &Ledger, n: usize, names: &Names) -> Vec<&'static str> {
    let mut by_lead = vec![None; n];
    for d in sim.dials() {
        let i = lead_index(&d.to)
            .filter(|i| *i < n)
            .unwrap_or_else(|| panic!("{} was dialed, and it is none of the leads", d.to));
        let name = names.get(&d.agent_id).copied().unwrap_or_else(|| {
            panic!(
                "lead {i} was dialed for {}, not an agent of the pool",
                d.agent_id
            )
        });
        assert!(
            by_lead[i].replace(name).is_none(),
            "lead {i} was dialed twice"
        );
    }
    by_lead
        .into_iter()
        .enumerate()
        .map(|(i, a)| a.unwrap_or_else(|| panic!("lead {i} was never dialed")))
        .collect()
}

/// Round robin: the pool's agents take turns in pool order, A B C A B C A B C. Nothing ever
/// binds (each agent and the campaign could take all nine calls at once), so no turn passes
/// on for want of room, and the order of choices is the order of the leads. (The campaign's
/// own limit is kept out of it here; the next test holds the order while the campaign is full.)
///
/// Only round robin passes. The calls are short (20 ms ringing, 30 ms talk) and dialed 200 ms
/// apart, so each is over well before the next dial: primary first would take A, the first
/// primary with room, every time, and so would least loaded (all three idle, ties to pool
/// order); random would draw this exact sequence with probability 3^-9.
#[tokio::test]
async fn round_robin_selection_gives_the_pools_agents_turns_in_pool_order() {
    let w = World::start().await;
    let api = &w.engine.api;
    let a = agent(api, "A", 9, "").await;
    let b = agent(api, "B", 9, "").await;
    let c = agent(api, "C", 9, "").await;
    let names: Names = [(a.clone(), "A"), (b.clone(), "B"), (c.clone(), "C")].into();
    w.twilio.ring_for(Duration::from_millis(20));
    w.twilio.default_script(Script::Answer {
        talk: Duration::from_millis(30),
    });
    let n = 9;
    let id = run_pool(
        &w,
        "round_robin",
        &[&a, &b, &c],
        json!({"max_concurrent_calls": n, "calls_per_second": 5.0}),
        n,
    )
    .await;
    wait_for_status(api, &id, "completed", WAIT).await;
    assert_eq!(
        choices(&w.twilio, n, &names),
        ["A", "B", "C", "A", "B", "C", "A", "B", "C"],
        "round robin hands each dial to the next agent in pool order, and none was ever full"
    );
    assert_eq!(w.twilio.up_now(), 0, "every call ended");
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

/// Round robin keeps its order when the campaign, not the agents, is full: with one call at
/// a time, a choice whose lead cannot be claimed yet gives its turn back. (A turn used up by a
/// refused claim made three agents go A C B A C B and two go A A A.) Each call ends quickly,
/// so the campaign is full for most of the dialer's looks and every other choice is refused.
#[tokio::test]
async fn round_robin_keeps_its_order_while_the_campaign_is_full() {
    for pool_size in [2, 3] {
        let w = World::start().await;
        let api = &w.engine.api;
        let all = ["A", "B", "C"];
        let mut ids = Vec::new();
        for name in &all[..pool_size] {
            ids.push(agent(api, name, 9, "").await);
        }
        let names: Names = ids.iter().cloned().zip(all).collect();
        w.twilio.ring_for(Duration::from_millis(20));
        w.twilio.default_script(Script::Answer {
            talk: Duration::from_millis(80),
        });
        let n = 3 * pool_size;
        let pool: Vec<&str> = ids.iter().map(String::as_str).collect();
        let id = run_pool(
            &w,
            "round_robin",
            &pool,
            json!({"max_concurrent_calls": 1, "calls_per_second": 50.0}),
            n,
        )
        .await;
        wait_for_status(api, &id, "completed", WAIT).await;
        let expected: Vec<&str> = (0..n).map(|k| all[k % pool_size]).collect();
        assert_eq!(
            choices(&w.twilio, n, &names),
            expected,
            "{pool_size} agents take turns in pool order though most looks find the campaign full"
        );
        assert!(
            w.twilio.violations().is_empty(),
            "{:?}",
            w.twilio.violations()
        );
    }
}

/// Least loaded: every dial goes to an agent with the fewest live calls for its size. A takes
/// 2 calls at once, B 3, C 6; the campaign takes all 11 at once, so only the agents' sizes
/// limit. Every call stays up (a minute's talk) and the carrier's log shows all eleven still
/// up after the last dial, so the calls up at each choice were exactly the earlier dials, and
/// each agent's load at each choice follows from the log alone; the test checks every choice
/// against those loads. Ties may go anywhere: with ties to pool order (the engine's rule
/// today) the sequence is A B C C B C A C B C C.
///
/// Only least loaded passes: primary first's second dial is A again (A at 1/2 while B and C
/// are idle), round robin's fourth is A (at 1/2 while C is at 1/6), and random picks a least
/// loaded agent every time with probability 5/1458 (about 0.3%).
#[tokio::test]
async fn least_loaded_selection_dials_the_agent_with_the_fewest_calls_for_its_size() {
    let w = World::start().await;
    let api = &w.engine.api;
    let sizes = [("A", 2), ("B", 3), ("C", 6)];
    let mut ids = Vec::new();
    for (name, max) in sizes {
        ids.push(agent(api, name, max, "").await);
    }
    let names: Names = ids.iter().cloned().zip(sizes.map(|(n, _)| n)).collect();
    w.twilio.default_script(Script::Answer {
        talk: Duration::from_secs(60),
    });
    let n = 11;
    let pool: Vec<&str> = ids.iter().map(String::as_str).collect();
    run_pool(
        &w,
        "least_loaded",
        &pool,
        json!({"max_concurrent_calls": n, "calls_per_second": 20.0}),
        n,
    )
    .await;
    assert_eq!(
        w.twilio.up_now(),
        n,
        "no call had ended by the last dial, so every earlier dial was up at each choice"
    );
    let got = choices(&w.twilio, n, &names);
    let mut live: HashMap<&str, u32> = HashMap::new();
    for (k, chosen) in got.iter().enumerate() {
        let size = |name: &str| sizes.iter().find(|(n, _)| *n == name).unwrap().1;
        let load = |name: &str| live.get(name).copied().unwrap_or(0);
        assert!(
            load(chosen) < size(chosen),
            "dial {k} went to {chosen}, already on its {} calls: {got:?}",
            size(chosen)
        );
        for (other, other_size) in sizes {
            // load(chosen)/size(chosen) <= load(other)/size(other), for every agent with room.
            assert!(
                load(other) == other_size
                    || load(chosen) * other_size <= load(other) * size(chosen),
                "dial {k} went to {chosen} at {}/{} while {other} was at {}/{other_size}: \
                 least loaded takes the fewest calls for the agent's size; dials {got:?}",
                load(chosen),
                size(chosen),
                load(other),
            );
        }
        *live.entry(chosen).or_insert(0) += 1;
    }
    let per_agent = w.twilio.max_up_per_agent();
    for ((name, max), id) in sizes.iter().zip(&ids) {
        assert_eq!(
            per_agent.get(id).copied(),
            Some(*max as usize),
            "the eleven calls fill every agent exactly: {name} takes {max} at once"
        );
    }
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

/// Random: 60 leads over A (one call at a time), B and C (room for every lead). Every agent is
/// used, A never has two calls up at the carrier, and the choices are not a strict rotation.
///
/// Spurious failures: B and C are never full, so at every dial at least two agents are
/// eligible and the draw takes any given one with probability at most 1/2, and one that has
/// no call up (as an agent not used yet has none) with probability at least 1/3. So an agent
/// goes unused with probability at most (2/3)^60, and the 60 choices are one of the six strict
/// rotations with probability at most 6 * 2^-60: in all below 3 * (2/3)^60 + 6 * 2^-60, about
/// 8.2e-11.
///
/// Ignoring the strategy fails: primary first never reaches C (B, second in the pool, always
/// has room), and round robin rotates strictly (each call is over within about 150 ms and A's
/// next turn comes 300 ms after its last, so nobody is ever full at their turn).
#[tokio::test]
async fn random_selection_uses_every_agent_within_its_limit_and_no_fixed_order() {
    let w = World::start().await;
    let api = &w.engine.api;
    let n = 60;
    let a = agent(api, "A", 1, "").await;
    let b = agent(api, "B", n as u32, "").await;
    let c = agent(api, "C", n as u32, "").await;
    let names: Names = [(a.clone(), "A"), (b.clone(), "B"), (c.clone(), "C")].into();
    w.twilio.ring_for(Duration::from_millis(30));
    // Long enough that a second draw of A 100 ms after the first finds it on a call.
    w.twilio.default_script(Script::Answer {
        talk: Duration::from_millis(120),
    });
    let id = run_pool(
        &w,
        "random",
        &[&a, &b, &c],
        json!({"max_concurrent_calls": n, "calls_per_second": 10.0}),
        n,
    )
    .await;
    wait_for_status(api, &id, "completed", WAIT).await;
    let got = choices(&w.twilio, n, &names);
    for name in ["A", "B", "C"] {
        assert!(
            got.contains(&name),
            "{name} was never drawn, though each agent goes unused by chance with probability \
             below 1e-10: {got:?}"
        );
    }
    let most_up_for_a = w.twilio.max_up_per_agent()[&a];
    assert_eq!(
        most_up_for_a, 1,
        "A takes one call at a time, so a draw never lands on it while it is on a call"
    );
    let rotation = got
        .iter()
        .skip(3)
        .zip(&got)
        .all(|(x, three_before)| x == three_before)
        && got[0] != got[1]
        && got[1] != got[2]
        && got[0] != got[2];
    assert!(
        !rotation,
        "random choices are no strict rotation (a chance below 1e-17): {got:?}"
    );
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

#[tokio::test]
async fn a_campaign_with_mixed_outcomes_keeps_its_limits_and_retries_as_configured() {
    let w = World::start().await;
    mixed_outcome_campaign(&w.engine.api, &w.twilio, &w.number).await;
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
    import(api, &id, &leads_csv_in(3, "America/New_York")).await;
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

/// Leads across zones, each called only inside the campaign's window read in its own local
/// time and inside the calling-hours floor: a clock walked across a January day (and past
/// midnight UTC) dials, at each step, exactly the leads whose hours have opened.
#[tokio::test]
async fn leads_are_dialed_only_inside_their_own_local_hours() {
    // Thursday 2026-01-15 12:00 UTC: 07:00 in New York, 04:00 in Los Angeles, 21:00 in Tokyo.
    let clock = Arc::new(TestClock(Mutex::new(
        Timestamp::parse("2026-01-15T12:00:00Z").unwrap(),
    )));
    let w = World::start_with_clock(Some(clock.clone())).await;
    let api = &w.engine.api;
    let a = agent(api, "A", 10, "").await;
    let id = campaign(
        api,
        json!({"name": "Zones", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({"max_concurrent_calls": 10,
                   "window": {"start": "09:00", "end": "17:00", "time_zone": "America/New_York",
                              "days": []}}))}),
    )
    .await;
    // Zones from the number (area codes), one split area code (Idaho's 208: Mountain and
    // Pacific), and the lead's own column overriding its number's.
    let leads = [
        ("New York", "+12125550101", ""),
        ("Chicago", "+13125550102", ""),
        ("Los Angeles", "+14155550103", ""),
        ("Idaho split", "+12085550104", ""),
        ("Own zone", "+14155550105", "America/New_York"),
        ("Phoenix", "+16025550106", ""),
        ("Honolulu", "+18085550107", ""),
        ("London", "+14155550108", "Europe/London"),
        ("Tokyo", "+14155550109", "Asia/Tokyo"),
    ];
    let mut csv = String::from("name,phone,tz\n");
    for (name, phone, tz) in leads {
        csv.push_str(&format!("{name},{phone},{tz}\n"));
    }
    let report = import(api, &id, &csv).await;
    assert_eq!(report["imported"], 9, "{report}");
    let by_name = |page: &Value, name: &str| -> Value {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .cloned()
            .unwrap()
    };
    let (_, page) = api.get(&format!("/api/campaigns/{id}/leads")).await;
    let la = by_name(&page, "Los Angeles");
    assert_eq!(la["zones"], json!(["America/Los_Angeles"]), "{la}");
    assert_eq!(la["zone_source"], "number");
    assert_eq!(la["waiting_for_local_hours"], true);
    assert_eq!(
        la["local_hours_open_at"], "2026-01-15T17:00:00.000Z",
        "09:00 in Los Angeles: {la}"
    );
    let split = by_name(&page, "Idaho split");
    assert_eq!(
        split["zones"],
        json!(["America/Boise", "America/Los_Angeles"]),
        "{split}"
    );
    let own = by_name(&page, "Own zone");
    assert_eq!(own["zones"], json!(["America/New_York"]));
    assert_eq!(own["zone_source"], "lead");
    assert_eq!(own["time_zone"], "America/New_York");

    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    let name_of = |phone: &str| leads.iter().find(|l| l.1 == phone).unwrap().0;
    let dialed = || -> Vec<&str> {
        let mut d: Vec<&str> = w.twilio.dials().iter().map(|d| name_of(&d.to)).collect();
        d.sort_unstable();
        d
    };
    // Each step: the time, and everyone whose hours are open by then (in all their zones).
    let steps: [(&str, &[&str]); 8] = [
        // London 12:00; New York 07:00.
        ("2026-01-15T12:00:00Z", &["London"]),
        // New York 09:00: the lead in New York by its own column too (its number is in LA).
        ("2026-01-15T14:00:00Z", &["London", "New York", "Own zone"]),
        // Chicago 09:00.
        (
            "2026-01-15T15:00:00Z",
            &["Chicago", "London", "New York", "Own zone"],
        ),
        // Phoenix and Boise 09:00, but the split number's Pacific half is at 08:00.
        (
            "2026-01-15T16:00:00Z",
            &["Chicago", "London", "New York", "Own zone", "Phoenix"],
        ),
        // Los Angeles 09:00: the split number's zones are all open now.
        (
            "2026-01-15T17:00:00Z",
            &[
                "Chicago",
                "Idaho split",
                "London",
                "Los Angeles",
                "New York",
                "Own zone",
                "Phoenix",
            ],
        ),
        // Honolulu 08:59: the floor and the window are still closed there.
        (
            "2026-01-15T18:59:00Z",
            &[
                "Chicago",
                "Idaho split",
                "London",
                "Los Angeles",
                "New York",
                "Own zone",
                "Phoenix",
            ],
        ),
        // Honolulu 09:00. Tokyo is at 04:00 the next day.
        (
            "2026-01-15T19:00:00Z",
            &[
                "Chicago",
                "Honolulu",
                "Idaho split",
                "London",
                "Los Angeles",
                "New York",
                "Own zone",
                "Phoenix",
            ],
        ),
        // Past midnight UTC: Friday 09:00 in Tokyo.
        (
            "2026-01-16T00:00:00Z",
            &[
                "Chicago",
                "Honolulu",
                "Idaho split",
                "London",
                "Los Angeles",
                "New York",
                "Own zone",
                "Phoenix",
                "Tokyo",
            ],
        ),
    ];
    for (at, expected) in steps {
        *clock.0.lock().unwrap() = Timestamp::parse(at).unwrap();
        wait_until(&format!("{expected:?} dialed at {at}"), WAIT, || {
            dialed().len() >= expected.len()
        })
        .await;
        // The dialer looks again at least every second: two seconds more would show anyone
        // dialed outside their hours.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(dialed(), expected.to_vec(), "at {at}");
    }
    wait_for_status(api, &id, "completed", WAIT).await;
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

/// The calling-hours floor: 08:00–21:00 unless narrowed in Settings; a campaign window wider
/// than it, and a floor wider than the law, are refused with the limit named.
#[tokio::test]
async fn windows_wider_than_the_calling_hours_floor_are_refused() {
    let w = World::start().await;
    let api = &w.engine.api;
    let (_, s) = api.get("/api/settings").await;
    assert_eq!(
        s["calling_hours"],
        json!({"start": "08:00", "end": "21:00"})
    );
    let window = |start: &str, end: &str| {
        json!({"name": "Early", "settings": settings(json!({"window": {
            "start": start, "end": end, "time_zone": "America/Chicago", "days": []}}))})
    };
    let (s, body) = api.post("/api/campaigns", window("07:30", "17:00")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "window.start");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("between 08:00 and 21:00"), "{message}");
    let (s, body) = api.post("/api/campaigns", window("20:00", "02:00")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "window.end");
    let (_, list) = api.get("/api/campaigns").await;
    assert_eq!(list, json!([]), "nothing was created");

    // The floor may be narrowed, never widened.
    let (s, body) = api
        .put(
            "/api/settings",
            json!({"calling_hours": {"start": "07:00", "end": "21:00"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "calling_hours.start");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("08:00"),
        "{body}"
    );
    let (s, body) = api
        .put(
            "/api/settings",
            json!({"calling_hours": {"start": "09:00", "end": "20:00"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body["calling_hours"],
        json!({"start": "09:00", "end": "20:00"})
    );
    // A window fitting the old floor but not the narrowed one is refused now, on update too.
    let (s, body) = api.post("/api/campaigns", window("08:30", "17:00")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("between 09:00 and 20:00"),
        "{body}"
    );
    let id = campaign(api, window("09:00", "17:00")).await;
    let (s, body) = api
        .put(&format!("/api/campaigns/{id}"), window("09:00", "20:30"))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "window.end");
    let (_, c) = api.get(&format!("/api/campaigns/{id}")).await;
    assert_eq!(c["settings"]["window"]["end"], "17:00", "unchanged");
    let (s, body) = api
        .put("/api/settings", json!({"calling_hours": null}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body["calling_hours"],
        json!({"start": "08:00", "end": "21:00"})
    );
}

/// A single call may ask for answering-machine detection: the dial carries Twilio's
/// parameters, and a machine answering ends the call by the policy given (hang up).
#[tokio::test]
async fn a_single_call_with_machine_detection_hangs_up_on_a_machine() {
    let w = World::start().await;
    let api = &w.engine.api;
    let a = agent(api, "Caller", 2, "").await;
    let (person, machine) = ("+14155550198", "+14155550199");
    w.twilio.script(
        machine,
        Script::Voicemail {
            talk: Duration::from_secs(30),
        },
    );
    w.twilio.script(
        person,
        Script::Answer {
            talk: Duration::from_millis(200),
        },
    );
    // Without the option, no detection is asked for.
    let (s, plain) = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": person, "agent_id": a}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{plain}");
    // A message to leave must be there.
    let (s, body) = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": machine, "agent_id": a,
                   "machine_detection": {"action": "leave_message", "message": " "}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "machine_detection.message");
    let (s, call) = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": machine, "agent_id": a,
                   "machine_detection": {"action": "hang_up"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{call}");
    let dials = w.twilio.dials();
    assert_eq!(dials.len(), 2, "the refused request dialed nothing");
    assert!(!dials[0].machine_detection);
    assert!(
        dials[1].machine_detection,
        "MachineDetection and its callback"
    );
    // The machine would talk for 30 s; it is hung up on as soon as it is detected.
    let id = call["id"].as_str().unwrap();
    let ended = wait_for(
        api,
        &format!("/api/calls/{id}"),
        "status",
        "completed",
        WAIT,
    )
    .await;
    assert_eq!(ended["answered_by"], "machine_start", "{ended}");
    wait_until("hung up at the carrier", WAIT, || w.twilio.up_now() == 0).await;
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
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
    // Names are unique, on create and on rename.
    let (s, body) = api.post("/api/campaigns", json!({"name": "Empty"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "duplicate_name", "{body}");
    let other = campaign(api, json!({"name": "Other"})).await;
    let (s, body) = api
        .put(&format!("/api/campaigns/{other}"), json!({"name": "Empty"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "duplicate_name", "{body}");
    let (_, kept) = api.get(&format!("/api/campaigns/{other}")).await;
    assert_eq!(kept["name"], "Other", "the rename changed nothing");
}

/// The issue's own check: random outcomes, a SIGKILL mid-campaign, a restart, and every
/// judgement made from the simulator's log of what it was asked to do.
#[tokio::test]
async fn a_campaign_with_random_outcomes_survives_sigkill_and_restart_without_dialing_anyone_twice()
{
    let seed = std::env::var("SWITCHBOARD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("outcomes drawn with SWITCHBOARD_TEST_SEED={seed}");
    let tmp = tempfile::tempdir().unwrap();
    let twilio = TwilioCalls::start(PUBLIC, "http://unset").await;
    twilio.randomize(seed);
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
    let a = agent(&api, "A", 3, "").await;
    let b = agent(&api, "B", 2, "").await;
    let number = number(&api, None).await;
    let n = 60;
    let max_attempts = 3;
    let id = campaign(
        &api,
        json!({"name": "Crash", "agents": [{"agent_id": a}, {"agent_id": b, "primary": false}],
               "number_ids": [number],
               "settings": settings(json!({"calls_per_second": 25.0, "max_concurrent_calls": 4,
                   "retry": {"retry_on": ["busy", "no_answer", "failed"],
                             "max_attempts": max_attempts, "delay_secs": 0}}))}),
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
    let done = wait_for_status(&api, &id, "completed", Duration::from_secs(90)).await;
    assert!(
        at_kill < twilio.dials().len(),
        "the kill came mid-campaign ({at_kill} dialed before it)"
    );

    // Per lead, from the simulator's log: the outcomes of its dials in order. A dial the
    // carrier refused while the engine was dying is, once the engine is back, a call the
    // carrier never placed: its attempt is given back, and only such a dial may be.
    let mut by_lead: HashMap<String, Vec<Script>> = HashMap::new();
    let mut given_back = 0;
    for (i, d) in twilio.dials().into_iter().enumerate() {
        let (_, call) = api.get(&format!("/api/calls/{}", d.call_id)).await;
        let cause = call["hangup_cause"].as_str().unwrap_or_default();
        if cause.starts_with("never placed") {
            assert!(
                d.script == Script::Refuse && i < at_kill,
                "only a refusal in flight at the kill is not placed: dial {i} of {at_kill}, \
                 {:?}, {call}",
                d.script
            );
            given_back += 1;
            continue;
        }
        by_lead.entry(d.to).or_default().push(d.script);
    }
    assert!(given_back <= 4, "{given_back} dials in flight at the kill");
    assert_eq!(by_lead.len(), n, "every lead was dialed: none lost");
    let retried = |s: &Script| {
        matches!(
            s,
            Script::Busy | Script::NoAnswer | Script::Fail | Script::Refuse
        )
    };
    let (_, page) = api
        .get(&format!("/api/campaigns/{id}/leads?limit=500"))
        .await;
    let leads: HashMap<String, Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["phone"].as_str().unwrap().to_owned(), l.clone()))
        .collect();
    for (phone, dials) in &by_lead {
        let (last, before) = dials.split_last().unwrap();
        assert!(
            dials.len() <= max_attempts && before.iter().all(retried),
            "{phone} was dialed again after an outcome that does not retry, or too often: {dials:?}"
        );
        assert!(
            !retried(last) || dials.len() == max_attempts,
            "{phone} was given up before its attempts ran out: {dials:?}"
        );
        let lead = &leads[phone];
        assert_eq!(
            lead["attempts"],
            dials.len(),
            "{phone}: {lead} vs {dials:?}"
        );
        let (status, outcome) = match last {
            Script::Answer { .. } => ("done", "answered"),
            Script::Busy => ("failed", "busy"),
            Script::NoAnswer => ("failed", "no_answer"),
            Script::Voicemail { .. } => ("failed", "voicemail"),
            Script::Fail | Script::Refuse => ("failed", "failed"),
        };
        assert_eq!(lead["status"], status, "{phone}: {lead} vs {dials:?}");
        assert_eq!(
            lead["last_outcome"], outcome,
            "{phone}: {lead} vs {dials:?}"
        );
    }
    assert!(
        twilio.max_up() <= 4,
        "campaign limit broken across the restart: {}",
        twilio.max_up()
    );
    let per_agent = twilio.max_up_per_agent();
    assert!(per_agent[&a] <= 3, "{per_agent:?}");
    assert!(
        per_agent.get(&b).copied().unwrap_or(0) <= 2,
        "{per_agent:?}"
    );
    assert_eq!(done["progress"]["leads"]["total"], n);
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
    let _media = w
        .stream(&dial.carrier_call_id, &dial.call_id, &dial.agent_id)
        .await;
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
    let w = TelnyxWorld::start().await;
    let (api, telnyx) = (&w.engine.api, &w.telnyx);
    let a = agent(api, "A", 2, "").await;
    telnyx.default_script(Script::Answer {
        talk: Duration::from_secs(30),
    });
    let request = json!({"from_number_id": w.number, "to": "+14155550199", "agent_id": a});

    // Telnyx places calls on a Call Control application: without its id, nothing is dialed.
    let (s, body) = api
        .put("/api/settings", json!({"telnyx_connection_id": null}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
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
            json!({"telnyx_connection_id": TELNYX_CONNECTION_ID}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["telnyx_connection_id"], TELNYX_CONNECTION_ID);

    let (s, call) = api.post("/api/calls/outbound", request).await;
    assert_eq!(s, StatusCode::CREATED, "{call}");
    let id = call["id"].as_str().unwrap();
    let dials = telnyx.dials();
    assert_eq!(dials.len(), 1, "{:?}", telnyx.violations());
    assert_eq!(
        dials[0].call_id, id,
        "our call id rides along as client state"
    );
    assert_eq!(dials[0].agent_id, a);
    let dial = &telnyx.commands()[0];
    assert_eq!(dial.action, "dial");
    let b = &dial.body;
    assert_eq!(b["connection_id"], TELNYX_CONNECTION_ID);
    assert_eq!(b["to"], "+14155550199");
    assert_eq!(b["from"], OUR_NUMBER);
    assert_eq!(b["stream_url"], "wss://sb.example.test/media/telnyx");
    assert_eq!(b["stream_bidirectional_mode"], "rtp");
    assert_eq!(b["stream_bidirectional_codec"], "PCMU");
    let state = base64::engine::general_purpose::STANDARD.encode(id);
    assert_eq!(b["client_state"], state.as_str());
    assert_eq!(call["carrier_call_id"], dials[0].carrier_call_id.as_str());

    // Telnyx's signed report of the answer finds the call.
    wait_for(
        api,
        &format!("/api/calls/{id}"),
        "status",
        "in_progress",
        WAIT,
    )
    .await;
    assert!(telnyx.violations().is_empty(), "{:?}", telnyx.violations());
}

#[tokio::test]
async fn calls_whose_end_reports_are_lost_are_asked_about_and_free_their_slots() {
    let clock = Arc::new(TestClock(Mutex::new(
        Timestamp::parse("2026-03-02T15:00:00Z").unwrap(),
    )));
    let w = World::start_with_clock(Some(clock.clone())).await;
    let (_, done) = lost_reports_campaign(&w.engine.api, &w.twilio, &w.number, &clock).await;
    // Twilio says how each call ended.
    assert_eq!(done["progress"]["leads"]["done"], 3, "{done}");
}

#[tokio::test]
async fn on_an_answering_machine_the_agent_leaves_the_campaigns_message_then_hangs_up() {
    let w = World::start_with(None, message_voice()).await;
    let api = &w.engine.api;
    let (id, dial) = voicemail_campaign(api, &w.twilio, &w.number).await;
    let media = w
        .stream(&dial.carrier_call_id, &dial.call_id, &dial.agent_id)
        .await;
    let call = message_left(api, &w.realtime, &media, &id, &dial.call_id).await;
    assert_eq!(call["answered_by"], "machine_start");
    assert_eq!(w.twilio.up_now(), 0, "hung up at the carrier");
}

// =============================================================================================
// Telnyx: the same dialer through Telnyx Call Control (tests/common/telnyx_calls.rs), whose
// signed webhooks report each call and whose AMD says who answered.
// =============================================================================================

struct TelnyxWorld {
    engine: TestEngine,
    telnyx: TelnyxCalls,
    realtime: FakeRealtime,
    /// A Telnyx number of ours, no outbound agent.
    number: String,
    _tmp: tempfile::TempDir,
}

impl TelnyxWorld {
    async fn start() -> Self {
        Self::start_with(None, Voice::new()).await
    }

    /// An engine with Telnyx's API key and webhook key as credentials, its Call Control
    /// application set, and the simulator's webhooks reaching it.
    async fn start_with(clock: Option<Arc<TestClock>>, voice: Voice) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let realtime = FakeRealtime::start(voice).await;
        let telnyx = TelnyxCalls::start().await;
        let engine = engine_with(tmp.path(), clock, &realtime, |cfg| {
            cfg.telnyx_api_url = telnyx.base.clone();
            cfg.credential_env.extend([
                ("TELNYX_API_KEY".into(), TELNYX_API_KEY.into()),
                ("TELNYX_PUBLIC_KEY".into(), telnyx.public_key_b64()),
            ]);
        })
        .await;
        telnyx.deliver_to(&engine.public_url());
        telnyx.agents_from(&engine.api);
        let settings =
            json!({"public_base_url": PUBLIC, "telnyx_connection_id": TELNYX_CONNECTION_ID});
        let (s, body) = engine.api.put("/api/settings", settings).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, n) = engine
            .api
            .post(
                "/api/phone-numbers",
                json!({"number": OUR_NUMBER, "carrier": "telnyx"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        Self {
            engine,
            telnyx,
            realtime,
            number: n["id"].as_str().unwrap().to_owned(),
            _tmp: tmp,
        }
    }
}

/// Each lead's last outcome, by phone number.
async fn outcomes_by_phone(api: &Api, campaign_id: &str) -> HashMap<String, String> {
    let (s, page) = api
        .get(&format!("/api/campaigns/{campaign_id}/leads?limit=500"))
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let outcome = l["last_outcome"].as_str().unwrap_or("none");
            (l["phone"].as_str().unwrap().to_owned(), outcome.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn a_telnyx_campaign_with_mixed_outcomes_keeps_its_limits_and_retries_as_configured() {
    let w = TelnyxWorld::start().await;
    let expected = mixed_outcome_campaign(&w.engine.api, &w.telnyx, &w.number).await;
    // Machines, and only machines, were hung up through Telnyx's hangup command.
    for d in w.telnyx.dials() {
        let machine = expected[&d.to] == "voicemail";
        assert_eq!(
            w.telnyx.hangups_of(&d.carrier_call_id),
            usize::from(machine),
            "hangup commands for {} ({})",
            d.to,
            expected[&d.to]
        );
    }
}

#[tokio::test]
async fn a_telnyx_answering_machine_is_hung_up_through_the_hangup_command() {
    let w = TelnyxWorld::start().await;
    let api = &w.engine.api;
    let a = agent(api, "A", 2, "").await;
    let (person, machine) = (lead_phone(0), lead_phone(1));
    w.telnyx.script(
        &person,
        Script::Answer {
            talk: Duration::from_millis(300),
        },
    );
    w.telnyx.script(
        &machine,
        Script::Voicemail {
            talk: Duration::from_secs(30),
        },
    );
    let id = campaign(
        api,
        json!({"name": "AMD", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({"voicemail": {"action": "hang_up"}}))}),
    )
    .await;
    import(api, &id, &leads_csv(2)).await;
    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    // Had the machine not been hung up on, its call would hold the campaign for 30 s.
    wait_for_status(api, &id, "completed", WAIT).await;

    let dials = w.telnyx.dials();
    let dial_to = |to: &str| dials.iter().find(|d| d.to == to).unwrap().clone();
    let (p, m) = (dial_to(&person), dial_to(&machine));
    for d in [&p, &m] {
        let (_, c) = api.get(&format!("/api/calls/{}", d.call_id)).await;
        assert_eq!(
            c["carrier_call_id"],
            d.carrier_call_id.as_str(),
            "the dialed call"
        );
    }
    let body = w
        .telnyx
        .commands()
        .into_iter()
        .find(|c| c.action == "dial" && c.body["to"] == machine.as_str())
        .unwrap()
        .body;
    assert_eq!(
        body["answering_machine_detection"], "detect",
        "campaign calls ask Telnyx who answers"
    );
    assert_eq!(w.telnyx.hangups_of(&m.carrier_call_id), 1);
    assert_eq!(
        w.telnyx.hangups_of(&p.carrier_call_id),
        0,
        "a person is not hung up on"
    );
    assert_eq!(w.telnyx.up_now(), 0);
    let (_, mc) = api.get(&format!("/api/calls/{}", m.call_id)).await;
    assert_eq!(mc["answered_by"], "machine", "{mc}");
    assert_eq!(mc["status"], "completed", "{mc}");
    let (_, pc) = api.get(&format!("/api/calls/{}", p.call_id)).await;
    assert_eq!(pc["answered_by"], "human", "{pc}");
    let outcomes = outcomes_by_phone(api, &id).await;
    assert_eq!(outcomes[&machine], "voicemail");
    assert_eq!(outcomes[&person], "answered");
    assert!(
        w.telnyx.violations().is_empty(),
        "{:?}",
        w.telnyx.violations()
    );
}

#[tokio::test]
async fn on_a_telnyx_answering_machine_the_agent_leaves_the_campaigns_message_then_hangs_up() {
    use base64::Engine as _;
    let w = TelnyxWorld::start_with(None, message_voice()).await;
    let api = &w.engine.api;
    let (id, dial) = voicemail_campaign(api, &w.telnyx, &w.number).await;
    // Telnyx opens the dial's stream with the dial's client state in `start`.
    let state = base64::engine::general_purpose::STANDARD.encode(&dial.call_id);
    let media = TelnyxMedia::connect(
        &format!(
            "{}/media/telnyx",
            w.engine.public_url().replacen("http", "ws", 1)
        ),
        &dial.carrier_call_id,
        Some(&state),
        &[],
    )
    .await
    .unwrap();
    let call = message_left(api, &w.realtime, &media, &id, &dial.call_id).await;
    assert_eq!(call["answered_by"], "machine");
    wait_until("the hangup at Telnyx", WAIT, || w.telnyx.up_now() == 0).await;
    assert_eq!(
        w.telnyx.hangups_of(&dial.carrier_call_id),
        1,
        "hung up through the hangup command"
    );
    assert!(
        w.telnyx.violations().is_empty(),
        "{:?}",
        w.telnyx.violations()
    );
}

#[tokio::test]
async fn telnyx_calls_whose_end_reports_are_lost_are_asked_about_and_free_their_slots() {
    let clock = Arc::new(TestClock(Mutex::new(
        Timestamp::parse("2026-03-02T15:00:00Z").unwrap(),
    )));
    let w = TelnyxWorld::start_with(Some(clock.clone()), Voice::new()).await;
    let api = &w.engine.api;
    let (id, done) = lost_reports_campaign(api, &w.telnyx, &w.number, &clock).await;
    // Telnyx says only that the calls are no longer alive, not how they went: those two
    // leads end unknown, never redialed.
    assert_eq!(done["progress"]["leads"]["done"], 1, "{done}");
    let outcomes = outcomes_by_phone(api, &id).await;
    assert_eq!(outcomes[&lead_phone(0)], "unknown", "{outcomes:?}");
    assert_eq!(outcomes[&lead_phone(1)], "unknown", "{outcomes:?}");
    assert_eq!(outcomes[&lead_phone(2)], "answered", "{outcomes:?}");
}

#[tokio::test]
async fn a_telnyx_call_seen_answered_whose_end_report_is_lost_ends_completed() {
    let clock = Arc::new(TestClock(Mutex::new(
        Timestamp::parse("2026-03-02T15:00:00Z").unwrap(),
    )));
    let w = TelnyxWorld::start_with(Some(clock.clone()), Voice::new()).await;
    let api = &w.engine.api;
    let a = agent(api, "A", 5, "").await;
    w.telnyx.default_script(Script::Answer {
        talk: Duration::from_millis(300),
    });
    w.telnyx.mute_ends(true);
    let id = campaign(
        api,
        json!({"name": "Lost ends", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({}))}),
    )
    .await;
    import(api, &id, &leads_csv_in(1, "America/New_York")).await;
    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    wait_until("the dial", WAIT, || w.telnyx.dials().len() == 1).await;
    let call_id = w.telnyx.dials()[0].call_id.clone();
    wait_for(
        api,
        &format!("/api/calls/{call_id}"),
        "status",
        "in_progress",
        WAIT,
    )
    .await;
    wait_until("the call over at Telnyx", WAIT, || w.telnyx.up_now() == 0).await;
    // Telnyx says only that the call is gone; the engine saw it answered, so it ran.
    *clock.0.lock().unwrap() = Timestamp::parse("2026-03-02T15:02:30Z").unwrap();
    let done = wait_for_status(api, &id, "completed", WAIT).await;
    assert_eq!(done["progress"]["leads"]["done"], 1, "{done}");
    let outcomes = outcomes_by_phone(api, &id).await;
    assert_eq!(outcomes[&lead_phone(0)], "answered", "{outcomes:?}");
    let (_, call) = api.get(&format!("/api/calls/{call_id}")).await;
    assert_eq!(call["status"], "completed", "{call}");
    assert_eq!(w.telnyx.dials().len(), 1, "{:?}", w.telnyx.dials());
}

// =============================================================================================
// Scenarios both carriers play: the dialer is carrier-agnostic, and each carrier's simulator
// keeps the same log (tests/common/dialing.rs) to judge it by.
// =============================================================================================

/// Forty leads with every outcome (answered, busy, no answer, a machine, a failure, a dial
/// refused), two agents under primary-first selection and a campaign limit that both bind,
/// retries for busy and unanswered leads. Judged from the carrier's log: limits, attempts per
/// lead, nothing left up; then each lead's outcome. Returns the expected outcome by phone.
async fn mixed_outcome_campaign(api: &Api, sim: &Ledger, number: &str) -> HashMap<String, String> {
    // Primary first: A would take every call but for its own limit, and A and B together
    // could take five but for the campaign's four.
    let a = agent(api, "A", 2, "").await;
    let b = agent(api, "B", 3, "").await;
    sim.ring_for(Duration::from_millis(30));
    let n = 40;
    // Outcomes by lead, deterministic but mixed. Answered calls last long enough for the
    // limits to bind; a machine would talk for half a minute if nobody hung up on it.
    let (mut expected_dials, mut expected_outcomes) = (BTreeMap::new(), HashMap::new());
    for i in 0..n {
        let (script, dials, outcome) = match i % 6 {
            0 | 1 => (
                Script::Answer {
                    talk: Duration::from_secs(1),
                },
                1,
                "answered",
            ),
            2 => (Script::Busy, 3, "busy"),
            3 => (Script::NoAnswer, 3, "no_answer"),
            4 => (
                Script::Voicemail {
                    talk: Duration::from_secs(30),
                },
                1,
                "voicemail",
            ),
            // The carrier refuses half of these dials outright; the others ring, then fail.
            _ if i % 12 == 5 => (Script::Refuse, 1, "failed"),
            _ => (Script::Fail, 1, "failed"),
        };
        sim.script(&lead_phone(i), script);
        expected_dials.insert(lead_phone(i), dials);
        expected_outcomes.insert(lead_phone(i), outcome.to_owned());
    }
    let id = campaign(
        api,
        json!({"name": "Mixed", "agents": [{"agent_id": a}, {"agent_id": b, "primary": false}],
               "number_ids": [number],
               "settings": settings(json!({"max_concurrent_calls": 4, "calls_per_second": 40.0,
                   "retry": {"retry_on": ["busy", "no_answer"], "max_attempts": 3, "delay_secs": 0},
                   "default_region": "US"}))}),
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
        sim.max_up() <= 4,
        "the campaign's limit is 4, the carrier had {} calls up at once",
        sim.max_up()
    );
    let per_agent = sim.max_up_per_agent();
    assert!(
        per_agent.keys().all(|k| *k == a || *k == b),
        "every dial was for one of the campaign's agents: {per_agent:?}"
    );
    assert!(
        per_agent[&a] <= 2,
        "A takes 2 calls at most, had {}",
        per_agent[&a]
    );
    let b_most = per_agent.get(&b).copied().unwrap_or(0);
    assert!(b_most <= 3, "B takes 3 calls at most, had {b_most}");
    assert_eq!(
        sim.dials_per_number()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        expected_dials,
        "busy and unanswered leads get three attempts, everyone else one"
    );
    assert_eq!(sim.up_now(), 0, "no call is left up at the carrier");
    let leads = &done["progress"]["leads"];
    assert_eq!(leads["total"], n);
    assert_eq!(leads["pending"], 0);
    assert_eq!(leads["dialing"], 0);
    // Answered: 14 done; busy/no-answer out of attempts, voicemail and failures: failed.
    assert_eq!(leads["done"], 14, "{leads}");
    assert_eq!(leads["failed"], n - 14, "{leads}");
    assert_eq!(
        outcomes_by_phone(api, &id).await,
        expected_outcomes,
        "each lead's last outcome is what the carrier reported of its last call"
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    campaign_funnel_matches_its_calls(api, &id, expected_dials.values().sum(), 6).await;
    expected_outcomes
}

/// The campaign's funnel (from the overview's rollup) against its calls as the call log lists
/// them one by one, and against the dials the carrier saw.
async fn campaign_funnel_matches_its_calls(api: &Api, id: &str, dials: usize, machines: i64) {
    let (s, page) = api.get("/api/calls?limit=500").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let calls: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["campaign_id"] == id)
        .collect();
    let count = |f: &dyn Fn(&Value) -> bool| calls.iter().filter(|c| f(c)).count() as i64;
    let (s, funnel) = api.get(&format!("/api/campaigns/{id}/funnel")).await;
    assert_eq!(s, StatusCode::OK, "{funnel}");
    assert_eq!(
        funnel["dialed"], dials as i64,
        "one call per dial: {funnel}"
    );
    assert_eq!(funnel["dialed"], calls.len() as i64);
    assert_eq!(funnel["answered"], count(&|c| !c["answered_at"].is_null()));
    assert_eq!(funnel["voicemail"], machines, "{funnel}");
    assert_eq!(
        funnel["completed"],
        count(&|c| c["status"] == "completed"),
        "{funnel}"
    );
    assert_eq!(funnel["goal_met"], 0, "no agent has analysis on");
}

/// Three leads, two at a time, and every report of the first two calls lost: the third lead
/// waits while the engine counts both live, until, two minutes on by the campaign clock, it
/// asks the carrier about them. Returns the campaign id and the completed campaign.
async fn lost_reports_campaign(
    api: &Api,
    sim: &Ledger,
    number: &str,
    clock: &TestClock,
) -> (String, Value) {
    let a = agent(api, "A", 5, "").await;
    sim.default_script(Script::Answer {
        talk: Duration::from_millis(100),
    });
    sim.mute(true);
    let id = campaign(
        api,
        json!({"name": "Lost reports", "agents": [{"agent_id": a}], "number_ids": [number],
               "settings": settings(json!({"max_concurrent_calls": 2}))}),
    )
    .await;
    import(api, &id, &leads_csv_in(3, "America/New_York")).await;
    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    wait_until("two dials", WAIT, || sim.dials().len() == 2).await;
    wait_until("both calls over at the carrier", WAIT, || sim.up_now() == 0).await;
    sim.mute(false);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sim.dials().len(),
        2,
        "the engine still counts both calls live, so the third lead waits"
    );
    *clock.0.lock().unwrap() = Timestamp::parse("2026-03-02T15:02:30Z").unwrap();
    let done = wait_for_status(api, &id, "completed", WAIT).await;
    assert_eq!(sim.dials().len(), 3);
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
    (id, done)
}

#[tokio::test]
async fn a_call_the_carrier_no_longer_knows_ends_as_unknown_instead_of_holding_its_lead() {
    let clock = Arc::new(TestClock(Mutex::new(
        Timestamp::parse("2026-03-02T15:00:00Z").unwrap(),
    )));
    let w = World::start_with_clock(Some(clock.clone())).await;
    let api = &w.engine.api;
    let a = agent(api, "A", 5, "").await;
    w.twilio.mute(true);
    let id = campaign(
        api,
        json!({"name": "Forgotten", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({
                   "retry": {"retry_on": ["busy", "no_answer", "failed"], "max_attempts": 3,
                             "delay_secs": 0}}))}),
    )
    .await;
    import(api, &id, &leads_csv_in(1, "America/New_York")).await;
    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    wait_until("the dial", WAIT, || w.twilio.dials().len() == 1).await;
    wait_until("the call over at the carrier", WAIT, || {
        w.twilio.up_now() == 0
    })
    .await;
    // Its reports were lost, and the account now answers 404 for it.
    w.twilio.forget_calls();
    *clock.0.lock().unwrap() = Timestamp::parse("2026-03-02T15:02:30Z").unwrap();
    let done = wait_for_status(api, &id, "completed", WAIT).await;
    assert_eq!(done["progress"]["leads"]["failed"], 1, "{done}");
    let (_, leads) = api.get(&format!("/api/campaigns/{id}/leads")).await;
    let lead = &leads["items"][0];
    assert_eq!(lead["last_outcome"], "unknown", "{lead}");
    assert_eq!(
        w.twilio.dials().len(),
        1,
        "an unknown outcome is never redialed"
    );
    let (_, call) = api
        .get(&format!(
            "/api/calls/{}",
            lead["last_call_id"].as_str().unwrap()
        ))
        .await;
    assert!(
        call["hangup_cause"]
            .as_str()
            .is_some_and(|c| c.contains("no record of the call")),
        "{call}"
    );
}

/// The voice that speaks the campaign's voicemail message.
fn message_voice() -> Voice {
    Voice::new().respond_with_audio(3_200, "Hi, this is Acme about your roof survey.")
}

/// A one-lead campaign whose lead's answering machine takes the call, with the policy of
/// leaving a message. Returns the campaign id and the dial once the carrier has it.
async fn voicemail_campaign(api: &Api, sim: &Ledger, number: &str) -> (String, Dial) {
    let a = agent(api, "A", 2, "").await;
    sim.default_script(Script::Voicemail {
        talk: Duration::from_secs(30),
    });
    let id = campaign(
        api,
        json!({"name": "Voicemail", "agents": [{"agent_id": a}], "number_ids": [number],
               "settings": settings(json!({"voicemail": {"action": "leave_message",
                   "message": "Hi, this is Acme about your roof survey. Call us back."}}))}),
    )
    .await;
    import(api, &id, &leads_csv(1)).await;
    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    wait_until("the dial", WAIT, || sim.dials().len() == 1).await;
    (id, sim.dials()[0].clone())
}

/// Over the call's media stream, the agent speaks the campaign's message (and only once the
/// machine has heard it all does the call end) and the lead's outcome is a voicemail.
/// Returns the ended call.
async fn message_left(
    api: &Api,
    realtime: &FakeRealtime,
    media: &MediaStream,
    campaign_id: &str,
    call_id: &str,
) -> Value {
    media.set_instant_playback(true);
    let say = realtime.wait_for_event("response.create", WAIT).await;
    let instructions = say["response"]["instructions"].as_str().unwrap();
    assert!(
        instructions.contains("answering machine") && instructions.contains("Call us back."),
        "{instructions}"
    );
    media.wait_for_audio_bytes(3_200, WAIT).await;
    let call = wait_for(
        api,
        &format!("/api/calls/{call_id}"),
        "status",
        "completed",
        WAIT,
    )
    .await;
    assert_eq!(
        call["hangup_cause"], "left the campaign's voicemail message",
        "{call}"
    );
    let (_, leads) = api
        .get(&format!("/api/campaigns/{campaign_id}/leads"))
        .await;
    assert_eq!(leads["items"][0]["last_outcome"], "voicemail", "{leads}");
    call
}
