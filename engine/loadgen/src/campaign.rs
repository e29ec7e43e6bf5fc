//! Campaign dialer load: a campaign of N leads run by a `switchboard serve` process against a
//! fake Twilio (in this process) that answers every call at once and ends it after `--hold`,
//! reporting both by signed status callback. Measures what the dialer itself costs: the dial
//! rate the carrier sees against the one configured, the engine's CPU per dialed call, and its
//! memory over the run (which must not grow with the number of pending leads).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use serde_json::json;

use super::soak::{Curve, Probe};
use super::{ACCOUNT_SID, AUTH_TOKEN, EngineProcess, NUMBER, PUBLIC, TOKEN, tempfile_dir};
use switchboard::carriers::twilio::signature;

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Leads in the campaign.
    #[arg(long, default_value_t = 100_000)]
    pub leads: u32,
    /// The campaign's maximum of calls at once.
    #[arg(long, default_value_t = 200)]
    pub concurrency: u32,
    /// The campaign's calls per second.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// How long each answered call lasts, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub hold_ms: u64,
    /// Seconds to run (the campaign need not finish).
    #[arg(long, default_value_t = 60)]
    pub duration: u32,
    /// Run until every lead is dialed instead of `--duration`, reading the engine's memory,
    /// open files, threads and tasks every `--sample` dials as `soak` does (the campaign is
    /// paused for each reading, and the calls under way end first); fails unless they stay flat.
    #[arg(long)]
    pub to_end: bool,
    /// With `--to-end`: dials between readings.
    #[arg(long, default_value_t = 10_000)]
    pub sample: u32,
    /// Run the engine on this PostgreSQL database (a fresh schema of its own) instead of its
    /// embedded SQLite file.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// `switchboard serve` nodes sharing that database (the first started runs the campaign);
    /// the carrier's status callbacks go to them in turn, as a load balancer spreads them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub nodes: u32,
}

#[derive(Debug)]
pub struct Report {
    pub leads: u32,
    pub import: Duration,
    pub window: Duration,
    pub dials: u64,
    pub max_up: usize,
    pub configured_rate: f64,
    /// Dials per second per one-second bucket, after the first second.
    pub per_second: Vec<u64>,
    pub cpu_cores: Option<f64>,
    pub rss_start: Option<u64>,
    pub rss_peak: Option<u64>,
    pub rss_end: Option<u64>,
    pub callback_errors: u64,
    /// With `--to-end`: the engine read every `--sample` dials.
    pub curve: Option<Curve>,
    pub sample_every: u32,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.window.as_secs_f64();
        let rate = self.dials as f64 / secs;
        writeln!(
            f,
            "{} leads imported in {:.1} s; ran {:.1} s: {} dials, {:.1}/s against {:.1}/s configured ({:+.1}%)",
            self.leads,
            self.import.as_secs_f64(),
            secs,
            self.dials,
            rate,
            self.configured_rate,
            (rate / self.configured_rate - 1.0) * 100.0
        )?;
        if !self.per_second.is_empty() {
            let min = self.per_second.iter().min().copied().unwrap_or(0);
            let max = self.per_second.iter().max().copied().unwrap_or(0);
            writeln!(f, "dials per one-second bucket: min {min}, max {max}")?;
        }
        writeln!(
            f,
            "most calls up at once (carrier's count): {}; callback errors: {}",
            self.max_up, self.callback_errors
        )?;
        if let Some(c) = self.cpu_cores {
            writeln!(
                f,
                "engine CPU: {:.2} cores, {:.3} ms per dialed call",
                c,
                c * secs * 1000.0 / self.dials.max(1) as f64
            )?;
        }
        let mib = |b: Option<u64>| b.map(|b| b as f64 / 1048576.0).unwrap_or(f64::NAN);
        write!(
            f,
            "engine memory: {:.1} MiB at start (leads loaded), {:.1} MiB peak, {:.1} MiB at end",
            mib(self.rss_start),
            mib(self.rss_peak),
            mib(self.rss_end)
        )?;
        if let Some(curve) = &self.curve {
            write!(
                f,
                "\nthe engine every {} dials (calls = dials):\n{curve}",
                self.sample_every
            )?;
        }
        Ok(())
    }
}

#[derive(Clone)]
struct Carrier {
    /// The nodes' public listeners, and the next one a callback goes to.
    public: Arc<std::sync::Mutex<Vec<String>>>,
    turn: Arc<AtomicUsize>,
    dials: Arc<std::sync::Mutex<Vec<Instant>>>,
    up: Arc<AtomicUsize>,
    max_up: Arc<AtomicUsize>,
    next: Arc<AtomicU64>,
    hold: Duration,
    http: reqwest::Client,
    errors: Arc<AtomicU64>,
}

impl Carrier {
    fn dialed(&self) -> u64 {
        self.dials.lock().unwrap().len() as u64
    }

    /// Waits until no call is up and no dial came for half a second (a paused campaign's
    /// last claimed leads may still be dialed), at most a minute.
    async fn quiet(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let before = self.dialed();
            tokio::time::sleep(Duration::from_millis(500)).await;
            if self.up.load(Ordering::Relaxed) == 0 && self.dialed() == before {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "calls still up a minute after the campaign was paused"
            );
        }
    }
}

/// `POST Calls.json`: answered at once; completed after the hold.
async fn create(State(c): State<Carrier>, body: String) -> (axum::http::StatusCode, String) {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (to, from, callback) = (get("To"), get("From"), get("StatusCallback"));
    c.dials.lock().unwrap().push(Instant::now());
    let up = c.up.fetch_add(1, Ordering::Relaxed) + 1;
    c.max_up.fetch_max(up, Ordering::Relaxed);
    let sid = format!("CA{:032x}", c.next.fetch_add(1, Ordering::Relaxed));
    let reply = json!({"sid": sid, "status": "queued", "to": to, "from": from}).to_string();
    tokio::spawn(async move {
        let report = |status: &str, seq: &str| {
            let mut p = vec![
                ("AccountSid".to_owned(), ACCOUNT_SID.to_owned()),
                ("CallSid".to_owned(), sid.clone()),
                ("CallStatus".to_owned(), status.to_owned()),
                ("SequenceNumber".to_owned(), seq.to_owned()),
                ("To".to_owned(), to.clone()),
                ("From".to_owned(), from.clone()),
            ];
            if status == "completed" {
                p.push(("CallDuration".into(), c.hold.as_secs().to_string()));
            }
            p
        };
        let send = |params: Vec<(String, String)>| {
            let c = c.clone();
            let url = callback.clone();
            async move {
                let sig = signature::sign(AUTH_TOKEN, &url, &params);
                let node = {
                    let nodes = c.public.lock().unwrap();
                    nodes[c.turn.fetch_add(1, Ordering::Relaxed) % nodes.len()].clone()
                };
                let target = url.replacen(PUBLIC, &node, 1);
                let attempt = || {
                    c.http
                        .post(&target)
                        .header("x-twilio-signature", &sig)
                        .form(&params)
                        .send()
                };
                // A pooled connection the engine closed as idle fails before the request is
                // read; Twilio opens a new connection then, and so does this carrier.
                let sent = match attempt().await {
                    Err(e) if e.is_request() || e.is_connect() => attempt().await,
                    other => other,
                };
                let failure = match sent {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!(
                        "{}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => Some(e.to_string()),
                };
                if let Some(f) = failure
                    && c.errors.fetch_add(1, Ordering::Relaxed) == 0
                {
                    eprintln!("first status callback failure: {f}");
                }
            }
        };
        send(report("in-progress", "1")).await;
        tokio::time::sleep(c.hold).await;
        send(report("completed", "2")).await;
        // Up until the engine has heard of the end: the drain below waits for exactly that.
        c.up.fetch_sub(1, Ordering::Relaxed);
    });
    (axum::http::StatusCode::CREATED, reply)
}

pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let carrier = Carrier {
        public: Arc::default(),
        turn: Arc::default(),
        dials: Arc::default(),
        up: Arc::default(),
        max_up: Arc::default(),
        next: Arc::default(),
        hold: Duration::from_millis(opts.hold_ms),
        http: reqwest::Client::new(),
        errors: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/2010-04-01/Accounts/{account}/Calls.json", post(create))
        .with_state(carrier.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}/2010-04-01", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile_dir()?;
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
        engines
            .push(EngineProcess::spawn(&node_dir, &["--twilio-api-url", &api_url], &envs).await?);
    }
    *carrier.public.lock().unwrap() = engines.iter().map(|e| e.public.clone()).collect();
    let engine = &engines[0];
    let control = &engine.control;
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{control}{path}"))
            .bearer_auth(TOKEN)
    };
    call(reqwest::Method::PUT, "/api/settings")
        .json(&json!({"public_base_url": PUBLIC}))
        .send()
        .await?
        .error_for_status()?;
    let agent: serde_json::Value = call(reqwest::Method::POST, "/api/agents")
        .json(&json!({"name": "Dialer", "max_concurrent_calls": 1000}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let number: serde_json::Value = call(reqwest::Method::POST, "/api/phone-numbers")
        .json(&json!({"number": NUMBER, "carrier": "twilio"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let campaign: serde_json::Value = call(reqwest::Method::POST, "/api/campaigns")
        .json(&json!({
            "name": "Load", "agents": [{"agent_id": agent["id"]}], "number_ids": [number["id"]],
            "settings": {"max_concurrent_calls": opts.concurrency, "calls_per_second": opts.rate,
                "window": null, "retry": {"retry_on": [], "max_attempts": 1, "delay_secs": 0},
                "voicemail": {"action": "hang_up"}, "strategy": "primary_first",
                "default_region": null}
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = campaign["id"].as_str().unwrap_or_default().to_owned();
    let csv = distinct_leads(opts.leads);
    let started = Instant::now();
    let report: serde_json::Value = call(
        reqwest::Method::POST,
        &format!("/api/campaigns/{id}/leads/import"),
    )
    .header("content-type", "text/csv")
    .body(csv)
    .send()
    .await?
    .error_for_status()?
    .json()
    .await?;
    let import = started.elapsed();
    anyhow::ensure!(
        report["imported"] == opts.leads,
        "import fell short: {report}"
    );
    let pid = engine.pid();
    let mut sampling = match (opts.to_end, pid) {
        (false, _) => None,
        (true, None) => anyhow::bail!("no engine pid to read"),
        (true, Some(pid)) => {
            let mut probe = Probe::new(pid, control);
            let mut curve = Curve::default();
            curve.samples.push(probe.sample(0).await?);
            Some((probe, curve))
        }
    };
    let rss_start = pid.and_then(super::procfs::rss_bytes);
    let cpu_start = pid.and_then(total_ticks);
    let window_start = Instant::now();
    call(reqwest::Method::POST, &format!("/api/campaigns/{id}/start"))
        .send()
        .await?
        .error_for_status()?;
    let mut rss_peak = rss_start;
    let end = window_start + Duration::from_secs(u64::from(opts.duration));
    let leads = u64::from(opts.leads);
    let mut next_sample = u64::from(opts.sample.max(1));
    loop {
        let dialed = carrier.dialed();
        if (opts.to_end && dialed >= leads) || (!opts.to_end && Instant::now() >= end) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(if opts.to_end { 20 } else { 250 })).await;
        let now = pid.and_then(super::procfs::rss_bytes);
        rss_peak = rss_peak.max(now);
        if let Some((probe, curve)) = &mut sampling
            && dialed >= next_sample
            && dialed < leads
        {
            call(reqwest::Method::POST, &format!("/api/campaigns/{id}/pause"))
                .send()
                .await?
                .error_for_status()?;
            carrier.quiet().await?;
            curve.samples.push(probe.sample(carrier.dialed()).await?);
            call(
                reqwest::Method::POST,
                &format!("/api/campaigns/{id}/resume"),
            )
            .send()
            .await?
            .error_for_status()?;
            while next_sample <= carrier.dialed() {
                next_sample += u64::from(opts.sample.max(1));
            }
        }
    }
    let window = window_start.elapsed();
    let cpu_end = pid.and_then(total_ticks);
    let rss_end = pid.and_then(super::procfs::rss_bytes);
    let curve = match sampling {
        Some((mut probe, mut curve)) => {
            carrier.quiet().await?;
            curve.samples.push(probe.sample(carrier.dialed()).await?);
            Some(curve)
        }
        None => None,
    };
    let _ = call(reqwest::Method::POST, &format!("/api/campaigns/{id}/stop"))
        .send()
        .await;
    // Calls under way end and report it before the engine goes: a report sent to a stopped
    // engine is refused, and would be counted against it.
    let drained = Instant::now() + carrier.hold + Duration::from_secs(5);
    while carrier.up.load(Ordering::Relaxed) > 0 && Instant::now() < drained {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for engine in engines {
        engine.stop().await?;
    }
    let _ = std::fs::remove_dir_all(&dir);

    let dials = carrier.dials.lock().unwrap().clone();
    let in_window: Vec<Duration> = dials
        .iter()
        .filter(|t| **t >= window_start)
        .map(|t| t.duration_since(window_start))
        .collect();
    let buckets = window.as_secs() as usize;
    let mut per_second = vec![0u64; buckets];
    for d in &in_window {
        if let Some(b) = per_second.get_mut(d.as_secs() as usize) {
            *b += 1;
        }
    }
    // The first second holds the start-up; the last may be partial. A run to the end pauses
    // for its readings, so its seconds say nothing of the dial rate.
    let per_second = match opts.to_end {
        true => Vec::new(),
        false => per_second
            .get(1..buckets.saturating_sub(1))
            .unwrap_or_default()
            .to_vec(),
    };
    Ok(Report {
        leads: opts.leads,
        import,
        window,
        dials: in_window.len() as u64,
        max_up: carrier.max_up.load(Ordering::Relaxed),
        configured_rate: opts.rate,
        per_second,
        cpu_cores: cpu_start
            .zip(cpu_end)
            .map(|(a, b)| (b - a) as f64 / super::procfs::TICKS_PER_SEC / window.as_secs_f64()),
        rss_start,
        rss_peak,
        rss_end,
        callback_errors: carrier.errors.load(Ordering::Relaxed),
        curve,
        sample_every: opts.sample,
    })
}

/// `n` distinct valid US numbers as a lead list. Calls start only inside each lead's local
/// calling hours (08:00–21:00 at the widest), so the leads live (their own `tz` column) where
/// it is midday now: the run dials at whatever hour it is made.
fn distinct_leads(n: u32) -> String {
    let mut csv = String::with_capacity(n as usize * 48);
    csv.push_str("name,phone,tz\n");
    let tz = midday_zone();
    // NXX exchanges 200-999 × 10,000 lines in area code 415: 8 million numbers.
    for i in 0..n {
        let exchange = 200 + i / 10_000;
        csv.push_str(&format!("Lead {i},+1415{exchange}{:04},{tz}\n", i % 10_000));
    }
    csv
}

/// A fixed-offset zone where the local time is now between 12:00 and 13:00 (`Etc/GMT+N` is
/// N hours behind UTC).
fn midday_zone() -> String {
    let hour = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .hour();
    match i32::from(hour) - 12 {
        behind if behind >= 0 => format!("Etc/GMT+{behind}"),
        ahead => format!("Etc/GMT{ahead}"),
    }
}

/// A process's user + system CPU time in clock ticks.
fn total_ticks(pid: u32) -> Option<u64> {
    super::procfs::cpu_ticks(pid).map(|t| t.user + t.kernel)
}
