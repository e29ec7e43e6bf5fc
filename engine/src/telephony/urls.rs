//! The public listener's routes and the URLs carriers are given from the public base URL:
//! where they send webhooks and open media streams. Paths are the public contract with each
//! carrier's console; the routes in `carriers/` are mounted on exactly these.

use serde::Serialize;
use utoipa::ToSchema;

pub const TWILIO_VOICE_PATH: &str = "/webhooks/twilio/voice";
pub const TWILIO_STATUS_PATH: &str = "/webhooks/twilio/status";
pub const TWILIO_STREAM_STATUS_PATH: &str = "/webhooks/twilio/stream-status";
pub const TWILIO_AMD_PATH: &str = "/webhooks/twilio/amd";
/// Where Twilio says a recording it made of a call (at our request) is ready.
pub const TWILIO_RECORDING_PATH: &str = "/webhooks/twilio/recording";
/// A warm transfer's call to a person: its progress, and where it asks what to do once the
/// person has heard the summary (the transfer's id in the query).
pub const TWILIO_TRANSFER_PATH: &str = "/webhooks/twilio/transfer";
pub const TWILIO_TRANSFER_READY_PATH: &str = "/webhooks/twilio/transfer-ready";
pub const TELNYX_WEBHOOK_PATH: &str = "/webhooks/telnyx";
pub const LIVEKIT_WEBHOOK_PATH: &str = "/webhooks/livekit";
/// Where Retell reports the calls handed over to it; each Retell agent is given it.
pub const RETELL_WEBHOOK_PATH: &str = "/webhooks/retell";
pub const TWILIO_MEDIA_PATH: &str = "/media/twilio";
pub const TELNYX_MEDIA_PATH: &str = "/media/telnyx";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct WebhookUrls {
    /// Twilio number → Voice configuration → "A call comes in" (HTTP POST).
    pub twilio_voice: String,
    /// Twilio number → "Call status changes" (HTTP POST).
    pub twilio_status: String,
    /// Telnyx Call Control application → Webhook URL (API v2).
    pub telnyx: String,
    /// Media WebSocket URLs Switchboard hands the carriers when it answers (from this node's
    /// own base, `--node-url`, when nodes share the webhooks' base behind a load balancer).
    pub twilio_media: String,
    pub telnyx_media: String,
    /// Where Twilio reports a media stream's fate; set in the TwiML, nothing to paste.
    pub twilio_stream_status: String,
}

impl WebhookUrls {
    pub fn from_base(base: &str) -> Self {
        let ws = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base.to_owned()
        };
        Self {
            twilio_voice: format!("{base}{TWILIO_VOICE_PATH}"),
            twilio_status: format!("{base}{TWILIO_STATUS_PATH}"),
            telnyx: format!("{base}{TELNYX_WEBHOOK_PATH}"),
            twilio_media: format!("{ws}{TWILIO_MEDIA_PATH}"),
            telnyx_media: format!("{ws}{TELNYX_MEDIA_PATH}"),
            twilio_stream_status: format!("{base}{TWILIO_STREAM_STATUS_PATH}"),
        }
    }
}

/// The public base URL in force and the URLs carriers are given from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    pub base: String,
    /// From `--public-url` / `WEBHOOK_BASE_URL` rather than Settings.
    pub from_config: bool,
    pub urls: WebhookUrls,
}

impl PublicUrl {
    pub fn new(base: String, from_config: bool) -> Self {
        Self {
            urls: WebhookUrls::from_base(&base),
            base,
            from_config,
        }
    }

    /// Media streams go to `node` (this node's own base) rather than the shared base.
    pub fn with_node(mut self, node: Option<&str>) -> Self {
        if let Some(node) = node {
            let own = WebhookUrls::from_base(node);
            self.urls.twilio_media = own.twilio_media;
            self.urls.telnyx_media = own.telnyx_media;
        }
        self
    }

    /// The public URL of a request to the public listener, as the carrier addressed it.
    pub fn of_request(&self, uri: &axum::http::Uri) -> String {
        let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        format!("{}{path_and_query}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_base_and_media_goes_over_websockets() {
        let u = WebhookUrls::from_base("https://abc.ngrok.app/sb");
        assert_eq!(
            u.twilio_voice,
            "https://abc.ngrok.app/sb/webhooks/twilio/voice"
        );
        assert_eq!(u.telnyx_media, "wss://abc.ngrok.app/sb/media/telnyx");
        let plain = WebhookUrls::from_base("http://127.0.0.1:7721");
        assert_eq!(plain.twilio_media, "ws://127.0.0.1:7721/media/twilio");
    }
}
