//! `/api/settings`: the public webhook base URL and other plain settings, with the exact
//! URLs to paste into each carrier's console.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::normalise_public_url;
use crate::domain::Invalid;
use crate::domain::phone::is_known_region;
use crate::domain::{CallingHours, EchoMode};
use crate::engine::Engine;
use crate::events::Event;
use crate::settings::{
    AUDIO_INPUT, AUDIO_OUTPUT, CALLING_HOURS, DEFAULT_REGION, ECHO_MODE, PUBLIC_URL,
    RECORDING_RETENTION_DAYS, TELNYX_CONNECTION,
};

/// Ten years: past that, "keep" is what is meant.
const RETENTION_MAX_DAYS: u32 = 3650;
use crate::telephony::WebhookUrls;
use crate::web::{ApiResult, ErrorBody, Json};

#[derive(Debug, Serialize, ToSchema)]
pub struct Settings {
    /// The base URL carriers reach this engine at; `null` until set.
    pub public_base_url: Option<String>,
    /// True when the URL comes from `--public-url`/`WEBHOOK_BASE_URL` and overrides the saved one.
    pub public_base_url_from_config: bool,
    /// ISO 3166 region (e.g. `US`) for numbers typed in national form; `null` means E.164 only.
    pub default_region: Option<String>,
    /// The Telnyx Call Control application (connection) Telnyx calls are placed on; `null`
    /// until set (inbound calls need none).
    pub telnyx_connection_id: Option<String>,
    /// Where to point each carrier, derived from the public base URL; `null` until it is set.
    pub webhook_urls: Option<WebhookUrls>,
    /// False only when the engine was started with `--insecure-skip-webhook-signatures`
    /// (development): carrier webhooks are then accepted unsigned.
    pub webhook_signatures_checked: bool,
    /// The microphone test calls use (an id from `GET /api/audio`); `null` for the system default.
    pub audio_input: Option<String>,
    /// The speakers test calls and listen-in play through; `null` for the system default.
    pub audio_output: Option<String>,
    /// How a test call keeps the agent from hearing itself through the speakers.
    pub echo_mode: EchoMode,
    /// Days a call's recording is kept after the call; `null` keeps recordings until their
    /// call is deleted.
    pub recording_retention_days: Option<u32>,
    /// The calling-hours floor: campaign calls start only inside it in the lead's local time,
    /// and no campaign window may be wider. 08:00–21:00 (the legal limit) unless narrowed.
    pub calling_hours: CallingHours,
    /// Where this engine listens.
    pub control_addr: String,
    pub public_addr: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// An absolute http(s) URL, or `null` to clear it.
    #[serde(default, deserialize_with = "crate::domain::input::present")]
    #[schema(value_type = Option<String>)]
    pub public_base_url: Option<Option<String>>,
    /// A region code such as `US`, or `null` to accept E.164 only.
    #[serde(default, deserialize_with = "crate::domain::input::present")]
    #[schema(value_type = Option<String>)]
    pub default_region: Option<Option<String>>,
    /// The Telnyx connection id (Call Control application id), or `null` to clear it.
    #[serde(default, deserialize_with = "crate::domain::input::present")]
    #[schema(value_type = Option<String>)]
    pub telnyx_connection_id: Option<Option<String>>,
    /// A microphone id from `GET /api/audio`, or `null` for the system default.
    #[serde(default, deserialize_with = "crate::domain::input::present")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub audio_input: Option<Option<String>>,
    /// A speaker id from `GET /api/audio`, or `null` for the system default.
    #[serde(default, deserialize_with = "crate::domain::input::present")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub audio_output: Option<Option<String>>,
    pub echo_mode: Option<EchoMode>,
    /// Days to keep recordings after their call (1 to 3650), or `null` to keep them.
    #[serde(default, deserialize_with = "crate::domain::input::present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 3650)]
    pub recording_retention_days: Option<Option<u32>>,
    /// A narrower calling-hours floor (inside 08:00–21:00), or `null` for the legal default.
    #[serde(default, deserialize_with = "crate::domain::input::present")]
    #[schema(value_type = Option<CallingHours>)]
    pub calling_hours: Option<Option<CallingHours>>,
}

/// A device id as sent: kept as is (the device may be unplugged now and back later), bounded.
fn device_id(field: &'static str, id: Option<String>) -> Result<Option<String>, Invalid> {
    id.filter(|i| !i.trim().is_empty())
        .map(|i| {
            if i.chars().any(char::is_control) {
                return Err(Invalid::new(
                    field,
                    "must be a device id from GET /api/audio",
                ));
            }
            crate::domain::input::bounded_text(field, &i, 200)
        })
        .transpose()
}

async fn current(engine: &Engine) -> ApiResult<Settings> {
    let public = engine.public();
    Ok(Settings {
        public_base_url_from_config: public.as_ref().is_some_and(|p| p.from_config),
        webhook_urls: public.as_ref().map(|p| p.urls.clone()),
        public_base_url: public.map(|p| p.base.clone()),
        default_region: engine.default_region(),
        telnyx_connection_id: engine.settings().get(TELNYX_CONNECTION),
        audio_input: engine.settings().get(AUDIO_INPUT),
        audio_output: engine.settings().get(AUDIO_OUTPUT),
        echo_mode: engine
            .settings()
            .get(ECHO_MODE)
            .and_then(|m| EchoMode::parse(&m))
            .unwrap_or_default(),
        recording_retention_days: engine
            .settings()
            .get(RECORDING_RETENTION_DAYS)
            .and_then(|d| d.parse().ok()),
        calling_hours: engine.settings().calling_hours(),
        webhook_signatures_checked: !engine.config().insecure_skip_webhook_signatures,
        control_addr: engine.control_addr().to_string(),
        public_addr: engine.public_addr().to_string(),
    })
}

#[utoipa::path(operation_id = "get_settings", get, path = "/api/settings", tag = "settings",
    responses((status = 200, body = Settings), (status = 401, body = ErrorBody)))]
pub async fn get(State(engine): State<Engine>) -> ApiResult<axum::Json<Settings>> {
    Ok(axum::Json(current(&engine).await?))
}

/// Changes the settings sent; fields left out keep their values. All or nothing.
#[utoipa::path(operation_id = "update_settings", put, path = "/api/settings", tag = "settings", request_body = SettingsInput,
    responses(
        (status = 200, body = Settings),
        (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update(
    State(engine): State<Engine>,
    Json(input): Json<SettingsInput>,
) -> ApiResult<axum::Json<Settings>> {
    let mut changes = Vec::new();
    let moved_url = input.public_base_url.is_some();
    if let Some(url) = input.public_base_url {
        let value = url
            .filter(|u| !u.trim().is_empty())
            .map(|u| {
                normalise_public_url(&u).map_err(|e| Invalid::new("public_base_url", e.to_string()))
            })
            .transpose()?;
        changes.push((PUBLIC_URL, value));
    }
    if let Some(region) = input.default_region {
        let value = region
            .map(|r| r.trim().to_ascii_uppercase())
            .filter(|r| !r.is_empty())
            .map(|r| {
                if is_known_region(&r) {
                    Ok(r)
                } else {
                    Err(Invalid::new(
                        "default_region",
                        format!("\"{r}\" is not a known two-letter region code such as US or GB"),
                    ))
                }
            })
            .transpose()?;
        changes.push((DEFAULT_REGION, value));
    }
    if let Some(id) = input.telnyx_connection_id {
        let value = id
            .map(|i| i.trim().to_owned())
            .filter(|i| !i.is_empty())
            .map(|i| {
                if i.len() <= 64 && i.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                    Ok(i)
                } else {
                    Err(Invalid::new(
                        "telnyx_connection_id",
                        "must be the connection's id as Telnyx shows it (letters, digits, - and _, at most 64)",
                    ))
                }
            })
            .transpose()?;
        changes.push((TELNYX_CONNECTION, value));
    }
    if let Some(id) = input.audio_input {
        changes.push((AUDIO_INPUT, device_id("audio_input", id)?));
    }
    if let Some(id) = input.audio_output {
        changes.push((AUDIO_OUTPUT, device_id("audio_output", id)?));
    }
    if let Some(mode) = input.echo_mode {
        changes.push((ECHO_MODE, Some(mode.as_str().to_owned())));
    }
    let retention = input.recording_retention_days.is_some();
    if let Some(days) = input.recording_retention_days {
        if days.is_some_and(|d| !(1..=RETENTION_MAX_DAYS).contains(&d)) {
            return Err(Invalid::new(
                "recording_retention_days",
                format!(
                    "must be between 1 and {RETENTION_MAX_DAYS} days, or null to keep recordings"
                ),
            )
            .into());
        }
        changes.push((RECORDING_RETENTION_DAYS, days.map(|d| d.to_string())));
    }
    if let Some(hours) = input.calling_hours {
        let value = hours
            .map(|h| {
                h.validate()?;
                Ok::<_, Invalid>(serde_json::to_string(&h).expect("plain strings"))
            })
            .transpose()?;
        changes.push((CALLING_HOURS, value));
    }
    let before = engine.public();
    engine.settings().write(&changes).await?;
    if !changes.is_empty() {
        engine.events().publish(Event::SettingsChanged);
    }
    if retention {
        // A shorter retention applies before the answer, not at the next hourly sweep.
        crate::recordings::upkeep::sweep(&engine).await;
    }
    if moved_url && engine.public() != before {
        // Retell agents report to the public URL: move them in the background (Retell may be
        // slow); one Retell refuses keeps its old URL on record, which the agent list shows.
        let engine = engine.clone();
        tokio::spawn(async move {
            crate::retell::provision::repoint_all(&engine).await;
        });
    }
    Ok(axum::Json(current(&engine).await?))
}
