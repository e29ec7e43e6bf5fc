//! `switchboard serve` and `switchboard token` as a user runs them: a child process, its
//! printed addresses, signals, environment variables and restarts.

mod common;

use std::time::Duration;

use common::{Api, serve, token};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

const NO_KEYRING: (&str, &str) = ("SWITCHBOARD_NO_KEYRING", "true");

#[tokio::test]
async fn serve_prints_its_addresses_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &[NO_KEYRING], &[]).await;
    let t = token(dir.path(), &[NO_KEYRING]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("control-token"))
            .unwrap()
            .trim(),
        t,
        "without a keyring the token lives in the data directory"
    );
    let api = Api::new(s.control.clone(), t.clone());
    assert_eq!(api.get("/api/agents").await, (StatusCode::OK, json!([])));
    let health: Value = reqwest::get(format!("{}/health", s.public))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");

    let ws_url = format!(
        "{}/api/events?access_token={t}",
        s.control.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();

    let (exit, log) = s.terminate().await;
    assert!(exit.success(), "SIGTERM is a clean exit: {exit:?}\n{log}");
    assert!(
        log.contains("database closed"),
        "the database is closed on the way out:\n{log}"
    );
    assert!(!log.contains(&t), "the token never reaches the log");
    // Open event streams are closed by the engine rather than cut off.
    let last = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("socket ends");
    assert!(
        matches!(
            last,
            None | Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))
        ),
        "{last:?}"
    );
}

#[tokio::test]
async fn acknowledged_writes_survive_sigterm_mid_load_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &[NO_KEYRING], &[]).await;
    let api = Api::new(s.control.clone(), token(dir.path(), &[NO_KEYRING]));
    let writers: Vec<_> = (0..40)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                let res = api
                    .http
                    .post(format!("{}/api/agents", api.base))
                    .bearer_auth(&api.token)
                    .json(&json!({"name": format!("agent {i}")}))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        Some(r.json::<Value>().await.unwrap()["id"].clone())
                    }
                    _ => None,
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (exit, log) = s.terminate().await;
    assert!(exit.success(), "{log}");
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.unwrap());
    }

    let s = serve(dir.path(), &[NO_KEYRING], &[]).await;
    let api = Api::new(s.control.clone(), token(dir.path(), &[NO_KEYRING]));
    let (_, list) = api.get("/api/agents").await;
    let stored: Vec<Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    for id in &acknowledged {
        assert!(
            stored.contains(id),
            "agent {id} was acknowledged with 201, so it must survive"
        );
    }
    let (exit, _) = s.terminate().await;
    assert!(exit.success());
}

#[tokio::test]
async fn a_fixed_token_and_environment_credentials_serve_a_keyringless_server() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "sk-env-only-ABCDEF123456";
    let env = [
        NO_KEYRING,
        ("SWITCHBOARD_TOKEN", "fixed-server-token"),
        ("OPENAI_API_KEY", secret),
        ("SWITCHBOARD_LOG", "debug"),
    ];
    let s = serve(dir.path(), &env, &[]).await;
    assert_eq!(token(dir.path(), &env), "fixed-server-token");
    let api = Api::new(s.control.clone(), "fixed-server-token".into());
    let (status, c) = api.get("/api/credentials").await;
    assert_eq!(status, StatusCode::OK);
    let openai = c["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "openai")
        .unwrap();
    assert_eq!(openai["set"], true);
    assert_eq!(openai["source"], "environment");
    assert!(
        !c.to_string().contains(secret),
        "the API reports only that it is set"
    );
    let twilio = c["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "twilio")
        .unwrap();
    assert_eq!(twilio["set"], false);
    assert_eq!(
        twilio["env_vars"],
        json!(["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"])
    );
    assert!(
        !dir.path().join("control-token").exists(),
        "a fixed token is not written anywhere"
    );
    let (exit, log) = s.terminate().await;
    assert!(exit.success());
    assert!(
        !log.contains(secret),
        "secrets never reach the log, even at debug level"
    );
    assert!(!log.contains("fixed-server-token"));
}

#[tokio::test]
async fn serve_starts_with_no_configuration_in_the_os_data_directory() {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    // Only the ports are given (the defaults may be taken on a developer's machine).
    let child = cmd
        .args([
            "serve",
            "--control-addr",
            "127.0.0.1:0",
            "--public-addr",
            "127.0.0.1:0",
        ])
        .env("HOME", home.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("SWITCHBOARD_DATA_DIR")
        .env(NO_KEYRING.0, NO_KEYRING.1)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Guard(child);
    let data = home.path().join(".local/share/switchboard");
    let mut waited = 0;
    // The database comes first, the token a moment later: wait for both.
    while !(data.join("switchboard.db").exists() && data.join("control-token").exists())
        && waited < 100
    {
        std::thread::sleep(Duration::from_millis(100));
        waited += 1;
    }
    assert!(
        data.join("switchboard.db").exists(),
        "the database is created in ~/.local/share/switchboard"
    );
    assert!(data.join("control-token").exists());
    child.0.kill().unwrap();
}

struct Guard(std::process::Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn bad_configuration_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expect) in [
        (vec!["--control-addr", "0.0.0.0:0"], "loopback"),
        (vec!["--public-url", "ftp://example.com"], "https://"),
        (vec!["--control-addr", "not-an-address"], "invalid value"),
        (
            vec!["--database-url", "mysql://db/switchboard"],
            "PostgreSQL",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--public-addr", "127.0.0.1:0"])
            .args(&args)
            .env(NO_KEYRING.0, NO_KEYRING.1)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} must be refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(expect),
            "{args:?}: the message should mention {expect}: {err}"
        );
    }
    // A port already in use names the listener and the address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--control-addr", &addr, "--public-addr", "127.0.0.1:0"])
        .env(NO_KEYRING.0, NO_KEYRING.1)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&addr) && err.contains("control"), "{err}");
}

#[tokio::test]
async fn webhook_urls_are_printed_for_the_carrier_consoles() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("webhook-urls")
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env(NO_KEYRING.0, NO_KEYRING.1)
            .output()
            .unwrap()
    };
    let none = run(&[]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no public webhook base URL"));
    let out = run(&["--public-url", "https://abc.ngrok.app/"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for url in [
        "https://abc.ngrok.app/webhooks/twilio/voice",
        "https://abc.ngrok.app/webhooks/twilio/status",
        "https://abc.ngrok.app/webhooks/telnyx",
        "wss://abc.ngrok.app/media/twilio",
    ] {
        assert!(text.contains(url), "{url} in:\n{text}");
    }
}

/// The engine runs on listeners it is handed (as tests and embedders bind them) and stops when
/// the shutdown future it was given completes: its database closed, its ports closed.
#[tokio::test]
async fn launch_serves_on_handed_listeners_and_stops_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (control_addr, public_addr) = (control.local_addr().unwrap(), public.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = switchboard::launch(common::config(dir.path()), control, public, async {
        let _ = stopped.await;
    })
    .await
    .expect("the engine launches on the listeners it is given");
    assert_eq!(
        (running.control_addr(), running.public_addr()),
        (control_addr, public_addr),
        "it serves where it was handed, not where its config says"
    );
    let api = Api::new(format!("http://{control_addr}"), running.token().to_owned());
    assert_eq!(api.get("/api/agents").await, (StatusCode::OK, json!([])));
    let health = reqwest::get(format!("http://{public_addr}/health"))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    stop.send(()).unwrap();
    tokio::time::timeout(
        Duration::from_secs(20),
        running.run_until(std::future::pending()),
    )
    .await
    .expect("the shutdown future stops the engine without any other signal");
    assert!(
        tokio::net::TcpStream::connect(control_addr).await.is_err(),
        "the control port is closed once it has stopped"
    );
}

/// A control listener on an address other than loopback is refused before anything is
/// served: it holds the keys to every agent and number.
#[tokio::test]
async fn launch_refuses_a_control_listener_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let control = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = switchboard::launch(common::config(dir.path()), control, public, async {})
        .await
        .err()
        .expect("a control listener on every interface is refused");
    assert!(
        err.to_string().contains("loopback"),
        "the refusal says why: {err}"
    );
    assert!(
        !dir.path().join("switchboard.db").exists(),
        "nothing was opened for a refused launch"
    );
}

/// `switchboard serve` alone serves the control UI from inside its binary (issue 17, point
/// 5): the very files of ui/dist (built before the engine, as the test command does), each
/// with its type; the UI's routes get its page, a missing asset a 404 and `/api` stays the
/// API's; `index.html` is revalidated by its hash, the content-named assets are kept.
#[tokio::test]
async fn serve_serves_the_ui_built_into_its_binary() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/dist");
    let index = std::fs::read(dist.join("index.html"))
        .expect("the UI is built before the engine: cd ui && npm run build");
    let script = std::fs::read_dir(dist.join("assets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".js"))
        .expect("a built script");
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &[NO_KEYRING], &[]).await;
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", s.control);
        async move { http.get(url).send().await.unwrap() }
    };

    let res = get("/".into()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/html");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(
        res.bytes().await.unwrap(),
        index,
        "ui/dist/index.html itself"
    );

    let res = get(format!("/assets/{script}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/javascript");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(
        res.bytes().await.unwrap(),
        std::fs::read(dist.join("assets").join(&script)).unwrap()
    );

    let res = get("/calls/some-call".into()).await;
    assert_eq!(res.status(), StatusCode::OK, "a UI route");
    assert_eq!(res.bytes().await.unwrap(), index);
    let res = get("/assets/gone-1234.js".into()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "a missing asset");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let res = get("/api/nothing-here".into()).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );

    let res = http
        .get(format!("{}/", s.control))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::NOT_MODIFIED,
        "unchanged: not sent again"
    );
    let res = http.post(format!("{}/", s.control)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let (exit, _) = s.terminate().await;
    assert!(exit.success());

    // `--ui-dir` still overrides the built-in files (a UI being worked on).
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("index.html"), "<p>work in progress</p>").unwrap();
    let ui_dir = other.path().to_str().unwrap();
    let s = serve(dir.path(), &[NO_KEYRING], &["--ui-dir", ui_dir]).await;
    let res = reqwest::get(format!("{}/calls", s.control)).await.unwrap();
    assert_eq!(res.text().await.unwrap(), "<p>work in progress</p>");
    let (exit, _) = s.terminate().await;
    assert!(exit.success());
}

/// `--secrets-file` (a server without a keyring): credentials, tool secrets and webhook
/// signing secrets saved through the API go to one owner-only file in the data directory and
/// are there after a restart; the control token keeps its own file; none of them reaches the
/// database. A secrets file other users can read is refused with the fix, not used.
#[tokio::test]
async fn a_server_keeps_its_secrets_in_an_owner_only_file() {
    use std::os::unix::fs::PermissionsExt as _;
    const KEY: &str = "sk-file-kept-0123456789";
    const TOOL: &str = "crm-tool-secret-987";
    let dir = tempfile::tempdir().unwrap();
    let env = [("SWITCHBOARD_SECRETS_FILE", "true")];
    let s = serve(dir.path(), &env, &[]).await;
    let t = token(dir.path(), &env);
    let api = Api::new(s.control.clone(), t.clone());
    let (_, c) = api.get("/api/credentials").await;
    assert_eq!(
        c["keyring"],
        json!({"available": true, "problem": null, "file": true})
    );
    let (st, b) = api
        .put("/api/credentials/openai", json!({"api_key": KEY}))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    let (st, b) = api
        .put("/api/tool-secrets/crm_token", json!({"value": TOOL}))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    let (st, hook) = api
        .post(
            "/api/webhooks",
            json!({"url": "http://127.0.0.1:9/crm", "events": ["call.ended"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{hook}");
    let signing = hook["secret"].as_str().unwrap().to_owned();
    let (exit, log) = s.terminate().await;
    assert!(exit.success());

    let file = dir.path().join("secrets.json");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "its own user's only");
    let kept = std::fs::read_to_string(&file).unwrap();
    for secret in [KEY, TOOL, signing.as_str()] {
        assert!(kept.contains(secret), "{secret} in the file");
        assert!(!log.contains(secret), "and never in the log");
    }
    assert!(!kept.contains(&t), "the control token keeps its own file");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("control-token"))
            .unwrap()
            .trim(),
        t
    );
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("switchboard.db") {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(KEY) && !text.contains(TOOL) && !text.contains(&signing));
        }
    }

    let s = serve(dir.path(), &env, &[]).await;
    let api = Api::new(s.control.clone(), token(dir.path(), &env));
    let (_, c) = api.get("/api/credentials").await;
    let openai = c["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == "openai")
        .unwrap()
        .clone();
    assert_eq!(
        (&openai["set"], &openai["source"]),
        (&json!(true), &json!("keyring"))
    );
    let (_, again) = api
        .get(&format!(
            "/api/webhooks/{}/secret",
            hook["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(again["secret"], signing.as_str(), "after a restart");
    let (exit, _) = s.terminate().await;
    assert!(exit.success());

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = serve(dir.path(), &env, &[]).await;
    let api = Api::new(s.control.clone(), token(dir.path(), &env));
    let (_, c) = api.get("/api/credentials").await;
    assert_eq!(c["keyring"]["available"], false);
    let problem = c["keyring"]["problem"].as_str().unwrap();
    assert!(problem.contains("chmod 600"), "{problem}");
    assert!(!problem.contains(KEY));
    let (exit, _) = s.terminate().await;
    assert!(exit.success());
}
