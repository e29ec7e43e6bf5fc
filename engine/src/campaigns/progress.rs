//! Campaign progress: leads per status, calls under way, the dial rate and an estimate of the
//! time left. Published on the event bus at most twice a second while a campaign runs, and
//! returned with the campaign by the API.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Campaign;
use crate::engine::Engine;
use crate::events::Event;
use crate::store::StoreError;
use crate::store::campaigns::LeadCounts;

const EVERY: Duration = Duration::from_millis(500);
/// The dial rate is measured over this much recent time.
const RATE_WINDOW: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CampaignProgress {
    pub campaign_id: String,
    pub leads: LeadCounts,
    /// Calls under way now.
    pub active_calls: i64,
    /// Dials per second over the last half minute, while the campaign runs.
    pub dial_rate: Option<f64>,
    /// Seconds until every pending lead has been tried once more, at the current pace (or
    /// the configured one); `null` when nothing is pending.
    pub eta_secs: Option<u64>,
}

/// Reads a campaign's progress. `rate`: dials per second measured by its running task.
pub async fn read(
    engine: &Engine,
    campaign: &Campaign,
    rate: Option<f64>,
) -> Result<CampaignProgress, StoreError> {
    let leads = engine.store().lead_counts(&campaign.id).await?;
    let active_calls = engine.store().campaign_live_calls(&campaign.id).await?;
    let pace = rate
        .filter(|r| *r > 0.0)
        .unwrap_or(campaign.settings.calls_per_second);
    let eta_secs = (leads.pending > 0).then(|| (leads.pending as f64 / pace).ceil() as u64);
    Ok(CampaignProgress {
        campaign_id: campaign.id.clone(),
        leads,
        active_calls,
        dial_rate: rate,
        eta_secs,
    })
}

/// A running campaign's progress reports.
pub(super) struct Reporter {
    campaign_id: String,
    dials: VecDeque<Instant>,
    last: Option<Instant>,
    changed: bool,
}

impl Reporter {
    pub(super) fn new(campaign_id: String) -> Self {
        Self {
            campaign_id,
            dials: VecDeque::new(),
            last: None,
            changed: true,
        }
    }

    pub(super) fn dialed(&mut self) {
        let now = Instant::now();
        self.dials.push_back(now);
        while self
            .dials
            .front()
            .is_some_and(|t| now.duration_since(*t) > RATE_WINDOW)
        {
            self.dials.pop_front();
        }
        self.changed = true;
    }

    fn rate(&self) -> Option<f64> {
        let first = self.dials.front()?;
        let span = first.elapsed().max(Duration::from_secs(1));
        Some(self.dials.len() as f64 / span.as_secs_f64())
    }

    /// Publishes if due: something changed, and the last report is old enough.
    pub(super) async fn maybe_publish(&mut self, engine: &Engine) {
        if self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        if !self.changed && self.last.is_some_and(|t| t.elapsed() < RATE_WINDOW) {
            return;
        }
        self.publish(engine).await;
    }

    pub(super) async fn publish(&mut self, engine: &Engine) {
        self.last = Some(Instant::now());
        self.changed = false;
        let Ok(campaign) = engine.store().get_campaign(&self.campaign_id).await else {
            return;
        };
        match read(engine, &campaign, self.rate()).await {
            Ok(progress) => engine
                .events()
                .publish(Event::CampaignProgress { progress }),
            Err(e) => {
                tracing::warn!(campaign_id = %self.campaign_id, error = %e, "no progress report")
            }
        }
    }
}
