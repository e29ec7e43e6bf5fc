//! Webhooks to the user's systems end to end: calls carried by really signed Twilio webhooks
//! to the engine's public listener, and a loopback receiver (a CRM) that checks every
//! request's signature with the secret the API gave, keeps each idempotency key once, and can
//! be told to fail or to go away, across an engine restart. Needs an OS keyring (the signing
//! secrets live there): run under `dbus-run-session` with gnome-keyring unlocked.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use common::carriers::{TWILIO_SID, TWILIO_TOKEN, twilio_signature};
use common::{TestEngine, assert_error, config};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::oneshot;

const PUBLIC: &str = "https://sb.example.test";
const OUR_NUMBER: &str = "+14155552671";
const UNMANAGED: &str = "+14155550000";
const CALLER: &str = "+14158675309";

// ---- The receiver: a CRM's webhook endpoint ----------------------------------------------

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    key: String,
    event_type: String,
    signature: String,
    body: String,
    verified: bool,
    answered: u16,
}

#[derive(Default)]
struct Seen {
    secret: Option<String>,
    /// Answer 500 to this many more (correctly signed) requests.
    fail_next: usize,
    requests: Vec<Got>,
    /// Idempotency keys acted on, each the first time it came with a valid signature.
    processed: Vec<String>,
}

/// The receiver's own check, written from docs/WEBHOOKS.md: `t=<unix>,v1=<hex>` where the
/// hex is HMAC-SHA256 with the secret over `"<t>.<body>"`, and `t` within five minutes.
fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (jiff::Timestamp::now().as_second() - t).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    v1.contains(&expected)
}

async fn receive(
    State(seen): State<Arc<Mutex<Seen>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (AxumStatus, &'static str) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut seen = seen.lock().unwrap();
    let signature = header("switchboard-signature");
    let verified = seen
        .secret
        .as_deref()
        .is_some_and(|s| verify(s, &signature, &body));
    let key = header("idempotency-key");
    let (status, text) = if !verified {
        (AxumStatus::BAD_REQUEST, "bad signature")
    } else if seen.fail_next > 0 {
        seen.fail_next -= 1;
        (AxumStatus::INTERNAL_SERVER_ERROR, "nope")
    } else {
        if !seen.processed.contains(&key) {
            seen.processed.push(key.clone());
        }
        (AxumStatus::OK, "ok")
    };
    seen.requests.push(Got {
        key,
        event_type: header("switchboard-event-type"),
        signature,
        body: String::from_utf8_lossy(&body).into_owned(),
        verified,
        answered: status.as_u16(),
    });
    (status, text)
}

struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Listens on `addr` (a new port when `None`), remembering into `seen`.
    async fn start(addr: Option<SocketAddr>, seen: Arc<Mutex<Seen>>) -> Self {
        let listener = tokio::net::TcpListener::bind(addr.unwrap_or(([127, 0, 0, 1], 0).into()))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(seen.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            seen,
            stop,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// Goes away: the port refuses connections until a receiver listens on it again.
    async fn stop(self) -> (SocketAddr, Arc<Mutex<Seen>>) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
        (self.addr, self.seen)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        f(&mut self.seen.lock().unwrap())
    }
}

// ---- The engine and its calls ------------------------------------------------------------

async fn until<F: AsyncFn() -> Option<T>, T>(what: &str, timeout: Duration, check: F) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An engine with a keyring of its own and fast webhook retries.
fn engine_config(dir: &std::path::Path, service: &str, retry_base_ms: u64) -> switchboard::Config {
    let mut cfg = config(dir);
    cfg.no_keyring = false;
    cfg.keyring_service = service.to_owned();
    cfg.webhook_retry_base_ms = retry_base_ms;
    cfg.credential_env = vec![
        ("TWILIO_ACCOUNT_SID".into(), TWILIO_SID.into()),
        ("TWILIO_AUTH_TOKEN".into(), TWILIO_TOKEN.into()),
    ];
    cfg
}

/// A Twilio number answered by a new agent, and the public URL carriers sign for.
async fn setup(engine: &TestEngine) {
    let api = &engine.api;
    let (s, _) = api
        .put("/api/settings", json!({"public_base_url": PUBLIC}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let agent = api.agent("Front desk").await;
    let (s, n) = api
        .post(
            "/api/phone-numbers",
            json!({"number": OUR_NUMBER, "carrier": "twilio", "inbound_agent_id": agent}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
}

/// POSTs a Twilio webhook signed for its public URL.
async fn twilio(engine: &TestEngine, path: &str, params: &[(&str, &str)]) -> StatusCode {
    let signature = twilio_signature(TWILIO_TOKEN, &format!("{PUBLIC}{path}"), params);
    reqwest::Client::new()
        .post(format!("{}{path}", engine.public_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish(),
        )
        .send()
        .await
        .unwrap()
        .status()
}

/// A call to `to` arrives (ringing); returns its id.
async fn arrives(engine: &TestEngine, sid: &str, to: &str) -> String {
    let params = [
        ("AccountSid", TWILIO_SID),
        ("CallSid", sid),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", CALLER),
        ("To", to),
    ];
    assert_eq!(
        twilio(engine, "/webhooks/twilio/voice", &params).await,
        StatusCode::OK
    );
    let (_, page) = engine.api.get("/api/calls").await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["carrier_call_id"] == sid)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Twilio reports the call answered, or ended.
async fn status(engine: &TestEngine, sid: &str, status: &str, seq: &str) {
    let params = [
        ("AccountSid", TWILIO_SID),
        ("CallSid", sid),
        ("CallStatus", status),
        ("SequenceNumber", seq),
        ("CallDuration", "7"),
    ];
    assert_eq!(
        twilio(engine, "/webhooks/twilio/status", &params).await,
        StatusCode::NO_CONTENT
    );
}

/// An answered call from arrival to end; returns its id.
async fn answered_call(engine: &TestEngine, sid: &str) -> String {
    let id = arrives(engine, sid, OUR_NUMBER).await;
    status(engine, sid, "in-progress", "1").await;
    status(engine, sid, "completed", "2").await;
    id
}

async fn deliveries(engine: &TestEngine, endpoint: &str) -> Vec<Value> {
    let (s, page) = engine
        .api
        .get(&format!("/api/webhooks/{endpoint}/deliveries?limit=100"))
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// The (type, call id) of each body the receiver acted on, in order.
fn processed_events(seen: &Seen) -> Vec<(String, String)> {
    seen.processed
        .iter()
        .map(|key| {
            let got = seen
                .requests
                .iter()
                .find(|r| &r.key == key && r.answered == 200)
                .unwrap();
            let body: Value = serde_json::from_str(&got.body).unwrap();
            (
                body["type"].as_str().unwrap().to_owned(),
                body["data"]["call"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_event_arrives_once_by_key_across_failures_a_gone_receiver_and_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let service = format!("switchboard-webhooks-test-{}", common::rand_suffix());
    let engine = TestEngine::start_with(engine_config(tmp.path(), &service, 50)).await;
    setup(&engine).await;
    let seen = Arc::new(Mutex::new(Seen {
        fail_next: 2,
        ..Seen::default()
    }));
    let receiver = Receiver::start(None, seen.clone()).await;

    let (s, created) = engine
        .api
        .post(
            "/api/webhooks",
            json!({"url": receiver.url(), "description": "CRM", "events": ["call.started", "call.ended"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let endpoint = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (_, again) = engine
        .api
        .get(&format!("/api/webhooks/{endpoint}/secret"))
        .await;
    assert_eq!(again["secret"], secret.as_str(), "the keyring's secret");
    let (_, listed) = engine.api.get("/api/webhooks").await;
    assert!(
        !listed.to_string().contains(&secret),
        "a listing never carries the secret"
    );
    receiver.with(|s| s.secret = Some(secret.clone()));

    // Call A while the receiver fails its first two requests: retried until accepted.
    let call_a = answered_call(&engine, "CA0000000000000000000000000000000a").await;
    until(
        "call A's two events accepted",
        Duration::from_secs(20),
        async || (receiver.with(|s| s.processed.len()) == 2).then_some(()),
    )
    .await;
    let log = deliveries(&engine, &endpoint).await;
    let attempts: u64 = log.iter().map(|d| d["attempts"].as_u64().unwrap()).sum();
    assert_eq!(
        attempts, 4,
        "two refused attempts and two accepted ones: {log:#?}"
    );
    assert!(
        log.iter()
            .all(|d| d["status"] == "delivered" && d["response_status"] == 200),
        "{log:#?}"
    );

    // The receiver goes away. Call B (answered) and call C (refused: an unmanaged number)
    // happen meanwhile; their deliveries fail to connect.
    let (addr, seen) = receiver.stop().await;
    let call_b = answered_call(&engine, "CA0000000000000000000000000000000b").await;
    let call_c = arrives(&engine, "CA0000000000000000000000000000000c", UNMANAGED).await;
    until(
        "a failed attempt at each of B's and C's events",
        Duration::from_secs(20),
        async || {
            let log = deliveries(&engine, &endpoint).await;
            let tried = log
                .iter()
                .filter(|d| d["call_id"] != call_a.as_str())
                .filter(|d| d["status"] == "pending" && d["attempts"].as_u64() >= Some(1))
                .count();
            (log.len() == 5 && tried == 3).then_some(log)
        },
    )
    .await
    .iter()
    .filter(|d| d["call_id"] != call_a.as_str())
    .for_each(|d| {
        let error = d["error"].as_str().unwrap();
        assert!(error.starts_with("cannot connect"), "{error}");
        assert!(
            !error.contains(&addr.port().to_string()),
            "the log does not repeat the URL: {error}"
        );
    });

    // The engine stops with those pending; the receiver comes back on its port; the engine
    // restarts on the same data and keyring, and sends what was left.
    engine.stop().await;
    let receiver = Receiver::start(Some(addr), seen).await;
    let engine = TestEngine::start_with(engine_config(tmp.path(), &service, 50)).await;
    until(
        "all five events accepted",
        Duration::from_secs(30),
        async || (receiver.with(|s| s.processed.len()) == 5).then_some(()),
    )
    .await;
    let log = until(
        "the log to show all five delivered",
        Duration::from_secs(10),
        async || {
            let log = deliveries(&engine, &endpoint).await;
            log.iter()
                .all(|d| d["status"] == "delivered")
                .then_some(log)
        },
    )
    .await;

    let mut events = receiver.with(|s| processed_events(s));
    events.sort();
    let mut expected = vec![
        ("call.ended".to_owned(), call_a.clone()),
        ("call.ended".to_owned(), call_b.clone()),
        ("call.ended".to_owned(), call_c.clone()),
        ("call.started".to_owned(), call_a.clone()),
        ("call.started".to_owned(), call_b.clone()),
    ];
    expected.sort();
    assert_eq!(
        events, expected,
        "each call's start (when answered) and end, once each by idempotency key"
    );
    let ids: Vec<i64> = log.iter().map(|d| d["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    // Every request: signed as documented, its key the body's event id, its type header the
    // body's; the same signature over a tampered body fails the receiver's check.
    let requests = receiver.with(|s| s.requests.clone());
    for r in &requests {
        assert!(r.verified, "every request is correctly signed: {r:?}");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            body["id"],
            r.key.as_str(),
            "Idempotency-Key is the event id"
        );
        assert_eq!(body["type"], r.event_type.as_str());
        assert!(r.key.starts_with("evt_"));
        let tampered = r.body.replacen(CALLER, "+14155550199", 1);
        assert_ne!(tampered, r.body);
        assert!(
            !verify(&secret, &r.signature, tampered.as_bytes()),
            "a changed body fails verification"
        );
        assert!(
            !verify("whsec_wrong", &r.signature, r.body.as_bytes()),
            "another secret fails verification"
        );
    }
    let ended_b: Value = serde_json::from_str(
        &requests
            .iter()
            .find(|r| r.event_type == "call.ended" && r.body.contains(&call_b))
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(ended_b["data"]["call"]["status"], "completed");
    assert_eq!(ended_b["data"]["call"]["from_number"], CALLER);
    let ended_c = requests.iter().find(|r| r.body.contains(&call_c)).unwrap();
    let ended_c: Value = serde_json::from_str(&ended_c.body).unwrap();
    assert_eq!(ended_c["data"]["call"]["status"], "rejected");
    // Every attempt at one event sent the same key: A's refused ones included.
    let keys_tried = requests.iter().filter(|r| r.answered == 500).count();
    assert_eq!(keys_tried, 2);
    for r in requests.iter().filter(|r| r.answered == 500) {
        assert!(
            requests
                .iter()
                .any(|ok| ok.key == r.key && ok.answered == 200 && ok.body == r.body),
            "a refused event was later accepted under the same key, with the same body"
        );
    }

    // Redelivery: the same event (key and body) again; the receiver sees a repeat and acts
    // on nothing new.
    let ended_a = log
        .iter()
        .find(|d| d["call_id"] == call_a.as_str() && d["event_type"] == "call.ended")
        .unwrap();
    let before = receiver.with(|s| s.requests.len());
    let (s, queued) = engine
        .api
        .post(
            &format!("/api/webhooks/deliveries/{}/redeliver", ended_a["id"]),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["event_id"], ended_a["event_id"]);
    let repeat = until("the redelivery", Duration::from_secs(10), async || {
        receiver.with(|s| s.requests.get(before).cloned())
    })
    .await;
    assert_eq!(repeat.key, ended_a["event_id"].as_str().unwrap());
    assert_eq!(repeat.answered, 200);
    let first = requests.iter().find(|r| r.key == repeat.key).unwrap();
    assert_eq!(first.body, repeat.body, "the same body, byte for byte");
    assert_eq!(
        receiver.with(|s| s.processed.len()),
        5,
        "a repeated key is not acted on again"
    );
    engine.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_given_up_then_redelivered_and_filters_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let service = format!("switchboard-webhooks-test-{}", common::rand_suffix());
    let engine = TestEngine::start_with(engine_config(tmp.path(), &service, 1)).await;
    setup(&engine).await;
    let seen = Arc::new(Mutex::new(Seen {
        fail_next: usize::MAX,
        ..Seen::default()
    }));
    let receiver = Receiver::start(None, seen).await;
    let api = &engine.api;
    let (_, ended_only) = api
        .post(
            "/api/webhooks",
            json!({"url": receiver.url(), "events": ["call.ended"]}),
        )
        .await;
    let (_, campaign) = api
        .post("/api/campaigns", json!({"name": "Renewals"}))
        .await;
    let (s, for_campaign) = api
        .post(
            "/api/webhooks",
            json!({"url": receiver.url(), "campaign_id": campaign["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{for_campaign}");
    let (_, disabled) = api
        .post(
            "/api/webhooks",
            json!({"url": receiver.url(), "enabled": false}),
        )
        .await;
    receiver.with(|s| s.secret = ended_only["secret"].as_str().map(str::to_owned));
    let endpoint = ended_only["id"].as_str().unwrap();

    answered_call(&engine, "CA000000000000000000000000000000ff").await;
    let failed = until(
        "the delivery to be given up",
        Duration::from_secs(20),
        async || {
            let log = deliveries(&engine, endpoint).await;
            (log.len() == 1 && log[0]["status"] == "failed").then(|| log[0].clone())
        },
    )
    .await;
    assert_eq!(
        failed["event_type"], "call.ended",
        "only the events it asked for"
    );
    assert_eq!(failed["attempts"], 8, "eight attempts, then given up");
    assert_eq!(failed["response_status"], 500);
    assert_eq!(failed["error"], "HTTP 500: nope");
    assert_eq!(failed["next_attempt_at"], Value::Null);
    assert_eq!(
        receiver.with(|s| s.requests.len()),
        8,
        "no attempt after giving up"
    );
    // Enqueued in the same transaction as the first endpoint's: nothing for a campaign's
    // endpoint (an inbound call is no campaign's) or a disabled one.
    for other in [&for_campaign, &disabled] {
        let log = deliveries(&engine, other["id"].as_str().unwrap()).await;
        assert!(log.is_empty(), "{log:#?}");
    }

    receiver.with(|s| s.fail_next = 0);
    let (s, _) = api
        .post(
            &format!("/api/webhooks/deliveries/{}/redeliver", failed["id"]),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let done = until("the redelivery", Duration::from_secs(10), async || {
        let log = deliveries(&engine, endpoint).await;
        (log[0]["status"] == "delivered").then(|| log[0].clone())
    })
    .await;
    assert_eq!(done["attempts"], 1, "a fresh schedule");
    assert_eq!(done["event_id"], failed["event_id"]);
    assert_eq!(
        receiver.with(|s| s.processed.clone()),
        vec![failed["event_id"].as_str().unwrap().to_owned()]
    );

    // A disabled endpoint's delivery is not redelivered.
    let (s, _) = api
        .put(
            &format!("/api/webhooks/{endpoint}"),
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let refused = api
        .post(
            &format!("/api/webhooks/deliveries/{}/redeliver", failed["id"]),
            json!({}),
        )
        .await;
    assert_error(&refused, StatusCode::CONFLICT, "conflict");
    engine.stop().await;
    receiver.stop().await;
}

#[tokio::test]
async fn endpoints_are_checked_and_their_secrets_kept_in_the_keyring_only() {
    let tmp = tempfile::tempdir().unwrap();
    let service = format!("switchboard-webhooks-test-{}", common::rand_suffix());
    let engine = TestEngine::start_with(engine_config(tmp.path(), &service, 50)).await;
    let api = &engine.api;
    for (body, field) in [
        (json!({}), "url"),
        (json!({"url": "ftp://crm.example.com/x"}), "url"),
        (json!({"url": "https://u:pw@crm.example.com/x"}), "url"),
        (json!({"url": "https://crm.example.com/\u{0}"}), "url"),
        (
            json!({"url": format!("https://x.com/{}", "a".repeat(2048))}),
            "url",
        ),
        (
            json!({"url": "https://crm.example.com", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://crm.example.com", "events": ["call.exploded"]}),
            "events",
        ),
        (
            json!({"url": "https://crm.example.com", "campaign_id": "nope"}),
            "campaign_id",
        ),
        (
            json!({"url": "https://crm.example.com", "description": "a\u{0}b"}),
            "description",
        ),
    ] {
        let got = api.post("/api/webhooks", body.clone()).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(got.1["error"]["field"], field, "{body}: {}", got.1);
        assert!(!got.1.to_string().contains("pw"), "never echoes a password");
    }
    assert_eq!(
        api.get("/api/webhooks").await.1,
        json!([]),
        "refused requests made nothing"
    );

    let (s, made) = api
        .post(
            "/api/webhooks",
            json!({"url": "https://crm.example.com/hook"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap();
    assert_eq!(
        made["events"],
        json!(["call.started", "call.ended", "call.analyzed"])
    );
    let secret = made["secret"].as_str().unwrap().to_owned();
    let bad = api
        .put(
            &format!("/api/webhooks/{id}"),
            json!({"url": "mailto:x@y.z"}),
        )
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (s, changed) = api
        .put(
            &format!("/api/webhooks/{id}"),
            json!({"description": "Sales CRM", "events": ["call.ended"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    assert_eq!(changed["url"], "https://crm.example.com/hook", "kept");
    assert_eq!(changed["description"], "Sales CRM");

    let (_, rotated) = api
        .post(&format!("/api/webhooks/{id}/secret/rotate"), json!({}))
        .await;
    let rotated = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(rotated, secret);
    assert_eq!(
        api.get(&format!("/api/webhooks/{id}/secret")).await.1["secret"],
        rotated.as_str()
    );
    // Not in the database: the secrets are in the keyring only.
    for s in [&secret, &rotated] {
        assert!(
            !common::stored_contains(tmp.path(), s),
            "a webhook secret is in the database"
        );
    }

    let (s, _) = api.delete(&format!("/api/webhooks/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_error(
        &api.get(&format!("/api/webhooks/{id}/secret")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &api.post("/api/webhooks/deliveries/12x/redeliver", json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &api.get(&format!("/api/webhooks/{id}/deliveries?limit=0"))
            .await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );
    engine.stop().await;

    // Without a keyring no secret can be kept: refused, and nothing made.
    let plain = TestEngine::start().await;
    let got = plain
        .api
        .post(
            "/api/webhooks",
            json!({"url": "https://crm.example.com/hook"}),
        )
        .await;
    assert_error(&got, StatusCode::SERVICE_UNAVAILABLE, "keyring_unavailable");
    assert_eq!(plain.api.get("/api/webhooks").await.1, json!([]));
    plain.stop().await;
}
