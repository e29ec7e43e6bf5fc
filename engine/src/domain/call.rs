//! Calls and their transcripts.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::phone_number::Carrier;
use super::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallDirection {
    Inbound,
    Outbound,
    /// An agent tried through this machine's microphone and speakers (carrier `local`).
    Test,
}

impl CallDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
            Self::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inbound" => Some(Self::Inbound),
            "outbound" => Some(Self::Outbound),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

/// Where a call is in its life. `Queued`, `Ringing` and `InProgress` are live; the rest are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Queued,
    Ringing,
    InProgress,
    Completed,
    Busy,
    NoAnswer,
    Failed,
    Rejected,
    Canceled,
}

impl CallStatus {
    pub const ALL: [CallStatus; 9] = [
        Self::Queued,
        Self::Ringing,
        Self::InProgress,
        Self::Completed,
        Self::Busy,
        Self::NoAnswer,
        Self::Failed,
        Self::Rejected,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Ringing => "ringing",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::NoAnswer => "no_answer",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_live(self) -> bool {
        matches!(self, Self::Queued | Self::Ringing | Self::InProgress)
    }
}

impl Call {
    /// A live call's talk time so far, as its duration, for whoever reads it now.
    pub fn with_duration_so_far(mut self, now: Timestamp) -> Self {
        if self.status.is_live()
            && self.duration_secs.is_none()
            && let Some(answered) = self.answered_at
        {
            self.duration_secs = Some((now.as_millis() - answered.as_millis()).max(0) / 1000);
        }
        self
    }

    /// The business's own number on the call: the one called on an inbound call, the one
    /// calling on an outbound one (what a transfer's call to a person shows as its caller).
    pub fn our_number(&self) -> &str {
        match self.direction {
            CallDirection::Inbound => &self.to_number,
            CallDirection::Outbound | CallDirection::Test => &self.from_number,
        }
    }
}

/// A call Switchboard recorded: stereo WAV, 8 kHz, the caller on the left and the agent (or an
/// operator who took the call) on the right, laid where the caller heard it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recording {
    /// When the recording's first sample was heard: a transcript line's `at` minus this is
    /// where it is in the file.
    pub started_at: Timestamp,
    /// Its length; `null` while the call is recorded.
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Call {
    pub id: String,
    pub direction: CallDirection,
    pub carrier: Carrier,
    /// The carrier's id for the call (Twilio CallSid, Telnyx call_control_id, ...).
    pub carrier_call_id: Option<String>,
    pub from_number: String,
    pub to_number: String,
    pub agent_id: Option<String>,
    /// Joined from the agents table; `null` once the agent is deleted.
    pub agent_name: Option<String>,
    pub number_id: Option<String>,
    pub status: CallStatus,
    pub started_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// Seconds from answer to end; for a call still in progress, from answer to now (in
    /// API responses).
    pub duration_secs: Option<i64>,
    pub hangup_cause: Option<String>,
    pub cost_estimate_usd: Option<f64>,
    /// Why Switchboard refused the call, when it did.
    pub reject_reason: Option<RejectReason>,
    /// The carrier's recording, when one was saved.
    pub recording_url: Option<String>,
    /// Switchboard's own recording of the call (its audio: `GET /api/calls/{id}/recording`).
    pub recording: Option<Recording>,
    /// Answering-machine detection result (`human`, `machine`, ...), when the carrier ran it.
    pub answered_by: Option<String>,
    /// Facts for this call only (a JSON object; `name`, `email`, `phone` fill the agent's
    /// prompt placeholders). Empty when none.
    #[schema(value_type = Object)]
    pub context: serde_json::Map<String, serde_json::Value>,
    /// The campaign and lead an outbound call was placed for.
    pub campaign_id: Option<String>,
    pub lead_id: Option<i64>,
}

/// Why an inbound call was refused. Stored with the call so the log says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// No managed number matches the called number.
    UnknownNumber,
    /// The number is managed but disabled.
    NumberDisabled,
    /// The number has no inbound agent.
    NoInboundAgent,
    /// The inbound agent is switched off.
    AgentInactive,
    /// The inbound agent is already on its maximum of concurrent calls.
    AgentBusy,
}

impl RejectReason {
    pub const ALL: [RejectReason; 5] = [
        Self::UnknownNumber,
        Self::NumberDisabled,
        Self::NoInboundAgent,
        Self::AgentInactive,
        Self::AgentBusy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownNumber => "unknown_number",
            Self::NumberDisabled => "number_disabled",
            Self::NoInboundAgent => "no_inbound_agent",
            Self::AgentInactive => "agent_inactive",
            Self::AgentBusy => "agent_busy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What a carrier reports about a call, in the engine's own terms.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    Ringing,
    Answered {
        at: Timestamp,
    },
    /// `duration_secs` is the carrier's own figure when it gives one.
    Ended {
        status: CallStatus,
        at: Timestamp,
        cause: Option<String>,
        duration_secs: Option<i64>,
    },
    RecordingSaved {
        url: String,
    },
    /// Who answered, in the carrier's words (kept as `answered_by`): see [`is_machine`].
    MachineDetected {
        result: String,
    },
}

/// Whether a carrier's answering-machine result (`answered_by`) means no person answered:
/// Twilio's `machine_start`, `machine_end_beep`, ... and `fax`, Telnyx's `machine`.
pub fn is_machine(answered_by: &str) -> bool {
    answered_by.starts_with("machine") || answered_by == "fax"
}

/// What a carrier adapter or the dialer knows when a call record is first written.
#[derive(Debug, Clone)]
pub struct NewCall {
    pub direction: CallDirection,
    pub carrier: Carrier,
    pub carrier_call_id: Option<String>,
    pub from_number: String,
    pub to_number: String,
    pub agent_id: Option<String>,
    pub number_id: Option<String>,
    pub status: CallStatus,
    pub started_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Caller,
    Agent,
    System,
    /// A person who took the call over from the agent.
    Operator,
    /// A tool the agent called, and what it answered.
    Tool,
}

impl Speaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Agent => "agent",
            Self::System => "system",
            Self::Operator => "operator",
            Self::Tool => "tool",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "caller" => Some(Self::Caller),
            "agent" => Some(Self::Agent),
            "system" => Some(Self::System),
            "operator" => Some(Self::Operator),
            "tool" => Some(Self::Tool),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TranscriptLine {
    pub id: i64,
    pub call_id: String,
    pub speaker: Speaker,
    pub text: String,
    pub at: Timestamp,
}

/// A call to place now.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboundRequest {
    /// The managed number to call from (its id); its outbound agent takes the call unless
    /// `agent_id` says otherwise.
    pub from_number_id: String,
    /// Who to call: E.164, or national form in the default region.
    #[schema(example = "+14155550123")]
    pub to: String,
    pub agent_id: Option<String>,
    /// Facts for this call (`name`, `email`, `phone` fill the prompt's placeholders).
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
    /// Ask the carrier to detect an answering machine, and what to do when one answers (as a
    /// campaign's voicemail policy: hang up, or leave a message). Left out: no detection.
    #[serde(default)]
    pub machine_detection: Option<super::campaign::VoicemailPolicy>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip_and_match_serde() {
        for s in CallStatus::ALL {
            assert_eq!(CallStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().into()),
                "the SQL text and the JSON text of a status must agree"
            );
        }
        assert!(CallStatus::InProgress.is_live());
        assert!(!CallStatus::Completed.is_live());
    }

    #[test]
    fn machines_and_faxes_are_not_people() {
        for machine in [
            "machine_start",
            "machine_end_beep",
            "machine_end_other",
            "fax",
            "machine",
        ] {
            assert!(is_machine(machine), "{machine} is no person");
        }
        for person in ["human", "unknown", "not_sure", ""] {
            assert!(!is_machine(person), "{person:?} may be a person");
        }
    }
}

#[cfg(test)]
mod live_duration_tests {
    use super::*;

    #[test]
    fn a_live_call_reports_its_talk_time_so_far_and_an_ended_one_its_own() {
        let mut call = Call {
            id: "c".into(),
            direction: CallDirection::Inbound,
            carrier: Carrier::Twilio,
            carrier_call_id: None,
            from_number: String::new(),
            to_number: String::new(),
            agent_id: None,
            agent_name: None,
            number_id: None,
            status: CallStatus::InProgress,
            started_at: Timestamp::from_millis(0),
            answered_at: Some(Timestamp::from_millis(2_000)),
            ended_at: None,
            duration_secs: None,
            hangup_cause: None,
            cost_estimate_usd: None,
            reject_reason: None,
            recording_url: None,
            recording: None,
            answered_by: None,
            context: serde_json::Map::new(),
            campaign_id: None,
            lead_id: None,
        };
        let now = Timestamp::from_millis(65_500);
        assert_eq!(
            call.clone().with_duration_so_far(now).duration_secs,
            Some(63)
        );
        call.status = CallStatus::Ringing;
        call.answered_at = None;
        assert_eq!(call.clone().with_duration_so_far(now).duration_secs, None);
        call.status = CallStatus::Completed;
        call.duration_secs = Some(7);
        assert_eq!(call.with_duration_so_far(now).duration_secs, Some(7));
    }
}
