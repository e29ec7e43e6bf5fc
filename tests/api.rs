//! The control API over HTTP against a real engine on ephemeral ports: every route, every
//! error case, and the rule that bad input changes nothing.

mod common;

use common::{Api, TestEngine, assert_error};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard::domain::{CallDirection, CallStatus, Carrier, NewCall, Speaker, Timestamp};

const NUMBER: &str = "+14155552671";

#[tokio::test]
async fn requests_without_the_right_token_are_refused() {
    let e = TestEngine::start().await;
    let anonymous = reqwest::get(format!("{}/api/agents", e.api.base))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let wrong = Api::new(e.api.base.clone(), "not-the-token".into());
    for path in [
        "/api/agents",
        "/api/phone-numbers",
        "/api/calls",
        "/api/settings",
        "/api/credentials",
    ] {
        assert_error(
            &wrong.get(path).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
    }
    // A refused write changes nothing.
    assert_error(
        &wrong.post("/api/agents", json!({"name": "Sneaky"})).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_eq!(e.api.get("/api/agents").await.1, json!([]));
    e.stop().await;
}

/// What a web page in the user's browser could send the loopback API: each is refused before
/// the token is looked at, and changes nothing (tests/ui/hostile-page.test.mjs tries the same
/// from a real Chromium).
#[tokio::test]
async fn a_web_page_cannot_use_the_control_api_even_with_the_token() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let e = TestEngine::start().await;
    let (base, token) = (&e.api.base, &e.api.token);
    let port = e.running.control_addr().port();
    let http = reqwest::Client::new();
    let send = async |method: Method, headers: &[(&str, String)]| {
        let mut req = http
            .request(method, format!("{base}/api/agents"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(r#"{"name": "Planted"}"#);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let acao = res
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = res.json().await.unwrap_or(Value::Null);
        (status, acao, body)
    };
    let foreign = [
        ("origin", "https://evil.example".to_owned()),
        ("origin", format!("http://127.0.0.1:{}", port + 1)),
        ("origin", format!("http://localhost:{port}")),
        ("origin", "null".to_owned()),
    ];
    for header in &foreign {
        let (s, acao, body) = send(Method::POST, std::slice::from_ref(header)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{header:?}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("may not use"),
            "{body}"
        );
        assert_eq!(acao, None, "no CORS grant for {header:?}");
    }
    // DNS rebinding: the page's own name, pointed at 127.0.0.1, arrives as the Host.
    let rebound = format!("evil.example:{port}");
    for headers in [
        vec![("host", rebound.clone())],
        vec![
            ("host", rebound.clone()),
            ("origin", format!("http://{rebound}")),
        ],
    ] {
        let (s, _, body) = send(Method::POST, &headers).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{headers:?}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("loopback"),
            "{body}"
        );
    }
    // A foreign page's preflight gets no grant either.
    let (s, acao, _) = send(
        Method::OPTIONS,
        &[
            ("origin", "https://evil.example".to_owned()),
            ("access-control-request-method", "POST".to_owned()),
        ],
    )
    .await;
    assert_eq!((s, acao), (StatusCode::FORBIDDEN, None));
    // The event stream and a call's audio: refused to a foreign page before the token counts.
    let ws = format!("ws://127.0.0.1:{port}/api/events?access_token={token}");
    for (k, v) in [
        ("origin", "https://evil.example".to_owned()),
        ("host", rebound.clone()),
    ] {
        let mut req = ws.as_str().into_client_request().unwrap();
        req.headers_mut().insert(k, v.parse().unwrap());
        match tokio_tungstenite::connect_async(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status(), StatusCode::FORBIDDEN, "{k}: {v}")
            }
            other => panic!("{k}: {v} not refused: {:?}", other.map(|(_, r)| r.status())),
        }
    }
    assert_eq!(
        e.api.get("/api/agents").await.1,
        json!([]),
        "nothing planted"
    );

    // The UI's own pages, the desktop window and programs without an Origin get in.
    for headers in [
        vec![("origin", format!("http://127.0.0.1:{port}"))],
        vec![("origin", "tauri://localhost".to_owned())],
        vec![("host", format!("localhost:{port}"))],
        vec![],
    ] {
        let (s, _, body) = send(Method::GET, &headers).await;
        assert_eq!(s, StatusCode::OK, "{headers:?}: {body}");
    }
    let (s, acao, _) = send(
        Method::OPTIONS,
        &[
            ("origin", "tauri://localhost".to_owned()),
            ("access-control-request-method", "POST".to_owned()),
            ("access-control-request-headers", "authorization".to_owned()),
        ],
    )
    .await;
    assert!(s.is_success(), "{s}");
    assert_eq!(acao.as_deref(), Some("tauri://localhost"));
    let (mut events, _) = tokio_tungstenite::connect_async(ws.as_str()).await.unwrap();
    events.close(None).await.unwrap();
    // A token of the right length but wrong is still wrong (compared in constant time).
    let wrong: String = token.chars().rev().collect();
    let res = http
        .get(format!("{base}/api/agents"))
        .bearer_auth(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    e.stop().await;
}

#[tokio::test]
async fn agents_crud_with_defaults_and_partial_updates() {
    let e = TestEngine::start().await;
    let api = &e.api;
    assert_eq!(api.get("/api/agents").await, (StatusCode::OK, json!([])));

    let (s, a) = api
        .post(
            "/api/agents",
            json!({"name": "Front desk", "system_prompt": "You answer for Acme.", "greeting": "Acme, how can I help?",
                   "context": {"hours": "9-5"}, "max_concurrent_calls": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["voice"], "marin", "default voice");
    assert_eq!(a["model"], "gpt-realtime", "default model");
    assert_eq!(a["active"], true);
    assert_eq!(a["context"], json!({"hours": "9-5"}));
    let id = a["id"].as_str().unwrap();

    let (s, got) = api.get(&format!("/api/agents/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, a, "GET returns what POST created");

    let (s, up) = api
        .put(
            &format!("/api/agents/{id}"),
            json!({"active": false, "voice": "cedar"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{up}");
    assert_eq!(up["active"], false);
    assert_eq!(up["voice"], "cedar");
    assert_eq!(
        up["greeting"], "Acme, how can I help?",
        "fields left out are kept"
    );
    assert_eq!(up["created_at"], a["created_at"]);

    api.agent("after hours").await;
    let (_, list) = api.get("/api/agents").await;
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("after hours"), json!("Front desk")],
        "sorted by name, ignoring case"
    );

    let (s, _) = api.delete(&format!("/api/agents/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_error(
        &api.get(&format!("/api/agents/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    e.stop().await;
}

#[tokio::test]
async fn bad_agent_input_gets_a_clear_error_and_changes_nothing() {
    let e = TestEngine::start().await;
    let api = &e.api;
    let id = api.agent("Sales").await;
    let (_, before) = api.get("/api/agents").await;

    // 422: values that break a rule, with the field named.
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": "  "}), "name"),
        (
            json!({"name": "X", "context": ["not", "an", "object"]}),
            "context",
        ),
        (
            json!({"name": "X", "max_concurrent_calls": 0}),
            "max_concurrent_calls",
        ),
    ] {
        let got = api.post("/api/agents", body.clone()).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(got.1["error"]["field"], field, "for {body}");
    }
    let got = api
        .put(&format!("/api/agents/{id}"), json!({"context": 5}))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    // 400: what cannot be read at all.
    assert_error(
        &api.raw(
            Method::POST,
            "/api/agents",
            "application/json",
            "{\"name\": ",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );
    assert_error(
        &api.raw(
            Method::POST,
            "/api/agents",
            "text/plain",
            "{\"name\": \"X\"}",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );
    assert_error(
        &api.post(
            "/api/agents",
            json!({"name": "X", "max_concurrent_calls": "many"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );
    assert_error(
        &api.raw(
            Method::POST,
            "/api/agents",
            "application/json",
            "[\"Sales\", null]",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );
    assert_error(
        &api.post("/api/agents", json!({"nmae": "typo"})).await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );

    // 409: names are unique regardless of case.
    assert_error(
        &api.post("/api/agents", json!({"name": "sales"})).await,
        StatusCode::CONFLICT,
        "duplicate_name",
    );
    let other = api.agent("Support").await;
    assert_error(
        &api.put(&format!("/api/agents/{other}"), json!({"name": "SALES"}))
            .await,
        StatusCode::CONFLICT,
        "duplicate_name",
    );

    // 404: unknown ids on every agent route.
    for (m, path) in [
        (Method::GET, "/api/agents/nope"),
        (Method::PUT, "/api/agents/nope"),
        (Method::DELETE, "/api/agents/nope"),
        (Method::GET, "/api/agents/nope/stats"),
    ] {
        let body = (m == Method::PUT).then(|| json!({"name": "X"}));
        assert_error(
            &api.call(m, path, body).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }

    let (_, after) = api.get("/api/agents").await;
    let before_sales = before.as_array().unwrap()[0].clone();
    let after_sales = after
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .unwrap();
    assert_eq!(
        &before_sales, after_sales,
        "failed requests left the agent as it was"
    );
    assert_eq!(
        after.as_array().unwrap().len(),
        2,
        "only Sales and Support exist"
    );
    e.stop().await;
}

#[tokio::test]
async fn numbers_are_normalised_unique_and_show_their_agents_names() {
    let e = TestEngine::start().await;
    let api = &e.api;
    let (s, n) = api
        .post(
            "/api/phone-numbers",
            json!({"number": "+1 (415) 555-2671", "carrier": "twilio", "label": "Main line"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    assert_eq!(n["number"], NUMBER);
    assert_eq!(n["status"], "active");
    assert_eq!(n["calls_received"], 0);
    let id = n["id"].as_str().unwrap().to_owned();

    // The same number written differently is still a duplicate.
    assert_error(
        &api.post(
            "/api/phone-numbers",
            json!({"number": "+14155552671", "carrier": "telnyx"}),
        )
        .await,
        StatusCode::CONFLICT,
        "duplicate_number",
    );
    for bad in ["555-2671", "+1415", "call me", ""] {
        let got = api
            .post(
                "/api/phone-numbers",
                json!({"number": bad, "carrier": "twilio"}),
            )
            .await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_eq!(got.1["error"]["field"], "number");
    }
    assert_error(
        &api.post(
            "/api/phone-numbers",
            json!({"number": "+442079460958", "carrier": "vonage"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );

    let inbound = api.agent("Reception").await;
    let outbound = api.agent("Dialer").await;
    let (s, n) = api
        .put(
            &format!("/api/phone-numbers/{id}"),
            json!({"inbound_agent_id": inbound, "outbound_agent_id": outbound}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{n}");
    assert_eq!(n["inbound_agent_name"], "Reception");
    assert_eq!(n["outbound_agent_name"], "Dialer");
    assert_eq!(n["label"], "Main line", "fields left out are kept");

    // Names are read from the agents table, so a rename shows at once.
    api.put(
        &format!("/api/agents/{inbound}"),
        json!({"name": "Front desk"}),
    )
    .await;
    let (_, n) = api.get(&format!("/api/phone-numbers/{id}")).await;
    assert_eq!(n["inbound_agent_name"], "Front desk");
    let (_, list) = api.get("/api/phone-numbers").await;
    assert_eq!(list[0]["inbound_agent_name"], "Front desk");

    // An unknown agent id is refused and nothing changes.
    let got = api
        .put(
            &format!("/api/phone-numbers/{id}"),
            json!({"inbound_agent_id": "ghost", "label": "changed"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(got.1["error"]["field"], "inbound_agent_id");
    let (_, n) = api.get(&format!("/api/phone-numbers/{id}")).await;
    assert_eq!(n["inbound_agent_id"], inbound.as_str());
    assert_eq!(n["label"], "Main line");

    // null clears one assignment and leaves the other.
    let (_, n) = api
        .put(
            &format!("/api/phone-numbers/{id}"),
            json!({"outbound_agent_id": null}),
        )
        .await;
    assert_eq!(n["outbound_agent_id"], Value::Null);
    assert_eq!(n["outbound_agent_name"], Value::Null);
    assert_eq!(n["inbound_agent_name"], "Front desk");

    // The number itself is fixed.
    let got = api
        .put(
            &format!("/api/phone-numbers/{id}"),
            json!({"number": "+14155552672"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    for (m, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"label": "x"}))),
        (Method::DELETE, None),
    ] {
        assert_error(
            &api.call(m, "/api/phone-numbers/nope", body).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_eq!(
        api.delete(&format!("/api/phone-numbers/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(api.get("/api/phone-numbers").await.1, json!([]));
    e.stop().await;
}

#[tokio::test]
async fn deleting_an_agent_in_use_needs_force_which_clears_its_assignments() {
    let e = TestEngine::start().await;
    let api = &e.api;
    let agent = api.agent("Busy").await;
    let keep = api.agent("Other").await;
    let mut ids = Vec::new();
    for (number, out) in [("+14155552671", &agent), ("+14155552672", &keep)] {
        let (s, n) = api
            .post(
                "/api/phone-numbers",
                json!({"number": number, "carrier": "telnyx", "inbound_agent_id": agent, "outbound_agent_id": out}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{n}");
        ids.push(n["id"].as_str().unwrap().to_owned());
    }

    let got = api.delete(&format!("/api/agents/{agent}")).await;
    assert_error(&got, StatusCode::CONFLICT, "agent_in_use");
    let message = got.1["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("+14155552671") && message.contains("+14155552672"),
        "{message}"
    );
    assert_eq!(
        api.get(&format!("/api/agents/{agent}")).await.0,
        StatusCode::OK,
        "still there"
    );
    let (_, n) = api.get(&format!("/api/phone-numbers/{}", ids[0])).await;
    assert_eq!(
        n["inbound_agent_id"],
        agent.as_str(),
        "assignments untouched by the refusal"
    );

    assert_eq!(
        api.delete(&format!("/api/agents/{agent}?force=true"))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (_, a) = api.get(&format!("/api/phone-numbers/{}", ids[0])).await;
    assert_eq!(
        (
            a["inbound_agent_id"].clone(),
            a["outbound_agent_id"].clone()
        ),
        (Value::Null, Value::Null)
    );
    let (_, b) = api.get(&format!("/api/phone-numbers/{}", ids[1])).await;
    assert_eq!(b["inbound_agent_id"], Value::Null);
    assert_eq!(
        b["outbound_agent_name"], "Other",
        "other agents' assignments stay"
    );
    e.stop().await;
}

#[tokio::test]
async fn the_default_region_lets_national_numbers_in() {
    let e = TestEngine::start().await;
    let api = &e.api;
    let got = api
        .post(
            "/api/phone-numbers",
            json!({"number": "(415) 555-2671", "carrier": "twilio"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let (s, settings) = api
        .put("/api/settings", json!({"default_region": "us"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{settings}");
    assert_eq!(settings["default_region"], "US");
    let (s, n) = api
        .post(
            "/api/phone-numbers",
            json!({"number": "(415) 555-2671", "carrier": "twilio"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    assert_eq!(n["number"], NUMBER);
    e.stop().await;
}

#[tokio::test]
async fn settings_derive_the_carrier_urls_and_refuse_bad_values() {
    let e = TestEngine::start().await;
    let api = &e.api;
    let (s, initial) = api.get("/api/settings").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(initial["public_base_url"], Value::Null);
    assert_eq!(initial["webhook_urls"], Value::Null);
    assert_eq!(initial["public_addr"], e.running.public_addr().to_string());

    let (s, set) = api
        .put(
            "/api/settings",
            json!({"public_base_url": "https://acme.example.com/sb/"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{set}");
    assert_eq!(set["public_base_url"], "https://acme.example.com/sb");
    assert_eq!(set["public_base_url_from_config"], false);
    assert_eq!(
        set["webhook_urls"],
        json!({
            "twilio_voice": "https://acme.example.com/sb/webhooks/twilio/voice",
            "twilio_status": "https://acme.example.com/sb/webhooks/twilio/status",
            "telnyx": "https://acme.example.com/sb/webhooks/telnyx",
            "twilio_media": "wss://acme.example.com/sb/media/twilio",
            "telnyx_media": "wss://acme.example.com/sb/media/telnyx",
            "twilio_stream_status": "https://acme.example.com/sb/webhooks/twilio/stream-status",
        })
    );

    for body in [
        json!({"public_base_url": "ftp://acme.example.com"}),
        json!({"public_base_url": "https://acme.example.com/?x=1"}),
        // All or nothing: a bad region keeps the good URL from being saved too.
        json!({"public_base_url": "https://other.example.com", "default_region": "XX"}),
    ] {
        assert_error(
            &api.put("/api/settings", body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        );
    }
    assert_error(
        &api.put("/api/settings", json!({"colour": "blue"})).await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );
    assert_eq!(
        api.get("/api/settings").await.1["public_base_url"],
        "https://acme.example.com/sb"
    );

    let (_, cleared) = api
        .put("/api/settings", json!({"public_base_url": null}))
        .await;
    assert_eq!(cleared["public_base_url"], Value::Null);
    e.stop().await;
}

#[tokio::test]
async fn credentials_without_a_keyring_say_so_and_never_echo_values() {
    let e = TestEngine::start().await;
    let api = &e.api;
    let (s, c) = api.get("/api/credentials").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["keyring"]["available"], false);
    let providers: Vec<_> = c["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider"].clone())
        .collect();
    assert_eq!(
        providers,
        [
            json!("twilio"),
            json!("telnyx"),
            json!("openai"),
            json!("livekit"),
            json!("retell")
        ]
    );
    assert!(
        c["providers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["set"] == false)
    );

    let got = api
        .put(
            "/api/credentials/openai",
            json!({"api_key": "sk-test-very-secret"}),
        )
        .await;
    assert_error(&got, StatusCode::SERVICE_UNAVAILABLE, "keyring_unavailable");
    assert!(!got.1.to_string().contains("sk-test-very-secret"));
    assert_error(
        &api.put("/api/credentials/vonage", json!({"api_key": "k"}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let got = api
        .put(
            "/api/credentials/twilio",
            json!({"account_sid": "ACnothex-secret", "auth_token": "tok"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert!(
        !got.1.to_string().contains("ACnothex-secret"),
        "validation errors never quote values"
    );
    e.stop().await;
}

async fn seed_calls(e: &TestEngine) -> (String, String, Vec<String>) {
    let api = &e.api;
    let agent = api.agent("Reception").await;
    let other = api.agent("Dialer").await;
    let (_, n) = api
        .post(
            "/api/phone-numbers",
            json!({"number": NUMBER, "carrier": "twilio"}),
        )
        .await;
    let number_id = n["id"].as_str().unwrap().to_owned();
    let store = e.running.engine.store();
    let base = 1_780_000_000_000i64; // 2026-05-28
    let mut ids = Vec::new();
    for i in 0..6i64 {
        let direction = if i % 2 == 0 {
            CallDirection::Inbound
        } else {
            CallDirection::Outbound
        };
        let call = store
            .create_call(NewCall {
                direction,
                carrier: Carrier::Twilio,
                carrier_call_id: Some(format!("CA{i:032}")),
                from_number: "+14155550100".into(),
                to_number: NUMBER.into(),
                agent_id: Some(if i < 4 { agent.clone() } else { other.clone() }),
                number_id: Some(number_id.clone()),
                status: CallStatus::Ringing,
                started_at: Timestamp::from_millis(base + i * 60_000),
            })
            .await
            .unwrap();
        if i < 3 {
            // Answered after 1 s, talked 10·(i+1) s.
            store
                .mark_call_answered(&call.id, Timestamp::from_millis(base + i * 60_000 + 1_000))
                .await
                .unwrap();
            store
                .mark_call_ended(
                    &call.id,
                    CallStatus::Completed,
                    Timestamp::from_millis(base + i * 60_000 + 1_000 + (i + 1) * 10_000),
                    Some("normal_clearing"),
                )
                .await
                .unwrap();
        } else if i == 3 {
            store
                .mark_call_ended(
                    &call.id,
                    CallStatus::NoAnswer,
                    Timestamp::from_millis(base + 200_000),
                    None,
                )
                .await
                .unwrap();
        }
        ids.push(call.id);
    }
    (agent, number_id, ids)
}

#[tokio::test]
async fn the_call_log_filters_pages_and_shows_transcripts() {
    let e = TestEngine::start().await;
    let api = &e.api;
    let (agent, number_id, ids) = seed_calls(&e).await;

    let (s, page) = api.get("/api/calls").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["total"], 6);
    let order: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(order, newest_first, "newest first");
    assert_eq!(page["items"][5]["agent_name"], "Reception");
    assert_eq!(page["items"][5]["duration_secs"], 10);

    let count = |q: &str| {
        let api = api.clone();
        let q = q.to_owned();
        async move {
            let (s, p) = api.get(&format!("/api/calls?{q}")).await;
            assert_eq!(s, StatusCode::OK, "{q}: {p}");
            p["total"].as_i64().unwrap()
        }
    };
    assert_eq!(count("direction=inbound").await, 3);
    assert_eq!(count(&format!("agent_id={agent}")).await, 4);
    assert_eq!(
        count(&format!("agent_id={agent}&direction=outbound")).await,
        2
    );
    assert_eq!(count(&format!("number_id={number_id}")).await, 6);
    assert_eq!(count("status=completed").await, 3);
    assert_eq!(count("status=completed,no_answer").await, 4);
    assert_eq!(count("status=live").await, 2, "the two calls still ringing");
    assert_eq!(
        count("since=2026-05-28T20:28:40Z").await,
        4,
        "started at or after the third call"
    );
    assert_eq!(
        count("since=2026-05-28T20:28:40Z&until=2026-05-28T20:30:40Z").await,
        2
    );

    let (_, p) = api.get("/api/calls?limit=2&offset=2").await;
    assert_eq!(p["total"], 6);
    assert_eq!(p["items"].as_array().unwrap().len(), 2);
    assert_eq!(p["items"][0]["id"], newest_first[2].as_str());

    for q in [
        "status=bogus",
        "since=yesterday",
        "limit=0",
        "limit=501",
        "direction=sideways",
        "offset=-1",
        // A search of no word finds nothing, but the other parameters are still checked.
        "q=%E2%80%94&status=bogus",
        "q=%E2%80%94&until=%40",
    ] {
        assert_error(
            &api.get(&format!("/api/calls?{q}")).await,
            StatusCode::BAD_REQUEST,
            "malformed",
        );
    }

    let store = e.running.engine.store();
    store
        .add_transcript_line(
            &ids[0],
            Speaker::Agent,
            "Acme, how can I help?",
            Timestamp::from_millis(1),
        )
        .await
        .unwrap();
    store
        .add_transcript_line(
            &ids[0],
            Speaker::Caller,
            "Are you open today?",
            Timestamp::from_millis(2),
        )
        .await
        .unwrap();
    let (s, detail) = api.get(&format!("/api/calls/{}", ids[0])).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(detail["status"], "completed");
    assert_eq!(detail["hangup_cause"], "normal_clearing");
    let lines: Vec<_> = detail["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["speaker"].clone(), l["text"].clone()))
        .collect();
    assert_eq!(
        lines,
        [
            (json!("agent"), json!("Acme, how can I help?")),
            (json!("caller"), json!("Are you open today?"))
        ]
    );
    assert_error(
        &api.get("/api/calls/nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    e.stop().await;
}

#[tokio::test]
async fn transcripts_are_searched_with_the_words_marked_and_the_log_exports_as_csv() {
    let e = TestEngine::start().await;
    let api = &e.api;
    let (agent, _, ids) = seed_calls(&e).await;
    let store = e.running.engine.store();
    for (call, speaker, text) in [
        (
            0,
            Speaker::Caller,
            "I want a refund for order 1182, please.",
        ),
        (0, Speaker::Agent, "I can help with that refund."),
        (1, Speaker::Caller, "Is the café open on Sunday?"),
        (2, Speaker::Caller, "My order never arrived."),
        (4, Speaker::Caller, "Refunding takes how long?"),
    ] {
        store
            .add_transcript_line(&ids[call], speaker, text, Timestamp::from_millis(5))
            .await
            .unwrap();
    }
    let search = |q: &str| {
        let api = api.clone();
        let q = url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>();
        async move {
            let (s, p) = api.get(&format!("/api/calls?q={q}")).await;
            assert_eq!(s, StatusCode::OK, "{q}: {p}");
            p
        }
    };
    let ids_of = |p: &Value| -> Vec<String> {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Every word must be there; the last one may be a word's start ("refu").
    let p = search("refund order").await;
    assert_eq!(ids_of(&p), [ids[0].clone()]);
    assert_eq!((&p["total"], &p["capped"]), (&json!(1), &json!(false)));
    let m = &p["matches"][0];
    assert_eq!(m["call_id"], ids[0].as_str());
    let hits: Vec<&str> = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["hit"] == true)
        .map(|x| x["text"].as_str().unwrap())
        .collect();
    assert_eq!(hits, ["refund", "order"], "{m}");
    let p = search("refu").await;
    assert_eq!(ids_of(&p), [ids[4].clone(), ids[0].clone()], "newest first");
    // Accents do not matter; filters still apply.
    assert_eq!(ids_of(&search("cafe").await), [ids[1].clone()]);
    let (_, p) = api
        .get(&format!("/api/calls?q=refund&agent_id={agent}"))
        .await;
    assert_eq!(ids_of(&p), [ids[0].clone()]);
    // What would be query syntax is plain text: no error, no match.
    for q in [
        "\"",
        "AND (",
        "*",
        "refund\" OR \"x",
        "NEAR(a b)",
        "G)\u{0}Ò\u{16}x²",
    ] {
        let p = search(q).await;
        assert!(p["items"].as_array().unwrap().len() <= 1, "{q}: {p}");
    }
    assert_eq!(search("zebra").await["total"], 0);
    assert_error(
        &api.get(&format!("/api/calls?q={}", "a".repeat(201))).await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );

    // The export: a header, then one row per call the filters match, newest first.
    let res = api
        .http
        .get(format!("{}/api/calls/export?direction=inbound", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"calls-")
    );
    let text = res.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(&header[..4], ["id", "started_at", "direction", "status"]);
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    let exported: Vec<&str> = records.iter().map(|r| &r[0]).collect();
    assert_eq!(
        exported,
        [ids[4].as_str(), ids[2].as_str(), ids[0].as_str()]
    );
    let first_call = &records[2];
    assert_eq!(&first_call[4], "+14155550100");
    assert_eq!(&first_call[6], "Reception");
    assert_eq!(&first_call[11], "10");
    assert_eq!(&first_call[12], "normal_clearing");
    // Paging does not apply to the export, but a value the document forbids is refused.
    assert_error(
        &api.get("/api/calls/export?limit=0").await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );
    // With a search, only the calls that match.
    let res = api
        .http
        .get(format!("{}/api/calls/export?q=refund", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    e.stop().await;
}

#[tokio::test]
async fn agent_stats_count_calls_per_direction() {
    let e = TestEngine::start().await;
    let (agent, _, _) = seed_calls(&e).await;
    // And one test call through this computer's microphone, 15 s: counted apart.
    let store = e.running.engine.store();
    let test = store
        .create_call(NewCall {
            direction: CallDirection::Test,
            carrier: Carrier::Local,
            carrier_call_id: None,
            from_number: "local".into(),
            to_number: "local".into(),
            agent_id: Some(agent.clone()),
            number_id: None,
            status: CallStatus::InProgress,
            started_at: Timestamp::from_millis(1_780_000_000_000),
        })
        .await
        .unwrap();
    store
        .mark_call_answered(&test.id, Timestamp::from_millis(1_780_000_000_000))
        .await
        .unwrap();
    store
        .mark_call_ended(
            &test.id,
            CallStatus::Completed,
            Timestamp::from_millis(1_780_000_015_000),
            None,
        )
        .await
        .unwrap();
    let (s, stats) = e.api.get(&format!("/api/agents/{agent}/stats")).await;
    assert_eq!(s, StatusCode::OK, "{stats}");
    // Reception: calls 0 (in, 10 s), 1 (out, 20 s), 2 (in, 30 s), 3 (out, no answer).
    assert_eq!(
        stats,
        json!({
            "agent_id": agent,
            // Costs at the default rates: Twilio US $0.0085/min in, $0.013/min out, per started
            // minute; OpenAI $0.15/min by the second; a test call has no carrier part.
            "inbound": {"calls": 2, "answered": 2, "total_duration_secs": 40, "average_duration_secs": 20.0,
                        "cost_usd": 0.117},
            "outbound": {"calls": 2, "answered": 1, "total_duration_secs": 20, "average_duration_secs": 20.0,
                         "cost_usd": 0.063},
            "total": {"calls": 4, "answered": 3, "total_duration_secs": 60, "average_duration_secs": 20.0,
                      "cost_usd": 0.18},
            "tests": {"calls": 1, "answered": 1, "total_duration_secs": 15, "average_duration_secs": 15.0,
                      "cost_usd": 0.0375},
            "tools": [],
        })
    );
    // A phone number cannot be on the `local` carrier.
    let (s, body) = e
        .api
        .post(
            "/api/phone-numbers",
            json!({"number": "+14155550199", "carrier": "local"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "carrier");
    let fresh = e.api.agent("Idle").await;
    let (_, idle) = e.api.get(&format!("/api/agents/{fresh}/stats")).await;
    assert_eq!(idle["total"]["calls"], 0);
    assert_eq!(
        idle["total"]["average_duration_secs"],
        Value::Null,
        "no average over no calls"
    );
    e.stop().await;
}

#[tokio::test]
async fn data_survives_a_restart() {
    let e = TestEngine::start().await;
    let agent = e.api.agent("Persistent").await;
    let (_, n) = e
        .api
        .post(
            "/api/phone-numbers",
            json!({"number": NUMBER, "carrier": "telnyx", "inbound_agent_id": agent}),
        )
        .await;
    e.api
        .put(
            "/api/settings",
            json!({"public_base_url": "https://a.example.com"}),
        )
        .await;
    let config = common::config(&e.dir);
    let tmp = e.stop().await;

    let again = TestEngine::start_with(config).await;
    let (_, list) = again.api.get("/api/phone-numbers").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], n["id"]);
    assert_eq!(list[0]["inbound_agent_name"], "Persistent");
    assert_eq!(
        again.api.get("/api/settings").await.1["public_base_url"],
        "https://a.example.com"
    );
    again.stop().await;
    drop(tmp);
}

#[tokio::test]
async fn the_event_stream_reports_changes() {
    let e = TestEngine::start().await;
    let ws_url = format!(
        "ws://{}/api/events?access_token={}",
        e.running.control_addr(),
        e.api.token
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url)
        .await
        .expect("events socket opens");
    let agent = e.api.agent("Live").await;
    let msg = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("an event arrives")
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
    assert_eq!(event["type"], "agent_created");
    assert_eq!(event["agent"]["id"], agent.as_str());

    let bad = format!(
        "ws://{}/api/events?access_token=wrong",
        e.running.control_addr()
    );
    let refused = tokio_tungstenite::connect_async(&bad).await;
    assert!(
        matches!(refused, Err(tokio_tungstenite::tungstenite::Error::Http(ref r)) if r.status() == StatusCode::UNAUTHORIZED),
        "a wrong token cannot open the stream: {refused:?}"
    );
    e.stop().await;
}

#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let e = TestEngine::start().await;
    let doc: Value = reqwest::get(format!("{}/api/openapi.json", e.api.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let mut expected = vec![
        "GET /api/tool-secrets",
        "PUT /api/tool-secrets/{name}",
        "DELETE /api/tool-secrets/{name}",
        "GET /api/agents",
        "POST /api/agents",
        "GET /api/agents/{id}",
        "PUT /api/agents/{id}",
        "DELETE /api/agents/{id}",
        "GET /api/agents/{id}/stats",
        "PUT /api/agents/{id}/context",
        "GET /api/phone-numbers",
        "POST /api/phone-numbers",
        "GET /api/phone-numbers/{id}",
        "PUT /api/phone-numbers/{id}",
        "DELETE /api/phone-numbers/{id}",
        "GET /api/calls",
        "GET /api/overview",
        "GET /api/campaigns/{id}/funnel",
        "GET /api/calls/export",
        "GET /api/calls/{id}",
        "DELETE /api/calls/{id}",
        "GET /api/calls/{id}/recording",
        "PUT /api/calls/{id}/context",
        "POST /api/calls/{id}/hangup",
        "POST /api/calls/{id}/analysis",
        "GET /api/settings",
        "PUT /api/settings",
        "GET /api/backup",
        "GET /api/backup/status",
        "POST /api/backup/restore",
        "GET /api/cost-rates",
        "PUT /api/cost-rates",
        "DELETE /api/cost-rates",
        "GET /api/credentials",
        "GET /api/cluster",
        "GET /api/diagnostics",
        "PUT /api/credentials/{provider}",
        "DELETE /api/credentials/{provider}",
        "GET /api/events",
        "GET /api/agents/load-stats",
        "POST /api/calls/outbound",
        "GET /api/do-not-call",
        "POST /api/do-not-call",
        "DELETE /api/do-not-call/{id}",
        "POST /api/do-not-call/import",
        "GET /api/campaigns",
        "POST /api/campaigns",
        "GET /api/campaigns/{id}",
        "PUT /api/campaigns/{id}",
        "DELETE /api/campaigns/{id}",
        "GET /api/campaigns/{id}/leads",
        "POST /api/campaigns/{id}/leads/import",
        "POST /api/campaigns/{id}/start",
        "POST /api/campaigns/{id}/pause",
        "POST /api/campaigns/{id}/resume",
        "POST /api/campaigns/{id}/stop",
        "POST /api/test-calls",
        "PUT /api/test-calls/{id}/mute",
        "GET /api/audio",
        "POST /api/audio/tone",
        "POST /api/audio/level",
        "GET /api/calls/{id}/audio",
        "GET /api/listen",
        "PUT /api/listen",
        "POST /api/calls/{id}/take-over",
        "POST /api/calls/{id}/hand-back",
        "POST /api/calls/{id}/whisper",
        "GET /api/carriers/{carrier}/numbers",
        "POST /api/carriers/{carrier}/numbers/{carrier_number_id}/import",
        "POST /api/phone-numbers/{id}/point",
        "POST /api/phone-numbers/point",
        "GET /api/carriers/{carrier}/available-numbers",
        "POST /api/carriers/{carrier}/available-numbers/buy",
        "GET /api/carriers/{carrier}/available-numbers/requirements",
        "POST /api/agents/with-number",
        "GET /api/webhooks",
        "POST /api/webhooks",
        "GET /api/webhooks/{id}",
        "PUT /api/webhooks/{id}",
        "DELETE /api/webhooks/{id}",
        "GET /api/webhooks/{id}/secret",
        "POST /api/webhooks/{id}/secret/rotate",
        "GET /api/webhooks/{id}/deliveries",
        "POST /api/webhooks/deliveries/{id}/redeliver",
    ];
    expected.sort();
    assert_eq!(
        documented, expected,
        "the document lists exactly the API's operations"
    );

    // Every documented operation is served: none falls through to the "no route" 404 or 405.
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap();
        let path = path
            .replace("{id}", "unknown-id")
            .replace("{provider}", "retell");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        if path.ends_with("/export") || path == "/api/backup" {
            // CSV or a database file, not JSON.
            let res = e
                .api
                .http
                .get(format!("{}{path}", e.api.base))
                .bearer_auth(&e.api.token)
                .send()
                .await
                .unwrap();
            // On PostgreSQL, backups are pg_dump's: the route says so with a 409.
            let on_postgres = std::env::var_os("SWITCHBOARD_TEST_DATABASE_URL").is_some();
            let expected = if path == "/api/backup" && on_postgres {
                StatusCode::CONFLICT
            } else {
                StatusCode::OK
            };
            assert_eq!(res.status(), expected, "{op}");
            continue;
        }
        let body = matches!(method, Method::POST | Method::PUT).then(|| json!({}));
        let (status, body) = e.api.call(method, &path, body).await;
        let fell_through = body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("no route"));
        assert!(
            !fell_through && status != StatusCode::METHOD_NOT_ALLOWED,
            "{op} is documented but not served: {status} {body}"
        );
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Agent",
        "PhoneNumber",
        "Call",
        "CallDetail",
        "ErrorBody",
        "Event",
        "Settings",
    ] {
        assert!(schemas.contains_key(name), "schema {name} is published");
    }
    e.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let e = TestEngine::start().await;
    assert_error(
        &e.api.get("/api/nothing-here").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let got = e
        .api
        .call(Method::PATCH, "/api/agents", Some(json!({})))
        .await;
    assert_error(&got, StatusCode::METHOD_NOT_ALLOWED, "malformed");
    let health: Value = reqwest::get(format!("{}/health", e.public_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    // The public listener carries no control API.
    let res = reqwest::get(format!("{}/api/agents", e.public_url()))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    e.stop().await;
}

/// A call written through the store as the carriers' paths write it: ringing at `start`
/// (RFC 3339), then answered a second later and ended `talk` seconds after that, or ended with
/// `end` unanswered.
async fn overview_call(
    e: &TestEngine,
    direction: CallDirection,
    agent: &str,
    start: &str,
    end: Option<(CallStatus, i64)>,
) -> String {
    let store = e.running.engine.store();
    let at = Timestamp::parse(start).unwrap().as_millis();
    let call = store
        .create_call(NewCall {
            direction,
            carrier: if direction == CallDirection::Test {
                Carrier::Local
            } else {
                Carrier::Twilio
            },
            carrier_call_id: (direction != CallDirection::Test).then(|| format!("CA{at}")),
            from_number: "+14155550100".into(),
            to_number: NUMBER.into(),
            agent_id: Some(agent.to_owned()),
            number_id: None,
            status: CallStatus::Ringing,
            started_at: Timestamp::from_millis(at),
        })
        .await
        .unwrap();
    match end {
        Some((CallStatus::Completed, talk)) => {
            store
                .mark_call_answered(&call.id, Timestamp::from_millis(at + 1_000))
                .await
                .unwrap();
            store
                .mark_call_ended(
                    &call.id,
                    CallStatus::Completed,
                    Timestamp::from_millis(at + 1_000 + talk * 1_000),
                    Some("normal_clearing"),
                )
                .await
                .unwrap();
        }
        Some((status, _)) => {
            store
                .mark_call_ended(&call.id, status, Timestamp::from_millis(at + 30_000), None)
                .await
                .unwrap();
        }
        None => {}
    }
    call.id
}

#[tokio::test]
async fn the_overview_sums_calls_by_local_day_and_moves_a_changed_call_once() {
    let e = TestEngine::start().await;
    let api = &e.api;
    let reception = api.agent("Reception").await;
    let dialer = api.agent("Dialer").await;
    use CallDirection::{Inbound, Outbound, Test};
    let done = |talk| Some((CallStatus::Completed, talk));
    // Paris moves to summer time on 2026-03-29 (a 23-hour day). 00:30 on the 28th in Paris
    // is still the 27th in UTC; 23:50 on the 29th is 21:50 UTC; 00:10 on the 30th is 22:10 UTC
    // on the 29th.
    overview_call(&e, Inbound, &reception, "2026-03-27T23:30:00Z", done(60)).await;
    overview_call(
        &e,
        Outbound,
        &dialer,
        "2026-03-29T21:50:00Z",
        Some((CallStatus::NoAnswer, 0)),
    )
    .await;
    let late = overview_call(&e, Inbound, &reception, "2026-03-29T22:10:00Z", None).await;
    overview_call(&e, Test, &reception, "2026-03-30T10:00:00Z", done(15)).await;
    // The 1st of April in Paris: outside the range.
    overview_call(&e, Inbound, &reception, "2026-03-31T22:30:00Z", done(5)).await;
    // Written, then deleted through the API: counted nowhere.
    let deleted = overview_call(&e, Inbound, &dialer, "2026-03-28T12:00:00Z", done(40)).await;
    let (s, body) = api.delete(&format!("/api/calls/{deleted}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");

    let paris = "/api/overview?from=2026-03-28&to=2026-03-30&tz=Europe/Paris";
    let (s, o) = api.get(paris).await;
    assert_eq!(s, StatusCode::OK, "{o}");
    let per_day = |o: &Value, key: &str| -> Vec<i64> {
        o["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["totals"][key].as_i64().unwrap())
            .collect()
    };
    let dates: Vec<_> = o["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, ["2026-03-28", "2026-03-29", "2026-03-30"]);
    assert_eq!(per_day(&o, "calls"), [1, 1, 2], "{o:#}");
    assert_eq!(per_day(&o, "inbound"), [1, 0, 1]);
    assert_eq!(per_day(&o, "outbound"), [0, 1, 0]);
    assert_eq!(per_day(&o, "test"), [0, 0, 1]);
    assert_eq!(
        per_day(&o, "answered"),
        [1, 0, 1],
        "the call at 00:10 is still ringing"
    );
    assert_eq!(o["days"][2]["totals"]["answer_rate"], 0.5);
    assert_eq!(o["days"][1]["totals"]["average_duration_secs"], Value::Null);
    assert_eq!(o["totals"]["calls"], 4);
    let outcomes = |o: &Value| -> Vec<(String, i64)> {
        o["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["status"].as_str().unwrap().to_owned(),
                    x["calls"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        outcomes(&o),
        [
            ("completed".to_owned(), 2),
            ("no_answer".to_owned(), 1),
            ("ringing".to_owned(), 1)
        ]
    );

    // The ringing call is answered and ends: it moves from ringing to completed, counted once.
    let store = e.running.engine.store();
    let start = Timestamp::parse("2026-03-29T22:10:00Z")
        .unwrap()
        .as_millis();
    store
        .mark_call_answered(&late, Timestamp::from_millis(start + 2_000))
        .await
        .unwrap();
    store
        .mark_call_ended(
            &late,
            CallStatus::Completed,
            Timestamp::from_millis(start + 32_000),
            Some("normal_clearing"),
        )
        .await
        .unwrap();
    let (_, o) = api.get(paris).await;
    assert_eq!(
        per_day(&o, "calls"),
        [1, 1, 2],
        "the call is still one call"
    );
    assert_eq!(per_day(&o, "answered"), [1, 0, 2]);
    assert_eq!(per_day(&o, "total_duration_secs"), [60, 0, 45]);
    assert_eq!(
        outcomes(&o),
        [("completed".to_owned(), 3), ("no_answer".to_owned(), 1)]
    );
    let t = &o["totals"];
    assert_eq!(
        (
            t["calls"].as_i64(),
            t["inbound"].as_i64(),
            t["outbound"].as_i64(),
            t["test"].as_i64()
        ),
        (Some(4), Some(2), Some(1), Some(1))
    );
    assert_eq!(t["answered"], 3);
    assert_eq!(t["answer_rate"], 0.75);
    assert_eq!(t["total_duration_secs"], 105);
    assert_eq!(t["average_duration_secs"], 35.0);
    // Every ended call is costed (at the default rates) in the write that ends it; the
    // overview sums exactly what the calls say.
    // Paris' 28th to 30th: 27 March 23:00 UTC (winter time) to 30 March 22:00 UTC (summer).
    let (_, page) = api
        .get("/api/calls?limit=100&since=2026-03-27T23:00:00Z&until=2026-03-30T22:00:00Z")
        .await;
    let costs: Vec<f64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["cost_estimate_usd"].as_f64())
        .collect();
    let sum: f64 = costs.iter().sum();
    assert!(sum > 0.0, "the calls were costed: {page}");
    assert!(
        (t["cost_usd"].as_f64().unwrap() - sum).abs() < 1e-5,
        "the overview's cost {} is its calls' {sum}",
        t["cost_usd"]
    );
    assert_eq!(t["costed_calls"].as_i64(), Some(costs.len() as i64));
    let agents: Vec<_> = o["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap(),
                a["totals"]["calls"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        agents,
        [("Reception", 3), ("Dialer", 1)],
        "most calls first"
    );
    assert_eq!(o["campaigns"][0]["campaign_id"], Value::Null);
    assert_eq!(o["campaigns"][0]["totals"]["calls"], 4);

    // The same days in UTC: the 27th's call is out, the call at 22:10 falls on the 29th.
    let (_, u) = api
        .get("/api/overview?from=2026-03-28&to=2026-03-30&tz=UTC")
        .await;
    assert_eq!(per_day(&u, "calls"), [0, 2, 1]);
    // Fixed offsets too: at +05:45 the 27th's 23:30 UTC is the 28th's 05:15.
    let (_, k) = api
        .get("/api/overview?from=2026-03-28&to=2026-03-28&tz=%2B05:45")
        .await;
    assert_eq!(per_day(&k, "calls"), [1], "{k}");
    // One agent's calls only.
    let (_, d) = api.get(&format!("{paris}&agent_id={dialer}")).await;
    assert_eq!(per_day(&d, "calls"), [0, 1, 0]);
    assert_eq!(d["agents"].as_array().unwrap().len(), 1);

    for (q, status) in [
        ("from=2026-03-30&to=2026-03-28", StatusCode::BAD_REQUEST),
        ("from=2025-01-01&to=2026-02-05", StatusCode::BAD_REQUEST),
        ("from=2026-02-30", StatusCode::BAD_REQUEST),
        ("from=1999-12-31&to=2000-01-02", StatusCode::BAD_REQUEST),
        ("tz=Mars/Base", StatusCode::BAD_REQUEST),
        ("tz=%2B05:10", StatusCode::BAD_REQUEST),
        ("tz=Europe/Paris%00", StatusCode::BAD_REQUEST),
        ("agent_id=nobody", StatusCode::NOT_FOUND),
        ("campaign_id=nothing", StatusCode::NOT_FOUND),
    ] {
        let (s, body) = api.get(&format!("/api/overview?{q}")).await;
        assert_eq!(s, status, "{q}: {body}");
        if status == StatusCode::BAD_REQUEST {
            assert_eq!(body["error"]["code"], "malformed", "{q}: {body}");
        }
    }
    let (s, body) = api.get("/api/overview?from=2026-03-30&to=2026-03-28").await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("from"),
        "the error names the parameter: {s} {body}"
    );
    // The default: the last 30 days, ending today.
    let (s, d) = api.get("/api/overview").await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["days"].as_array().unwrap().len(), 30);
    assert_error(
        &api.get("/api/campaigns/nothing/funnel").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    e.stop().await;
}

/// The live task count follows what the engine holds: each open event stream is a task of
/// its own, and its task ends when the stream closes.
#[tokio::test]
async fn diagnostics_count_the_tasks_an_event_stream_holds_and_frees() {
    let e = TestEngine::start().await;
    let tasks = |d: &Value| d["tasks"].as_u64().expect("tasks is a count");
    let (s, before) = e.api.get("/api/diagnostics").await;
    assert_eq!(s, StatusCode::OK, "{before}");
    assert!(tasks(&before) > 0, "a running engine has tasks: {before}");
    assert_eq!(before["live_calls"], 0, "no call is up: {before}");
    assert!(before["uptime_seconds"].is_u64(), "{before}");
    let unauthorized = reqwest::get(format!("{}/api/diagnostics", e.api.base))
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);

    let ws_url = format!(
        "ws://{}/api/events?access_token={}",
        e.running.control_addr(),
        e.api.token
    );
    let mut streams = Vec::new();
    for _ in 0..5 {
        let (ws, _) = tokio_tungstenite::connect_async(&ws_url)
            .await
            .expect("events socket opens");
        streams.push(ws);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let open = loop {
        let (_, d) = e.api.get("/api/diagnostics").await;
        if tasks(&d) >= tasks(&before) + 5 {
            break tasks(&d);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "five open event streams are five more tasks: {before} then {d}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    for mut ws in streams {
        ws.close(None).await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, d) = e.api.get("/api/diagnostics").await;
        if tasks(&d) + 5 <= open {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "closed event streams leave no task behind: {open} open, then {d}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    e.stop().await;
}

#[tokio::test]
async fn the_cluster_view_shows_this_node_and_its_store() {
    let e = TestEngine::start().await;
    let (s, c) = e.api.get("/api/cluster").await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let on_postgres = common::test_database(&e.dir).is_some();
    assert_eq!(
        c["store"],
        if on_postgres { "postgresql" } else { "sqlite" }
    );
    assert_eq!(c["leads_campaigns"], true, "the only node leads");
    let nodes = c["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{c}");
    assert_eq!(nodes[0]["id"], c["node_id"]);
    assert_eq!(nodes[0]["this_node"], true);
    e.stop().await;
}
