//! A campaign's leads: who to call, and where each stands.

use serde::Serialize;
use utoipa::ToSchema;

use super::campaign::{LeadStatus, Outcome};
use super::phone::E164;
use super::time::Timestamp;
use super::time_zones::ZoneSource;

/// A lead as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Lead {
    pub id: i64,
    pub campaign_id: String,
    /// Line in the imported file.
    pub line: Option<i64>,
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub status: LeadStatus,
    pub attempts: u32,
    /// When the next attempt is due (pending leads).
    pub next_attempt_at: Timestamp,
    pub last_outcome: Option<Outcome>,
    pub last_call_id: Option<String>,
    /// The lead's own IANA zone from its list, if it had one.
    pub time_zone: Option<String>,
    /// The zones the lead is called in (its own, else its number's; several when its number
    /// spans zones); empty when unknown, then the campaign window's zone stands in.
    pub zones: Vec<String>,
    pub zone_source: ZoneSource,
    /// For a pending lead outside its local calling hours now: when they next open (`null`
    /// inside them, or when its zones share no allowed hour in the next two weeks — see
    /// `waiting_for_local_hours`).
    pub local_hours_open_at: Option<Timestamp>,
    /// True for a pending lead that waits for its local calling hours.
    pub waiting_for_local_hours: bool,
}

impl Lead {
    /// The facts a call to this lead starts with: its extra fields, then `name`, `phone` and
    /// `email` (which fill the prompt's placeholders).
    pub fn call_context(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut context = self.fields.clone();
        context.insert("name".into(), self.name.clone().into());
        context.insert("phone".into(), self.phone.clone().into());
        if let Some(e) = &self.email {
            context.insert("email".into(), e.clone().into());
        }
        context
    }
}

/// A lead to add (already validated and normalised).
#[derive(Debug, Clone)]
pub struct NewLead {
    pub line: Option<i64>,
    pub name: String,
    pub phone: E164,
    pub email: Option<String>,
    /// The lead's own IANA zone, validated.
    pub time_zone: Option<String>,
    pub fields: serde_json::Map<String, serde_json::Value>,
}
