-- Test calls: an agent tried through this machine's microphone and speakers is a call like any
-- other (transcript, live view, call log), with direction 'test' and carrier 'local'. SQLite
-- cannot alter a CHECK constraint, so the table is rebuilt (SQLite's documented twelve steps;
-- migrations run with foreign keys off, see Store::open, so dropping the old table does not
-- cascade into transcript_lines). An operator who takes a call over speaks in its transcript
-- as 'operator'.
CREATE TABLE calls_new (
    id                TEXT PRIMARY KEY NOT NULL,
    direction         TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'test')),
    carrier           TEXT NOT NULL CHECK (carrier IN ('twilio', 'telnyx', 'livekit', 'local')),
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
    cost_estimate_usd REAL,
    reject_reason     TEXT,
    recording_url     TEXT,
    answered_by       TEXT,
    context           TEXT,
    campaign_id       TEXT REFERENCES campaigns (id) ON DELETE SET NULL,
    lead_id           INTEGER
);
INSERT INTO calls_new (id, direction, carrier, carrier_call_id, from_number, to_number, agent_id,
        number_id, status, started_at, answered_at, ended_at, duration_secs, hangup_cause,
        cost_estimate_usd, reject_reason, recording_url, answered_by, context, campaign_id, lead_id)
    SELECT id, direction, carrier, carrier_call_id, from_number, to_number, agent_id,
        number_id, status, started_at, answered_at, ended_at, duration_secs, hangup_cause,
        cost_estimate_usd, reject_reason, recording_url, answered_by, context, campaign_id, lead_id
    FROM calls;
DROP TABLE calls;
ALTER TABLE calls_new RENAME TO calls;
CREATE UNIQUE INDEX calls_carrier_call ON calls (carrier, carrier_call_id);
CREATE INDEX calls_started ON calls (started_at DESC, id DESC);
CREATE INDEX calls_agent ON calls (agent_id, started_at DESC);
CREATE INDEX calls_live ON calls (agent_id) WHERE status IN ('queued', 'ringing', 'in_progress');
CREATE INDEX calls_campaign_live ON calls (campaign_id)
    WHERE campaign_id IS NOT NULL AND status IN ('queued', 'ringing', 'in_progress');
CREATE TRIGGER calls_count_received AFTER INSERT ON calls
WHEN NEW.direction = 'inbound' AND NEW.reject_reason IS NULL AND NEW.number_id IS NOT NULL
BEGIN
    UPDATE phone_numbers SET calls_received = calls_received + 1 WHERE id = NEW.number_id;
END;
CREATE TABLE transcript_lines_new (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    speaker TEXT NOT NULL CHECK (speaker IN ('caller', 'agent', 'system', 'operator')),
    text    TEXT NOT NULL,
    at      INTEGER NOT NULL
);
INSERT INTO transcript_lines_new (id, call_id, speaker, text, at)
    SELECT id, call_id, speaker, text, at FROM transcript_lines;
DROP TABLE transcript_lines;
ALTER TABLE transcript_lines_new RENAME TO transcript_lines;
CREATE INDEX transcript_lines_call ON transcript_lines (call_id, id);
