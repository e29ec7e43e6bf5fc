//! LiveKit SIP as a carrier (protocols/livekit-sip.md): an outbound call is a LiveKit room
//! holding the callee (a SIP participant dialed through an outbound trunk) and a dispatched
//! agent worker; the room is named for the call (`room`). Credentials (`url`, `api_key`,
//! `api_secret`) come from the engine's secrets on every use, never from the call.

pub mod adapter;
pub mod client;
pub mod room;
pub mod webhook;

use axum::Router;
use axum::routing::post;

use crate::engine::Engine;
use crate::telephony::urls::LIVEKIT_WEBHOOK_PATH;

pub use adapter::LiveKitCarrier;
pub use client::{
    DispatchMetadata, LiveKitCall, LiveKitCallStatus, LiveKitClient, LiveKitDial, LiveKitError,
    LiveKitProject, SipCallStatus,
};
pub use room::{call_id_of_room, participant_identity, room_name};

/// LiveKit's webhook on the public listener.
pub(super) fn routes() -> Router<Engine> {
    Router::new().route(LIVEKIT_WEBHOOK_PATH, post(webhook::webhook))
}
