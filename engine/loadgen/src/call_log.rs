//! The call log at scale: a database of `--calls` calls with their transcripts, then pages of
//! the log, filtered pages, transcript searches and the overview's charts (30 and 90 days)
//! asked of a `switchboard serve` one at a time, as a person at the Calls or Overview page
//! does; latency per kind of request.
//!
//! Seeding writes the database file directly (the API has no way to make a million calls, and
//! carriers would take days): the schema is the engine's own, made by `Store::open`, and the
//! rows are what the engine writes. Measuring goes through the control API only.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _};

use super::{EngineProcess, Percentiles, TOKEN, tempfile_dir};

#[derive(Debug, clap::Args)]
pub struct Options {
    /// Calls in the log.
    #[arg(long, default_value_t = 1_000_000)]
    pub calls: u32,
    /// Transcript lines per call.
    #[arg(long, default_value_t = 6)]
    pub lines: u32,
    /// Requests of each kind.
    #[arg(long, default_value_t = 200)]
    pub requests: u32,
    /// Keep the database here, and reuse it when it already holds the calls (seeding a
    /// million calls takes minutes).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Report {
    pub calls: u32,
    pub lines: u64,
    pub seeded_in: Option<Duration>,
    pub db_bytes: u64,
    /// Each kind of request: its name and latencies.
    pub kinds: Vec<(String, Percentiles)>,
    pub errors: u64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "call log: {} calls, {} transcript lines, database {:.0} MB{}",
            self.calls,
            self.lines,
            self.db_bytes as f64 / 1e6,
            match self.seeded_in {
                Some(d) => format!(", seeded in {:.0} s", d.as_secs_f64()),
                None => " (reused)".into(),
            }
        )?;
        for (name, p) in &self.kinds {
            writeln!(f, "  {name:<44} {p}")?;
        }
        write!(f, "  errors: {}", self.errors)
    }
}

/// Makes one request's query string.
type QueryOf = dyn Fn(&mut Rng) -> String;

/// A small, fast, repeatable generator (xorshift64*): the same log every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Words a transcript is made of: a few common ones, many rare ones (so searches range from
/// a word in most calls to one in a handful).
const COMMON: [&str; 24] = [
    "hello",
    "thanks",
    "order",
    "appointment",
    "today",
    "tomorrow",
    "please",
    "help",
    "account",
    "price",
    "delivery",
    "book",
    "cancel",
    "address",
    "number",
    "time",
    "morning",
    "afternoon",
    "sure",
    "great",
    "question",
    "plumber",
    "leak",
    "invoice",
];

fn sentence(rng: &mut Rng) -> String {
    let words = 6 + rng.below(10);
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        // 60% common words, the rest from 50,000 rare ones ("w12345").
        if rng.below(10) < 6 {
            s.push_str(COMMON[rng.below(COMMON.len() as u64) as usize]);
        } else {
            s.push_str(&format!("w{}", rng.below(50_000)));
        }
    }
    s
}

const AGENTS: usize = 20;
/// 2026-01-01: the log spans the year from here.
const START_MS: i64 = 1_767_225_600_000;
const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;

/// An overview of `days` days within the seeded year, in Paris' time.
fn overview_days(rng: &mut Rng, days: i64, extra: &str) -> String {
    let from = jiff::civil::date(2026, 1, 1)
        .checked_add(jiff::Span::new().days(rng.below((365 - days) as u64) as i64))
        .expect("within 2026");
    let to = from
        .checked_add(jiff::Span::new().days(days - 1))
        .expect("within 2026");
    format!("from={from}&to={to}&tz=Europe/Paris{extra}")
}

/// Fills the database in `dir` (made by the engine's own migrations) with the log.
async fn seed(dir: &std::path::Path, calls: u32, lines: u32) -> anyhow::Result<()> {
    drop(switchboard::store::Store::open(dir).await?);
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.join(switchboard::store::DB_FILE))
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Off)
        .connect()
        .await?;
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut tx = conn.begin().await?;
    let now = START_MS;
    for a in 0..AGENTS {
        sqlx::query(
            "INSERT INTO agents (id, name, system_prompt, greeting, voice, model, context, notes, \
             max_concurrent_calls, active, created_at, updated_at) \
             VALUES (?, ?, '', '', 'marin', 'gpt-realtime', '{}', '', 5, 1, ?, ?)",
        )
        .bind(format!("agent-{a:02}"))
        .bind(format!("Agent {a:02}"))
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    const BATCH: u32 = 5_000;
    let mut done = 0;
    while done < calls {
        let mut tx = conn.begin().await?;
        for i in done..(done + BATCH).min(calls) {
            let id = format!("call-{i:08}");
            let started = START_MS + (i64::from(i) * YEAR_MS) / i64::from(calls.max(1));
            let inbound = rng.below(2) == 0;
            let answered = rng.below(10) < 7;
            let talk = 20 + rng.below(600) as i64;
            let status = if answered { "completed" } else { "no_answer" };
            let agent = format!("agent-{:02}", rng.below(AGENTS as u64));
            let caller = format!("+1415{:07}", rng.below(10_000_000));
            let (from, to) = if inbound {
                (caller.as_str(), "+14155552671")
            } else {
                ("+14155552671", caller.as_str())
            };
            sqlx::query(
                "INSERT INTO calls (id, direction, carrier, carrier_call_id, from_number, \
                 to_number, agent_id, status, started_at, answered_at, ended_at, duration_secs, \
                 hangup_cause, context) \
                 VALUES (?, ?, 'twilio', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}')",
            )
            .bind(&id)
            .bind(if inbound { "inbound" } else { "outbound" })
            .bind(format!("CA{i:032}"))
            .bind(from)
            .bind(to)
            .bind(&agent)
            .bind(status)
            .bind(started)
            .bind(answered.then_some(started + 3_000))
            .bind(started + 3_000 + if answered { talk * 1000 } else { 27_000 })
            .bind(answered.then_some(talk))
            .bind(answered.then_some("normal_clearing"))
            .execute(&mut *tx)
            .await?;
            if answered {
                for l in 0..lines {
                    sqlx::query(
                        "INSERT INTO transcript_lines (call_id, speaker, text, at) \
                         VALUES (?, ?, ?, ?)",
                    )
                    .bind(&id)
                    .bind(if l % 2 == 0 { "agent" } else { "caller" })
                    .bind(sentence(&mut rng))
                    .bind(started + 3_000 + i64::from(l) * 5_000)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        done = (done + BATCH).min(calls);
        if done % 100_000 == 0 {
            eprintln!("seeding the call log: {done} calls");
        }
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    sqlx::query("ANALYZE").execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

async fn count_calls(dir: &std::path::Path) -> anyhow::Result<(i64, i64)> {
    let mut conn = SqliteConnectOptions::new()
        .filename(dir.join(switchboard::store::DB_FILE))
        .connect()
        .await?;
    let calls: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls")
        .fetch_one(&mut conn)
        .await?;
    let lines: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM transcript_lines")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok((calls, lines))
}

pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let dir = match &opts.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => tempfile_dir()?,
    };
    let existing = if dir.join(switchboard::store::DB_FILE).exists() {
        count_calls(&dir).await?.0
    } else {
        0
    };
    let seeded_in = if existing == i64::from(opts.calls) {
        None
    } else {
        anyhow::ensure!(
            existing == 0,
            "{} holds {existing} calls, not {}: give an empty --data-dir",
            dir.display(),
            opts.calls
        );
        let started = Instant::now();
        seed(&dir, opts.calls, opts.lines).await?;
        Some(started.elapsed())
    };
    let (calls, lines) = count_calls(&dir).await?;
    let db_bytes = std::fs::metadata(dir.join(switchboard::store::DB_FILE))?.len();

    let engine = EngineProcess::spawn(&dir, &[], &[]).await?;
    let http = reqwest::Client::new();
    let mut rng = Rng(0xbe7c_0ffe_e000_0002);
    let mut errors = 0;
    let kinds: Vec<(&str, &str, Box<QueryOf>)> = vec![
        (
            "first page (50, with the total)",
            "calls",
            Box::new(|_| "limit=50".into()),
        ),
        (
            "a page deep in the log (offset 0-5,000)",
            "calls",
            Box::new(|r| format!("limit=50&offset={}", r.below(100) * 50)),
        ),
        (
            "one agent's calls, one month",
            "calls",
            Box::new(|r| {
                let month = 1 + r.below(12);
                format!(
                    "limit=50&agent_id=agent-{:02}&since=2026-{month:02}-01T00:00:00Z&until=2026-{:02}-01T00:00:00Z",
                    r.below(AGENTS as u64),
                    if month == 12 { 12 } else { month + 1 }
                )
            }),
        ),
        (
            "search, a rare word (a few calls)",
            "calls",
            Box::new(|r| format!("limit=50&q=w{}", r.below(50_000))),
        ),
        (
            "search, two common words",
            "calls",
            Box::new(|r| {
                let a = COMMON[r.below(COMMON.len() as u64) as usize];
                let b = COMMON[r.below(COMMON.len() as u64) as usize];
                format!("limit=50&q={a}+{b}")
            }),
        ),
        (
            "search as typed, a word's start (\"deliv\")",
            "calls",
            Box::new(|r| {
                let w = COMMON[r.below(COMMON.len() as u64) as usize];
                format!("limit=50&q={}", &w[..w.len().min(5)])
            }),
        ),
        (
            "overview, 30 days (Europe/Paris)",
            "overview",
            Box::new(|r| overview_days(r, 30, "")),
        ),
        (
            "overview, 90 days (Europe/Paris)",
            "overview",
            Box::new(|r| overview_days(r, 90, "")),
        ),
        (
            "overview, one agent, 30 days",
            "overview",
            Box::new(|r| {
                let agent = format!("&agent_id=agent-{:02}", r.below(AGENTS as u64));
                overview_days(r, 30, &agent)
            }),
        ),
    ];
    let mut report_kinds = Vec::new();
    for (name, path, query) in &kinds {
        let mut samples = Vec::with_capacity(opts.requests as usize);
        for _ in 0..opts.requests {
            let url = format!("{}/api/{path}?{}", engine.control, query(&mut rng));
            let started = Instant::now();
            let ok = http
                .get(&url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status);
            match ok {
                Ok(res) => {
                    let _ = res.bytes().await;
                    samples.push(started.elapsed());
                }
                Err(e) => {
                    errors += 1;
                    eprintln!("request failed: {url}: {e}");
                }
            }
        }
        if let Some(p) = Percentiles::of(&mut samples) {
            report_kinds.push(((*name).to_owned(), p));
        }
    }
    engine.stop().await?;
    Ok(Report {
        calls: u32::try_from(calls).unwrap_or(u32::MAX),
        lines: u64::try_from(lines).unwrap_or(0),
        seeded_in,
        db_bytes,
        kinds: report_kinds,
        errors,
    })
}
