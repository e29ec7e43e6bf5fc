//! Handing an inbound call to its Retell agent (retell.md §7.2): register the call, then the
//! carrier dials `sip:{retell call id}@sip.retellai.com`. The registration is recorded on the
//! call before the carrier is told, so Retell's webhooks find the record; a repeated delivery
//! of the same call gets the same SIP URI without registering twice.

use super::client::{Registration, sip_uri};
use super::provision::client;
use crate::domain::{Agent, Call, CallStatus, Timestamp};
use crate::engine::Engine;
use crate::events::Event;
use crate::store::StoreError;

/// What the carrier is to do with the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandOff {
    /// Dial this SIP URI.
    Dial(String),
    /// Apologise and hang up: Retell could not take the call, and the record says why.
    Failed,
}

/// Registers `call` with `agent`'s Retell agent.
pub async fn hand_over(engine: &Engine, call: &Call, agent: &Agent) -> Result<HandOff, StoreError> {
    if let Some(registered) = engine.store().retell_call_id(&call.id).await? {
        return Ok(HandOff::Dial(sip_uri(&registered)));
    }
    if call.ended_at.is_some() {
        return Ok(HandOff::Failed);
    }
    let registered = match &agent.retell_agent_id {
        None => Err("the agent has no Retell agent: save the agent again to make one".to_owned()),
        Some(agent_id) => match client(engine).await {
            Err(e) => Err(e.to_string()),
            Ok(retell) => retell
                .register_call(&Registration {
                    agent_id,
                    from: &call.from_number,
                    to: &call.to_number,
                    call_id: &call.id,
                })
                .await
                .map_err(|e| e.to_string()),
        },
    };
    match registered {
        Ok(retell_call_id) => {
            engine
                .store()
                .record_retell_call(&call.id, &retell_call_id)
                .await?;
            Ok(HandOff::Dial(sip_uri(&retell_call_id)))
        }
        Err(why) => {
            tracing::warn!(call_id = %call.id, error = %why, "Retell could not take an inbound call");
            let cause = format!("Retell could not take the call: {why}");
            let ended = engine
                .store()
                .mark_call_ended(&call.id, CallStatus::Failed, Timestamp::now(), Some(&cause))
                .await?;
            engine.events().publish(Event::CallUpdated { call: ended });
            Ok(HandOff::Failed)
        }
    }
}
