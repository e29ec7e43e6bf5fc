//! An agent's Retell objects kept in step with it: a Retell agent (voice, webhook) answered by
//! a Retell LLM (prompt, greeting) made when an agent goes on Retell, updated when it is
//! edited, deleted when it is deleted or leaves Retell. Retell is asked first and the store
//! written after; every failure undoes what Retell was already asked, so a refusal leaves
//! neither an orphaned Retell object nor an agent pointing at one that is gone.

use serde_json::Map;

use super::client::{AgentSpec, Client, RetellError};
use crate::domain::agent::AgentFields;
use crate::domain::{Agent, AgentInput, VoiceBackend};
use crate::engine::Engine;
use crate::events::Event;
use crate::secrets::{Provider, SecretsError};
use crate::store::StoreError;
use crate::store::agents::{Edit, RetellIds};
use crate::telephony::CarrierApiError;
use crate::telephony::urls::RETELL_WEBHOOK_PATH;

/// Why an agent could not be created, changed or deleted.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No Retell API key is saved (or the keyring cannot be read).
    #[error("a Retell agent needs the Retell API key, and {0}")]
    NoKey(#[from] SecretsError),
    #[error(
        "a Retell agent reports its calls to this engine's public URL, and none is set: set the public base URL in Settings first"
    )]
    NoPublicUrl,
    #[error(transparent)]
    Retell(#[from] RetellError),
}

impl From<crate::domain::Invalid> for ProvisionError {
    fn from(e: crate::domain::Invalid) -> Self {
        Self::Store(e.into())
    }
}

/// A Retell client with the key in force.
pub async fn client(engine: &Engine) -> Result<Client, SecretsError> {
    let credentials = engine.secrets().credentials(Provider::Retell).await?;
    Ok(Client::new(
        &engine.config().retell_api_url,
        credentials.get("api_key"),
    ))
}

/// What Retell is told about an agent with these fields.
pub fn spec(engine: &Engine, fields: &AgentFields) -> Result<AgentSpec, ProvisionError> {
    let public = engine.public().ok_or(ProvisionError::NoPublicUrl)?;
    Ok(AgentSpec {
        name: fields.name.clone(),
        prompt: crate::voice::instructions::render(
            &fields.system_prompt,
            "",
            &fields.context,
            &Map::new(),
        ),
        greeting: fields.greeting.clone(),
        voice_id: fields.retell_voice_id.clone(),
        webhook_url: format!("{}{RETELL_WEBHOOK_PATH}", public.base),
    })
}

/// Creates an agent; one on Retell gets its LLM and agent there first.
pub async fn create(engine: &Engine, input: AgentInput) -> Result<Agent, ProvisionError> {
    let fields = input.apply(AgentFields::default())?;
    if fields.backend != VoiceBackend::Retell {
        return Ok(engine.store().insert_agent(fields, None).await?);
    }
    let (retell, spec) = (client(engine).await?, spec(engine, &fields)?);
    let ids = make(&retell, &spec).await?;
    match engine.store().insert_agent(fields, Some(ids.clone())).await {
        Ok(agent) => Ok(agent),
        Err(e) => {
            remove(&retell, &ids).await;
            Err(e.into())
        }
    }
}

/// Applies an edit: Retell first (made, updated or deleted as the backend says), then the
/// store; a failure at any step puts Retell back as it was.
pub async fn update(engine: &Engine, id: &str, input: AgentInput) -> Result<Agent, ProvisionError> {
    let current = engine.store().get_agent(id).await?;
    let fields = input.clone().apply(AgentFields::from(&current))?;
    let ids = RetellIds::of(&current);
    let store = engine.store();
    match (fields.backend, ids) {
        // Nothing at Retell to keep in step: the input is applied inside the write, over the
        // agent as it is then, so concurrent edits (live context edits) are not lost.
        (VoiceBackend::OpenaiRealtime, None) => {
            Ok(store.replace_agent(id, Edit::Input(input), None).await?)
        }
        (VoiceBackend::OpenaiRealtime, Some(ids)) => {
            // Off Retell: its objects go first, so a failure leaves the agent as it was (and a
            // retry finds the already-deleted one gone, which counts as deleted).
            let retell = client(engine).await?;
            retell.delete_agent(&ids.agent_id).await?;
            retell.delete_llm(&ids.llm_id).await?;
            match store
                .replace_agent(id, Edit::Fields(fields), Some(None))
                .await
            {
                Ok(agent) => Ok(agent),
                Err(e) => {
                    // Retell's objects are gone: the agent keeps its fields but not their ids,
                    // so it shows as not on Retell and its next save makes them again.
                    let kept = AgentFields::from(&current);
                    if let Err(undo) = store
                        .replace_agent(id, Edit::Fields(kept), Some(None))
                        .await
                    {
                        tracing::error!(agent_id = %id, error = %undo, "an agent still names deleted Retell objects");
                    }
                    Err(e.into())
                }
            }
        }
        (VoiceBackend::Retell, None) => {
            let (retell, spec) = (client(engine).await?, spec(engine, &fields)?);
            let ids = make(&retell, &spec).await?;
            match store
                .replace_agent(id, Edit::Fields(fields), Some(Some(ids.clone())))
                .await
            {
                Ok(agent) => Ok(agent),
                Err(e) => {
                    remove(&retell, &ids).await;
                    Err(e.into())
                }
            }
        }
        (VoiceBackend::Retell, Some(ids)) => {
            // As Retell holds it now: the webhook URL it was last given, which an edit after
            // the public URL moved brings up to date.
            let before = AgentSpec {
                webhook_url: ids.webhook_url.clone(),
                ..spec(engine, &AgentFields::from(&current))?
            };
            let after = spec(engine, &fields)?;
            if before == after {
                return Ok(store.replace_agent(id, Edit::Input(input), None).await?);
            }
            let retell = client(engine).await?;
            push(&retell, &ids, &after, &before).await?;
            let now = RetellIds {
                webhook_url: after.webhook_url.clone(),
                ..ids.clone()
            };
            match store
                .replace_agent(id, Edit::Fields(fields), Some(Some(now)))
                .await
            {
                Ok(agent) => Ok(agent),
                Err(e) => {
                    if let Err(undo) = push(&retell, &ids, &before, &after).await {
                        tracing::error!(agent_id = %id, error = %undo, "Retell keeps an edit the store refused");
                    }
                    Err(e.into())
                }
            }
        }
    }
}

/// Deletes an agent and its Retell objects: Retell's first, so a failure there leaves the
/// agent (and a retry finishes the job). Returns the numbers whose assignments were cleared.
pub async fn delete(engine: &Engine, id: &str, force: bool) -> Result<Vec<String>, ProvisionError> {
    let agent = engine.store().get_agent(id).await?;
    let in_use = !engine.store().agent_numbers(id).await?.is_empty();
    if let (Some(llm_id), Some(agent_id)) = (&agent.retell_llm_id, &agent.retell_agent_id)
        && (force || !in_use)
    {
        let retell = client(engine).await?;
        retell.delete_agent(agent_id).await?;
        retell.delete_llm(llm_id).await?;
    }
    Ok(engine.store().delete_agent(id, force).await?)
}

/// Moves every Retell agent still reporting to another URL to this engine's public URL (after
/// it changed). Each that Retell refuses keeps its old URL on record, so the agent list says
/// so and the next save of the agent tries again. Returns how many were moved.
pub async fn repoint_all(engine: &Engine) -> usize {
    let Some(public) = engine.public() else {
        return 0;
    };
    let url = format!("{}{RETELL_WEBHOOK_PATH}", public.base);
    let agents = match engine.store().list_agents().await {
        Ok(agents) => agents,
        Err(e) => {
            tracing::error!(error = %e, "could not list agents to move their Retell webhooks");
            return 0;
        }
    };
    let stale: Vec<_> = agents
        .into_iter()
        .filter(|a| a.backend == VoiceBackend::Retell)
        .filter_map(|a| RetellIds::of(&a).map(|ids| (a, ids)))
        .filter(|(_, ids)| ids.webhook_url != url)
        .collect();
    if stale.is_empty() {
        return 0;
    }
    let retell = match client(engine).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "Retell agents still report to the old public URL");
            return 0;
        }
    };
    let mut moved = 0;
    for (agent, ids) in stale {
        let result = async {
            let spec = spec(engine, &AgentFields::from(&agent))?;
            retell.update_agent(&ids.agent_id, &spec).await?;
            Ok::<_, ProvisionError>(
                engine
                    .store()
                    .set_retell_webhook_url(&agent.id, &ids.agent_id, &spec.webhook_url)
                    .await?,
            )
        }
        .await;
        match result {
            Ok(Some(agent)) => {
                moved += 1;
                engine.events().publish(Event::AgentUpdated { agent });
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(agent_id = %agent.id, error = %e, "a Retell agent still reports to the old public URL")
            }
        }
    }
    moved
}

/// Makes the LLM, then the agent answered by it; if the agent cannot be made, the LLM goes,
/// with any agent Retell made of it without saying so (a timeout after the request left).
async fn make(retell: &Client, spec: &AgentSpec) -> Result<RetellIds, RetellError> {
    let llm_id = retell.create_llm(spec).await?;
    match retell.create_agent(&llm_id, spec).await {
        Ok(agent_id) => Ok(RetellIds {
            llm_id,
            agent_id,
            webhook_url: spec.webhook_url.clone(),
        }),
        Err(e) => {
            if matches!(e, RetellError::Api(CarrierApiError::Unconfirmed { .. })) {
                match retell.agents_of_llm(&llm_id).await {
                    Ok(made) => {
                        for agent_id in made {
                            if let Err(undo) = retell.delete_agent(&agent_id).await {
                                tracing::error!(%agent_id, error = %undo, "an unconfirmed Retell agent could not be deleted");
                            }
                        }
                    }
                    Err(undo) => {
                        tracing::error!(%llm_id, error = %undo, "could not look for an unconfirmed Retell agent");
                    }
                }
            }
            if let Err(undo) = retell.delete_llm(&llm_id).await {
                tracing::error!(%llm_id, error = %undo, "a Retell LLM could not be deleted after its agent failed");
            }
            Err(e)
        }
    }
}

/// Updates the LLM, then the agent; if the agent cannot be updated, the LLM is put back to
/// `undo`.
async fn push(
    retell: &Client,
    ids: &RetellIds,
    spec: &AgentSpec,
    undo: &AgentSpec,
) -> Result<(), RetellError> {
    retell.update_llm(&ids.llm_id, spec).await?;
    if let Err(e) = retell.update_agent(&ids.agent_id, spec).await {
        if let Err(undo) = retell.update_llm(&ids.llm_id, undo).await {
            tracing::error!(llm_id = %ids.llm_id, error = %undo, "a Retell LLM could not be put back");
        }
        return Err(e);
    }
    Ok(())
}

/// Deletes both objects, after the store refused what they were made for.
async fn remove(retell: &Client, ids: &RetellIds) {
    for (what, done) in [
        ("agent", retell.delete_agent(&ids.agent_id).await),
        ("LLM", retell.delete_llm(&ids.llm_id).await),
    ] {
        if let Err(e) = done {
            tracing::error!(what, error = %e, "a Retell object could not be deleted after the store refused its agent");
        }
    }
}
