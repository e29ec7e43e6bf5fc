//! Telnyx as the engine's `CarrierApi` (protocols/telnyx.md §3): a call is dialed on the Call
//! Control application set in Settings, with its media stream from the start and
//! Switchboard's call id as client state; hung up with the `hangup` command; looked up by
//! whether it is still alive (Telnyx keeps no outcome of a finished call).

use base64::Engine as _;

use super::client::{self, TelnyxClient, is_call_already_ended};
use crate::domain::{Call, Carrier};
use crate::secrets::{Provider, Secrets};
use crate::settings::{Settings, TELNYX_CONNECTION};
use crate::telephony::{
    AccountNumber, AvailableNumber, Bundle, CarrierApi, CarrierApiError, CarrierError, Consult,
    Dial, Found, KeysPressed, NumberKind, NumberQuery, PublicUrl, Purchase, PurchaseRequirements,
};

/// How long a number order is watched for its outcome before the number is looked for on the
/// account instead (orders are asynchronous, §8.2; most complete in seconds).
const ORDER_WATCH: std::time::Duration = std::time::Duration::from_secs(15);

/// The client state that carries Switchboard's call id on a Telnyx call: its base64.
pub(super) fn client_state(call_id: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(call_id)
}

/// The client state of a warm transfer's call to the person starts so, then the transfer's id.
pub(super) const TRANSFER_STATE: &str = "transfer:";

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

impl TelnyxCarrier {
    /// Waits for `order` to succeed (Ok) or fail (a refusal in words). Still pending after
    /// [`ORDER_WATCH`], or unreadable, it is unconfirmed: it may yet complete.
    async fn watch_order(
        &self,
        key: &str,
        mut order: serde_json::Value,
    ) -> Result<(), CarrierError> {
        let id = order["id"].as_str().unwrap_or_default().to_owned();
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(100);
        loop {
            match order["status"].as_str() {
                Some("success") => return Ok(()),
                Some("failure") => return Err(order_failed(&order)),
                _ => {}
            }
            if let Some(held) = held_for_requirements(&order) {
                return Err(held);
            }
            if started.elapsed() >= ORDER_WATCH {
                return Err(unconfirmed(format!("order {id} is still pending")));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_secs(2));
            order = self
                .client
                .number_order(key, &id)
                .await
                .map_err(|e| unconfirmed(format!("order {id} could not be read: {e}")))?;
        }
    }
}

/// A purchase that may have happened: the caller looks on the account.
fn unconfirmed(last: String) -> CarrierError {
    CarrierError::Api(CarrierApiError::Unconfirmed {
        carrier: "Telnyx",
        action: "buy the number".into(),
        last,
    })
}

/// A number order that Telnyx holds until its regulatory information is given (§8.2
/// `requirements_status`): it will not complete by waiting.
fn held_for_requirements(order: &serde_json::Value) -> Option<CarrierError> {
    let number = order["phone_numbers"].get(0)?;
    let status = number["requirements_status"].as_str()?;
    if number["requirements_met"].as_bool() != Some(false)
        || !matches!(
            status,
            "requirement-info-pending" | "requirement-info-exception"
        )
    {
        return None;
    }
    let id = order["id"].as_str().unwrap_or_default();
    Some(CarrierError::Rejected(format!(
        "That number needs regulatory information on your Telnyx account: Telnyx holds order \
         {id} until it has it ({status}). Complete that order in the Telnyx portal (the number \
         then appears under Your Telnyx numbers, to import), or cancel it there and buy again \
         with an approved requirement group picked here."
    )))
}

/// A failed number order, said with what Telnyx gave as the reason.
fn order_failed(order: &serde_json::Value) -> CarrierError {
    let number = &order["phone_numbers"][0];
    let why = number["requirements_status"]
        .as_str()
        .filter(|s| *s != "approved")
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    CarrierError::Rejected(format!(
        "Telnyx could not complete the order for that number{why}; nothing was bought: search \
         again, or pick an approved requirement group if the country needs one."
    ))
}

/// Telnyx's name of a kind of number (§8.1).
fn number_type(kind: NumberKind) -> &'static str {
    match kind {
        NumberKind::Local => "local",
        NumberKind::Mobile => "mobile",
        NumberKind::TollFree => "toll_free",
    }
}

/// A number for sale (§8.1): its place from `region_information`, its price from
/// `cost_information` (strings, with their currency).
fn available_number(v: &serde_json::Value) -> Option<AvailableNumber> {
    let number = v["phone_number"].as_str()?.to_owned();
    let regions = v["region_information"].as_array();
    let region = |kinds: &[&str]| {
        regions?
            .iter()
            .find(|r| {
                r["region_type"]
                    .as_str()
                    .is_some_and(|t| kinds.contains(&t))
            })
            .and_then(|r| r["region_name"].as_str())
            .map(str::to_owned)
    };
    let cost = &v["cost_information"];
    let price = |k: &str| {
        let amount = cost[k].as_str()?;
        Some(format!(
            "{amount} {}",
            cost["currency"].as_str().unwrap_or("USD")
        ))
    };
    Some(AvailableNumber {
        friendly_name: number.clone(),
        locality: region(&["location", "rate_center"]),
        region: region(&["state"]),
        iso_country: region(&["country_code"]).unwrap_or_default(),
        address_requirements: "none".into(),
        monthly_price: price("monthly_cost"),
        upfront_price: price("upfront_cost"),
        number,
    })
}

/// An approved requirement group (§8.5) as a bundle: named by the customer reference it was
/// given, valid until its first requirement expires.
fn requirement_group(v: &serde_json::Value) -> Option<Bundle> {
    let id = v["id"].as_str()?.to_owned();
    let valid_until = v["regulatory_requirements"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["expires_at"].as_str())
        .min()
        .map(str::to_owned);
    Some(Bundle {
        name: v["customer_reference"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or(&id)
            .to_owned(),
        id,
        valid_until,
    })
}

/// Telnyx's provisioning refusals said as what to do; others as Telnyx said them.
fn in_words(e: CarrierApiError) -> CarrierError {
    let text = e.to_string().to_lowercase();
    let what = match e.code() {
        Some("85000") => "That number must come from a fresh search: search again, then buy it.",
        _ if text.contains("requirement") => {
            "That number needs an approved requirement group on your Telnyx account (Telnyx \
             portal, Numbers → Requirement groups): pick it here, then buy again."
        }
        _ if text.contains("not available") || text.contains("no longer available") => {
            "That number is no longer for sale (someone else may have just taken it): search again."
        }
        _ => return e.into(),
    };
    CarrierError::Rejected(format!("{what} (Telnyx: {e})"))
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

    /// §7.3: stereo WAV, the caller's leg on channel A; `call.recording.saved` says where the
    /// file is. The command id keeps a repeated request from starting a second recording.
    async fn start_recording(&self, call: &Call, public: &PublicUrl) -> Result<(), CarrierError> {
        let _ = public; // Telnyx reports to the application's webhook URL.
        let id = call
            .carrier_call_id
            .as_deref()
            .ok_or(CarrierError::NoCarrierId)?;
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let body = serde_json::json!({
            "format": "wav",
            "channels": "dual",
            "recording_track": "both",
            "play_beep": false,
            "command_id": format!("record-{}", call.id),
        });
        self.client
            .command(creds.get("api_key"), id, "record_start", &body)
            .await?;
        Ok(())
    }

    async fn fetch_recording(&self, url: &str) -> Result<Vec<u8>, CarrierError> {
        Ok(self.client.recording_file(url).await?)
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

    /// §7.1 `transfer`: Telnyx dials the target and bridges it to the caller; the media
    /// stream is stopped first (not documented to stop by itself), so the agent leaves.
    async fn transfer(&self, call: &Call, to: &str) -> Result<(), CarrierError> {
        let id = call
            .carrier_call_id
            .as_deref()
            .ok_or(CarrierError::NoCarrierId)?;
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let key = creds.get("api_key");
        let stop = serde_json::json!({"command_id": format!("stream-stop-{}", call.id)});
        self.client
            .command(key, id, "streaming_stop", &stop)
            .await?;
        let body = serde_json::json!({
            "to": to,
            "timeout_secs": 30,
            "command_id": format!("transfer-{}", call.id),
        });
        self.client.command(key, id, "transfer", &body).await?;
        Ok(())
    }

    /// §7.2's recipe: a new call on the application to the person, its client state naming
    /// the transfer; the webhook speaks the summary when they answer (see `webhook`).
    async fn call_person(&self, c: &Consult<'_>) -> Result<String, CarrierError> {
        let connection = self.connection("call a person for a warm transfer")?;
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let body = serde_json::json!({
            "connection_id": connection,
            "to": c.to,
            "from": c.call.our_number(),
            "timeout_secs": c.ring_secs,
            "client_state": client_state(&format!("{TRANSFER_STATE}{}", c.transfer_id)),
            "command_id": format!("consult-{}", c.transfer_id),
        });
        Ok(self.client.dial(creds.get("api_key"), &body).await?)
    }

    /// `bridge` the caller to the person, then stop the caller's media stream (the agent
    /// leaves); stopped first, a refused bridge would leave the caller with nobody.
    async fn join(&self, call: &Call, leg: &str) -> Result<(), CarrierError> {
        let id = call
            .carrier_call_id
            .as_deref()
            .ok_or(CarrierError::NoCarrierId)?;
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let key = creds.get("api_key");
        let bridge = serde_json::json!({
            "call_control_id": leg,
            "command_id": format!("bridge-{}-{leg}", call.id),
        });
        self.client.command(key, id, "bridge", &bridge).await?;
        let stop = serde_json::json!({"command_id": format!("stream-stop-{}-{leg}", call.id)});
        if let Err(e) = self.client.command(key, id, "streaming_stop", &stop).await {
            tracing::warn!(call_id = %call.id, error = %e, "the media stream was not stopped after the bridge");
        }
        Ok(())
    }

    /// §7.4 `send_dtmf`: sent from this leg, heard by the other end; the stream goes on.
    async fn send_digits(
        &self,
        call: &Call,
        digits: &str,
        public: &PublicUrl,
    ) -> Result<KeysPressed, CarrierError> {
        let _ = public;
        let id = call
            .carrier_call_id
            .as_deref()
            .ok_or(CarrierError::NoCarrierId)?;
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        // A retried request must not press the keys twice: one command id per press.
        let press = crate::domain::Timestamp::now().as_millis();
        let body = serde_json::json!({
            "digits": digits,
            "duration_millis": 250,
            "command_id": format!("dtmf-{}-{press}", call.id),
        });
        self.client
            .command(creds.get("api_key"), id, "send_dtmf", &body)
            .await?;
        Ok(KeysPressed::OnStream)
    }

    async fn drop_leg(&self, leg: &str, answered: bool) -> Result<(), CarrierError> {
        let _ = answered;
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let body = serde_json::json!({"command_id": format!("hangup-{leg}")});
        match self
            .client
            .command(creds.get("api_key"), leg, "hangup", &body)
            .await
        {
            Err(e) if is_call_already_ended(&e) => Ok(()),
            other => Ok(other?),
        }
    }

    async fn search_numbers(
        &self,
        query: &NumberQuery,
    ) -> Result<Vec<AvailableNumber>, CarrierError> {
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let mut filters = vec![
            ("country_code", query.country.as_str()),
            ("phone_number_type", number_type(query.kind)),
        ];
        if let Some(a) = &query.area_code {
            filters.push(("national_destination_code", a));
        }
        if let Some(c) = &query.contains {
            filters.push(("phone_number][contains", c));
        }
        let found = self
            .client
            .search_numbers(creds.get("api_key"), &filters)
            .await
            .map_err(in_words)?;
        Ok(found.iter().filter_map(available_number).collect())
    }

    /// Telnyx takes no address with an order; what a regulated number needs is an approved
    /// requirement group, offered as the bundle.
    async fn purchase_requirements(
        &self,
        country: &str,
        kind: NumberKind,
    ) -> Result<PurchaseRequirements, CarrierError> {
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let groups = self
            .client
            .requirement_groups(creds.get("api_key"), country, number_type(kind))
            .await
            .map_err(in_words)?;
        let now = jiff::Timestamp::now();
        Ok(PurchaseRequirements {
            addresses: Vec::new(),
            bundles: groups
                .iter()
                .filter(|g| g["status"].as_str().is_none_or(|s| s == "approved"))
                .filter_map(requirement_group)
                .filter(|b| b.valid_at(now))
                .collect(),
        })
    }

    /// Orders the number on our Call Control application and watches the order; once it
    /// succeeds the number is pointed here. Once the order may have been placed, anything
    /// short of a known outcome is `maybe_placed`, so the caller looks on the account rather
    /// than order again.
    async fn buy_number(&self, p: &Purchase<'_>) -> Result<AccountNumber, CarrierError> {
        let creds = self.secrets.credentials(Provider::Telnyx).await?;
        let key = creds.get("api_key");
        let connection = self.connection("buy Telnyx numbers")?;
        let mut entry = serde_json::json!({ "phone_number": p.number });
        if let Some(group) = p.bundle_id {
            entry["requirement_group_id"] = group.into();
        }
        let body = serde_json::json!({
            "phone_numbers": [entry],
            "connection_id": connection,
            "customer_reference": "switchboard",
        });
        let order = self
            .client
            .order_numbers(key, &body)
            .await
            .map_err(in_words)?;
        self.watch_order(key, order).await?;
        let number = self.client.find_number(key, p.number).await.ok().flatten();
        let Some(number) = number else {
            return Err(unconfirmed(
                "the order succeeded, but the number is not on the account yet".into(),
            ));
        };
        let id = number["id"].as_str().unwrap_or_default().to_owned();
        match self.point_number(&id, p.public).await {
            Ok(pointed) => Ok(pointed),
            // Bought: kept even if it cannot be pointed now (it shows as not pointed here).
            Err(e) => {
                tracing::warn!(number = %p.number, error = %e, "bought on Telnyx, but not pointed here yet");
                account_number(&number, None, None)
                    .ok_or_else(|| unconfirmed("the bought number could not be read".into()))
            }
        }
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
