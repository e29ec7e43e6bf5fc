//! "New agent with a number" (seed 003) in one step, as a saga: the Retell LLM, the Retell
//! agent, the number bought (pointed here as it is bought), then both stored. A step that fails
//! undoes the ones before it (the number released, the Retell agent and LLM deleted); nothing
//! is left half-created or paid for and unmanaged.
//!
//! Every step is written down before it acts and again once it has (`setups`, with the node
//! running it), so a crash in the middle leaves a record that the next start undoes
//! (`recover`; on a shared database, the next node to start, once the setup's node is dead):
//! what the record names is deleted or released, and what it was asking for when the engine
//! stopped is looked for first (the LLM by the setup's mark, the Retell agent by its LLM, the
//! number on the account).
//! A number that is bought but cannot be pointed (an answer lost, then pointing refused) is
//! kept with the agent, and the result says its webhook needs setting.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::agent::AgentFields;
use crate::domain::{Agent, AgentInput, Carrier, PhoneNumber, PhoneNumberInput, VoiceBackend};
use crate::engine::Engine;
use crate::events::Event;
use crate::numbers::{self, NumbersError};
use crate::retell::client::Client as Retell;
use crate::retell::{ProvisionError, RetellError, provision};
use crate::store::StoreError;
use crate::store::agents::RetellIds;
use crate::telephony::{CarrierApi, CarrierApiError, CarrierError, PublicUrl, Purchase};
use crate::web::ApiError;

/// What to make: the agent (any backend; a Retell one gets its LLM and agent made first) and
/// the number to buy for it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupInput {
    pub agent: AgentInput,
    /// `twilio` or `telnyx` (the carriers that can buy numbers here).
    pub carrier: Carrier,
    /// E.164, as the search gave it.
    pub number: String,
    /// The account's address, for numbers that need one.
    pub address_id: Option<String>,
    /// An approved regulatory bundle (Telnyx: requirement group), for numbers that need one.
    pub bundle_id: Option<String>,
}

/// The agent and its number, made and stored together.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SetupDone {
    pub agent: Agent,
    pub phone_number: PhoneNumber,
    /// Set when the number was bought but could not be pointed here: what to do.
    pub warning: Option<String>,
}

/// Why a setup did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Refused before anything was asked of Retell or the carrier.
    #[error("refused before anything was done")]
    Refused(ApiError),
    /// `step` failed after earlier steps acted; each of those was undone (`undone` says what,
    /// `left` what could not be and needs doing by hand).
    #[error("{step} failed")]
    Failed {
        step: &'static str,
        cause: ApiError,
        undone: Vec<String>,
        left: Vec<String>,
    },
}

/// What a setup has done so far: written before each step acts and after it has.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Progress {
    carrier: Option<Carrier>,
    /// E.164.
    number: String,
    /// A Retell LLM was asked for (its id, once known).
    llm_asked: bool,
    llm_id: Option<String>,
    /// A Retell agent was asked for (its id, once known).
    agent_asked: bool,
    retell_agent_id: Option<String>,
    /// The purchase was sent (the number's carrier id, once known).
    buying: bool,
    bought: Option<String>,
    /// Our stored agent, once stored.
    agent_id: Option<String>,
}

impl Progress {
    fn json(&self) -> String {
        serde_json::to_string(self).expect("progress serializes")
    }
}

/// A setup under way: its id, its progress, and where to write it.
struct Saga<'a> {
    engine: &'a Engine,
    id: String,
    progress: Progress,
}

impl Saga<'_> {
    async fn save(&self) -> Result<(), StoreError> {
        self.engine
            .store()
            .save_setup(&self.id, &self.progress.json())
            .await
    }
}

/// Runs a setup to the end, or undoes it.
pub async fn run(engine: &Engine, input: SetupInput) -> Result<SetupDone, SetupError> {
    let refused = |e: ApiError| SetupError::Refused(e);
    // Everything that can be checked is checked before anything is asked or spent.
    let fields = input
        .agent
        .clone()
        .apply(AgentFields::default())
        .map_err(|e| refused(StoreError::from(e).into()))?;
    let agents = engine
        .store()
        .list_agents()
        .await
        .map_err(|e| refused(e.into()))?;
    // As the store's unique index has it (lower(name)): a clash found now costs nothing.
    if agents
        .iter()
        .any(|a| a.name.to_lowercase() == fields.name.to_lowercase())
    {
        return Err(refused(
            StoreError::from(crate::store::Conflict::DuplicateAgentName(
                fields.name.clone(),
            ))
            .into(),
        ));
    }
    let public = engine
        .public()
        .ok_or_else(|| refused(CarrierError::NoPublicUrl.into()))?;
    let api = engine
        .carriers()
        .get(input.carrier)
        .map_err(|e| refused(e.into()))?;
    let region = engine.default_region();
    let number_fields = PhoneNumberInput {
        number: Some(input.number.clone()),
        carrier: Some(input.carrier),
        ..PhoneNumberInput::default()
    };
    let e164 = number_fields
        .clone()
        .create(region.as_deref())
        .map_err(|e| refused(StoreError::from(e).into()))?
        .number;
    if engine
        .store()
        .find_phone_number(&e164)
        .await
        .map_err(|e| refused(e.into()))?
        .is_some()
    {
        return Err(refused(
            StoreError::from(crate::store::Conflict::DuplicateNumber(e164.to_string())).into(),
        ));
    }
    // A Retell agent: the client with the key in force, and what Retell is told.
    let on_retell = match fields.backend {
        VoiceBackend::Retell => Some((
            provision::client(engine)
                .await
                .map_err(|e| refused(ProvisionError::from(e).into()))?,
            provision::spec(engine, &fields).map_err(|e| refused(e.into()))?,
        )),
        VoiceBackend::OpenaiRealtime => None,
    };

    let mut saga = Saga {
        engine,
        id: crate::store::new_id(),
        progress: Progress {
            carrier: Some(input.carrier),
            number: e164.to_string(),
            ..Progress::default()
        },
    };
    saga.save().await.map_err(|e| refused(e.into()))?;
    let purchase = Purchase {
        number: e164.as_str(),
        address_id: input.address_id.as_deref(),
        bundle_id: input.bundle_id.as_deref(),
        public: &public,
    };
    let steps = Steps {
        on_retell: on_retell.as_ref(),
        api,
        purchase: &purchase,
        fields,
        number_fields,
        region: region.as_deref(),
    };
    match steps.run(&mut saga).await {
        Ok(done) => {
            if let Err(e) = engine.store().forget_setup(&saga.id).await {
                // Finished all the same; the next start would find the record and, since the
                // number is stored, leave everything as it is.
                tracing::warn!(setup = %saga.id, error = %e, "a finished setup's record was kept");
            }
            engine.events().publish(Event::AgentCreated {
                agent: done.agent.clone(),
            });
            engine.events().publish(Event::PhoneNumberCreated {
                phone_number: done.phone_number.clone(),
            });
            Ok(done)
        }
        Err((step, cause)) => {
            let retell = on_retell.as_ref().map(|(client, _)| client);
            let (undone, left) = undo(engine, &saga.id, &saga.progress, retell, api).await;
            Err(SetupError::Failed {
                step,
                cause,
                undone,
                left,
            })
        }
    }
}

/// What the steps need, checked beforehand.
struct Steps<'a> {
    on_retell: Option<&'a (Retell, crate::retell::client::AgentSpec)>,
    api: &'a dyn CarrierApi,
    purchase: &'a Purchase<'a>,
    fields: AgentFields,
    number_fields: PhoneNumberInput,
    region: Option<&'a str>,
}

impl Steps<'_> {
    /// The steps in order; the first failure is returned with its step's name.
    async fn run(self, saga: &mut Saga<'_>) -> Result<SetupDone, (&'static str, ApiError)> {
        let store = saga.engine.store().clone();
        let mut retell_ids = None;
        if let Some((retell, spec)) = self.on_retell {
            let step = "Creating the Retell LLM";
            saga.progress.llm_asked = true;
            saga.save().await.map_err(|e| (step, e.into()))?;
            let llm_id = match retell.create_llm_for_setup(spec, &saga.id).await {
                Ok(id) => id,
                Err(e) => {
                    // Refused: made nothing, so nothing is looked for when undoing.
                    saga.progress.llm_asked = !refused_by_retell(&e);
                    return Err((step, e.into()));
                }
            };
            saga.progress.llm_id = Some(llm_id.clone());
            saga.save().await.map_err(|e| (step, e.into()))?;

            let step = "Creating the Retell agent";
            saga.progress.agent_asked = true;
            saga.save().await.map_err(|e| (step, e.into()))?;
            let agent_id = match retell.create_agent(&llm_id, spec).await {
                Ok(id) => id,
                Err(e) => {
                    saga.progress.agent_asked = !refused_by_retell(&e);
                    return Err((step, e.into()));
                }
            };
            saga.progress.retell_agent_id = Some(agent_id.clone());
            saga.save().await.map_err(|e| (step, e.into()))?;
            retell_ids = Some(RetellIds {
                llm_id,
                agent_id,
                webhook_url: spec.webhook_url.clone(),
            });
        }

        let step = "Buying the number";
        saga.progress.buying = true;
        saga.save().await.map_err(|e| (step, e.into()))?;
        let bought = match numbers::purchase(self.api, self.purchase).await {
            Ok(n) => n,
            Err(e) => {
                // A refusal bought nothing; an unconfirmed purchase not found on the account
                // is looked for again when undoing (it may show up late).
                saga.progress.buying = !matches!(
                    e,
                    NumbersError::Carrier(CarrierError::Api(CarrierApiError::Refused { .. }))
                );
                return Err((step, e.into()));
            }
        };
        saga.progress.bought = Some(bought.carrier_number_id.clone());
        saga.save().await.map_err(|e| (step, e.into()))?;

        let step = "Storing the agent and the number";
        let agent = store
            .insert_agent(self.fields, retell_ids)
            .await
            .map_err(|e| (step, e.into()))?;
        saga.progress.agent_id = Some(agent.id.clone());
        saga.save().await.map_err(|e| (step, e.into()))?;
        let mut number_fields = self.number_fields;
        number_fields.inbound_agent_id = Some(Some(agent.id.clone()));
        number_fields.carrier_number_id = Some(Some(bought.carrier_number_id.clone()));
        let stored = store
            .create_phone_number(number_fields, self.region)
            .await
            .map_err(|e| (step, e.into()))?;
        // From here the setup is done: what follows only records where the number points.
        let public: &PublicUrl = self.purchase.public;
        let here = self.api.voice_url(public);
        let pointed = here.is_some() && bought.voice_url == here;
        let phone_number = match store
            .set_number_pointed(
                &stored.id,
                &bought.carrier_number_id,
                bought.voice_url.as_deref(),
            )
            .await
        {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(number = %stored.number, error = %e, "where a set-up number points was not recorded");
                stored
            }
        };
        let agent = store.get_agent(&agent.id).await.unwrap_or(agent);
        Ok(SetupDone {
            agent,
            phone_number,
            warning: (!pointed).then(|| {
                "The number is bought and assigned, but its calls do not come here yet: use \
                 Point here on the Phone Numbers page."
                    .to_owned()
            }),
        })
    }
}

/// Whether Retell answered a request with a refusal: then it did nothing.
fn refused_by_retell(e: &RetellError) -> bool {
    matches!(e, RetellError::Api(CarrierApiError::Refused { .. }))
}

/// Undoes what `progress` says was done or asked for, newest first; forgets the record once
/// nothing is left. Returns what was undone and what could not be (needs doing by hand).
async fn undo(
    engine: &Engine,
    id: &str,
    progress: &Progress,
    retell: Option<&Retell>,
    api: &dyn CarrierApi,
) -> (Vec<String>, Vec<String>) {
    let (mut undone, mut left) = (Vec::new(), Vec::new());
    if let Some(agent_id) = &progress.agent_id {
        match engine.store().delete_agent(agent_id, true).await {
            Ok(_) | Err(StoreError::NotFound { .. }) => {
                undone.push("the stored agent removed".into())
            }
            Err(e) => left.push(format!("the stored agent {agent_id} ({e})")),
        }
    }
    if progress.buying {
        let found = match &progress.bought {
            Some(sid) => Ok(Some(sid.clone())),
            // Sent, answer not heard: the account says whether it was bought.
            None => numbers::find_on_account(api, &progress.number)
                .await
                .map(|n| n.map(|n| n.carrier_number_id)),
        };
        match found {
            Ok(Some(sid)) => match api.release_number(&sid).await {
                Ok(()) => undone.push(format!("{} released", progress.number)),
                Err(e) => left.push(format!(
                    "{} is bought and could not be released ({e})",
                    progress.number
                )),
            },
            Ok(None) => {}
            Err(e) => left.push(format!(
                "{} may have been bought; the account could not be checked ({e})",
                progress.number
            )),
        }
    }
    if let Some(retell) = retell {
        let agents = match (&progress.retell_agent_id, &progress.llm_id) {
            (Some(agent), _) => Ok(vec![agent.clone()]),
            (None, Some(llm)) if progress.agent_asked => retell.agents_of_llm(llm).await,
            _ => Ok(Vec::new()),
        };
        match agents {
            Ok(agents) => {
                for agent in agents {
                    match retell.delete_agent(&agent).await {
                        Ok(()) => undone.push("the Retell agent deleted".into()),
                        Err(e) => left.push(format!("the Retell agent {agent} ({e})")),
                    }
                }
            }
            Err(e) => left.push(format!(
                "a Retell agent may exist; Retell could not be asked ({e})"
            )),
        }
        let llms = match &progress.llm_id {
            Some(llm) => Ok(vec![llm.clone()]),
            None if progress.llm_asked => retell.llms_of_setup(id).await,
            None => Ok(Vec::new()),
        };
        match llms {
            Ok(llms) => {
                for llm in llms {
                    match retell.delete_llm(&llm).await {
                        Ok(()) => undone.push("the Retell LLM deleted".into()),
                        Err(e) => left.push(format!("the Retell LLM {llm} ({e})")),
                    }
                }
            }
            Err(e) => left.push(format!(
                "a Retell LLM may exist; Retell could not be asked ({e})"
            )),
        }
    }
    if left.is_empty() {
        if let Err(e) = engine.store().forget_setup(id).await {
            tracing::warn!(setup = %id, error = %e, "an undone setup's record was kept");
        }
    } else {
        // Kept: the next start tries again.
        tracing::error!(setup = %id, ?left, "a setup could not be fully undone");
    }
    (undone, left)
}

/// Undoes every setup a crash left unfinished: those whose node is dead (this node's earlier
/// run, or another node gone; one under way on a live node is left to it). Each is taken over
/// first, so two nodes starting together do not both undo it. One whose number was stored is
/// complete: its record is only forgotten.
pub async fn recover(engine: &Engine) {
    let now = crate::domain::Timestamp::now();
    let unfinished = match engine.store().take_abandoned_setups(now).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "unfinished setups could not be read");
            return;
        }
    };
    for (id, json) in unfinished {
        let Ok(progress) = serde_json::from_str::<Progress>(&json) else {
            tracing::error!(setup = %id, "an unfinished setup's record is unreadable; kept");
            continue;
        };
        let stored = match crate::domain::E164::parse(&progress.number, None) {
            Ok(e164) => {
                matches!(engine.store().find_phone_number(&e164).await, Ok(Some(n)) if n.inbound_agent_id == progress.agent_id && n.inbound_agent_id.is_some())
            }
            Err(_) => false,
        };
        if stored {
            let _ = engine.store().forget_setup(&id).await;
            continue;
        }
        let retell = if progress.llm_asked {
            match provision::client(engine).await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(setup = %id, error = %e, "an unfinished setup's Retell objects cannot be undone without the key; kept");
                    continue;
                }
            }
        } else {
            None
        };
        let Some(api) = progress.carrier.and_then(|c| engine.carriers().get(c).ok()) else {
            tracing::error!(setup = %id, "an unfinished setup names no carrier; kept");
            continue;
        };
        let (undone, left) = undo(engine, &id, &progress, retell.as_ref(), api).await;
        tracing::warn!(setup = %id, number = %progress.number, ?undone, ?left, "an interrupted setup was undone");
    }
}
