//! `/api/audio`: this machine's microphones and speakers, a test tone and a level meter, for
//! the Settings page (test calls and listen-in use the devices chosen there).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audio::{self, AudioError, DeviceInfo, Level};
use crate::engine::Engine;
use crate::settings::{AUDIO_INPUT, AUDIO_OUTPUT};
use crate::web::{ApiError, ApiResult, ErrorBody, ErrorCode, Json};

impl From<AudioError> for ApiError {
    fn from(e: AudioError) -> Self {
        // A device that is not there (or busy, or refused) is the request meeting the
        // machine's present state; no sound system at all, or one that broke, is the engine's.
        let status = match e {
            AudioError::NoSuchDevice { .. }
            | AudioError::DeviceBusy { .. }
            | AudioError::PermissionDenied { .. }
            | AudioError::UnsupportedFormat { .. } => StatusCode::CONFLICT,
            AudioError::NoSoundServer(_)
            | AudioError::DeviceLost { .. }
            | AudioError::Device { .. }
            | AudioError::Closed => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, ErrorCode::AudioUnavailable, e.to_string())
    }
}

/// A device call that panicked (a bug, or a broken sound library): said, not hidden.
fn crashed(e: tokio::task::JoinError) -> ApiError {
    tracing::error!(error = %e, "an audio device call failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        "the audio device call failed; see the log",
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AudioDevices {
    /// False when no sound server or device can be reached; `problem` says why. Everything
    /// but test calls and listen-in works without audio.
    pub available: bool,
    pub problem: Option<String>,
    /// The sound system in use (ALSA, through PulseAudio or PipeWire when they run).
    pub host: Option<String>,
    pub inputs: Vec<DeviceInfo>,
    pub outputs: Vec<DeviceInfo>,
    /// The chosen devices (`null`: the system default).
    pub input: Option<String>,
    pub output: Option<String>,
}

/// Lists the microphones and speakers, with the ones chosen in Settings.
#[utoipa::path(operation_id = "list_audio_devices", get, path = "/api/audio", tag = "audio",
    responses((status = 200, body = AudioDevices)))]
pub async fn devices(State(engine): State<Engine>) -> ApiResult<axum::Json<AudioDevices>> {
    let found = tokio::task::spawn_blocking(audio::devices)
        .await
        .map_err(crashed)?;
    let settings = engine.settings();
    let (input, output) = (settings.get(AUDIO_INPUT), settings.get(AUDIO_OUTPUT));
    Ok(axum::Json(match found {
        Ok(d) => AudioDevices {
            available: !d.outputs.is_empty() || !d.inputs.is_empty(),
            problem: (d.outputs.is_empty() && d.inputs.is_empty())
                .then(|| "no microphone or speaker was found".to_owned()),
            host: Some(d.host),
            inputs: d.inputs,
            outputs: d.outputs,
            input,
            output,
        },
        Err(e) => AudioDevices {
            available: false,
            problem: Some(e.to_string()),
            host: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            input,
            output,
        },
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToneRequest {
    /// A speaker id from `GET /api/audio`; the chosen (or default) speaker when left out.
    #[schema(max_length = 200)]
    pub output: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TonePlayed {
    pub frequency_hz: f32,
    pub duration_ms: u64,
}

const TONE_HZ: f32 = 440.0;
const TONE: Duration = Duration::from_millis(1000);
const TONE_DBFS: f32 = -12.0;

/// Plays a one-second 440 Hz tone through the speaker, and returns once it has played.
#[utoipa::path(operation_id = "play_test_tone", post, path = "/api/audio/tone", tag = "audio",
    request_body = ToneRequest,
    responses(
        (status = 200, body = TonePlayed),
        (status = 409, body = ErrorBody, description = "No such speaker now, or it is busy"),
        (status = 503, body = ErrorBody, description = "No sound server, or the speaker failed"),
    ))]
pub async fn tone(
    State(engine): State<Engine>,
    Json(req): Json<ToneRequest>,
) -> ApiResult<axum::Json<TonePlayed>> {
    let output = req.output.or_else(|| engine.settings().get(AUDIO_OUTPUT));
    tokio::task::spawn_blocking(move || {
        audio::play_tone(output.as_deref(), TONE_HZ, TONE, TONE_DBFS)
    })
    .await
    .map_err(crashed)??;
    Ok(axum::Json(TonePlayed {
        frequency_hz: TONE_HZ,
        duration_ms: TONE.as_millis() as u64,
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelRequest {
    /// A microphone id from `GET /api/audio`; the chosen (or default) one when left out.
    #[schema(max_length = 200)]
    pub input: Option<String>,
}

/// How long one level reading listens: short enough for a meter that updates as you speak.
const LEVEL_WINDOW: Duration = Duration::from_millis(250);

/// Listens to the microphone for a quarter of a second: its RMS and peak level, in dBFS.
#[utoipa::path(operation_id = "measure_audio_level", post, path = "/api/audio/level", tag = "audio",
    request_body = LevelRequest,
    responses(
        (status = 200, body = Level),
        (status = 409, body = ErrorBody, description = "No such microphone now, or it is busy"),
        (status = 503, body = ErrorBody, description = "No sound server, or the microphone failed"),
    ))]
pub async fn level(
    State(engine): State<Engine>,
    Json(req): Json<LevelRequest>,
) -> ApiResult<axum::Json<Level>> {
    let input = req.input.or_else(|| engine.settings().get(AUDIO_INPUT));
    let level =
        tokio::task::spawn_blocking(move || audio::measure_level(input.as_deref(), LEVEL_WINDOW))
            .await
            .map_err(crashed)??;
    Ok(axum::Json(level))
}
