//! Voice backends: the AI side of a call. Each backend is an adapter behind [`VoiceSession`];
//! the media bridge sees only the types here, never a backend's wire format.

pub mod instructions;
pub mod openai_realtime;

use std::future::Future;

use crate::media::G711;

/// What a voice session is configured with, from the agent (and the call's own context).
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceConfig {
    pub model: String,
    pub voice: String,
    pub instructions: String,
    /// The session answers speech on its own. Off, it only listens and transcribes (an
    /// operator's side of a call taken over, which no agent must answer).
    pub replies: bool,
    /// Functions the model may call.
    pub tools: Vec<FunctionTool>,
    /// Remote MCP servers the backend itself calls for the model.
    pub mcp: Vec<McpTool>,
}

/// A remote MCP server declared to the session (the backend lists and calls its tools).
#[derive(Clone, PartialEq)]
pub struct McpTool {
    pub label: String,
    pub url: String,
    pub description: String,
    /// Only these of its tools; empty: all.
    pub allowed_tools: Vec<String>,
    /// Sent to the server as given, tool secrets filled in: never shown in debug output.
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Debug for McpTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("McpTool")
            .field("label", &self.label)
            .field("url", &self.url)
            .field("allowed_tools", &self.allowed_tools)
            .field("headers", &names)
            .finish_non_exhaustive()
    }
}

/// A function the model may call during the session.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionTool {
    pub name: String,
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: serde_json::Value,
}

/// What the bridge tells a voice session.
#[derive(Debug, Clone, PartialEq)]
pub enum VoiceCommand {
    /// 20 ms of the caller's voice.
    Audio(G711),
    /// New instructions for the rest of the call (a live context edit).
    Instructions(String),
    /// Something the caller did that is not speech (a keypad press), told as text.
    CallerText(String),
    /// Ask for a response now (after `CallerText`, when none is under way).
    Respond,
    /// Speak this greeting now, before the caller says anything.
    Greet(String),
    /// Say these words and nothing else (a voicemail message).
    Say(String),
    /// Say these words while a tool runs, then wait for its result.
    Hold(String),
    /// A person takes the call over: the session keeps hearing and transcribing the caller,
    /// but neither answers nor interrupts by itself until `Resume`.
    Pause,
    /// The agent has the call back: it answers speech again.
    Resume,
    /// Stop the response under way, if any (harmless when there is none).
    Cancel,
    /// Tell the agent something the caller does not hear (what happened while it was paused).
    Note(String),
    /// The caller heard only the first `audio_end_ms` of agent item `item_id`: forget the rest.
    Truncate { item_id: String, audio_end_ms: u64 },
    /// The result of the model's function call `call_id` (a JSON text). Ask for a response
    /// after it (`Respond`) for the model to speak about it.
    ToolResult { call_id: String, output: String },
}

/// What a remote MCP tool's call came to.
#[derive(Debug, Clone, PartialEq)]
pub enum McpOutcome {
    /// Its output, as the server gave it.
    Answered(String),
    /// Why it failed (the server's error, or the backend's).
    Failed(String),
}

/// What a voice session tells the bridge.
#[derive(Debug, Clone, PartialEq)]
pub enum VoiceEvent {
    /// The session is configured; audio may flow both ways.
    Ready,
    /// New instructions (`VoiceCommand::Instructions`) are in force.
    InstructionsApplied,
    /// Agent audio for item `item_id`, in order.
    Audio {
        item_id: String,
        audio: G711,
    },
    /// The backend has sent all of item `item_id`'s audio.
    AudioDone {
        item_id: String,
    },
    /// The caller started speaking: whatever agent audio is still playing is an interruption.
    SpeechStarted {
        item_id: Option<String>,
    },
    /// A response began / finished (in any way: completed, cancelled, failed).
    ResponseStarted,
    ResponseDone,
    /// A finished line of the transcript.
    CallerSaid {
        item_id: Option<String>,
        text: String,
    },
    AgentSaid {
        item_id: Option<String>,
        text: String,
    },
    /// The model asks to call function `name` with `arguments` (JSON text, unchecked), in a
    /// response that completed (after its `ResponseDone`).
    ToolCall {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// The backend called a tool of a remote MCP server itself, during a response: its
    /// arguments (JSON text) and its output, or the error.
    McpCalled {
        server: String,
        name: String,
        arguments: String,
        outcome: McpOutcome,
    },
    /// The backend could not list an MCP server's tools: the agent goes on without them.
    McpUnavailable {
        server: String,
    },
    /// The backend reported a problem but the session goes on.
    Warning(String),
}

#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error("the voice backend could not be reached: {0}")]
    Unreachable(String),
    #[error("the voice backend refused the session: {0}")]
    Refused(String),
    #[error("the voice backend connection was lost: {0}")]
    Lost(String),
}

/// One live conversation with a voice backend.
pub trait VoiceSession: Send {
    fn send(
        &mut self,
        command: VoiceCommand,
    ) -> impl Future<Output = Result<(), VoiceError>> + Send;
    /// The next event. Cancel-safe: it may be raced against other sources and dropped.
    fn recv(&mut self) -> impl Future<Output = Result<VoiceEvent, VoiceError>> + Send;
    /// Ends the session politely.
    fn close(self) -> impl Future<Output = ()> + Send;
}
