//! Test calls: an agent tried through this machine's microphone and speakers before a real
//! call is made. What one is asked with, and how the agent is kept from hearing itself.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a test call keeps the agent from hearing itself through the speakers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EchoMode {
    /// WebRTC acoustic echo cancellation (sonora), with what the speakers play as its
    /// reference, noise suppression and a high-pass filter: for laptop speakers and a
    /// microphone in the same room.
    #[default]
    Cancel,
    /// No processing: the user wears headphones, so the microphone hears no agent.
    Headphones,
    /// The microphone sends silence while agent audio plays and for 150 ms after, so no echo
    /// can reach the agent; the user cannot talk over the agent.
    HalfDuplex,
}

impl EchoMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Headphones => "headphones",
            Self::HalfDuplex => "half_duplex",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cancel" => Some(Self::Cancel),
            "headphones" => Some(Self::Headphones),
            "half_duplex" => Some(Self::HalfDuplex),
            _ => None,
        }
    }
}

/// A request to start a test call.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestCallInput {
    pub agent_id: String,
    /// Facts for this call (`name`, `email`, `phone` fill the agent's prompt placeholders), as
    /// a real call's context.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
    /// True (the default) behaves as an inbound call: the agent greets first. False behaves as
    /// an outbound one: the agent waits for you, and greets after a silence.
    #[serde(default)]
    pub agent_speaks_first: Option<bool>,
    /// Overrides the echo setting for this call.
    #[serde(default)]
    pub echo_mode: Option<EchoMode>,
}

/// Mute or unmute the microphone of a test call.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mute {
    pub muted: bool,
}
