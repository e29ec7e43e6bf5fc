//! Campaign progress (`domain::CampaignProgress`) read from the store, and a running
//! campaign's reports of it: published on the event bus at most twice a second.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::domain::{Campaign, CampaignProgress};
use crate::engine::Engine;
use crate::events::Event;
use crate::store::StoreError;

const EVERY: Duration = Duration::from_millis(500);
/// The dial rate is measured over this much recent time.
const RATE_WINDOW: Duration = Duration::from_secs(30);

/// Reads a campaign's progress. `rate`: dials per second measured by its running task.
pub async fn read(
    engine: &Engine,
    campaign: &Campaign,
    rate: Option<f64>,
) -> Result<CampaignProgress, StoreError> {
    let leads = engine.store().lead_counts(&campaign.id).await?;
    let active_calls = engine.store().campaign_live_calls(&campaign.id).await?;
    let mut progress = CampaignProgress::new(campaign, leads, active_calls, rate);
    progress.cost_usd = engine.store().campaign_cost(&campaign.id).await?;
    Ok(progress)
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
