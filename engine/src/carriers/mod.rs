//! Carrier adapters. Each turns its carrier's webhooks into the engine's own call events
//! (after verifying the carrier's signature) and the engine's decisions into its carrier's
//! wire format: TwiML for Twilio, Call Control commands for Telnyx, Twirp calls for LiveKit
//! SIP. Routing and the store never see a carrier's format.

pub mod http;
pub mod livekit;
pub(crate) mod media;
pub mod outbound;
pub mod telnyx;
pub mod twilio;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::domain::{CallEvent, Carrier};
use crate::engine::Engine;
use crate::events::Event;
use crate::store::StoreError;

/// Why a webhook was refused. Bodies never echo what the request carried.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("signature check failed: {0}")]
    Forbidden(String),
    #[error("malformed webhook: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            Self::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "signature check failed".to_owned(),
            ),
            Self::Malformed(m) => (StatusCode::BAD_REQUEST, "malformed", m.clone()),
            Self::Store(e) => {
                tracing::error!(error = %e, "webhook could not be stored");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error".to_owned(),
                )
            }
        };
        let body = serde_json::json!({"error": {"code": code, "message": message}});
        (status, axum::Json(body)).into_response()
    }
}

/// Logs a refused webhook: the reason and the route, never the body (it may carry numbers and
/// tokens) or the presented signature.
pub(crate) fn refuse(carrier: Carrier, reason: impl Into<String>) -> WebhookError {
    let reason = reason.into();
    tracing::warn!(carrier = carrier.as_str(), %reason, "webhook refused");
    WebhookError::Forbidden(reason)
}

/// Whether signature checks are off (development only; loudly logged at start-up).
pub(crate) fn verification_off(engine: &Engine, carrier: Carrier) -> bool {
    let off = engine.config().insecure_skip_webhook_signatures;
    if off {
        tracing::warn!(
            carrier = carrier.as_str(),
            "webhook accepted WITHOUT signature verification"
        );
    }
    off
}

/// Applies one delivery's events once and tells live views when they changed the call.
pub(crate) async fn apply_events(
    engine: &Engine,
    carrier: Carrier,
    event_key: &str,
    carrier_call_id: &str,
    events: &[CallEvent],
) -> Result<(), StoreError> {
    apply_events_linking(engine, carrier, event_key, carrier_call_id, None, events).await
}

/// As `apply_events`, finding a call Switchboard placed by its own id when the carrier's id
/// is not on record yet (see `Store::apply_call_events_linking`).
pub(crate) async fn apply_events_linking(
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
            crate::campaigns::after_call_update(engine, &call, events);
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

/// Ends a call at its carrier (Twilio: the call's status set to completed; Telnyx: the
/// hangup command; LiveKit: the call's room deleted). A call the carrier says has already
/// ended counts as done.
pub(crate) async fn hang_up(
    engine: &Engine,
    call: &crate::domain::Call,
) -> Result<(), HangUpError> {
    let carrier_call_id = call
        .carrier_call_id
        .as_deref()
        .ok_or(HangUpError::NoCarrierId)?;
    match call.carrier {
        Carrier::Twilio => {
            let creds = engine
                .secrets()
                .credentials(crate::secrets::Provider::Twilio)
                .await?;
            engine
                .twilio()
                .hang_up(
                    creds.get("account_sid"),
                    creds.get("auth_token"),
                    carrier_call_id,
                    matches!(
                        call.status,
                        crate::domain::CallStatus::Queued | crate::domain::CallStatus::Ringing
                    ),
                )
                .await?;
        }
        Carrier::Telnyx => {
            let creds = engine
                .secrets()
                .credentials(crate::secrets::Provider::Telnyx)
                .await?;
            let body = serde_json::json!({"command_id": format!("hangup-{}", call.id)});
            match engine
                .telnyx()
                .command(creds.get("api_key"), carrier_call_id, "hangup", &body)
                .await
            {
                Err(e) if telnyx::client::is_call_already_ended(&e) => {}
                other => other?,
            }
        }
        Carrier::Livekit => livekit::hang_up(engine, carrier_call_id).await?,
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum HangUpError {
    #[error("the call has no carrier id to hang up")]
    NoCarrierId,
    #[error(transparent)]
    Credentials(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    Api(#[from] http::CarrierApiError),
    #[error(transparent)]
    LiveKit(#[from] livekit::LiveKitError),
}

/// The public URL of a request to the public listener, as the carrier addressed it.
pub(crate) fn public_request_url(engine: &Engine, uri: &axum::http::Uri) -> Option<String> {
    let base = &engine.public()?.base;
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Some(format!("{base}{path_and_query}"))
}
