//! Where a campaign stands: leads per status, calls under way, the dial rate and an estimate
//! of the time left. Published while a campaign runs and returned with it by the API.

use serde::Serialize;
use utoipa::ToSchema;

use super::campaign::Campaign;

/// Leads per status, and what is under way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct LeadCounts {
    pub total: i64,
    pub pending: i64,
    pub dialing: i64,
    pub done: i64,
    pub failed: i64,
    /// Leads settled without a call because their number is on a do-not-call list (global or
    /// the campaign's); counted among `failed` too.
    pub do_not_call: i64,
}

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
    /// The estimated cost of the campaign's ended calls so far, USD.
    pub cost_usd: f64,
}

impl CampaignProgress {
    /// `campaign`'s progress from its lead counts and live calls; `rate` is the dial rate its
    /// running task measured, if it runs.
    pub fn new(
        campaign: &Campaign,
        leads: LeadCounts,
        active_calls: i64,
        rate: Option<f64>,
    ) -> Self {
        let pace = rate
            .filter(|r| *r > 0.0)
            .unwrap_or(campaign.settings.calls_per_second);
        let eta_secs = (leads.pending > 0).then(|| (leads.pending as f64 / pace).ceil() as u64);
        Self {
            campaign_id: campaign.id.clone(),
            leads,
            active_calls,
            dial_rate: rate,
            eta_secs,
            cost_usd: 0.0,
        }
    }
}
