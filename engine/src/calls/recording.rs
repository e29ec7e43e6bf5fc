//! Asking a call's carrier to record it, for an agent whose recordings are the carrier's. The
//! file comes later, announced by the carrier (`recordings::fetch` keeps it).

use crate::domain::{Call, Carrier};
use crate::engine::Engine;

/// Asks `call`'s carrier, in the background, to record the answered call on two channels. A
/// failure is logged and the call goes on unrecorded, as one Switchboard cannot record does.
pub fn start_at_carrier(engine: &Engine, call: &Call) {
    // A test call has no carrier to record it.
    if call.carrier == Carrier::Local {
        return;
    }
    let (engine, call) = (engine.clone(), call.clone());
    tokio::spawn(async move {
        let Some(public) = engine.public() else {
            tracing::error!(call_id = %call.id, "no public URL for the carrier to report its recording to; not recording");
            return;
        };
        let asked = match engine.carriers().get(call.carrier) {
            Ok(carrier) => carrier.start_recording(&call, &public).await,
            Err(e) => Err(e),
        };
        match asked {
            Ok(()) => tracing::info!(call_id = %call.id, "the carrier records the call"),
            Err(e) => {
                tracing::error!(call_id = %call.id, error = %e, "the carrier could not record the call")
            }
        }
    });
}
