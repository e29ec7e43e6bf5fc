//! Ending a call: a live call is told through its bridge, which hangs up through the carrier
//! and records why; a call without one (still ringing, or its stream never came) is hung up at
//! the carrier directly.

use crate::domain::Call;
use crate::domain::Timestamp;
use crate::engine::Engine;
use crate::live::{Control, Notice};
use crate::telephony::CarrierError;

/// Ends `call`, with `reason` on its record when its bridge ends it.
pub async fn hang_up(engine: &Engine, call: &Call, reason: &str) -> Result<(), CarrierError> {
    let reason = reason.to_owned();
    tell_or_hang_up(engine, call, Control::HangUp { reason }).await
}

/// Hands `control` to the call's live session; when there is none that takes it, hangs the
/// call up at its carrier.
pub async fn tell_or_hang_up(
    engine: &Engine,
    call: &Call,
    control: Control,
) -> Result<(), CarrierError> {
    if let Some(live) = engine.live_calls().get(&call.id) {
        if live.send(control) {
            return Ok(());
        }
    } else if engine
        .store()
        .held_elsewhere(&call.id, Timestamp::now())
        .await
        .unwrap_or(false)
    {
        // Another live node holds its session: that node ends it (with the reason, or the
        // message first), as this one would.
        let call_id = call.id.clone();
        match control {
            Control::HangUp { reason } => {
                engine.notices().tell(Notice::HangUp { call_id, reason });
                return Ok(());
            }
            Control::LeaveMessage { message } => {
                engine
                    .notices()
                    .tell(Notice::LeaveMessage { call_id, message });
                return Ok(());
            }
            _ => {}
        }
    }
    at_carrier(engine, call).await
}

/// Ends the call at its carrier (Twilio: status completed or canceled; Telnyx: the hangup
/// command; LiveKit: the room deleted). A call the carrier says has already ended counts as
/// done; one without a carrier id yet is `NoCarrierId` (each adapter reads the id it needs).
pub async fn at_carrier(engine: &Engine, call: &Call) -> Result<(), CarrierError> {
    engine.carriers().get(call.carrier)?.hang_up(call).await
}
