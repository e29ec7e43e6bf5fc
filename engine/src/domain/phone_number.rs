//! Phone numbers Switchboard manages, and which agents answer and place their calls.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::{Invalid, bounded_text, present};
use super::phone::E164;
use super::time::Timestamp;

/// Longest label kept, in characters.
const LABEL_MAX: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Carrier {
    Twilio,
    Telnyx,
    Livekit,
    /// No carrier: a test call through this machine's microphone and speakers. Never a
    /// number's carrier.
    Local,
}

/// The carriers a number can be on: `Carrier` less `local` (the document's enum for numbers).
#[derive(ToSchema)]
#[schema(as = NumberCarrier)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // a schema only: numbers are read and written as `Carrier`
enum NumberCarrier {
    Twilio,
    Telnyx,
    Livekit,
}

impl Carrier {
    /// Whether Switchboard's own media bridge carries this carrier's calls (their audio comes
    /// to the node that answered or placed them); LiveKit's agents run on LiveKit's side.
    pub fn media_bridged_here(self) -> bool {
        matches!(self, Carrier::Twilio | Carrier::Telnyx)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Twilio => "twilio",
            Carrier::Telnyx => "telnyx",
            Carrier::Livekit => "livekit",
            Carrier::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "twilio" => Some(Self::Twilio),
            "telnyx" => Some(Self::Telnyx),
            "livekit" => Some(Self::Livekit),
            "local" => Some(Self::Local),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NumberStatus {
    /// Calls to it are routed.
    Active,
    /// Kept, but inbound calls are rejected.
    Disabled,
}

impl NumberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberStatus::Active => "active",
            NumberStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A managed number with its agent assignments. Agent names are joined from the agents table
/// when read, never stored beside the number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PhoneNumber {
    pub id: String,
    #[schema(value_type = String, example = "+14155552671")]
    pub number: E164,
    #[schema(value_type = NumberCarrier)]
    pub carrier: Carrier,
    /// The carrier's own id for the number (Twilio's `PN…` SID, Telnyx's id), if known.
    pub carrier_number_id: Option<String>,
    pub inbound_agent_id: Option<String>,
    pub inbound_agent_name: Option<String>,
    pub outbound_agent_id: Option<String>,
    pub outbound_agent_name: Option<String>,
    pub label: String,
    pub status: NumberStatus,
    pub calls_received: i64,
    pub created_at: Timestamp,
    /// The voice URL Switchboard last pointed the number at on its carrier; `null` when it
    /// never did. Differs from the current one after the public URL changed.
    pub pointed_url: Option<String>,
}

/// A create or update request. On update, a field left out keeps its value; the agent
/// assignments can be cleared by sending `null`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneNumberInput {
    /// E.164 (`+14155552671`), or national form in the default region setting. Required when
    /// creating; cannot be changed afterwards.
    pub number: Option<String>,
    /// Required when creating.
    #[schema(value_type = Option<NumberCarrier>)]
    pub carrier: Option<Carrier>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub carrier_number_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub inbound_agent_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub outbound_agent_id: Option<Option<String>>,
    #[schema(max_length = 100)]
    pub label: Option<String>,
    pub status: Option<NumberStatus>,
}

/// Validated fields of a number. The agent ids are checked against the store, not here.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneNumberFields {
    pub number: E164,
    pub carrier: Carrier,
    pub carrier_number_id: Option<String>,
    pub inbound_agent_id: Option<String>,
    pub outbound_agent_id: Option<String>,
    pub label: String,
    pub status: NumberStatus,
}

impl From<&PhoneNumber> for PhoneNumberFields {
    fn from(n: &PhoneNumber) -> Self {
        Self {
            number: n.number.clone(),
            carrier: n.carrier,
            carrier_number_id: n.carrier_number_id.clone(),
            inbound_agent_id: n.inbound_agent_id.clone(),
            outbound_agent_id: n.outbound_agent_id.clone(),
            label: n.label.clone(),
            status: n.status,
        }
    }
}

/// A number lives at a carrier: `local` is for test calls only.
fn check_carrier(carrier: Carrier) -> Result<(), Invalid> {
    if carrier == Carrier::Local {
        return Err(Invalid::new(
            "carrier",
            "must be twilio, telnyx or livekit: local is for test calls, not numbers",
        ));
    }
    Ok(())
}

impl PhoneNumberInput {
    /// Validates a create request; `default_region` lets national-form numbers in.
    pub fn create(self, default_region: Option<&str>) -> Result<PhoneNumberFields, Invalid> {
        let raw = self
            .number
            .as_deref()
            .ok_or_else(|| Invalid::new("number", "is required"))?;
        let number =
            E164::parse(raw, default_region).map_err(|e| Invalid::new("number", e.to_string()))?;
        let carrier = self
            .carrier
            .ok_or_else(|| Invalid::new("carrier", "is required (twilio, telnyx or livekit)"))?;
        check_carrier(carrier)?;
        let base = PhoneNumberFields {
            number,
            carrier,
            carrier_number_id: None,
            inbound_agent_id: None,
            outbound_agent_id: None,
            label: String::new(),
            status: NumberStatus::Active,
        };
        Self {
            number: None,
            carrier: None,
            ..self
        }
        .update(base)
    }

    /// Applies an update over the stored fields. The number itself is fixed once created:
    /// calls and carrier configuration refer to it.
    pub fn update(self, mut base: PhoneNumberFields) -> Result<PhoneNumberFields, Invalid> {
        if let Some(raw) = self.number {
            let same = E164::parse(&raw, None).is_ok_and(|n| n == base.number);
            if !same {
                return Err(Invalid::new(
                    "number",
                    "cannot be changed; add the new number and delete this one",
                ));
            }
        }
        if let Some(carrier) = self.carrier {
            check_carrier(carrier)?;
            base.carrier = carrier;
        }
        if let Some(v) = self.carrier_number_id {
            base.carrier_number_id = v
                .map(|s| bounded_text("carrier_number_id", s.trim(), 200))
                .transpose()?
                .filter(|s| !s.is_empty());
        }
        if let Some(v) = self.inbound_agent_id {
            base.inbound_agent_id = v;
        }
        if let Some(v) = self.outbound_agent_id {
            base.outbound_agent_id = v;
        }
        if let Some(v) = self.label {
            // Bounded as sent, as the document's maxLength says; kept trimmed.
            base.label = bounded_text("label", &v, LABEL_MAX)?.trim().to_owned();
        }
        if let Some(v) = self.status {
            base.status = v;
        }
        Ok(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: serde_json::Value) -> PhoneNumberInput {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_label_is_bounded_as_sent_where_the_openapi_document_says() {
        let max = crate::domain::input::documented_max_length::<PhoneNumberInput>("label");
        let new = |label: String| {
            input(json!({"number": "+14155552671", "carrier": "twilio", "label": label}))
                .create(None)
        };
        assert!(new("a".repeat(max)).is_ok(), "{max} characters are allowed");
        assert_eq!(
            new(format!("{} ", "a".repeat(max))).unwrap_err().field,
            "label",
            "one more than the document's {max}, a space included, is refused"
        );
    }

    #[test]
    fn create_normalises_and_requires_carrier() {
        let f = input(json!({"number": "+1 415 555 2671", "carrier": "twilio", "label": " Main "}))
            .create(None)
            .unwrap();
        assert_eq!(f.number.as_str(), "+14155552671");
        assert_eq!(f.label, "Main");
        assert_eq!(f.status, NumberStatus::Active);
        let err = input(json!({"number": "+14155552671"}))
            .create(None)
            .unwrap_err();
        assert_eq!(err.field, "carrier");
        let err = input(json!({"number": "555", "carrier": "twilio"}))
            .create(None)
            .unwrap_err();
        assert_eq!(err.field, "number");
    }

    #[test]
    fn null_clears_an_assignment_and_absence_keeps_it() {
        let mut base = input(json!({"number": "+14155552671", "carrier": "telnyx"}))
            .create(None)
            .unwrap();
        base.inbound_agent_id = Some("a".into());
        base.outbound_agent_id = Some("b".into());
        let kept = input(json!({"label": "x"})).update(base.clone()).unwrap();
        assert_eq!(kept.inbound_agent_id.as_deref(), Some("a"));
        let cleared = input(json!({"inbound_agent_id": null}))
            .update(base)
            .unwrap();
        assert_eq!(cleared.inbound_agent_id, None);
        assert_eq!(cleared.outbound_agent_id.as_deref(), Some("b"));
    }

    #[test]
    fn the_number_itself_cannot_change() {
        let base = input(json!({"number": "+14155552671", "carrier": "twilio"}))
            .create(None)
            .unwrap();
        assert!(
            input(json!({"number": "+1 (415) 555-2671"}))
                .update(base.clone())
                .is_ok()
        );
        assert_eq!(
            input(json!({"number": "+14155552672"}))
                .update(base)
                .unwrap_err()
                .field,
            "number"
        );
    }

    #[test]
    fn unknown_carrier_is_a_deserialisation_error() {
        assert!(serde_json::from_value::<PhoneNumberInput>(json!({"carrier": "vonage"})).is_err());
    }
}
