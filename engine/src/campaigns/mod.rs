//! The campaign dialer: one task per running campaign works through its leads within the
//! campaign's limits: calls at once (counted in the database, so a restart cannot forget a
//! call), calls per second (a pacer), the calling window (read from an injectable clock),
//! and each agent's own maximum (inbound calls included).
//!
//! Crash safety: a lead is claimed and its attempt's call recorded in one transaction
//! (`Store::claim_lead`) before the carrier is asked to dial, and a call's end settles its
//! lead in the transaction that records the end. At start-up, attempts that had not ended
//! are squared with the carrier before dialing resumes (`reconcile`), so no lead is dialed
//! twice and none is lost.

pub mod progress;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::carriers::outbound::{self, Found};
use crate::domain::campaign::VoicemailPolicy;
use crate::domain::{
    Agent, Call, CallEvent, Campaign, CampaignStatus, NumberStatus, Outcome, PhoneNumber, Timestamp,
};
use crate::engine::Engine;
use crate::events::Event;
use crate::routing::select::{self, Candidate};
use crate::store::StoreError;
use crate::store::campaigns::{Claim, NoClaim};

/// What campaigns read the time of day and retry times from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug)]
struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The longest the dialer sleeps without looking again: a settings change, a moved clock or
/// a lead coming due is noticed within this.
const RECHECK: Duration = Duration::from_secs(1);
/// How long the dialer works from one reading of the campaign, its pool and numbers.
const REFRESH: Duration = Duration::from_millis(500);
/// How long a machine-answered call waits for its media bridge before the message is given
/// up and the call hung up.
const BRIDGE_GRACE: Duration = Duration::from_secs(5);
/// How soon a dial the carrier did not confirm is looked up.
const UNCONFIRMED_LOOKUP: Duration = Duration::from_secs(30);
/// A campaign call neither bridged nor ended this long after it was placed (by the campaign
/// clock) is asked about at its carrier: its reports may have been lost, and a call counted
/// live forever would hold a slot forever.
const OVERDUE_AFTER: Duration = Duration::from_secs(120);
/// How often overdue calls are looked for, and the least time between two look-ups of one.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
const LOOK_UP_AGAIN_AFTER: Duration = Duration::from_secs(60);

/// How the engine reaches a campaign's task.
#[derive(Default)]
struct Signal {
    /// Look again now: a slot may be free, a lead due.
    wake: Notify,
    /// The campaign itself changed (settings, pool, status): read it again before dialing.
    changed: std::sync::atomic::AtomicBool,
}

#[derive(Clone)]
pub struct Dialer {
    inner: Arc<Inner>,
}

struct Inner {
    clock: SharedClock,
    /// Running campaigns' signals; an entry exists while the campaign's task runs.
    runs: Mutex<HashMap<String, Arc<Signal>>>,
}

impl Dialer {
    pub fn new(clock: Option<SharedClock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                clock: clock.unwrap_or_else(|| Arc::new(SystemClock)),
                runs: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Signal>>> {
        self.inner.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the campaign's task unless it runs already.
    pub fn run(&self, engine: &Engine, campaign_id: &str) {
        let signal = {
            let mut runs = self.runs();
            if let Some(s) = runs.get(campaign_id) {
                s.changed.store(true, std::sync::atomic::Ordering::Relaxed);
                s.wake.notify_one();
                return;
            }
            let s = Arc::new(Signal::default());
            runs.insert(campaign_id.to_owned(), s.clone());
            s
        };
        let (engine, id) = (engine.clone(), campaign_id.to_owned());
        tokio::spawn(async move {
            CampaignTask::new(engine.clone(), id.clone(), signal)
                .run()
                .await;
            engine.dialer().runs().remove(&id);
            // Resumed while the task was on its way out: it must not stay unattended.
            let resumed = engine
                .store()
                .get_campaign(&id)
                .await
                .is_ok_and(|c| c.status == CampaignStatus::Running);
            if resumed && !engine.is_stopping() {
                engine.dialer().run(&engine, &id);
            }
        });
    }

    /// Tells a campaign's task to look again now (a call ended, leads were added).
    pub fn wake(&self, campaign_id: &str) {
        if let Some(s) = self.runs().get(campaign_id) {
            s.wake.notify_one();
        }
    }

    /// Tells a campaign's task the campaign changed (settings, pool, status): it reads it
    /// again before its next dial, so a pause stops dialing at once.
    pub fn changed(&self, campaign_id: &str) {
        if let Some(s) = self.runs().get(campaign_id) {
            s.changed.store(true, std::sync::atomic::Ordering::Relaxed);
            s.wake.notify_one();
        }
    }

    pub fn is_running(&self, campaign_id: &str) -> bool {
        self.runs().contains_key(campaign_id)
    }

    /// At start-up: every campaign that was running goes on.
    pub async fn resume_all(&self, engine: &Engine) {
        match engine.store().running_campaign_ids().await {
            Ok(ids) => {
                for id in ids {
                    tracing::info!(campaign_id = %id, "resuming campaign");
                    self.run(engine, &id);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read campaigns to resume"),
        }
    }
}

/// Called after a carrier's report changed a call: a campaign call's end frees a slot, and a
/// machine answering applies the campaign's voicemail policy.
pub(crate) fn after_call_update(engine: &Engine, call: &Call, events: &[CallEvent]) {
    let Some(campaign_id) = &call.campaign_id else {
        return;
    };
    if call.ended_at.is_some() {
        engine.dialer().wake(campaign_id);
        return;
    }
    let machine = events.iter().any(|e| {
        matches!(e, CallEvent::MachineDetected { result }
            if result.starts_with("machine") || result == "fax")
    });
    if machine {
        let (engine, call) = (engine.clone(), call.clone());
        tokio::spawn(async move { on_machine(&engine, &call).await });
    }
}

async fn on_machine(engine: &Engine, call: &Call) {
    let Some(campaign_id) = &call.campaign_id else {
        return;
    };
    let policy = match engine.store().get_campaign(campaign_id).await {
        Ok(c) => c.settings.voicemail,
        Err(e) => {
            tracing::warn!(call_id = %call.id, error = %e, "no campaign for a machine-answered call");
            return;
        }
    };
    let mut live = engine.live().get(&call.id);
    if live.is_none() && matches!(policy, VoicemailPolicy::LeaveMessage { .. }) {
        // Detection can beat the media stream: give the bridge a moment to come up, since
        // only it can speak the message.
        let until = Instant::now() + BRIDGE_GRACE;
        while live.is_none() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
            live = engine.live().get(&call.id);
        }
    }
    let control = match (&policy, &live) {
        (VoicemailPolicy::LeaveMessage { message }, Some(_)) => {
            crate::media::live::Control::LeaveMessage {
                message: message.clone(),
            }
        }
        _ => crate::media::live::Control::HangUp {
            reason: "an answering machine took the call".into(),
        },
    };
    if let Some(live) = live
        && live.send(control)
    {
        return;
    }
    if let Err(e) = crate::carriers::hang_up(engine, call).await {
        tracing::warn!(call_id = %call.id, error = %e, "could not hang up on a machine");
    }
}

/// One running campaign's dialing loop.
struct CampaignTask {
    engine: Engine,
    id: String,
    signal: Arc<Signal>,
    /// The campaign, its pool's agents and its numbers, as last read.
    view: Option<View>,
    /// Round-robin positions: agents and caller-ID numbers.
    agent_turn: usize,
    number_turn: usize,
    pacer: Pacer,
    progress: progress::Reporter,
    /// When overdue calls were last looked for, and when each was last asked about.
    swept_at: Instant,
    asked: HashMap<String, Instant>,
}

/// Shared pieces, so each dial takes them without copying.
struct View {
    campaign: Arc<Campaign>,
    /// The pool's agents in order, each with its primary flag.
    agents: Arc<[(Agent, bool)]>,
    /// Active caller-ID numbers, in order.
    numbers: Arc<[PhoneNumber]>,
    read_at: Instant,
}

enum Step {
    /// Dial again as soon as the pacer allows.
    Next,
    /// The pacer holds the next dial this long.
    Pace(Duration),
    /// Wait for a wake-up, at most this long.
    Wait(Duration),
    /// The campaign no longer runs.
    Exit,
}

impl CampaignTask {
    fn new(engine: Engine, id: String, signal: Arc<Signal>) -> Self {
        Self {
            progress: progress::Reporter::new(id.clone()),
            engine,
            id,
            signal,
            view: None,
            agent_turn: 0,
            number_turn: 0,
            pacer: Pacer::default(),
            swept_at: Instant::now(),
            asked: HashMap::new(),
        }
    }

    async fn run(mut self) {
        reconcile(&self.engine, &self.id).await;
        loop {
            if self.swept_at.elapsed() >= SWEEP_EVERY {
                self.sweep().await;
            }
            let step = match self.step().await {
                Ok(s) => s,
                Err(StoreError::NotFound { .. }) => Step::Exit,
                Err(StoreError::Closed) => Step::Exit,
                Err(e) => {
                    tracing::error!(campaign_id = %self.id, error = %e, "dialer step failed");
                    Step::Wait(RECHECK)
                }
            };
            self.progress.maybe_publish(&self.engine).await;
            let wait = match step {
                Step::Exit => break,
                Step::Next => continue,
                Step::Pace(d) => {
                    tokio::select! {
                        () = tokio::time::sleep(d) => {}
                        () = self.engine.stopping() => break,
                    }
                    continue;
                }
                Step::Wait(d) => d.min(RECHECK),
            };
            {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = self.signal.wake.notified() => {}
                    () = self.engine.stopping() => break,
                }
                // Capacity or time passed: no burst to catch up with.
                self.pacer.reset(Instant::now());
            }
        }
        self.progress.publish(&self.engine).await;
    }

    async fn view(&mut self) -> Result<&View, StoreError> {
        let changed = self
            .signal
            .changed
            .swap(false, std::sync::atomic::Ordering::Relaxed);
        let stale = changed
            || self
                .view
                .as_ref()
                .is_none_or(|v| v.read_at.elapsed() >= REFRESH);
        if stale {
            let store = self.engine.store();
            let campaign = store.get_campaign(&self.id).await?;
            let all = store.list_agents().await?;
            let agents: Arc<[_]> = campaign
                .agents
                .iter()
                .filter_map(|p| {
                    all.iter()
                        .find(|a| a.id == p.agent_id)
                        .map(|a| (a.clone(), p.primary))
                })
                .collect();
            let mut numbers = Vec::new();
            for id in &campaign.number_ids {
                match store.get_phone_number(id).await {
                    Ok(n) if n.status == NumberStatus::Active => numbers.push(n),
                    Ok(_) | Err(StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            self.view = Some(View {
                campaign: Arc::new(campaign),
                agents,
                numbers: numbers.into(),
                read_at: Instant::now(),
            });
        }
        Ok(self.view.as_ref().expect("just read"))
    }

    async fn step(&mut self) -> Result<Step, StoreError> {
        let now = self.engine.dialer().now();
        let (campaign, agents, numbers) = {
            let v = self.view().await?;
            (v.campaign.clone(), v.agents.clone(), v.numbers.clone())
        };
        if campaign.status != CampaignStatus::Running {
            return Ok(Step::Exit);
        }
        if let Some(w) = &campaign.settings.window
            && let Err(opens) = w.check(now)
        {
            let ms = (opens.as_millis() - now.as_millis()).max(0) as u64;
            return Ok(Step::Wait(Duration::from_millis(ms)));
        }
        if numbers.is_empty() {
            self.pause(
                &campaign,
                "no active caller-ID number is linked to the campaign",
            )
            .await?;
            return Ok(Step::Exit);
        }
        if let Some(wait) = self.pacer.wait(Instant::now()) {
            return Ok(Step::Pace(wait));
        }
        // Selection: every agent's live calls, inbound included.
        let loads = self.engine.store().live_calls_per_agent().await?;
        let pool: Vec<Candidate> = agents
            .iter()
            .map(|(a, primary)| Candidate {
                agent_id: a.id.clone(),
                primary: *primary,
                active: a.active,
                live: loads.get(&a.id).copied().unwrap_or(0),
                max: a.max_concurrent_calls,
            })
            .collect();
        let mut pick = |n: usize| rand::random_range(0..n);
        let Some(i) = select::choose(
            campaign.settings.strategy,
            &pool,
            &mut self.agent_turn,
            &mut pick,
        ) else {
            if agents.is_empty() {
                self.pause(&campaign, "the campaign has no agents").await?;
                return Ok(Step::Exit);
            }
            // Everyone is busy: the lead waits for a call to end.
            return Ok(Step::Wait(RECHECK));
        };
        let agent = &agents[i].0;
        let number = &numbers[self.number_turn % numbers.len()];
        let claim = Claim {
            campaign_id: campaign.id.clone(),
            agent_id: agent.id.clone(),
            agent_max: agent.max_concurrent_calls,
            campaign_max: campaign.settings.max_concurrent_calls,
            number_id: number.id.clone(),
            from: number.number.clone(),
            carrier: number.carrier,
            now,
        };
        match self.engine.store().claim_lead(claim).await? {
            Ok(claimed) => {
                self.number_turn = self.number_turn.wrapping_add(1);
                self.pacer
                    .used(campaign.settings.calls_per_second, Instant::now());
                self.progress.dialed();
                self.engine.events().publish(Event::CallCreated {
                    call: claimed.call.clone(),
                });
                let engine = self.engine.clone();
                tokio::spawn(async move { place_attempt(engine, claimed.call).await });
                Ok(Step::Next)
            }
            Err(NoClaim::CampaignFull | NoClaim::AgentFull) => Ok(Step::Wait(RECHECK)),
            Err(NoClaim::NothingDue(Some(next))) => {
                let ms = (next.as_millis() - now.as_millis()).max(0) as u64;
                Ok(Step::Wait(Duration::from_millis(ms)))
            }
            Err(NoClaim::NothingDue(None)) => {
                let counts = self.engine.store().lead_counts(&campaign.id).await?;
                if counts.dialing > 0 {
                    // Attempts under way may still ask for retries.
                    return Ok(Step::Wait(RECHECK));
                }
                let done = self
                    .engine
                    .store()
                    .set_campaign_status(
                        &campaign.id,
                        CampaignStatus::Running,
                        CampaignStatus::Completed,
                    )
                    .await;
                if let Ok(c) = done {
                    tracing::info!(campaign_id = %c.id, "campaign completed");
                    self.engine
                        .events()
                        .publish(Event::CampaignUpdated { campaign: c });
                }
                Ok(Step::Exit)
            }
        }
    }

    /// Asks the carrier about calls whose reports are overdue (at most once a minute each).
    async fn sweep(&mut self) {
        self.swept_at = Instant::now();
        let now = self.engine.dialer().now();
        let before = Timestamp::from_millis(now.as_millis() - OVERDUE_AFTER.as_millis() as i64);
        let calls = match self
            .engine
            .store()
            .campaign_unended_calls(&self.id, Some(before))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(campaign_id = %self.id, error = %e, "cannot look for overdue calls");
                return;
            }
        };
        self.asked.retain(|id, _| calls.iter().any(|c| &c.id == id));
        for call in calls {
            let recently = self
                .asked
                .get(&call.id)
                .is_some_and(|t| t.elapsed() < LOOK_UP_AGAIN_AFTER);
            if recently || self.engine.live().get(&call.id).is_some() {
                continue;
            }
            self.asked.insert(call.id.clone(), Instant::now());
            tracing::info!(call_id = %call.id, "no end reported in time; asking the carrier");
            reconcile_call(&self.engine, &call).await;
        }
    }

    /// Stops dialing with a reason an operator can act on.
    async fn pause(&mut self, campaign: &Campaign, reason: &str) -> Result<(), StoreError> {
        tracing::warn!(campaign_id = %campaign.id, %reason, "campaign paused");
        let c = self
            .engine
            .store()
            .set_campaign_status(
                &campaign.id,
                CampaignStatus::Running,
                CampaignStatus::Paused,
            )
            .await?;
        self.engine.events().publish(Event::CampaignPaused {
            campaign: c,
            reason: reason.to_owned(),
        });
        Ok(())
    }
}

/// Hands a claimed attempt to its carrier and records what came of it.
async fn place_attempt(engine: Engine, call: Call) {
    let campaign_id = call.campaign_id.clone().unwrap_or_default();
    match outbound::place(&engine, &call, true).await {
        Ok(carrier_id) => match engine
            .store()
            .set_carrier_call_id(&call.id, &carrier_id)
            .await
        {
            Ok(c) => engine.events().publish(Event::CallUpdated { call: c }),
            Err(e) => {
                tracing::error!(call_id = %call.id, error = %e, "cannot record the carrier's call id")
            }
        },
        Err(e) if e.maybe_placed() => {
            tracing::warn!(call_id = %call.id, error = %e, "dial not confirmed; will ask the carrier");
            look_up_later(engine, call.id.clone());
        }
        Err(e) => {
            let setup = e.is_setup();
            let outcome = if setup {
                Outcome::NotPlaced
            } else {
                Outcome::Failed
            };
            tracing::warn!(call_id = %call.id, error = %e, "the call could not be placed");
            match engine
                .store()
                .end_unplaced_call(&call.id, outcome, &e.to_string())
                .await
            {
                Ok(c) => engine.events().publish(Event::CallUpdated { call: c }),
                Err(err) => {
                    tracing::error!(call_id = %call.id, error = %err, "cannot end an unplaced call")
                }
            }
            if setup
                && let Ok(c) = engine
                    .store()
                    .set_campaign_status(
                        &campaign_id,
                        CampaignStatus::Running,
                        CampaignStatus::Paused,
                    )
                    .await
            {
                engine.events().publish(Event::CampaignPaused {
                    campaign: c,
                    reason: e.to_string(),
                });
            }
            engine.dialer().wake(&campaign_id);
        }
    }
}

/// Asks the carrier, after a while, about a call whose placing it did not confirm.
pub(crate) fn look_up_later(engine: Engine, call_id: String) {
    tokio::spawn(async move {
        tokio::select! {
            () = tokio::time::sleep(UNCONFIRMED_LOOKUP) => {}
            () = engine.stopping() => return,
        }
        if let Ok(c) = engine.store().get_call(&call_id).await
            && c.ended_at.is_none()
        {
            reconcile_call(&engine, &c).await;
        }
    });
}

/// Squares a campaign's unended attempts with their carriers (after a restart).
async fn reconcile(engine: &Engine, campaign_id: &str) {
    let calls = match engine
        .store()
        .campaign_unended_calls(campaign_id, None)
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(%campaign_id, error = %e, "cannot read unfinished attempts");
            return;
        }
    };
    for call in calls {
        // A call bridged right now is plainly alive.
        if engine.live().get(&call.id).is_none() {
            reconcile_call(engine, &call).await;
        }
    }
}

pub(crate) async fn reconcile_call(engine: &Engine, call: &Call) {
    let (found, carrier_id) = match outbound::look_up(engine, call).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(call_id = %call.id, error = %e, "cannot ask the carrier about an attempt; it stays open");
            return;
        }
    };
    tracing::info!(call_id = %call.id, ?found, "attempt reconciled with the carrier");
    let store = engine.store();
    let done = match (found, carrier_id) {
        (Found::Live, Some(id)) => store.set_carrier_call_id(&call.id, &id).await.map(Some),
        (Found::Live, None) => Ok(None),
        (Found::Ended(events), Some(id)) => {
            store
                .apply_call_events_linking(
                    call.carrier,
                    &format!("reconcile/{}", call.id),
                    &id,
                    Some(&call.id),
                    &events,
                )
                .await
        }
        (Found::Ended(_), None) | (Found::NotPlaced, _) => store
            .end_unplaced_call(
                &call.id,
                Outcome::NotPlaced,
                "never placed: Switchboard stopped before the carrier took the call",
            )
            .await
            .map(Some),
        (Found::Unknown(why), _) => store
            .end_unplaced_call(&call.id, Outcome::Unknown, &why)
            .await
            .map(Some),
    };
    match done {
        Ok(Some(c)) => engine.events().publish(Event::CallUpdated { call: c }),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(call_id = %call.id, error = %e, "cannot record a reconciled attempt")
        }
    }
}

/// Spaces dials at the campaign's rate: the next dial is due one interval after the last was
/// due, so a dial that goes late (a sleep's overshoot, a slow claim) is made up by the next
/// ones, up to `CATCH_UP` of lateness; beyond that, and after a pause (capacity, window), the
/// schedule starts again from now rather than banking dials for a burst.
#[derive(Debug, Default)]
struct Pacer {
    next: Option<Instant>,
}

/// The most lateness the pacer makes up (at 200 calls/s, ten dials in a row).
const CATCH_UP: Duration = Duration::from_millis(50);

impl Pacer {
    /// How long until the next dial may go, if it may not go now.
    fn wait(&self, now: Instant) -> Option<Duration> {
        let next = self.next?;
        (next > now).then(|| next - now)
    }

    fn used(&mut self, per_second: f64, now: Instant) {
        let interval = Duration::from_secs_f64(1.0 / per_second);
        let base = match self.next {
            Some(n) if now.saturating_duration_since(n) <= CATCH_UP.max(interval) => n,
            _ => now,
        };
        self.next = Some(base + interval);
    }

    fn reset(&mut self, now: Instant) {
        if self.next.is_some_and(|n| n < now) {
            self.next = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_keeps_its_schedule_through_late_dials_but_banks_no_burst() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut p = Pacer::default();
        assert_eq!(p.wait(t0), None, "the first dial goes at once");
        p.used(100.0, t0);
        assert_eq!(p.wait(ms(4)), Some(Duration::from_millis(6)));
        // Woken 3 ms late: the next is still due on the 10 ms grid, not 10 ms after waking.
        p.used(100.0, ms(13));
        assert_eq!(p.wait(ms(13)), Some(Duration::from_millis(7)));
        // A 30 ms stall is made up: the next dials are due at once until the grid is caught.
        p.used(100.0, ms(50));
        assert_eq!(p.wait(ms(50)), None, "30 ms behind: dial again now");
        // A long stall (a full campaign, a closed window) starts afresh from now.
        p.reset(ms(1_000));
        assert_eq!(p.wait(ms(1_000)), None);
        p.used(100.0, ms(1_000));
        assert_eq!(
            p.wait(ms(1_000)),
            Some(Duration::from_millis(10)),
            "no burst"
        );
        p.used(100.0, ms(1_500));
        assert_eq!(
            p.wait(ms(1_500)),
            Some(Duration::from_millis(10)),
            "490 ms late is beyond catching up"
        );
    }
}
