//! `/api/tool-secrets`: values agents' tools send in their headers by reference
//! (`{{secret:NAME}}`), kept in the OS keyring. Write-only: no response carries a value.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::tool::{HttpToolInput, ValuePart, is_secret_name, value_parts};
use crate::domain::{AgentInput, Invalid};
use crate::engine::Engine;
use crate::store::tool_secrets::ToolSecret;
use crate::web::{ApiError, ApiResult, ErrorBody, ErrorCode, Json};

const VALUE_MAX: usize = 4096;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolSecretInput {
    #[schema(min_length = 1, max_length = 4096)]
    pub value: String,
}

fn checked_name(name: &str) -> ApiResult<()> {
    if is_secret_name(name) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no tool secret \"{name}\": names are 1 to 64 letters, digits, _ or -"
        )))
    }
}

/// Every tool secret by name, with the tools that use it. Values are never returned.
#[utoipa::path(operation_id = "list_tool_secrets", get, path = "/api/tool-secrets", tag = "settings",
    responses((status = 200, body = [ToolSecret]), (status = 401, body = ErrorBody)))]
pub async fn list(State(engine): State<Engine>) -> ApiResult<axum::Json<Vec<ToolSecret>>> {
    Ok(axum::Json(engine.store().list_tool_secrets().await?))
}

/// Sets tool secret `name` (new or replaced) in the OS keyring.
#[utoipa::path(operation_id = "put_tool_secret", put, path = "/api/tool-secrets/{name}", tag = "settings",
    params(("name" = String, Path, description = "1 to 64 letters, digits, _ or -")),
    request_body = ToolSecretInput,
    responses(
        (status = 204, description = "Stored"),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "Not a name a secret can have"),
        (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "No OS keyring on this machine"),
    ))]
pub async fn put(
    State(engine): State<Engine>,
    Path(name): Path<String>,
    Json(input): Json<ToolSecretInput>,
) -> ApiResult<StatusCode> {
    checked_name(&name)?;
    let value = input.value.trim();
    if value.is_empty() || value.len() > VALUE_MAX || value.chars().any(char::is_control) {
        return Err(Invalid::new(
            "value",
            format!("must be 1 to {VALUE_MAX} characters, without line breaks"),
        )
        .into());
    }
    engine.secrets().store_tool_secret(&name, value).await?;
    engine.store().put_tool_secret(&name).await?;
    tracing::info!(secret = %name, "tool secret stored in the keyring");
    Ok(StatusCode::NO_CONTENT)
}

/// Removes tool secret `name`. Refused while a tool uses it (the tool would fail on every
/// call): change or remove those tools first.
#[utoipa::path(operation_id = "delete_tool_secret", delete, path = "/api/tool-secrets/{name}", tag = "settings",
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A tool uses it"),
        (status = 503, body = ErrorBody),
    ))]
pub async fn delete(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    checked_name(&name)?;
    let listed = engine.store().list_tool_secrets().await?;
    let Some(secret) = listed.iter().find(|s| s.name == name) else {
        return Err(ApiError::not_found(format!("no tool secret \"{name}\"")));
    };
    if !secret.used_by.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            format!(
                "tool secret {name} is used by {}: change those tools first",
                secret.used_by.join(", ")
            ),
        ));
    }
    engine.secrets().delete_tool_secret(&name).await?;
    engine.store().delete_tool_secret(&name).await?;
    tracing::info!(secret = %name, "tool secret removed from the keyring");
    Ok(StatusCode::NO_CONTENT)
}

/// Refuses, as the tools field's, an agent whose tools name a tool secret that is not set.
pub async fn check_references(engine: &Engine, input: &AgentInput) -> ApiResult<()> {
    let Some(tools) = &input.tools else {
        return Ok(());
    };
    let set: Vec<String> = engine
        .store()
        .list_tool_secrets()
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    for (i, tool) in tools.iter().enumerate() {
        if let Some((header, name)) = unset(tool, &set) {
            return Err(Invalid::new(
                "tools",
                format!(
                    "tool {}: {}: header {header:?} names the tool secret {name}, which is not set \
                     (Settings → Tool secrets)",
                    i + 1,
                    tool.name.trim()
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// The first header of `tool` naming a secret not in `set`: the header's and secret's names.
fn unset<'a>(tool: &'a HttpToolInput, set: &[String]) -> Option<(&'a str, &'a str)> {
    tool.headers.iter().flatten().find_map(|h| {
        value_parts(&h.value)?.into_iter().find_map(|p| match p {
            ValuePart::Secret(name) if !set.iter().any(|s| s == name) => {
                Some((h.name.as_str(), name))
            }
            _ => None,
        })
    })
}
