//! Load generators: drive a real engine over loopback at a fixed rate and report latency.
//! Benchmarks for BENCHMARKS.md, run as `switchboard-loadgen …`. They reach the engine only as
//! its users do (the control API, signed webhooks, media WebSockets), against a
//! `switchboard serve` process found next to this binary (or at `SWITCHBOARD_BIN`).

pub mod call_log;
pub mod campaign;
pub mod claims;
pub mod inbound;
pub mod media;
mod procfs;
pub mod soak;
pub mod tools;

pub use procfs::CpuSplit;

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchboard::carriers::twilio::signature;

/// The public base URL the engine is told it has: what Twilio signs requests for and
/// streams media to. The load generator reaches the public listener directly.
const PUBLIC: &str = "https://loadgen.example.test";
const TOKEN: &str = "loadgen";
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "loadgen-twilio-auth-token";
const NUMBER: &str = "+14155552671";
const TWILIO_CREDENTIALS: [(&str, &str); 2] = [
    ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
    ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
];

/// The `switchboard` binary to run: `SWITCHBOARD_BIN`, else the one built next to this one
/// (`cargo build --release -p switchboard -p switchboard-loadgen` puts both in one folder).
fn engine_binary() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("SWITCHBOARD_BIN") {
        return Ok(bin.into());
    }
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name(format!("switchboard{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        bin.exists(),
        "no switchboard binary at {}: build it with `cargo build --release -p switchboard`, or \
         set SWITCHBOARD_BIN",
        bin.display()
    );
    Ok(bin)
}

/// `switchboard serve` as its own process, as deployed, on ephemeral loopback ports.
pub(crate) struct EngineProcess {
    child: tokio::process::Child,
    pub control: String,
    pub public: String,
}

impl EngineProcess {
    /// Starts it with Twilio credentials, `extra_args` and `envs`; returns once it listens.
    pub async fn spawn(
        dir: &Path,
        extra_args: &[&str],
        envs: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(engine_binary()?)
            .args([
                "serve",
                "--control-addr",
                "127.0.0.1:0",
                "--public-addr",
                "127.0.0.1:0",
            ])
            .args(["--token", TOKEN, "--no-keyring", "--data-dir"])
            .arg(dir)
            .args(extra_args)
            .envs(TWILIO_CREDENTIALS)
            .envs(envs.iter().copied())
            .env("SWITCHBOARD_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
            child.stdout.take().expect("piped"),
        ));
        let (mut control, mut public) = (None, None);
        while control.is_none() || public.is_none() {
            let line = lines
                .next_line()
                .await?
                .ok_or_else(|| anyhow::anyhow!("switchboard serve exited before listening"))?;
            if let Some(a) = line.strip_prefix("control: ") {
                control = Some(a.to_owned());
            } else if let Some(a) = line.strip_prefix("public: ") {
                public = Some(a.to_owned());
            }
        }
        Ok(Self {
            child,
            control: control.expect("read"),
            public: public.expect("read"),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// The public URL (set as a desktop user does, in Settings), and one agent allowed
/// `max_calls` calls answering one Twilio number, without a greeting; all through the
/// control API.
async fn setup(control: &str, max_calls: u32) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    http.put(format!("{control}/api/settings"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"public_base_url": PUBLIC}))
        .send()
        .await?
        .error_for_status()?;
    let agent: serde_json::Value = http
        .post(format!("{control}/api/agents"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "name": "Load", "max_concurrent_calls": max_calls, "greeting": ""
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    http.post(format!("{control}/api/phone-numbers"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "number": NUMBER, "carrier": "twilio", "inbound_agent_id": agent["id"]
        }))
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("switchboard-loadgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Form parameters, owned, as `post` takes them.
fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The voice webhook of a new inbound call `sid` to the load generator's number.
fn incoming_call(sid: &str) -> Vec<(String, String)> {
    form(&[
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", sid),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", "+14158675309"),
        ("To", NUMBER),
    ])
}

/// A Twilio-signed form POST to the public listener; the body on 2xx.
async fn post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    params: Vec<(String, String)>,
) -> Result<String, String> {
    let sig = signature::sign(AUTH_TOKEN, &format!("{PUBLIC}{path}"), &params);
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let res = http
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let text = res.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(format!("{status}: {text}"))
    }
}

/// Latency percentiles over a set of samples.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Percentiles {
    pub fn of(samples: &mut [Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| {
            samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1]
        };
        Some(Self {
            count: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        })
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
            self.count,
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let mut s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(&mut s).unwrap();
        assert_eq!(
            (p.p50, p.p99, p.max),
            (
                Duration::from_millis(50),
                Duration::from_millis(99),
                Duration::from_millis(100)
            )
        );
        assert!(Percentiles::of(&mut []).is_none());
    }
}
