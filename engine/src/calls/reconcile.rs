//! Squaring a call with its carrier when Switchboard lost sight of it: after a restart, when
//! a dial was not confirmed, or when its reports are overdue. What the carrier says is applied
//! like any report; a call it never placed ends without using its lead's attempt.

use std::time::Duration;

use crate::domain::{Call, Outcome};
use crate::engine::Engine;
use crate::events::Event;
use crate::telephony::Found;

/// How soon a dial the carrier did not confirm is looked up.
const UNCONFIRMED_LOOKUP: Duration = Duration::from_secs(30);

/// Asks the carrier, after a while, about a call whose placing it did not confirm.
pub fn look_up_later(engine: Engine, call_id: String) {
    tokio::spawn(async move {
        tokio::select! {
            () = tokio::time::sleep(UNCONFIRMED_LOOKUP) => {}
            () = engine.stopping() => return,
        }
        if let Ok(c) = engine.store().get_call(&call_id).await
            && c.ended_at.is_none()
        {
            reconcile(&engine, &c).await;
        }
    });
}

/// Asks `call`'s carrier what became of it and records the answer. A carrier that cannot be
/// asked leaves the call open (logged), to be asked again later.
pub async fn reconcile(engine: &Engine, call: &Call) {
    let looked_up = match engine.carriers().get(call.carrier) {
        Ok(carrier) => carrier.look_up(call).await,
        Err(e) => Err(e),
    };
    let (found, carrier_id) = match looked_up {
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
