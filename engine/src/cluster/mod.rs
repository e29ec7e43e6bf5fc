//! Several nodes, one system. Every node renews its heartbeat (`store::nodes`); one node at a
//! time leads: it runs the campaigns and squares what dead nodes left (their calls, their
//! unfinished setups; their analyses, deliveries and fetches any node takes over). On SQLite
//! this node is the only one and leads from its start; on PostgreSQL the leader is whoever
//! holds the campaign lock, and when it dies (its connection goes with it) another node takes
//! the lock within a second and carries on.
//!
//! Why one node runs the campaigns rather than all of them: a campaign's pace (calls a
//! second) and its round-robin over agents and numbers live in its task; run on N nodes at
//! once it would dial N times too fast. Leads and limits would stay safe either way (each
//! claim counts them in the database, under the cluster's write lock), so the leader's death
//! costs a second of dialing, never a lead dialed twice.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::domain::Timestamp;
use crate::engine::Engine;
use crate::store::Kind;
use crate::store::nodes::HEARTBEAT_EVERY_MS;

mod relay;

/// The advisory lock of the node that leads, under the schema's own key ("lead" in ASCII).
const LEAD_LOCK: i64 = 0x6c65_6164;
/// How often a follower tries to lead, and the leader does its rounds.
const ROUND: Duration = Duration::from_secs(1);
/// A dead node's call the carrier could not be asked about is asked again after this.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(30);
/// How often the leader looks for setups dead nodes left unfinished.
const UNDO_EVERY: Duration = Duration::from_secs(10);
/// Nodes dead this long, holding nothing, are forgotten.
const FORGET_AFTER_MS: i64 = 3_600_000;
/// Events too big for a notification are kept this long for the other nodes to read.
const RELAYED_KEPT_MS: i64 = 60_000;
/// In a node's data directory: the id of the node running on it (or that ran on it last).
const NODE_FILE: &str = "node-id";

/// Starts this node's part: its heartbeat, and leading when its turn comes. On SQLite the node
/// leads at once (and the campaigns that were running carry on before this returns, as a
/// restart always did).
pub async fn start(engine: &Engine) {
    let url = engine.settings().node_url().map(str::to_owned);
    if let Err(e) = engine
        .store()
        .heartbeat(url.as_deref(), Timestamp::now())
        .await
    {
        tracing::error!(error = %e, "cannot register this node");
    }
    if let Err(e) = engine.store().retire_other_nodes().await {
        tracing::error!(error = %e, "cannot retire the nodes of earlier runs");
    }
    if engine.store().kind() == Kind::Postgres
        && let Some(previous) = succeed(engine.data_dir(), engine.store().node_id())
        && let Err(e) = engine.store().retire_node(&previous).await
    {
        tracing::error!(error = %e, "cannot retire this data directory's earlier node");
    }
    tokio::spawn(heartbeat(engine.clone(), url));
    relay::start(engine).await;
    let first = match engine.store().try_lease(LEAD_LOCK).await {
        Ok(lease) => lease,
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask for the campaign lock yet");
            None
        }
    };
    if let Some(lease) = first {
        begin_leading(engine).await;
        tokio::spawn(lead(engine.clone(), lease));
    } else {
        tokio::spawn(follow(engine.clone()));
    }
}

/// Names `node` as the one on `data_dir` now, and returns the node named before it: that
/// node is dead, as a data directory has one node at a time (its recordings are there), so a
/// restart squares what it held at once rather than once its heartbeat is old.
fn succeed(data_dir: &Path, node: &str) -> Option<String> {
    let file = data_dir.join(NODE_FILE);
    let previous = std::fs::read_to_string(&file)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s != node);
    if let Err(e) = std::fs::write(&file, node) {
        tracing::warn!(file = %file.display(), error = %e, "cannot note this node's id");
    }
    previous
}

async fn heartbeat(engine: Engine, url: Option<String>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(HEARTBEAT_EVERY_MS)) => {}
            () = engine.stopping() => return,
        }
        if let Err(e) = engine
            .store()
            .heartbeat(url.as_deref(), Timestamp::now())
            .await
        {
            tracing::warn!(error = %e, "heartbeat not written");
        }
    }
}

/// Waits for the lead.
async fn follow(engine: Engine) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(ROUND) => {}
            () = engine.stopping() => return,
        }
        match engine.store().try_lease(LEAD_LOCK).await {
            Ok(Some(lease)) => {
                tracing::info!(
                    node = engine.store().node_id(),
                    "this node leads the campaigns now"
                );
                begin_leading(&engine).await;
                return lead(engine, lease).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot ask for the campaign lock"),
        }
    }
}

async fn begin_leading(engine: &Engine) {
    engine.set_leads_campaigns(true);
    crate::campaigns::resume_all(engine).await;
}

/// The leader's rounds, while it holds the lock.
async fn lead(engine: Engine, mut lease: crate::store::nodes::Lease) {
    let mut asked: HashMap<String, Instant> = HashMap::new();
    let mut undoing: Option<(Instant, tokio::task::JoinHandle<()>)> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(ROUND) => {}
            () = engine.stopping() => return,
        }
        if !lease.held().await {
            // Another node may hold it by now: stop dialing at once (the campaign tasks see
            // this and end), then wait for the next turn.
            tracing::warn!("the campaign lock was lost; this node stops leading");
            engine.set_leads_campaigns(false);
            return Box::pin(follow(engine)).await;
        }
        // Campaigns started through another node (or resumed) are run here.
        crate::campaigns::resume_all_quietly(&engine).await;
        square_dead_nodes(&engine, &mut asked).await;
        // A dead node's unfinished setups (a number bought, paid for and unused) are undone
        // without waiting for a node to start; beside the rounds, as the carriers and Retell
        // may be slow, one pass at a time.
        if undoing
            .as_ref()
            .is_none_or(|(at, task)| task.is_finished() && at.elapsed() >= UNDO_EVERY)
        {
            let e = engine.clone();
            let task = tokio::spawn(async move { crate::setup::recover(&e).await });
            undoing = Some((Instant::now(), task));
        }
        let now = Timestamp::now().as_millis();
        if let Err(e) = engine
            .store()
            .forget_nodes(Timestamp::from_millis(now - FORGET_AFTER_MS))
            .await
        {
            tracing::warn!(error = %e, "cannot forget old nodes");
        }
        if let Err(e) = engine
            .store()
            .prune_relayed(Timestamp::from_millis(now - RELAYED_KEPT_MS))
            .await
        {
            tracing::warn!(error = %e, "cannot forget relayed events");
        }
    }
}

/// Calls a dead node held are squared with their carriers: one whose media it bridged has
/// nothing bridging it any more, so it is hung up at the carrier; then what the carrier says
/// of each is recorded.
async fn square_dead_nodes(engine: &Engine, asked: &mut HashMap<String, Instant>) {
    let calls = match engine.store().calls_of_dead_nodes(Timestamp::now()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the calls of dead nodes");
            return;
        }
    };
    asked.retain(|id, _| calls.iter().any(|(c, _)| &c.id == id));
    for (call, bridged) in calls {
        if asked
            .get(&call.id)
            .is_some_and(|t| t.elapsed() < ASK_AGAIN_AFTER)
            || engine.live_calls().get(&call.id).is_some()
        {
            continue;
        }
        asked.insert(call.id.clone(), Instant::now());
        tracing::info!(call_id = %call.id, "squaring a call its node left (the node died)");
        if bridged
            && call.carrier_call_id.is_some()
            && let Err(e) = crate::calls::hang_up::at_carrier(engine, &call).await
        {
            tracing::warn!(call_id = %call.id, error = %e, "cannot hang up a dead node's call");
        }
        crate::calls::reconcile::reconcile(engine, &call).await;
    }
}
