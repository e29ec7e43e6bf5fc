//! An operator's command on a campaign (start, pause, resume, stop): checked against its
//! status and, to run, against what dialing needs; its dialer task started or told.

use crate::domain::{Campaign, CampaignAction, CampaignStatus, Invalid};
use crate::engine::Engine;
use crate::events::Event;
use crate::store::{Conflict, StoreError};

/// Applies `action` to campaign `id`. Refused (changing nothing) when the campaign's status
/// does not allow it, or when it would run without agents, numbers or pending leads.
pub async fn act(
    engine: &Engine,
    id: &str,
    action: CampaignAction,
) -> Result<Campaign, StoreError> {
    let current = engine.store().get_campaign(id).await?;
    let to = action
        .apply(current.status)
        .map_err(|e| Conflict::CampaignStatus(e.to_string()))?;
    if to == CampaignStatus::Running {
        ready_to_run(engine, &current).await?;
    }
    let campaign = engine
        .store()
        .set_campaign_status(id, current.status, to)
        .await?;
    if to == CampaignStatus::Running {
        super::run(engine, id);
    } else {
        engine.running_campaigns().changed(id);
    }
    engine.events().publish(Event::CampaignUpdated {
        campaign: campaign.clone(),
    });
    Ok(campaign)
}

/// A campaign starts only with what it needs to dial: agents, numbers, leads.
async fn ready_to_run(engine: &Engine, c: &Campaign) -> Result<(), StoreError> {
    if c.agents.is_empty() {
        return Err(Invalid::new("agents", "add at least one agent to the campaign's pool").into());
    }
    if c.number_ids.is_empty() {
        return Err(Invalid::new("number_ids", "link at least one number to call from").into());
    }
    let counts = engine.store().lead_counts(&c.id).await?;
    if counts.pending == 0 {
        return Err(Invalid::new("leads", "the campaign has no leads waiting to be called").into());
    }
    Ok(())
}
