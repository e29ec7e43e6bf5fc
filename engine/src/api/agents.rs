//! `/api/agents`: create, read, update and delete agents, and their call statistics.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::calls::context::push_agent_instructions;
use crate::domain::{Agent, AgentInput};
use crate::engine::Engine;
use crate::events::Event;
use crate::setup::{self, SetupDone, SetupError, SetupInput};
use crate::store::agents::AgentStats;
use crate::web::{ApiResult, ErrorBody, Json, Query};

/// All agents, by name.
#[utoipa::path(operation_id = "list_agents", get, path = "/api/agents", tag = "agents",
    responses((status = 200, body = [Agent]), (status = 401, body = ErrorBody)))]
pub async fn list(State(engine): State<Engine>) -> ApiResult<axum::Json<Vec<Agent>>> {
    Ok(axum::Json(engine.store().list_agents().await?))
}

/// Creates an agent. Only `name` is required; the rest take defaults. An agent on Retell
/// (`backend: retell`) gets its Retell LLM and agent made first; if Retell refuses, nothing
/// is kept, here or there.
#[utoipa::path(operation_id = "create_agent", post, path = "/api/agents", tag = "agents", request_body = AgentInput,
    responses(
        (status = 201, body = Agent),
        (status = 400, body = ErrorBody, description = "Unreadable body or unknown field"),
        (status = 409, body = ErrorBody, description = "Another agent has this name"),
        (status = 422, body = ErrorBody, description = "A value breaks a rule, or a Retell agent lacks the Retell key or the public URL"),
        (status = 502, body = ErrorBody, description = "Retell refused or did not answer; nothing was kept"),
    ))]
pub async fn create(
    State(engine): State<Engine>,
    Json(input): Json<AgentInput>,
) -> ApiResult<(StatusCode, axum::Json<Agent>)> {
    super::tool_secrets::check_references(&engine, &input).await?;
    let agent = crate::retell::provision::create(&engine, input).await?;
    engine.events().publish(Event::AgentCreated {
        agent: agent.clone(),
    });
    Ok((StatusCode::CREATED, axum::Json(agent)))
}

/// A new agent with a new number (seed 003), in one step: for a Retell agent its Retell LLM
/// and agent, then the number bought and pointed here, then both stored, the number answered
/// by the agent. A step that fails undoes the earlier ones, and the error says which step
/// failed, why, and what was undone; a crash in the middle is undone at the next start.
#[utoipa::path(operation_id = "create_agent_with_number", post, path = "/api/agents/with-number", tag = "agents",
    request_body = SetupInput,
    responses(
        (status = 201, body = SetupDone),
        (status = 400, body = ErrorBody, description = "Unreadable body or unknown field"),
        (status = 409, body = ErrorBody, description = "Another agent has this name, or the number is already managed: nothing was done"),
        (status = 422, body = ErrorBody, description = "A bad value, no public URL, or a missing key: nothing was done"),
        (status = 502, body = ErrorBody, description = "Retell or the carrier refused or did not answer at a step: the earlier steps were undone (the message says which)"),
    ))]
pub async fn create_with_number(
    State(engine): State<Engine>,
    Json(input): Json<SetupInput>,
) -> ApiResult<(StatusCode, axum::Json<SetupDone>)> {
    match setup::run(&engine, input).await {
        Ok(done) => Ok((StatusCode::CREATED, axum::Json(done))),
        Err(SetupError::Refused(e)) => Err(e),
        Err(SetupError::Failed {
            step,
            cause,
            undone,
            left,
        }) => Err(cause.explained(|why| {
            let mut message = format!("{step} failed: {why}");
            if undone.is_empty() && left.is_empty() {
                message.push_str(" Nothing had been made yet.");
            }
            if !undone.is_empty() {
                message.push_str(&format!(" Undone: {}.", undone.join(", ")));
            }
            if !left.is_empty() {
                message.push_str(&format!(
                    " Not undone, to do by hand: {} (Switchboard tries again at its next start).",
                    left.join("; ")
                ));
            }
            message
        })),
    }
}

#[utoipa::path(operation_id = "get_agent", get, path = "/api/agents/{id}", tag = "agents",
    params(("id" = String, Path)),
    responses((status = 200, body = Agent), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Agent>> {
    Ok(axum::Json(engine.store().get_agent(&id).await?))
}

/// Updates an agent: fields left out keep their values. An agent on Retell has its Retell LLM
/// and agent updated first (made when it moves onto Retell, deleted when it leaves); if Retell
/// refuses, nothing changes.
#[utoipa::path(operation_id = "update_agent", put, path = "/api/agents/{id}", tag = "agents", request_body = AgentInput,
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Agent),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody, description = "Retell refused or did not answer; nothing was changed"),
    ))]
pub async fn update(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Json(input): Json<AgentInput>,
) -> ApiResult<axum::Json<Agent>> {
    let before = engine.store().get_agent(&id).await?;
    super::tool_secrets::check_references(&engine, &input).await?;
    let agent = crate::retell::provision::update(&engine, &id, input).await?;
    engine.events().publish(Event::AgentUpdated {
        agent: agent.clone(),
    });
    if agent.system_prompt != before.system_prompt || agent.context != before.context {
        push_agent_instructions(&engine, &agent).await;
    }
    Ok(axum::Json(agent))
}

/// A context replaced, and how many live calls were given it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContextUpdated {
    #[schema(value_type = Object)]
    pub context: serde_json::Map<String, serde_json::Value>,
    /// Live calls whose voice session was sent the new instructions; each confirms with a
    /// `call_context_applied` event on `/api/events`.
    pub live_calls_updated: usize,
}

/// Replaces an agent's context (a JSON object). Every live call of the agent gets the new
/// instructions at once, mid-conversation.
#[utoipa::path(operation_id = "put_agent_context", put, path = "/api/agents/{id}/context", tag = "agents",
    request_body(content = Object, description = "The new context: a JSON object"),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = ContextUpdated),
        (status = 400, body = ErrorBody, description = "Not a JSON object"),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "The context breaks a rule, or the agent is on Retell and the Retell key or the public URL is missing"),
        (status = 502, body = ErrorBody, description = "Retell refused or did not answer; nothing was changed"),
    ))]
pub async fn put_context(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Json(context): Json<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<axum::Json<ContextUpdated>> {
    let input = AgentInput {
        context: Some(serde_json::Value::Object(context)),
        ..AgentInput::default()
    };
    let agent = crate::retell::provision::update(&engine, &id, input).await?;
    engine.events().publish(Event::AgentUpdated {
        agent: agent.clone(),
    });
    let live_calls_updated = push_agent_instructions(&engine, &agent).await;
    Ok(axum::Json(ContextUpdated {
        context: agent.context,
        live_calls_updated,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteParams {
    /// Also clear this agent from the numbers that use it (in the same transaction).
    #[serde(default)]
    force: bool,
}

/// Deletes an agent. Refused with 409 `agent_in_use` while numbers use it, unless `force`. An
/// agent on Retell has its Retell agent and LLM deleted first; if Retell refuses, it is kept.
#[utoipa::path(operation_id = "delete_agent", delete, path = "/api/agents/{id}", tag = "agents",
    params(("id" = String, Path), DeleteParams),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Numbers still use the agent"),
        (status = 422, body = ErrorBody, description = "The agent is on Retell and no Retell key is set"),
        (status = 502, body = ErrorBody, description = "Retell refused or did not answer; the agent is kept"),
    ))]
pub async fn delete(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Query(params): Query<DeleteParams>,
) -> ApiResult<StatusCode> {
    let cleared_numbers = crate::retell::provision::delete(&engine, &id, params.force).await?;
    for number_id in &cleared_numbers {
        if let Ok(phone_number) = engine.store().get_phone_number(number_id).await {
            engine
                .events()
                .publish(Event::PhoneNumberUpdated { phone_number });
        }
    }
    engine.events().publish(Event::AgentDeleted {
        id,
        cleared_numbers,
    });
    Ok(StatusCode::NO_CONTENT)
}

/// Calls handled by the agent: counts, answered, total and average duration, per direction.
#[utoipa::path(operation_id = "agent_stats", get, path = "/api/agents/{id}/stats", tag = "agents",
    params(("id" = String, Path)),
    responses((status = 200, body = AgentStats), (status = 404, body = ErrorBody)))]
pub async fn stats(
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AgentStats>> {
    Ok(axum::Json(engine.store().agent_stats(&id).await?))
}
