//! The names of the secrets agents' tools use (their values are in the OS keyring, never
//! here).

use super::db;
use serde::Serialize;
use utoipa::ToSchema;

use super::Store;
use super::error::Result;
use crate::domain::Timestamp;

/// A tool secret as listed: its name, when it was last set, and which agents' tools use it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ToolSecret {
    pub name: String,
    pub updated_at: Timestamp,
    /// "Agent name: tool name" for each tool (and "Agent name: MCP server label" for each MCP
    /// server) whose headers name it.
    pub used_by: Vec<String>,
}

impl Store {
    /// Every tool secret, by name, with the tools that use it.
    pub async fn list_tool_secrets(&self) -> Result<Vec<ToolSecret>> {
        let rows: Vec<(String, i64)> =
            db::query_as("SELECT name, updated_at FROM tool_secrets ORDER BY name")
                .fetch_all(self.pool())
                .await?;
        let agents = self.list_agents().await?;
        Ok(rows
            .into_iter()
            .map(|(name, updated_at)| {
                let used_by = agents
                    .iter()
                    .flat_map(|a| {
                        let tools = a
                            .tools
                            .iter()
                            .filter(|t| t.secret_names().any(|n| n == name))
                            .map(|t| format!("{}: {}", a.name, t.name));
                        let servers = a
                            .mcp_servers
                            .iter()
                            .filter(|m| m.secret_names().any(|n| n == name))
                            .map(|m| format!("{}: MCP server {}", a.name, m.label));
                        tools.chain(servers).collect::<Vec<_>>()
                    })
                    .collect();
                ToolSecret {
                    name,
                    updated_at: Timestamp::from_millis(updated_at),
                    used_by,
                }
            })
            .collect())
    }

    /// Records that secret `name` is set (now).
    pub async fn put_tool_secret(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                db::query(
                    "INSERT INTO tool_secrets (name, updated_at) VALUES (?, ?) \
                     ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at",
                )
                .bind(&name)
                .bind(Timestamp::now().as_millis())
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Forgets secret `name`; whether it was there.
    pub async fn delete_tool_secret(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.write(move |conn| {
            Box::pin(async move {
                let done = db::query("DELETE FROM tool_secrets WHERE name = ?")
                    .bind(&name)
                    .execute(conn)
                    .await?;
                Ok(done.rows_affected() > 0)
            })
        })
        .await
    }
}
