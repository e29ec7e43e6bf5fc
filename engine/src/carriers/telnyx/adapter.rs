//! Telnyx as the engine's `CarrierApi` (protocols/telnyx.md §3): a call is dialed on the Call
//! Control application set in Settings, with its media stream from the start and
//! Switchboard's call id as client state; hung up with the `hangup` command; looked up by
//! whether it is still alive (Telnyx keeps no outcome of a finished call).

use base64::Engine as _;

use super::client::{self, TelnyxClient, is_call_already_ended};
use crate::domain::{Call, Carrier};
use crate::secrets::{Provider, Secrets};
use crate::settings::{Settings, TELNYX_CONNECTION};
use crate::telephony::{AccountNumber, CarrierApi, CarrierError, Dial, Found, PublicUrl};

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

    /// The Call Control application set in Settings: where calls are placed and numbers are
    /// routed.
    fn connection(&self, to: &str) -> Result<String, CarrierError> {
        self.settings
            .get(TELNYX_CONNECTION)
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| {
                CarrierError::NotConfigured(format!(
                    "set the Telnyx connection id (your Call Control application) in Settings \
                     to {to}"
                ))
            })
    }
}

/// A Telnyx number (§8.3) as the engine sees it: where its calls go is its connection, so a
/// number on our application sends them to that application's webhook URL (`ours`), one on
/// another connection "elsewhere" (named by it), one on none nowhere.
fn account_number(
    v: &serde_json::Value,
    connection: Option<&str>,
    ours: Option<&str>,
) -> Option<AccountNumber> {
    let text = |k: &str| v[k].as_str().filter(|t| !t.is_empty());
    let voice_url = match text("connection_id") {
        None => None,
        Some(c) if Some(c) == connection => ours.map(str::to_owned),
        Some(c) => Some(format!(
            "telnyx:connection/{}",
            text("connection_name").unwrap_or(c)
        )),
    };
    Some(AccountNumber {
        carrier_number_id: text("id")?.to_owned(),
        number: text("phone_number")?.to_owned(),
        friendly_name: text("customer_reference").unwrap_or_default().to_owned(),
        voice_url,
    })
}

#[async_trait::async_trait]
impl CarrierApi for TelnyxCarrier {
    fn carrier(&self) -> Carrier {
        Carrier::Telnyx
    }

    async fn place(&self, d: &Dial<'_>) -> Result<String, CarrierError> {
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let connection = self.connection("place Telnyx calls")?;
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

    async fn account_numbers(&self) -> Result<Vec<AccountNumber>, CarrierError> {
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let key = creds.get("api_key");
        let connection = self.connection("see where numbers send their calls").ok();
        let numbers = self.client.list_numbers(key).await?;
        // Where our application sends its webhooks: the URL a number on it "points" at.
        let ours = match &connection {
            Some(c) => self.client.application(key, c).await?["webhook_event_url"]
                .as_str()
                .map(str::to_owned),
            None => None,
        };
        Ok(numbers
            .iter()
            .filter_map(|v| account_number(v, connection.as_deref(), ours.as_deref()))
            .collect())
    }

    fn voice_url(&self, public: &PublicUrl) -> Option<String> {
        Some(public.urls.telnyx.clone())
    }

    /// Telnyx routes a number's calls to a connection, and the connection's application sends
    /// them to its webhook URL: the application is pointed here (if it is not), then the number
    /// routed to it.
    async fn point_number(
        &self,
        carrier_number_id: &str,
        public: &PublicUrl,
    ) -> Result<AccountNumber, CarrierError> {
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let key = creds.get("api_key");
        let connection = self.connection("point numbers at Switchboard")?;
        let app = self.client.application(key, &connection).await?;
        let url = &public.urls.telnyx;
        if app["webhook_event_url"].as_str() != Some(url.as_str()) {
            let name = app["application_name"].as_str().unwrap_or("Switchboard");
            self.client
                .set_application_webhook(key, &connection, name, url)
                .await?;
        }
        let number = self
            .client
            .set_number_connection(key, carrier_number_id, &connection)
            .await?;
        account_number(&number, Some(&connection), Some(url)).ok_or_else(|| {
            CarrierError::Api(crate::telephony::CarrierApiError::Unconfirmed {
                carrier: "Telnyx",
                action: "route the number to Switchboard".into(),
                last: "the reply was not a number".into(),
            })
        })
    }

    async fn release_number(&self, carrier_number_id: &str) -> Result<(), CarrierError> {
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        self.client
            .release_number(creds.get("api_key"), carrier_number_id)
            .await?;
        Ok(())
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
