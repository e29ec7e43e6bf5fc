-- Several `switchboard serve` nodes on one database: which nodes are up, and which node
-- holds what (the SQLite migration of the same version explains each column).

CREATE TABLE nodes (
    id          TEXT COLLATE "C" PRIMARY KEY,
    url         TEXT,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL
);

ALTER TABLE calls ADD COLUMN node_id TEXT COLLATE "C";

ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT COLLATE "C";
ALTER TABLE webhook_deliveries ADD COLUMN claimed_until BIGINT;

ALTER TABLE call_analyses ADD COLUMN claimed_by TEXT COLLATE "C";

ALTER TABLE setups ADD COLUMN node_id TEXT COLLATE "C";
