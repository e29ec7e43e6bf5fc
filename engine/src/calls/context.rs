//! What a call's voice session is told: its instructions, built from the agent, the campaign
//! and the call's own context, and pushed to live sessions when any of them changes, so an
//! edit reaches the agent mid-conversation.

use serde_json::{Map, Value};

use crate::domain::{Agent, Call, Invalid, Speaker, Timestamp};
use crate::engine::Engine;
use crate::events::Event;
use crate::live::{Control, Notice};
use crate::store::StoreError;

/// The instructions for `call` spoken by `agent`: with its campaign's prompt when it was
/// placed for one (a campaign that cannot be read leaves just the agent's).
pub async fn instructions_for(engine: &Engine, agent: &Agent, call: &Call) -> String {
    let campaign_prompt = match &call.campaign_id {
        Some(id) => match engine.store().get_campaign(id).await {
            Ok(c) => c.prompt,
            Err(e) => {
                tracing::warn!(call_id = %call.id, error = %e, "campaign not readable; its prompt is left out");
                String::new()
            }
        },
        None => String::new(),
    };
    crate::voice::instructions::render(
        &agent.system_prompt,
        &campaign_prompt,
        &agent.context,
        &call.context,
    )
}

/// Sends fresh instructions to every live call of `agent` (after its prompt or context
/// changed), on this node and, through them, the other nodes'. Returns how many sessions of
/// this node were told; each confirms with a `call_context_applied` event once its backend
/// has the new instructions (other nodes' sessions too).
pub async fn push_agent_instructions(engine: &Engine, agent: &Agent) -> usize {
    engine.notices().tell(Notice::AgentInstructions {
        agent_id: agent.id.clone(),
    });
    push_agent_instructions_here(engine, agent).await
}

/// `push_agent_instructions` for this node's sessions only.
pub async fn push_agent_instructions_here(engine: &Engine, agent: &Agent) -> usize {
    let mut told = 0;
    for live in engine.live_calls().for_agent(&agent.id) {
        match engine.store().get_call(&live.call_id).await {
            Ok(call) => {
                let text = instructions_for(engine, agent, &call).await;
                if live.send(Control::Instructions(text)) {
                    told += 1;
                }
            }
            Err(e) => tracing::warn!(call_id = %live.call_id, error = %e, "live call not readable"),
        }
    }
    told
}

/// Sends fresh instructions to one live call (after its own context changed), through the
/// node holding its session when that is another. Returns whether the call is live and was
/// told (or another node was asked to).
pub async fn push_call_instructions(engine: &Engine, call: &Call) -> bool {
    if engine.live_calls().get(&call.id).is_none() {
        let elsewhere = engine
            .store()
            .held_elsewhere(&call.id, Timestamp::now())
            .await
            .unwrap_or(false);
        if elsewhere {
            engine.notices().tell(Notice::CallInstructions {
                call_id: call.id.clone(),
            });
        }
        return elsewhere;
    }
    push_call_instructions_here(engine, call).await
}

/// `push_call_instructions` for a session of this node only.
pub async fn push_call_instructions_here(engine: &Engine, call: &Call) -> bool {
    let Some(live) = engine.live_calls().get(&call.id) else {
        return false;
    };
    match engine.store().get_agent(&live.agent_id).await {
        Ok(agent) => live.send(Control::Instructions(
            instructions_for(engine, &agent, call).await,
        )),
        Err(e) => {
            tracing::warn!(call_id = %call.id, error = %e, "live call's agent not readable");
            false
        }
    }
}

/// Replaces a call's own context (refused once it has ended) and tells its live session.
/// Returns the call and whether a live session was told.
pub async fn set_call_context(
    engine: &Engine,
    call_id: &str,
    context: Map<String, Value>,
) -> Result<(Call, bool), StoreError> {
    let call = engine.store().set_call_context(call_id, context).await?;
    engine
        .events()
        .publish(Event::CallUpdated { call: call.clone() });
    let told = push_call_instructions(engine, &call).await;
    Ok((call, told))
}

/// The longest whispered note: a direction, not a document.
pub const WHISPER_MAX_CHARS: usize = 500;

/// A note to a live call's agent the caller does not hear ("offer the discount"): added to
/// the call's context (`operator_notes`), so it reaches the agent as live context does, and
/// kept in the transcript as the operator's. Returns the call and whether its session was told.
pub async fn whisper(
    engine: &Engine,
    call_id: &str,
    text: &str,
) -> Result<(Call, bool), StoreError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Invalid::new("text", "the note is empty").into());
    }
    if text.chars().count() > WHISPER_MAX_CHARS {
        return Err(Invalid::new(
            "text",
            format!("a note is at most {WHISPER_MAX_CHARS} characters"),
        )
        .into());
    }
    let call = engine.store().get_call(call_id).await?;
    let key = crate::voice::instructions::OPERATOR_NOTES;
    let mut context = call.context.clone();
    let mut notes = match context.remove(key) {
        Some(Value::Array(notes)) => notes,
        Some(other) => vec![other],
        None => Vec::new(),
    };
    notes.push(Value::String(text.to_owned()));
    context.insert(key.to_owned(), Value::Array(notes));
    let (call, told) = set_call_context(engine, call_id, context).await?;
    let line = engine
        .store()
        .add_transcript_line(
            call_id,
            Speaker::Operator,
            &format!("(note to the agent, not heard by the caller) {text}"),
            Timestamp::now(),
        )
        .await?;
    engine.events().publish(Event::TranscriptLine { line });
    Ok((call, told))
}
