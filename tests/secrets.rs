//! Credentials and the control token in a real OS keyring: the Secret Service of a
//! gnome-keyring daemon in a private D-Bus session (scripts/test.sh starts one), never a mock.

mod common;

use common::{Api, TestEngine, assert_error, rand_suffix};
use reqwest::StatusCode;
use serde_json::json;
use switchboard::secrets::Provider;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "twilio-auth-token-9f8e7d6c5b4a";

fn require_secret_service() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "these tests need a Secret Service: run them through scripts/test.sh, which starts \
         gnome-keyring in a private D-Bus session"
    );
}

fn keyring_config(dir: &std::path::Path, service: &str) -> switchboard::Config {
    switchboard::Config {
        token: None,
        no_keyring: false,
        keyring_service: service.to_owned(),
        ..common::config(dir)
    }
}

fn entry(service: &str, name: &str) -> Option<String> {
    match keyring::Entry::new(service, name).unwrap().get_password() {
        Ok(v) => Some(v),
        Err(keyring::Error::NoEntry) => None,
        Err(e) => panic!("keyring read failed: {e}"),
    }
}

fn files_contain(dir: &std::path::Path, needle: &str) -> bool {
    common::stored_contains(dir, needle)
}

#[tokio::test]
async fn the_control_token_is_made_once_and_kept_in_the_keyring() {
    require_secret_service();
    let service = format!("switchboard-test-{}", rand_suffix());
    let tmp = tempfile::tempdir().unwrap();
    let e = TestEngine::start_with(keyring_config(tmp.path(), &service)).await;
    let token = e.running.token().to_owned();
    assert_eq!(
        entry(&service, "control-token").as_deref(),
        Some(token.as_str())
    );
    assert!(
        !tmp.path().join("control-token").exists(),
        "with a keyring, no token file"
    );
    assert_eq!(e.api.get("/api/agents").await.0, StatusCode::OK);
    e.stop().await;

    let again = TestEngine::start_with(keyring_config(tmp.path(), &service)).await;
    assert_eq!(
        again.running.token(),
        token,
        "the same token after a restart"
    );
    again.stop().await;
    keyring::Entry::new(&service, "control-token")
        .unwrap()
        .delete_credential()
        .unwrap();
}

#[tokio::test]
async fn credentials_go_to_the_keyring_and_nowhere_else() {
    require_secret_service();
    let service = format!("switchboard-test-{}", rand_suffix());
    let tmp = tempfile::tempdir().unwrap();
    let e = TestEngine::start_with(keyring_config(tmp.path(), &service)).await;
    let api: &Api = &e.api;

    let (s, c) = api.get("/api/credentials").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        c["keyring"],
        json!({"available": true, "problem": null, "file": false})
    );

    let (s, body) = api
        .put(
            "/api/credentials/twilio",
            json!({"account_sid": SID, "auth_token": AUTH_TOKEN}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let stored = entry(&service, "credentials/twilio").expect("written to the keyring");
    assert!(stored.contains(AUTH_TOKEN));

    let (_, c) = api.get("/api/credentials").await;
    let twilio = &c["providers"][0];
    assert_eq!(
        (
            twilio["provider"].clone(),
            twilio["set"].clone(),
            twilio["source"].clone()
        ),
        (json!("twilio"), json!(true), json!("keyring"))
    );
    assert!(
        !c.to_string().contains(AUTH_TOKEN) && !c.to_string().contains(SID),
        "only whether it is set"
    );

    let got = e
        .running
        .engine
        .secrets()
        .credentials(Provider::Twilio)
        .await
        .unwrap();
    assert_eq!(
        (got.get("account_sid"), got.get("auth_token")),
        (SID, AUTH_TOKEN)
    );
    assert!(!format!("{got:?}").contains(AUTH_TOKEN));

    // A bad replacement is refused and the stored credentials stay.
    let bad = api
        .put("/api/credentials/twilio", json!({"account_sid": SID}))
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    assert_eq!(
        entry(&service, "credentials/twilio").as_deref(),
        Some(stored.as_str())
    );

    let (s, _) = api.put("/api/credentials/livekit", json!({"url": "wss://lk.example.com", "api_key": "APIabc", "api_secret": "lk-secret-xyz"})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let config = keyring_config(tmp.path(), &service);
    e.stop().await;
    assert!(
        !files_contain(tmp.path(), AUTH_TOKEN),
        "the auth token is not in the data directory"
    );
    assert!(!files_contain(tmp.path(), "lk-secret-xyz"));

    let e = TestEngine::start_with(config).await;
    let (_, c) = e.api.get("/api/credentials").await;
    assert_eq!(
        c["providers"][0]["set"], true,
        "credentials outlive a restart"
    );
    assert_eq!(
        e.api.delete("/api/credentials/twilio").await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        entry(&service, "credentials/twilio"),
        None,
        "deleted from the keyring"
    );
    let (_, c) = e.api.get("/api/credentials").await;
    assert_eq!(c["providers"][0]["set"], false);
    let err = e
        .running
        .engine
        .secrets()
        .credentials(Provider::Twilio)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("TWILIO_AUTH_TOKEN"),
        "the error names what to set: {err}"
    );
    assert_eq!(
        e.api.delete("/api/credentials/livekit").await.0,
        StatusCode::NO_CONTENT
    );
    e.stop().await;
    let _ = keyring::Entry::new(&service, "control-token")
        .unwrap()
        .delete_credential();
}

#[tokio::test]
async fn the_server_log_never_shows_credentials_written_through_the_api() {
    require_secret_service();
    let service = format!("switchboard-test-{}", rand_suffix());
    let tmp = tempfile::tempdir().unwrap();
    let env = [
        ("SWITCHBOARD_KEYRING_SERVICE", service.as_str()),
        ("SWITCHBOARD_LOG", "trace"),
    ];
    let s = common::serve(tmp.path(), &env, &[]).await;
    let api = Api::new(s.control.clone(), common::token(tmp.path(), &env));
    let (status, _) = api
        .put(
            "/api/credentials/openai",
            json!({"api_key": "sk-logged-never-42"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .put("/api/credentials/openai", json!({"api_key": ""}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (exit, log) = s.terminate().await;
    assert!(exit.success());
    assert!(
        log.contains("credentials stored"),
        "the write itself is logged:\n{log}"
    );
    assert!(!log.contains("sk-logged-never-42"), "but never the value");
    let _ = keyring::Entry::new(&service, "credentials/openai")
        .unwrap()
        .delete_credential();
    let _ = keyring::Entry::new(&service, "control-token")
        .unwrap()
        .delete_credential();
}

#[tokio::test]
async fn tool_secrets_are_write_only_named_by_tools_and_kept_while_used() {
    require_secret_service();
    let tmp = tempfile::tempdir().unwrap();
    let service = format!("switchboard-tool-secrets-{}", common::rand_suffix());
    let e = TestEngine::start_with(keyring_config(tmp.path(), &service)).await;
    let api = &e.api;
    let tool = |value: &str| {
        json!({"tools": [{"name": "crm", "url": "https://crm.example.test/lookup",
                          "headers": [{"name": "Authorization", "value": value}]}]})
    };
    // A tool naming a secret that is not set is refused, naming it.
    let (s, err) = api
        .post(
            "/api/agents",
            json!({"name": "Desk", "tools": tool("Bearer {{secret:crm_token}}")["tools"]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("crm_token, which is not set"),
        "{err}"
    );

    let (s, b) = api
        .put(
            "/api/tool-secrets/crm_token",
            json!({"value": "sk-crm-very-secret"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, a) = api
        .post(
            "/api/agents",
            json!({"name": "Desk", "tools": tool("Bearer {{secret:crm_token}}")["tools"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(
        a["tools"][0]["headers"][0]["value"], "Bearer {{secret:crm_token}}",
        "only the reference is kept"
    );
    let (s, listed) = api.get("/api/tool-secrets").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(listed[0]["name"], "crm_token");
    assert_eq!(listed[0]["used_by"], json!(["Desk: crm"]));
    assert!(
        !listed.to_string().contains("sk-crm-very-secret"),
        "values are never returned"
    );
    assert_eq!(
        entry(&service, "tool-secrets/crm_token").as_deref(),
        Some("sk-crm-very-secret"),
        "the value is in the keyring"
    );
    assert!(
        !files_contain(tmp.path(), "sk-crm-very-secret"),
        "and nowhere in the data directory"
    );

    // Not removed while a tool uses it; removed once none does.
    let (s, err) = api.delete("/api/tool-secrets/crm_token").await;
    assert_eq!(s, StatusCode::CONFLICT, "{err}");
    let id = a["id"].as_str().unwrap();
    let (s, _) = api
        .put(&format!("/api/agents/{id}"), json!({"tools": []}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api.delete("/api/tool-secrets/crm_token").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/api/tool-secrets").await.1, json!([]));
    assert_eq!(
        entry(&service, "tool-secrets/crm_token"),
        None,
        "gone from the keyring"
    );
    let (s, _) = api.delete("/api/tool-secrets/crm_token").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for (path, body) in [
        ("/api/tool-secrets/bad%20name", json!({"value": "x"})),
        ("/api/tool-secrets/ok", json!({"value": "  "})),
        ("/api/tool-secrets/ok", json!({"value": "a\nb"})),
    ] {
        let (s, err) = api.put(path, body).await;
        assert!(s.is_client_error(), "{path}: {err}");
    }
    e.stop().await;
}
