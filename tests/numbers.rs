//! A number working without the carrier's console: the account's numbers synced (every page),
//! one imported with its carrier id, pointed at this engine, and all re-pointed in one step
//! when the public URL changes. Against a Twilio simulator that refuses any request that is not
//! a valid operation of Twilio's official OpenAPI document.

mod common;

use common::carriers::{TWILIO_SID, TWILIO_TOKEN, TwilioApi};
use common::{TestEngine, config};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FIRST_URL: &str = "https://first.example.test";
const SECOND_URL: &str = "https://second.example.test";

struct World {
    engine: TestEngine,
    twilio: TwilioApi,
    _tmp: tempfile::TempDir,
}

impl World {
    async fn start() -> Self {
        let w = Self::without_public_url().await;
        w.public_url(FIRST_URL).await;
        w
    }

    async fn without_public_url() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let twilio = TwilioApi::start().await;
        let mut cfg = config(tmp.path());
        cfg.twilio_api_url = twilio.base.clone();
        cfg.twilio_numbers_url = twilio.numbers_base.clone();
        cfg.credential_env = vec![
            ("TWILIO_ACCOUNT_SID".into(), TWILIO_SID.into()),
            ("TWILIO_AUTH_TOKEN".into(), TWILIO_TOKEN.into()),
        ];
        Self {
            engine: TestEngine::start_with(cfg).await,
            twilio,
            _tmp: tmp,
        }
    }

    async fn public_url(&self, url: &str) {
        let (s, b) = self
            .engine
            .api
            .put("/api/settings", json!({"public_base_url": url}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }

    async fn sync(&self) -> Value {
        let (s, b) = self.engine.api.get("/api/carriers/twilio/numbers").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    /// The account's number `phone_number` as Twilio now has it.
    fn at_twilio(&self, phone_number: &str) -> Value {
        self.twilio
            .numbers()
            .into_iter()
            .find(|n| n["phone_number"] == phone_number)
            .unwrap_or_else(|| panic!("{phone_number} is not on the account"))
    }
}

fn entry<'a>(sync: &'a Value, phone_number: &str) -> &'a Value {
    sync["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["number"] == phone_number)
        .unwrap_or_else(|| panic!("{phone_number} not in {sync}"))
}

#[tokio::test]
async fn a_sync_reads_every_page_and_says_where_each_number_points() {
    let w = World::start().await;
    let here = format!("{FIRST_URL}/webhooks/twilio/voice");
    // More numbers than fit a page (the simulator holds pages to 50, whatever is asked).
    w.twilio.cap_page_size(50);
    for n in 0..120 {
        w.twilio.add_number(&format!("+1415555{n:04}"), None);
    }
    let elsewhere = w
        .twilio
        .add_number("+14155559001", Some("https://other-app.example/voice"));
    let pointed = w.twilio.add_number("+14155559002", Some(&here));
    // Ours: one also on the account (its carrier id not known yet), one the account lost.
    let api = &w.engine.api;
    let (s, ours) = api
        .post(
            "/api/phone-numbers",
            json!({"number": "+14155559002", "carrier": "twilio"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ours}");
    let (s, gone) = api
        .post(
            "/api/phone-numbers",
            json!({"number": "+14155559999", "carrier": "twilio"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{gone}");

    let sync = w.sync().await;
    assert_eq!(sync["numbers"].as_array().unwrap().len(), 122, "every page");
    assert_eq!(sync["voice_url"], here);
    let first = entry(&sync, "+14155550000");
    assert_eq!(
        (&first["pointing"], &first["managed_id"]),
        (&json!("nowhere"), &Value::Null)
    );
    let other = entry(&sync, "+14155559001");
    assert_eq!(other["pointing"], "elsewhere");
    assert_eq!(other["carrier_number_id"], elsewhere);
    let ours_there = entry(&sync, "+14155559002");
    assert_eq!(ours_there["pointing"], "here");
    assert_eq!(ours_there["managed_id"], ours["id"]);
    assert_eq!(
        sync["missing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].clone())
            .collect::<Vec<_>>(),
        vec![gone["id"].clone()],
        "the number the account no longer has is named, and kept"
    );
    let (_, learned) = api
        .get(&format!(
            "/api/phone-numbers/{}",
            ours["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        learned["carrier_number_id"], pointed,
        "it learned Twilio's id of it"
    );
    assert_eq!(
        api.get(&format!(
            "/api/phone-numbers/{}",
            gone["id"].as_str().unwrap()
        ))
        .await
        .0,
        StatusCode::OK
    );
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

#[tokio::test]
async fn an_imported_number_keeps_its_id_and_points_here_and_a_new_public_url_repoints_all() {
    let w = World::start().await;
    let api = &w.engine.api;
    let sid = w
        .twilio
        .add_number("+14155550123", Some("https://other-app.example/voice"));
    let (s, agent) = api
        .post(
            "/api/agents",
            json!({"name": "Front Desk", "system_prompt": "Be kind."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{agent}");

    let (s, e) = api
        .post(
            "/api/carriers/twilio/numbers/PN00000000000000000000000000000000/import",
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, e) = api.post("/api/carriers/pigeon/numbers", json!({})).await;
    assert!(s.is_client_error(), "{e}");

    let path = format!("/api/carriers/twilio/numbers/{sid}/import");
    let (s, number) = api
        .post(&path, json!({"inbound_agent_id": agent["id"]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{number}");
    assert_eq!(number["number"], "+14155550123");
    assert_eq!(number["carrier_number_id"], sid);
    assert_eq!(number["inbound_agent_id"], agent["id"]);
    let first = format!("{FIRST_URL}/webhooks/twilio/voice");
    assert_eq!(number["pointed_url"], first);
    let at = w.at_twilio("+14155550123");
    assert_eq!(at["voice_url"], first);
    assert_eq!(at["voice_method"], "POST");
    assert_eq!(
        at["status_callback"],
        format!("{FIRST_URL}/webhooks/twilio/status")
    );
    assert_eq!(at["status_callback_method"], "POST");
    let (s, e) = api.post(&path, json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "already managed: {e}");

    // The public URL changes: the number points at the old one until re-pointed, in one step.
    w.public_url(SECOND_URL).await;
    assert_eq!(
        entry(&w.sync().await, "+14155550123")["pointing"],
        "old_url"
    );
    let (s, results) = api.post("/api/phone-numbers/point", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{results}");
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["error"], Value::Null, "{results:?}");
    let second = format!("{SECOND_URL}/webhooks/twilio/voice");
    assert_eq!(results[0]["phone_number"]["pointed_url"], second);
    assert_eq!(w.at_twilio("+14155550123")["voice_url"], second);
    assert_eq!(entry(&w.sync().await, "+14155550123")["pointing"], "here");
    // Nothing left to re-point.
    let (_, again) = api.post("/api/phone-numbers/point", json!({})).await;
    assert_eq!(again, json!([]));
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

#[tokio::test]
async fn a_carrier_refusal_is_said_in_words_and_changes_nothing() {
    let w = World::start().await;
    let api = &w.engine.api;
    let sid = w.twilio.add_number("+14155550124", None);
    let (s, number) = api
        .post(
            "/api/phone-numbers",
            json!({"number": "+14155550124", "carrier": "twilio", "carrier_number_id": sid}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{number}");
    let id = number["id"].as_str().unwrap();

    w.twilio.refuse(
        401,
        json!({"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}),
    );
    let (s, e) = api.get("/api/carriers/twilio/numbers").await;
    assert_carrier_refusal(s, &e, "Authenticate");
    let (s, e) = api
        .post(&format!("/api/phone-numbers/{id}/point"), json!({}))
        .await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{e}");
    let (_, kept) = api.get(&format!("/api/phone-numbers/{id}")).await;
    assert_eq!(
        kept["pointed_url"],
        Value::Null,
        "nothing recorded as pointed"
    );
    assert_eq!(w.at_twilio("+14155550124")["voice_url"], Value::Null);
}

#[tokio::test]
async fn without_a_public_url_nothing_is_pointed() {
    let w = World::without_public_url().await;
    let (twilio, engine) = (&w.twilio, &w.engine);
    let sid = twilio.add_number("+14155550125", None);
    let (s, e) = engine
        .api
        .post(
            &format!("/api/carriers/twilio/numbers/{sid}/import"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("public base URL"),
        "{e}"
    );
    let (_, list) = engine.api.get("/api/phone-numbers").await;
    assert_eq!(
        list,
        json!([]),
        "an import that could not be pointed is undone"
    );
    let (s, b) = engine
        .api
        .post(
            &format!("/api/carriers/twilio/numbers/{sid}/import"),
            json!({"point": false}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["pointed_url"], Value::Null);
}

#[tokio::test]
async fn a_bought_number_is_pointed_and_managed_and_a_refusal_says_what_to_do() {
    let w = World::start().await;
    let api = &w.engine.api;
    w.twilio
        .add_available("AU", "Mobile", "+61412345678", "any", true);
    w.twilio
        .add_available("AU", "Mobile", "+61412345679", "none", false);
    w.twilio
        .add_available("US", "Local", "+14155550188", "none", false);
    let (s, found) = api
        .get("/api/carriers/twilio/available-numbers?country=au&kind=mobile&contains=5678")
        .await;
    assert_eq!(s, StatusCode::OK, "{found}");
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["number"], "+61412345678");
    assert_eq!(found[0]["address_requirements"], "any");
    let (s, e) = api
        .get("/api/carriers/twilio/available-numbers?country=Australia&kind=mobile")
        .await;
    assert_eq!(
        (s, &e["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("country"))
    );

    // Needs an address and a bundle: refused in words, nothing bought or kept.
    let buy = "/api/carriers/twilio/available-numbers/buy";
    let (s, e) = api.post(buy, json!({"number": "+61412345678"})).await;
    assert_carrier_refusal(s, &e, "needs an address");
    let address = w.twilio.add_address("Head office", "AU");
    let (s, e) = api
        .post(
            buy,
            json!({"number": "+61412345678", "address_id": address}),
        )
        .await;
    assert_carrier_refusal(s, &e, "regulatory bundle");
    assert!(w.twilio.numbers().is_empty(), "nothing bought");
    assert_eq!(api.get("/api/phone-numbers").await.1, json!([]));

    // The account's addresses and approved bundles, for the form's pickers: only those for
    // Australian mobiles, approved and unexpired, from every page.
    w.twilio.add_address("US office", "US");
    w.twilio
        .add_bundle("AU local", "AU", "local", "twilio-approved", None);
    w.twilio
        .add_bundle("AU draft", "AU", "mobile", "draft", None);
    w.twilio.add_bundle(
        "AU expired",
        "AU",
        "mobile",
        "twilio-approved",
        Some("2020-01-01T00:00:00Z"),
    );
    let bundle = w.twilio.add_bundle(
        "AU mobiles",
        "AU",
        "mobile",
        "twilio-approved",
        Some("2099-01-01T00:00:00Z"),
    );
    let later = w
        .twilio
        .add_bundle("AU mobiles 2", "AU", "mobile", "twilio-approved", None);
    w.twilio.cap_page_size(1);
    let (s, r) = api
        .get("/api/carriers/twilio/available-numbers/requirements?country=au&kind=mobile")
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        r["addresses"],
        json!([{"id": address, "name": "Head office", "summary": "1 Test Street, Testville, TS, 2000", "iso_country": "AU"}])
    );
    assert_eq!(
        r["bundles"],
        json!([
            {"id": bundle, "name": "AU mobiles", "valid_until": "2099-01-01T00:00:00Z"},
            {"id": later, "name": "AU mobiles 2", "valid_until": null},
        ])
    );
    w.twilio.cap_page_size(0);
    let (s, e) = api
        .get("/api/carriers/twilio/available-numbers/requirements?country=Australia&kind=mobile")
        .await;
    assert_eq!(
        (s, &e["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("country"))
    );

    // A bundle that is not approved is refused by Twilio like none at all.
    let (s, e) = api
        .post(
            buy,
            json!({"number": "+61412345678", "address_id": address, "bundle_id": "BU0123456789abcdef0123456789abcdef"}),
        )
        .await;
    assert_carrier_refusal(s, &e, "regulatory bundle");
    let (s, n) = api
        .post(
            buy,
            json!({"number": "+61412345678", "address_id": address, "bundle_id": bundle}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    let at = w.at_twilio("+61412345678");
    assert_eq!(n["carrier_number_id"], at["sid"]);
    assert_eq!(
        at["voice_url"],
        format!("{FIRST_URL}/webhooks/twilio/voice")
    );
    assert_eq!(n["pointed_url"], at["voice_url"]);

    // Someone else took it between search and purchase.
    w.twilio.take_available("+61412345679");
    let (s, e) = api.post(buy, json!({"number": "+61412345679"})).await;
    assert_carrier_refusal(s, &e, "no longer for sale");
    // Already ours: refused before paying.
    let (s, e) = api.post(buy, json!({"number": "+61412345678"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(w.twilio.numbers().len(), 1, "one number bought in all");
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

#[tokio::test]
async fn a_purchase_whose_answer_is_lost_is_never_sent_twice() {
    let w = World::start().await;
    let api = &w.engine.api;
    w.twilio
        .add_available("US", "Local", "+14155550177", "none", false);
    w.twilio.stall_next(1);
    let (s, e) = api
        .post(
            "/api/carriers/twilio/available-numbers/buy",
            json!({"number": "+14155550177"}),
        )
        .await;
    assert_carrier_refusal(s, &e, "did not confirm");
    let buys = w
        .twilio
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/IncomingPhoneNumbers.json"))
        .count();
    assert_eq!(buys, 1, "the purchase was sent once");
    assert!(
        w.twilio
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/IncomingPhoneNumbers.json")),
        "and then looked for on the account"
    );
    assert_eq!(
        api.get("/api/phone-numbers").await.1,
        json!([]),
        "nothing kept"
    );
}

#[tokio::test]
async fn deleting_a_number_releases_it_only_when_asked_and_only_once_the_carrier_agrees() {
    let w = World::start().await;
    let api = &w.engine.api;
    let sync = w.sync().await;
    assert_eq!(sync["numbers"], json!([]));
    let kept = w.twilio.add_number("+14155550101", None);
    let released = w.twilio.add_number("+14155550102", None);
    let mut ids = Vec::new();
    for sid in [&kept, &released] {
        let (s, n) = api
            .post(
                &format!("/api/carriers/twilio/numbers/{sid}/import"),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        ids.push(n["id"].as_str().unwrap().to_owned());
    }

    // Kept on the account: Switchboard only stops managing it.
    let (s, b) = api.delete(&format!("/api/phone-numbers/{}", ids[0])).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    w.at_twilio("+14155550101");

    // The carrier refuses the release: nothing is removed, here or there.
    w.twilio.refuse(
        500,
        json!({"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500}),
    );
    let (s, e) = api
        .delete(&format!("/api/phone-numbers/{}?release=true", ids[1]))
        .await;
    assert_carrier_refusal(s, &e, "Internal Server Error");
    w.twilio.accept();
    let (s, still) = api.get(&format!("/api/phone-numbers/{}", ids[1])).await;
    assert_eq!(s, StatusCode::OK, "{still}");
    w.at_twilio("+14155550102");

    let (s, b) = api
        .delete(&format!("/api/phone-numbers/{}?release=true", ids[1]))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert!(
        w.twilio
            .numbers()
            .iter()
            .all(|n| n["phone_number"] != "+14155550102"),
        "released from the account"
    );
    assert_eq!(api.get("/api/phone-numbers").await.1, json!([]));
    assert_eq!(
        api.delete(&format!("/api/phone-numbers/{}?release=true", ids[1]))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (s, e) = api
        .delete(&format!("/api/phone-numbers/{}?release=maybe", ids[0]))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

/// The carrier refused, and the engine said so (502) in words containing `words`.
#[track_caller]
fn assert_carrier_refusal(status: StatusCode, e: &Value, words: &str) {
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{e}");
    let message = e["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "expected {words:?} in {e}");
}

/// Telnyx: numbers point at this engine through their connection (the Call Control
/// application set in Settings) and that application's webhook URL.
mod telnyx {
    use super::*;
    use common::telnyx_numbers::{TELNYX_NUMBERS_KEY, TelnyxNumbers};

    const HOOK: &str = "https://first.example.test/webhooks/telnyx";

    async fn start(telnyx: &TelnyxNumbers, tmp: &std::path::Path) -> TestEngine {
        let mut cfg = config(tmp);
        cfg.telnyx_api_url = telnyx.base.clone();
        cfg.credential_env = vec![
            ("TELNYX_API_KEY".into(), TELNYX_NUMBERS_KEY.into()),
            (
                "TELNYX_PUBLIC_KEY".into(),
                common::carriers::TelnyxKeys::new().public_key_b64(),
            ),
        ];
        let engine = TestEngine::start_with(cfg).await;
        let (s, b) = engine
            .api
            .put("/api/settings", json!({"public_base_url": FIRST_URL}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        engine
    }

    #[tokio::test]
    async fn the_account_is_synced_imported_numbers_are_routed_here_and_a_release_gives_one_back() {
        let tmp = tempfile::tempdir().unwrap();
        let telnyx = TelnyxNumbers::start().await;
        let ours =
            telnyx.add_application("Switchboard", "https://old-tunnel.example/webhooks/telnyx");
        let other = telnyx.add_application("Another app", "https://other-app.example/hook");
        telnyx.cap_page_size(100);
        for n in 0..230 {
            telnyx.add_number(&format!("+1415556{n:04}"), None);
        }
        let routed_here = telnyx.add_number("+14155569001", Some(&ours));
        telnyx.add_number("+14155569002", Some(&other));
        let engine = start(&telnyx, tmp.path()).await;
        let api = &engine.api;

        // No connection set yet: the numbers are listed, but none can be routed here.
        let (s, sync) = api.get("/api/carriers/telnyx/numbers").await;
        assert_eq!(s, StatusCode::OK, "{sync}");
        assert_eq!(sync["numbers"].as_array().unwrap().len(), 232, "every page");
        let (s, e) = api
            .post(
                &format!("/api/carriers/telnyx/numbers/{routed_here}/import"),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("connection id"),
            "{e}"
        );
        assert_eq!(
            api.get("/api/phone-numbers").await.1,
            json!([]),
            "nothing kept"
        );

        let (s, b) = api
            .put("/api/settings", json!({"telnyx_connection_id": ours}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (_, sync) = api.get("/api/carriers/telnyx/numbers").await;
        assert_eq!(sync["voice_url"], HOOK);
        // On our application, whose webhooks go to an old tunnel: not here yet.
        assert_eq!(entry(&sync, "+14155569001")["pointing"], "elsewhere");
        assert_eq!(entry(&sync, "+14155569002")["pointing"], "elsewhere");
        assert_eq!(entry(&sync, "+14155560000")["pointing"], "nowhere");

        let plain = telnyx.numbers()[0]["id"].as_str().unwrap().to_owned();
        let (s, n) = api
            .post(
                &format!("/api/carriers/telnyx/numbers/{plain}/import"),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        assert_eq!(n["carrier_number_id"], plain.as_str());
        assert_eq!(n["pointed_url"], HOOK);
        let at_telnyx = telnyx
            .numbers()
            .into_iter()
            .find(|x| x["id"] == plain.as_str())
            .unwrap();
        assert_eq!(
            at_telnyx["connection_id"],
            ours.as_str(),
            "routed to our application"
        );
        let app = telnyx
            .applications()
            .into_iter()
            .find(|x| x["id"] == ours.as_str())
            .unwrap();
        assert_eq!(
            app["webhook_event_url"], HOOK,
            "and the application sends its webhooks here"
        );
        assert_eq!(app["application_name"], "Switchboard", "its name kept");
        let (_, sync) = api.get("/api/carriers/telnyx/numbers").await;
        assert_eq!(entry(&sync, "+14155569001")["pointing"], "here");
        assert_eq!(entry(&sync, "+14155560000")["pointing"], "here");

        let id = n["id"].as_str().unwrap();
        let (s, b) = api
            .delete(&format!("/api/phone-numbers/{id}?release=true"))
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
        assert!(
            telnyx.numbers().iter().all(|x| x["id"] != plain.as_str()),
            "released"
        );
        assert_eq!(telnyx.numbers().len(), 231);
        assert!(telnyx.violations().is_empty(), "{:?}", telnyx.violations());
    }

    /// An engine whose Telnyx connection is `app` (an application whose webhooks go to an old
    /// tunnel), and the buy URL.
    async fn buying(telnyx: &TelnyxNumbers, tmp: &std::path::Path) -> (TestEngine, String) {
        let app =
            telnyx.add_application("Switchboard", "https://old-tunnel.example/webhooks/telnyx");
        let engine = start(telnyx, tmp).await;
        let (s, b) = engine
            .api
            .put("/api/settings", json!({"telnyx_connection_id": app}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        (engine, app)
    }

    const BUY: &str = "/api/carriers/telnyx/available-numbers/buy";

    #[tokio::test]
    async fn a_search_gives_prices_requirement_groups_are_offered_and_a_bought_number_is_routed_here()
     {
        let tmp = tempfile::tempdir().unwrap();
        let telnyx = TelnyxNumbers::start().await;
        let (engine, app) = buying(&telnyx, tmp.path()).await;
        let api = &engine.api;
        telnyx.add_available("AU", "mobile", "+61480000001", true);
        telnyx.add_available("AU", "mobile", "+61480000003", true);
        telnyx.add_available("AU", "mobile", "+61480000002", false);
        telnyx.add_available("US", "local", "+14155550188", false);

        let (s, found) = api
            .get("/api/carriers/telnyx/available-numbers?country=AU&kind=mobile&contains=0001")
            .await;
        assert_eq!(s, StatusCode::OK, "{found}");
        assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
        assert_eq!(found[0]["number"], "+61480000001");
        assert_eq!(found[0]["monthly_price"], "1.00 USD");
        assert_eq!(found[0]["upfront_price"], "1.50 USD");
        assert_eq!(found[0]["iso_country"], "AU");
        assert_eq!(found[0]["locality"], "Sydney");
        let (_, us) = api
            .get("/api/carriers/telnyx/available-numbers?country=US&kind=local&area_code=415")
            .await;
        assert_eq!(us[0]["number"], "+14155550188", "{us}");

        // Only approved, unexpired groups for the country and kind are offered.
        let group = telnyx.add_requirement_group(
            "AU",
            "mobile",
            "Acme AU",
            "approved",
            "2030-01-01T00:00:00Z",
        );
        telnyx.add_requirement_group(
            "AU",
            "mobile",
            "Under review",
            "pending-approval",
            "2030-01-01T00:00:00Z",
        );
        telnyx.add_requirement_group("AU", "mobile", "Lapsed", "approved", "2020-01-01T00:00:00Z");
        telnyx.add_requirement_group("US", "local", "Acme US", "approved", "2030-01-01T00:00:00Z");
        let (s, needs) = api
            .get("/api/carriers/telnyx/available-numbers/requirements?country=AU&kind=mobile")
            .await;
        assert_eq!(s, StatusCode::OK, "{needs}");
        assert_eq!(
            needs["addresses"],
            json!([]),
            "Telnyx orders take no address"
        );
        let bundles = needs["bundles"].as_array().unwrap();
        assert_eq!(bundles.len(), 1, "{needs}");
        assert_eq!(
            (&bundles[0]["id"], &bundles[0]["name"]),
            (&json!(group), &json!("Acme AU"))
        );

        // Without the group Telnyx holds the order: said in words, nothing kept here.
        let (s, e) = api.post(BUY, json!({"number": "+61480000001"})).await;
        assert_carrier_refusal(s, &e, "needs regulatory information");
        assert_eq!(api.get("/api/phone-numbers").await.1, json!([]));

        // With it: ordered on our application, routed here, managed.
        let (s, n) = api
            .post(BUY, json!({"number": "+61480000003", "bundle_id": group}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        assert_eq!(n["number"], "+61480000003");
        assert_eq!(n["carrier"], "telnyx");
        assert_eq!(n["pointed_url"], HOOK);
        let ordered = telnyx.orders().last().unwrap().clone();
        assert_eq!(ordered["connection_id"], app.as_str());
        assert_eq!(
            ordered["phone_numbers"][0]["requirement_group_id"],
            group.as_str()
        );
        let at_telnyx = telnyx
            .numbers()
            .into_iter()
            .find(|x| x["phone_number"] == "+61480000003")
            .unwrap();
        assert_eq!(n["carrier_number_id"], at_telnyx["id"]);
        assert_eq!(at_telnyx["connection_id"], app.as_str());
        let application = &telnyx.applications()[0];
        assert_eq!(
            application["webhook_event_url"], HOOK,
            "the application sends its webhooks here"
        );

        // An order that takes a while is watched until it completes.
        telnyx.orders_pending_for(3);
        let (s, n) = api.post(BUY, json!({"number": "+61480000002"})).await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        assert_eq!(n["pointed_url"], HOOK);
        assert!(
            telnyx.count(
                "GET",
                &format!(
                    "/v2/number_orders/{}",
                    telnyx.orders().last().unwrap()["id"].as_str().unwrap()
                )
            ) >= 3
        );

        // Taken by someone else since the search: search again.
        telnyx.take_available("+14155550188");
        let (s, e) = api.post(BUY, json!({"number": "+14155550188"})).await;
        assert_carrier_refusal(s, &e, "search again");
        assert_eq!(
            api.get("/api/phone-numbers")
                .await
                .1
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            telnyx.count("POST", "/v2/number_orders"),
            4,
            "each purchase ordered once"
        );
        assert!(telnyx.violations().is_empty(), "{:?}", telnyx.violations());
    }

    #[tokio::test]
    async fn an_order_whose_answer_is_lost_is_looked_for_on_the_account_never_placed_twice() {
        let tmp = tempfile::tempdir().unwrap();
        let telnyx = TelnyxNumbers::start().await;
        let (engine, _) = buying(&telnyx, tmp.path()).await;
        let api = &engine.api;
        telnyx.add_available("US", "local", "+14155550191", false);
        telnyx.add_available("US", "local", "+14155550192", false);

        // Ordered, but the answer never came: found on the account, routed here, managed.
        telnyx.act_then_stall_next(1);
        let (s, n) = api.post(BUY, json!({"number": "+14155550191"})).await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        assert_eq!(n["pointed_url"], HOOK);
        assert_eq!(telnyx.count("POST", "/v2/number_orders"), 1);

        // Never ordered, and no answer: not on the account, so said, and not ordered again.
        telnyx.stall_next(1);
        let (s, e) = api.post(BUY, json!({"number": "+14155550192"})).await;
        assert_carrier_refusal(s, &e, "did not confirm");
        assert_eq!(
            telnyx.count("POST", "/v2/number_orders"),
            2,
            "the purchase was sent once"
        );
        assert_eq!(
            api.get("/api/phone-numbers")
                .await
                .1
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(telnyx.violations().is_empty(), "{:?}", telnyx.violations());
    }

    #[tokio::test]
    async fn an_order_still_pending_after_the_watch_is_managed_from_the_account() {
        let tmp = tempfile::tempdir().unwrap();
        let telnyx = TelnyxNumbers::start().await;
        let (engine, _) = buying(&telnyx, tmp.path()).await;
        telnyx.add_available("US", "local", "+14155550193", false);
        telnyx.orders_pending_for(usize::MAX);
        let (s, n) = engine
            .api
            .post(BUY, json!({"number": "+14155550193"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        assert_eq!(n["pointed_url"], HOOK);
        let at_telnyx = &telnyx.numbers()[0];
        assert_eq!(
            at_telnyx["status"], "purchase-pending",
            "Telnyx is still completing it"
        );
        assert_eq!(n["carrier_number_id"], at_telnyx["id"]);
        assert_eq!(telnyx.count("POST", "/v2/number_orders"), 1);
        assert!(telnyx.violations().is_empty(), "{:?}", telnyx.violations());
    }
}
