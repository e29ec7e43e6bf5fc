//! Agents in the store.

use serde::Serialize;
use sqlx::FromRow;

use super::db::{self, Conn};
use utoipa::ToSchema;

use super::error::{Conflict, Result, StoreError, not_found, unique_or};
use super::{Store, new_id};
use crate::domain::agent::AgentFields;
use crate::domain::agent::RecordingSource;
use crate::domain::{Agent, AgentInput, CallDirection, Timestamp, VoiceBackend};

#[derive(FromRow)]
struct AgentRow {
    id: String,
    name: String,
    system_prompt: String,
    greeting: String,
    voice: String,
    model: String,
    context: String,
    notes: String,
    max_concurrent_calls: i64,
    active: bool,
    backend: String,
    retell_voice_id: String,
    retell_llm_id: Option<String>,
    retell_agent_id: Option<String>,
    retell_webhook_url: Option<String>,
    tools: String,
    builtin_tools: String,
    transfer_targets: String,
    mcp_servers: String,
    record_calls: bool,
    recording_source: String,
    recording_disclosure: String,
    analysis: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<AgentRow> for Agent {
    type Error = StoreError;
    fn try_from(r: AgentRow) -> Result<Self> {
        let context = serde_json::from_str(&r.context)
            .map_err(|e| StoreError::Corrupt(format!("agent {} context: {e}", r.id)))?;
        let tools = serde_json::from_str(&r.tools)
            .map_err(|e| StoreError::Corrupt(format!("agent {} tools: {e}", r.id)))?;
        let builtin_tools = serde_json::from_str(&r.builtin_tools)
            .map_err(|e| StoreError::Corrupt(format!("agent {} builtin tools: {e}", r.id)))?;
        let transfer_targets = serde_json::from_str(&r.transfer_targets)
            .map_err(|e| StoreError::Corrupt(format!("agent {} transfer targets: {e}", r.id)))?;
        let mcp_servers = serde_json::from_str(&r.mcp_servers)
            .map_err(|e| StoreError::Corrupt(format!("agent {} MCP servers: {e}", r.id)))?;
        let analysis = serde_json::from_str(&r.analysis)
            .map_err(|e| StoreError::Corrupt(format!("agent {} analysis: {e}", r.id)))?;
        let recording_source = RecordingSource::parse(&r.recording_source).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "agent {} recording source {}",
                r.id, r.recording_source
            ))
        })?;
        let backend = VoiceBackend::parse(&r.backend)
            .ok_or_else(|| StoreError::Corrupt(format!("agent {} backend {}", r.id, r.backend)))?;
        Ok(Agent {
            id: r.id,
            name: r.name,
            system_prompt: r.system_prompt,
            greeting: r.greeting,
            voice: r.voice,
            model: r.model,
            context,
            notes: r.notes,
            max_concurrent_calls: u32::try_from(r.max_concurrent_calls).unwrap_or(1),
            active: r.active,
            backend,
            retell_voice_id: r.retell_voice_id,
            retell_llm_id: r.retell_llm_id,
            retell_agent_id: r.retell_agent_id,
            retell_webhook_url: r.retell_webhook_url,
            tools,
            builtin_tools,
            transfer_targets,
            mcp_servers,
            record_calls: r.record_calls,
            recording_source,
            recording_disclosure: r.recording_disclosure,
            analysis,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        })
    }
}

const SELECT: &str = "SELECT id, name, system_prompt, greeting, voice, model, context, notes, \
     max_concurrent_calls, active, backend, retell_voice_id, retell_llm_id, retell_agent_id, \
     retell_webhook_url, tools, builtin_tools, transfer_targets, mcp_servers, record_calls, \
     recording_source, recording_disclosure, analysis, created_at, updated_at FROM agents";

/// The Retell objects made for an agent: its LLM's id and its agent's id, and the webhook URL
/// the agent was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetellIds {
    pub llm_id: String,
    pub agent_id: String,
    pub webhook_url: String,
}

impl RetellIds {
    /// The Retell objects `agent` has, if it has them.
    pub fn of(agent: &Agent) -> Option<Self> {
        Some(Self {
            llm_id: agent.retell_llm_id.clone()?,
            agent_id: agent.retell_agent_id.clone()?,
            webhook_url: agent.retell_webhook_url.clone().unwrap_or_default(),
        })
    }
}

/// Call counts for one agent and one direction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct DirectionStats {
    pub calls: i64,
    pub answered: i64,
    pub total_duration_secs: i64,
    /// Over answered calls that have ended; `null` when there are none.
    pub average_duration_secs: Option<f64>,
    /// The calls' estimated cost (ended calls; see `GET /api/cost-rates`).
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct AgentStats {
    pub agent_id: String,
    pub inbound: DirectionStats,
    pub outbound: DirectionStats,
    /// Phone calls: inbound and outbound together.
    pub total: DirectionStats,
    /// Test calls through this machine's microphone: not phone calls, so not in `total`.
    pub tests: DirectionStats,
    /// Each tool the agent has called, by name: how often, how often it failed.
    pub tools: Vec<ToolStats>,
}

/// One tool's calls by an agent (phone and test calls alike).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ToolStats {
    pub tool: String,
    pub calls: i64,
    /// Calls that came to an error result (refused, timed out, a bad answer).
    pub failures: i64,
    /// Over all its calls, from the model's call to the result.
    pub average_ms: f64,
}

impl Store {
    pub async fn list_agents(&self) -> Result<Vec<Agent>> {
        let rows = db::query_as::<AgentRow>(&format!("{SELECT} ORDER BY lower(name)"))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(Agent::try_from).collect()
    }

    pub async fn get_agent(&self, id: &str) -> Result<Agent> {
        let mut conn = self.pool().acquire().await?;
        fetch_agent(&mut conn, id).await
    }

    pub async fn create_agent(&self, input: AgentInput) -> Result<Agent> {
        let fields = input.apply(AgentFields::default())?;
        self.insert_agent(fields, None).await
    }

    /// Stores a new agent from validated fields, with the Retell objects made for it.
    pub async fn insert_agent(
        &self,
        fields: AgentFields,
        retell: Option<RetellIds>,
    ) -> Result<Agent> {
        self.write(move |conn| {
            Box::pin(async move {
                let now = Timestamp::now();
                let id = new_id();
                let result = bind_fields(
                    db::query(
                        "INSERT INTO agents (name, system_prompt, greeting, voice, model, \
                         context, notes, max_concurrent_calls, active, backend, \
                         retell_voice_id, tools, builtin_tools, transfer_targets, mcp_servers, \
                         record_calls, recording_source, recording_disclosure, analysis, \
                         updated_at, retell_llm_id, retell_agent_id, retell_webhook_url, id, \
                         created_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    ),
                    &fields,
                    now,
                )
                .bind(retell.as_ref().map(|r| r.llm_id.clone()))
                .bind(retell.as_ref().map(|r| r.agent_id.clone()))
                .bind(retell.as_ref().map(|r| r.webhook_url.clone()))
                .bind(&id)
                .bind(now.as_millis())
                .execute(&mut *conn)
                .await;
                unique_or(result, || Conflict::DuplicateAgentName(fields.name).into())?;
                fetch_agent(conn, &id).await
            })
        })
        .await
    }

    /// Applies `input` over the stored agent; its Retell objects stay as they are (callers
    /// that change the backend or what Retell holds use [`Store::replace_agent`]).
    pub async fn update_agent(&self, id: &str, input: AgentInput) -> Result<Agent> {
        self.replace_agent(id, Edit::Input(input), None).await
    }

    /// Stores an agent's new fields and, when `retell` is given, its Retell objects (`None`
    /// inside: it has none any more).
    pub async fn replace_agent(
        &self,
        id: &str,
        edit: Edit,
        retell: Option<Option<RetellIds>>,
    ) -> Result<Agent> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let current = fetch_agent(conn, &id).await?;
                let fields = match edit {
                    Edit::Input(input) => input.apply(AgentFields::from(&current))?,
                    Edit::Fields(fields) => fields,
                };
                let retell = retell.unwrap_or_else(|| RetellIds::of(&current));
                let result = bind_fields(
                    db::query(
                        "UPDATE agents SET name = ?, system_prompt = ?, greeting = ?, voice = ?, \
                         model = ?, context = ?, notes = ?, max_concurrent_calls = ?, \
                         active = ?, backend = ?, retell_voice_id = ?, tools = ?, \
                         builtin_tools = ?, transfer_targets = ?, mcp_servers = ?, \
                         record_calls = ?, recording_source = ?, recording_disclosure = ?, \
                         analysis = ?, updated_at = ?, \
                         retell_llm_id = ?, retell_agent_id = ?, retell_webhook_url = ? \
                         WHERE id = ?",
                    ),
                    &fields,
                    Timestamp::now(),
                )
                .bind(retell.as_ref().map(|r| r.llm_id.clone()))
                .bind(retell.as_ref().map(|r| r.agent_id.clone()))
                .bind(retell.as_ref().map(|r| r.webhook_url.clone()))
                .bind(&id)
                .execute(&mut *conn)
                .await;
                unique_or(result, || Conflict::DuplicateAgentName(fields.name).into())?;
                fetch_agent(conn, &id).await
            })
        })
        .await
    }

    /// Records the webhook URL an agent's Retell agent was moved to; `None` when the agent is
    /// no longer that Retell agent's (deleted or moved off Retell meanwhile).
    pub async fn set_retell_webhook_url(
        &self,
        id: &str,
        retell_agent_id: &str,
        url: &str,
    ) -> Result<Option<Agent>> {
        let (id, retell_agent_id, url) =
            (id.to_owned(), retell_agent_id.to_owned(), url.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query(
                    "UPDATE agents SET retell_webhook_url = ? WHERE id = ? AND retell_agent_id = ?",
                )
                .bind(&url)
                .bind(&id)
                .bind(&retell_agent_id)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                fetch_agent(conn, &id).await.map(Some)
            })
        })
        .await
    }

    /// The numbers (E.164) whose inbound or outbound agent this is.
    pub async fn agent_numbers(&self, id: &str) -> Result<Vec<String>> {
        db::query_scalar(
            "SELECT number FROM phone_numbers \
             WHERE inbound_agent_id = ? OR outbound_agent_id = ? ORDER BY number",
        )
        .bind(id)
        .bind(id)
        .fetch_all(self.pool())
        .await
    }

    /// Deletes an agent. If numbers still use it, refuses with `AgentInUse` unless `force`, in
    /// which case those assignments are cleared with it, atomically. Returns the ids of the
    /// numbers whose assignments were cleared.
    pub async fn delete_agent(&self, id: &str, force: bool) -> Result<Vec<String>> {
        let id = id.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let agent = fetch_agent(conn, &id).await?;
                let users: Vec<(String, String)> = db::query_as(
                    "SELECT id, number FROM phone_numbers \
                     WHERE inbound_agent_id = ? OR outbound_agent_id = ? ORDER BY number",
                )
                .bind(&id)
                .bind(&id)
                .fetch_all(&mut *conn)
                .await?;
                if !users.is_empty() && !force {
                    return Err(Conflict::AgentInUse {
                        agent: agent.name,
                        numbers: users.into_iter().map(|(_, n)| n).collect(),
                    }
                    .into());
                }
                db::query(
                    "UPDATE phone_numbers SET inbound_agent_id = NULL \
                     WHERE inbound_agent_id = ?",
                )
                .bind(&id)
                .execute(&mut *conn)
                .await?;
                db::query(
                    "UPDATE phone_numbers SET outbound_agent_id = NULL \
                     WHERE outbound_agent_id = ?",
                )
                .bind(&id)
                .execute(&mut *conn)
                .await?;
                db::query("DELETE FROM agents WHERE id = ?")
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
                Ok(users.into_iter().map(|(id, _)| id).collect())
            })
        })
        .await
    }

    pub async fn agent_stats(&self, id: &str) -> Result<AgentStats> {
        let mut conn = self.pool().acquire().await?;
        fetch_agent(&mut conn, id).await?;
        let rows: Vec<(String, i64, i64, i64, i64, f64)> = db::query_as(
            "SELECT direction, COUNT(*), COUNT(answered_at), \
                    CAST(COALESCE(SUM(duration_secs), 0) AS BIGINT), COUNT(duration_secs), \
                    COALESCE(SUM(cost_estimate_usd), 0.0) \
             FROM calls WHERE agent_id = ? GROUP BY direction",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let mut stats = AgentStats {
            agent_id: id.to_owned(),
            ..Default::default()
        };
        let mut ended = [0i64; 4];
        for (direction, calls, answered, total, with_duration, cost) in rows {
            let (slot, n) = match CallDirection::parse(&direction) {
                Some(CallDirection::Inbound) => (&mut stats.inbound, 0),
                Some(CallDirection::Outbound) => (&mut stats.outbound, 1),
                Some(CallDirection::Test) => (&mut stats.tests, 3),
                None => return Err(StoreError::Corrupt(format!("call direction {direction}"))),
            };
            slot.calls = calls;
            slot.answered = answered;
            slot.total_duration_secs = total;
            slot.cost_usd = micro_usd(cost);
            ended[n] = with_duration;
        }
        stats.total = DirectionStats {
            calls: stats.inbound.calls + stats.outbound.calls,
            answered: stats.inbound.answered + stats.outbound.answered,
            total_duration_secs: stats.inbound.total_duration_secs
                + stats.outbound.total_duration_secs,
            average_duration_secs: None,
            cost_usd: micro_usd(stats.inbound.cost_usd + stats.outbound.cost_usd),
        };
        ended[2] = ended[0] + ended[1];
        for (slot, n) in [
            (&mut stats.inbound, ended[0]),
            (&mut stats.outbound, ended[1]),
            (&mut stats.total, ended[2]),
            (&mut stats.tests, ended[3]),
        ] {
            slot.average_duration_secs =
                (n > 0).then(|| slot.total_duration_secs as f64 / n as f64);
        }
        let tools: Vec<(String, i64, i64, f64)> = db::query_as(
            "SELECT tool, COUNT(*), SUM(CASE WHEN ok THEN 0 ELSE 1 END), \
             CAST(AVG(ms) AS DOUBLE PRECISION) FROM tool_calls \
             WHERE agent_id = ? GROUP BY tool ORDER BY tool",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        stats.tools = tools
            .into_iter()
            .map(|(tool, calls, failures, average_ms)| ToolStats {
                tool,
                calls,
                failures,
                average_ms,
            })
            .collect();
        Ok(stats)
    }

    /// Records one tool call of `agent_id` on `call_id`: how it went and how long it took.
    pub async fn record_tool_call(
        &self,
        call_id: &str,
        agent_id: &str,
        tool: &str,
        ok: bool,
        ms: u64,
    ) -> Result<()> {
        let (call_id, agent_id, tool) = (call_id.to_owned(), agent_id.to_owned(), tool.to_owned());
        self.write(move |conn| {
            Box::pin(async move {
                db::query(
                    "INSERT INTO tool_calls (call_id, agent_id, tool, ok, ms, at) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(&call_id)
                .bind(&agent_id)
                .bind(&tool)
                .bind(ok)
                .bind(i64::try_from(ms).unwrap_or(i64::MAX))
                .bind(Timestamp::now().as_millis())
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .await
    }
}

/// Binds the editable fields (backend and Retell voice last), then `updated_at`: the column order both INSERT and UPDATE use.
fn bind_fields<'q>(q: db::Query<'q>, f: &AgentFields, now: Timestamp) -> db::Query<'q> {
    q.bind(&f.name)
        .bind(&f.system_prompt)
        .bind(&f.greeting)
        .bind(&f.voice)
        .bind(&f.model)
        .bind(serde_json::Value::Object(f.context.clone()).to_string())
        .bind(&f.notes)
        .bind(i64::from(f.max_concurrent_calls))
        .bind(f.active)
        .bind(f.backend.as_str())
        .bind(&f.retell_voice_id)
        .bind(serde_json::to_string(&f.tools).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::to_string(&f.builtin_tools).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::to_string(&f.transfer_targets).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::to_string(&f.mcp_servers).unwrap_or_else(|_| "[]".into()))
        .bind(f.record_calls)
        .bind(f.recording_source.as_str())
        .bind(&f.recording_disclosure)
        .bind(serde_json::to_string(&f.analysis).unwrap_or_else(|_| "{}".into()))
        .bind(now.as_millis())
}

/// What an update applies over the stored agent.
#[derive(Debug)]
pub enum Edit {
    /// A request's fields, validated against the stored agent inside the write.
    Input(AgentInput),
    /// Fields already validated (and already pushed to Retell) by the caller.
    Fields(AgentFields),
}

pub(crate) async fn fetch_agent(conn: &mut Conn<'_>, id: &str) -> Result<Agent> {
    db::query_as::<AgentRow>(&format!("{SELECT} WHERE id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found("agent", id))?
        .try_into()
}

pub(crate) async fn agent_exists(conn: &mut Conn<'_>, id: &str) -> Result<bool> {
    db::query_scalar("SELECT EXISTS (SELECT 1 FROM agents WHERE id = ?)")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Sums of costs, rounded to a millionth of a dollar as each call's is.
fn micro_usd(usd: f64) -> f64 {
    (usd * 1e6).round() / 1e6
}
