//! LiveKit SIP as a carrier, end to end over loopback: the engine's client against a
//! protocol-exact LiveKit simulator (tokens, grants and bodies checked there), LiveKit's
//! signed webhooks sent to the engine's public listener, and campaigns dialing through a
//! LiveKit number while the simulator plays the calls out, judged from its own log.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::campaigns::{
    TestClock, agent, campaign, import, lead_phone, leads_csv, leads_csv_in, settings, wait_for,
    wait_for_status, wait_until,
};
use common::livekit::{
    API_KEY, API_SECRET, LiveKitSim, Script, now_secs, sign_jwt, webhook_event,
    webhook_sip_participant,
};
use common::{Api, TestEngine, config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::Engine;
use switchboard::carriers::livekit::{self, LiveKitCarrier, LiveKitDial, SipCallStatus};
use switchboard::domain::{Call, CallDirection, CallStatus, Carrier, E164, NewCall, Timestamp};
use switchboard::events::Event;

const CALLEE: &str = "+61412345678";
const CALLER_ID: &str = "+61298765432";

struct World {
    engine: TestEngine,
    sim: LiveKitSim,
    _tmp: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let sim = LiveKitSim::start().await;
        let mut cfg = config(tmp.path());
        cfg.credential_env = sim.credential_env();
        let engine = TestEngine::start_with(cfg).await;
        Self {
            engine,
            sim,
            _tmp: tmp,
        }
    }

    fn engine(&self) -> &Engine {
        &self.engine.running.engine
    }

    /// The LiveKit adapter on the engine's credentials, as the engine builds it.
    fn livekit(&self) -> LiveKitCarrier {
        LiveKitCarrier::new(self.engine().secrets().clone())
    }

    fn webhook_url(&self) -> String {
        format!("{}/webhooks/livekit", self.engine.public_url())
    }

    /// An outbound LiveKit call record whose room is `room`, as the dialer writes it.
    async fn outbound_call(&self, room: &str) -> Call {
        self.engine()
            .store()
            .create_call(NewCall {
                direction: CallDirection::Outbound,
                carrier: Carrier::Livekit,
                carrier_call_id: Some(room.to_owned()),
                from_number: CALLER_ID.into(),
                to_number: CALLEE.into(),
                agent_id: None,
                number_id: None,
                status: CallStatus::Queued,
                started_at: Timestamp::now(),
            })
            .await
            .unwrap()
    }

    async fn call(&self, id: &str) -> Call {
        self.engine().store().get_call(id).await.unwrap()
    }
}

fn dial(room: &str) -> LiveKitDial {
    LiveKitDial {
        room: room.into(),
        trunk_id: "ST_abc123".into(),
        to: E164::parse(CALLEE, None).unwrap(),
        from: E164::parse(CALLER_ID, None).unwrap(),
        participant_identity: "pstn-c_9f1".into(),
        agent_name: "switchboard-agent".into(),
        agent_id: "agt_42".into(),
        campaign_id: Some("cmp_7".into()),
        contact_name: Some("Jane Citizen".into()),
        campaign_prompt: Some("Remind them of Tuesday's appointment.".into()),
    }
}

#[tokio::test]
async fn dial_dispatches_the_agent_then_dials_the_callee_with_one_grant_each() {
    let w = World::start().await;
    let call = w.livekit().dial(&dial("call-c_9f1")).await.unwrap();

    let requests = w.sim.requests();
    let names: Vec<_> = requests
        .iter()
        .map(|r| format!("{}.{}", r.service, r.method))
        .collect();
    assert_eq!(
        names,
        [
            "AgentDispatchService.CreateDispatch",
            "SIP.CreateSIPParticipant"
        ],
        "the agent is dispatched before the phone rings (notes §1)"
    );
    for r in &requests {
        assert_eq!(r.content_type, "application/json", "Twirp JSON");
        assert!(
            r.claims.is_some(),
            "{} carried a token signed with the project secret",
            r.method
        );
    }

    let dispatch = &requests[0];
    let claims = dispatch.claims.as_ref().unwrap();
    assert_eq!(claims["iss"], API_KEY);
    assert_eq!(
        claims["video"],
        json!({"roomAdmin": true, "room": "call-c_9f1"}),
        "dispatch needs room admin on that room only"
    );
    assert_eq!(dispatch.body["agent_name"], "switchboard-agent");
    assert_eq!(dispatch.body["room"], "call-c_9f1");
    let metadata: Value = serde_json::from_str(
        dispatch.body["metadata"]
            .as_str()
            .expect("metadata travels as a JSON string"),
    )
    .unwrap();
    assert_eq!(
        metadata,
        json!({
            "phone_number": CALLEE,
            "agent_id": "agt_42",
            "campaign_id": "cmp_7",
            "contact_name": "Jane Citizen",
            "campaign_prompt": "Remind them of Tuesday's appointment.",
            "trunk_id": "ST_abc123",
        })
    );

    let sip = &requests[1];
    let claims = sip.claims.as_ref().unwrap();
    assert_eq!(
        claims["sip"],
        json!({"call": true}),
        "dialing needs sip.call"
    );
    assert!(
        claims.get("video").is_none(),
        "and no room rights: {claims}"
    );
    assert_eq!(
        sip.body,
        json!({
            "sip_trunk_id": "ST_abc123",
            "sip_call_to": CALLEE,
            "sip_number": CALLER_ID,
            "room_name": "call-c_9f1",
            "participant_identity": "pstn-c_9f1",
            "participant_name": "Jane Citizen",
            "wait_until_answered": false,
        })
    );

    assert_eq!(call.room, "call-c_9f1");
    assert_eq!(call.participant_identity, "pstn-c_9f1");
    assert!(call.participant_id.as_deref().unwrap().starts_with("PA_"));
    assert!(call.sip_call_id.as_deref().unwrap().starts_with("SCL_"));
    assert!(call.dispatch_id.as_deref().unwrap().starts_with("AD_"));
}

#[tokio::test]
async fn a_refused_dial_says_what_livekit_said_and_withdraws_the_dispatch() {
    let w = World::start().await;
    w.sim.fail_next(
        "CreateSIPParticipant",
        "failed_precondition",
        "requested trunk ST_abc123 not found",
        json!({}),
    );
    let err = w.livekit().dial(&dial("call-c_1")).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("requested trunk ST_abc123 not found")
            && text.contains("failed_precondition"),
        "LiveKit's own message reaches the operator: {text}"
    );
    assert_eq!(err.twirp_code(), Some("failed_precondition"));
    assert!(
        !text.contains(API_SECRET) && !text.contains(API_KEY),
        "no credential in errors: {text}"
    );
    assert_eq!(
        w.sim.methods(),
        ["CreateDispatch", "CreateSIPParticipant", "DeleteDispatch"],
        "a 4xx is final (no retry), and the waiting agent is withdrawn"
    );
    let withdraw = &w.sim.requests()[2];
    assert_eq!(withdraw.body["room"], "call-c_1");
    assert!(
        withdraw.body["dispatch_id"]
            .as_str()
            .unwrap()
            .starts_with("AD_")
    );

    // A server error on the dial is not retried either: LiveKit may have placed the call.
    w.sim.fail_next(
        "CreateSIPParticipant",
        "unavailable",
        "sip service down",
        json!({}),
    );
    let err = w.livekit().dial(&dial("call-c_2")).await.unwrap_err();
    assert!(err.to_string().contains("sip service down"), "{err}");
    let dials = w
        .sim
        .methods()
        .into_iter()
        .filter(|m| m == "CreateSIPParticipant")
        .count();
    assert_eq!(dials, 2, "one attempt per dial");

    // A dispatch that fails for a while is retried: it does nothing twice.
    w.sim
        .fail_next("CreateDispatch", "unavailable", "try again", json!({}));
    w.livekit().dial(&dial("call-c_3")).await.unwrap();
    let rooms: Vec<_> = w
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "CreateDispatch" && r.body["room"] == "call-c_3")
        .collect();
    assert_eq!(rooms.len(), 2, "the 503 was retried once, then served");

    // A failed dial with a SIP status says it.
    w.sim.fail_next(
        "CreateSIPParticipant",
        "resource_exhausted",
        "sip call failed",
        json!({"sip_status_code": "486", "sip_status": "Busy Here"}),
    );
    let err = w.livekit().dial(&dial("call-c_4")).await.unwrap_err();
    assert!(err.to_string().contains("SIP 486 Busy Here"), "{err}");
}

#[tokio::test]
async fn status_reads_the_sip_participant_and_hang_up_deletes_the_room() {
    let w = World::start().await;
    let room = "call-c_st";
    assert_eq!(
        w.livekit().call_status(room).await.unwrap(),
        None,
        "no room: nothing live"
    );
    w.livekit().dial(&dial(room)).await.unwrap();
    let status = w
        .livekit()
        .call_status(room)
        .await
        .unwrap()
        .expect("the callee is in the room");
    assert_eq!(status.call_status, Some(SipCallStatus::Dialing));
    assert_eq!(status.participant_identity, "pstn-c_9f1");
    assert!(status.participant_id.starts_with("PA_"));
    assert!(status.joined_at.is_some());
    w.sim.set_call_status(room, "active");
    let status = w.livekit().call_status(room).await.unwrap().unwrap();
    assert_eq!(status.call_status, Some(SipCallStatus::Active));

    w.livekit().hang_up_room(room).await.unwrap();
    let delete = w.sim.requests().pop().unwrap();
    assert_eq!(
        (delete.service.as_str(), delete.method.as_str()),
        ("RoomService", "DeleteRoom")
    );
    assert_eq!(delete.body, json!({"room": room}));
    assert_eq!(
        delete.claims.unwrap()["video"],
        json!({"roomCreate": true}),
        "DeleteRoom is signed with roomCreate (notes §2)"
    );
    assert_eq!(w.sim.sip_participant(room), None);
    assert_eq!(w.livekit().call_status(room).await.unwrap(), None);
    w.livekit()
        .hang_up_room(room)
        .await
        .expect("a room already gone is a call already ended");
}

/// Waits for the next `call_updated` about `id`.
async fn updated(events: &mut switchboard::events::Subscription, id: &str) -> Call {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Event::CallUpdated { call } = &*events.next().await.unwrap()
                && call.id == id
            {
                return call.clone();
            }
        }
    })
    .await
    .expect("the call was updated")
}

#[tokio::test]
async fn signed_webhooks_ring_answer_and_end_the_call_once_each() {
    let w = World::start().await;
    let room = "call-c_wh";
    let call = w.outbound_call(room).await;
    let mut events = w.engine().events().subscribe();
    let t0 = now_secs();
    let participant =
        |status: &str, extra: Value| Some(webhook_sip_participant("pstn-c_wh", status, extra));

    let ringing = webhook_event(
        "participant_joined",
        "EV_ring",
        room,
        t0,
        participant("ringing", json!({})),
        json!({}),
    );
    let (s, _) = w.sim.deliver(&w.webhook_url(), &ringing).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        updated(&mut events, &call.id).await.status,
        CallStatus::Ringing
    );

    let answered = webhook_event(
        "participant_joined",
        "EV_answer",
        room,
        t0 + 4,
        participant("active", json!({})),
        json!({}),
    );
    assert_eq!(
        w.sim.deliver(&w.webhook_url(), &answered).await.0,
        StatusCode::OK
    );
    let after = updated(&mut events, &call.id).await;
    assert_eq!(after.status, CallStatus::InProgress);
    assert_eq!(
        after.answered_at,
        Some(Timestamp::from_millis((t0 + 4) * 1000))
    );

    // The agent worker joining is not the phone call's business.
    let agent = json!({"sid": "PA_agent", "identity": "agent-AJ_1", "state": "ACTIVE",
        "kind": "AGENT", "joinedAt": t0.to_string()});
    let joined = webhook_event(
        "participant_joined",
        "EV_agent",
        room,
        t0 + 1,
        Some(agent),
        json!({}),
    );
    assert_eq!(
        w.sim.deliver(&w.webhook_url(), &joined).await.0,
        StatusCode::OK
    );

    let left = webhook_event(
        "participant_left",
        "EV_left",
        room,
        t0 + 64,
        participant(
            "active",
            json!({"state": "DISCONNECTED", "disconnectReason": "CLIENT_INITIATED"}),
        ),
        json!({}),
    );
    assert_eq!(
        w.sim.deliver(&w.webhook_url(), &left).await.0,
        StatusCode::OK
    );
    let ended = updated(&mut events, &call.id).await;
    assert_eq!(
        ended.status,
        CallStatus::Completed,
        "answered, so completed"
    );
    assert_eq!(
        ended.duration_secs,
        Some(60),
        "from the answer to the hang-up"
    );
    assert_eq!(ended.hangup_cause.as_deref(), Some("client_initiated"));
    assert_eq!(
        ended.answered_at, after.answered_at,
        "the first answer stands"
    );

    // LiveKit retries a delivery it thinks failed: the same event applies once.
    for body in [&left, &answered] {
        let (s, _) = w.sim.deliver(&w.webhook_url(), body).await;
        assert_eq!(s, StatusCode::OK, "a repeat is acknowledged");
    }
    let finished = webhook_event("room_finished", "EV_fin", room, t0 + 90, None, json!({}));
    assert_eq!(
        w.sim.deliver(&w.webhook_url(), &finished).await.0,
        StatusCode::OK
    );
    assert_eq!(
        w.call(&call.id).await,
        ended,
        "nothing after the end changes the record"
    );
    let keys: Vec<(String,)> = switchboard::store::db::query_as(
        "SELECT event_key FROM carrier_events WHERE carrier = 'livekit' ORDER BY event_key",
    )
    .fetch_all(w.engine().store().pool())
    .await
    .unwrap();
    let keys: Vec<_> = keys.into_iter().map(|(k,)| k).collect();
    assert_eq!(
        keys,
        ["EV_answer", "EV_fin", "EV_left", "EV_ring"]
            .map(String::from)
            .to_vec(),
        "each delivery is kept once, by its event id (the agent's join maps to nothing)"
    );
}

#[tokio::test]
async fn an_unanswered_call_ends_with_the_reason_livekit_gives() {
    let w = World::start().await;
    let busy = w.outbound_call("call-c_busy").await;
    let body = webhook_event(
        "participant_left",
        "EV_busy",
        "call-c_busy",
        now_secs(),
        Some(webhook_sip_participant(
            "pstn-c_busy",
            "ringing",
            json!({"state": "DISCONNECTED", "disconnectReason": "USER_REJECTED"}),
        )),
        json!({}),
    );
    assert_eq!(
        w.sim.deliver(&w.webhook_url(), &body).await.0,
        StatusCode::OK
    );
    let call = w.call(&busy.id).await;
    assert_eq!(call.status, CallStatus::Busy);
    assert_eq!(call.hangup_cause.as_deref(), Some("user_rejected"));
    assert_eq!((call.answered_at, call.duration_secs), (None, None));
    assert!(call.ended_at.is_some());

    let missed = w.outbound_call("call-c_missed").await;
    let body = webhook_event(
        "participant_left",
        "EV_missed",
        "call-c_missed",
        now_secs(),
        Some(webhook_sip_participant(
            "pstn-c_missed",
            "ringing",
            json!({"state": "DISCONNECTED", "disconnectReason": "USER_UNAVAILABLE"}),
        )),
        json!({}),
    );
    assert_eq!(
        w.sim.deliver(&w.webhook_url(), &body).await.0,
        StatusCode::OK
    );
    assert_eq!(w.call(&missed.id).await.status, CallStatus::NoAnswer);
}

#[tokio::test]
async fn unsigned_forged_and_tampered_webhooks_are_refused_and_change_nothing() {
    let w = World::start().await;
    let room = "call-c_forged";
    let call = w.outbound_call(room).await;
    let url = w.webhook_url();
    let body = webhook_event(
        "participant_joined",
        "EV_forged",
        room,
        now_secs(),
        Some(webhook_sip_participant(
            "pstn-c_forged",
            "active",
            json!({}),
        )),
        json!({}),
    );
    let hash = |b: &str| {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b))
    };
    let now = now_secs();
    let claims = |iss: &str, sha: String, nbf: i64, exp: i64| json!({"iss": iss, "nbf": nbf, "exp": exp, "sha256": sha});
    let other_body = body.replace("EV_forged", "EV_other");
    let forged = [
        ("no Authorization header", None),
        ("not a JWT", Some("garbage".to_owned())),
        (
            "signed with another secret",
            Some(sign_jwt(
                "not-the-secret",
                &claims(API_KEY, hash(&body), now, now + 300),
            )),
        ),
        (
            "issued by another key",
            Some(sign_jwt(
                API_SECRET,
                &claims("APIstranger", hash(&body), now, now + 300),
            )),
        ),
        (
            "expired",
            Some(sign_jwt(
                API_SECRET,
                &claims(API_KEY, hash(&body), now - 900, now - 600),
            )),
        ),
        (
            "signed for another body (tampered)",
            Some(w.sim.webhook_token(&other_body)),
        ),
        (
            "without a body hash",
            Some(sign_jwt(
                API_SECRET,
                &json!({"iss": API_KEY, "nbf": now, "exp": now + 300}),
            )),
        ),
    ];
    for (why, authorization) in forged {
        let (status, reply) = w
            .sim
            .deliver_with(&url, &body, authorization.as_deref())
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{why}: {reply}");
        assert_eq!(reply["error"]["code"], "forbidden", "{why}");
    }
    assert_eq!(
        w.call(&call.id).await,
        call,
        "a refused webhook changes nothing"
    );

    let (status, reply) = w.sim.deliver(&url, "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    let (status, _) = w.sim.deliver(&url, r#"{"id":"EV_1"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an event names its kind");
    assert_eq!(w.call(&call.id).await, call);

    // A well-signed event for a room that is none of our calls is acknowledged and ignored.
    let stranger = body
        .replace(room, "someone-elses-room")
        .replace("EV_forged", "EV_stranger");
    assert_eq!(w.sim.deliver(&url, &stranger).await.0, StatusCode::OK);
    assert_eq!(w.call(&call.id).await, call);

    // And the genuine delivery goes through.
    assert_eq!(w.sim.deliver(&url, &body).await.0, StatusCode::OK);
    assert_eq!(w.call(&call.id).await.status, CallStatus::InProgress);
}

#[tokio::test]
async fn the_simulator_refuses_a_token_signed_with_another_secret() {
    let w = World::start().await;
    let project =
        livekit::LiveKitProject::new(&w.sim.url, API_KEY, "not-the-project-secret").unwrap();
    let err = livekit::LiveKitClient::new()
        .dial(&project, &dial("call-c_x"))
        .await
        .unwrap_err();
    assert_eq!(err.twirp_code(), Some("unauthenticated"), "{err}");
    assert!(!err.to_string().contains("not-the-project-secret"), "{err}");
    assert_eq!(
        w.sim.methods(),
        ["CreateDispatch"],
        "refused at the first call; nothing was dialed"
    );
}

const PUBLIC: &str = "https://sb.example.test";
/// The LiveKit number: a caller id on an outbound trunk, the trunk its carrier id.
const OUR_NUMBER: &str = "+14155552671";
const TRUNK: &str = "ST_campaigntrunk";
const WAIT: Duration = Duration::from_secs(10);

/// An engine with LiveKit credentials and a public URL, the simulator delivering its
/// webhooks to it, and a LiveKit number.
struct Dialing {
    engine: TestEngine,
    sim: LiveKitSim,
    number: String,
    clock: Option<Arc<TestClock>>,
    tmp: tempfile::TempDir,
}

impl Dialing {
    async fn start(clock: Option<Arc<TestClock>>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let sim = LiveKitSim::start().await;
        let engine = Self::engine(&sim, tmp.path(), clock.clone()).await;
        let (s, body) = engine
            .api
            .put("/api/settings", json!({"public_base_url": PUBLIC}))
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, n) = engine
            .api
            .post(
                "/api/phone-numbers",
                json!({"number": OUR_NUMBER, "carrier": "livekit", "carrier_number_id": TRUNK}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        Self {
            engine,
            sim,
            number: n["id"].as_str().unwrap().to_owned(),
            clock,
            tmp,
        }
    }

    async fn engine(
        sim: &LiveKitSim,
        dir: &std::path::Path,
        clock: Option<Arc<TestClock>>,
    ) -> TestEngine {
        let mut cfg = config(dir);
        cfg.credential_env = sim.credential_env();
        cfg.clock = clock.map(|c| c as switchboard::domain::SharedClock);
        let engine = TestEngine::start_with(cfg).await;
        sim.deliver_to(&format!("{}/webhooks/livekit", engine.public_url()));
        engine
    }

    /// Stops the engine and starts a new one on the same data directory, while `meanwhile`
    /// happens at LiveKit with no webhook reaching anyone.
    async fn restart(self, meanwhile: impl AsyncFnOnce(&LiveKitSim)) -> Self {
        self.sim.mute(true);
        self.engine.stop().await;
        meanwhile(&self.sim).await;
        let engine = Self::engine(&self.sim, self.tmp.path(), self.clock.clone()).await;
        self.sim.mute(false);
        Self { engine, ..self }
    }

    fn api(&self) -> &Api {
        &self.engine.api
    }

    /// The call record of a dial.
    async fn call_of(&self, room: &str) -> Value {
        let (s, call) = self.api().get(&call_path(room)).await;
        assert_eq!(s, StatusCode::OK, "{call}");
        call
    }

    /// Waits until the call of the dial in `room` has `status`.
    async fn wait_for_call(&self, room: &str, status: &str) -> Value {
        wait_for(self.api(), &call_path(room), "status", status, WAIT).await
    }

    /// Creates a campaign on the LiveKit number (`body` without `number_ids`), imports `leads`
    /// leads and starts it; its id.
    async fn start_campaign(&self, mut body: Value, leads: usize) -> String {
        body["number_ids"] = json!([self.number]);
        let id = campaign(self.api(), body).await;
        // On a test clock (set in New York's office hours), the leads live in New York.
        let csv = match self.clock {
            Some(_) => leads_csv_in(leads, "America/New_York"),
            None => leads_csv(leads),
        };
        assert_eq!(import(self.api(), &id, &csv).await["imported"], leads);
        let (s, started) = self
            .api()
            .post(&format!("/api/campaigns/{id}/start"), json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{started}");
        id
    }

    /// Every webhook the simulator sent was taken (signed right, about a known shape).
    fn assert_webhooks_accepted(&self) {
        let refused = self.sim.webhook_refusals();
        assert!(refused.is_empty(), "the engine refused {refused:?}");
    }

    /// The rooms the engine asked LiveKit about (`ListParticipants`), in order.
    fn asked_about(&self) -> Vec<String> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.method == "ListParticipants")
            .map(|r| r.body["room"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// The API path of the call a dial's room is named after (`call-{call id}`).
fn call_path(room: &str) -> String {
    let id = room
        .strip_prefix("call-")
        .expect("rooms are named after calls");
    format!("/api/calls/{id}")
}

#[tokio::test]
async fn a_campaign_on_a_livekit_number_keeps_its_limits_and_retries_as_configured() {
    let w = Dialing::start(None).await;
    let api = w.api();
    let ava = agent(api, "Ava", 2, "").await;
    let ben = agent(api, "Ben", 3, "").await;
    w.sim.ring_for(Duration::from_millis(30));
    // LiveKit's word that the phone rings arrives before its answer to the dial.
    w.sim.answer_dials_after(Duration::from_millis(50));
    let n = 30;
    // Outcomes by lead, deterministic but mixed, with the dials each lead should get.
    let talk = Duration::from_millis(400);
    let mix = [
        (Script::Answer { talk }, 1),
        (Script::Answer { talk }, 1),
        (Script::Busy, 3),
        (Script::NoAnswer, 3),
        (Script::Fail, 1),
        (Script::Refuse, 1),
    ];
    let expected_dials: HashMap<String, usize> = (0..n)
        .map(|i| {
            let (script, dials) = mix[i % mix.len()];
            w.sim.script(&lead_phone(i), script);
            (lead_phone(i), dials)
        })
        .collect();
    let id = w
        .start_campaign(
            json!({"name": "Spring service", "agents": [{"agent_id": ava},
                       {"agent_id": ben, "primary": false}],
                   "prompt": "Remind {name} of the spring service; the invoice goes to {email}.",
                   "settings": settings(json!({"max_concurrent_calls": 4,
                       "calls_per_second": 100.0, "strategy": "primary_first",
                       "retry": {"retry_on": ["busy", "no_answer"], "max_attempts": 3,
                                 "delay_secs": 0}}))}),
            n,
        )
        .await;
    let done = wait_for_status(api, &id, "completed", Duration::from_secs(60)).await;

    // Judged from the simulator's own log.
    assert!(
        w.sim.max_up() <= 4,
        "campaign limit broken at LiveKit: {}",
        w.sim.max_up()
    );
    let per_agent = w.sim.max_up_per_agent();
    assert!(
        per_agent.get(&ava).copied().unwrap_or(0) <= 2,
        "{per_agent:?}"
    );
    assert!(
        per_agent.get(&ben).copied().unwrap_or(0) <= 3,
        "{per_agent:?}"
    );
    assert_eq!(
        w.sim.dials_per_number(),
        expected_dials,
        "busy and unanswered leads get three attempts, everyone else one"
    );
    let names = HashMap::from([(ava.clone(), "Ava"), (ben.clone(), "Ben")]);
    for dial in w.sim.dials() {
        let i = (0..n).find(|i| lead_phone(*i) == dial.to).unwrap();
        assert_eq!(
            names.get(&dial.agent_id).copied(),
            Some(dial.agent_name.as_str()),
            "the worker dispatched is the one registered under the agent's name: {dial:?}"
        );
        assert_eq!(
            (dial.trunk_id.as_str(), dial.from.as_str()),
            (TRUNK, OUR_NUMBER)
        );
        assert_eq!(
            dial.metadata,
            json!({
                "phone_number": dial.to,
                "agent_id": dial.agent_id,
                "campaign_id": id,
                "contact_name": format!("Lead {i}"),
                "campaign_prompt": format!(
                    "Remind Lead {i} of the spring service; the invoice goes to \
                     lead{i}@example.com."
                ),
                "trunk_id": TRUNK,
            }),
            "the agent worker learns whom it calls for which campaign, and what to say"
        );
    }
    let leads = &done["progress"]["leads"];
    assert_eq!(
        (leads["total"].clone(), leads["pending"].clone()),
        (json!(n), json!(0))
    );
    assert_eq!(leads["dialing"], 0, "{leads}");
    // Answered: 10 done; busy and no answer out of attempts, failed and refused: failed.
    assert_eq!(leads["done"], 10, "{leads}");
    assert_eq!(leads["failed"], n - 10, "{leads}");
    let (_, page) = api
        .get(&format!(
            "/api/campaigns/{id}/leads?status=failed&limit=500"
        ))
        .await;
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for lead in page["items"].as_array().unwrap() {
        *outcomes
            .entry(lead["last_outcome"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        outcomes,
        HashMap::from([
            ("busy".to_owned(), 5),
            ("no_answer".to_owned(), 5),
            ("failed".to_owned(), 10)
        ]),
        "each lead says how its last attempt went"
    );
    assert_eq!(w.sim.up_now(), 0, "no call left up at LiveKit");
    w.assert_webhooks_accepted();
}

#[tokio::test]
async fn a_livekit_call_whose_end_report_is_lost_is_asked_about_and_frees_its_slot() {
    let clock = Arc::new(TestClock(Mutex::new(
        Timestamp::parse("2026-03-02T15:00:00Z").unwrap(),
    )));
    let w = Dialing::start(Some(clock.clone())).await;
    let api = w.api();
    let a = agent(api, "Ava", 5, "").await;
    w.sim.default_script(Script::Answer {
        talk: Duration::from_millis(100),
    });
    // The first two calls are answered, but LiveKit's word of their ends is lost.
    w.sim.mute_ends(true);
    let id = w
        .start_campaign(
            json!({"name": "Lost ends", "agents": [{"agent_id": a}],
                   "settings": settings(json!({"max_concurrent_calls": 2}))}),
            3,
        )
        .await;
    wait_until("two dials", WAIT, || w.sim.dials().len() == 2).await;
    let rooms: Vec<String> = w.sim.dials().into_iter().map(|d| d.room).collect();
    for room in &rooms {
        w.wait_for_call(room, "in_progress").await;
    }
    wait_until("both calls over at LiveKit", WAIT, || w.sim.up_now() == 0).await;
    w.sim.mute_ends(false);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        w.sim.dials().len(),
        2,
        "the engine still counts both calls live, so the third lead waits"
    );
    assert!(w.asked_about().is_empty(), "not overdue yet");

    // Two minutes on, the engine asks LiveKit, finds both rooms gone, and carries on.
    *clock.0.lock().unwrap() = Timestamp::parse("2026-03-02T15:02:30Z").unwrap();
    let done = wait_for_status(api, &id, "completed", WAIT).await;
    assert_eq!(w.sim.dials().len(), 3);
    for room in &rooms {
        assert!(w.asked_about().contains(room), "{room} was asked about");
        let call = w.call_of(room).await;
        assert_eq!(
            call["status"], "completed",
            "answered and now gone from LiveKit: the call is over, and it was answered: {call}"
        );
        assert!(call["ended_at"].is_string(), "{call}");
    }
    assert_eq!(
        done["progress"]["leads"]["done"], 3,
        "the two answered leads are done, not failed: {done}"
    );
    w.assert_webhooks_accepted();
}

#[tokio::test]
async fn a_restart_mid_campaign_squares_livekit_calls_with_livekit_without_redialing() {
    let w = Dialing::start(None).await;
    let api = w.api();
    let a = agent(api, "Ava", 10, "").await;
    // The first three leads talk until they are hung up; the rest briefly.
    w.sim.default_script(Script::Answer {
        talk: Duration::from_millis(100),
    });
    for i in 0..3 {
        w.sim.script(
            &lead_phone(i),
            Script::Answer {
                talk: Duration::from_secs(600),
            },
        );
    }
    let n = 6;
    let id = w
        .start_campaign(
            json!({"name": "Restart", "agents": [{"agent_id": a}],
                   "settings": settings(json!({"max_concurrent_calls": 3,
                       "retry": {"retry_on": ["busy", "no_answer", "failed"], "max_attempts": 3,
                                 "delay_secs": 0}}))}),
            n,
        )
        .await;
    wait_until("three dials", WAIT, || w.sim.dials().len() == 3).await;
    let rooms: Vec<String> = w.sim.dials().into_iter().map(|d| d.room).collect();
    for room in &rooms {
        w.wait_for_call(room, "in_progress").await;
    }

    // Down for a while; one callee hangs up meanwhile, and nobody hears of it.
    let w = w
        .restart(async |sim: &LiveKitSim| sim.hang_up_callee(&rooms[0]).await)
        .await;
    let api = w.api();
    // The restarted engine asks LiveKit before dialing: the first call is over, the other two
    // are still up, so only the first lead's slot is free.
    let first = w.wait_for_call(&rooms[0], "completed").await;
    assert!(first["ended_at"].is_string(), "{first}");
    wait_until("the other leads dialed", WAIT, || w.sim.dials().len() == n).await;
    for room in &rooms {
        assert!(
            w.asked_about().contains(room),
            "{room} was asked about before anyone else was dialed"
        );
    }
    for room in &rooms[1..] {
        assert_eq!(
            w.call_of(room).await["status"],
            "in_progress",
            "still up at LiveKit, so still live here"
        );
        w.sim.hang_up_callee(room).await;
    }
    let done = wait_for_status(api, &id, "completed", WAIT).await;

    let per_number = w.sim.dials_per_number();
    assert_eq!(per_number.len(), n, "every lead was dialed: none lost");
    assert!(
        per_number.values().all(|d| *d == 1),
        "nobody was dialed twice: {per_number:?}"
    );
    assert!(
        w.sim.max_up() <= 3,
        "limit broken across the restart: {}",
        w.sim.max_up()
    );
    assert_eq!(done["progress"]["leads"]["done"], n, "{done}");
    w.assert_webhooks_accepted();
}

#[tokio::test]
async fn a_campaign_pauses_when_livekit_refuses_its_credentials_and_uses_up_no_lead() {
    let w = Dialing::start(None).await;
    let api = w.api();
    let a = agent(api, "Ava", 2, "").await;
    w.sim.default_script(Script::Answer {
        talk: Duration::from_millis(100),
    });
    // The project's key was revoked: LiveKit refuses the first request of the first dial.
    w.sim.fail_next(
        "CreateDispatch",
        "unauthenticated",
        "invalid API key",
        json!({}),
    );
    let id = w
        .start_campaign(
            json!({"name": "Revoked", "agents": [{"agent_id": a}],
                   "settings": settings(json!({"max_concurrent_calls": 1}))}),
            3,
        )
        .await;
    let paused = wait_for_status(api, &id, "paused", WAIT).await;
    assert!(
        w.sim.dials().is_empty(),
        "nothing reached the phone network"
    );
    // The pause is written before the failed attempt's lead is given back (so the dialer
    // cannot take another lead in between): it is pending again a moment later.
    let mut leads = paused["progress"]["leads"].clone();
    let deadline = std::time::Instant::now() + WAIT;
    while leads["dialing"] != json!(0) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        leads = api.get(&format!("/api/campaigns/{id}")).await.1["progress"]["leads"].clone();
    }
    assert_eq!(
        (leads["pending"].clone(), leads["failed"].clone()),
        (json!(3), json!(0)),
        "every call would fail the same way until the setup is fixed, so no lead pays for it: \
         {leads}"
    );

    // Fixed (the simulator takes the key again): resumed, the campaign dials everyone once.
    let (s, body) = api
        .post(&format!("/api/campaigns/{id}/resume"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let done = wait_for_status(api, &id, "completed", WAIT).await;
    assert_eq!(done["progress"]["leads"]["done"], 3, "{done}");
    assert!(w.sim.dials_per_number().values().all(|d| *d == 1));
    w.assert_webhooks_accepted();
}
