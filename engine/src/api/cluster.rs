//! `/api/cluster`: the nodes sharing this engine's database, for an operator to see that each
//! is up and which one this is. On the embedded SQLite store there is one node, this one.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Timestamp;
use crate::engine::Engine;
use crate::store::Kind;
use crate::web::{ApiResult, ErrorBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterView {
    /// Where this engine keeps its data: `sqlite` (one machine) or `postgresql` (shared).
    pub store: &'static str,
    /// The node answering this request.
    pub node_id: String,
    /// Whether it runs the campaigns (one node at a time does).
    pub leads_campaigns: bool,
    /// The nodes up now (a heartbeat within the last few seconds), the longest running first.
    pub nodes: Vec<NodeView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    pub id: String,
    /// Its own public base, where its calls' media go (`--node-url`), when it has one.
    pub url: Option<String>,
    pub started_at: Timestamp,
    /// Its last heartbeat.
    pub seen_at: Timestamp,
    pub this_node: bool,
}

/// The nodes sharing the database, and this one's part.
#[utoipa::path(operation_id = "get_cluster", get, path = "/api/cluster", tag = "settings",
    responses((status = 200, body = ClusterView), (status = 401, body = ErrorBody)))]
pub async fn get(State(engine): State<Engine>) -> ApiResult<axum::Json<ClusterView>> {
    let store = engine.store();
    let me = store.node_id().to_owned();
    let nodes = store
        .live_nodes(Timestamp::now())
        .await?
        .into_iter()
        .map(|n| NodeView {
            this_node: n.id == me,
            id: n.id,
            url: n.url,
            started_at: Timestamp::from_millis(n.started_at),
            seen_at: Timestamp::from_millis(n.seen_at),
        })
        .collect();
    Ok(axum::Json(ClusterView {
        store: match store.kind() {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgresql",
        },
        node_id: me,
        leads_campaigns: engine.leads_campaigns(),
        nodes,
    }))
}
