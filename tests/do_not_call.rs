//! The do-not-call lists end to end: numbers put on the global list or a campaign's (by the
//! API, a CSV import, or the person's own opt-out said to the agent during a call) are never
//! dialed. Judged from the Twilio simulator's log of every dial, never from the engine's.

mod common;

use std::time::Duration;

use common::campaigns::{
    agent, campaign, import, lead_phone, leads_csv, midday_zone, settings, wait_for_status,
    wait_until,
};
use common::carriers::{TWILIO_SID, TWILIO_TOKEN};
use common::realtime::{FakeRealtime, Script as Voice, TEST_API_KEY};
use common::twilio_calls::{Script, TwilioCalls};
use common::twilio_media::TwilioMedia;
use common::{Api, TestEngine, assert_error, config};
use reqwest::StatusCode;
use serde_json::{Value, json};

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
        let tmp = tempfile::tempdir().unwrap();
        let realtime = FakeRealtime::start(Voice::new()).await;
        let twilio = TwilioCalls::start(PUBLIC, "http://unset").await;
        let mut cfg = config(tmp.path());
        cfg.openai_realtime_url = realtime.url();
        cfg.twilio_api_url = twilio.base.clone();
        cfg.credential_env = vec![
            ("OPENAI_API_KEY".into(), TEST_API_KEY.into()),
            ("TWILIO_ACCOUNT_SID".into(), TWILIO_SID.into()),
            ("TWILIO_AUTH_TOKEN".into(), TWILIO_TOKEN.into()),
        ];
        let engine = TestEngine::start_with(cfg).await;
        twilio.deliver_to(&engine.public_url());
        let (s, _) = engine
            .api
            .put("/api/settings", json!({"public_base_url": PUBLIC}))
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, n) = engine
            .api
            .post(
                "/api/phone-numbers",
                json!({"number": OUR_NUMBER, "carrier": "twilio"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        Self {
            number: n["id"].as_str().unwrap().to_owned(),
            engine,
            twilio,
            realtime,
            _tmp: tmp,
        }
    }

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

    fn dialed(&self, number: &str) -> usize {
        self.twilio
            .dials()
            .iter()
            .filter(|d| d.to == number)
            .count()
    }
}

async fn list(api: &Api, number: &str, campaign_id: Option<&str>, note: &str) -> Value {
    let (s, e) = api
        .post(
            "/api/do-not-call",
            json!({"number": number, "campaign_id": campaign_id, "note": note, "source": "manual"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    e
}

async fn leads_by_phone(api: &Api, campaign_id: &str) -> std::collections::HashMap<String, Value> {
    let (s, page) = api
        .get(&format!("/api/campaigns/{campaign_id}/leads?limit=500"))
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["phone"].as_str().unwrap().to_owned(), l.clone()))
        .collect()
}

#[tokio::test]
async fn a_campaign_dials_nobody_on_the_global_list_or_its_own() {
    let w = World::start().await;
    let api = &w.engine.api;
    w.twilio.default_script(Script::Busy);
    let a = agent(api, "A", 5, "").await;
    let id = campaign(
        api,
        json!({"name": "Listed", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({}))}),
    )
    .await;
    let other = campaign(
        api,
        json!({"name": "Other", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({}))}),
    )
    .await;
    // Leads imported with listed numbers are kept (the entry may be removed later), but their
    // numbers are checked at every claim.
    import(api, &id, &leads_csv(12)).await;
    list(api, &lead_phone(1), None, "asked by letter").await;
    list(api, &lead_phone(4), None, "").await;
    list(api, &lead_phone(6), Some(&id), "this campaign only").await;
    // Another campaign's list does not bind this one.
    list(api, &lead_phone(8), Some(&other), "").await;
    // Taken off again before the start: dialed after all.
    let removed = list(api, &lead_phone(10), None, "").await;
    let (s, _) = api
        .delete(&format!("/api/do-not-call/{}", removed["id"]))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    let done = wait_for_status(api, &id, "completed", WAIT).await;

    for i in [1, 4, 6] {
        assert_eq!(
            w.dialed(&lead_phone(i)),
            0,
            "lead {i}'s number is listed, so it never reaches the carrier"
        );
    }
    for i in [0, 2, 3, 5, 7, 8, 9, 10, 11] {
        assert_eq!(
            w.dialed(&lead_phone(i)),
            1,
            "lead {i} is on no list that binds this campaign"
        );
    }
    let leads = leads_by_phone(api, &id).await;
    for i in [1, 4, 6] {
        let l = &leads[&lead_phone(i)];
        assert_eq!(
            (&l["status"], &l["last_outcome"], &l["attempts"]),
            (&json!("failed"), &json!("do_not_call"), &json!(0)),
            "settled without a call: {l}"
        );
        assert_eq!(
            l["last_call_id"],
            Value::Null,
            "no call was written for it: {l}"
        );
    }
    assert_eq!(leads[&lead_phone(0)]["last_outcome"], "busy");
    assert_eq!(done["progress"]["leads"]["do_not_call"], 3, "{done}");
    assert_eq!(done["progress"]["leads"]["failed"], 12, "{done}");
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

#[tokio::test]
async fn a_single_call_to_a_listed_number_is_refused_with_the_reason_and_never_dialed() {
    let w = World::start().await;
    let api = &w.engine.api;
    let a = agent(api, "A", 2, "").await;
    let c = campaign(
        api,
        json!({"name": "C", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({}))}),
    )
    .await;
    let entry = list(api, "+1 (415) 555-0150", None, "complained on 1 Dec").await;
    assert_eq!(entry["number"], "+14155550150", "stored in E.164");
    assert_eq!(entry["campaign_id"], Value::Null);
    list(api, "+14155550151", Some(&c), "").await;

    let refused = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": "+1 415-555-0150", "agent_id": a}),
        )
        .await;
    assert_error(&refused, StatusCode::CONFLICT, "do_not_call");
    let message = refused.1["error"]["message"].as_str().unwrap();
    // Since when, to the minute: "2026-12-06 14:36 UTC".
    let added = entry["added_at"].as_str().unwrap();
    let since = format!("since {} UTC", added[..16].replacen('T', " ", 1));
    for words in [
        "+14155550150",
        "global do-not-call list",
        since.as_str(),
        "added by hand",
        "complained on 1 Dec",
    ] {
        assert!(
            message.contains(words),
            "the refusal says {words:?}: {message}"
        );
    }
    assert!(w.twilio.dials().is_empty(), "nothing reached the carrier");
    let (_, calls) = api.get("/api/calls").await;
    assert_eq!(
        calls["items"].as_array().unwrap().len(),
        0,
        "no call was recorded: {calls}"
    );

    // A campaign's own list binds only that campaign: a single call to the number goes out.
    w.twilio.default_script(Script::Busy);
    let (s, call) = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": "+14155550151", "agent_id": a}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{call}");
    assert_eq!(w.dialed("+14155550151"), 1);
}

#[tokio::test]
async fn an_opt_out_said_during_a_call_lists_the_number_and_the_campaign_skips_it_next() {
    let w = World::start().await;
    let api = &w.engine.api;
    let a = agent(api, "A", 5, "").await;
    let single = agent(api, "Single", 1, "").await;
    let opting = "+14155550170";
    // One call at a time: lead 0 holds the slot (answered, never streamed) while the person
    // at `opting`, next in line, opts out on a single call.
    let id = campaign(
        api,
        json!({"name": "Mid", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({"max_concurrent_calls": 1}))}),
    )
    .await;
    // In a zone where it is midday, so the calling-hours floor lets them be dialed now.
    let tz = midday_zone();
    let csv = format!(
        "name,phone,tz\nFirst,{},{tz}\nOpting,{opting},{tz}\nLast,{},{tz}\n",
        lead_phone(0),
        lead_phone(2)
    );
    import(api, &id, &csv).await;
    w.twilio.default_script(Script::Answer {
        talk: Duration::from_secs(60),
    });
    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    wait_until("lead 0 dialed", WAIT, || w.twilio.dials().len() == 1).await;
    let first = w.twilio.dials()[0].clone();
    assert_eq!(first.to, lead_phone(0));

    let (s, call) = api
        .post(
            "/api/calls/outbound",
            json!({"from_number_id": w.number, "to": opting, "agent_id": single}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{call}");
    let call_id = call["id"].as_str().unwrap().to_owned();
    let dial = w
        .twilio
        .dials()
        .into_iter()
        .find(|d| d.to == opting)
        .unwrap();
    let _media = w.stream(&dial.carrier_call_id, &call_id, &single).await;
    let session = w.realtime.wait_for_event("session.update", WAIT).await;
    let tool = session["session"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "do_not_call")
        .cloned()
        .expect("every call Switchboard places offers the opt-out, whatever the agent's tools");
    assert!(
        tool["description"]
            .as_str()
            .unwrap()
            .contains("not to be called again"),
        "{tool}"
    );
    w.realtime
        .wait_for_server_event("session.updated", WAIT)
        .await;

    // A live view on the event stream, told of the opt-out.
    let events_url = format!(
        "ws://{}/api/events?access_token={}",
        w.engine.running.control_addr(),
        api.token
    );
    let (mut events, _) = tokio_tungstenite::connect_async(&events_url).await.unwrap();

    // The model is told nothing of numbers: any it invents is ignored.
    let model_call = w
        .realtime
        .agent_calls("do_not_call", r#"{"number": "+14155550199"}"#);
    let output = wait_for_output(&w.realtime, &model_call).await;
    assert_eq!(output["ok"], true, "{output}");

    let (_, page) = api.get("/api/do-not-call").await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the other party's number: {page}");
    assert_eq!(
        (
            &items[0]["number"],
            &items[0]["source"],
            &items[0]["call_id"]
        ),
        (&json!(opting), &json!("opt_out"), &json!(call_id)),
    );
    let told = tokio::time::timeout(WAIT, async {
        while let Some(Ok(m)) = futures_util::StreamExt::next(&mut events).await {
            let Ok(text) = m.to_text() else { continue };
            let e: Value = serde_json::from_str(text).unwrap_or_default();
            if e["type"] == "do_not_call_added" {
                return e;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .expect("a do_not_call_added event");
    assert_eq!(told["entry"]["number"], opting, "{told}");
    assert_eq!(told["entry"]["call_id"], call_id.as_str(), "{told}");
    // The call's transcript shows it.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, c) = api.get(&format!("/api/calls/{call_id}")).await;
        let lines: Vec<String> = c["transcript"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["speaker"] == "tool")
            .map(|l| l["text"].as_str().unwrap().to_owned())
            .collect();
        if lines
            .iter()
            .any(|l| l == &format!("do_not_call → {opting} put on the global do-not-call list"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no opt-out line: {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Lead 0's call ends; the next claim meets the opted-out number and passes it by.
    let (s, body) = api
        .post(&format!("/api/calls/{}/hangup", first.call_id), json!({}))
        .await;
    assert!(s.is_success(), "{body}");
    wait_until("the last lead dialed", WAIT, || {
        w.dialed(&lead_phone(2)) == 1
    })
    .await;
    assert_eq!(
        w.dialed(opting),
        1,
        "the opted-out number was dialed only for the call it opted out in"
    );
    let leads = leads_by_phone(api, &id).await;
    assert_eq!(
        leads[opting]["last_outcome"], "do_not_call",
        "{}",
        leads[opting]
    );
    assert!(
        w.twilio.violations().is_empty(),
        "{:?}",
        w.twilio.violations()
    );
}

/// The output the engine hands back for the model's call `call_id`, parsed.
async fn wait_for_output(realtime: &FakeRealtime, call_id: &str) -> Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(item) = realtime
            .client_events_of("conversation.item.create")
            .into_iter()
            .find(|e| e["item"]["call_id"] == call_id)
        {
            assert_eq!(item["item"]["type"], "function_call_output");
            return serde_json::from_str(item["item"]["output"].as_str().unwrap()).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no output for {call_id}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_lists_refuse_bad_numbers_page_search_and_import_csv_row_by_row() {
    let w = World::start().await;
    let api = &w.engine.api;
    let a = agent(api, "A", 2, "").await;
    let c = campaign(
        api,
        json!({"name": "C", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({}))}),
    )
    .await;

    // Bad input: named, and nothing changes.
    for (body, field) in [
        (json!({"number": "(415) 555-0100"}), "number"),
        (json!({"number": "call me"}), "number"),
        (
            json!({"number": "+14155550100", "note": "x".repeat(501)}),
            "note",
        ),
        (
            json!({"number": "+14155550100", "source": "opt_out"}),
            "source",
        ),
    ] {
        let got = api.post("/api/do-not-call", body.clone()).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(got.1["error"]["field"], field, "{body}: {}", got.1);
    }
    let got = api
        .post(
            "/api/do-not-call",
            json!({"number": "+14155550100", "campaign_id": "nope"}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let (_, page) = api.get("/api/do-not-call").await;
    assert_eq!(page["total"], 0, "{page}");

    let e = list(api, "+14155550100", None, "").await;
    assert_eq!(e["source"], "manual");
    let again = api
        .post("/api/do-not-call", json!({"number": "+1 415 555 0100"}))
        .await;
    assert_error(&again, StatusCode::CONFLICT, "conflict");
    assert!(
        again.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("since"),
        "{}",
        again.1
    );
    // The same number may be on a campaign's list too: each list is its own.
    let (s, ce) = api
        .post(
            "/api/do-not-call",
            json!({"number": "+14155550100", "campaign_id": c}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ce}");
    assert_eq!(ce["source"], "api", "the API's own source unless told");

    // An import: good rows added with their note, bad rows reported with their line and
    // reason, numbers already listed (or twice in the file) counted as duplicates.
    let csv = "phone,note\n\
               +14155550101,asked by email\n\
               not a number,x\n\
               +14155550100,already there\n\
               +1 415 555 0101,twice in the file\n\
               +14155550102,\n";
    let (s, r) = api
        .raw(
            reqwest::Method::POST,
            "/api/do-not-call/import",
            "text/csv",
            csv,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["added"], 2, "{r}");
    assert_eq!(r["total_rows"], 5, "{r}");
    assert_eq!(r["rejected"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["rejected"][0]["line"], 3, "{r}");
    assert!(
        r["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a number"),
        "{r}"
    );
    assert_eq!(r["duplicates"].as_array().unwrap().len(), 2, "{r}");

    let (_, page) = api.get("/api/do-not-call?limit=2").await;
    assert_eq!(page["total"], 3, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let (_, found) = api.get("/api/do-not-call?q=555-0101").await;
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["items"][0]["note"], "asked by email");
    assert_eq!(found["items"][0]["source"], "import");
    let (_, theirs) = api.get(&format!("/api/do-not-call?campaign_id={c}")).await;
    assert_eq!(
        theirs["total"], 1,
        "the campaign's list is its own: {theirs}"
    );

    // A file that cannot be read at all is refused whole.
    let (s, r) = api
        .raw(
            reqwest::Method::POST,
            "/api/do-not-call/import",
            "text/csv",
            "name\nDana\n",
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    let (_, page) = api.get("/api/do-not-call").await;
    assert_eq!(page["total"], 3);

    // Removing: an entry once, then 404.
    let path = format!("/api/do-not-call/{}", e["id"]);
    assert_eq!(api.delete(&path).await.0, StatusCode::NO_CONTENT);
    assert_error(&api.delete(&path).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(
        &api.delete("/api/do-not-call/x").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn a_list_covering_most_of_a_big_campaign_is_passed_by_a_thousand_at_a_time() {
    let w = World::start().await;
    let api = &w.engine.api;
    w.twilio.default_script(Script::Busy);
    let a = agent(api, "A", 5, "").await;
    let id = campaign(
        api,
        json!({"name": "Mostly listed", "agents": [{"agent_id": a}], "number_ids": [w.number],
               "settings": settings(json!({}))}),
    )
    .await;
    import(api, &id, &leads_csv(1_205)).await;
    // More listed leads in a row than one claim settles: the claims take them in turns.
    let mut csv = String::from("phone\n");
    for i in 0..1_200 {
        csv.push_str(&format!("{}\n", lead_phone(i)));
    }
    let (s, r) = api
        .raw(
            reqwest::Method::POST,
            &format!("/api/do-not-call/import?campaign_id={id}"),
            "text/csv",
            &csv,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["added"], 1_200, "{r}");

    api.post(&format!("/api/campaigns/{id}/start"), json!({}))
        .await;
    let done = wait_for_status(api, &id, "completed", WAIT).await;
    let dialed: Vec<String> = w.twilio.dials().into_iter().map(|d| d.to).collect();
    let expected: Vec<String> = (1_200..1_205).map(lead_phone).collect();
    let mut sorted = dialed.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "only the five unlisted leads were dialed");
    assert_eq!(done["progress"]["leads"]["do_not_call"], 1_200, "{done}");
}
