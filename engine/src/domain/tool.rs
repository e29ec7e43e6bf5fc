//! What an agent can do during a call besides talk: HTTP tools it may call (declared to the
//! voice session as functions) and the built-in actions switched on for it. Everything here
//! is checked when the agent is saved, so a call never meets a tool it cannot run.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::Invalid;

/// The most HTTP tools one agent may have.
pub const MAX_TOOLS: usize = 32;
const NAME_MAX: usize = 64;
const DESCRIPTION_MAX: usize = 1_000;
const WAIT_MESSAGE_MAX: usize = 300;
const URL_MAX: usize = 2_000;
const HEADERS_MAX: usize = 16;
const HEADER_VALUE_MAX: usize = 1_000;
/// A schema is sent to the model with every session: kept modest.
const PARAMETERS_MAX_BYTES: usize = 16 * 1024;
pub const DEFAULT_TIMEOUT_MS: u32 = 5_000;
pub const MIN_TIMEOUT_MS: u32 = 100;
pub const MAX_TIMEOUT_MS: u32 = 30_000;

/// Actions Switchboard itself carries out when the model asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinTool {
    /// Says goodbye, then hangs up once the goodbye has been heard.
    EndCall,
    /// Hands the caller to a person: one of the agent's transfer targets, by name (cold: the
    /// carrier connects the caller there and the agent leaves the call; warm: the person is
    /// called and told first).
    TransferCall,
    /// Presses keys on the phone's keypad (DTMF), to get through a phone menu.
    SendDtmf,
}

impl BuiltinTool {
    pub const ALL: [BuiltinTool; 3] = [Self::EndCall, Self::TransferCall, Self::SendDtmf];

    /// The function name the model calls it by.
    pub fn name(self) -> &'static str {
        match self {
            Self::EndCall => "end_call",
            Self::TransferCall => "transfer_call",
            Self::SendDtmf => "send_dtmf",
        }
    }

    /// What the model is told about it.
    pub fn description(self) -> &'static str {
        match self {
            Self::EndCall => {
                "End the phone call. Call this once the conversation is over and you have said \
                 goodbye, or when the caller asks to hang up."
            }
            Self::TransferCall => {
                "Transfer the caller to a person, when they ask for one or when you cannot help. \
                 Choose the target by name. A cold target is connected at once and you leave the \
                 call; a warm one is called first and told your summary, and you stay with the \
                 caller until you are told whether they answered."
            }
            Self::SendDtmf => {
                "Press keys on the phone's keypad, to get through an automated phone menu (\"press \
                 1 for sales\") or enter a number it asks for. Digits 0-9, * and #; w waits half \
                 a second, W one second. Listen to the menu first, then press only what it asks."
            }
        }
    }

    pub fn by_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// Where `transfer_call` may send a caller: a person or desk, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferTarget {
    /// How the model names it ("front_desk"): letters, digits, `_` and `-`.
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// A phone number (E.164) or a SIP URI (`sip:desk@pbx.example.com`).
    #[schema(min_length = 1, max_length = 300)]
    pub to: String,
    /// When to transfer there, for the model.
    #[schema(max_length = 300)]
    #[serde(default)]
    pub description: String,
    /// Warm: the caller stays with the agent while the person is called and told who is
    /// calling and why; only once they have heard it are the two connected, and if nobody
    /// answers the agent is back with the caller. Cold (the default): connected at once.
    #[serde(default)]
    pub warm: bool,
    /// How long a warm transfer lets the person's phone ring, in seconds.
    #[schema(minimum = 5, maximum = 120)]
    #[serde(default = "default_ring_secs")]
    pub ring_secs: u32,
}

pub const DEFAULT_RING_SECS: u32 = 25;
const RING_SECS: std::ops::RangeInclusive<u32> = 5..=120;

fn default_ring_secs() -> u32 {
    DEFAULT_RING_SECS
}

/// The most keys one `send_dtmf` may press (Twilio's `SendDigits` limit, twilio.md §12).
pub const MAX_DIGITS: usize = 32;

/// Why `send_dtmf`'s keys cannot be pressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadKeys {
    #[error("press 1 to {MAX_DIGITS} keys")]
    Count,
    #[error("{0:?} is not a key: use 0-9, *, # (and w or W to wait)")]
    NotAKey(char),
    #[error("only pauses: press at least one key")]
    OnlyPauses,
}

/// `send_dtmf`'s keys as carriers take them (0-9, A-D, * and #; `w` and `W` pauses), or what
/// is wrong with them.
pub fn check_digits(digits: &str) -> Result<String, BadKeys> {
    let digits = digits.trim();
    if digits.is_empty() || digits.chars().count() > MAX_DIGITS {
        return Err(BadKeys::Count);
    }
    if let Some(bad) = digits
        .chars()
        .find(|c| !(c.is_ascii_digit() || "ABCDabcd*#wW".contains(*c)))
    {
        return Err(BadKeys::NotAKey(bad));
    }
    if !digits.chars().any(|c| !matches!(c, 'w' | 'W')) {
        return Err(BadKeys::OnlyPauses);
    }
    // A-D upper case; `w` and `W` are different pauses, so kept as given.
    Ok(digits
        .chars()
        .map(|c| match c {
            'a'..='d' => c.to_ascii_uppercase(),
            _ => c,
        })
        .collect())
}

/// Where a transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    /// Warm: the person's phone rings.
    Calling,
    /// Warm: the person picked up and hears who is calling and why.
    Answered,
    /// The caller is with the person; the agent has left the call.
    Connected,
    /// It did not happen (nobody answered, declined, the carrier refused): the caller stayed
    /// with the agent. `detail` says why.
    Failed,
}

impl TransferState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Calling => "calling",
            Self::Answered => "answered",
            Self::Connected => "connected",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Calling, Self::Answered, Self::Connected, Self::Failed]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    pub fn is_over(self) -> bool {
        matches!(self, Self::Connected | Self::Failed)
    }
}

/// A transfer the agent made during a call, kept with the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CallTransfer {
    pub id: String,
    pub call_id: String,
    /// The target's name and where it led, as they were at the time.
    pub target: String,
    pub to: String,
    pub warm: bool,
    /// Warm: what the person was told before being connected.
    pub summary: String,
    /// Warm: the carrier's id of the call to the person, once placed.
    pub leg_id: Option<String>,
    pub state: TransferState,
    /// Why it failed, or how it ended, in words.
    pub detail: Option<String>,
    pub started_at: super::time::Timestamp,
    pub ended_at: Option<super::time::Timestamp>,
}

/// The most transfer targets one agent may have.
const MAX_TARGETS: usize = 16;

/// Transfer targets from a request: names unique, each `to` a number or a SIP URI.
pub fn validate_targets(
    input: Vec<TransferTarget>,
    region: Option<&str>,
) -> Result<Vec<TransferTarget>, Invalid> {
    let field = "transfer_targets";
    if input.len() > MAX_TARGETS {
        return Err(Invalid::new(
            field,
            format!("at most {MAX_TARGETS} targets"),
        ));
    }
    let mut out: Vec<TransferTarget> = Vec::with_capacity(input.len());
    for (i, t) in input.into_iter().enumerate() {
        let which = format!("target {}", i + 1);
        let name = t.name.trim().to_owned();
        if !is_secret_name(&name) {
            return Err(Invalid::new(
                field,
                format!("{which}: name must be 1 to 64 letters, digits, _ or -"),
            ));
        }
        if out.iter().any(|o| o.name == name) {
            return Err(Invalid::new(
                field,
                format!("{which}: another target is already named {name}"),
            ));
        }
        let raw = t.to.trim();
        let to = if let Some(rest) = raw.strip_prefix("sip:") {
            let ok = raw.len() <= 300
                && rest.contains('@')
                && !rest
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c));
            if !ok {
                return Err(Invalid::new(
                    field,
                    format!("{which} ({name}): {raw:?} is not a SIP URI (sip:user@host)"),
                ));
            }
            raw.to_owned()
        } else {
            super::phone::E164::parse(raw, region)
                .map_err(|e| Invalid::new(field, format!("{which} ({name}): {e}")))?
                .to_string()
        };
        let description = t.description.trim().to_owned();
        if description.chars().count() > 300 {
            return Err(Invalid::new(
                field,
                format!("{which} ({name}): the description is over 300 characters"),
            ));
        }
        if !RING_SECS.contains(&t.ring_secs) {
            return Err(Invalid::new(
                field,
                format!(
                    "{which} ({name}): ring_secs must be {} to {} seconds",
                    RING_SECS.start(),
                    RING_SECS.end()
                ),
            ));
        }
        out.push(TransferTarget {
            name,
            to,
            description,
            warm: t.warm,
            ring_secs: t.ring_secs,
        });
    }
    Ok(out)
}

/// Names kept for built-in actions, present and coming, so an HTTP tool cannot shadow one.
const RESERVED: [&str; 4] = ["end_call", "transfer_call", "send_dtmf", "do_not_call"];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    #[default]
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// A header sent with a tool's request. Its value may name tool secrets, `{{secret:NAME}}`,
/// filled in from the keyring when the request is sent (only the reference is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolHeader {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(max_length = 1000)]
    pub value: String,
}

const SECRET_OPEN: &str = "{{secret:";
const SECRET_CLOSE: &str = "}}";

/// Whether `name` can name a tool secret: 1 to 64 letters, digits, `_` or `-`.
pub fn is_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A header value's parts: text as written, and the secrets it names, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValuePart<'a> {
    Text(&'a str),
    Secret(&'a str),
}

/// Splits `value` at its `{{secret:NAME}}` references; `None` when one is malformed.
pub fn value_parts(value: &str) -> Option<Vec<ValuePart<'_>>> {
    let mut parts = Vec::new();
    let mut rest = value;
    while let Some(at) = rest.find(SECRET_OPEN) {
        if at > 0 {
            parts.push(ValuePart::Text(&rest[..at]));
        }
        let after = &rest[at + SECRET_OPEN.len()..];
        let end = after.find(SECRET_CLOSE)?;
        let name = &after[..end];
        if !is_secret_name(name) {
            return None;
        }
        parts.push(ValuePart::Secret(name));
        rest = &after[end + SECRET_CLOSE.len()..];
    }
    if !rest.is_empty() {
        parts.push(ValuePart::Text(rest));
    }
    Some(parts)
}

/// The tool secrets `headers` name, in order.
fn secrets_named(headers: &[ToolHeader]) -> impl Iterator<Item = &str> {
    headers.iter().flat_map(|h| {
        value_parts(&h.value)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| match p {
                ValuePart::Secret(name) => Some(name),
                ValuePart::Text(_) => None,
            })
    })
}

impl HttpTool {
    /// The tool secrets its headers name.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        secrets_named(&self.headers)
    }
}

/// An HTTP tool as stored and as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HttpTool {
    /// The function name the model calls (letters, digits, `_` and `-`).
    pub name: String,
    /// When and how to use it, for the model.
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    pub method: HttpMethod,
    /// `http` or `https`. GET and DELETE send the arguments as the query, the others as a
    /// JSON body.
    pub url: String,
    pub headers: Vec<ToolHeader>,
    pub timeout_ms: u32,
    /// Said by the agent while the request runs ("One moment while I look that up.").
    pub wait_message: Option<String>,
}

/// An HTTP tool as a request gives it: left-out fields take their defaults.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpToolInput {
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    pub name: String,
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// JSON Schema of the arguments; an object with no properties when left out.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<serde_json::Value>,
    /// `POST` when left out.
    pub method: Option<HttpMethod>,
    #[schema(min_length = 1, max_length = 2000)]
    pub url: String,
    #[schema(max_items = 16)]
    pub headers: Option<Vec<ToolHeader>>,
    /// 5000 when left out.
    #[schema(minimum = 100, maximum = 30000)]
    pub timeout_ms: Option<u32>,
    #[schema(max_length = 300)]
    pub wait_message: Option<String>,
}

/// The tools an agent gets from a request: each checked, names unique and not reserved.
pub fn validate_tools(input: Vec<HttpToolInput>) -> Result<Vec<HttpTool>, Invalid> {
    if input.len() > MAX_TOOLS {
        return Err(Invalid::new(
            "tools",
            format!("at most {MAX_TOOLS} tools per agent"),
        ));
    }
    let mut tools: Vec<HttpTool> = Vec::with_capacity(input.len());
    for (i, t) in input.into_iter().enumerate() {
        let tool = validate_tool(t)
            .map_err(|why| Invalid::new("tools", format!("tool {}: {}", i + 1, why.message)))?;
        if tools.iter().any(|o| o.name == tool.name) {
            return Err(Invalid::new(
                "tools",
                format!(
                    "tool {}: another tool is already named {}",
                    i + 1,
                    tool.name
                ),
            ));
        }
        tools.push(tool);
    }
    Ok(tools)
}

fn validate_tool(t: HttpToolInput) -> Result<HttpTool, Invalid> {
    let name = t.name.trim().to_owned();
    if name.is_empty()
        || name.len() > NAME_MAX
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(problem(format!(
            "name must be 1 to {NAME_MAX} letters, digits, _ or - (got {:?})",
            t.name
        )));
    }
    let named = |why: String| problem(format!("{name}: {why}"));
    if RESERVED.contains(&name.as_str()) {
        return Err(named(
            "the name is kept for a built-in action; switch that on instead".into(),
        ));
    }
    let description = t.description.unwrap_or_default().trim().to_owned();
    if description.chars().count() > DESCRIPTION_MAX {
        return Err(named(format!(
            "description is over {DESCRIPTION_MAX} characters"
        )));
    }
    let parameters = match t.parameters {
        None => serde_json::json!({"type": "object", "properties": {}}),
        Some(p) => check_schema(p).map_err(|why| named(format!("parameters: {}", why.message)))?,
    };
    let url = check_url(&t.url).map_err(|why| named(format!("url: {}", why.message)))?;
    let headers = t.headers.unwrap_or_default();
    if headers.len() > HEADERS_MAX {
        return Err(named(format!("at most {HEADERS_MAX} headers")));
    }
    for h in &headers {
        check_header(h).map_err(|why| named(format!("header {:?}: {}", h.name, why.message)))?;
    }
    let timeout_ms = t.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(named(format!(
            "timeout_ms must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"
        )));
    }
    let wait_message = t
        .wait_message
        .map(|w| w.trim().to_owned())
        .filter(|w| !w.is_empty());
    if wait_message
        .as_ref()
        .is_some_and(|w| w.chars().count() > WAIT_MESSAGE_MAX)
    {
        return Err(named(format!(
            "wait_message is over {WAIT_MESSAGE_MAX} characters"
        )));
    }
    Ok(HttpTool {
        name,
        description,
        parameters,
        method: t.method.unwrap_or_default(),
        url,
        headers,
        timeout_ms,
        wait_message,
    })
}

/// A schema the model can be given and arguments can be checked against: a valid JSON Schema
/// whose top level is an object, with no references outside itself (nothing is fetched).
fn check_schema(p: serde_json::Value) -> Result<serde_json::Value, Invalid> {
    if !p.is_object() || p["type"] != "object" {
        return Err(problem("must be a JSON Schema with \"type\": \"object\""));
    }
    let size = serde_json::to_vec(&p).map(|v| v.len()).unwrap_or(0);
    if size > PARAMETERS_MAX_BYTES {
        return Err(problem(format!(
            "is {size} bytes; at most {PARAMETERS_MAX_BYTES} are allowed"
        )));
    }
    if let Err(e) = jsonschema::meta::validate(&p) {
        return Err(problem(format!("not a valid JSON Schema: {e}")));
    }
    jsonschema::validator_for(&p).map_err(|e| problem(format!("not a usable JSON Schema: {e}")))?;
    Ok(p)
}

fn check_url(raw: &str) -> Result<String, Invalid> {
    let raw = raw.trim();
    if raw.len() > URL_MAX {
        return Err(problem(format!("is over {URL_MAX} characters")));
    }
    let url = url::Url::parse(raw).map_err(|e| problem(format!("{e} ({raw:?})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(problem("must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(problem("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(problem(
            "must not carry a user name or password (they would be stored)",
        ));
    }
    Ok(raw.to_owned())
}

/// Header names whose values are credentials: refused as plain values, which would be
/// stored in the database.
fn is_credential(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization"
        || n == "proxy-authorization"
        || n == "cookie"
        || ["token", "secret", "key", "password", "auth"]
            .iter()
            .any(|w| n.contains(w))
}

fn check_header(h: &ToolHeader) -> Result<(), Invalid> {
    let valid_name = !h.name.is_empty()
        && h.name.len() <= 100
        && h.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid_name {
        return Err(problem("not a valid header name"));
    }
    if h.value.len() > HEADER_VALUE_MAX || h.value.chars().any(|c| c.is_control()) {
        return Err(problem(format!(
            "the value must be at most {HEADER_VALUE_MAX} characters, without line breaks"
        )));
    }
    let Some(parts) = value_parts(&h.value) else {
        return Err(problem(
            "a secret is named as {{secret:NAME}}, NAME being letters, digits, _ or -",
        ));
    };
    // A credential is sent only by reference: around it, at most its scheme ("Bearer").
    let plain: String = parts
        .iter()
        .filter_map(|p| match p {
            ValuePart::Text(t) => Some(*t),
            ValuePart::Secret(_) => None,
        })
        .collect();
    let named = parts.iter().any(|p| matches!(p, ValuePart::Secret(_)));
    let scheme_only = plain.trim().is_empty()
        || ["bearer", "basic", "token"].contains(&plain.trim().to_ascii_lowercase().as_str());
    if is_credential(&h.name) && !(named && scheme_only) {
        return Err(problem(
            "holds a credential, which is never stored in plain text: save it in Settings → \
             Tool secrets and write {{secret:NAME}} here (\"Bearer {{secret:NAME}}\")",
        ));
    }
    Ok(())
}

/// A problem with one tool, said as the tools field's.
fn problem(message: impl Into<String>) -> Invalid {
    Invalid::new("tools", message)
}

/// A remote MCP server whose tools the agent may use: the voice backend itself lists and
/// calls them (openai-realtime.md §7.4), Switchboard only declares it and records the calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpServer {
    /// How the calls name it ("crm"): letters, digits, `_` and `-`.
    #[schema(min_length = 1, max_length = 64)]
    pub label: String,
    /// The server's URL (http or https).
    #[schema(min_length = 1, max_length = 2000)]
    pub url: String,
    /// What it is for, for the model.
    #[schema(max_length = 1000)]
    #[serde(default)]
    pub description: String,
    /// Only these of its tools may be used; empty: all of them.
    #[serde(default)]
    pub allowed_tools: Vec<String>,
    /// Headers sent to it; a key goes by reference (`{{secret:NAME}}`), as for HTTP tools.
    #[serde(default)]
    pub headers: Vec<ToolHeader>,
}

impl McpServer {
    /// The tool secrets its headers name.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        secrets_named(&self.headers)
    }
}

/// The most MCP servers one agent may have.
const MAX_MCP_SERVERS: usize = 4;

/// MCP servers from a request: labels unique, URLs and headers checked as for HTTP tools.
pub fn validate_mcp_servers(input: Vec<McpServer>) -> Result<Vec<McpServer>, Invalid> {
    let field = "mcp_servers";
    if input.len() > MAX_MCP_SERVERS {
        return Err(Invalid::new(
            field,
            format!("at most {MAX_MCP_SERVERS} MCP servers"),
        ));
    }
    let mut out: Vec<McpServer> = Vec::with_capacity(input.len());
    for (i, m) in input.into_iter().enumerate() {
        let label = m.label.trim().to_owned();
        let which = format!("server {}", i + 1);
        if !is_secret_name(&label) {
            return Err(Invalid::new(
                field,
                format!("{which}: label must be 1 to 64 letters, digits, _ or -"),
            ));
        }
        let bad = |why: String| Invalid::new(field, format!("{which} ({label}): {why}"));
        if out.iter().any(|o| o.label == label) {
            return Err(bad("another server has this label".into()));
        }
        let url = check_url(&m.url).map_err(|e| bad(format!("url: {}", e.message)))?;
        let description = m.description.trim().to_owned();
        if description.chars().count() > DESCRIPTION_MAX {
            return Err(bad(format!(
                "description is over {DESCRIPTION_MAX} characters"
            )));
        }
        if m.allowed_tools.len() > MAX_TOOLS {
            return Err(bad(format!("at most {MAX_TOOLS} allowed tools")));
        }
        let allowed_tools: Vec<String> = m
            .allowed_tools
            .iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(t) = allowed_tools.iter().find(|t| !is_secret_name(t)) {
            return Err(bad(format!("allowed tool {t:?} is not a tool name")));
        }
        if m.headers.len() > HEADERS_MAX {
            return Err(bad(format!("at most {HEADERS_MAX} headers")));
        }
        for h in &m.headers {
            check_header(h).map_err(|e| bad(format!("header {:?}: {}", h.name, e.message)))?;
        }
        out.push(McpServer {
            label,
            url,
            description,
            allowed_tools,
            headers: m.headers,
        });
    }
    Ok(out)
}

/// The built-in actions from a request: no repeats.
pub fn validate_builtins(input: Vec<BuiltinTool>) -> Result<Vec<BuiltinTool>, Invalid> {
    let mut out: Vec<BuiltinTool> = Vec::with_capacity(input.len());
    for b in input {
        if out.contains(&b) {
            return Err(Invalid::new(
                "builtin_tools",
                format!("{} is listed twice", b.name()),
            ));
        }
        out.push(b);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(v: serde_json::Value) -> HttpToolInput {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let t = validate_tools(vec![tool(
            json!({"name": "lookup_order", "url": "https://crm.example/orders"}),
        )])
        .unwrap();
        assert_eq!(t[0].method, HttpMethod::Post);
        assert_eq!(t[0].timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(t[0].parameters["type"], "object");
        assert_eq!(t[0].wait_message, None);
    }

    #[test]
    fn bad_tools_are_refused_naming_the_tool_and_the_field() {
        let cases = [
            (
                json!({"name": "bad name", "url": "https://a.example"}),
                "name",
            ),
            (
                json!({"name": "end_call", "url": "https://a.example"}),
                "built-in",
            ),
            (json!({"name": "t", "url": "ftp://a.example"}), "url"),
            (json!({"name": "t", "url": "not a url"}), "url"),
            (json!({"name": "t", "url": "https://u:p@a.example"}), "url"),
            (
                json!({"name": "t", "url": "https://a.example", "parameters": {"type": "string"}}),
                "parameters",
            ),
            (
                json!({"name": "t", "url": "https://a.example",
                       "parameters": {"type": "object", "properties": {"n": {"type": "nonsense"}}}}),
                "not a valid JSON Schema",
            ),
            (
                json!({"name": "t", "url": "https://a.example", "timeout_ms": 50}),
                "timeout_ms",
            ),
            (
                json!({"name": "t", "url": "https://a.example",
                       "headers": [{"name": "Authorization", "value": "Bearer x"}]}),
                "credential",
            ),
            (
                json!({"name": "t", "url": "https://a.example",
                       "headers": [{"name": "X-Note", "value": "a\r\nb"}]}),
                "line breaks",
            ),
        ];
        for (body, words) in cases {
            let e = validate_tools(vec![tool(body.clone())]).unwrap_err();
            assert_eq!(e.field, "tools");
            assert!(e.message.starts_with("tool 1"), "{body}: {}", e.message);
            assert!(e.message.contains(words), "{body}: {}", e.message);
        }
        let twice = vec![
            tool(json!({"name": "t", "url": "https://a.example"})),
            tool(json!({"name": "t", "url": "https://b.example"})),
        ];
        assert!(
            validate_tools(twice)
                .unwrap_err()
                .message
                .contains("already named t")
        );
    }

    #[test]
    fn credentials_go_by_reference_only() {
        let with = |value: &str| {
            validate_tools(vec![tool(json!({"name": "t", "url": "https://a.example",
                "headers": [{"name": "Authorization", "value": value}]}))])
        };
        let ok = with("Bearer {{secret:crm_token}}").unwrap();
        assert_eq!(ok[0].secret_names().collect::<Vec<_>>(), ["crm_token"]);
        assert!(with("{{secret:crm_token}}").is_ok());
        for refused in [
            "Bearer abc123",
            "Bearer abc{{secret:crm_token}}",
            "Bearer {{secret:bad name}}",
            "{{secret:x",
        ] {
            assert!(with(refused).is_err(), "{refused}");
        }
        assert_eq!(
            value_parts("a{{secret:k}}b"),
            Some(vec![
                ValuePart::Text("a"),
                ValuePart::Secret("k"),
                ValuePart::Text("b")
            ])
        );
    }

    #[test]
    fn transfer_targets_are_numbers_or_sip_uris_by_unique_names() {
        let target = |name: &str, to: &str| TransferTarget {
            name: name.into(),
            to: to.into(),
            description: String::new(),
            warm: false,
            ring_secs: DEFAULT_RING_SECS,
        };
        let ok = validate_targets(
            vec![
                target("front_desk", "+1 415 555 0100"),
                target("pbx", "sip:desk@pbx.example.com"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(ok[0].to, "+14155550100", "kept as E.164");
        assert_eq!(ok[1].to, "sip:desk@pbx.example.com");
        for (bad, words) in [
            (vec![target("desk", "12")], "target 1 (desk)"),
            (vec![target("desk", "sip:nohost")], "not a SIP URI"),
            (vec![target("a b", "+14155550100")], "name"),
            (
                vec![target("d", "+14155550100"), target("d", "+14155550101")],
                "already named d",
            ),
            (
                vec![TransferTarget {
                    ring_secs: 2,
                    ..target("desk", "+14155550100")
                }],
                "ring_secs must be 5 to 120",
            ),
        ] {
            let e = validate_targets(bad, None).unwrap_err();
            assert_eq!(e.field, "transfer_targets");
            assert!(e.message.contains(words), "{}", e.message);
        }
    }

    #[test]
    fn mcp_servers_are_checked_like_tools_and_named_by_label() {
        let server = |v: serde_json::Value| -> McpServer { serde_json::from_value(v).unwrap() };
        let ok = validate_mcp_servers(vec![server(json!({
            "label": "crm", "url": "https://mcp.example.test/mcp",
            "allowed_tools": ["lookup_customer", " "],
            "headers": [{"name": "Authorization", "value": "Bearer {{secret:crm_mcp}}"}]
        }))])
        .unwrap();
        assert_eq!(ok[0].allowed_tools, ["lookup_customer"]);
        assert_eq!(ok[0].secret_names().collect::<Vec<_>>(), ["crm_mcp"]);
        for (bad, words) in [
            (json!({"label": "a b", "url": "https://x.test"}), "label"),
            (
                json!({"label": "crm", "url": "ftp://x.test"}),
                "server 1 (crm): url",
            ),
            (
                json!({"label": "crm", "url": "https://x.test",
                       "headers": [{"name": "Authorization", "value": "Bearer sk-live"}]}),
                "never stored in plain text",
            ),
            (
                json!({"label": "crm", "url": "https://x.test", "allowed_tools": ["a b"]}),
                "not a tool name",
            ),
        ] {
            let e = validate_mcp_servers(vec![server(bad)]).unwrap_err();
            assert_eq!(e.field, "mcp_servers");
            assert!(e.message.contains(words), "{}", e.message);
        }
        let twice = vec![
            server(json!({"label": "crm", "url": "https://x.test"})),
            server(json!({"label": "crm", "url": "https://y.test"})),
        ];
        assert!(validate_mcp_servers(twice).is_err());
    }

    #[test]
    fn keys_are_what_a_keypad_has() {
        assert_eq!(check_digits(" 1w2Wa#* ").as_deref(), Ok("1w2WA#*"));
        for (bad, words) in [
            ("", "1 to 32"),
            ("12x", "'x' is not a key"),
            ("ww", "only pauses"),
            (&"1".repeat(33), "1 to 32"),
        ] {
            let e = check_digits(bad).unwrap_err().to_string();
            assert!(e.contains(words), "{bad}: {e}");
        }
    }

    #[test]
    fn builtins_are_named_as_the_model_calls_them() {
        assert_eq!(BuiltinTool::by_name("end_call"), Some(BuiltinTool::EndCall));
        assert_eq!(
            serde_json::to_value(BuiltinTool::EndCall).unwrap(),
            json!("end_call")
        );
        assert!(validate_builtins(vec![BuiltinTool::EndCall, BuiltinTool::EndCall]).is_err());
    }
}
