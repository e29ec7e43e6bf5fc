//! Webhooks to the user's own systems: endpoints (a URL, optionally one campaign's calls, the
//! event types it wants), the event types, a delivery and where it stands, and the retry
//! schedule. Pure: the store keeps them, `webhooks/` sends them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::{Invalid, bounded_text};
use super::time::Timestamp;

pub const URL_MAX: usize = 2048;
pub const DESCRIPTION_MAX: usize = 200;
/// Attempts before a delivery is given up as failed (the first included).
pub const MAX_ATTEMPTS: u32 = 8;
/// Each wait is this many times the one before.
const BACKOFF_FACTOR: u32 = 3;
/// No wait is longer than this, whatever the base.
const MAX_WAIT_MS: u64 = 12 * 3600 * 1000;

/// What an endpoint can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum WebhookEventType {
    /// A call was answered (a call never answered has only `call.ended`).
    #[serde(rename = "call.started")]
    CallStarted,
    /// A call reached its final status.
    #[serde(rename = "call.ended")]
    CallEnded,
    /// A call's post-call analysis was stored.
    #[serde(rename = "call.analyzed")]
    CallAnalyzed,
}

impl WebhookEventType {
    pub const ALL: [Self; 3] = [Self::CallStarted, Self::CallEnded, Self::CallAnalyzed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CallStarted => "call.started",
            Self::CallEnded => "call.ended",
            Self::CallAnalyzed => "call.analyzed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Where the user's system is told about calls.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub description: String,
    /// Only this campaign's calls; every call when null.
    pub campaign_id: Option<String>,
    pub events: Vec<WebhookEventType>,
    /// A disabled endpoint is sent nothing: new events skip it, and its pending deliveries
    /// wait until it is enabled again.
    pub enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A create or update request: fields left out keep their current (or default) value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// An http:// or https:// URL (required when creating).
    #[schema(min_length = 1, max_length = 2048)]
    pub url: Option<String>,
    #[schema(max_length = 200)]
    pub description: Option<String>,
    /// Only this campaign's calls; null (or left out when creating) for every call.
    #[serde(default, deserialize_with = "super::input::present")]
    #[schema(value_type = Option<String>, max_length = 64)]
    pub campaign_id: Option<Option<String>>,
    /// Event types: `call.started`, `call.ended`, `call.analyzed` (all of them by default).
    #[schema(max_items = 3)]
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// An endpoint's editable part, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookFields {
    pub url: String,
    pub description: String,
    pub campaign_id: Option<String>,
    pub events: Vec<WebhookEventType>,
    pub enabled: bool,
}

impl WebhookFields {
    /// A new endpoint's fields from `input`.
    pub fn new(input: WebhookInput) -> Result<Self, Invalid> {
        if input.url.is_none() {
            return Err(Invalid::new("url", "is required"));
        }
        Self::apply(None, input)
    }

    /// `current` (none when creating) changed by `input`.
    pub fn apply(current: Option<&WebhookEndpoint>, input: WebhookInput) -> Result<Self, Invalid> {
        let url = match input.url {
            Some(u) => checked_url(&u)?,
            None => current.map(|c| c.url.clone()).unwrap_or_default(),
        };
        let description = match input.description {
            Some(d) => {
                bounded_text("description", &d, DESCRIPTION_MAX)?;
                if d.chars().any(char::is_control) {
                    return Err(Invalid::new(
                        "description",
                        "must be one line without control characters",
                    ));
                }
                d.trim().to_owned()
            }
            None => current.map(|c| c.description.clone()).unwrap_or_default(),
        };
        let campaign_id = match input.campaign_id {
            Some(Some(id)) => {
                let id = id.trim();
                if id.is_empty() || id.chars().count() > 64 || id.chars().any(char::is_control) {
                    return Err(Invalid::new("campaign_id", "is not a campaign's id"));
                }
                Some(id.to_owned())
            }
            Some(None) => None,
            None => current.and_then(|c| c.campaign_id.clone()),
        };
        let events = match input.events {
            Some(names) => checked_events(&names)?,
            None => current.map_or_else(|| WebhookEventType::ALL.to_vec(), |c| c.events.clone()),
        };
        Ok(Self {
            url,
            description,
            campaign_id,
            events,
            enabled: input
                .enabled
                .unwrap_or_else(|| current.is_none_or(|c| c.enabled)),
        })
    }
}

/// An absolute http(s) URL with a host, no credentials and no fragment. Credentials in the
/// URL would sit in the database and the delivery log; the signature is how the receiver
/// knows the sender.
fn checked_url(text: &str) -> Result<String, Invalid> {
    bounded_text("url", text, URL_MAX)?;
    let text = text.trim();
    if text.chars().any(char::is_control) {
        return Err(Invalid::new("url", "must not contain control characters"));
    }
    let url = url::Url::parse(text).map_err(|e| {
        Invalid::new(
            "url",
            format!("is not a URL ({e}); write it as https://host/path"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Invalid::new("url", "must start with https:// or http://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Invalid::new("url", "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Invalid::new(
            "url",
            "must not contain a user name or password: check the signature instead",
        ));
    }
    if url.fragment().is_some() {
        return Err(Invalid::new("url", "must not have a #fragment"));
    }
    Ok(url.to_string())
}

fn checked_events(names: &[String]) -> Result<Vec<WebhookEventType>, Invalid> {
    if names.is_empty() || names.len() > WebhookEventType::ALL.len() {
        return Err(Invalid::new(
            "events",
            "must name one to three event types, each once",
        ));
    }
    let mut out = Vec::new();
    for name in names {
        let t = WebhookEventType::parse(name.trim()).ok_or_else(|| {
            let known: Vec<_> = WebhookEventType::ALL.iter().map(|t| t.as_str()).collect();
            Invalid::new(
                "events",
                format!(
                    "\"{}\" is not an event type; use {}",
                    name.chars()
                        .filter(|c| !c.is_control())
                        .take(40)
                        .collect::<String>(),
                    known.join(", ")
                ),
            )
        })?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    // In one order, whatever the order asked: the stored list compares equal.
    out.sort_by_key(|t| WebhookEventType::ALL.iter().position(|a| a == t));
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed; only a redelivery sends it again.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// One event sent (or to be sent) to one endpoint: the delivery log's line.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: i64,
    pub endpoint_id: String,
    /// The event's id: the body's `id` and every attempt's `Idempotency-Key`.
    pub event_id: String,
    pub event_type: WebhookEventType,
    pub call_id: Option<String>,
    pub status: DeliveryStatus,
    /// Attempts made since it was enqueued (or last redelivered).
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    /// The endpoint's HTTP status at the last attempt, when it answered.
    pub response_status: Option<u16>,
    /// Why the last attempt failed.
    pub error: Option<String>,
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// How long to wait after failed attempt number `attempts` (1 for the first), before jitter:
/// `base`, then three times the wait before, at most 12 hours; `None` once `MAX_ATTEMPTS`
/// have been made. With the default base of one minute: 1, 3, 9, 27, 81 minutes, 4 h 3 min,
/// 12 h, about 18 hours from first attempt to last.
pub fn retry_wait_ms(base_ms: u64, attempts: u32) -> Option<u64> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let factor = u64::from(BACKOFF_FACTOR).saturating_pow(attempts.saturating_sub(1));
    Some(base_ms.saturating_mul(factor).min(MAX_WAIT_MS))
}

/// `wait_ms` spread by `jitter` in [-1, 1] to ±20%, so endpoints that failed together do
/// not all retry in the same instant.
pub fn jittered(wait_ms: u64, jitter: f64) -> u64 {
    let spread = 1.0 + 0.2 * jitter.clamp(-1.0, 1.0);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let ms = (wait_ms as f64 * spread).round() as u64;
    ms.max(1)
}

/// The body every endpoint is sent for one event: `{"id", "type", "created_at", "data"}`.
pub fn envelope(
    event_id: &str,
    event_type: WebhookEventType,
    created_at: Timestamp,
    data: &serde_json::Value,
) -> String {
    serde_json::json!({
        "id": event_id,
        "type": event_type,
        "created_at": created_at,
        "data": data,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(url: &str) -> WebhookInput {
        WebhookInput {
            url: Some(url.into()),
            ..WebhookInput::default()
        }
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_no_credentials() {
        let ok = WebhookFields::new(input(" https://crm.example.com/hooks?x=1 ")).unwrap();
        assert_eq!(ok.url, "https://crm.example.com/hooks?x=1");
        assert_eq!(
            ok.events,
            WebhookEventType::ALL.to_vec(),
            "all events by default"
        );
        assert!(ok.enabled);
        for bad in [
            "",
            "crm.example.com",
            "ftp://crm.example.com",
            "https://user:pw@crm.example.com",
            "https://crm.example.com/#top",
            "https://crm.exa\u{0}mple.com",
            "http://a\tb.com",
        ] {
            let e = WebhookFields::new(input(bad)).unwrap_err();
            assert_eq!(e.field, "url", "{bad:?}");
            assert!(!e.message.contains("pw"), "never echoes a password");
        }
        let long = format!("https://x.com/{}", "a".repeat(URL_MAX));
        assert_eq!(WebhookFields::new(input(&long)).unwrap_err().field, "url");
        assert_eq!(
            WebhookFields::new(WebhookInput::default())
                .unwrap_err()
                .field,
            "url",
            "a new endpoint needs a URL"
        );
    }

    #[test]
    fn events_are_known_deduplicated_and_not_empty() {
        let mut i = input("https://x.com");
        i.events = Some(vec![
            "call.ended".into(),
            "call.started".into(),
            "call.ended".into(),
        ]);
        assert_eq!(
            WebhookFields::new(i.clone()).unwrap().events,
            vec![WebhookEventType::CallStarted, WebhookEventType::CallEnded]
        );
        i.events = Some(vec![]);
        assert_eq!(WebhookFields::new(i.clone()).unwrap_err().field, "events");
        i.events = Some(vec!["call.exploded".into()]);
        assert_eq!(WebhookFields::new(i).unwrap_err().field, "events");
    }

    #[test]
    fn an_update_keeps_what_it_leaves_out_and_null_clears_the_campaign() {
        let t = Timestamp::from_millis(0);
        let current = WebhookEndpoint {
            id: "w".into(),
            url: "https://x.com/".into(),
            description: "CRM".into(),
            campaign_id: Some("c1".into()),
            events: vec![WebhookEventType::CallEnded],
            enabled: false,
            created_at: t,
            updated_at: t,
        };
        let kept = WebhookFields::apply(Some(&current), WebhookInput::default()).unwrap();
        assert_eq!(
            (kept.url.as_str(), kept.campaign_id.as_deref(), kept.enabled),
            ("https://x.com/", Some("c1"), false)
        );
        assert_eq!(kept.events, vec![WebhookEventType::CallEnded]);
        let cleared = WebhookFields::apply(
            Some(&current),
            WebhookInput {
                campaign_id: Some(None),
                ..WebhookInput::default()
            },
        )
        .unwrap();
        assert_eq!(cleared.campaign_id, None);
    }

    #[test]
    fn the_retry_schedule_triples_and_gives_up_after_eight_attempts() {
        let waits: Vec<_> = (1..=MAX_ATTEMPTS)
            .map(|a| retry_wait_ms(60_000, a))
            .collect();
        assert_eq!(
            waits,
            vec![
                Some(60_000),
                Some(180_000),
                Some(540_000),
                Some(1_620_000),
                Some(4_860_000),
                Some(14_580_000),
                Some(MAX_WAIT_MS),
                None
            ]
        );
        let total: u64 = waits.iter().flatten().sum();
        assert!(
            (17 * 3600 * 1000..24 * 3600 * 1000).contains(&total),
            "about a day of retries: {total} ms"
        );
        assert_eq!(jittered(1000, 1.0), 1200);
        assert_eq!(jittered(1000, -1.0), 800);
        assert_eq!(jittered(0, 0.0), 1, "never a zero wait");
    }
}
