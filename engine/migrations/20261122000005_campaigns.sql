-- Outbound calls and campaigns. A lead is claimed and its attempt's call written in one
-- transaction before any carrier is asked to dial, so a crash leaves either an unclaimed
-- lead or an attempt on record to reconcile: never a dial nobody knows about.

CREATE TABLE campaigns (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('draft', 'running', 'paused', 'stopped', 'completed')),
    prompt      TEXT NOT NULL DEFAULT '',
    settings    TEXT NOT NULL,          -- JSON: limits, window, retries, voicemail, strategy
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX campaigns_name_unique ON campaigns (lower(name));

-- The agent pool, in order. Deleting an agent takes it out of every pool.
CREATE TABLE campaign_agents (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    agent_id    TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    is_primary  INTEGER NOT NULL CHECK (is_primary IN (0, 1)),
    position    INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, agent_id)
) WITHOUT ROWID;

-- Caller-ID numbers, in order.
CREATE TABLE campaign_numbers (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    number_id   TEXT NOT NULL REFERENCES phone_numbers (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, number_id)
) WITHOUT ROWID;

-- Leads are many (100,000 in a list is ordinary): integer keys keep their indexes small.
CREATE TABLE leads (
    id              INTEGER PRIMARY KEY,
    campaign_id     TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    line            INTEGER,            -- line in the imported file
    name            TEXT NOT NULL DEFAULT '',
    phone           TEXT NOT NULL,      -- E.164
    email           TEXT,
    fields          TEXT,               -- JSON object of the file's other columns
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'dialing', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_outcome    TEXT,
    last_call_id    TEXT
);
CREATE UNIQUE INDEX leads_campaign_phone ON leads (campaign_id, phone);
-- The dialer's question: which pending lead of this campaign is due first?
CREATE INDEX leads_due ON leads (campaign_id, next_attempt_at, id) WHERE status = 'pending';
-- Progress: leads per status.
CREATE INDEX leads_campaign_status ON leads (campaign_id, status);

-- An outbound call made for a campaign names its campaign and lead.
ALTER TABLE calls ADD COLUMN campaign_id TEXT REFERENCES campaigns (id) ON DELETE SET NULL;
ALTER TABLE calls ADD COLUMN lead_id INTEGER;
CREATE INDEX calls_campaign_live ON calls (campaign_id)
    WHERE campaign_id IS NOT NULL AND status IN ('queued', 'ringing', 'in_progress');
