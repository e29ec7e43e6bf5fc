//! Opening a call's voice session, and the small timing helper the bridge's loops share.

use crate::engine::Engine;
use crate::secrets::Provider;
use crate::voice::openai_realtime::OpenAiRealtime;
use crate::voice::{VoiceConfig, VoiceError};

/// Connects a session of the configured backend with the stored credentials.
pub(super) async fn connect(
    engine: &Engine,
    config: &VoiceConfig,
) -> Result<OpenAiRealtime, VoiceError> {
    let credentials = engine
        .secrets()
        .credentials(Provider::Openai)
        .await
        .map_err(|e| VoiceError::Refused(format!("no OpenAI credentials: {e}")))?;
    OpenAiRealtime::connect(
        &engine.config().openai_realtime_url,
        credentials.get("api_key"),
        config,
    )
    .await
}

/// Sleeps until `at` (the select branch using it is disabled when there is none).
pub(super) async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
