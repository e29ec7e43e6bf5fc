//! Telnyx as the engine's `CarrierApi` (protocols/telnyx.md §3): a call is dialed on the Call
//! Control application set in Settings, with its media stream from the start and
//! Switchboard's call id as client state; hung up with the `hangup` command; looked up by
//! whether it is still alive (Telnyx keeps no outcome of a finished call).

use base64::Engine as _;

use super::client::{self, TelnyxClient, is_call_already_ended};
use crate::domain::{Call, Carrier};
use crate::secrets::{Provider, Secrets};
use crate::settings::{Settings, TELNYX_CONNECTION};
use crate::telephony::{CarrierApi, CarrierError, Dial, Found};

/// The client state that carries Switchboard's call id on a Telnyx call: its base64.
pub(super) fn client_state(call_id: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(call_id)
}

/// Switchboard's call id in a call's client state, when it carries one.
pub(super) fn our_call_id(client_state: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(client_state)
        .ok()?;
    String::from_utf8(bytes).ok()
}

pub struct TelnyxCarrier {
    client: TelnyxClient,
    secrets: Secrets,
    /// Where the Call Control application calls are placed on is set.
    settings: Settings,
}

impl TelnyxCarrier {
    pub fn new(api_url: &str, secrets: Secrets, settings: Settings) -> Self {
        Self {
            client: TelnyxClient::new(api_url),
            secrets,
            settings,
        }
    }
}

#[async_trait::async_trait]
impl CarrierApi for TelnyxCarrier {
    fn carrier(&self) -> Carrier {
        Carrier::Telnyx
    }

    async fn place(&self, d: &Dial<'_>) -> Result<String, CarrierError> {
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let connection = self
            .settings
            .get(TELNYX_CONNECTION)
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| {
                CarrierError::NotConfigured(
                    "set the Telnyx connection id (your Call Control application) in Settings \
                     to place Telnyx calls"
                        .into(),
                )
            })?;
        let body = client::dial_with_stream(
            &connection,
            &d.call.to_number,
            &d.call.from_number,
            &d.public.urls.telnyx_media,
            &client_state(&d.call.id),
            d.detect_machine,
        );
        Ok(self.client.dial(creds.get("api_key"), &body).await?)
    }

    async fn hang_up(&self, call: &Call) -> Result<(), CarrierError> {
        let id = call
            .carrier_call_id
            .as_deref()
            .ok_or(CarrierError::NoCarrierId)?;
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let body = serde_json::json!({"command_id": format!("hangup-{}", call.id)});
        match self
            .client
            .command(creds.get("api_key"), id, "hangup", &body)
            .await
        {
            Err(e) if is_call_already_ended(&e) => Ok(()),
            other => Ok(other?),
        }
    }

    async fn look_up(&self, call: &Call) -> Result<(Found, Option<String>), CarrierError> {
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let Some(id) = &call.carrier_call_id else {
            return Ok((
                Found::Unknown(
                    "Switchboard stopped while dialing and Telnyx cannot be asked which calls \
                     it placed"
                        .into(),
                ),
                None,
            ));
        };
        if self.client.is_alive(creds.get("api_key"), id).await? {
            Ok((Found::Live, Some(id.clone())))
        } else {
            Ok((Found::gone(call, "Telnyx"), Some(id.clone())))
        }
    }
}
