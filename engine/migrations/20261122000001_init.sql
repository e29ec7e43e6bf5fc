-- Switchboard's first schema: agents, managed phone numbers, calls and transcripts, settings.
-- Times are Unix milliseconds (INTEGER): portable to PostgreSQL (BIGINT) and sortable.
-- Ids are UUIDv7 text, so several nodes can mint them without coordination.

CREATE TABLE agents (
    id                   TEXT PRIMARY KEY NOT NULL,
    name                 TEXT NOT NULL,
    system_prompt        TEXT NOT NULL DEFAULT '',
    greeting             TEXT NOT NULL DEFAULT '',
    voice                TEXT NOT NULL,
    model                TEXT NOT NULL,
    context              TEXT NOT NULL DEFAULT '{}',   -- a JSON object
    notes                TEXT NOT NULL DEFAULT '',
    max_concurrent_calls INTEGER NOT NULL CHECK (max_concurrent_calls >= 1),
    active               INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
-- Names identify agents to people (dropdowns, logs): keep them unique regardless of case.
CREATE UNIQUE INDEX agents_name_unique ON agents (lower(name));

CREATE TABLE phone_numbers (
    id                TEXT PRIMARY KEY NOT NULL,
    number            TEXT NOT NULL UNIQUE,           -- E.164
    carrier           TEXT NOT NULL CHECK (carrier IN ('twilio', 'telnyx', 'livekit')),
    carrier_number_id TEXT,
    -- No ON DELETE action: deleting an agent still assigned is refused (409) unless forced,
    -- and a forced delete clears these in the same transaction first.
    inbound_agent_id  TEXT REFERENCES agents (id),
    outbound_agent_id TEXT REFERENCES agents (id),
    label             TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    calls_received    INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL
);
CREATE INDEX phone_numbers_inbound_agent ON phone_numbers (inbound_agent_id);
CREATE INDEX phone_numbers_outbound_agent ON phone_numbers (outbound_agent_id);

CREATE TABLE calls (
    id                TEXT PRIMARY KEY NOT NULL,
    direction         TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    carrier           TEXT NOT NULL CHECK (carrier IN ('twilio', 'telnyx', 'livekit')),
    carrier_call_id   TEXT,
    from_number       TEXT NOT NULL,
    to_number         TEXT NOT NULL,
    -- Call history outlives the agents and numbers it mentions.
    agent_id          TEXT REFERENCES agents (id) ON DELETE SET NULL,
    number_id         TEXT REFERENCES phone_numbers (id) ON DELETE SET NULL,
    status            TEXT NOT NULL,
    started_at        INTEGER NOT NULL,
    answered_at       INTEGER,
    ended_at          INTEGER,
    duration_secs     INTEGER,
    hangup_cause      TEXT,
    cost_estimate_usd REAL
);
CREATE UNIQUE INDEX calls_carrier_call ON calls (carrier, carrier_call_id);
CREATE INDEX calls_started ON calls (started_at DESC, id DESC);
CREATE INDEX calls_agent ON calls (agent_id, started_at DESC);
CREATE INDEX calls_number ON calls (number_id, started_at DESC);
CREATE INDEX calls_status ON calls (status);

CREATE TABLE transcript_lines (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    speaker TEXT NOT NULL CHECK (speaker IN ('caller', 'agent', 'system')),
    text    TEXT NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX transcript_lines_call ON transcript_lines (call_id, id);

-- Plain settings only (public base URL, default region, ...). Secrets live in the keyring.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
