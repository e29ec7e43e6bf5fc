-- Several `switchboard serve` nodes on one database (PostgreSQL; a desktop's SQLite has one
-- node, itself): which nodes are up, and which node holds what, so that a survivor squares
-- what a dead node left and nothing held by a live one.

-- A node: registered when it starts, its heartbeat `seen_at` renewed every second or so; one
-- not seen for a few seconds is dead. `url`: its own public base, where its calls' media go.
CREATE TABLE nodes (
    id          TEXT PRIMARY KEY,
    url         TEXT,
    started_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL
);

-- The node that answered or placed the call: its bridge runs there. NULL for calls from
-- before nodes were recorded (no live node holds them).
ALTER TABLE calls ADD COLUMN node_id TEXT;

-- A delivery being sent, by whom and until when: no two nodes send one delivery at once.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN claimed_until INTEGER;

-- The node running an analysis (status 'running'): another node takes it over only when that
-- node is dead.
ALTER TABLE call_analyses ADD COLUMN claimed_by TEXT;

-- The node running a setup: only a dead node's unfinished setups are undone.
ALTER TABLE setups ADD COLUMN node_id TEXT;
