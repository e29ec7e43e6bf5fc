//! Placing calls: a recorded outbound call handed to its carrier, media stream and status
//! reports included, and what the carrier says of a call Switchboard lost track of (after a
//! crash). The dialer and the single-call API both come through here and never see a
//! carrier's wire format.

use base64::Engine as _;

use super::http::CarrierApiError;
use crate::domain::{Call, CallEvent, CallStatus, Carrier, Timestamp};
use crate::engine::Engine;
use crate::secrets::Provider;

/// The Settings key for the Telnyx Call Control application (connection) calls are placed on.
pub const SETTING_TELNYX_CONNECTION: &str = "telnyx_connection_id";

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("no public base URL is set, so the carrier would have nowhere to stream the call")]
    NoPublicUrl,
    #[error(transparent)]
    Credentials(#[from] crate::secrets::SecretsError),
    #[error("{0}")]
    NotConfigured(String),
    #[error("placing {0} calls is not supported")]
    Unsupported(&'static str),
    #[error("the call has no agent")]
    NoAgent,
    #[error(transparent)]
    Api(#[from] CarrierApiError),
    #[error(transparent)]
    LiveKit(#[from] super::livekit::LiveKitError),
}

impl DialError {
    /// The carrier may have placed the call although it did not say so.
    pub fn maybe_placed(&self) -> bool {
        matches!(
            self,
            Self::Api(CarrierApiError::Unconfirmed { .. })
                | Self::LiveKit(super::livekit::LiveKitError::Api(
                    CarrierApiError::Unconfirmed { .. }
                ))
        )
    }

    /// Nothing about this lead made it fail: every call would fail the same way until someone
    /// fixes the setup.
    pub fn is_setup(&self) -> bool {
        use super::livekit::LiveKitError;
        match self {
            Self::NoPublicUrl
            | Self::Credentials(_)
            | Self::NotConfigured(_)
            | Self::Unsupported(_) => true,
            Self::NoAgent => false,
            Self::Api(e) | Self::LiveKit(LiveKitError::Api(e)) => api_setup(e),
            // LiveKit's own credentials, project URL or token signing: the same for every call.
            Self::LiveKit(
                LiveKitError::Credentials(_) | LiveKitError::BadUrl | LiveKitError::Token(_),
            ) => true,
            Self::LiveKit(LiveKitError::Invalid(_) | LiveKitError::Unreadable { .. }) => false,
        }
    }
}

/// A carrier API failure no call could get past: the carrier cannot be reached, or it
/// refuses our credentials.
fn api_setup(e: &CarrierApiError) -> bool {
    matches!(
        e,
        CarrierApiError::Unreachable { .. }
            | CarrierApiError::Refused {
                status: 401 | 403,
                ..
            }
    )
}

/// Asks the carrier to place `call` (already recorded, status queued) with a media stream to
/// its agent. `detect_machine` asks for answering-machine detection. Returns the carrier's id.
pub async fn place(
    engine: &Engine,
    call: &Call,
    detect_machine: bool,
) -> Result<String, DialError> {
    let public = engine.public().ok_or(DialError::NoPublicUrl)?;
    let agent_id = call.agent_id.as_deref().ok_or(DialError::NoAgent)?;
    match call.carrier {
        Carrier::Twilio => {
            let creds = engine.secrets().credentials(Provider::Twilio).await?;
            let urls = &public.urls;
            let twiml = super::twilio::twiml::connect_stream(
                &urls.twilio_media,
                &urls.twilio_stream_status,
                &call.id,
                agent_id,
            );
            // Our id rides in the callback URLs: the first report can beat the reply that
            // tells us Twilio's id (see `Store::apply_call_events_linking`).
            let status = format!("{}?call_id={}", urls.twilio_status, call.id);
            let amd = format!(
                "{}{}?call_id={}",
                public.base,
                super::twilio::AMD_PATH,
                call.id
            );
            let request = super::twilio::client::CreateCall {
                to: &call.to_number,
                from: &call.from_number,
                twiml: &twiml,
                status_callback: &status,
                amd_callback: detect_machine.then_some(amd.as_str()),
                timeout_secs: 30,
            };
            Ok(engine
                .twilio()
                .create_call(creds.get("account_sid"), creds.get("auth_token"), &request)
                .await?)
        }
        Carrier::Telnyx => {
            let creds = engine.secrets().credentials(Provider::Telnyx).await?;
            let connection = engine
                .setting(SETTING_TELNYX_CONNECTION)
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| {
                    DialError::NotConfigured(
                        "set the Telnyx connection id (your Call Control application) in \
                         Settings to place Telnyx calls"
                            .into(),
                    )
                })?;
            let state = base64::engine::general_purpose::STANDARD.encode(&call.id);
            let body = super::telnyx::client::dial_with_stream(
                &connection,
                &call.to_number,
                &call.from_number,
                &public.urls.telnyx_media,
                &state,
                detect_machine,
            );
            Ok(engine.telnyx().dial(creds.get("api_key"), &body).await?)
        }
        Carrier::Livekit => {
            // A LiveKit number is an outbound SIP trunk; its id is the number's carrier id.
            let number = match &call.number_id {
                Some(id) => Some(engine.store().get_phone_number(id).await.map_err(|e| {
                    DialError::NotConfigured(format!("the calling number is gone: {e}"))
                })?),
                None => None,
            };
            let trunk_id = number
                .and_then(|n| n.carrier_number_id)
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    DialError::NotConfigured(
                        "set the LiveKit outbound trunk id (ST_…) as the number's carrier id to \
                         place LiveKit calls"
                            .into(),
                    )
                })?;
            let agent = engine
                .store()
                .get_agent(agent_id)
                .await
                .map_err(|_| DialError::NoAgent)?;
            let prompt = match &call.campaign_id {
                Some(c) => engine.store().get_campaign(c).await.ok().map(|c| c.prompt),
                None => None,
            };
            let parse = |n: &str| crate::domain::E164::parse(n, None).ok();
            let (Some(to), Some(from)) = (parse(&call.to_number), parse(&call.from_number)) else {
                return Err(DialError::NotConfigured(
                    "the call's numbers are not E.164".into(),
                ));
            };
            let dial = super::livekit::LiveKitDial {
                room: super::livekit::room_name(&call.id),
                trunk_id,
                to,
                from,
                participant_identity: super::livekit::participant_identity(&call.id),
                // The LiveKit agent worker registers under the Switchboard agent's name.
                agent_name: agent.name.clone(),
                agent_id: agent.id.clone(),
                campaign_id: call.campaign_id.clone(),
                contact_name: call
                    .context
                    .get("name")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
                // The worker gets the lead's details only as far as the metadata carries
                // them, so the prompt goes with its placeholders filled, as the bridge does.
                campaign_prompt: prompt
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| crate::voice::instructions::fill_placeholders(&p, &call.context)),
            };
            let placed = super::livekit::dial(engine, &dial).await?;
            Ok(placed.room)
        }
    }
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

/// Asks the carrier about `call`. A call without a carrier id (the process stopped between
/// recording the attempt and hearing the carrier's reply) is looked for by its numbers.
pub async fn look_up(engine: &Engine, call: &Call) -> Result<(Found, Option<String>), DialError> {
    match call.carrier {
        Carrier::Twilio => {
            let creds = engine.secrets().credentials(Provider::Twilio).await?;
            let (sid, token) = (creds.get("account_sid"), creds.get("auth_token"));
            let info = match &call.carrier_call_id {
                Some(id) => match engine.twilio().fetch_call(sid, token, id).await {
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
                None => {
                    let day = jiff::Timestamp::from_millisecond(call.started_at.as_millis())
                        .map(|t| t.strftime("%Y-%m-%d").to_string())
                        .unwrap_or_default();
                    let found = engine
                        .twilio()
                        .find_calls(sid, token, &call.from_number, &call.to_number, &day)
                        .await?;
                    // Several calls to the lead that day: only ours can be unknown to us.
                    let mut unknown = Vec::new();
                    for c in found {
                        if engine
                            .store()
                            .find_call_by_carrier_id(Carrier::Twilio, &c.sid)
                            .await
                            .ok()
                            .flatten()
                            .is_none()
                        {
                            unknown.push(c);
                        }
                    }
                    unknown.into_iter().next()
                }
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
        Carrier::Telnyx => {
            let creds = engine.secrets().credentials(Provider::Telnyx).await?;
            let Some(id) = &call.carrier_call_id else {
                return Ok((
                    Found::Unknown(
                        "Switchboard stopped while dialing and Telnyx cannot be asked which \
                         calls it placed"
                            .into(),
                    ),
                    None,
                ));
            };
            if engine.telnyx().is_alive(creds.get("api_key"), id).await? {
                Ok((Found::Live, Some(id.clone())))
            } else {
                Ok((gone(call, "Telnyx"), Some(id.clone())))
            }
        }
        Carrier::Livekit => {
            // The room is the call: its SIP participant still there means the call is up.
            let room = call
                .carrier_call_id
                .clone()
                .unwrap_or_else(|| super::livekit::room_name(&call.id));
            let status = super::livekit::call_status(engine, &room).await?;
            let found = match status.and_then(|s| s.call_status) {
                Some(super::livekit::SipCallStatus::Hangup) | None => gone(call, "LiveKit"),
                Some(_) => Found::Live,
            };
            Ok((found, Some(room)))
        }
    }
}

/// A call its carrier says is over without saying how (Telnyx and LiveKit keep no outcome).
/// Answered by our own record, it ran: completed, its end being when we learned of it.
/// Otherwise how it went cannot be known.
fn gone(call: &Call, carrier: &str) -> Found {
    if call.answered_at.is_some() {
        Found::Ended(vec![CallEvent::Ended {
            status: CallStatus::Completed,
            at: Timestamp::now(),
            cause: Some(format!(
                "ended while Switchboard was not watching (gone from {carrier})"
            )),
            duration_secs: None,
        }])
    } else {
        Found::Unknown(format!(
            "the call ended while Switchboard was not watching; {carrier} keeps no outcome"
        ))
    }
}
