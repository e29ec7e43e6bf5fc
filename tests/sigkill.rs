//! A SIGKILL in the middle of a burst of carrier webhooks loses nothing the engine answered.
//! The real `switchboard serve` process takes signed Twilio voice webhooks and Telnyx
//! `call.initiated` events for new calls, and the end reports (Twilio's `completed`, Telnyx's
//! `call.hangup`) of calls answered before the burst, all at once from many connections; it is
//! killed with SIGKILL mid-burst and started again on the same database. Every webhook it
//! answered 2xx must then have left its mark: the new call in the store, the ended call
//! completed. An engine that answered before its write was committed would lose some here.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::carriers::{
    TWILIO_SID, TWILIO_TOKEN, TelnyxApi, TelnyxKeys, telnyx_event, twilio_signature,
};
use common::realtime::TEST_API_KEY;
use common::{Api, serve};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PUBLIC: &str = "https://sb.example.test";
const TWILIO_NUMBER: &str = "+14155552671";
const TELNYX_NUMBER: &str = "+14155552672";
const CALLER: &str = "+14158675309";
const TOKEN: &str = "sigkill-test-token";
/// Calls of each carrier answered before the burst, whose end reports come in it.
const EARLIER: u32 = 40;
/// Webhooks in the burst: far more than are sent before the kill.
const BURST: u32 = 4_000;
/// Connections sending at once.
const SENDERS: usize = 24;
/// The kill comes once this many burst webhooks were answered 2xx.
const KILL_AFTER: usize = 150;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Hook {
    /// A new Twilio call's voice webhook.
    TwilioVoice(u32),
    /// A new Telnyx call's `call.initiated`.
    TelnyxInitiated(u32),
    /// `completed` for the earlier Twilio call of that index.
    TwilioCompleted(u32),
    /// `call.hangup` for the earlier Telnyx call of that index.
    TelnyxHangup(u32),
}

fn twilio_sid(i: u32, earlier: bool) -> String {
    format!("CA{:01}{:031x}", u8::from(earlier), i)
}

fn telnyx_id(i: u32, earlier: bool) -> String {
    format!(
        "v3:sigkill-{}-{i}",
        if earlier { "earlier" } else { "burst" }
    )
}

struct Sender {
    http: reqwest::Client,
    public: String,
    keys: Arc<TelnyxKeys>,
}

impl Sender {
    async fn twilio(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Result<StatusCode> {
        let sig = twilio_signature(TWILIO_TOKEN, &format!("{PUBLIC}{path}"), params);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let res = self
            .http
            .post(format!("{}{path}", self.public))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", sig)
            .body(body)
            .send()
            .await?;
        let status = res.status();
        // The whole answer, so a 2xx counts only once the engine finished sending it.
        res.bytes().await?;
        Ok(status)
    }

    async fn telnyx(&self, body: String) -> reqwest::Result<StatusCode> {
        let ts = jiff::Timestamp::now().as_second();
        let res = self
            .http
            .post(format!("{}/webhooks/telnyx", self.public))
            .header("content-type", "application/json")
            .header("telnyx-timestamp", ts.to_string())
            .header("telnyx-signature-ed25519", self.keys.sign(ts, &body))
            .body(body)
            .send()
            .await?;
        let status = res.status();
        res.bytes().await?;
        Ok(status)
    }

    async fn twilio_voice(&self, sid: &str) -> reqwest::Result<StatusCode> {
        self.twilio(
            "/webhooks/twilio/voice",
            &[
                ("AccountSid", TWILIO_SID),
                ("CallSid", sid),
                ("CallStatus", "ringing"),
                ("Direction", "inbound"),
                ("From", CALLER),
                ("To", TWILIO_NUMBER),
            ],
        )
        .await
    }

    async fn telnyx_event(
        &self,
        kind: &str,
        event: &str,
        payload: Value,
    ) -> reqwest::Result<StatusCode> {
        self.telnyx(telnyx_event(kind, event, payload)).await
    }

    async fn telnyx_initiated(&self, ccid: &str) -> reqwest::Result<StatusCode> {
        self.telnyx_event(
            "call.initiated",
            &format!("evt-init-{ccid}"),
            json!({
                "call_control_id": ccid,
                "call_leg_id": format!("leg-{ccid}"),
                "call_session_id": format!("session-{ccid}"),
                "connection_id": "1494404757140276705",
                "direction": "incoming",
                "from": CALLER,
                "to": TELNYX_NUMBER,
                "state": "parked",
                "start_time": "2026-11-22T10:00:00.000000Z"
            }),
        )
        .await
    }

    async fn send(&self, hook: Hook) -> reqwest::Result<StatusCode> {
        match hook {
            Hook::TwilioVoice(i) => self.twilio_voice(&twilio_sid(i, false)).await,
            Hook::TelnyxInitiated(i) => self.telnyx_initiated(&telnyx_id(i, false)).await,
            Hook::TwilioCompleted(i) => {
                self.twilio(
                    "/webhooks/twilio/status",
                    &[
                        ("AccountSid", TWILIO_SID),
                        ("CallSid", &twilio_sid(i, true)),
                        ("CallStatus", "completed"),
                        ("CallDuration", "7"),
                        ("SequenceNumber", "3"),
                    ],
                )
                .await
            }
            Hook::TelnyxHangup(i) => {
                let ccid = telnyx_id(i, true);
                self.telnyx_event(
                    "call.hangup",
                    &format!("evt-hangup-{ccid}"),
                    json!({"call_control_id": ccid, "hangup_cause": "normal_clearing",
                           "hangup_source": "caller", "sip_hangup_cause": "200"}),
                )
                .await
            }
        }
    }
}

/// Every call in the log, by its carrier's id.
async fn calls_by_carrier_id(api: &Api) -> HashMap<String, Value> {
    let mut all = HashMap::new();
    let mut offset = 0;
    loop {
        let (s, page) = api
            .get(&format!("/api/calls?limit=500&offset={offset}"))
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        for c in items {
            all.insert(c["carrier_call_id"].as_str().unwrap().to_owned(), c.clone());
        }
        if items.len() < 500 {
            return all;
        }
        offset += 500;
    }
}

#[tokio::test]
async fn every_webhook_answered_before_a_sigkill_mid_burst_is_in_the_store_after_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let telnyx = TelnyxApi::start().await;
    let keys = Arc::new(TelnyxKeys::new());
    let telnyx_key = keys.public_key_b64();
    let envs = [
        ("TWILIO_ACCOUNT_SID", TWILIO_SID),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("TELNYX_API_KEY", "KEY-telnyx-test"),
        ("TELNYX_PUBLIC_KEY", telnyx_key.as_str()),
        ("OPENAI_API_KEY", TEST_API_KEY),
        ("SWITCHBOARD_TOKEN", TOKEN),
        ("WEBHOOK_BASE_URL", PUBLIC),
        ("SWITCHBOARD_LOG", "warn"),
    ];
    let extra = ["--no-keyring", "--telnyx-api-url", telnyx.base.as_str()];
    let first = serve(tmp.path(), &envs, &extra).await;
    let api = Api::new(first.control.clone(), TOKEN.into());
    let (s, agent) = api
        .post(
            "/api/agents",
            json!({"name": "Burst", "max_concurrent_calls": 1_000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{agent}");
    for (number, carrier) in [(TWILIO_NUMBER, "twilio"), (TELNYX_NUMBER, "telnyx")] {
        let (s, n) = api
            .post(
                "/api/phone-numbers",
                json!({"number": number, "carrier": carrier, "inbound_agent_id": agent["id"]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
    }
    let sender = Arc::new(Sender {
        http: reqwest::Client::new(),
        public: first.public.clone(),
        keys,
    });

    // Calls answered before the burst, one at a time.
    for i in 0..EARLIER {
        assert_eq!(
            sender.twilio_voice(&twilio_sid(i, true)).await.unwrap(),
            StatusCode::OK
        );
        let ccid = telnyx_id(i, true);
        assert_eq!(
            sender.telnyx_initiated(&ccid).await.unwrap(),
            StatusCode::OK
        );
        let answered = sender
            .telnyx_event(
                "call.answered",
                &format!("evt-answered-{ccid}"),
                json!({"call_control_id": ccid, "state": "answered"}),
            )
            .await
            .unwrap();
        assert_eq!(answered, StatusCode::OK);
    }

    eprintln!("{EARLIER} calls of each carrier answered; the burst begins");
    // The burst: new calls of both carriers, with the earlier calls' ends among the first.
    let mut hooks = Vec::new();
    for i in 0..BURST / 2 {
        hooks.push(Hook::TwilioVoice(i));
        hooks.push(Hook::TelnyxInitiated(i));
        if i < EARLIER {
            hooks.push(Hook::TwilioCompleted(i));
            hooks.push(Hook::TelnyxHangup(i));
        }
    }
    let hooks = Arc::new(hooks);
    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(Mutex::new(Vec::<Hook>::new()));
    let refused = Arc::new(Mutex::new(Vec::<(Hook, StatusCode)>::new()));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..SENDERS {
        let (hooks, next, answered, refused, sender) = (
            hooks.clone(),
            next.clone(),
            answered.clone(),
            refused.clone(),
            sender.clone(),
        );
        senders.spawn(async move {
            // Until the engine is gone: a request that gets no answer ends this sender.
            while let Some(&hook) = hooks.get(next.fetch_add(1, Ordering::Relaxed)) {
                match sender.send(hook).await {
                    Ok(s) if s.is_success() => answered.lock().unwrap().push(hook),
                    Ok(s) => refused.lock().unwrap().push((hook, s)),
                    Err(_) => return,
                }
            }
        });
    }
    common::campaigns::wait_until(
        "part of the burst answered",
        Duration::from_secs(60),
        || answered.lock().unwrap().len() >= KILL_AFTER,
    )
    .await;
    let mut child = first.child;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    eprintln!("killed after {} answered", answered.lock().unwrap().len());
    while senders.join_next().await.is_some() {}
    let answered = answered.lock().unwrap().clone();
    let sent = next.load(Ordering::Relaxed).min(hooks.len());
    assert!(
        sent < hooks.len(),
        "the kill came mid-burst: {sent} of {} webhooks were sent before it",
        hooks.len()
    );
    let ends = answered
        .iter()
        .filter(|h| matches!(h, Hook::TwilioCompleted(_) | Hook::TelnyxHangup(_)))
        .count();
    let refused = refused.lock().unwrap().clone();
    eprintln!(
        "{} webhooks answered 2xx before the kill ({ends} of them call ends), {} refused: {:?}",
        answered.len(),
        refused.len(),
        &refused[..refused.len().min(5)]
    );
    assert!(
        ends > 0,
        "some call ends were answered before the kill, so the check below covers them"
    );

    // Started again on the same database: everything answered is there.
    let second = serve(tmp.path(), &envs, &extra).await;
    let api = Api::new(second.control.clone(), TOKEN.into());
    let calls = calls_by_carrier_id(&api).await;
    let mut missing = Vec::new();
    for hook in &answered {
        let (id, want) = match *hook {
            Hook::TwilioVoice(i) => (twilio_sid(i, false), None),
            Hook::TelnyxInitiated(i) => (telnyx_id(i, false), None),
            Hook::TwilioCompleted(i) => (twilio_sid(i, true), Some("completed")),
            Hook::TelnyxHangup(i) => (telnyx_id(i, true), Some("completed")),
        };
        match (calls.get(&id), want) {
            (None, _) => missing.push(format!("{hook:?}: no call {id}")),
            (Some(c), Some(status)) if c["status"] != status => {
                missing.push(format!("{hook:?}: {id} is {} not {status}", c["status"]))
            }
            _ => {}
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} webhooks answered 2xx before the SIGKILL left nothing in the store: {:?}",
        missing.len(),
        answered.len(),
        &missing[..missing.len().min(10)]
    );
}
