//! Routing: which agent takes a call. Inbound calls go to the called number's inbound agent,
//! or are refused with a reason the call record keeps. Carrier-independent: adapters hand in
//! an [`InboundCall`] and turn the [`Decision`] into their own wire format.

pub mod select;

use crate::domain::{
    Agent, Call, CallDirection, CallStatus, Carrier, E164, NewCall, NumberStatus, PhoneNumber,
    RejectReason, Timestamp,
};
use crate::engine::Engine;
use crate::events::Event;
use crate::store::{Conflict, StoreError};

/// A call a carrier offers Switchboard.
#[derive(Debug, Clone)]
pub struct InboundCall {
    pub carrier: Carrier,
    pub carrier_call_id: String,
    pub from: String,
    pub to: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
pub enum Decision {
    /// Answer and bridge the call's media to `agent`.
    Answer {
        call: Call,
        agent: Box<Agent>,
    },
    Reject {
        call: Call,
        reason: RejectReason,
    },
}

/// The checks that need no load count: is there an active number with an active agent?
pub fn eligible_agent<'a>(
    number: Option<&PhoneNumber>,
    agent: Option<&'a Agent>,
) -> Result<&'a Agent, RejectReason> {
    let number = number.ok_or(RejectReason::UnknownNumber)?;
    if number.status == NumberStatus::Disabled {
        return Err(RejectReason::NumberDisabled);
    }
    let agent = agent.ok_or(RejectReason::NoInboundAgent)?;
    if !agent.active {
        return Err(RejectReason::AgentInactive);
    }
    Ok(agent)
}

/// Decides an inbound call and records it. A repeated delivery of the same carrier call gets
/// the decision already made, without a second record or count; the flag says whether this
/// delivery was the first (and so whether the carrier still has to be told).
pub async fn route_inbound(
    engine: &Engine,
    inbound: &InboundCall,
) -> Result<(Decision, bool), StoreError> {
    let store = engine.store();
    let number = match E164::parse(&inbound.to, None) {
        Ok(n) => store.find_phone_number(&n).await?,
        Err(_) => None,
    };
    let agent = match number.as_ref().and_then(|n| n.inbound_agent_id.as_deref()) {
        Some(id) => match store.get_agent(id).await {
            Ok(a) => Some(a),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let new = NewCall {
        direction: CallDirection::Inbound,
        carrier: inbound.carrier,
        carrier_call_id: Some(inbound.carrier_call_id.clone()),
        from_number: inbound.from.clone(),
        to_number: inbound.to.clone(),
        agent_id: agent.as_ref().map(|a| a.id.clone()),
        number_id: number.as_ref().map(|n| n.id.clone()),
        status: CallStatus::Ringing,
        started_at: inbound.at,
    };
    // A repeated delivery is caught by the unique (carrier, carrier call id) index when its
    // record is written, so the first delivery costs no extra look-up.
    let written = match eligible_agent(number.as_ref(), agent.as_ref()) {
        Err(reason) => {
            let name = agent.as_ref().map(|a| a.name.as_str());
            store.insert_rejected_call(&new, name, reason).await
        }
        Ok(a) => match store
            .insert_routed_call(&new, &a.name, a.max_concurrent_calls)
            .await
        {
            Ok(Some(call)) => Ok(call),
            Ok(None) => {
                store
                    .insert_rejected_call(&new, Some(&a.name), RejectReason::AgentBusy)
                    .await
            }
            Err(e) => Err(e),
        },
    };
    let call = match written {
        Ok(call) => call,
        Err(StoreError::Conflict(Conflict::DuplicateCall(_))) => {
            let existing = store
                .find_call_by_carrier_id(inbound.carrier, &inbound.carrier_call_id)
                .await?
                .ok_or_else(|| StoreError::Corrupt("duplicate call vanished".into()))?;
            return Ok((decision_for(engine, existing).await?, false));
        }
        Err(e) => return Err(e),
    };
    engine
        .events()
        .publish(Event::CallCreated { call: call.clone() });
    match (call.reject_reason, agent) {
        (Some(reason), _) => {
            tracing::info!(
                carrier = inbound.carrier.as_str(),
                reason = reason.as_str(),
                "inbound call rejected"
            );
            Ok((Decision::Reject { call, reason }, true))
        }
        (None, Some(agent)) => Ok((
            Decision::Answer {
                call,
                agent: Box::new(agent),
            },
            true,
        )),
        (None, None) => unreachable!("a routed call always has its agent"),
    }
}

async fn decision_for(engine: &Engine, call: Call) -> Result<Decision, StoreError> {
    if let Some(reason) = call.reject_reason {
        return Ok(Decision::Reject { call, reason });
    }
    let agent_id = call.agent_id.clone().unwrap_or_default();
    match engine.store().get_agent(&agent_id).await {
        Ok(agent) => Ok(Decision::Answer {
            call,
            agent: Box::new(agent),
        }),
        // The agent was deleted between two deliveries of the same call.
        Err(StoreError::NotFound { .. }) => Ok(Decision::Reject {
            call,
            reason: RejectReason::NoInboundAgent,
        }),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    fn number(status: NumberStatus) -> PhoneNumber {
        PhoneNumber {
            id: "n".into(),
            number: E164::parse("+14155552671", None).unwrap(),
            carrier: Carrier::Twilio,
            carrier_number_id: None,
            inbound_agent_id: Some("a".into()),
            inbound_agent_name: None,
            outbound_agent_id: None,
            outbound_agent_name: None,
            label: String::new(),
            status,
            calls_received: 0,
            created_at: Timestamp::from_millis(0),
            pointed_url: None,
        }
    }

    fn agent(active: bool) -> Agent {
        Agent {
            id: "a".into(),
            name: "A".into(),
            system_prompt: String::new(),
            greeting: String::new(),
            voice: "marin".into(),
            model: "gpt-realtime".into(),
            context: Default::default(),
            notes: String::new(),
            max_concurrent_calls: 1,
            active,
            backend: Default::default(),
            retell_voice_id: String::new(),
            retell_llm_id: None,
            retell_agent_id: None,
            retell_webhook_url: None,
            tools: Vec::new(),
            builtin_tools: Vec::new(),
            transfer_targets: Vec::new(),
            mcp_servers: Vec::new(),
            record_calls: false,
            recording_source: Default::default(),
            recording_disclosure: String::new(),
            analysis: Default::default(),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn each_missing_piece_has_its_own_reason() {
        let (on, off) = (agent(true), agent(false));
        let active = number(NumberStatus::Active);
        assert_eq!(
            eligible_agent(None, Some(&on)).unwrap_err(),
            RejectReason::UnknownNumber
        );
        assert_eq!(
            eligible_agent(Some(&number(NumberStatus::Disabled)), Some(&on)).unwrap_err(),
            RejectReason::NumberDisabled
        );
        assert_eq!(
            eligible_agent(Some(&active), None).unwrap_err(),
            RejectReason::NoInboundAgent
        );
        assert_eq!(
            eligible_agent(Some(&active), Some(&off)).unwrap_err(),
            RejectReason::AgentInactive
        );
        assert_eq!(eligible_agent(Some(&active), Some(&on)).unwrap().id, "a");
    }
}
