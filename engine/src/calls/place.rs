//! Placing a call: one call asked for through the API (checked, recorded, dialed), and the
//! step every placed call shares, the dialer's included (handed to its carrier, and what came
//! of it recorded).

use crate::domain::{
    Agent, Call, CallDirection, CallStatus, CampaignStatus, E164, Invalid, NewCall, NumberStatus,
    OutboundRequest, Outcome, PhoneNumber, Timestamp,
};
use crate::engine::Engine;
use crate::events::Event;
use crate::store::calls::Placed;
use crate::store::{Conflict, StoreError};
use crate::telephony::{CarrierError, Dial};

/// Why a single call was not placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{name} is on its maximum of {max} calls at once")]
    AgentBusy { name: String, max: u32 },
    #[error(transparent)]
    Carrier(#[from] CarrierError),
}

/// Places one call from a managed number: its outbound agent speaks unless the request names
/// another. The call is recorded (within the agent's limit of calls at once) before its
/// carrier is asked, and returned with the carrier's id.
pub async fn place(engine: &Engine, req: OutboundRequest) -> Result<Call, PlaceError> {
    let store = engine.store();
    let to = E164::parse(&req.to, engine.default_region().as_deref())
        .map_err(|e| Invalid::new("to", e.to_string()))?;
    let number = store.get_phone_number(&req.from_number_id).await?;
    if number.status == NumberStatus::Disabled {
        return Err(Invalid::new("from_number_id", "the number is disabled").into());
    }
    let agent_id = req
        .agent_id
        .clone()
        .or_else(|| number.outbound_agent_id.clone())
        .ok_or_else(|| {
            Invalid::new(
                "agent_id",
                format!(
                    "{} has no outbound agent; name one, or assign the number one",
                    number.number
                ),
            )
        })?;
    let agent = store.get_agent(&agent_id).await?;
    if !agent.active {
        return Err(Invalid::new("agent_id", format!("{} is switched off", agent.name)).into());
    }
    agent.check_bridged("agent_id")?;
    if let Some(policy) = &req.machine_detection {
        policy.validate("machine_detection.message")?;
    }
    let new = NewCall {
        direction: CallDirection::Outbound,
        carrier: number.carrier,
        carrier_call_id: None,
        from_number: number.number.to_string(),
        to_number: to.to_string(),
        agent_id: Some(agent.id.clone()),
        number_id: Some(number.id.clone()),
        status: CallStatus::Queued,
        started_at: Timestamp::now(),
    };
    // The global do-not-call list is read in the write that records the call: an entry
    // committed before it is never dialed.
    let mut call = match store
        .insert_placed_call(&new, &agent.name, agent.max_concurrent_calls)
        .await?
    {
        Placed::Call(call) => *call,
        Placed::AgentFull => {
            return Err(PlaceError::AgentBusy {
                name: agent.name,
                max: agent.max_concurrent_calls,
            });
        }
        Placed::Listed(entry) => {
            tracing::info!(to = %entry.number, "a single call refused: the number is on the do-not-call list");
            return Err(StoreError::from(Conflict::DoNotCall(format!(
                "not called: {}",
                entry.reason()
            )))
            .into());
        }
    };
    if let Some(context) = req.context.filter(|c| !c.is_empty()) {
        call = store.set_call_context(&call.id, context).await?;
    }
    let detect_machine = req.machine_detection.is_some();
    if let Some(policy) = &req.machine_detection {
        store.set_call_machine_policy(&call.id, policy).await?;
    }
    engine
        .events()
        .publish(Event::CallCreated { call: call.clone() });
    Ok(dial(engine, &call, &agent, &number, None, detect_machine).await?)
}

/// Hands a recorded call (queued) to its carrier and records what came of it: the carrier's
/// id on success; for a dial the carrier did not confirm, a look-up later (it may ring yet);
/// otherwise the call ends with the reason, and its lead (if any) is settled as not placed
/// when the setup is at fault (the lead keeps its attempt) or failed otherwise.
pub async fn dial(
    engine: &Engine,
    call: &Call,
    agent: &Agent,
    number: &PhoneNumber,
    campaign_prompt: Option<&str>,
    detect_machine: bool,
) -> Result<Call, CarrierError> {
    let placed = async {
        let public = engine.public().ok_or(CarrierError::NoPublicUrl)?;
        let request = Dial {
            call,
            agent,
            number,
            campaign_prompt,
            public: &public,
            detect_machine,
        };
        engine.carriers().get(call.carrier)?.place(&request).await
    };
    let carrier_id = match placed.await {
        Ok(id) => id,
        Err(e) => return Err(not_placed(engine, call, e).await),
    };
    match engine
        .store()
        .set_carrier_call_id(&call.id, &carrier_id)
        .await
    {
        Ok(c) => {
            engine
                .events()
                .publish(Event::CallUpdated { call: c.clone() });
            Ok(c)
        }
        Err(e) => {
            // The carrier has the call; its reports carry our id and link it.
            tracing::error!(call_id = %call.id, error = %e, "cannot record the carrier's call id");
            Ok(call.clone())
        }
    }
}

/// Records what a failed dial means for its call, and gives the error back.
async fn not_placed(engine: &Engine, call: &Call, e: CarrierError) -> CarrierError {
    if e.maybe_placed() {
        tracing::warn!(call_id = %call.id, error = %e, "dial not confirmed; will ask the carrier");
        super::reconcile::look_up_later(engine.clone(), call.id.clone());
        return e;
    }
    tracing::warn!(call_id = %call.id, error = %e, "the call could not be placed");
    // A campaign's dial that fails for its setup (credentials, configuration) would fail
    // every lead alike: the campaign pauses with the reason, before this call's end frees
    // the place it holds, so its dialer never takes the next lead in between.
    if e.is_setup()
        && let Some(campaign_id) = &call.campaign_id
        && let Ok(c) = engine
            .store()
            .set_campaign_status(campaign_id, CampaignStatus::Running, CampaignStatus::Paused)
            .await
    {
        engine.events().publish(Event::CampaignPaused {
            campaign: c,
            reason: e.to_string(),
        });
    }
    let outcome = if e.is_setup() {
        Outcome::NotPlaced
    } else {
        Outcome::Failed
    };
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
    e
}
