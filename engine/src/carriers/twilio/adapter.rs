//! Twilio as the engine's `CarrierApi` (protocols/twilio.md §7): a call is placed with its
//! TwiML inline (the media stream to its agent) and status callbacks that carry Switchboard's
//! own call id; hung up by setting its status; looked up by its sid, or by its numbers when
//! the sid never reached us.

use crate::domain::{Call, CallEvent, CallStatus, Carrier, Timestamp};
use crate::secrets::{Provider, Secrets};
use crate::store::Store;
use crate::telephony::urls::{
    TWILIO_AMD_PATH, TWILIO_RECORDING_PATH, TWILIO_TRANSFER_PATH, TWILIO_TRANSFER_READY_PATH,
};
use crate::telephony::{
    AccountAddress, AccountNumber, AvailableNumber, Bundle, CarrierApi, CarrierApiError,
    CarrierError, Consult, Dial, Found, KeysPressed, NumberKind, NumberQuery, PublicUrl, Purchase,
    PurchaseRequirements,
};

use super::client::{CallInfo, CreateCall, IncomingNumber, RecordingUrl, TwilioClient};
use super::twiml;

/// The query parameter that carries Switchboard's call id in the callbacks of calls it places.
pub(super) const OUR_CALL_ID: &str = "call_id";
/// The query parameter that carries a warm transfer's id in its call to the person.
pub(super) const TRANSFER_ID: &str = "transfer_id";

/// The conference room a warm transfer joins the caller and the person in.
pub(super) fn room(call_id: &str) -> String {
    format!("transfer-{call_id}")
}

pub struct TwilioCarrier {
    client: TwilioClient,
    secrets: Secrets,
    /// Which calls are ours, to tell a lost call from others to the same number.
    store: Store,
}

impl TwilioCarrier {
    /// Gives the live `call` new TwiML (§10.1): its media stream ends and Twilio runs this.
    async fn redirect(&self, call: &Call, twiml: &str) -> Result<(), CarrierError> {
        let sid = call
            .carrier_call_id
            .as_deref()
            .ok_or(CarrierError::NoCarrierId)?;
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        self.client
            .redirect(
                creds.get("account_sid"),
                creds.get("auth_token"),
                sid,
                twiml,
            )
            .await?;
        Ok(())
    }

    pub fn new(api_url: &str, numbers_url: &str, secrets: Secrets, store: Store) -> Self {
        Self {
            client: TwilioClient::new(api_url, numbers_url),
            secrets,
            store,
        }
    }

    /// The calls from `call`'s number to its callee placed that day that Switchboard does not
    /// know: the one it placed and never heard back about is among them.
    async fn find_lost(
        &self,
        sid: &str,
        token: &str,
        call: &Call,
    ) -> Result<Option<CallInfo>, CarrierError> {
        let day = jiff::Timestamp::from_millisecond(call.started_at.as_millis())
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let found = self
            .client
            .find_calls(sid, token, &call.from_number, &call.to_number, &day)
            .await?;
        // Several calls to the lead that day: only ours can be unknown to us.
        for c in found {
            let known = self
                .store
                .find_call_by_carrier_id(Carrier::Twilio, &c.sid)
                .await
                .ok()
                .flatten()
                .is_some();
            if !known {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

#[async_trait::async_trait]
impl CarrierApi for TwilioCarrier {
    fn carrier(&self) -> Carrier {
        Carrier::Twilio
    }

    async fn place(&self, d: &Dial<'_>) -> Result<String, CarrierError> {
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        let (call, urls) = (d.call, &d.public.urls);
        let twiml = twiml::connect_stream(
            &urls.twilio_media,
            &urls.twilio_stream_status,
            &call.id,
            &d.agent.id,
        );
        // Our id rides in the callback URLs: the first report can beat the reply that tells
        // us Twilio's id (see `Store::apply_call_events_linking`).
        let status = format!("{}?{OUR_CALL_ID}={}", urls.twilio_status, call.id);
        let amd = format!(
            "{}{TWILIO_AMD_PATH}?{OUR_CALL_ID}={}",
            d.public.base, call.id
        );
        let request = CreateCall {
            to: &call.to_number,
            from: &call.from_number,
            twiml: &twiml,
            status_callback: &status,
            amd_callback: d.detect_machine.then_some(amd.as_str()),
            timeout_secs: 30,
        };
        Ok(self
            .client
            .create_call(creds.get("account_sid"), creds.get("auth_token"), &request)
            .await?)
    }

    async fn hang_up(&self, call: &Call) -> Result<(), CarrierError> {
        let sid = call
            .carrier_call_id
            .as_deref()
            .ok_or(CarrierError::NoCarrierId)?;
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        let ringing = matches!(call.status, CallStatus::Queued | CallStatus::Ringing);
        self.client
            .hang_up(
                creds.get("account_sid"),
                creds.get("auth_token"),
                sid,
                ringing,
            )
            .await?;
        Ok(())
    }

    fn voice_url(&self, public: &PublicUrl) -> Option<String> {
        Some(public.urls.twilio_voice.clone())
    }

    /// §11.1; the file is announced to `/webhooks/twilio/recording`, our id in its query.
    async fn start_recording(&self, call: &Call, public: &PublicUrl) -> Result<(), CarrierError> {
        let sid = call
            .carrier_call_id
            .as_deref()
            .ok_or(CarrierError::NoCarrierId)?;
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        let callback = format!(
            "{}{TWILIO_RECORDING_PATH}?{OUR_CALL_ID}={}",
            public.base, call.id
        );
        self.client
            .start_recording(
                creds.get("account_sid"),
                creds.get("auth_token"),
                sid,
                &callback,
            )
            .await?;
        Ok(())
    }

    async fn fetch_recording(&self, url: &str) -> Result<Vec<u8>, CarrierError> {
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        self.client
            .recording_wav(creds.get("account_sid"), creds.get("auth_token"), url)
            .await
            .map_err(|e| match e {
                RecordingUrl::Api(e) => e.into(),
                other => CarrierError::Rejected(other.to_string()),
            })
    }

    async fn transfer(&self, call: &Call, to: &str) -> Result<(), CarrierError> {
        self.redirect(call, &twiml::transfer(to)).await
    }

    /// §10.3, by way of a plain call: the person's call says the summary, then asks
    /// `/webhooks/twilio/transfer-ready` what next; its progress goes to
    /// `/webhooks/twilio/transfer`. The caller stays on the media stream meanwhile.
    async fn call_person(&self, c: &Consult<'_>) -> Result<String, CarrierError> {
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        let query = format!("?{TRANSFER_ID}={}", c.transfer_id);
        let status = format!("{}{TWILIO_TRANSFER_PATH}{query}", c.public.base);
        let ready = format!("{}{TWILIO_TRANSFER_READY_PATH}{query}", c.public.base);
        let twiml = twiml::announce(c.summary, &ready);
        let request = CreateCall {
            to: c.to,
            from: c.call.our_number(),
            twiml: &twiml,
            status_callback: &status,
            amd_callback: None,
            timeout_secs: c.ring_secs,
        };
        Ok(self
            .client
            .create_call(creds.get("account_sid"), creds.get("auth_token"), &request)
            .await?)
    }

    /// The caller's call is given new TwiML: into the room the person is in.
    async fn join(&self, call: &Call, leg: &str) -> Result<(), CarrierError> {
        let _ = leg;
        self.redirect(call, &twiml::conference(&room(&call.id)))
            .await
    }

    /// §12: the call is given new TwiML that plays the keys and streams it to its agent
    /// again (a stream cannot carry DTMF out).
    async fn send_digits(
        &self,
        call: &Call,
        digits: &str,
        public: &PublicUrl,
    ) -> Result<KeysPressed, CarrierError> {
        let agent = call.agent_id.as_deref().unwrap_or_default();
        let urls = &public.urls;
        let twiml = twiml::play_digits(
            digits,
            &urls.twilio_media,
            &urls.twilio_stream_status,
            &call.id,
            agent,
        );
        self.redirect(call, &twiml).await?;
        Ok(KeysPressed::StreamRestarts)
    }

    async fn drop_leg(&self, leg: &str, answered: bool) -> Result<(), CarrierError> {
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        self.client
            .hang_up(
                creds.get("account_sid"),
                creds.get("auth_token"),
                leg,
                !answered,
            )
            .await?;
        Ok(())
    }

    async fn account_numbers(&self) -> Result<Vec<AccountNumber>, CarrierError> {
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        let numbers = self
            .client
            .list_numbers(creds.get("account_sid"), creds.get("auth_token"))
            .await?;
        Ok(numbers.into_iter().map(account_number).collect())
    }

    async fn search_numbers(
        &self,
        query: &NumberQuery,
    ) -> Result<Vec<AvailableNumber>, CarrierError> {
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        let kind = match query.kind {
            NumberKind::Local => "Local",
            NumberKind::Mobile => "Mobile",
            NumberKind::TollFree => "TollFree",
        };
        let found = self
            .client
            .search_numbers(
                creds.get("account_sid"),
                creds.get("auth_token"),
                &query.country,
                kind,
                query.area_code.as_deref(),
                query.contains.as_deref(),
            )
            .await
            .map_err(in_words)?;
        let text = |v: &serde_json::Value, k: &str| v[k].as_str().map(str::to_owned);
        Ok(found
            .iter()
            .filter_map(|v| {
                Some(AvailableNumber {
                    number: text(v, "phone_number")?,
                    friendly_name: text(v, "friendly_name").unwrap_or_default(),
                    locality: text(v, "locality"),
                    region: text(v, "region"),
                    iso_country: text(v, "iso_country").unwrap_or_default(),
                    address_requirements: text(v, "address_requirements")
                        .unwrap_or_else(|| "none".into()),
                    monthly_price: None,
                    upfront_price: None,
                })
            })
            .collect())
    }

    async fn purchase_requirements(
        &self,
        country: &str,
        kind: NumberKind,
    ) -> Result<PurchaseRequirements, CarrierError> {
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        let (sid, token) = (creds.get("account_sid"), creds.get("auth_token"));
        let number_type = match kind {
            NumberKind::Local => "local",
            NumberKind::Mobile => "mobile",
            NumberKind::TollFree => "toll-free",
        };
        let (addresses, bundles) = tokio::try_join!(
            self.client.list_addresses(sid, token, country),
            self.client.list_bundles(sid, token, country, number_type),
        )
        .map_err(in_words)?;
        let now = jiff::Timestamp::now();
        Ok(PurchaseRequirements {
            addresses: addresses.iter().filter_map(address).collect(),
            bundles: bundles
                .iter()
                .filter_map(bundle)
                // Approved but expired: a purchase with it would fail (§9.5).
                .filter(|b| b.valid_at(now))
                .collect(),
        })
    }

    async fn buy_number(&self, p: &Purchase<'_>) -> Result<AccountNumber, CarrierError> {
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        let bought = self
            .client
            .buy_number(
                creds.get("account_sid"),
                creds.get("auth_token"),
                p.number,
                &p.public.urls.twilio_voice,
                &p.public.urls.twilio_status,
                p.address_id,
                p.bundle_id,
            )
            .await
            .map_err(in_words)?;
        Ok(account_number(bought))
    }

    async fn release_number(&self, carrier_number_id: &str) -> Result<(), CarrierError> {
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        self.client
            .release_number(
                creds.get("account_sid"),
                creds.get("auth_token"),
                carrier_number_id,
            )
            .await?;
        Ok(())
    }

    async fn point_number(
        &self,
        carrier_number_id: &str,
        public: &PublicUrl,
    ) -> Result<AccountNumber, CarrierError> {
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        let number = self
            .client
            .point_number(
                creds.get("account_sid"),
                creds.get("auth_token"),
                carrier_number_id,
                &public.urls.twilio_voice,
                &public.urls.twilio_status,
            )
            .await?;
        Ok(account_number(number))
    }

    async fn look_up(&self, call: &Call) -> Result<(Found, Option<String>), CarrierError> {
        let creds = self.secrets.credentials(Provider::Twilio).await?;
        let (sid, token) = (creds.get("account_sid"), creds.get("auth_token"));
        let info = match &call.carrier_call_id {
            Some(id) => match self.client.fetch_call(sid, token, id).await {
                Ok(info) => Some(info),
                // Twilio keeps the calls it placed; not knowing one of ours means the
                // credentials now name another account. Asking again will not help.
                Err(CarrierApiError::Refused { status: 404, .. }) => {
                    let why = "Twilio has no record of the call (were the account's \
                               credentials changed?)";
                    return Ok((Found::Unknown(why.into()), Some(id.clone())));
                }
                Err(e) => return Err(e.into()),
            },
            None => self.find_lost(sid, token, call).await?,
        };
        let Some(info) = info else {
            return Ok((Found::NotPlaced, None));
        };
        let ended = |status| {
            // Who answered matters as much as how it ended: a machine's answer is a
            // voicemail, not a conversation, whether or not its AMD report reached us.
            let machine = info
                .answered_by
                .iter()
                .map(|r| CallEvent::MachineDetected { result: r.clone() });
            let end = CallEvent::Ended {
                status,
                at: Timestamp::now(),
                cause: Some("asked Twilio: its own report of the end never arrived".into()),
                duration_secs: info.duration_secs,
            };
            Found::Ended(machine.chain([end]).collect())
        };
        let found = match info.status.as_str() {
            "queued" | "initiated" | "ringing" | "in-progress" => Found::Live,
            "completed" => ended(CallStatus::Completed),
            "busy" => ended(CallStatus::Busy),
            "no-answer" => ended(CallStatus::NoAnswer),
            "canceled" => ended(CallStatus::Canceled),
            _ => ended(CallStatus::Failed),
        };
        Ok((found, Some(info.sid)))
    }
}

fn account_number(n: IncomingNumber) -> AccountNumber {
    AccountNumber {
        carrier_number_id: n.sid,
        number: n.phone_number,
        friendly_name: n.friendly_name,
        voice_url: n.voice_url,
    }
}

/// Twilio's provisioning refusals (§9.6) said as what to do; others as Twilio said them.
fn in_words(e: CarrierApiError) -> CarrierError {
    let what = match e.code() {
        Some("21422") => {
            "That number is no longer for sale (someone else may have just taken it): search again."
        }
        Some("21631") | Some("21613") => {
            "That number needs an address on your Twilio account: add one in Twilio (or pick one here), then buy again."
        }
        Some("21649") => {
            "That number needs an approved regulatory bundle on your Twilio account: get one approved in Twilio, then pick it here."
        }
        Some("21650") => "That number needs a verified identity document on your Twilio account.",
        Some("21451") | Some("21452") => {
            "No numbers in that area code: try another, or leave it empty."
        }
        _ => return e.into(),
    };
    CarrierError::Rejected(format!("{what} (Twilio: {e})"))
}
/// An Address resource (§9.4) as the purchase form shows it.
fn address(v: &serde_json::Value) -> Option<AccountAddress> {
    let text = |k: &str| v[k].as_str().filter(|t| !t.is_empty());
    let summary = [
        text("street"),
        text("street_secondary"),
        text("city"),
        text("region"),
        text("postal_code"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    Some(AccountAddress {
        id: text("sid")?.into(),
        name: text("friendly_name")
            .or(text("customer_name"))
            .unwrap_or_default()
            .into(),
        summary,
        iso_country: text("iso_country").unwrap_or_default().into(),
    })
}

/// A Bundle resource (§9.5).
fn bundle(v: &serde_json::Value) -> Option<Bundle> {
    Some(Bundle {
        id: v["sid"].as_str()?.into(),
        name: v["friendly_name"].as_str().unwrap_or_default().into(),
        valid_until: v["valid_until"].as_str().map(str::to_owned),
    })
}
