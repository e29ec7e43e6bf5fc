//! AI agents: who answers a call and how (prompt, greeting, voice, model, live context).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::analysis::{AnalysisInput, AnalysisSettings};
use super::input::{Invalid, bounded_text, required_text};
use super::time::Timestamp;
use super::tool::{
    BuiltinTool, HttpTool, HttpToolInput, McpServer, TransferTarget, validate_builtins,
    validate_mcp_servers, validate_targets, validate_tools,
};

pub const DEFAULT_VOICE: &str = "marin";
/// Retell's example voice (protocols/retell.md §4, §10); any id from Retell's voice list works.
pub const DEFAULT_RETELL_VOICE: &str = "retell-Cimo";
pub const DEFAULT_MODEL: &str = "gpt-realtime";
pub const DEFAULT_MAX_CONCURRENT_CALLS: u32 = 5;
pub const MAX_CONCURRENT_CALLS_LIMIT: u32 = 1000;

const NAME_MAX: usize = 100;
const PROMPT_MAX: usize = 32_000;
const GREETING_MAX: usize = 2_000;
const DISCLOSURE_MAX: usize = 500;
const SHORT_MAX: usize = 100;
const NOTES_MAX: usize = 10_000;
/// Context is rendered into the instructions of every live session, so it is kept modest.
const CONTEXT_MAX_BYTES: usize = 32 * 1024;

/// What speaks for an agent on a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoiceBackend {
    /// The call's audio is bridged here to OpenAI Realtime.
    #[default]
    OpenaiRealtime,
    /// The call is handed over to Retell (its LLM and agent, made from this agent) by SIP.
    Retell,
}

impl VoiceBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenaiRealtime => "openai_realtime",
            Self::Retell => "retell",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::OpenaiRealtime, Self::Retell]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

/// Who records an agent's calls when `record_calls` is on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingSource {
    /// Switchboard, from the audio it bridges: stereo, cut where a barge-in cut the agent.
    #[default]
    Switchboard,
    /// The carrier (both channels); its file is fetched once ready and kept like our own.
    Carrier,
}

impl RecordingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Switchboard => "switchboard",
            Self::Carrier => "carrier",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Switchboard, Self::Carrier]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

/// An agent as stored and as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub system_prompt: String,
    /// Spoken first on inbound calls; empty means the agent waits for the caller.
    pub greeting: String,
    pub voice: String,
    pub model: String,
    /// Free-form facts for the agent (a JSON object), editable while calls are live.
    #[schema(value_type = Object)]
    pub context: serde_json::Map<String, serde_json::Value>,
    pub notes: String,
    pub max_concurrent_calls: u32,
    pub active: bool,
    pub backend: VoiceBackend,
    /// The Retell voice (`retell-Cimo`, `11labs-Adrian`, ...), used when `backend` is `retell`.
    pub retell_voice_id: String,
    /// The Retell LLM made for this agent (its prompt and greeting); set, with
    /// `retell_agent_id`, exactly when `backend` is `retell` and Retell holds them.
    pub retell_llm_id: Option<String>,
    /// The Retell agent made for this agent (its voice), answered by `retell_llm_id`.
    pub retell_agent_id: Option<String>,
    /// Where that Retell agent reports its calls, as it was last told (this engine's public
    /// URL then); when the public URL changes, it is moved.
    pub retell_webhook_url: Option<String>,
    /// HTTP tools the agent may call during a call.
    pub tools: Vec<HttpTool>,
    /// Built-in actions switched on for it.
    pub builtin_tools: Vec<BuiltinTool>,
    /// Where `transfer_call` may send a caller.
    pub transfer_targets: Vec<TransferTarget>,
    /// Remote MCP servers whose tools the agent may use (the voice backend calls them).
    pub mcp_servers: Vec<McpServer>,
    /// This agent's calls are recorded: both sides, in stereo.
    pub record_calls: bool,
    /// Who records them: Switchboard itself, or the carrier.
    pub recording_source: RecordingSource,
    /// Said first on a recorded call ("This call is recorded."); empty says nothing.
    pub recording_disclosure: String,
    /// Post-call analysis: whether each answered call is summarised, and what is read from it.
    pub analysis: AnalysisSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Agent {
    /// Whether Switchboard bridges this agent's calls itself (a Retell agent's calls are
    /// handed over to Retell whole, which is done for inbound calls only).
    pub fn is_bridged(&self) -> bool {
        self.backend == VoiceBackend::OpenaiRealtime
    }

    /// Refuses, as `field`'s, a call Switchboard would have to bridge for an agent it hands
    /// to Retell: outbound and test calls.
    pub fn check_bridged(&self, field: &'static str) -> Result<(), Invalid> {
        if self.is_bridged() {
            return Ok(());
        }
        Err(Invalid::new(
            field,
            format!(
                "{} is on Retell, which takes this agent's inbound calls only: use an agent on OpenAI Realtime for outbound and test calls",
                self.name
            ),
        ))
    }
}

/// The editable fields of an agent, validated. Creating starts from the defaults; updating
/// starts from the stored agent; both then apply an [`AgentInput`].
#[derive(Debug, Clone, PartialEq)]
pub struct AgentFields {
    pub name: String,
    pub system_prompt: String,
    pub greeting: String,
    pub voice: String,
    pub model: String,
    pub context: serde_json::Map<String, serde_json::Value>,
    pub notes: String,
    pub max_concurrent_calls: u32,
    pub active: bool,
    pub backend: VoiceBackend,
    pub retell_voice_id: String,
    pub tools: Vec<HttpTool>,
    pub builtin_tools: Vec<BuiltinTool>,
    pub transfer_targets: Vec<TransferTarget>,
    pub mcp_servers: Vec<McpServer>,
    pub record_calls: bool,
    pub recording_source: RecordingSource,
    pub recording_disclosure: String,
    pub analysis: AnalysisSettings,
}

impl Default for AgentFields {
    fn default() -> Self {
        Self {
            name: String::new(),
            system_prompt: String::new(),
            greeting: String::new(),
            voice: DEFAULT_VOICE.into(),
            model: DEFAULT_MODEL.into(),
            context: serde_json::Map::new(),
            notes: String::new(),
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            active: true,
            backend: VoiceBackend::default(),
            retell_voice_id: DEFAULT_RETELL_VOICE.into(),
            tools: Vec::new(),
            builtin_tools: Vec::new(),
            transfer_targets: Vec::new(),
            mcp_servers: Vec::new(),
            record_calls: false,
            recording_source: RecordingSource::default(),
            recording_disclosure: String::new(),
            analysis: AnalysisSettings::default(),
        }
    }
}

impl From<&Agent> for AgentFields {
    fn from(a: &Agent) -> Self {
        Self {
            name: a.name.clone(),
            system_prompt: a.system_prompt.clone(),
            greeting: a.greeting.clone(),
            voice: a.voice.clone(),
            model: a.model.clone(),
            context: a.context.clone(),
            notes: a.notes.clone(),
            max_concurrent_calls: a.max_concurrent_calls,
            active: a.active,
            backend: a.backend,
            retell_voice_id: a.retell_voice_id.clone(),
            tools: a.tools.clone(),
            builtin_tools: a.builtin_tools.clone(),
            transfer_targets: a.transfer_targets.clone(),
            mcp_servers: a.mcp_servers.clone(),
            record_calls: a.record_calls,
            recording_source: a.recording_source,
            recording_disclosure: a.recording_disclosure.clone(),
            analysis: a.analysis.clone(),
        }
    }
}

/// A create or update request: fields left out keep their current (or default) value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentInput {
    /// Required when creating.
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(max_length = 32000)]
    pub system_prompt: Option<String>,
    #[schema(max_length = 2000)]
    pub greeting: Option<String>,
    /// OpenAI voice name (`marin`, `cedar`, `alloy`, ...) or a custom voice id.
    #[schema(min_length = 1, max_length = 100)]
    pub voice: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub model: Option<String>,
    /// Must be a JSON object.
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Value>,
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    #[schema(minimum = 1, maximum = 1000)]
    pub max_concurrent_calls: Option<u32>,
    pub active: Option<bool>,
    /// `openai_realtime` (the default) or `retell`. Read as text so that an unknown value is
    /// refused as this field's, with a 422, rather than as an unreadable body.
    #[schema(value_type = Option<VoiceBackend>)]
    pub backend: Option<String>,
    /// A voice id from Retell's voice list (`retell-Cimo`, ...), for the `retell` backend.
    #[schema(min_length = 1, max_length = 100)]
    pub retell_voice_id: Option<String>,
    /// HTTP tools the agent may call during a call (replaces the list).
    #[schema(max_items = 32)]
    pub tools: Option<Vec<HttpToolInput>>,
    /// Built-in actions to switch on (replaces the list). Read as text so that
    /// an unknown name is refused as this field's.
    #[schema(value_type = Option<Vec<BuiltinTool>>)]
    pub builtin_tools: Option<Vec<String>>,
    /// Where `transfer_call` may send a caller (replaces the list).
    #[schema(max_items = 16)]
    pub transfer_targets: Option<Vec<TransferTarget>>,
    /// Remote MCP servers whose tools the agent may use (replaces the list).
    #[schema(max_items = 4)]
    pub mcp_servers: Option<Vec<McpServer>>,
    /// Record this agent's calls (both sides, stereo, kept in the data directory).
    pub record_calls: Option<bool>,
    /// Who records them: `switchboard` (the default) or `carrier` (Twilio or Telnyx records
    /// both channels; the file is fetched and kept here). Read as text so that an unknown
    /// value is refused as this field's.
    #[schema(value_type = Option<RecordingSource>)]
    pub recording_source: Option<String>,
    /// Said before anything else on a recorded call; empty for none.
    #[schema(max_length = 500)]
    pub recording_disclosure: Option<String>,
    /// Post-call analysis settings; fields left out keep their value.
    pub analysis: Option<AnalysisInput>,
}

impl AgentInput {
    /// Applies this input over `base`, checking every field it sets.
    pub fn apply(self, mut base: AgentFields) -> Result<AgentFields, Invalid> {
        if let Some(name) = self.name {
            base.name = required_text("name", &name, NAME_MAX)?;
        } else if base.name.is_empty() {
            return Err(Invalid::new("name", "is required"));
        }
        if let Some(v) = self.system_prompt {
            base.system_prompt = bounded_text("system_prompt", &v, PROMPT_MAX)?;
        }
        if let Some(v) = self.greeting {
            // Bounded as sent, as the document's maxLength says; kept trimmed.
            base.greeting = bounded_text("greeting", &v, GREETING_MAX)?
                .trim()
                .to_owned();
        }
        if let Some(v) = self.voice {
            base.voice = required_text("voice", &v, SHORT_MAX)?;
        }
        if let Some(v) = self.model {
            base.model = required_text("model", &v, SHORT_MAX)?;
        }
        if let Some(v) = self.context {
            base.context = validate_context(v)?;
        }
        if let Some(v) = self.notes {
            base.notes = bounded_text("notes", &v, NOTES_MAX)?;
        }
        if let Some(v) = self.max_concurrent_calls {
            if !(1..=MAX_CONCURRENT_CALLS_LIMIT).contains(&v) {
                return Err(Invalid::new(
                    "max_concurrent_calls",
                    format!("must be between 1 and {MAX_CONCURRENT_CALLS_LIMIT}"),
                ));
            }
            base.max_concurrent_calls = v;
        }
        if let Some(v) = self.active {
            base.active = v;
        }
        if let Some(v) = self.backend {
            base.backend = VoiceBackend::parse(&v)
                .ok_or_else(|| Invalid::new("backend", "must be openai_realtime or retell"))?;
        }
        if let Some(v) = self.retell_voice_id {
            base.retell_voice_id = required_text("retell_voice_id", &v, SHORT_MAX)?;
        }
        if let Some(v) = self.tools {
            base.tools = validate_tools(v)?;
        }
        if let Some(v) = self.builtin_tools {
            let named = v
                .iter()
                .map(|n| {
                    BuiltinTool::by_name(n).ok_or_else(|| {
                        Invalid::new(
                            "builtin_tools",
                            format!(
                                "{n:?} is not a built-in tool (there are end_call, transfer_call and \
                                 send_dtmf)"
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            base.builtin_tools = validate_builtins(named)?;
        }
        if let Some(v) = self.transfer_targets {
            base.transfer_targets = validate_targets(v, None)?;
        }
        if let Some(v) = self.mcp_servers {
            base.mcp_servers = validate_mcp_servers(v)?;
        }
        if let Some(v) = self.record_calls {
            base.record_calls = v;
        }
        if let Some(v) = self.recording_source {
            base.recording_source = RecordingSource::parse(&v).ok_or_else(|| {
                Invalid::new("recording_source", "must be switchboard or carrier")
            })?;
        }
        if let Some(v) = self.recording_disclosure {
            base.recording_disclosure = bounded_text("recording_disclosure", &v, DISCLOSURE_MAX)?
                .trim()
                .to_owned();
        }
        if let Some(v) = self.analysis {
            base.analysis = v.apply(base.analysis)?;
        }
        if base.builtin_tools.contains(&BuiltinTool::TransferCall)
            && base.transfer_targets.is_empty()
        {
            return Err(Invalid::new(
                "transfer_targets",
                "transfer_call needs at least one target to transfer to",
            ));
        }
        Ok(base)
    }
}

/// Context must be a JSON object of bounded size: it is rendered into live instructions.
pub fn validate_context(
    value: serde_json::Value,
) -> Result<serde_json::Map<String, serde_json::Value>, Invalid> {
    let serde_json::Value::Object(map) = value else {
        return Err(Invalid::new("context", "must be a JSON object"));
    };
    let size = serde_json::to_vec(&map).map(|v| v.len()).unwrap_or(0);
    if size > CONTEXT_MAX_BYTES {
        return Err(Invalid::new(
            "context",
            format!("is {size} bytes; at most {CONTEXT_MAX_BYTES} are allowed"),
        ));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: serde_json::Value) -> AgentInput {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_text_is_bounded_where_the_openapi_document_says() {
        for field in [
            "name",
            "system_prompt",
            "greeting",
            "voice",
            "model",
            "notes",
            "retell_voice_id",
        ] {
            let max = crate::domain::input::documented_max_length::<AgentInput>(field);
            let at = input(json!({"name": "A", field: "a".repeat(max)}));
            assert!(
                at.apply(AgentFields::default()).is_ok(),
                "{field}: {max} is allowed"
            );
            let over = input(json!({"name": "A", field: "a".repeat(max + 1)}));
            assert_eq!(
                over.apply(AgentFields::default()).unwrap_err().field,
                field,
                "{field}: one more than the document's {max} is refused"
            );
        }
    }

    #[test]
    fn a_names_length_counts_as_sent_as_the_openapi_document_says() {
        let hundred = "a".repeat(100);
        let ok = input(json!({"name": hundred})).apply(AgentFields::default());
        assert_eq!(ok.unwrap().name.len(), 100);
        // maxLength 100 in the document: 101 characters are refused even if one is a space.
        let padded = input(json!({"name": format!(" {hundred}")})).apply(AgentFields::default());
        assert_eq!(padded.unwrap_err().field, "name");
        let trimmed = input(json!({"name": "  Ada  "})).apply(AgentFields::default());
        assert_eq!(trimmed.unwrap().name, "Ada", "surrounding spaces still go");
    }

    #[test]
    fn create_needs_a_name_and_fills_defaults() {
        let err = input(json!({})).apply(AgentFields::default()).unwrap_err();
        assert_eq!(err.field, "name");
        let f = input(json!({"name": "  Front desk "}))
            .apply(AgentFields::default())
            .unwrap();
        assert_eq!(f.name, "Front desk", "names are trimmed");
        assert_eq!(f.voice, DEFAULT_VOICE);
        assert_eq!(f.model, DEFAULT_MODEL);
        assert_eq!(f.max_concurrent_calls, DEFAULT_MAX_CONCURRENT_CALLS);
        assert!(f.active);
    }

    #[test]
    fn backends_default_to_openai_and_read_their_names() {
        let f = input(json!({"name": "A"}))
            .apply(AgentFields::default())
            .unwrap();
        assert_eq!(
            f.backend,
            VoiceBackend::OpenaiRealtime,
            "existing behaviour by default"
        );
        assert_eq!(f.retell_voice_id, DEFAULT_RETELL_VOICE);
        let f = input(json!({"name": "A", "backend": "retell"}))
            .apply(AgentFields::default())
            .unwrap();
        assert_eq!(f.backend, VoiceBackend::Retell);
        for b in [VoiceBackend::OpenaiRealtime, VoiceBackend::Retell] {
            assert_eq!(
                serde_json::to_value(b).unwrap(),
                json!(b.as_str()),
                "the stored text and the JSON text of a backend must agree"
            );
        }
    }

    #[test]
    fn update_keeps_fields_left_out() {
        let base = input(json!({"name": "A", "greeting": "Hi", "max_concurrent_calls": 2}))
            .apply(AgentFields::default())
            .unwrap();
        let f = input(json!({"active": false})).apply(base).unwrap();
        assert_eq!(f.name, "A");
        assert_eq!(f.greeting, "Hi");
        assert_eq!(f.max_concurrent_calls, 2);
        assert!(!f.active);
    }

    #[test]
    fn rejects_bad_values() {
        let cases = [
            (json!({"name": "   "}), "name"),
            (json!({"name": "A", "context": [1, 2]}), "context"),
            (json!({"name": "A", "context": "text"}), "context"),
            (
                json!({"name": "A", "max_concurrent_calls": 0}),
                "max_concurrent_calls",
            ),
            (
                json!({"name": "A", "max_concurrent_calls": 1001}),
                "max_concurrent_calls",
            ),
            (json!({"name": "A", "voice": ""}), "voice"),
            (json!({"name": "x".repeat(101)}), "name"),
            (json!({"name": "A", "backend": "vapi"}), "backend"),
            (
                json!({"name": "A", "retell_voice_id": " "}),
                "retell_voice_id",
            ),
        ];
        for (body, field) in cases {
            let err = input(body.clone())
                .apply(AgentFields::default())
                .unwrap_err();
            assert_eq!(err.field, field, "{body} should fail on {field}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_so_typos_are_not_silently_ignored() {
        assert!(serde_json::from_value::<AgentInput>(json!({"nmae": "A"})).is_err());
    }

    #[test]
    fn oversized_context_is_refused() {
        let big = json!({"blob": "x".repeat(CONTEXT_MAX_BYTES)});
        assert_eq!(validate_context(big).unwrap_err().field, "context");
    }
}
