//! The long run: N inbound Twilio calls in a row and overlapping through a `switchboard serve`
//! process, each its whole life (signed voice webhook, TwiML, a media stream bridged to a fake
//! OpenAI Realtime backend with 20 ms frames both ways at real-time pace, `stop`, the
//! `completed` status callback), `--concurrency` at a time, a new call started as each ends.
//! Every `--sample` calls the engine's memory, open files, threads and tokio tasks are read
//! (the curve); the run fails when any of them grew from the first sample to the last beyond
//! a small slack, or when a call failed or is missing from the store at the end.
//!
//! Samples are taken the same way each time: no new call is started, the calls under way end,
//! the engine reports no live call, one more second passes, then the engine is read. Idle,
//! an engine that leaks nothing holds the same files and tasks after 1,000 calls as after
//! 10,000; under load the counts would swing with whatever calls happen to be mid-setup.
//! The `campaign` benchmark reads its curve with the same [`Probe`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::media::{Call, Samples, bridged_engine};
use super::procfs::{TICKS_PER_SEC, cpu_ticks, open_fds, rss_bytes, threads};
use super::{ACCOUNT_SID, NUMBER, TOKEN, form, post};

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Calls in all.
    #[arg(long, default_value_t = 10_000)]
    pub calls: u32,
    /// Calls under way at once.
    #[arg(long, default_value_t = 100)]
    pub concurrency: u32,
    /// How long each call streams audio, in milliseconds.
    #[arg(long, default_value_t = 4_000)]
    pub call_ms: u64,
    /// Read the engine every this many ended calls.
    #[arg(long, default_value_t = 1_000)]
    pub sample: u32,
}

/// What the engine may gain from the first sample to the last and still count as flat: a few
/// files and tasks (a lazily opened database connection, a timer between runs), and memory
/// within 10% + 8 MiB (the allocator keeps some of what it was given back).
const FD_SLACK: u64 = 8;
const TASK_SLACK: u64 = 8;
const RSS_SLACK_RATIO: f64 = 0.10;
const RSS_SLACK_BYTES: u64 = 8 << 20;

/// One reading of the engine, taken idle (see the module's note).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Calls ended (or dialed, for a campaign) when it was taken.
    pub calls: u64,
    pub rss: u64,
    pub fds: u64,
    pub threads: u64,
    pub tasks: u64,
    /// The engine's CPU time (user + kernel) per call since the previous sample.
    pub cpu_ms_per_call: Option<f64>,
    /// Wall time since the previous sample.
    pub stretch: Duration,
}

/// Reads one engine process: /proc for memory, files, threads and CPU, `/api/diagnostics`
/// for tasks and live calls.
pub(crate) struct Probe {
    pid: u32,
    control: String,
    http: reqwest::Client,
    last: Option<(u64, u64, Instant)>,
}

impl Probe {
    pub(crate) fn new(pid: u32, control: &str) -> Self {
        Self {
            pid,
            control: control.to_owned(),
            // No pooled connection is kept between samples: it would be an open file of the
            // engine's in one sample and not in another.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("a plain HTTP client"),
            last: None,
        }
    }

    async fn diagnostics(&self) -> anyhow::Result<serde_json::Value> {
        Ok(self
            .http
            .get(format!("{}/api/diagnostics", self.control))
            .bearer_auth(TOKEN)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Waits until the engine reports no live call (at most 30 s), then one more second for
    /// closed sockets and finished tasks to be gone.
    pub(crate) async fn settle(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let live = self.diagnostics().await?["live_calls"].as_u64();
            if live == Some(0) {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the engine still holds {live:?} live calls 30 s after the last one ended"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok(())
    }

    /// Settles, then reads the engine after `calls` calls.
    pub(crate) async fn sample(&mut self, calls: u64) -> anyhow::Result<Sample> {
        self.settle().await?;
        let pid = self.pid;
        let gone = || anyhow::anyhow!("the engine process {pid} is gone from /proc");
        // /proc first: the diagnostics request's own connection is not among the files.
        let rss = rss_bytes(pid).ok_or_else(gone)?;
        let fds = open_fds(pid).ok_or_else(gone)?;
        let threads = threads(pid).ok_or_else(gone)?;
        let ticks = cpu_ticks(pid).map(|t| t.user + t.kernel).ok_or_else(gone)?;
        let tasks = self.diagnostics().await?["tasks"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no tasks in /api/diagnostics"))?;
        let now = Instant::now();
        let (cpu_ms_per_call, stretch) = match self.last {
            Some((c, t, at)) if calls > c => (
                Some((ticks - t) as f64 / TICKS_PER_SEC * 1000.0 / (calls - c) as f64),
                now - at,
            ),
            _ => (None, Duration::ZERO),
        };
        self.last = Some((calls, ticks, now));
        Ok(Sample {
            calls,
            rss,
            fds,
            threads,
            tasks,
            cpu_ms_per_call,
            stretch,
        })
    }
}

/// The samples of a run, the first taken before any call (for reference), and the verdict.
#[derive(Debug, Default)]
pub struct Curve {
    pub samples: Vec<Sample>,
}

impl Curve {
    /// What grew beyond the slack from the first sample after calls to the last; empty when
    /// flat. The reading before any call is left out: the first calls load what every later
    /// call shares (prepared statements, the allocator's arenas, pooled connections).
    pub fn growth(&self) -> Vec<String> {
        let after: Vec<&Sample> = self.samples.iter().filter(|s| s.calls > 0).collect();
        let (Some(first), Some(last)) = (after.first(), after.last()) else {
            return vec!["fewer than two samples after calls".into()];
        };
        let mut grew = Vec::new();
        if last.fds > first.fds + FD_SLACK {
            grew.push(format!(
                "open files {} -> {} (slack {FD_SLACK})",
                first.fds, last.fds
            ));
        }
        if last.tasks > first.tasks + TASK_SLACK {
            grew.push(format!(
                "tokio tasks {} -> {} (slack {TASK_SLACK})",
                first.tasks, last.tasks
            ));
        }
        let allowed = (first.rss as f64 * (1.0 + RSS_SLACK_RATIO)) as u64 + RSS_SLACK_BYTES;
        if last.rss > allowed {
            grew.push(format!(
                "memory {:.1} -> {:.1} MiB (allowed {:.1})",
                mib(first.rss),
                mib(last.rss),
                mib(allowed)
            ));
        }
        grew
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

impl std::fmt::Display for Curve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "| calls | RSS MiB | open FDs | threads | tokio tasks | CPU ms/call | stretch s |"
        )?;
        writeln!(f, "|---:|---:|---:|---:|---:|---:|---:|")?;
        for s in &self.samples {
            writeln!(
                f,
                "| {} | {:.1} | {} | {} | {} | {} | {} |",
                s.calls,
                mib(s.rss),
                s.fds,
                s.threads,
                s.tasks,
                s.cpu_ms_per_call
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_else(|| "-".into()),
                if s.stretch.is_zero() {
                    "-".into()
                } else {
                    format!("{:.1}", s.stretch.as_secs_f64())
                }
            )?;
        }
        let grew = self.growth();
        if grew.is_empty() {
            write!(
                f,
                "verdict: flat (open files +{FD_SLACK}, tasks +{TASK_SLACK}, memory +{:.0}% + {} MiB allowed from the first sample after calls to the last)",
                RSS_SLACK_RATIO * 100.0,
                RSS_SLACK_BYTES >> 20
            )
        } else {
            write!(f, "verdict: NOT flat: {}", grew.join("; "))
        }
    }
}

#[derive(Debug)]
pub struct Report {
    pub calls: u32,
    pub failed: u64,
    pub run: Duration,
    /// Calls the store holds as completed at the end, and as still live.
    pub stored_completed: u64,
    pub stored_live: u64,
    pub curve: Curve,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} calls in {:.0} s, {} failed; the store holds {} completed and {} live",
            self.calls,
            self.run.as_secs_f64(),
            self.failed,
            self.stored_completed,
            self.stored_live
        )?;
        write!(f, "{}", self.curve)
    }
}

impl Report {
    /// Why the run failed, if it did.
    pub fn problems(&self) -> Vec<String> {
        let mut p = self.curve.growth();
        if self.failed > 0 {
            p.push(format!("{} calls failed", self.failed));
        }
        if self.stored_completed != u64::from(self.calls) || self.stored_live != 0 {
            p.push(format!(
                "the store holds {} completed calls of {} and {} live",
                self.stored_completed, self.calls, self.stored_live
            ));
        }
        p
    }
}

pub async fn run(opts: Options) -> anyhow::Result<Report> {
    anyhow::ensure!(
        opts.calls > 0 && opts.concurrency > 0 && opts.sample > 0,
        "--calls, --concurrency and --sample must be above 0"
    );
    let epoch = Instant::now();
    // Latencies are not recorded: the media benchmark measures them, and keeping every
    // frame's would grow this process over the run.
    let samples = Arc::new(Samples::default());
    let (dir, engine) = bridged_engine(epoch, &samples, opts.concurrency).await?;
    let pid = engine
        .pid()
        .ok_or_else(|| anyhow::anyhow!("no engine pid"))?;
    let mut probe = Probe::new(pid, &engine.control);
    let mut curve = Curve::default();
    curve.samples.push(probe.sample(0).await?);

    // Each webhook on a connection of its own, as Twilio's come: no idle pooled connection
    // stays open in the engine between samples.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let connected = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut first_error = None::<String>;
    let length = Duration::from_millis(opts.call_ms);
    let started = Instant::now();
    let mut next = 0u32;
    while next < opts.calls {
        let stretch_end = (next + opts.sample).min(opts.calls);
        let mut calls = tokio::task::JoinSet::new();
        loop {
            while next < stretch_end && calls.len() < opts.concurrency as usize {
                let call = Call {
                    index: next,
                    public: engine.public.clone(),
                    http: http.clone(),
                    epoch,
                    samples: samples.clone(),
                    stop: tokio::sync::watch::channel(false).1,
                };
                calls.spawn(whole_call(call, length, connected.clone()));
                next += 1;
            }
            let Some(ended) = calls.join_next().await else {
                break;
            };
            if let Err(e) = ended.map_err(anyhow::Error::from).and_then(|r| r) {
                failed.fetch_add(1, Ordering::Relaxed);
                first_error.get_or_insert(format!("{e:#}"));
            }
        }
        let sample = probe.sample(u64::from(stretch_end)).await?;
        eprintln!(
            "{} calls: {:.1} MiB, {} files, {} threads, {} tasks",
            sample.calls,
            mib(sample.rss),
            sample.fds,
            sample.threads,
            sample.tasks
        );
        curve.samples.push(sample);
    }
    let run = started.elapsed();
    if let Some(e) = first_error {
        eprintln!("first error: {e}");
    }
    let stored_completed = count_calls(&probe, "completed").await?;
    let stored_live = count_calls(&probe, "live").await?;
    engine.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Report {
        calls: opts.calls,
        failed: failed.load(Ordering::Relaxed),
        run,
        stored_completed,
        stored_live,
        curve,
    })
}

/// One call's whole life: the media session of [`Call`] for `length`, then Twilio's
/// `completed` status callback. Fails when the engine refused a step or no agent audio came.
async fn whole_call(
    mut call: Call,
    length: Duration,
    connected: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    call.stop = stop_rx;
    let sid = format!("CA{:032x}", u64::from(call.index) + 1);
    let (public, http) = (call.public.clone(), call.http.clone());
    let hang_up = async {
        tokio::time::sleep(length).await;
        let _ = stop_tx.send(true);
    };
    let (heard, ()) = tokio::join!(call.run(&connected), hang_up);
    let heard = heard?;
    anyhow::ensure!(heard > 0, "call {sid}: no agent audio reached the caller");
    let duration = length.as_secs().max(1).to_string();
    post(
        &http,
        &public,
        "/webhooks/twilio/status",
        form(&[
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", &sid),
            ("CallStatus", "completed"),
            ("CallDuration", &duration),
            ("Direction", "inbound"),
            ("From", "+14158675309"),
            ("To", NUMBER),
        ]),
    )
    .await
    .map_err(|e| anyhow::anyhow!("call {sid}: status callback: {e}"))?;
    Ok(())
}

/// Calls in the store with `status` (`live` for any call under way), by the call log's count
/// when it is exact, else by paging through.
async fn count_calls(probe: &Probe, status: &str) -> anyhow::Result<u64> {
    let page = |offset: u64, limit: u64| {
        probe
            .http
            .get(format!("{}/api/calls", probe.control))
            .bearer_auth(TOKEN)
            .query(&[
                ("status", status.to_owned()),
                ("limit", limit.to_string()),
                ("offset", offset.to_string()),
            ])
            .send()
    };
    let first: serde_json::Value = page(0, 1).await?.error_for_status()?.json().await?;
    if first["capped"] != true {
        return first["total"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no total in the call log: {first}"));
    }
    let mut counted = 0u64;
    loop {
        let p: serde_json::Value = page(counted, 500).await?.error_for_status()?.json().await?;
        let n = p["items"].as_array().map_or(0, Vec::len) as u64;
        counted += n;
        if n < 500 {
            return Ok(counted);
        }
    }
}
