//! Carrier adapters, one folder each. An adapter turns its carrier's webhooks into the
//! engine's own call events (after verifying the carrier's signature), its media stream into
//! a `MediaSession` for the bridge, and the engine's requests (`CarrierApi`: place, hang up,
//! look up) into its carrier's wire format: TwiML and REST for Twilio, Call Control commands
//! for Telnyx, Twirp calls for LiveKit SIP. A carrier's wire format appears nowhere else.
//!
//! This file is the folder's index: it builds the adapters and mounts their routes; the
//! adapters use `webhook` and `stream` (what they share), never this file.

pub mod livekit;
pub mod local;
pub(crate) mod stream;
pub mod telnyx;
pub mod twilio;
pub(crate) mod webhook;

use std::sync::Arc;

use axum::Router;

use crate::config::Config;
use crate::engine::Engine;
use crate::secrets::Secrets;
use crate::settings::Settings;
use crate::store::Store;
use crate::telephony::{CarrierApi, Carriers};

pub use webhook::WebhookError;

/// Every carrier's adapter, reaching its API where `config` says, with credentials from
/// `secrets` read at each request.
pub fn adapters(
    config: &Config,
    secrets: &Secrets,
    settings: &Settings,
    store: &Store,
) -> Carriers {
    let adapters: Vec<Arc<dyn CarrierApi>> = vec![
        Arc::new(twilio::TwilioCarrier::new(
            &config.twilio_api_url,
            &config.twilio_numbers_url,
            secrets.clone(),
            store.clone(),
        )),
        Arc::new(telnyx::TelnyxCarrier::new(
            &config.telnyx_api_url,
            secrets.clone(),
            settings.clone(),
        )),
        Arc::new(livekit::LiveKitCarrier::new(secrets.clone())),
        Arc::new(local::LocalCarrier),
    ];
    Carriers::new(adapters)
}

/// The carriers' webhooks and media streams, for the public listener.
pub fn routes(config: &Config) -> Router<Engine> {
    Router::new()
        .merge(twilio::routes())
        .merge(telnyx::routes(config))
        .merge(livekit::routes())
}
