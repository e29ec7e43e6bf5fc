//! LiveKit SIP as a carrier (protocols/livekit-sip.md): an outbound call is a LiveKit room
//! holding the callee (a SIP participant dialed through an outbound trunk) and a dispatched
//! agent worker. Invariant: the room's name is the call record's carrier call id, so webhooks
//! and status look-ups find the call by room alone. Credentials (`url`, `api_key`,
//! `api_secret`) come from the engine's secrets on every use, never from the call.

pub mod client;
pub mod webhook;

pub use client::{
    DispatchMetadata, LiveKitCall, LiveKitCallStatus, LiveKitClient, LiveKitDial, LiveKitError,
    LiveKitProject, SipCallStatus,
};
pub use webhook::webhook;

use crate::engine::Engine;
use crate::secrets::Provider;

/// The room for Switchboard's call `call_id`: what the call record keeps as its carrier
/// call id.
pub fn room_name(call_id: &str) -> String {
    format!("call-{call_id}")
}

/// The call a room was named for (`room_name`'s inverse), if it is one of that shape.
pub fn call_id_of_room(room: &str) -> Option<&str> {
    room.strip_prefix("call-").filter(|id| !id.is_empty())
}

/// The callee's identity in the room of call `call_id`.
pub fn participant_identity(call_id: &str) -> String {
    format!("pstn-{call_id}")
}

async fn project(engine: &Engine) -> Result<LiveKitProject, LiveKitError> {
    let credentials = engine.secrets().credentials(Provider::Livekit).await?;
    LiveKitProject::from_credentials(&credentials)
}

/// Places an outbound call through the engine's LiveKit project: the agent is dispatched into
/// `d.room`, then the callee is dialed into it. Returns once LiveKit has accepted the dial
/// (the phone is ringing); the answer and the end arrive as webhooks. The caller writes the
/// call record (carrier `livekit`, carrier call id `d.room`) before calling this.
pub async fn dial(engine: &Engine, d: &LiveKitDial) -> Result<LiveKitCall, LiveKitError> {
    engine.livekit().dial(&project(engine).await?, d).await
}

/// Ends the call in `room` (deletes the room). A room already gone is not an error.
pub async fn hang_up(engine: &Engine, room: &str) -> Result<(), LiveKitError> {
    engine
        .livekit()
        .hang_up(&project(engine).await?, room)
        .await
}

/// The SIP participant of `room` as LiveKit sees it now, `None` when the room or the
/// participant is gone: for reconciling live call records after a restart.
pub async fn call_status(
    engine: &Engine,
    room: &str,
) -> Result<Option<LiveKitCallStatus>, LiveKitError> {
    engine
        .livekit()
        .call_status(&project(engine).await?, room)
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_room_names_its_call() {
        assert_eq!(
            super::call_id_of_room(&super::room_name("c_9f1")),
            Some("c_9f1")
        );
        assert_eq!(super::call_id_of_room("someone-elses-room"), None);
        assert_eq!(super::call_id_of_room("call-"), None);
    }
}
