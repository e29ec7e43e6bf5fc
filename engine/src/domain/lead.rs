//! A campaign's leads: who to call, and where each stands.

use serde::Serialize;
use utoipa::ToSchema;

use super::campaign::{LeadStatus, Outcome};
use super::phone::E164;
use super::time::Timestamp;

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
    pub fields: serde_json::Map<String, serde_json::Value>,
}
