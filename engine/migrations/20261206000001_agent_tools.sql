-- The agent acts during the call (issue 15): its HTTP tools and the built-in actions switched
-- on for it, each a JSON array checked by the engine when the agent is saved; and the tool
-- calls in a call's transcript, as 'tool' lines. SQLite cannot alter a CHECK constraint, so
-- transcript_lines is rebuilt (migrations run with foreign keys off, see Store::open).
ALTER TABLE agents ADD COLUMN tools TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN builtin_tools TEXT NOT NULL DEFAULT '[]';

CREATE TABLE transcript_lines_new (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    speaker TEXT NOT NULL CHECK (speaker IN ('caller', 'agent', 'system', 'operator', 'tool')),
    text    TEXT NOT NULL,
    at      INTEGER NOT NULL
);
INSERT INTO transcript_lines_new (id, call_id, speaker, text, at)
    SELECT id, call_id, speaker, text, at FROM transcript_lines;
DROP TABLE transcript_lines;
ALTER TABLE transcript_lines_new RENAME TO transcript_lines;
CREATE INDEX transcript_lines_call ON transcript_lines (call_id, id);

-- Secrets a tool's headers name by reference (`{{secret:NAME}}`): their values live in the OS
-- keyring only; this table keeps the names, so they can be listed and a tool checked.
CREATE TABLE tool_secrets (
    name       TEXT PRIMARY KEY NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Each tool call an agent made, for its stats (the transcript says what was asked and
-- answered; this says how it went). Call history outlives the agents it mentions.
CREATE TABLE tool_calls (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id  TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    agent_id TEXT REFERENCES agents (id) ON DELETE SET NULL,
    tool     TEXT NOT NULL,
    ok       INTEGER NOT NULL,
    ms       INTEGER NOT NULL,
    at       INTEGER NOT NULL
);
CREATE INDEX tool_calls_agent ON tool_calls (agent_id, tool);

-- Where the agent's transfer_call may send a caller: named targets (a number or a SIP URI).
ALTER TABLE agents ADD COLUMN transfer_targets TEXT NOT NULL DEFAULT '[]';
