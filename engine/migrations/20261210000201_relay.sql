-- Live events too big for one PostgreSQL notification (8,000 bytes: an agent's long prompt, a
-- long transcript line) travel to the other nodes by reference: the event here, its number in
-- the notification. Kept a minute (the leader sweeps them). Unused on SQLite (one node).
CREATE TABLE relayed_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
