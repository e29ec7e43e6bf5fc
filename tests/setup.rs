//! "New agent with a number" (seed 003) as one step, against a loopback Retell and a Twilio
//! simulator that refuses any request not in Twilio's OpenAPI document: made in one go; a
//! fault at each step (an error, a timeout) undoes every step before it; a crash at a step is
//! undone at the next start. After each, the simulators are listed: nothing left orphaned.

mod common;

use std::time::Duration;

use common::carriers::{TWILIO_SID, TWILIO_TOKEN, TwilioApi};
use common::retell_api::{Fault, RETELL_KEY, RetellApi};
use common::{Api, TestEngine, config};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PUBLIC: &str = "https://sb.example.test";
const SETUP: &str = "/api/agents/with-number";

struct World {
    engine: TestEngine,
    retell: RetellApi,
    twilio: TwilioApi,
    _tmp: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let (retell, twilio) = (RetellApi::start().await, TwilioApi::start().await);
        let mut cfg = config(tmp.path());
        cfg.retell_api_url = retell.base.clone();
        cfg.twilio_api_url = twilio.base.clone();
        cfg.twilio_numbers_url = twilio.numbers_base.clone();
        cfg.credential_env = vec![
            ("TWILIO_ACCOUNT_SID".into(), TWILIO_SID.into()),
            ("TWILIO_AUTH_TOKEN".into(), TWILIO_TOKEN.into()),
            ("RETELL_API_KEY".into(), RETELL_KEY.into()),
        ];
        let engine = TestEngine::start_with(cfg).await;
        let (s, _) = engine
            .api
            .put("/api/settings", json!({"public_base_url": PUBLIC}))
            .await;
        assert_eq!(s, StatusCode::OK);
        Self {
            engine,
            retell,
            twilio,
            _tmp: tmp,
        }
    }
}

/// An Australian mobile for sale, and the address and approved bundle buying it needs.
fn for_sale(twilio: &TwilioApi, number: &str) -> (String, String) {
    twilio.add_available("AU", "Mobile", number, "local", true);
    let address = twilio.add_address("Sydney office", "AU");
    let bundle = twilio.add_bundle("AU mobiles", "AU", "mobile", "twilio-approved", None);
    (address, bundle)
}

fn setup_body(name: &str, number: &str, address: &str, bundle: &str) -> Value {
    json!({
        "agent": {"name": name, "backend": "retell", "retell_voice_id": "11labs-Adrian",
                  "system_prompt": "You book plumbing visits for Acme.", "greeting": "Acme, hello!"},
        "carrier": "twilio", "number": number, "address_id": address, "bundle_id": bundle,
    })
}

/// Nothing anywhere: no Retell object, no number on the account, nothing stored here.
async fn nothing_left(api: &Api, retell: &RetellApi, twilio: &TwilioApi, after: &str) {
    assert_eq!(retell.llms(), Vec::<Value>::new(), "{after}: Retell LLMs");
    assert_eq!(
        retell.agents(),
        Vec::<Value>::new(),
        "{after}: Retell agents"
    );
    assert_eq!(
        twilio.numbers(),
        Vec::<Value>::new(),
        "{after}: numbers bought"
    );
    assert_eq!(api.get("/api/agents").await.1, json!([]), "{after}: agents");
    assert_eq!(
        api.get("/api/phone-numbers").await.1,
        json!([]),
        "{after}: numbers"
    );
    assert!(twilio.violations().is_empty(), "{:?}", twilio.violations());
    assert!(retell.refused().is_empty(), "{:?}", retell.refused());
}

#[tokio::test]
async fn a_retell_agent_and_a_number_are_made_and_stored_in_one_step() {
    let w = World::start().await;
    let api = &w.engine.api;
    let (address, bundle) = for_sale(&w.twilio, "+61412345678");
    let (s, done) = api
        .post(SETUP, setup_body("Acme", "+61412345678", &address, &bundle))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{done}");
    let (llms, agents) = (w.retell.llms(), w.retell.agents());
    assert_eq!((llms.len(), agents.len()), (1, 1));
    assert_eq!(
        llms[0]["general_prompt"],
        "You book plumbing visits for Acme."
    );
    assert_eq!(llms[0]["begin_message"], "Acme, hello!");
    assert_eq!(agents[0]["response_engine"]["llm_id"], llms[0]["llm_id"]);
    assert_eq!(
        agents[0]["webhook_url"],
        format!("{PUBLIC}/webhooks/retell")
    );
    let agent = &done["agent"];
    assert_eq!(agent["backend"], "retell");
    assert_eq!(agent["retell_agent_id"], agents[0]["agent_id"]);
    let bought = w.twilio.numbers();
    assert_eq!(bought.len(), 1);
    assert_eq!(
        bought[0]["voice_url"],
        format!("{PUBLIC}/webhooks/twilio/voice")
    );
    assert_eq!(bought[0]["bundle_sid"], bundle.as_str());
    let number = &done["phone_number"];
    assert_eq!(number["number"], "+61412345678");
    assert_eq!(number["inbound_agent_id"], agent["id"]);
    assert_eq!(number["carrier_number_id"], bought[0]["sid"]);
    assert_eq!(number["pointed_url"], bought[0]["voice_url"]);
    assert_eq!(done["warning"], Value::Null);
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );

    // Asked again: refused before anything is done (the name, then the number, are taken).
    let before = w.retell.requests_to("create-retell-llm");
    let (s, e) = api
        .post(SETUP, setup_body("acme", "+61412345679", &address, &bundle))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (s, e) = api
        .post(
            SETUP,
            setup_body("Acme 2", "+61412345678", &address, &bundle),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(w.retell.requests_to("create-retell-llm"), before);
}

#[tokio::test]
async fn a_fault_at_each_step_undoes_the_steps_before_it() {
    let w = World::start().await;
    let api = &w.engine.api;
    let long = Duration::from_secs(30);
    // (what goes wrong, the step the error names, what it says was undone)
    type Inject = Box<dyn Fn(&World)>;
    let cases: Vec<(&str, Inject, &str, &[&str])> = vec![
        (
            "Retell refuses the LLM",
            Box::new(|w| w.retell.fault("create-retell-llm", Fault::Status(500))),
            "Creating the Retell LLM failed",
            &["Nothing had been made yet"],
        ),
        (
            "Retell refuses the agent",
            Box::new(|w| w.retell.fault("create-agent", Fault::Status(402))),
            "Creating the Retell agent failed",
            &["the Retell LLM deleted"],
        ),
        (
            "Retell makes the agent but its answer never comes",
            Box::new(move |w| w.retell.fault("create-agent", Fault::ActThenStall(long))),
            "Creating the Retell agent failed",
            &["the Retell agent deleted", "the Retell LLM deleted"],
        ),
        (
            "Twilio refuses the purchase (no bundle)",
            Box::new(|_| {}),
            "Buying the number failed",
            &["the Retell agent deleted", "the Retell LLM deleted"],
        ),
        (
            "Twilio's answer to the purchase never comes",
            Box::new(|w| w.twilio.stall_next(1)),
            "Buying the number failed",
            &["the Retell agent deleted", "the Retell LLM deleted"],
        ),
    ];
    for (k, (what, inject, step, undone)) in cases.into_iter().enumerate() {
        let number = format!("+6141234560{k}");
        let (address, bundle) = for_sale(&w.twilio, &number);
        // The refused purchase: a bundle Twilio never approved.
        let bundle = if what.contains("no bundle") {
            "BU0123456789abcdef0123456789abcdef".to_owned()
        } else {
            bundle
        };
        inject(&w);
        let (s, e) = api
            .post(SETUP, setup_body("Acme", &number, &address, &bundle))
            .await;
        assert_eq!(s, StatusCode::BAD_GATEWAY, "{what}: {e}");
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(step), "{what}: {message}");
        for u in undone {
            assert!(message.contains(u), "{what}: {u:?} not in {message}");
        }
        assert!(!message.contains("by hand"), "{what}: {message}");
        nothing_left(api, &w.retell, &w.twilio, what).await;
    }
}

#[tokio::test]
async fn a_purchase_whose_answer_is_lost_is_found_on_the_account_and_the_setup_completes() {
    let w = World::start().await;
    let api = &w.engine.api;
    let (address, bundle) = for_sale(&w.twilio, "+61412345610");
    // Twilio buys it (pointed here) and its answer never comes.
    w.twilio.act_then_stall_next(1);
    let (s, done) = api
        .post(SETUP, setup_body("Acme", "+61412345610", &address, &bundle))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{done}");
    let purchases = w
        .twilio
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/IncomingPhoneNumbers.json"))
        .count();
    assert_eq!(purchases, 1, "bought once, never asked twice");
    let bought = w.twilio.numbers();
    assert_eq!(bought.len(), 1);
    assert_eq!(done["phone_number"]["carrier_number_id"], bought[0]["sid"]);
    assert_eq!(
        done["phone_number"]["inbound_agent_id"],
        done["agent"]["id"]
    );
    assert_eq!(
        done["phone_number"]["pointed_url"],
        format!("{PUBLIC}/webhooks/twilio/voice")
    );
    assert_eq!(done["warning"], Value::Null);
    assert_eq!((w.retell.llms().len(), w.retell.agents().len()), (1, 1));
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

/// The engine as a process of its own, to be killed mid-setup.
async fn serve(dir: &std::path::Path, retell: &RetellApi, twilio: &TwilioApi) -> common::Serve {
    let envs = [
        ("TWILIO_ACCOUNT_SID", TWILIO_SID),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("RETELL_API_KEY", RETELL_KEY),
        ("SWITCHBOARD_TOKEN", "setup-crash-token"),
        ("WEBHOOK_BASE_URL", PUBLIC),
    ];
    let extra = [
        "--no-keyring",
        "--twilio-api-url",
        &twilio.base,
        "--twilio-numbers-url",
        &twilio.numbers_base,
        "--retell-api-url",
        &retell.base,
    ];
    common::serve(dir, &envs, &extra).await
}

async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_setup_cut_short_by_a_crash_is_undone_at_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let (retell, twilio) = (RetellApi::start().await, TwilioApi::start().await);
    // Killed at each step while its request is out: Retell has made the agent (it acted and
    // had not answered), then Twilio has the purchase (and had not answered).
    for (k, step) in ["the Retell agent", "the purchase"].into_iter().enumerate() {
        let number = format!("+6141234570{k}");
        let (address, bundle) = for_sale(&twilio, &number);
        let engine = serve(tmp.path(), &retell, &twilio).await;
        let api = Api::new(engine.control.clone(), "setup-crash-token".into());
        match k {
            0 => retell.fault("create-agent", Fault::ActThenStall(Duration::from_secs(60))),
            _ => twilio.stall_next(1),
        }
        let asked = {
            let api = api.clone();
            let body = setup_body("Acme", &number, &address, &bundle);
            tokio::spawn(async move { api.post(SETUP, body).await })
        };
        match k {
            0 => until("Retell to make the agent", || retell.agents().len() == 1).await,
            _ => {
                until("the purchase to reach Twilio", || {
                    twilio.requests().iter().any(|r| {
                        r.method == "POST" && r.path.ends_with("/IncomingPhoneNumbers.json")
                    })
                })
                .await
            }
        }
        let mut child = engine.child;
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        asked.abort();
        assert_eq!(
            retell.llms().len(),
            1,
            "{step}: the LLM is there before the restart"
        );

        let engine = serve(tmp.path(), &retell, &twilio).await;
        let api = Api::new(engine.control.clone(), "setup-crash-token".into());
        until("the restart to undo the setup", || {
            retell.llms().is_empty() && retell.agents().is_empty()
        })
        .await;
        nothing_left(&api, &retell, &twilio, step).await;
        let _ = engine.terminate().await;
    }
}

/// On Telnyx the number is ordered on the Call Control application set in Settings; an order
/// Telnyx holds for regulatory information undoes the Retell agent and LLM.
#[tokio::test]
async fn on_telnyx_the_number_is_ordered_on_our_application_and_a_held_order_undoes_the_agent() {
    use common::telnyx_numbers::{TELNYX_NUMBERS_KEY, TelnyxNumbers};
    let tmp = tempfile::tempdir().unwrap();
    let (retell, telnyx) = (RetellApi::start().await, TelnyxNumbers::start().await);
    let app = telnyx.add_application("Switchboard", "https://old-tunnel.example/webhooks/telnyx");
    let mut cfg = config(tmp.path());
    cfg.retell_api_url = retell.base.clone();
    cfg.telnyx_api_url = telnyx.base.clone();
    cfg.credential_env = vec![
        ("TELNYX_API_KEY".into(), TELNYX_NUMBERS_KEY.into()),
        (
            "TELNYX_PUBLIC_KEY".into(),
            common::carriers::TelnyxKeys::new().public_key_b64(),
        ),
        ("RETELL_API_KEY".into(), RETELL_KEY.into()),
    ];
    let engine = TestEngine::start_with(cfg).await;
    let api = &engine.api;
    let (s, b) = api
        .put(
            "/api/settings",
            json!({"public_base_url": PUBLIC, "telnyx_connection_id": app}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    telnyx.add_available("AU", "mobile", "+61480000001", true);
    telnyx.add_available("AU", "mobile", "+61480000002", true);
    let group = telnyx.add_requirement_group(
        "AU",
        "mobile",
        "Acme AU",
        "approved",
        "2030-01-01T00:00:00Z",
    );
    let body = |number: &str, group: Option<&str>| {
        let mut b = setup_body("Acme", number, "", "");
        b["carrier"] = json!("telnyx");
        b.as_object_mut().unwrap().remove("address_id");
        b["bundle_id"] = json!(group);
        b
    };

    let (s, e) = api.post(SETUP, body("+61480000001", None)).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("Buying the number failed"), "{message}");
    assert!(
        message.contains("needs regulatory information"),
        "{message}"
    );
    assert!(message.contains("the Retell agent deleted"), "{message}");
    assert_eq!(retell.llms(), Vec::<Value>::new());
    assert_eq!(retell.agents(), Vec::<Value>::new());
    assert_eq!(api.get("/api/agents").await.1, json!([]));
    assert_eq!(api.get("/api/phone-numbers").await.1, json!([]));

    let (s, done) = api.post(SETUP, body("+61480000002", Some(&group))).await;
    assert_eq!(s, StatusCode::CREATED, "{done}");
    let at_telnyx = telnyx.numbers();
    assert_eq!(at_telnyx.len(), 1);
    assert_eq!(at_telnyx[0]["connection_id"], app.as_str());
    let number = &done["phone_number"];
    assert_eq!(number["carrier"], "telnyx");
    assert_eq!(number["carrier_number_id"], at_telnyx[0]["id"]);
    assert_eq!(number["pointed_url"], format!("{PUBLIC}/webhooks/telnyx"));
    assert_eq!(number["inbound_agent_id"], done["agent"]["id"]);
    assert_eq!(retell.agents().len(), 1);
    assert_eq!(
        telnyx.applications()[0]["webhook_event_url"],
        format!("{PUBLIC}/webhooks/telnyx")
    );
    assert!(telnyx.violations().is_empty(), "{:?}", telnyx.violations());
    assert!(retell.refused().is_empty(), "{:?}", retell.refused());
}
