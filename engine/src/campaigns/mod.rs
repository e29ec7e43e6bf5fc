//! The campaign dialer: one task per running campaign works through its leads within the
//! campaign's limits: calls at once (counted in the database, so a restart cannot forget a
//! call), calls per second (a pacer), local calling hours (the campaign's window within the
//! calling-hours floor, read in each lead's own zones, from an injectable clock), and each
//! agent's own maximum (inbound calls included).
//!
//! Local hours are judged per zone key (the distinct sets of zones the pending leads are in,
//! a handful however many leads), and the claim takes only leads of the keys open now: a lead
//! in Los Angeles waits while New York's are dialed, and never holds them up.
//!
//! Crash safety: a lead is claimed and its attempt's call recorded in one transaction
//! (`Store::claim_lead`) before the carrier is asked to dial, and a call's end settles its
//! lead in the transaction that records the end. At start-up, attempts that had not ended
//! are squared with the carrier before dialing resumes (`reconcile`), so no lead is dialed
//! twice and none is lost.

pub mod control;
pub mod do_not_call;
pub mod import;
pub mod progress;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::calls;
use crate::domain::{
    Agent, Call, Campaign, CampaignStatus, LeadHours, NumberStatus, PhoneNumber, Timestamp,
};
use crate::engine::Engine;
use crate::events::Event;
use crate::live::CampaignRun;
use crate::routing::select::{self, Candidate};
use crate::store::StoreError;
use crate::store::leads::{Claim, NoClaim};

/// The longest the dialer sleeps without looking again: a settings change, a moved clock or
/// a lead coming due is noticed within this.
const RECHECK: Duration = Duration::from_secs(1);
/// How long the dialer works from one reading of the campaign, its pool and numbers.
const REFRESH: Duration = Duration::from_millis(500);
/// A campaign call neither bridged nor ended this long after it was placed (by the campaign
/// clock) is asked about at its carrier: its reports may have been lost, and a call counted
/// live forever would hold a slot forever.
const OVERDUE_AFTER: Duration = Duration::from_secs(120);
/// How often overdue calls are looked for, and the least time between two look-ups of one.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
const LOOK_UP_AGAIN_AFTER: Duration = Duration::from_secs(60);
/// How long the zone keys of pending leads are used before they are read again (an import or
/// a change reads them at once).
const ZONES_REFRESH: Duration = Duration::from_secs(5);

/// Starts the campaign's task unless it runs already (then it is told the campaign changed,
/// so it reads it again).
pub fn run(engine: &Engine, campaign_id: &str) {
    // Only the node leading the campaigns dials; the others leave a started campaign to it,
    // which finds it within a second (`cluster`).
    if !engine.leads_campaigns() {
        return;
    }
    let Some(registered) = engine.running_campaigns().register(campaign_id) else {
        return;
    };
    let engine = engine.clone();
    tokio::spawn(async move {
        let id = registered.campaign_id().to_owned();
        CampaignTask::new(engine.clone(), registered).run().await;
        // Resumed while the task was on its way out (its entry is gone now): it must not stay
        // unattended.
        let resumed = engine
            .store()
            .get_campaign(&id)
            .await
            .is_ok_and(|c| c.status == CampaignStatus::Running);
        if resumed && !engine.is_stopping() {
            run(&engine, &id);
        }
    });
}

/// At start-up: every campaign that was running goes on.
pub async fn resume_all(engine: &Engine) {
    match engine.store().running_campaign_ids().await {
        Ok(ids) => {
            for id in ids {
                tracing::info!(campaign_id = %id, "resuming campaign");
                run(engine, &id);
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read campaigns to resume"),
    }
}

/// Every running campaign without a task here gets one (the leader's round: campaigns
/// started or resumed through another node).
pub async fn resume_all_quietly(engine: &Engine) {
    if let Ok(ids) = engine.store().running_campaign_ids().await {
        for id in ids {
            if !engine.running_campaigns().is_running(&id) {
                run(engine, &id);
            }
        }
    }
}

/// One running campaign's dialing loop.
struct CampaignTask {
    engine: Engine,
    id: String,
    /// The task's place in the engine's registry of running campaigns, and its signal.
    run: CampaignRun,
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
    /// The zone keys of the campaign's pending leads, and when they were read.
    zone_keys: Vec<String>,
    zones_read_at: Option<Instant>,
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

/// What an attempt is placed with: the view it was claimed from, and which agent and number
/// of it were chosen.
struct DialWith {
    campaign: Arc<Campaign>,
    agents: Arc<[(Agent, bool)]>,
    numbers: Arc<[PhoneNumber]>,
    agent: usize,
    number: usize,
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
    fn new(engine: Engine, run: CampaignRun) -> Self {
        let id = run.campaign_id().to_owned();
        Self {
            progress: progress::Reporter::new(id.clone()),
            engine,
            id,
            run,
            view: None,
            agent_turn: 0,
            number_turn: 0,
            pacer: Pacer::default(),
            swept_at: Instant::now(),
            asked: HashMap::new(),
            zone_keys: Vec::new(),
            zones_read_at: None,
        }
    }

    async fn run(mut self) {
        reconcile(&self.engine, &self.id).await;
        // Leads stored before leads had zones get theirs before any is dialed.
        match self.engine.store().fill_lead_zones(&self.id).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(campaign_id = %self.id, leads = n, "lead time zones inferred"),
            Err(e) => {
                tracing::warn!(campaign_id = %self.id, error = %e, "cannot infer lead time zones")
            }
        }
        loop {
            // Another node leads the campaigns now: it carries this one on.
            if !self.engine.leads_campaigns() {
                break;
            }
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
                    () = self.run.signal().woken() => {}
                    () = self.engine.stopping() => break,
                }
                // Capacity or time passed: no burst to catch up with.
                self.pacer.reset(Instant::now());
            }
        }
        self.progress.publish(&self.engine).await;
    }

    async fn view(&mut self) -> Result<&View, StoreError> {
        let changed = self.run.signal().take_changed();
        let stale = changed
            || self
                .view
                .as_ref()
                .is_none_or(|v| v.read_at.elapsed() >= REFRESH);
        if changed {
            self.zones_read_at = None;
        }
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
        let now = self.engine.now();
        let (campaign, agents, numbers) = {
            let v = self.view().await?;
            (v.campaign.clone(), v.agents.clone(), v.numbers.clone())
        };
        if campaign.status != CampaignStatus::Running {
            return Ok(Step::Exit);
        }
        if self
            .zones_read_at
            .is_none_or(|t| t.elapsed() >= ZONES_REFRESH)
        {
            self.zone_keys = self.engine.store().pending_lead_zones(&self.id).await?;
            self.zones_read_at = Some(Instant::now());
        }
        // Local hours, judged once per zone key at the `now` the claim is made with.
        let hours = LeadHours::new(
            &self.engine.settings().calling_hours(),
            campaign.settings.window.as_ref(),
        );
        let open_zones: Vec<String> = self
            .zone_keys
            .iter()
            .filter(|k| hours.open(k, now))
            .cloned()
            .collect();
        if open_zones.is_empty() && !self.zone_keys.is_empty() {
            let opens = self
                .zone_keys
                .iter()
                .filter_map(|k| hours.check(k, now).err().flatten())
                .min();
            let ms = opens.map_or(RECHECK.as_millis() as u64, |o| {
                (o.as_millis() - now.as_millis()).max(0) as u64
            });
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
                // An agent moved onto Retell since it joined the pool takes no outbound calls.
                active: a.active && a.is_bridged(),
                live: loads.get(&a.id).copied().unwrap_or(0),
                max: a.max_concurrent_calls,
            })
            .collect();
        let mut pick = |n: usize| rand::random_range(0..n);
        // The round-robin position before this choice: a turn whose claim is refused (the
        // campaign full, nothing due yet) is given back, or that agent would be skipped.
        let turn = self.agent_turn;
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
        let number_index = self.number_turn % numbers.len();
        let number = &numbers[number_index];
        let claim = Claim {
            campaign_id: campaign.id.clone(),
            agent_id: agent.id.clone(),
            agent_max: agent.max_concurrent_calls,
            campaign_max: campaign.settings.max_concurrent_calls,
            number_id: number.id.clone(),
            from: number.number.clone(),
            carrier: number.carrier,
            now,
            open_zones,
        };
        let claimed = self.engine.store().claim_lead(claim).await;
        if !matches!(claimed, Ok(Ok(_))) {
            self.agent_turn = turn;
        }
        match claimed? {
            Ok(claimed) => {
                self.number_turn = self.number_turn.wrapping_add(1);
                self.pacer
                    .used(campaign.settings.calls_per_second, Instant::now());
                self.progress.dialed();
                self.engine.events().publish(Event::CallCreated {
                    call: claimed.call.clone(),
                });
                let engine = self.engine.clone();
                let dial = DialWith {
                    campaign: campaign.clone(),
                    agents: agents.clone(),
                    numbers: numbers.clone(),
                    agent: i,
                    number: number_index,
                };
                tokio::spawn(async move { place_attempt(engine, claimed.call, dial).await });
                Ok(Step::Next)
            }
            Err(NoClaim::CampaignFull | NoClaim::AgentFull) => Ok(Step::Wait(RECHECK)),
            // Paused or stopped meanwhile: read the campaign again, which ends this task.
            Err(NoClaim::NotRunning) => {
                self.view = None;
                Ok(Step::Next)
            }
            Err(NoClaim::OutsideHours) => {
                // Pending leads of keys not read yet may be among them.
                self.zones_read_at = None;
                Ok(Step::Wait(RECHECK))
            }
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
        let now = self.engine.now();
        let before = Timestamp::from_millis(now.as_millis() - OVERDUE_AFTER.as_millis() as i64);
        let calls = match self
            .engine
            .store()
            .campaign_unended_calls(&self.id, Some(before), Timestamp::now())
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
            if recently || self.engine.live_calls().get(&call.id).is_some() {
                continue;
            }
            self.asked.insert(call.id.clone(), Instant::now());
            tracing::info!(call_id = %call.id, "no end reported in time; asking the carrier");
            calls::reconcile::reconcile(&self.engine, &call).await;
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

/// Hands a claimed attempt to its carrier (see `calls::place::dial`, which also pauses the
/// campaign when its setup fails: every lead would fail alike). Whatever became of it, the
/// dialer looks again at once.
async fn place_attempt(engine: Engine, call: Call, dial: DialWith) {
    let campaign_id = call.campaign_id.clone().unwrap_or_default();
    let (agent, number) = (&dial.agents[dial.agent].0, &dial.numbers[dial.number]);
    let prompt = Some(dial.campaign.prompt.as_str()).filter(|p| !p.trim().is_empty());
    let Err(e) = calls::place::dial(&engine, &call, agent, number, prompt, true).await else {
        return;
    };
    if e.maybe_placed() {
        return;
    }
    engine.running_campaigns().wake(&campaign_id);
}

/// Squares a campaign's unended attempts with their carriers (after a restart).
async fn reconcile(engine: &Engine, campaign_id: &str) {
    let calls = match engine
        .store()
        .campaign_unended_calls(campaign_id, None, Timestamp::now())
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
        if engine.live_calls().get(&call.id).is_none() {
            calls::reconcile::reconcile(engine, &call).await;
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
