//! The agent's tools on a bridged call: what the session is told it may call, and the desk
//! that takes the model's calls. An HTTP tool runs beside the media loop (never in it); its
//! output waits here until no response is under way, then goes to the model with a new
//! response for it to speak about.

use serde_json::json;
use tokio::task::{JoinError, JoinSet};

use crate::domain::tool::{ValuePart, value_parts};
use crate::domain::{Agent, BuiltinTool, TransferTarget};
use crate::tools::{CallTools, ToolOutcome};
use crate::voice::{FunctionTool, McpTool};

/// The most tool requests one call may have under way: a model calling in a loop must not
/// flood the user's systems.
const MAX_RUNNING: usize = 4;

/// A finished tool request: the model's call id, the tool's name, what it came to.
pub(super) type Done = (String, String, ToolOutcome);

/// The opt-out every call Switchboard places offers, whatever the agent's tools: the law
/// wants "do not call me again" honoured, not left to how an agent was set up.
pub(super) const OPT_OUT: &str = "do_not_call";

const OPT_OUT_DESCRIPTION: &str = "Put this person's phone number on the do-not-call list. Call \
     it as soon as the person asks not to be called again (\"take me off your list\", \"stop \
     calling me\", \"don't call again\"), then confirm in one short sentence that they will not \
     be called again. Their number is known: do not ask for it.";

/// The functions the agent's session declares: its HTTP tools, then its built-in actions,
/// then (on a call Switchboard placed) the opt-out.
pub(super) fn declared(agent: &Agent, opt_out: bool) -> Vec<FunctionTool> {
    let http = agent.tools.iter().map(|t| FunctionTool {
        name: t.name.clone(),
        description: t.description.clone(),
        parameters: t.parameters.clone(),
    });
    let builtins = agent.builtin_tools.iter().map(|b| match b {
        BuiltinTool::TransferCall => {
            let names: Vec<&str> = agent
                .transfer_targets
                .iter()
                .map(|t| t.name.as_str())
                .collect();
            let list: Vec<String> = agent
                .transfer_targets
                .iter()
                .map(|t| {
                    let how = if t.warm { " (warm)" } else { "" };
                    match t.description.as_str() {
                        "" => format!("{}{how}", t.name),
                        d => format!("{}{how}: {d}", t.name),
                    }
                })
                .collect();
            FunctionTool {
                name: b.name().into(),
                description: format!("{} Targets: {}.", b.description(), list.join("; ")),
                parameters: json!({
                    "type": "object",
                    "required": ["target"],
                    "properties": {
                        "target": {"type": "string", "enum": names},
                        "reason": {"type": "string", "description": "Why, in a few words."},
                        "summary": {
                            "type": "string",
                            "maxLength": 500,
                            "description": "For a warm target: one or two sentences the person \
                                            hears before taking the call: who is calling and \
                                            what they need."
                        }
                    }
                }),
            }
        }
        BuiltinTool::SendDtmf => FunctionTool {
            name: b.name().into(),
            description: b.description().into(),
            parameters: json!({
                "type": "object",
                "required": ["digits"],
                "properties": {
                    "digits": {
                        "type": "string",
                        "pattern": "^[0-9A-Da-d*#wW]{1,32}$",
                        "description": "The keys to press, in order (e.g. \"1\", or \"4521#\")."
                    }
                }
            }),
        },
        BuiltinTool::EndCall => FunctionTool {
            name: b.name().into(),
            description: b.description().into(),
            parameters: json!({"type": "object", "properties": {}}),
        },
    });
    let opt_out = opt_out.then(|| FunctionTool {
        name: OPT_OUT.into(),
        description: OPT_OUT_DESCRIPTION.into(),
        parameters: json!({"type": "object", "properties": {}}),
    });
    http.chain(builtins).chain(opt_out).collect()
}

/// What the opt-out needs: the other party's number is the call's own, never one the model
/// says.
#[derive(Clone)]
pub(super) struct OptOut {
    pub engine: crate::engine::Engine,
    pub number: String,
    pub call_id: String,
}

impl OptOut {
    /// Puts the number on the global list (an entry already there stays as it was) and says
    /// so to the model; a failure is a result it can speak about.
    async fn run(self) -> ToolOutcome {
        let started = std::time::Instant::now();
        let failed = |why: String| ToolOutcome {
            output: json!({ "error": why }).to_string(),
            ok: false,
            summary: why,
            elapsed: started.elapsed(),
        };
        let number = match crate::domain::E164::parse(&self.number, None) {
            Ok(n) => n,
            Err(e) => return failed(format!("the number cannot be listed: {e}")),
        };
        let entry = crate::domain::NewDncEntry {
            number,
            campaign_id: None,
            source: crate::domain::DncSource::OptOut,
            note: "asked during the call not to be called again".into(),
            call_id: Some(self.call_id.clone()),
        };
        match self.engine.store().add_opt_out(entry).await {
            Ok((entry, added)) => {
                let summary = if added {
                    tracing::info!(call_id = %self.call_id, "the person opted out: their number is on the do-not-call list");
                    self.engine
                        .events()
                        .publish(crate::events::Event::DoNotCallAdded {
                            entry: entry.clone(),
                        });
                    format!("{} put on the global do-not-call list", entry.number)
                } else {
                    format!("{} was already on the do-not-call list", entry.number)
                };
                ToolOutcome {
                    output: json!({
                        "ok": true,
                        "next": "The number is on the do-not-call list. Tell the person in one \
                                 short sentence that they will not be called again."
                    })
                    .to_string(),
                    ok: true,
                    summary,
                    elapsed: started.elapsed(),
                }
            }
            Err(e) => {
                tracing::error!(call_id = %self.call_id, error = %e, "an opt-out could not be written");
                failed(
                    "the number could not be put on the do-not-call list: apologise, say it \
                        will be done, and end the call"
                        .into(),
                )
            }
        }
    }
}

/// What became of a call the model made.
pub(super) enum Called {
    /// The request is under way; the agent says these words meanwhile, if any.
    Running { wait: Option<String> },
    /// One of Switchboard's own actions, for the bridge to carry out.
    Builtin(BuiltinTool),
    /// Nothing was sent (unknown tool, arguments outside its schema): this is the result.
    Refused(ToolOutcome),
}

/// One call's tools, their requests under way and their outputs not yet given to the model.
pub(super) struct ToolDesk {
    tools: CallTools,
    builtins: Vec<BuiltinTool>,
    targets: Vec<TransferTarget>,
    /// Dropped with the bridge, which cancels what is still running.
    running: JoinSet<Done>,
    waiting: Vec<(String, String)>,
    /// Things the agent must be told (a warm transfer's end), held like outputs.
    notes: Vec<String>,
    /// The call's tool secrets' values, masked wherever a tool line would show one.
    secret_values: Vec<String>,
    /// On calls Switchboard placed: the opt-out.
    opt_out: Option<OptOut>,
}

impl ToolDesk {
    /// `secrets`: the tool secrets the agent's headers name, as read when the call began.
    pub(super) fn new(
        agent: &Agent,
        call_id: &str,
        secrets: std::collections::HashMap<String, String>,
        opt_out: Option<OptOut>,
    ) -> Self {
        let mut secret_values: Vec<String> = secrets
            .values()
            .filter(|v| v.len() >= MASKED_FROM)
            .cloned()
            .collect();
        // The longest first, so one that contains another is masked whole.
        secret_values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Self {
            secret_values,
            tools: CallTools::new(&agent.tools, crate::tools::http(), call_id, secrets),
            builtins: agent.builtin_tools.clone(),
            targets: agent.transfer_targets.clone(),
            running: JoinSet::new(),
            waiting: Vec::new(),
            notes: Vec::new(),
            opt_out,
        }
    }

    /// Takes the model's call `call_id` of `name`.
    pub(super) fn call(&mut self, call_id: String, name: String, arguments: &str) -> Called {
        if name == OPT_OUT
            && let Some(opt_out) = self.opt_out.clone()
        {
            // Never refused for being busy: an opt-out must land.
            self.running
                .spawn(async move { (call_id, name, opt_out.run().await) });
            return Called::Running { wait: None };
        }
        if let Some(builtin) = BuiltinTool::by_name(&name).filter(|b| self.builtins.contains(b)) {
            return Called::Builtin(builtin);
        }
        if self.running.len() >= MAX_RUNNING {
            return Called::Refused(ToolOutcome::refused(format!(
                "{MAX_RUNNING} tool calls are still running: wait for their results first"
            )));
        }
        match self.tools.prepare(&name, arguments) {
            Err(outcome) => Called::Refused(outcome),
            Ok(prepared) => {
                let wait = self.tools.get(&name).and_then(|t| t.wait_message.clone());
                self.running
                    .spawn(async move { (call_id, name, prepared.send().await) });
                Called::Running { wait }
            }
        }
    }

    /// The transfer target `transfer_call`'s `arguments` name, if it is one the agent may use,
    /// and the summary for its person (or the reason, when the model gave no summary).
    pub(super) fn transfer_target(
        &self,
        arguments: &str,
    ) -> Result<(TransferTarget, String), ToolOutcome> {
        let args: serde_json::Value = serde_json::from_str(arguments).unwrap_or_default();
        let name = args["target"].as_str().unwrap_or_default();
        let summary: String = [&args["summary"], &args["reason"]]
            .into_iter()
            .filter_map(|v| v.as_str())
            .find(|s| !s.trim().is_empty())
            .unwrap_or_default()
            .chars()
            .take(500)
            .collect();
        self.targets
            .iter()
            .find(|t| t.name == name)
            .cloned()
            .map(|t| (t, summary))
            .ok_or_else(|| {
                let allowed: Vec<&str> = self.targets.iter().map(|t| t.name.as_str()).collect();
                ToolOutcome::refused(format!(
                    "{name:?} is not a transfer target this agent may use (it may use: {})",
                    allowed.join(", ")
                ))
            })
    }

    pub(super) fn is_running(&self) -> bool {
        !self.running.is_empty()
    }

    /// The next request to finish (only when one is running).
    pub(super) async fn next_done(&mut self) -> Option<Result<Done, JoinError>> {
        self.running.join_next().await
    }

    /// Keeps an output for the model until it can be given.
    pub(super) fn output(&mut self, call_id: String, output: String) {
        self.waiting.push((call_id, output));
    }

    pub(super) fn take_outputs(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.waiting)
    }

    /// `text` with every tool secret's value masked (a tool may echo what it was sent).
    pub(super) fn masked(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for v in &self.secret_values {
            if text.contains(v.as_str()) {
                text = text.replace(v.as_str(), "••••");
            }
        }
        text
    }

    /// Keeps a note for the agent until it can be given, with the outputs.
    pub(super) fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    pub(super) fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    pub(super) fn has_outputs(&self) -> bool {
        !self.waiting.is_empty() || !self.notes.is_empty()
    }
}

/// Secret values shorter than this are not masked (they would mask ordinary words).
const MASKED_FROM: usize = 4;

/// The agent's MCP servers as the session declares them, their headers' tool secrets filled
/// in; and the labels of those left out because a secret they name is not set.
pub(super) fn mcp_declared(
    call: &crate::domain::Call,
    agent: &Agent,
    secrets: &std::collections::HashMap<String, String>,
) -> (Vec<McpTool>, Vec<String>) {
    let declared: Vec<McpTool> = agent
        .mcp_servers
        .iter()
        .filter_map(|m| {
            let mut headers = Vec::with_capacity(m.headers.len());
            for h in &m.headers {
                let mut value = String::new();
                for part in value_parts(&h.value).unwrap_or_default() {
                    match part {
                        ValuePart::Text(t) => value.push_str(t),
                        ValuePart::Secret(name) => match secrets.get(name) {
                            Some(secret) => value.push_str(secret),
                            None => {
                                tracing::warn!(call_id = %call.id, server = %m.label, secret = name,
                                    "an MCP server left out: its tool secret is not set");
                                return None;
                            }
                        },
                    }
                }
                headers.push((h.name.clone(), value));
            }
            Some(McpTool {
                label: m.label.clone(),
                url: m.url.clone(),
                description: m.description.clone(),
                allowed_tools: m.allowed_tools.clone(),
                headers,
            })
        })
        .collect();
    let left_out = agent
        .mcp_servers
        .iter()
        .filter(|m| !declared.iter().any(|d| d.label == m.label))
        .map(|m| m.label.clone())
        .collect();
    (declared, left_out)
}

/// The tool secrets `agent`'s headers (its HTTP tools' and MCP servers') name, from the
/// keyring; one that cannot be read is left out (a call of its tool then says it is not set).
pub(super) async fn secrets_for(
    engine: &crate::engine::Engine,
    agent: &Agent,
) -> std::collections::HashMap<String, String> {
    let mut found = std::collections::HashMap::new();
    let names = agent.tools.iter().flat_map(|t| t.secret_names());
    for name in names.chain(agent.mcp_servers.iter().flat_map(|m| m.secret_names())) {
        if found.contains_key(name) {
            continue;
        }
        match engine.secrets().tool_secret(name).await {
            Ok(Some(value)) => {
                found.insert(name.to_owned(), value);
            }
            Ok(None) => tracing::warn!(
                secret = name,
                "a tool secret an agent's tool names is not set"
            ),
            Err(e) => tracing::warn!(secret = name, error = %e, "a tool secret could not be read"),
        }
    }
    found
}

/// `transfer_call`'s output: the model tells the caller, and the transfer follows once heard.
pub(super) fn transfer_output(target: &TransferTarget) -> String {
    let name = target.name.replace('_', " ");
    let next = if target.warm {
        format!(
            "Tell the caller in one short sentence that you are calling {name} for them and \
             to stay on the line. Stay with the caller meanwhile; you will be told whether \
             {name} answers."
        )
    } else {
        format!(
            "Tell the caller in one short sentence that you are transferring them to {name} \
             now; the transfer happens as soon as you have said it."
        )
    };
    json!({"ok": true, "next": next}).to_string()
}

/// `end_call`'s output: the model says goodbye, and the call ends once it has been heard.
pub(super) fn end_call_output() -> String {
    json!({
        "ok": true,
        "next": "Say a short goodbye now; the call ends as soon as you have said it."
    })
    .to_string()
}

/// Tells live views of a tool call, and counts it in its agent's stats (off the media path).
pub(super) fn record(
    engine: &crate::engine::Engine,
    call: &crate::domain::Call,
    tool: &str,
    ok: bool,
    elapsed: std::time::Duration,
) {
    let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    engine.events().publish(crate::events::Event::ToolCalled {
        call_id: call.id.clone(),
        agent_id: call.agent_id.clone(),
        tool: tool.to_owned(),
        ok,
        ms,
    });
    let Some(agent_id) = call.agent_id.clone() else {
        return;
    };
    let (engine, call_id, tool) = (engine.clone(), call.id.clone(), tool.to_owned());
    tokio::spawn(async move {
        if let Err(e) = engine
            .store()
            .record_tool_call(&call_id, &agent_id, &tool, ok, ms)
            .await
        {
            tracing::error!(%call_id, error = %e, "a tool call was not counted");
        }
    });
}

/// The transcript line of a tool's result, said in the log too.
pub(super) fn outcome_line(call_id: &str, name: &str, outcome: &ToolOutcome) -> String {
    let ms = outcome.elapsed.as_millis();
    if outcome.ok {
        tracing::info!(%call_id, tool = %name, ms, "tool answered");
        format!("{name} → {}", outcome.summary)
    } else {
        tracing::warn!(%call_id, tool = %name, ms, why = %outcome.summary, "tool failed");
        format!("{name} failed: {}", outcome.summary)
    }
}
