//! The Telnyx Call Control API client: commands on a call (`answer`, `reject`, `hangup`).
//! Network errors and 5xx are retried with exponential backoff; 4xx are not (the request
//! itself is wrong); the carrier's own error message is surfaced.

use serde_json::{Value, json};

use crate::telephony::rest::{self as http, CarrierApiError};

pub type TelnyxError = CarrierApiError;

/// "Call has already ended": the outcome a hangup wanted anyway.
pub fn is_call_already_ended(e: &TelnyxError) -> bool {
    e.code() == Some("90018")
}

/// Numbers asked for per page of `GET /phone_numbers`.
const NUMBERS_PAGE_SIZE: u32 = 250;

/// The most numbers one search offers.
const SEARCH_LIMIT: u32 = 30;

/// `id` as one URL path segment.
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

#[derive(Clone)]
pub struct TelnyxClient {
    http: reqwest::Client,
    /// For recordings' files, which take longer than an API reply.
    download: reqwest::Client,
    base: String,
}

/// A command's fields with a bidirectional PCMU media stream to `stream_url` (the caller's
/// track in, ours back to them; silence while idle), `client_state` riding along, and
/// `command_id` so a repeated request is not acted on twice (protocols/telnyx.md §3.1, §3.6).
fn with_stream(mut fields: Value, stream_url: &str, client_state: &str, command_id: &str) -> Value {
    let stream = json!({
        "stream_url": stream_url,
        "stream_track": "inbound_track",
        "stream_codec": "PCMU",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": "PCMU",
        "stream_bidirectional_target_legs": "self",
        "send_silence_when_idle": true,
        "client_state": client_state,
        "command_id": command_id,
    });
    if let (Value::Object(fields), Value::Object(stream)) = (&mut fields, stream) {
        fields.extend(stream);
    }
    fields
}

/// Answer-command fields for a bidirectional PCMU media stream (§3.1).
pub fn answer_with_stream(stream_url: &str, client_state: &str, command_id: &str) -> Value {
    with_stream(json!({}), stream_url, client_state, command_id)
}

/// Dial-command fields (§3.6): a bidirectional PCMU stream from the start, our call id as
/// client state.
pub fn dial_with_stream(
    connection_id: &str,
    to: &str,
    from: &str,
    stream_url: &str,
    client_state: &str,
    detect_machine: bool,
) -> Value {
    let mut body = json!({
        "connection_id": connection_id,
        "to": to,
        "from": from,
        "timeout_secs": 30,
    });
    if detect_machine {
        body["answering_machine_detection"] = json!("detect");
    }
    with_stream(
        body,
        stream_url,
        client_state,
        &format!("dial-{client_state}"),
    )
}

impl TelnyxClient {
    /// `POST /calls`; returns the new call's `call_control_id`. Not repeated once sent.
    pub async fn dial(&self, api_key: &str, body: &Value) -> Result<String, TelnyxError> {
        let url = format!("{}/calls", self.base);
        let reply = http::send_with(
            http::Retry::UnsentOnly,
            "Telnyx",
            "dial",
            || self.http.post(&url).bearer_auth(api_key).json(body),
            error_message,
        )
        .await?;
        let v: Value = serde_json::from_str(&reply).unwrap_or(Value::Null);
        v["data"]["call_control_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| http::CarrierApiError::Unconfirmed {
                carrier: "Telnyx",
                action: "dial".into(),
                last: "the reply carried no call_control_id".into(),
            })
    }

    /// Whether a call is still up (`GET /calls/{call_control_id}`: `data.is_alive`).
    pub async fn is_alive(
        &self,
        api_key: &str,
        call_control_id: &str,
    ) -> Result<bool, TelnyxError> {
        let url = format!("{}/calls/{}", self.base, segment(call_control_id));
        let reply = http::send(
            "Telnyx",
            "look up the call",
            || self.http.get(&url).bearer_auth(api_key),
            error_message,
        )
        .await;
        match reply {
            Ok(body) => {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                Ok(v["data"]["is_alive"].as_bool().unwrap_or(false))
            }
            // An unknown or finished call is not alive.
            Err(e) if matches!(&e, http::CarrierApiError::Refused { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every number on the account (`GET /phone_numbers`, every page; §8.3).
    pub async fn list_numbers(&self, api_key: &str) -> Result<Vec<Value>, TelnyxError> {
        let mut numbers = Vec::new();
        for page in 1.. {
            let url = format!(
                "{}/phone_numbers?page[number]={page}&page[size]={NUMBERS_PAGE_SIZE}",
                self.base
            );
            let v = self
                .read(api_key, "list the account's numbers", &url)
                .await?;
            let data = v["data"]
                .as_array()
                .ok_or_else(|| http::CarrierApiError::Unconfirmed {
                    carrier: "Telnyx",
                    action: "list the account's numbers".into(),
                    last: "the reply had no list of numbers".into(),
                })?;
            numbers.extend(data.iter().cloned());
            let pages = v["meta"]["total_pages"].as_u64().unwrap_or(1);
            if data.is_empty() || page >= pages {
                break;
            }
        }
        Ok(numbers)
    }

    /// Numbers for sale (§8.1): voice-capable, at most [`SEARCH_LIMIT`]. `filters` are the
    /// `filter[…]` keys and values, encoded here.
    pub async fn search_numbers(
        &self,
        api_key: &str,
        filters: &[(&str, &str)],
    ) -> Result<Vec<Value>, TelnyxError> {
        let mut url = format!(
            "{}/available_phone_numbers?filter[features]=voice&filter[limit]={SEARCH_LIMIT}",
            self.base
        );
        for (k, v) in filters {
            url.push_str(&format!("&filter[{k}]={}", segment(v)));
        }
        let v = self.read(api_key, "search for numbers", &url).await?;
        Ok(v["data"].as_array().cloned().unwrap_or_default())
    }

    /// Orders numbers (`POST /number_orders`, §8.2): the order's `data`. Never repeated once
    /// sent: a second order could buy a second number.
    pub async fn order_numbers(&self, api_key: &str, body: &Value) -> Result<Value, TelnyxError> {
        let url = format!("{}/number_orders", self.base);
        let reply = http::send_with(
            http::Retry::UnsentOnly,
            "Telnyx",
            "buy the number",
            || self.http.post(&url).bearer_auth(api_key).json(body),
            error_message,
        )
        .await?;
        let v: Value = serde_json::from_str(&reply).unwrap_or(Value::Null);
        match &v["data"] {
            d if d["id"].is_string() => Ok(d.clone()),
            _ => Err(http::CarrierApiError::Unconfirmed {
                carrier: "Telnyx",
                action: "buy the number".into(),
                last: "the reply carried no order".into(),
            }),
        }
    }

    /// Number order `id` as it stands (§8.2): its `data`.
    pub async fn number_order(&self, api_key: &str, id: &str) -> Result<Value, TelnyxError> {
        let url = format!("{}/number_orders/{}", self.base, segment(id));
        let v = self.read(api_key, "read the number order", &url).await?;
        Ok(v["data"].clone())
    }

    /// The account's number `e164` (`GET /phone_numbers?filter[phone_number]=…`, §8.3).
    pub async fn find_number(
        &self,
        api_key: &str,
        e164: &str,
    ) -> Result<Option<Value>, TelnyxError> {
        let url = format!(
            "{}/phone_numbers?filter[phone_number]={}",
            self.base,
            segment(e164)
        );
        let v = self.read(api_key, "look for the number", &url).await?;
        Ok(v["data"]
            .as_array()
            .and_then(|all| all.iter().find(|n| n["phone_number"] == e164))
            .cloned())
    }

    /// The account's approved requirement groups for ordering numbers of `number_type` in
    /// `country` (§8.5). The list is a bare array per Telnyx's SDK; a `data` envelope is
    /// read too, the wire shape being unconfirmed.
    pub async fn requirement_groups(
        &self,
        api_key: &str,
        country: &str,
        number_type: &str,
    ) -> Result<Vec<Value>, TelnyxError> {
        let url = format!(
            "{}/requirement_groups?filter[country_code]={}&filter[phone_number_type]={}\
             &filter[action]=ordering&filter[status]=approved",
            self.base,
            segment(country),
            segment(number_type)
        );
        let v = self
            .read(api_key, "list the account's requirement groups", &url)
            .await?;
        let list = v.as_array().or_else(|| v["data"].as_array());
        Ok(list.cloned().unwrap_or_default())
    }

    /// The Call Control application `id` (§8.4): its `data`.
    pub async fn application(&self, api_key: &str, id: &str) -> Result<Value, TelnyxError> {
        let url = format!("{}/call_control_applications/{}", self.base, segment(id));
        let v = self
            .read(api_key, "read the Call Control application", &url)
            .await?;
        Ok(v["data"].clone())
    }

    /// Sends the application's webhooks to `webhook_url` (§8.4: `application_name` is required
    /// on update, so the current one is sent back). Repeating it does no harm.
    pub async fn set_application_webhook(
        &self,
        api_key: &str,
        id: &str,
        application_name: &str,
        webhook_url: &str,
    ) -> Result<(), TelnyxError> {
        let url = format!("{}/call_control_applications/{}", self.base, segment(id));
        let body = json!({"application_name": application_name, "webhook_event_url": webhook_url});
        self.patch(
            api_key,
            "point the Call Control application here",
            &url,
            &body,
        )
        .await
        .map(drop)
    }

    /// Routes number `id`'s calls to the Call Control application `connection_id` (§8.3);
    /// the number as it now is.
    pub async fn set_number_connection(
        &self,
        api_key: &str,
        id: &str,
        connection_id: &str,
    ) -> Result<Value, TelnyxError> {
        let url = format!("{}/phone_numbers/{}", self.base, segment(id));
        let body = json!({ "connection_id": connection_id });
        let v = self
            .patch(api_key, "route the number to Switchboard", &url, &body)
            .await?;
        Ok(v["data"].clone())
    }

    /// Releases number `id` (`DELETE /phone_numbers/{id}`); one already gone counts as released.
    pub async fn release_number(&self, api_key: &str, id: &str) -> Result<(), TelnyxError> {
        let url = format!("{}/phone_numbers/{}", self.base, segment(id));
        let done = http::send(
            "Telnyx",
            "release the number",
            || self.http.delete(&url).bearer_auth(api_key),
            error_message,
        )
        .await;
        match done {
            Ok(_) | Err(http::CarrierApiError::Refused { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn read(&self, api_key: &str, action: &str, url: &str) -> Result<Value, TelnyxError> {
        let body = http::send(
            "Telnyx",
            action,
            || self.http.get(url).bearer_auth(api_key),
            error_message,
        )
        .await?;
        Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// A `PATCH` (it sets values, so a repeat is harmless and it is retried as any request).
    async fn patch(
        &self,
        api_key: &str,
        action: &str,
        url: &str,
        body: &Value,
    ) -> Result<Value, TelnyxError> {
        let reply = http::send(
            "Telnyx",
            action,
            || self.http.patch(url).bearer_auth(api_key).json(body),
            error_message,
        )
        .await?;
        Ok(serde_json::from_str(&reply).unwrap_or(Value::Null))
    }

    pub fn new(base: impl Into<String>) -> Self {
        Self {
            http: http::client(),
            download: http::download_client(),
            base: base.into().trim_end_matches('/').to_owned(),
        }
    }

    /// A recording's file from the URL `call.recording.saved` gave (pre-signed: no
    /// credentials go with it).
    pub async fn recording_file(&self, url: &str) -> Result<Vec<u8>, TelnyxError> {
        http::download(
            "Telnyx",
            "fetch the call's recording",
            || self.download.get(url),
            error_message,
        )
        .await
    }

    /// `POST /calls/{call_control_id}/actions/{action}` with `body`.
    pub async fn command(
        &self,
        api_key: &str,
        call_control_id: &str,
        action: &str,
        body: &Value,
    ) -> Result<(), TelnyxError> {
        let url = format!(
            "{}/calls/{}/actions/{action}",
            self.base,
            segment(call_control_id)
        );
        http::send(
            "Telnyx",
            action,
            || self.http.post(&url).bearer_auth(api_key).json(body),
            error_message,
        )
        .await
        .map(drop)
    }
}

/// The code and readable message of a Telnyx error body (`{"errors": [{code, title, detail}]}`).
fn error_message(body: &str) -> (Option<String>, String) {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let first = parsed.as_ref().and_then(|v| v["errors"].get(0));
    match first {
        Some(e) => {
            let code = e["code"].as_str().map(str::to_owned);
            let title = e["title"].as_str().unwrap_or("error");
            let message = match e["detail"].as_str() {
                Some(d) if d != title => format!("{title}: {d}"),
                _ => title.to_owned(),
            };
            (code, message)
        }
        None => (None, body.chars().take(200).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_telnyx_error_bodies() {
        let body = r#"{"errors":[{"code":"90018","title":"Call has already ended","detail":"This call is no longer active and can't receive commands."}]}"#;
        let (code, message) = error_message(body);
        assert_eq!(code.as_deref(), Some("90018"));
        assert_eq!(
            message,
            "Call has already ended: This call is no longer active and can't receive commands."
        );
        assert_eq!(
            error_message("gateway timeout"),
            (None, "gateway timeout".into())
        );
    }
}
