//! Retell's REST API (protocols/retell.md §2-§6, §12): the LLM and agent made for one of our
//! agents, and registering a call for dial-to-SIP. Bearer key from the keyring, JSON bodies.
//! Requests follow the carriers' rule (`telephony::rest`): a create or a register, whose
//! repeat would make a second object, is sent again only when it never left; updates and
//! deletes, which land the same however often they are sent, are retried on 5xx, 429 and
//! network errors. The key is never logged or put in an error.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::telephony::CarrierApiError;
use crate::telephony::rest::{self, Retry};

const RETELL: &str = "Retell";

/// Where a registered call is dialed: `sip:{call_id}@` this host (retell.md §7.2, §13).
pub const SIP_HOST: &str = "sip.retellai.com";

/// Why a Retell request failed.
#[derive(Debug, thiserror::Error)]
pub enum RetellError {
    #[error(transparent)]
    Api(#[from] CarrierApiError),
    #[error("Retell answered {action} with a body Switchboard cannot read: {reason}")]
    Unreadable { action: String, reason: String },
}

/// The dynamic variable that marks an LLM made by a setup with the setup's id.
const SETUP_VARIABLE: &str = "switchboard_setup";

/// What Retell is told about one of our agents.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    pub name: String,
    /// The agent's instructions: Retell's `general_prompt`.
    pub prompt: String,
    /// Retell's `begin_message`: `""` makes the agent wait for the caller (retell.md §3).
    pub greeting: String,
    pub voice_id: String,
    /// Where Retell reports the agent's calls.
    pub webhook_url: String,
}

/// A call to register for dial-to-SIP.
#[derive(Debug, Clone)]
pub struct Registration<'a> {
    pub agent_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// Our call's id, kept by Retell in the call's `metadata` and sent back in its webhooks.
    pub call_id: &'a str,
}

/// A client for one request's worth of work: the base URL and the key in force.
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Client {
    pub fn new(base: &str, key: &str) -> Self {
        Self {
            http: rest::client(),
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        }
    }

    /// `POST /create-retell-llm`; returns its `llm_id`.
    pub async fn create_llm(&self, spec: &AgentSpec) -> Result<String, RetellError> {
        self.create(
            "/create-retell-llm",
            &llm_body(spec),
            "llm_id",
            "creating the Retell LLM",
        )
        .await
    }

    /// `POST /create-retell-llm` marked as made by setup `setup` (a default dynamic variable:
    /// LLMs have no name), so a setup interrupted before the answer can find it again.
    pub async fn create_llm_for_setup(
        &self,
        spec: &AgentSpec,
        setup: &str,
    ) -> Result<String, RetellError> {
        let mut body = llm_body(spec);
        body["default_dynamic_variables"] = json!({ SETUP_VARIABLE: setup });
        self.create(
            "/create-retell-llm",
            &body,
            "llm_id",
            "creating the Retell LLM",
        )
        .await
    }

    /// `GET /v2/list-retell-llms`: the ids of the LLMs setup `setup` made.
    pub async fn llms_of_setup(&self, setup: &str) -> Result<Vec<String>, RetellError> {
        let llms = self
            .list("listing Retell LLMs", || {
                self.http.get(self.url("/v2/list-retell-llms"))
            })
            .await?;
        Ok(llms
            .iter()
            .filter(|l| l["default_dynamic_variables"][SETUP_VARIABLE] == setup)
            .filter_map(|l| l["llm_id"].as_str().map(str::to_owned))
            .collect())
    }

    /// `PATCH /update-retell-llm/{llm_id}`.
    pub async fn update_llm(&self, llm_id: &str, spec: &AgentSpec) -> Result<(), RetellError> {
        let body = llm_body(spec);
        let url = self.url(&format!("/update-retell-llm/{}", segment(llm_id)));
        self.send(Retry::Transient, "updating the Retell LLM", || {
            self.http.patch(&url).json(&body)
        })
        .await?;
        Ok(())
    }

    /// `DELETE /delete-retell-llm/{llm_id}`; one already gone (404) counts as deleted.
    pub async fn delete_llm(&self, llm_id: &str) -> Result<(), RetellError> {
        let url = self.url(&format!("/delete-retell-llm/{}", segment(llm_id)));
        self.delete(&url, "deleting the Retell LLM").await
    }

    /// `POST /create-agent` answering with `llm_id`; returns its `agent_id`.
    pub async fn create_agent(
        &self,
        llm_id: &str,
        spec: &AgentSpec,
    ) -> Result<String, RetellError> {
        let body = agent_body(Some(llm_id), spec);
        self.create(
            "/create-agent",
            &body,
            "agent_id",
            "creating the Retell agent",
        )
        .await
    }

    /// `POST /v2/list-agents`: the ids of the account's agents answered by `llm_id`.
    pub async fn agents_of_llm(&self, llm_id: &str) -> Result<Vec<String>, RetellError> {
        let agents = self
            .list("listing Retell agents", || {
                self.http.post(self.url("/v2/list-agents")).json(&json!({}))
            })
            .await?;
        Ok(agents
            .iter()
            .filter(|a| a["response_engine"]["llm_id"] == llm_id)
            .filter_map(|a| a["agent_id"].as_str().map(str::to_owned))
            .collect())
    }

    /// A `POST` that makes an object, never sent twice once it may have acted; returns the
    /// made object's `id_key`.
    async fn create(
        &self,
        path: &str,
        body: &Value,
        id_key: &str,
        action: &str,
    ) -> Result<String, RetellError> {
        let text = self
            .send(Retry::UnsentOnly, action, || {
                self.http.post(self.url(path)).json(body)
            })
            .await?;
        read_id(&text, id_key, action)
    }

    /// A list endpoint's objects (an array).
    async fn list(
        &self,
        action: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Vec<Value>, RetellError> {
        let text = self.send(Retry::Transient, action, request).await?;
        serde_json::from_str(&text).map_err(|e| RetellError::Unreadable {
            action: action.to_owned(),
            reason: e.to_string(),
        })
    }

    /// `PATCH /update-agent/{agent_id}` (its response engine stays).
    pub async fn update_agent(&self, agent_id: &str, spec: &AgentSpec) -> Result<(), RetellError> {
        let body = agent_body(None, spec);
        let url = self.url(&format!("/update-agent/{}", segment(agent_id)));
        self.send(Retry::Transient, "updating the Retell agent", || {
            self.http.patch(&url).json(&body)
        })
        .await?;
        Ok(())
    }

    /// `DELETE /delete-agent/{agent_id}`; one already gone (404) counts as deleted.
    pub async fn delete_agent(&self, agent_id: &str) -> Result<(), RetellError> {
        let url = self.url(&format!("/delete-agent/{}", segment(agent_id)));
        self.delete(&url, "deleting the Retell agent").await
    }

    /// `POST /v2/register-phone-call`; returns Retell's `call_id`, the SIP user to dial.
    pub async fn register_call(&self, call: &Registration<'_>) -> Result<String, RetellError> {
        let body = json!({
            "agent_id": call.agent_id,
            "direction": "inbound",
            "from_number": call.from,
            "to_number": call.to,
            "metadata": {"switchboard_call_id": call.call_id},
        });
        let text = self
            .send(
                Retry::UnsentOnly,
                "registering the call with Retell",
                || {
                    self.http
                        .post(self.url("/v2/register-phone-call"))
                        .json(&body)
                },
            )
            .await?;
        read_id(&text, "call_id", "registering the call with Retell")
    }

    async fn delete(&self, url: &str, action: &str) -> Result<(), RetellError> {
        match self
            .send(Retry::Transient, action, || {
                self.http.delete(url).header("accept", "*/*")
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(CarrierApiError::Refused { status: 404, .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn send(
        &self,
        retry: Retry,
        action: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<String, CarrierApiError> {
        rest::send_with(
            retry,
            RETELL,
            action,
            || build().bearer_auth(&self.key),
            read_error,
        )
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The URI a registered call is dialed at.
pub fn sip_uri(retell_call_id: &str) -> String {
    format!("sip:{retell_call_id}@{SIP_HOST}")
}

fn llm_body(spec: &AgentSpec) -> Value {
    json!({
        "start_speaker": if spec.greeting.is_empty() { "user" } else { "agent" },
        "general_prompt": spec.prompt,
        "begin_message": spec.greeting,
    })
}

fn agent_body(llm_id: Option<&str>, spec: &AgentSpec) -> Value {
    let mut body = json!({
        "agent_name": spec.name,
        "voice_id": spec.voice_id,
        "webhook_url": spec.webhook_url,
        "webhook_events": ["call_started", "call_ended", "call_analyzed"],
    });
    if let Some(llm_id) = llm_id {
        body["response_engine"] = json!({"type": "retell-llm", "llm_id": llm_id});
    }
    body
}

/// A path segment, percent-encoded (retell.md §12): ids are letters, digits and `_`, but an
/// id is never allowed to reach another path.
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn read_id(text: &str, field: &str, action: &str) -> Result<String, RetellError> {
    #[derive(Deserialize)]
    struct Any(serde_json::Map<String, Value>);
    let unreadable = |reason: String| RetellError::Unreadable {
        action: action.to_owned(),
        reason,
    };
    let Any(map) = serde_json::from_str(text).map_err(|e| unreadable(e.to_string()))?;
    map.get(field)
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| unreadable(format!("no {field}")))
}

/// Retell's error body is not documented (retell.md §9): its `message` (or `error_message`)
/// when it has one, else the body itself, shortened.
fn read_error(body: &str) -> (Option<String>, String) {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            ["message", "error_message", "error"]
                .iter()
                .find_map(|k| v.get(k).and_then(Value::as_str))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| body.chars().take(200).collect());
    (None, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(greeting: &str) -> AgentSpec {
        AgentSpec {
            name: "Front desk".into(),
            prompt: "Be kind.".into(),
            greeting: greeting.into(),
            voice_id: "retell-Cimo".into(),
            webhook_url: "https://x.example/webhooks/retell".into(),
        }
    }

    #[test]
    fn the_llm_speaks_first_only_with_a_greeting() {
        let b = llm_body(&spec("Hello"));
        assert_eq!(b["start_speaker"], "agent");
        assert_eq!(b["begin_message"], "Hello");
        assert_eq!(b["general_prompt"], "Be kind.");
        assert_eq!(llm_body(&spec(""))["start_speaker"], "user");
    }

    #[test]
    fn a_new_agent_names_its_llm_and_an_update_leaves_it() {
        let created = agent_body(Some("llm_1"), &spec(""));
        assert_eq!(
            created["response_engine"],
            json!({"type": "retell-llm", "llm_id": "llm_1"})
        );
        assert_eq!(created["voice_id"], "retell-Cimo");
        assert!(agent_body(None, &spec("")).get("response_engine").is_none());
    }

    #[test]
    fn ids_are_escaped_in_paths_and_read_from_bodies() {
        assert_eq!(segment("agent_a/b"), "agent_a%2Fb");
        assert_eq!(
            read_id(r#"{"llm_id":"llm_9"}"#, "llm_id", "x").unwrap(),
            "llm_9"
        );
        assert!(read_id(r#"{"llm_id":""}"#, "llm_id", "x").is_err());
        assert!(read_id("oops", "llm_id", "x").is_err());
        assert_eq!(sip_uri("abc"), "sip:abc@sip.retellai.com");
    }

    #[test]
    fn debug_hides_the_key() {
        let c = Client::new("http://127.0.0.1:1", "key_sekrit");
        assert!(!format!("{c:?}").contains("sekrit"));
    }
}
