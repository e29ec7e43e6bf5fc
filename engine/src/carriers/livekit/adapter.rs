//! LiveKit as the engine's `CarrierApi`: a call is placed by dispatching the agent worker
//! into the call's room and dialing the callee into it through the number's outbound trunk;
//! hung up by deleting the room; looked up by its SIP participant.

use super::client::{
    LiveKitCall, LiveKitCallStatus, LiveKitClient, LiveKitDial, LiveKitError, LiveKitProject,
    SipCallStatus,
};
use super::room::{participant_identity, room_name};
use crate::domain::{Call, Carrier, E164};
use crate::secrets::{Provider, Secrets};
use crate::telephony::{CarrierApi, CarrierError, Dial, Found};

pub struct LiveKitCarrier {
    client: LiveKitClient,
    secrets: Secrets,
}

impl From<LiveKitError> for CarrierError {
    fn from(e: LiveKitError) -> Self {
        match e {
            LiveKitError::Credentials(e) => Self::Credentials(e),
            LiveKitError::Api(e) => Self::Api(e),
            // The project's URL, or signing with its credentials: the same for every call.
            LiveKitError::BadUrl | LiveKitError::Token(_) => Self::Setup(e.to_string()),
            LiveKitError::Invalid(_) | LiveKitError::Unreadable { .. } => {
                Self::Rejected(e.to_string())
            }
        }
    }
}

impl LiveKitCarrier {
    pub fn new(secrets: Secrets) -> Self {
        Self {
            client: LiveKitClient::new(),
            secrets,
        }
    }

    /// The project the engine's LiveKit credentials name, as they are now.
    async fn project(&self) -> Result<LiveKitProject, LiveKitError> {
        let credentials = self.secrets.credentials(Provider::Livekit).await?;
        LiveKitProject::from_credentials(&credentials)
    }

    /// Places an outbound call: the agent is dispatched into `d.room`, then the callee is
    /// dialed into it. Returns once LiveKit has accepted the dial (the phone is ringing); the
    /// answer and the end arrive as webhooks. The caller writes the call record (carrier
    /// `livekit`, carrier call id `d.room`) before calling this.
    pub async fn dial(&self, d: &LiveKitDial) -> Result<LiveKitCall, LiveKitError> {
        self.client.dial(&self.project().await?, d).await
    }

    /// Ends the call in `room` (deletes the room). A room already gone is not an error.
    pub async fn hang_up_room(&self, room: &str) -> Result<(), LiveKitError> {
        self.client.hang_up(&self.project().await?, room).await
    }

    /// The SIP participant of `room` as LiveKit sees it now, `None` when the room or the
    /// participant is gone: for reconciling live call records after a restart.
    pub async fn call_status(&self, room: &str) -> Result<Option<LiveKitCallStatus>, LiveKitError> {
        self.client.call_status(&self.project().await?, room).await
    }
}

#[async_trait::async_trait]
impl CarrierApi for LiveKitCarrier {
    fn carrier(&self) -> Carrier {
        Carrier::Livekit
    }

    async fn place(&self, d: &Dial<'_>) -> Result<String, CarrierError> {
        let call = d.call;
        // A LiveKit number is an outbound SIP trunk; its id is the number's carrier id.
        let trunk_id = d
            .number
            .carrier_number_id
            .clone()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                CarrierError::NotConfigured(
                    "set the LiveKit outbound trunk id (ST_…) as the number's carrier id to \
                     place LiveKit calls"
                        .into(),
                )
            })?;
        let parse = |n: &str| E164::parse(n, None).ok();
        let (Some(to), Some(from)) = (parse(&call.to_number), parse(&call.from_number)) else {
            return Err(CarrierError::NotConfigured(
                "the call's numbers are not E.164".into(),
            ));
        };
        let dial = LiveKitDial {
            room: room_name(&call.id),
            trunk_id,
            to,
            from,
            participant_identity: participant_identity(&call.id),
            // The LiveKit agent worker registers under the Switchboard agent's name.
            agent_name: d.agent.name.clone(),
            agent_id: d.agent.id.clone(),
            campaign_id: call.campaign_id.clone(),
            contact_name: call
                .context
                .get("name")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            // The worker gets the lead's details only as far as the metadata carries them,
            // so the prompt goes with its placeholders filled, as the bridge does.
            campaign_prompt: d
                .campaign_prompt
                .filter(|p| !p.trim().is_empty())
                .map(|p| crate::voice::instructions::fill_placeholders(p, &call.context)),
        };
        Ok(self.dial(&dial).await?.room)
    }

    async fn hang_up(&self, call: &Call) -> Result<(), CarrierError> {
        let room = call
            .carrier_call_id
            .as_deref()
            .ok_or(CarrierError::NoCarrierId)?;
        Ok(self.hang_up_room(room).await?)
    }

    async fn look_up(&self, call: &Call) -> Result<(Found, Option<String>), CarrierError> {
        // The room is the call: its SIP participant still there means the call is up.
        let room = call
            .carrier_call_id
            .clone()
            .unwrap_or_else(|| room_name(&call.id));
        let status = self.call_status(&room).await?;
        let found = match status.and_then(|s| s.call_status) {
            Some(SipCallStatus::Hangup) | None => Found::gone(call, "LiveKit"),
            Some(_) => Found::Live,
        };
        Ok((found, Some(room)))
    }
}
