//! Twilio: the voice webhook (answered with TwiML), the status, answering-machine, media
//! stream and recording callbacks (all signed with `X-Twilio-Signature`, protocols/twilio.md §2-§5), Media
//! Streams (§6), and the REST API behind the engine's `CarrierApi` (§7).

pub mod adapter;
pub mod client;
pub mod media_stream;
pub mod signature;
pub mod twiml;
pub(crate) mod webhooks;

use axum::Router;
use axum::routing::{get, post};

use crate::engine::Engine;
use crate::telephony::urls::{
    TWILIO_AMD_PATH, TWILIO_MEDIA_PATH, TWILIO_RECORDING_PATH, TWILIO_STATUS_PATH,
    TWILIO_STREAM_STATUS_PATH, TWILIO_TRANSFER_PATH, TWILIO_TRANSFER_READY_PATH, TWILIO_VOICE_PATH,
};

pub use adapter::TwilioCarrier;
use webhooks::{Amd, Recording, Status, StreamStatus, callback};

/// Twilio's webhooks and media stream on the public listener.
pub(super) fn routes() -> Router<Engine> {
    Router::new()
        .route(TWILIO_VOICE_PATH, post(webhooks::voice))
        .route(TWILIO_STATUS_PATH, post(callback::<Status>))
        .route(TWILIO_STREAM_STATUS_PATH, post(callback::<StreamStatus>))
        .route(TWILIO_AMD_PATH, post(callback::<Amd>))
        .route(TWILIO_RECORDING_PATH, post(callback::<Recording>))
        .route(TWILIO_TRANSFER_PATH, post(webhooks::transfer_status))
        .route(TWILIO_TRANSFER_READY_PATH, post(webhooks::transfer_ready))
        .route(TWILIO_MEDIA_PATH, get(media_stream::stream))
}
