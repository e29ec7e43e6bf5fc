//! What a carrier reports about a call, applied once per delivery (repeats and out-of-order
//! deliveries leave one correct record), and what a report sets off: a campaign call's end
//! frees a slot in its campaign, and a machine answering applies the campaign's voicemail
//! policy (or a single call's own, when it asked for detection).

use std::time::{Duration, Instant};

use crate::domain::call::is_machine;
use crate::domain::campaign::VoicemailPolicy;
use crate::domain::{Call, CallEvent, Carrier};
use crate::engine::Engine;
use crate::events::Event;
use crate::live::Control;
use crate::store::StoreError;

/// How long a machine-answered call waits for its media bridge before the message is given
/// up and the call hung up.
const BRIDGE_GRACE: Duration = Duration::from_secs(5);

/// Applies one delivery's `events` once (`event_key` names the delivery) to the call the
/// carrier knows as `carrier_call_id`, or, for a call Switchboard placed whose carrier id is
/// not on record yet, to `our_call_id`; tells live views when they changed the call.
pub async fn apply(
    engine: &Engine,
    carrier: Carrier,
    event_key: &str,
    carrier_call_id: &str,
    our_call_id: Option<&str>,
    events: &[CallEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    match engine
        .store()
        .apply_call_events_linking(carrier, event_key, carrier_call_id, our_call_id, events)
        .await?
    {
        Some(call) => {
            after_update(engine, &call, events);
            engine.events().publish(Event::CallUpdated { call })
        }
        None => tracing::debug!(
            carrier = carrier.as_str(),
            event_key,
            "event already applied or call unknown"
        ),
    }
    Ok(())
}

/// A campaign call's end frees a slot: its campaign's task looks again. A machine answering
/// applies the campaign's voicemail policy, or a single call's own.
fn after_update(engine: &Engine, call: &Call, events: &[CallEvent]) {
    if call.ended_at.is_some() {
        if let Some(campaign_id) = &call.campaign_id {
            engine.running_campaigns().wake(campaign_id);
        }
        return;
    }
    let machine = events
        .iter()
        .any(|e| matches!(e, CallEvent::MachineDetected { result } if is_machine(result)));
    if machine {
        let (engine, call) = (engine.clone(), call.clone());
        tokio::spawn(async move { on_machine(&engine, &call).await });
    }
}

async fn on_machine(engine: &Engine, call: &Call) {
    let policy = match &call.campaign_id {
        Some(campaign_id) => match engine.store().get_campaign(campaign_id).await {
            Ok(c) => c.settings.voicemail,
            Err(e) => {
                tracing::warn!(call_id = %call.id, error = %e, "no campaign for a machine-answered call");
                return;
            }
        },
        None => match engine.store().call_machine_policy(&call.id).await {
            Ok(Some(p)) => p,
            // No detection was asked for: nothing to apply.
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(call_id = %call.id, error = %e, "cannot read a call's machine policy");
                return;
            }
        },
    };
    let mut live = engine.live_calls().get(&call.id);
    // Its session may run on another node (which waits for its bridge as below).
    let elsewhere = live.is_none()
        && engine
            .store()
            .held_elsewhere(&call.id, crate::domain::Timestamp::now())
            .await
            .unwrap_or(false);
    if live.is_none() && !elsewhere && matches!(policy, VoicemailPolicy::LeaveMessage { .. }) {
        // Detection can beat the media stream: give the bridge a moment to come up, since
        // only it can speak the message.
        let until = Instant::now() + BRIDGE_GRACE;
        while live.is_none() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
            live = engine.live_calls().get(&call.id);
        }
    }
    let control = match (&policy, live.is_some() || elsewhere) {
        (VoicemailPolicy::LeaveMessage { message }, true) => Control::LeaveMessage {
            message: message.clone(),
        },
        _ => Control::HangUp {
            reason: "an answering machine took the call".into(),
        },
    };
    if let Err(e) = super::hang_up::tell_or_hang_up(engine, call, control).await {
        tracing::warn!(call_id = %call.id, error = %e, "could not hang up on a machine");
    }
}
