//! The analysis queue's one worker: takes the job due first, asks the model, checks the answer
//! against the schema and stores it; a failure worth retrying is tried again later (the
//! server's `retry-after`, else `analysis_retry_base_ms` doubled per attempt), at most
//! [`MAX_ATTEMPTS`] times, then recorded as failed with the reason. Sleeps until the next job
//! is due, woken early by a call's end or a re-run. A job is claimed for this node; every few
//! seconds, jobs whose node died while running them go back in the queue, for whichever node
//! is free (idempotent, so every node does it).

use std::time::Duration;

use super::openai::{Ask, AskError};
use super::stored::stored;
use crate::domain::analysis::{instructions, json_schema, read_output};
use crate::domain::{AnalysisStatus, Call, CallAnalysis, Speaker, Timestamp};
use crate::engine::Engine;
use crate::events::Event;
use crate::secrets::Provider;
use crate::store::StoreError;

/// Attempts per analysis before it is recorded as failed.
pub const MAX_ATTEMPTS: u32 = 5;
/// A request to the model gives up after this long (the SDK's 600 s is meant for chats).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// With nothing due, the queue is still looked at this often (a call ended by a path that
/// published no event is picked up all the same).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Woken by a call's end, the worker waits this long for the ends behind it: under a burst of
/// calls, a look at the queue per quarter second rather than one per call.
const GATHER: Duration = Duration::from_millis(250);
/// While a call's bridge still runs (its last transcript lines may be on their way), its
/// analysis waits this long at a time.
const BRIDGE_WAIT: Duration = Duration::from_millis(300);
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How often jobs left running by dead nodes are looked for (beyond the start).
const ORPHANS_EVERY: Duration = Duration::from_secs(5);

/// Works the queue until the engine stops. Analyses a previous run (or a dead node) left
/// running are due again.
pub async fn run(engine: Engine) {
    let mut events = engine.events().subscribe();
    resume_orphans(&engine).await;
    let mut orphans_looked = tokio::time::Instant::now();
    let http = match reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "post-call analysis cannot run: no HTTP client");
            return;
        }
    };
    loop {
        if orphans_looked.elapsed() >= ORPHANS_EVERY {
            resume_orphans(&engine).await;
            orphans_looked = tokio::time::Instant::now();
        }
        while let Some(job) = next_job(&engine).await {
            tokio::select! {
                // Cut short by shutdown: the job stays `running`, resumed once this node is
                // dead (at the next start, or by another node).
                () = engine.stopping() => return,
                () = attempt(&engine, &http, job) => {}
            }
        }
        let wait = match engine.store().next_analysis_due().await {
            Ok(Some(at)) => Duration::from_millis(
                u64::try_from(at.as_millis() - Timestamp::now().as_millis()).unwrap_or(0),
            )
            .min(IDLE_POLL),
            Ok(None) => IDLE_POLL,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the analysis queue");
                IDLE_POLL
            }
        };
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        let woken = loop {
            tokio::select! {
                () = engine.stopping() => return,
                () = &mut sleep => break false,
                event = events.next() => match event.as_deref() {
                    None => return,
                    Some(Event::CallUpdated { call }) if call.ended_at.is_some() => break true,
                    Some(Event::CallAnalysis { analysis })
                        if analysis.status == AnalysisStatus::Pending => break true,
                    Some(Event::Lagged { .. }) => break true,
                    Some(_) => {}
                },
            }
        };
        if woken {
            tokio::select! {
                () = engine.stopping() => return,
                () = tokio::time::sleep(GATHER) => {}
            }
            events.skip_waiting();
        }
    }
}

/// Puts jobs whose node is dead back in the queue.
async fn resume_orphans(engine: &Engine) {
    match engine.store().resume_analyses(Timestamp::now()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(analyses = n, "resuming post-call analyses cut short"),
        Err(e) => tracing::error!(error = %e, "cannot resume post-call analyses"),
    }
}

async fn next_job(engine: &Engine) -> Option<CallAnalysis> {
    if engine.is_stopping() {
        return None;
    }
    match engine.store().claim_due_analysis(Timestamp::now()).await {
        Ok(job) => job,
        Err(e) => {
            tracing::error!(error = %e, "cannot take a post-call analysis from the queue");
            None
        }
    }
}

/// How the call's transcript reads to the model; `None` when nobody said anything.
fn transcript_text(call: &Call, lines: &[crate::domain::TranscriptLine]) -> Option<String> {
    let said: Vec<String> = lines
        .iter()
        .filter(|l| {
            matches!(
                l.speaker,
                Speaker::Caller | Speaker::Agent | Speaker::Operator
            ) && !l.text.trim().is_empty()
        })
        .map(|l| format!("{}: {}", l.speaker.as_str(), l.text.trim()))
        .collect();
    if said.is_empty() {
        return None;
    }
    Some(format!(
        "Call {}, {} from {} to {}, {} seconds.\nTRANSCRIPT:\n{}",
        call.id,
        call.direction.as_str(),
        call.from_number,
        call.to_number,
        call.duration_secs.unwrap_or(0),
        said.join("\n")
    ))
}

/// What one attempt came to.
enum Outcome {
    Done(crate::domain::analysis::AnalysisOutput, String),
    Retry(String, Option<Duration>),
    /// Not retried (`Failed`), or nothing to do (`Skipped`).
    End(AnalysisStatus, String),
    /// The call's bridge still runs: wait, without counting this as an attempt.
    Wait,
}

async fn attempt(engine: &Engine, http: &reqwest::Client, job: CallAnalysis) {
    let call_id = job.call_id.clone();
    let outcome = match ask(engine, http, &call_id).await {
        Ok(outcome) => outcome,
        Err(StoreError::NotFound { .. }) => {
            // The call (and with it this row) was deleted meanwhile.
            return;
        }
        Err(e) => Outcome::Retry(format!("the database could not be read: {e}"), None),
    };
    let store = engine.store();
    let now = Timestamp::now();
    let saved = match outcome {
        Outcome::Done(output, model) => store.analysis_done(&call_id, output, &model, now).await,
        Outcome::End(status, reason) => store.analysis_ended(&call_id, status, &reason, now).await,
        Outcome::Wait => {
            let at = later(now, BRIDGE_WAIT);
            let attempts = job.attempts.saturating_sub(1);
            if let Err(e) = store.analysis_retry_at(&call_id, at, attempts, None).await {
                tracing::error!(call_id, error = %e, "cannot postpone a post-call analysis");
            }
            return;
        }
        Outcome::Retry(reason, _) if job.attempts >= MAX_ATTEMPTS => {
            let reason = format!("{reason} (gave up after {} attempts)", job.attempts);
            store
                .analysis_ended(&call_id, AnalysisStatus::Failed, &reason, now)
                .await
        }
        Outcome::Retry(reason, retry_after) => {
            let wait = retry_after.unwrap_or_else(|| backoff(engine, job.attempts));
            tracing::info!(
                call_id,
                attempt = job.attempts,
                reason,
                ?wait,
                "post-call analysis will be retried"
            );
            match store
                .analysis_retry_at(&call_id, later(now, wait), job.attempts, Some(&reason))
                .await
            {
                Ok(_) => return,
                Err(e) => Err(e),
            }
        }
    };
    match saved {
        Ok(analysis) => {
            if analysis.status == AnalysisStatus::Failed {
                tracing::warn!(
                    call_id,
                    reason = analysis.error.as_deref().unwrap_or(""),
                    "post-call analysis failed"
                );
            }
            stored(engine, &analysis);
        }
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => tracing::error!(call_id, error = %e, "cannot store a post-call analysis"),
    }
}

fn later(now: Timestamp, wait: Duration) -> Timestamp {
    Timestamp::from_millis(
        now.as_millis() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2),
    )
}

/// The wait before attempt `attempts + 1`: the base, doubled for each attempt made after
/// the first.
fn backoff(engine: &Engine, attempts: u32) -> Duration {
    let base = Duration::from_millis(engine.config().analysis_retry_base_ms);
    base.saturating_mul(1 << attempts.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

async fn ask(
    engine: &Engine,
    http: &reqwest::Client,
    call_id: &str,
) -> Result<Outcome, StoreError> {
    if engine.live_calls().get(call_id).is_some() {
        return Ok(Outcome::Wait);
    }
    let store = engine.store();
    let call = store.get_call(call_id).await?;
    let Some(agent_id) = call.agent_id.as_deref() else {
        return Ok(Outcome::End(
            AnalysisStatus::Failed,
            "the call has no agent".into(),
        ));
    };
    let agent = match store.get_agent(agent_id).await {
        Ok(agent) => agent,
        Err(StoreError::NotFound { .. }) => {
            return Ok(Outcome::End(
                AnalysisStatus::Failed,
                "the call's agent has been deleted".into(),
            ));
        }
        Err(e) => return Err(e),
    };
    let lines = store.transcript(call_id).await?;
    let Some(input) = transcript_text(&call, &lines) else {
        return Ok(Outcome::End(
            AnalysisStatus::Skipped,
            "the transcript is empty: nothing to analyse".into(),
        ));
    };
    let credentials = match engine.secrets().credentials(Provider::Openai).await {
        Ok(c) if !c.get("api_key").is_empty() => c,
        _ => {
            return Ok(Outcome::End(
                AnalysisStatus::Failed,
                "no OpenAI API key: add one in Settings, then retry".into(),
            ));
        }
    };
    let settings = &agent.analysis;
    let schema = json_schema(settings);
    let validator = match jsonschema::validator_for(&schema) {
        Ok(v) => v,
        Err(e) => {
            return Ok(Outcome::End(
                AnalysisStatus::Failed,
                format!("the agent's fields make no valid schema: {e}"),
            ));
        }
    };
    let answer = Ask {
        base_url: &engine.config().openai_api_url,
        api_key: credentials.get("api_key"),
        model: &settings.model,
        instructions: &instructions(settings),
        input: &input,
        schema: &schema,
    }
    .send(http)
    .await;
    Ok(match answer {
        Err(AskError::Fatal(reason)) => Outcome::End(AnalysisStatus::Failed, reason),
        Err(AskError::Retry {
            reason,
            retry_after,
        }) => Outcome::Retry(reason, retry_after),
        Ok(value) => match validator.iter_errors(&value).next() {
            Some(e) => Outcome::Retry(
                format!(
                    "the model's answer broke the schema at {}: {}",
                    match e.instance_path().to_string() {
                        p if p.is_empty() => "/".to_owned(),
                        p => p,
                    },
                    e
                )
                .chars()
                .take(300)
                .collect(),
                None,
            ),
            None => match read_output(&value) {
                Some(output) => Outcome::Done(output, settings.model.clone()),
                None => Outcome::Retry("the model's answer could not be read".into(), None),
            },
        },
    })
}
