//! The do-not-call list: numbers never to be dialed, on every campaign and single call (the
//! global list) or on one campaign's calls, and why each is there. An entry is unique per
//! number and list; the store checks it inside the write that commits to a dial.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::phone::E164;
use super::time::Timestamp;

/// How a number came onto the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DncSource {
    /// Added by hand in the app.
    Manual,
    /// From an imported CSV file.
    Import,
    /// The person asked, during a call, not to be called again (the agent's `do_not_call`).
    OptOut,
    /// Added through the control API by a script or CRM.
    Api,
}

impl DncSource {
    pub const ALL: [Self; 4] = [Self::Manual, Self::Import, Self::OptOut, Self::Api];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Import => "import",
            Self::OptOut => "opt_out",
            Self::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Longest note kept on an entry, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

/// One number on one list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DncEntry {
    pub id: i64,
    #[schema(value_type = String, example = "+14155552671")]
    pub number: E164,
    /// The campaign whose list it is on; `null`: the global list, which every call obeys.
    pub campaign_id: Option<String>,
    pub source: DncSource,
    pub note: String,
    /// The call in which the person opted out (source `opt_out`).
    pub call_id: Option<String>,
    pub added_at: Timestamp,
}

impl DncEntry {
    /// Why a dial to this number is refused, in words for a person: which list, since when,
    /// and how it got there.
    pub fn reason(&self) -> String {
        let list = match &self.campaign_id {
            None => "the global do-not-call list".to_owned(),
            Some(id) => format!("the do-not-call list of campaign {id}"),
        };
        let how = match self.source {
            DncSource::OptOut => match &self.call_id {
                Some(call) => format!("the person opted out during call {call}"),
                None => "the person opted out during a call".to_owned(),
            },
            DncSource::Manual => "added by hand".to_owned(),
            DncSource::Import => "imported from a file".to_owned(),
            DncSource::Api => "added through the API".to_owned(),
        };
        let note = match self.note.trim() {
            "" => String::new(),
            n => format!(": {n}"),
        };
        // To the minute, in UTC: "2026-12-06 14:36 UTC".
        let at = self.added_at.to_string();
        let since = format!("{} UTC", at.get(..16).unwrap_or(&at).replacen('T', " ", 1));
        format!("{} is on {list} since {since} ({how}{note})", self.number)
    }
}

/// A number to add to a list.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDncEntry {
    pub number: E164,
    pub campaign_id: Option<String>,
    pub source: DncSource,
    pub note: String,
    pub call_id: Option<String>,
}

/// A note as kept: trimmed, cut at [`MAX_NOTE_CHARS`].
pub fn note_of(text: &str) -> String {
    text.trim().chars().take(MAX_NOTE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(campaign: Option<&str>, source: DncSource, call: Option<&str>) -> DncEntry {
        DncEntry {
            id: 1,
            number: E164::parse("+14155552671", None).unwrap(),
            campaign_id: campaign.map(str::to_owned),
            source,
            note: String::new(),
            call_id: call.map(str::to_owned),
            added_at: Timestamp::from_millis(1_700_000_000_000),
        }
    }

    #[test]
    fn the_reason_names_the_list_when_and_how() {
        let r = entry(None, DncSource::OptOut, Some("c1")).reason();
        assert!(r.contains("+14155552671"), "{r}");
        assert!(r.contains("global do-not-call list"), "{r}");
        assert!(r.contains("2023-11-14"), "the date it was added: {r}");
        assert!(r.contains("opted out during call c1"), "{r}");
        let r = entry(Some("camp"), DncSource::Manual, None).reason();
        assert!(r.contains("campaign camp"), "{r}");
        assert!(r.contains("by hand"), "{r}");
    }

    #[test]
    fn sources_round_trip_and_notes_are_cut() {
        for s in DncSource::ALL {
            assert_eq!(DncSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(DncSource::parse("other"), None);
        assert_eq!(note_of(&"x".repeat(600)).len(), MAX_NOTE_CHARS);
        assert_eq!(note_of("  hi "), "hi");
    }
}
