-- Lighter writes per call. Every index on `calls` is rewritten when a call starts and again
-- when its status changes, and under load that page traffic, not the SQL, is what the disk
-- pays for (see BENCHMARKS.md, inbound webhooks).

-- Live calls are few: one small partial index serves both the routing decision's per-agent
-- count and the live view, and rows leave it as calls end. It replaces the two indexes that
-- held every call ever made under its status.
DROP INDEX calls_status;
DROP INDEX calls_agent_status;
CREATE INDEX calls_live ON calls (agent_id) WHERE status IN ('queued', 'ringing', 'in_progress');

-- Filtering the log by number walks the started_at index instead; numbers are few.
DROP INDEX calls_number;

-- Delivery keys are only ever looked up whole: keep them in the key's own b-tree, one page
-- write per event instead of a table row plus an index entry.
CREATE TABLE carrier_events_new (
    carrier     TEXT NOT NULL,
    event_key   TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (carrier, event_key)
) WITHOUT ROWID;
INSERT INTO carrier_events_new SELECT carrier, event_key, received_at FROM carrier_events;
DROP TABLE carrier_events;
ALTER TABLE carrier_events_new RENAME TO carrier_events;
