//! Shared test support: a real engine on ephemeral loopback ports, a small JSON client, and
//! the `switchboard` binary run as a child process.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod campaigns;
pub mod carriers;
pub mod dialing;
pub mod livekit;
pub mod media_stream;
pub mod observed;
pub mod openai_api;
pub mod pcmu;
pub mod realtime;
pub mod retell_api;
pub mod sound;
pub mod telnyx_calls;
pub mod telnyx_media;
pub mod telnyx_numbers;
pub mod twilio_api;
pub mod twilio_calls;
pub mod twilio_media;
pub mod twilio_spec;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use switchboard::{Config, Running};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// An engine running in this process, with its own data directory.
pub struct TestEngine {
    pub running: Running,
    pub api: Api,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// When `SWITCHBOARD_TEST_DATABASE_URL` names a PostgreSQL database, every engine of the
/// suite keeps its data there instead of SQLite, in a schema of its own named after its data
/// directory (so an engine started again on the same directory finds its data again).
pub fn test_database(dir: &Path) -> Option<(String, String)> {
    let url = std::env::var("SWITCHBOARD_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    // FNV-1a: stable across runs and processes, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dir.as_os_str().as_encoded_bytes() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    Some((url, format!("t_{h:016x}")))
}

/// Everything an engine with data directory `dir` has stored: the directory's files (the
/// SQLite database and its log among them) and, on PostgreSQL, a dump of its schema's rows.
/// For checking that a secret is stored nowhere.
pub fn stored(dir: &Path) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|f| {
            let path = f.unwrap().path();
            path.is_file().then(|| std::fs::read(path).unwrap())
        })
        .collect();
    if let Some((url, schema)) = test_database(dir) {
        let dump = std::process::Command::new("pg_dump")
            .args(["--data-only", "--schema", &schema, &url])
            .output()
            .expect("pg_dump runs");
        assert!(
            dump.status.success() && !dump.stdout.is_empty(),
            "pg_dump: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        all.push(dump.stdout);
    }
    all
}

/// Whether anything `stored` holds contains `needle`.
pub fn stored_contains(dir: &Path, needle: &str) -> bool {
    stored(dir)
        .iter()
        .any(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

/// The PostgreSQL database the tests of several nodes share (scripts/test.sh starts one and
/// sets `SWITCHBOARD_CLUSTER_DATABASE_URL` for the whole run), with a fresh schema for one
/// test. Fails, naming the way to get one, when there is none: a cluster needs PostgreSQL.
pub fn cluster_database() -> (String, String) {
    let url = std::env::var("SWITCHBOARD_CLUSTER_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect(
            "tests of several nodes need PostgreSQL: run `eval \"$(scripts/postgres.sh start)\"` \
             and export SWITCHBOARD_CLUSTER_DATABASE_URL=$SWITCHBOARD_TEST_DATABASE_URL",
        );
    (url, format!("cl_{}", rand_suffix().replace('-', "_")))
}

/// The environment that points a `switchboard` child process at the same database as
/// `config` does for an engine in this process.
pub fn database_env(dir: &Path) -> Vec<(String, String)> {
    match test_database(dir) {
        Some((url, schema)) => vec![
            ("DATABASE_URL".into(), url),
            ("SWITCHBOARD_DATABASE_SCHEMA".into(), schema),
        ],
        None => Vec::new(),
    }
}

pub fn config(dir: &Path) -> Config {
    let database = test_database(dir);
    Config {
        data_dir: Some(dir.to_owned()),
        database_url: database.as_ref().map(|(url, _)| url.clone()),
        database_schema: database.map(|(_, schema)| schema),
        control_addr: "127.0.0.1:0".parse().unwrap(),
        public_addr: "127.0.0.1:0".parse().unwrap(),
        token: Some(format!("test-token-{}", rand_suffix())),
        no_keyring: true,
        ..Config::default()
    }
}

pub fn rand_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

impl TestEngine {
    /// A fresh engine without a keyring, in a new temporary directory.
    pub async fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let mut engine = Self::start_with(config(&dir)).await;
        engine._tmp = Some(tmp);
        engine
    }

    pub async fn start_with(config: Config) -> Self {
        let dir = config
            .data_dir
            .clone()
            .expect("tests always name a data dir");
        let running = switchboard::start(config).await.expect("engine starts");
        let api = Api::new(
            format!("http://{}", running.control_addr()),
            running.token().to_owned(),
        );
        Self {
            running,
            api,
            dir,
            _tmp: None,
        }
    }

    pub fn public_url(&self) -> String {
        format!("http://{}", self.running.public_addr())
    }

    /// Stops the engine and hands back its directory so a restart can reuse it.
    pub async fn stop(self) -> Option<tempfile::TempDir> {
        self.running.shutdown().await;
        self._tmp
    }
}

/// A JSON client for the control API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: String, token: String) -> Self {
        Self {
            base,
            token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request reaches the engine");
        let status = res.status();
        let text = res.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{path} answered {status} with non-JSON: {text}"))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// Sends a raw body with the given content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let res = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Creates an agent and returns its id.
    pub async fn agent(&self, name: &str) -> String {
        let (s, a) = self
            .post("/api/agents", serde_json::json!({"name": name}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        a["id"].as_str().unwrap().to_owned()
    }
}

/// Asserts an error response: its status and stable code.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "unexpected status, body {}", got.1);
    assert_eq!(
        got.1["error"]["code"], code,
        "unexpected error code in {}",
        got.1
    );
    assert!(
        got.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "errors carry a readable message: {}",
        got.1
    );
}

/// The `switchboard` binary running as a child process.
pub struct Serve {
    pub child: Child,
    pub control: String,
    pub public: String,
    pub stderr: tokio::task::JoinHandle<String>,
}

/// Runs `switchboard serve` with ephemeral ports and waits for the addresses it prints.
pub async fn serve(dir: &Path, envs: &[(&str, &str)], extra: &[&str]) -> Serve {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("serve")
        .args([
            "--control-addr",
            "127.0.0.1:0",
            "--public-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .envs(database_env(dir))
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("switchboard binary starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let stderr = tokio::spawn(async move {
        let mut all = String::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut control, mut public) = (None, None);
    let read = async {
        while let Ok(Some(line)) = stdout.next_line().await {
            if let Some(a) = line.strip_prefix("control: ") {
                control = Some(a.to_owned());
            } else if let Some(a) = line.strip_prefix("public: ") {
                public = Some(a.to_owned());
            }
            if control.is_some() && public.is_some() {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("switchboard serve prints its addresses");
    let (Some(control), Some(public)) = (control, public) else {
        let log = stderr.await.unwrap();
        panic!("switchboard serve exited before printing its addresses; stderr:\n{log}");
    };
    Serve {
        child,
        control,
        public,
        stderr,
    }
}

impl Serve {
    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().expect("still running") as i32;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("switchboard exits promptly on SIGTERM")
            .unwrap();
        (exit, self.stderr.await.unwrap())
    }
}

/// Runs `switchboard token` for a data directory.
pub fn token(dir: &Path, envs: &[(&str, &str)]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("token")
        .arg("--data-dir")
        .arg(dir)
        .envs(database_env(dir))
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
