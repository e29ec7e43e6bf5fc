-- Transfers an agent made during a call (issue 15): the target as it was, cold or warm, what
-- the person was told, the carrier's id of the call to them, and how it went. Kept with the
-- call and deleted with it.
CREATE TABLE call_transfers (
    id         TEXT PRIMARY KEY NOT NULL,
    call_id    TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    target     TEXT NOT NULL,
    to_uri     TEXT NOT NULL,
    warm       INTEGER NOT NULL,
    summary    TEXT NOT NULL DEFAULT '',
    leg_id     TEXT,
    state      TEXT NOT NULL CHECK (state IN ('calling', 'answered', 'connected', 'failed')),
    detail     TEXT,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER
);
CREATE INDEX call_transfers_call ON call_transfers (call_id, started_at);
