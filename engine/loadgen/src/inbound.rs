//! Inbound webhook load: signed Twilio voice webhooks at a fixed rate (open loop: requests go
//! out on schedule whether or not earlier ones have answered, so a slow engine shows up as
//! latency rather than as a quietly lower rate), each call completed by a signed status
//! callback a moment later so agent load stays realistic.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::{
    ACCOUNT_SID, EngineProcess, Percentiles, TOKEN, TWILIO_CREDENTIALS, form, incoming_call, post,
    setup, tempfile_dir,
};
use switchboard::Config;

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Voice webhooks per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// Seconds to run.
    #[arg(long, default_value_t = 30)]
    pub duration: u32,
    /// Run the engine inside the load generator's process instead of as a separate
    /// `switchboard serve` (which is how it is deployed, and the default).
    #[arg(long)]
    pub in_process: bool,
    /// Complete each call this many ms after it was answered (0: never). At the default
    /// rate, 500 ms keeps about 500 calls live, half the agent's limit of 1000.
    #[arg(long, default_value_t = 500)]
    pub call_length_ms: u64,
    /// Run the engine on this PostgreSQL database (a fresh schema of its own) instead of its
    /// embedded SQLite file.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// `switchboard serve` nodes sharing that database; webhooks go to them in turn, each
    /// call's completion to another node than its answer, as a load balancer spreads them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub nodes: u32,
    /// Beside the signed webhooks, forged ones (a wrong signature) at this many a second, as
    /// relayed by a local tunnel for other senders (`X-Forwarded-For`, one of `flood_senders`
    /// addresses in turn): what a flood does to the signed webhooks' latency.
    #[arg(long, default_value_t = 0)]
    pub flood: u32,
    /// How many addresses the forged webhooks come from.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65_000))]
    pub flood_senders: u32,
}

#[derive(Debug)]
pub struct Report {
    pub sent: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub voice: Option<Percentiles>,
    pub status: Option<Percentiles>,
    /// The forged webhooks sent, and how they were answered (status → count).
    pub flood: Option<(u64, std::collections::BTreeMap<String, u64>)>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "sent {} voice webhooks over {:.1} s ({:.0}/s), errors: {}",
            self.sent,
            self.elapsed.as_secs_f64(),
            self.sent as f64 / self.elapsed.as_secs_f64(),
            self.errors
        )?;
        if let Some(v) = self.voice {
            writeln!(f, "voice (routing decision + TwiML): {v}")?;
        }
        if let Some(s) = self.status {
            write!(f, "status callback (call completed):  {s}")?;
        }
        if let Some((sent, answers)) = &self.flood {
            let answers: Vec<String> = answers.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            write!(
                f,
                "\nforged webhooks: {sent} sent, answered {}",
                answers.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Starts an engine in a temporary directory (as its own process unless `in_process`),
/// gives it one number and agent, and loads it.
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let dir = tempfile_dir()?;
    let report = if opts.in_process {
        let config = Config {
            data_dir: Some(dir.clone()),
            control_addr: "127.0.0.1:0".parse()?,
            public_addr: "127.0.0.1:0".parse()?,
            token: Some(TOKEN.into()),
            no_keyring: true,
            credential_env: TWILIO_CREDENTIALS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Config::default()
        };
        let running = switchboard::start(config).await?;
        let control = format!("http://{}", running.control_addr());
        let public = format!("http://{}", running.public_addr());
        setup(&control, 1000).await?;
        let report = drive(std::slice::from_ref(&public), &opts).await;
        running.shutdown().await;
        report
    } else {
        anyhow::ensure!(
            opts.nodes == 1 || opts.database_url.is_some(),
            "several nodes share a PostgreSQL database: give --database-url"
        );
        let schema = format!("loadgen_{}", std::process::id());
        let mut envs: Vec<(&str, &str)> = Vec::new();
        if let Some(url) = &opts.database_url {
            envs.push(("DATABASE_URL", url));
            envs.push(("SWITCHBOARD_DATABASE_SCHEMA", &schema));
        }
        let mut engines = Vec::new();
        for n in 0..opts.nodes {
            let node_dir = dir.join(format!("node{n}"));
            std::fs::create_dir_all(&node_dir)?;
            engines.push(EngineProcess::spawn(&node_dir, &[], &envs).await?);
            if n == 0 {
                setup(&engines[0].control, 1000).await?;
            }
        }
        let bases: Vec<String> = engines.iter().map(|e| e.public.clone()).collect();
        let report = drive(&bases, &opts).await;
        for engine in engines {
            engine.stop().await?;
        }
        report
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}

async fn drive(bases: &[String], opts: &Options) -> Report {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(2048)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client builds");
    let total = u64::from(opts.rate) * u64::from(opts.duration);
    let interval = Duration::from_secs_f64(1.0 / f64::from(opts.rate.max(1)));
    let voice = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let status = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    let flood = (opts.flood > 0).then(|| {
        tokio::spawn(flood(
            http.clone(),
            bases.to_vec(),
            opts.flood,
            opts.flood_senders,
            Duration::from_secs(u64::from(opts.duration)),
        ))
    });
    for i in 0..total {
        tokio::time::sleep_until((start + interval.mul_f64(i as f64)).into()).await;
        let n = bases.len() as u64;
        let (http, base, other) = (
            http.clone(),
            bases[(i % n) as usize].clone(),
            bases[((i + 1) % n) as usize].clone(),
        );
        let (voice, status, errors, first_error) = (
            voice.clone(),
            status.clone(),
            errors.clone(),
            first_error.clone(),
        );
        let call_length = Duration::from_millis(opts.call_length_ms);
        tasks.spawn(async move {
            let sid = format!("CA{i:032x}");
            let sent = Instant::now();
            let answer = post(&http, &base, "/webhooks/twilio/voice", incoming_call(&sid)).await;
            voice.lock().await.push(sent.elapsed());
            let fail = match answer {
                Ok(twiml) if twiml.contains("<Connect>") => None,
                Ok(twiml) => Some(format!("not answered: {twiml}")),
                Err(e) => Some(e),
            };
            if let Some(e) = fail {
                errors.fetch_add(1, Ordering::Relaxed);
                first_error.lock().await.get_or_insert(e);
                return;
            }
            if call_length.is_zero() {
                return;
            }
            tokio::time::sleep(call_length).await;
            let done = form(&[
                ("AccountSid", ACCOUNT_SID),
                ("CallSid", &sid),
                ("CallStatus", "completed"),
                ("CallDuration", "1"),
                ("SequenceNumber", "1"),
            ]);
            let sent = Instant::now();
            if let Err(e) = post(&http, &other, "/webhooks/twilio/status", done).await {
                errors.fetch_add(1, Ordering::Relaxed);
                first_error.lock().await.get_or_insert(e);
            }
            status.lock().await.push(sent.elapsed());
        });
    }
    // The rate is judged over the sending window, not the calls still finishing after it.
    let elapsed = start.elapsed();
    while tasks.join_next().await.is_some() {}
    if let Some(e) = first_error.lock().await.take() {
        eprintln!("first error: {e}");
    }
    let flood = match flood {
        Some(f) => f.await.ok(),
        None => None,
    };
    let mut v = std::mem::take(&mut *voice.lock().await);
    let mut s = std::mem::take(&mut *status.lock().await);
    Report {
        sent: total,
        errors: errors.load(Ordering::Relaxed),
        elapsed,
        voice: Percentiles::of(&mut v),
        status: Percentiles::of(&mut s),
        flood,
    }
}

/// Forged voice webhooks at `rate` a second for `duration`, open loop; how they were answered.
async fn flood(
    http: reqwest::Client,
    bases: Vec<String>,
    rate: u32,
    senders: u32,
    duration: Duration,
) -> (u64, std::collections::BTreeMap<String, u64>) {
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let total = (duration.as_secs_f64() * f64::from(rate)) as u64;
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    for i in 0..total {
        tokio::time::sleep_until((start + interval.mul_f64(i as f64)).into()).await;
        let http = http.clone();
        let base = bases[(i % bases.len() as u64) as usize].clone();
        let sender = i % u64::from(senders);
        tasks.spawn(async move {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(incoming_call(&format!("CAf{i:031x}")))
                .finish();
            let res = http
                .post(format!("{base}/webhooks/twilio/voice"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-twilio-signature", "Zm9yZ2Vk")
                .header(
                    "x-forwarded-for",
                    format!("198.18.{}.{}", sender / 250, sender % 250 + 1),
                )
                .body(body)
                .send()
                .await;
            match res {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) if e.is_timeout() => "timeout".to_owned(),
                Err(_) => "error".to_owned(),
            }
        });
    }
    let mut answers = std::collections::BTreeMap::new();
    while let Some(a) = tasks.join_next().await {
        *answers
            .entry(a.unwrap_or_else(|_| "panic".into()))
            .or_insert(0) += 1;
    }
    (total, answers)
}
