//! The one trait every carrier adapter implements, and what its calls take and give back.
//! Verbs (`calls/`), the dialer and the bridge reach a carrier only through it, so none of
//! them names a carrier or knows its wire format.

use std::sync::Arc;

use super::rest::CarrierApiError;
use super::urls::PublicUrl;
use crate::domain::{Agent, Call, CallEvent, CallStatus, Carrier, PhoneNumber, Timestamp};
use crate::secrets::SecretsError;

/// A call to place: recorded already (status queued), with everything a carrier may need to
/// dial it and stream it to its agent.
#[derive(Debug, Clone, Copy)]
pub struct Dial<'a> {
    pub call: &'a Call,
    /// The agent that speaks on the call.
    pub agent: &'a Agent,
    /// The managed number the call is placed from.
    pub number: &'a PhoneNumber,
    /// The campaign's prompt, as written (placeholders unfilled), on a campaign's call.
    pub campaign_prompt: Option<&'a str>,
    /// Where the carrier streams the call's audio and sends its reports.
    pub public: &'a PublicUrl,
    /// Ask the carrier to tell a machine from a person.
    pub detect_machine: bool,
}

/// A warm transfer's call to the person, on behalf of a live call.
#[derive(Debug, Clone, Copy)]
pub struct Consult<'a> {
    /// The caller's call, which stays with its agent meanwhile.
    pub call: &'a Call,
    /// Switchboard's id of the transfer: the carrier's reports of the new call carry it.
    pub transfer_id: &'a str,
    /// E.164 or a SIP URI.
    pub to: &'a str,
    /// Who is calling and why: said to the person once they answer, before anyone is joined.
    pub summary: &'a str,
    /// How long their phone rings.
    pub ring_secs: u32,
    /// Where the carrier reports that call.
    pub public: &'a PublicUrl,
}

/// How a carrier pressed keys on a live call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysPressed {
    /// Sent on the call; the media stream goes on.
    OnStream,
    /// The carrier ends the call's media stream to play them, then opens a new one for the
    /// same call, marked as resuming: the call's live session takes it over.
    StreamRestarts,
}

/// What became of a call Switchboard placed but lost sight of.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// Still up (ringing or talking): its reports will follow.
    Live,
    /// Over, as the carrier recorded it: what it knows of the call, its end last.
    Ended(Vec<CallEvent>),
    /// The carrier has no such call: it was never placed.
    NotPlaced,
    /// It may have happened, but the carrier cannot say how it went.
    Unknown(String),
}

impl Found {
    /// A call its carrier says is over without saying how (some keep no outcome). Answered
    /// by our own record, it ran: completed, its end being when we learned of it. Otherwise
    /// how it went cannot be known.
    pub fn gone(call: &Call, carrier: &str) -> Self {
        if call.answered_at.is_some() {
            Self::Ended(vec![CallEvent::Ended {
                status: CallStatus::Completed,
                at: Timestamp::now(),
                cause: Some(format!(
                    "ended while Switchboard was not watching (gone from {carrier})"
                )),
                duration_secs: None,
            }])
        } else {
            Self::Unknown(format!(
                "the call ended while Switchboard was not watching; {carrier} keeps no outcome"
            ))
        }
    }
}

/// A number on the carrier account, as the carrier has it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AccountNumber {
    /// The carrier's id of the number (Twilio's `PN…` SID).
    pub carrier_number_id: String,
    /// E.164, as the carrier gives it.
    pub number: String,
    /// The carrier's label for it.
    pub friendly_name: String,
    /// Where the carrier sends its incoming calls now; `null` when nowhere (or an application
    /// of the carrier's own takes them).
    pub voice_url: Option<String>,
}

/// The kinds of number a search can ask for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NumberKind {
    Local,
    Mobile,
    TollFree,
}

/// A search for numbers to buy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberQuery {
    /// ISO 3166-1 alpha-2, upper case (`AU`).
    pub country: String,
    pub kind: NumberKind,
    /// US and Canada only.
    pub area_code: Option<String>,
    /// Digits the number contains.
    pub contains: Option<String>,
}

/// A number the carrier offers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AvailableNumber {
    /// E.164.
    pub number: String,
    pub friendly_name: String,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub iso_country: String,
    /// What buying it needs on the account: `none`, or an address `any` / `local` (in the
    /// number's country) / `foreign` (outside it).
    pub address_requirements: String,
    /// The monthly price with its currency ("1.00 USD"), where the carrier's search gives it
    /// (Twilio's does not).
    pub monthly_price: Option<String>,
    /// What buying it costs at once, with its currency, where the carrier's search gives it.
    pub upfront_price: Option<String>,
}

/// What the account holds that a purchase in a regulated country may need.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PurchaseRequirements {
    /// The account's addresses in the country searched.
    pub addresses: Vec<AccountAddress>,
    /// The account's approved regulatory bundles (Telnyx: requirement groups) for that country
    /// and kind of number, still valid, in the carrier's order (the first is the one to use
    /// when in doubt).
    pub bundles: Vec<Bundle>,
}

/// An address on the carrier account (Twilio `AD…`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AccountAddress {
    pub id: String,
    /// Its friendly name, or the customer's name when it has none.
    pub name: String,
    /// Street, city, region and postal code on one line.
    pub summary: String,
    /// ISO 3166-1 alpha-2.
    pub iso_country: String,
}

/// An approved regulatory bundle on the carrier account (Twilio `BU…`, a Telnyx requirement
/// group).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Bundle {
    pub id: String,
    pub name: String,
    /// When its approval ends (RFC 3339), if it does.
    pub valid_until: Option<String>,
}

impl Bundle {
    /// Whether its approval still holds at `now` (an expired one makes a purchase fail).
    pub fn valid_at(&self, now: jiff::Timestamp) -> bool {
        self.valid_until
            .as_deref()
            .and_then(|v| v.parse::<jiff::Timestamp>().ok())
            .is_none_or(|until| until > now)
    }
}

/// A number to buy, pointed at this engine as it is bought.
#[derive(Debug, Clone, Copy)]
pub struct Purchase<'a> {
    /// E.164.
    pub number: &'a str,
    /// The account's address for numbers that need one (Twilio `AD…`).
    pub address_id: Option<&'a str>,
    /// An approved regulatory bundle, for numbers that need one (Twilio `BU…`, a Telnyx
    /// requirement group).
    pub bundle_id: Option<&'a str>,
    pub public: &'a PublicUrl,
}

/// Why a carrier could not do what it was asked. Messages name the carrier and what it said,
/// never a credential.
#[derive(Debug, thiserror::Error)]
pub enum CarrierError {
    #[error("the call has no carrier id to hang up")]
    NoCarrierId,
    #[error("no public base URL is set, so the carrier would have nowhere to stream the call")]
    NoPublicUrl,
    #[error("{} calls are not supported by this engine", .0.as_str())]
    Unsupported(Carrier),
    #[error(transparent)]
    Credentials(#[from] SecretsError),
    /// Switchboard's own setup for the carrier is missing (a setting, a number's carrier id).
    #[error("{0}")]
    NotConfigured(String),
    #[error(transparent)]
    Api(#[from] CarrierApiError),
    /// The carrier's own setup keeps every call from going through (its URL, signing a
    /// request with its credentials).
    #[error("{0}")]
    Setup(String),
    /// The carrier could not take this one call, or its answer could not be read.
    #[error("{0}")]
    Rejected(String),
}

impl CarrierError {
    /// The carrier may have placed the call although it did not say so.
    pub fn maybe_placed(&self) -> bool {
        matches!(self, Self::Api(CarrierApiError::Unconfirmed { .. }))
    }

    /// Nothing about this call made it fail: every call would fail the same way until someone
    /// fixes the setup.
    pub fn is_setup(&self) -> bool {
        match self {
            Self::NoPublicUrl
            | Self::Unsupported(_)
            | Self::Credentials(_)
            | Self::NotConfigured(_)
            | Self::Setup(_) => true,
            Self::NoCarrierId | Self::Rejected(_) => false,
            // The carrier cannot be reached, or it refuses our credentials.
            Self::Api(e) => matches!(
                e,
                CarrierApiError::Unreachable { .. }
                    | CarrierApiError::Refused {
                        status: 401 | 403,
                        ..
                    }
            ),
        }
    }
}

/// A carrier's API as the engine uses it. Each adapter (`carriers/{twilio,telnyx,livekit}`)
/// implements it with its own requests; it reads its credentials itself on every call, so a
/// credential change applies to the next request.
#[async_trait::async_trait]
pub trait CarrierApi: Send + Sync {
    fn carrier(&self) -> Carrier;

    /// Asks the carrier to place `dial.call` with a media stream to its agent (or the
    /// carrier's own agent dispatch). Returns the carrier's id of the call. A request that may
    /// have rung the phone is never sent twice: it fails `maybe_placed` instead.
    async fn place(&self, dial: &Dial<'_>) -> Result<String, CarrierError>;

    /// Ends the call. A call the carrier says has already ended counts as done.
    async fn hang_up(&self, call: &Call) -> Result<(), CarrierError>;

    /// What the carrier knows of a call Switchboard placed and lost sight of (after a crash,
    /// or when its reports are overdue), and the carrier's id of it when found. A call
    /// without a carrier id (Switchboard stopped between recording the attempt and hearing the
    /// carrier's reply) is looked for as the carrier allows.
    async fn look_up(&self, call: &Call) -> Result<(Found, Option<String>), CarrierError>;

    /// Every number on the carrier account (all pages). A carrier that cannot list them says
    /// it is unsupported.
    async fn account_numbers(&self) -> Result<Vec<AccountNumber>, CarrierError> {
        Err(CarrierError::Unsupported(self.carrier()))
    }

    /// Numbers the carrier offers that match `query`.
    async fn search_numbers(
        &self,
        query: &NumberQuery,
    ) -> Result<Vec<AvailableNumber>, CarrierError> {
        let _ = query;
        Err(CarrierError::Unsupported(self.carrier()))
    }

    /// The addresses and approved bundles the account has for buying numbers of `kind` in
    /// `country` (ISO alpha-2).
    async fn purchase_requirements(
        &self,
        country: &str,
        kind: NumberKind,
    ) -> Result<PurchaseRequirements, CarrierError> {
        let _ = (country, kind);
        Err(CarrierError::Unsupported(self.carrier()))
    }

    /// Buys `purchase.number`, pointed at this engine. A request that may have bought it is
    /// never sent twice: it fails `maybe_placed` instead, and the caller looks on the account.
    async fn buy_number(&self, purchase: &Purchase<'_>) -> Result<AccountNumber, CarrierError> {
        let _ = purchase;
        Err(CarrierError::Unsupported(self.carrier()))
    }

    /// Gives the number back to the carrier (it stops costing, and is gone). One already gone
    /// counts as released.
    async fn release_number(&self, carrier_number_id: &str) -> Result<(), CarrierError> {
        let _ = carrier_number_id;
        Err(CarrierError::Unsupported(self.carrier()))
    }

    /// Hands the live call to `to` (E.164 or a SIP URI): the carrier connects the caller there
    /// and the media stream to the agent ends. Not repeated once it may have acted.
    async fn transfer(&self, call: &Call, to: &str) -> Result<(), CarrierError> {
        let _ = (call, to);
        Err(CarrierError::Unsupported(self.carrier()))
    }

    /// A warm transfer's first step: calls the person on the caller's behalf; once they
    /// answer they hear the summary. What follows comes by the carrier's webhooks, told to the
    /// call's live session (`live::Control::Transfer`). Returns the carrier's id of the new
    /// call. Not repeated once it may have rung.
    async fn call_person(&self, consult: &Consult<'_>) -> Result<String, CarrierError> {
        let _ = consult;
        Err(CarrierError::Unsupported(self.carrier()))
    }

    /// Joins the caller of `call` to `leg`, a person `call_person` reached who has heard the
    /// summary: the media stream to the agent ends.
    async fn join(&self, call: &Call, leg: &str) -> Result<(), CarrierError> {
        let _ = (call, leg);
        Err(CarrierError::Unsupported(self.carrier()))
    }

    /// Hangs up `leg`, a call `call_person` placed that will not be joined (`answered`: the
    /// person had picked up). One already ended counts as done.
    async fn drop_leg(&self, leg: &str, answered: bool) -> Result<(), CarrierError> {
        let _ = (leg, answered);
        Err(CarrierError::Unsupported(self.carrier()))
    }

    /// Presses `digits` (checked: 0-9, A-D, * and #; `w`/`W` pauses) on the live call, for
    /// the other side to hear. `public`: where a carrier that must restart the stream sends
    /// it.
    async fn send_digits(
        &self,
        call: &Call,
        digits: &str,
        public: &PublicUrl,
    ) -> Result<KeysPressed, CarrierError> {
        let _ = (call, digits, public);
        Err(CarrierError::Unsupported(self.carrier()))
    }

    /// Asks the carrier to record the live, answered `call` on two channels (caller and
    /// agent); it reports the file once ready (`CallEvent::RecordingSaved`), to `public`'s
    /// webhooks. Not repeated once it may have acted: a second recording would be billed.
    async fn start_recording(&self, call: &Call, public: &PublicUrl) -> Result<(), CarrierError> {
        let _ = (call, public);
        Err(CarrierError::Unsupported(self.carrier()))
    }

    /// The file of a recording the carrier reported ready at `url` (as it gave it), in WAV.
    async fn fetch_recording(&self, url: &str) -> Result<Vec<u8>, CarrierError> {
        let _ = url;
        Err(CarrierError::Unsupported(self.carrier()))
    }

    /// The URL this carrier's numbers send incoming calls to when they point at this engine;
    /// `None` for a carrier whose numbers are not pointed by URL.
    fn voice_url(&self, public: &PublicUrl) -> Option<String> {
        let _ = public;
        None
    }

    /// Points the account's number `carrier_number_id` at this engine's webhooks (`public`),
    /// and returns it as it now stands. Repeating it does no harm.
    async fn point_number(
        &self,
        carrier_number_id: &str,
        public: &PublicUrl,
    ) -> Result<AccountNumber, CarrierError> {
        let _ = (carrier_number_id, public);
        Err(CarrierError::Unsupported(self.carrier()))
    }
}

/// The carrier adapters an engine was built with.
#[derive(Clone, Default)]
pub struct Carriers {
    adapters: Vec<Arc<dyn CarrierApi>>,
}

impl Carriers {
    pub fn new(adapters: Vec<Arc<dyn CarrierApi>>) -> Self {
        Self { adapters }
    }

    /// The adapter for `carrier`.
    pub fn get(&self, carrier: Carrier) -> Result<&dyn CarrierApi, CarrierError> {
        self.adapters
            .iter()
            .find(|a| a.carrier() == carrier)
            .map(|a| a.as_ref())
            .ok_or(CarrierError::Unsupported(carrier))
    }
}

impl std::fmt::Debug for Carriers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.adapters.iter().map(|a| a.carrier().as_str()))
            .finish()
    }
}
