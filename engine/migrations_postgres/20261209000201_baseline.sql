-- The PostgreSQL baseline: the schema SQLite has after every migration in engine/migrations up
-- to 20261209000201_webhook_log_retention, created at once on an empty schema (the
-- connection's search_path). A PostgreSQL database always starts here, empty, so nothing of
-- SQLite's history (table rebuilds, backfills) is replayed. Later migrations come in pairs, one
-- in each directory, with the same version.
--
-- Same tables, columns in the same order, NOT NULLs, defaults, CHECKs, keys and index names as
-- SQLite (scripts/pg-schema-parity.py compares them), with these translations:
--   * INTEGER is BIGINT (sqlx decodes i64 from INT8 only), REAL is DOUBLE PRECISION.
--   * The 0/1 integers are BOOLEAN: agents.active and record_calls, campaign_agents.is_primary,
--     tool_calls.ok, call_transfers.warm, webhook_endpoints.enabled, call_analyses.goal_met,
--     calls.recording_fetch_pending. Their CHECK (x IN (0, 1)) goes with them.
--   * A rowid key (INTEGER PRIMARY KEY, with or without AUTOINCREMENT) is an identity column,
--     BY DEFAULT so that an explicit id is still accepted (the sequence does not move then).
--   * Text keys, the text columns pointing at them and the text the store sorts by are
--     COLLATE "C": SQLite compares text byte by byte (BINARY), and so does "C", whatever the
--     database's locale; lower() under "C" folds ASCII only, as SQLite's lower() does, so the
--     unique lower(name) indexes refuse exactly what they refuse there.
--   * WITHOUT ROWID has no counterpart (every table here is a heap with its key's index).
--   * FTS5 (transcript_fts, summary_fts) is a generated tsvector column, last in its table, with
--     a GIN index; its sync triggers are not needed.
--   * Every other trigger is a plpgsql function with the same effect, fired by a trigger of the
--     same name on the same event, columns (UPDATE OF) and condition (WHEN).

DO $$
BEGIN
    -- Transcripts are any language; lower() and the search index need real characters.
    IF current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'Switchboard needs a database in UTF8, not %',
            current_setting('server_encoding');
    END IF;
END
$$;

-- A text as the search compares it: accents off and lower case ("Café" is "cafe"), as FTS5's
-- unicode61 tokenizer with remove_diacritics 2 folds it and as the store's Marker does: the
-- canonical decomposition (NFD) without its combining marks. Core PostgreSQL only (no
-- extension, which would belong to one schema of the database). A standard SQL body is bound
-- when it is created, so it works whatever the search_path is when it runs. COLLATE
-- "default": lower() folds as the database's LC_CTYPE does even for a "C" column (a UTF-8
-- locale folds every script; "C" itself folds ASCII only).
CREATE FUNCTION sb_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN lower(regexp_replace(normalize($1, NFD),
        '[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]', '', 'g')
        COLLATE "default");

-- A text as the search index splits it into words: folded, and ASCII punctuation a space, so
-- that words are runs of letters and digits as FTS5's unicode61 has them (PostgreSQL's own
-- parser would keep "a@b.com", "3.14", "x-y" or "/a/b" whole). The search's words go through
-- it too (see the tsv columns).
CREATE FUNCTION sb_words(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN translate(sb_fold($1), '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~', repeat(' ', 32));

-- SQLite's CAST(round(x * 1000000) AS INTEGER) for a cost in dollars: round() there rounds a
-- half away from zero, where PostgreSQL's round(double precision) rounds it to even.
CREATE FUNCTION sb_usd_micros(usd double precision) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (sign(usd * 1000000) * trunc(abs(usd * 1000000) + 0.5::double precision))::bigint;

-- Tables, in an order their foreign keys allow --------------------------------------------------

CREATE TABLE agents (
    id                   TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name                 TEXT COLLATE "C" NOT NULL,
    system_prompt        TEXT NOT NULL DEFAULT '',
    greeting             TEXT NOT NULL DEFAULT '',
    voice                TEXT NOT NULL,
    model                TEXT NOT NULL,
    context              TEXT NOT NULL DEFAULT '{}',   -- a JSON object
    notes                TEXT NOT NULL DEFAULT '',
    max_concurrent_calls BIGINT NOT NULL CHECK (max_concurrent_calls >= 1),
    active               BOOLEAN NOT NULL DEFAULT TRUE,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    backend              TEXT NOT NULL DEFAULT 'openai_realtime'
                         CHECK (backend IN ('openai_realtime', 'retell')),
    retell_voice_id      TEXT NOT NULL DEFAULT 'retell-Cimo',
    retell_llm_id        TEXT,
    retell_agent_id      TEXT,
    retell_webhook_url   TEXT,
    tools                TEXT NOT NULL DEFAULT '[]',
    builtin_tools        TEXT NOT NULL DEFAULT '[]',
    transfer_targets     TEXT NOT NULL DEFAULT '[]',
    mcp_servers          TEXT NOT NULL DEFAULT '[]',
    analysis             TEXT NOT NULL DEFAULT '{}',
    record_calls         BOOLEAN NOT NULL DEFAULT FALSE,
    recording_disclosure TEXT NOT NULL DEFAULT '',
    recording_source     TEXT NOT NULL DEFAULT 'switchboard'
);
-- Names identify agents to people (dropdowns, logs): keep them unique regardless of case.
CREATE UNIQUE INDEX agents_name_unique ON agents (lower(name));

CREATE TABLE phone_numbers (
    id                TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    number            TEXT COLLATE "C" NOT NULL UNIQUE,   -- E.164
    carrier           TEXT NOT NULL CHECK (carrier IN ('twilio', 'telnyx', 'livekit')),
    carrier_number_id TEXT,
    -- No ON DELETE action: deleting an agent still assigned is refused (409) unless forced,
    -- and a forced delete clears these in the same transaction first.
    inbound_agent_id  TEXT COLLATE "C" REFERENCES agents (id),
    outbound_agent_id TEXT COLLATE "C" REFERENCES agents (id),
    label             TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    calls_received    BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    pointed_url       TEXT
);
CREATE INDEX phone_numbers_inbound_agent ON phone_numbers (inbound_agent_id);
CREATE INDEX phone_numbers_outbound_agent ON phone_numbers (outbound_agent_id);

CREATE TABLE campaigns (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('draft', 'running', 'paused', 'stopped', 'completed')),
    prompt      TEXT NOT NULL DEFAULT '',
    settings    TEXT NOT NULL,          -- JSON: limits, window, retries, voicemail, strategy
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX campaigns_name_unique ON campaigns (lower(name));

CREATE TABLE calls (
    id                      TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    direction               TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'test')),
    carrier                 TEXT NOT NULL CHECK (carrier IN ('twilio', 'telnyx', 'livekit', 'local')),
    carrier_call_id         TEXT,
    from_number             TEXT NOT NULL,
    to_number               TEXT NOT NULL,
    -- Call history outlives the agents and numbers it mentions.
    agent_id                TEXT COLLATE "C" REFERENCES agents (id) ON DELETE SET NULL,
    number_id               TEXT COLLATE "C" REFERENCES phone_numbers (id) ON DELETE SET NULL,
    status                  TEXT NOT NULL,
    started_at              BIGINT NOT NULL,
    answered_at             BIGINT,
    ended_at                BIGINT,
    duration_secs           BIGINT,
    hangup_cause            TEXT,
    cost_estimate_usd       DOUBLE PRECISION,
    reject_reason           TEXT,           -- unknown_number, no_inbound_agent, ...
    recording_url           TEXT,
    answered_by             TEXT,           -- machine detection: human, machine, ...
    context                 TEXT,           -- a JSON object, NULL for none
    campaign_id             TEXT COLLATE "C" REFERENCES campaigns (id) ON DELETE SET NULL,
    lead_id                 BIGINT,
    recording_file          TEXT,
    recording_started_at    BIGINT,
    recording_ms            BIGINT,
    cost_breakdown          TEXT,
    recording_fetch_pending BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX calls_carrier_call ON calls (carrier, carrier_call_id);
CREATE INDEX calls_started ON calls (started_at DESC, id DESC);
CREATE INDEX calls_agent ON calls (agent_id, started_at DESC);
CREATE INDEX calls_live ON calls (agent_id) WHERE status IN ('queued', 'ringing', 'in_progress');
CREATE INDEX calls_campaign_live ON calls (campaign_id)
    WHERE campaign_id IS NOT NULL AND status IN ('queued', 'ringing', 'in_progress');
CREATE INDEX calls_recorded ON calls (ended_at) WHERE recording_file IS NOT NULL;
CREATE INDEX calls_campaign_cost ON calls (campaign_id, cost_estimate_usd)
    WHERE campaign_id IS NOT NULL;
CREATE INDEX calls_recording_fetch ON calls (id) WHERE recording_fetch_pending;

CREATE TABLE transcript_lines (
    id      BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    call_id TEXT COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    speaker TEXT NOT NULL CHECK (speaker IN ('caller', 'agent', 'system', 'operator', 'tool')),
    text    TEXT NOT NULL,
    at      BIGINT NOT NULL,
    -- Not in SQLite (FTS5's transcript_fts there), so last: the columns before it are SQLite's,
    -- in SQLite's order. Searched as
    --   tsv @@ (nullif(plainto_tsquery('simple', sb_words($1))::text, '') || ':*')::tsquery
    -- with $1 the typed words joined by spaces: all of them, the last also as a prefix.
    tsv     tsvector GENERATED ALWAYS AS (to_tsvector('simple', sb_words(text))) STORED
);
CREATE INDEX transcript_lines_call ON transcript_lines (call_id, id);
CREATE INDEX transcript_lines_tsv ON transcript_lines USING gin (tsv);

-- Plain settings only (public base URL, default region, ...). Secrets live in the keyring.
CREATE TABLE settings (
    key   TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- One row per carrier event applied; a repeated delivery finds its row and changes nothing.
CREATE TABLE carrier_events (
    carrier     TEXT COLLATE "C" NOT NULL,
    event_key   TEXT COLLATE "C" NOT NULL,   -- Telnyx: data.id; Twilio: CallSid/SequenceNumber/CallStatus
    received_at BIGINT NOT NULL,
    PRIMARY KEY (carrier, event_key)
);

-- The agent pool, in order. Deleting an agent takes it out of every pool.
CREATE TABLE campaign_agents (
    campaign_id TEXT COLLATE "C" NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    agent_id    TEXT COLLATE "C" NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    is_primary  BOOLEAN NOT NULL,
    position    BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, agent_id)
);

-- Caller-ID numbers, in order.
CREATE TABLE campaign_numbers (
    campaign_id TEXT COLLATE "C" NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    number_id   TEXT COLLATE "C" NOT NULL REFERENCES phone_numbers (id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, number_id)
);

CREATE TABLE leads (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    campaign_id     TEXT COLLATE "C" NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    line            BIGINT,             -- line in the imported file
    name            TEXT NOT NULL DEFAULT '',
    phone           TEXT NOT NULL,      -- E.164
    email           TEXT,
    fields          TEXT,               -- JSON object of the file's other columns
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'dialing', 'done', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    last_outcome    TEXT,
    last_call_id    TEXT COLLATE "C"    -- a call's id (no foreign key, as in SQLite)
);
CREATE UNIQUE INDEX leads_campaign_phone ON leads (campaign_id, phone);
-- The dialer's question: which pending lead of this campaign is due first?
CREATE INDEX leads_due ON leads (campaign_id, next_attempt_at, id) WHERE status = 'pending';
-- Progress: leads per status.
CREATE INDEX leads_campaign_status ON leads (campaign_id, status);

CREATE TABLE retell_calls (
    call_id        TEXT COLLATE "C" PRIMARY KEY REFERENCES calls (id),
    retell_call_id TEXT NOT NULL UNIQUE,
    registered_at  BIGINT NOT NULL
);

CREATE TABLE setups (
    id          TEXT COLLATE "C" PRIMARY KEY,
    progress    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Secrets a tool's headers name by reference: their values live in the OS keyring only.
CREATE TABLE tool_secrets (
    name       TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE tool_calls (
    id       BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    call_id  TEXT COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    agent_id TEXT COLLATE "C" REFERENCES agents (id) ON DELETE SET NULL,
    tool     TEXT COLLATE "C" NOT NULL,   -- grouped and sorted by
    ok       BOOLEAN NOT NULL,
    ms       BIGINT NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX tool_calls_agent ON tool_calls (agent_id, tool);

CREATE TABLE call_transfers (
    id         TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    call_id    TEXT COLLATE "C" NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    target     TEXT NOT NULL,
    to_uri     TEXT NOT NULL,
    warm       BOOLEAN NOT NULL,
    summary    TEXT NOT NULL DEFAULT '',
    leg_id     TEXT,
    state      TEXT NOT NULL CHECK (state IN ('calling', 'answered', 'connected', 'failed')),
    detail     TEXT,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT
);
CREATE INDEX call_transfers_call ON call_transfers (call_id, started_at);

CREATE TABLE webhook_endpoints (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    url         TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- Only this campaign's calls. Deleting the campaign deletes the endpoint: widening it to
    -- every call instead would send a CRM calls it never asked for.
    campaign_id TEXT COLLATE "C" REFERENCES campaigns (id) ON DELETE CASCADE,
    -- A JSON array of event types, e.g. ["call.started","call.ended"] (text, read as jsonb).
    events      TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE webhook_events (
    seq        BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    id         TEXT COLLATE "C" NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    call_id    TEXT COLLATE "C" REFERENCES calls (id) ON DELETE SET NULL,
    data       TEXT,
    payload    TEXT,
    created_at BIGINT NOT NULL
);
-- A call starts and ends once: the triggers below rely on finding the event by these.
CREATE UNIQUE INDEX webhook_events_once ON webhook_events (call_id, type)
    WHERE type IN ('call.started', 'call.ended');
CREATE INDEX webhook_events_unrendered ON webhook_events (seq) WHERE payload IS NULL;
CREATE INDEX webhook_events_age ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    endpoint_id     TEXT COLLATE "C" NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_seq       BIGINT NOT NULL REFERENCES webhook_events (seq) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    last_attempt_at BIGINT,
    response_status BIGINT,
    error           TEXT,
    delivered_at    BIGINT,
    created_at      BIGINT NOT NULL,
    UNIQUE (endpoint_id, event_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id DESC);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_seq);

CREATE TABLE call_analyses (
    id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    call_id         TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES calls (id) ON DELETE CASCADE,
    -- pending, running, done, failed, skipped
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    summary         TEXT,
    goal_met        BOOLEAN,
    sentiment       TEXT,
    fields          TEXT NOT NULL DEFAULT '{}',
    error           TEXT,
    model           TEXT,
    analyzed_at     BIGINT,
    created_at      BIGINT NOT NULL,
    -- Not in SQLite (FTS5's summary_fts there), so last; as transcript_lines.tsv.
    tsv             tsvector GENERATED ALWAYS AS (to_tsvector('simple', sb_words(summary))) STORED
);
CREATE INDEX call_analyses_due ON call_analyses (next_attempt_at) WHERE status = 'pending';
CREATE INDEX call_analyses_tsv ON call_analyses USING gin (tsv);

-- The overview's rollups (see engine/migrations/20261208000501_overview.sql and
-- 20261209000101_overview_days.sql for what they hold). Their keys are text keys like any
-- other, so "C" too.
CREATE TABLE call_rollup (
    bucket        BIGINT NOT NULL,
    direction     TEXT COLLATE "C" NOT NULL,
    agent_id      TEXT COLLATE "C" NOT NULL,
    campaign_id   TEXT COLLATE "C" NOT NULL,
    status        TEXT COLLATE "C" NOT NULL,
    calls         BIGINT NOT NULL,
    answered      BIGINT NOT NULL,
    -- Answered by a machine (answering-machine detection), as `domain::call::is_machine`.
    voicemail     BIGINT NOT NULL,
    -- Calls with a duration, the average's denominator.
    timed         BIGINT NOT NULL,
    duration_secs BIGINT NOT NULL,
    costed        BIGINT NOT NULL,
    cost_micros   BIGINT NOT NULL,
    analyzed      BIGINT NOT NULL,
    goal_met      BIGINT NOT NULL,
    goal_missed   BIGINT NOT NULL,
    positive      BIGINT NOT NULL,
    neutral       BIGINT NOT NULL,
    negative      BIGINT NOT NULL,
    PRIMARY KEY (bucket, direction, agent_id, campaign_id, status)
);
-- A campaign's funnel is over its whole life.
CREATE INDEX call_rollup_campaign ON call_rollup (campaign_id, bucket);
-- One agent's overview reads its own quarter hours.
CREATE INDEX call_rollup_agent ON call_rollup (agent_id, bucket);

CREATE TABLE call_rollup_day (
    day           BIGINT NOT NULL,
    direction     TEXT COLLATE "C" NOT NULL,
    agent_id      TEXT COLLATE "C" NOT NULL,
    campaign_id   TEXT COLLATE "C" NOT NULL,
    status        TEXT COLLATE "C" NOT NULL,
    calls         BIGINT NOT NULL,
    answered      BIGINT NOT NULL,
    voicemail     BIGINT NOT NULL,
    timed         BIGINT NOT NULL,
    duration_secs BIGINT NOT NULL,
    costed        BIGINT NOT NULL,
    cost_micros   BIGINT NOT NULL,
    analyzed      BIGINT NOT NULL,
    goal_met      BIGINT NOT NULL,
    goal_missed   BIGINT NOT NULL,
    positive      BIGINT NOT NULL,
    neutral       BIGINT NOT NULL,
    negative      BIGINT NOT NULL,
    PRIMARY KEY (day, direction, agent_id, campaign_id, status)
);

CREATE TABLE call_rollup_chart (
    bucket        BIGINT NOT NULL,
    direction     TEXT COLLATE "C" NOT NULL,
    calls         BIGINT NOT NULL,
    answered      BIGINT NOT NULL,
    voicemail     BIGINT NOT NULL,
    timed         BIGINT NOT NULL,
    duration_secs BIGINT NOT NULL,
    costed        BIGINT NOT NULL,
    cost_micros   BIGINT NOT NULL,
    analyzed      BIGINT NOT NULL,
    goal_met      BIGINT NOT NULL,
    goal_missed   BIGINT NOT NULL,
    positive      BIGINT NOT NULL,
    neutral       BIGINT NOT NULL,
    negative      BIGINT NOT NULL,
    PRIMARY KEY (bucket, direction)
);

-- Triggers -------------------------------------------------------------------------------------
-- PostgreSQL fires a row's AFTER triggers once its statement is done, SQLite right after the
-- row; these only write other tables, so the result is the same. Where SQLite does arithmetic
-- on a comparison (0 or 1), the boolean is cast with ::int.

-- A number's received-call count rises with each inbound call routed to an agent, in the
-- same statement that records the call: routing stays a single atomic write.
CREATE FUNCTION calls_count_received() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE phone_numbers SET calls_received = calls_received + 1 WHERE id = NEW.number_id;
    RETURN NULL;
END
$$;
CREATE TRIGGER calls_count_received AFTER INSERT ON calls FOR EACH ROW
    WHEN (NEW.direction = 'inbound' AND NEW.reject_reason IS NULL AND NEW.number_id IS NOT NULL)
    EXECUTE FUNCTION calls_count_received();

-- Webhooks' outbox: call.started and call.ended are enqueued by triggers on `calls`, in the
-- same transaction as the change that causes them, by every path that answers or ends a call.
-- An event (id 'evt_' and 24 random hex digits, as SQLite's randomblob(12)) if an enabled
-- endpoint wants it, then one delivery per such endpoint. The event's type is the trigger's
-- argument. Test calls (this machine's microphone) are not business calls: no CRM hears of
-- them (each trigger's WHEN). `events` stays TEXT; it is read as jsonb here.
CREATE FUNCTION webhook_call_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    kind text := TG_ARGV[0];
BEGIN
    INSERT INTO webhook_events (id, type, call_id, created_at)
    SELECT 'evt_' || left(replace(gen_random_uuid()::text, '-', ''), 24), kind, NEW.id,
           floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.enabled
        AND (e.campaign_id IS NULL OR e.campaign_id = NEW.campaign_id)
        AND e.events::jsonb @> jsonb_build_array(kind));
    INSERT INTO webhook_deliveries (endpoint_id, event_seq, next_attempt_at, created_at)
    SELECT e.id, ev.seq, ev.created_at, ev.created_at
    FROM webhook_events ev, webhook_endpoints e
    WHERE ev.call_id = NEW.id AND ev.type = kind AND e.enabled
        AND (e.campaign_id IS NULL OR e.campaign_id = NEW.campaign_id)
        AND e.events::jsonb @> jsonb_build_array(kind);
    RETURN NULL;
END
$$;
CREATE TRIGGER webhook_call_answered AFTER UPDATE OF answered_at ON calls FOR EACH ROW
    WHEN (OLD.answered_at IS NULL AND NEW.answered_at IS NOT NULL AND OLD.ended_at IS NULL
          AND NEW.direction <> 'test')
    EXECUTE FUNCTION webhook_call_event('call.started');
CREATE TRIGGER webhook_call_ended AFTER UPDATE OF ended_at ON calls FOR EACH ROW
    WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL AND NEW.direction <> 'test')
    EXECUTE FUNCTION webhook_call_event('call.ended');
-- A call refused on arrival is written already ended: it ends too, once.
CREATE TRIGGER webhook_call_ended_on_arrival AFTER INSERT ON calls FOR EACH ROW
    WHEN (NEW.ended_at IS NOT NULL AND NEW.direction <> 'test')
    EXECUTE FUNCTION webhook_call_event('call.ended');

-- A call is queued for analysis in the very write that records its end (or a late answer), so
-- no end path has to know about analysis and a crash cannot lose the job. Only answered calls
-- of agents with analysis on: SQLite's json_extract(analysis, '$.enabled') = 1 holds for
-- JSON true and for the number 1, hence both here.
CREATE FUNCTION calls_analysis_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_analyses (call_id, status, attempts, next_attempt_at, created_at)
    SELECT NEW.id, 'pending', 0, NEW.ended_at, NEW.ended_at FROM agents a
    WHERE a.id = NEW.agent_id AND (a.analysis::jsonb -> 'enabled') IN ('true'::jsonb, '1'::jsonb)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER calls_analysis_enqueue AFTER UPDATE OF ended_at, answered_at ON calls FOR EACH ROW
    WHEN (NEW.ended_at IS NOT NULL AND NEW.answered_at IS NOT NULL
          AND (OLD.ended_at IS NULL OR OLD.answered_at IS NULL))
    EXECUTE FUNCTION calls_analysis_enqueue();

-- The overview's rollup (engine/migrations/20261208000501_overview.sql): every change to a
-- call takes the old row's contribution out and puts the new one's in; a change to an
-- analysis moves only its own counts, at its call's key. "Answered by a machine" is
-- SQLite's `answered_by LIKE 'machine%'`, which ignores ASCII case only: lower() under "C".

CREATE FUNCTION call_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT NEW.started_at / 900000,
           NEW.direction,
           coalesce(NEW.agent_id, ''),
           coalesce(NEW.campaign_id, ''),
           NEW.status,
           1,
           (NEW.answered_at IS NOT NULL)::int,
           coalesce(lower(NEW.answered_by COLLATE "C") LIKE 'machine%' OR NEW.answered_by = 'fax', false)::int,
           (NEW.duration_secs IS NOT NULL)::int,
           coalesce(NEW.duration_secs, 0),
           (NEW.cost_estimate_usd IS NOT NULL)::int,
           coalesce(sb_usd_micros(NEW.cost_estimate_usd), 0),
           (a.call_id IS NOT NULL)::int,
           coalesce(a.call_id IS NOT NULL AND a.goal_met, false)::int,
           coalesce(a.call_id IS NOT NULL AND NOT a.goal_met, false)::int,
           coalesce(a.call_id IS NOT NULL AND a.sentiment = 'positive', false)::int,
           coalesce(a.call_id IS NOT NULL AND a.sentiment = 'neutral', false)::int,
           coalesce(a.call_id IS NOT NULL AND a.sentiment = 'negative', false)::int
    FROM (SELECT 1) AS one LEFT JOIN call_analyses a ON a.call_id = NEW.id AND a.status = 'done'
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = call_rollup.calls + excluded.calls,
        answered = call_rollup.answered + excluded.answered,
        voicemail = call_rollup.voicemail + excluded.voicemail,
        timed = call_rollup.timed + excluded.timed,
        duration_secs = call_rollup.duration_secs + excluded.duration_secs,
        costed = call_rollup.costed + excluded.costed,
        cost_micros = call_rollup.cost_micros + excluded.cost_micros,
        analyzed = call_rollup.analyzed + excluded.analyzed,
        goal_met = call_rollup.goal_met + excluded.goal_met,
        goal_missed = call_rollup.goal_missed + excluded.goal_missed,
        positive = call_rollup.positive + excluded.positive,
        neutral = call_rollup.neutral + excluded.neutral,
        negative = call_rollup.negative + excluded.negative;
    RETURN NULL;
END
$$;
CREATE TRIGGER call_rollup_insert AFTER INSERT ON calls FOR EACH ROW
    EXECUTE FUNCTION call_rollup_insert();

CREATE FUNCTION call_rollup_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT OLD.started_at / 900000,
           OLD.direction,
           coalesce(OLD.agent_id, ''),
           coalesce(OLD.campaign_id, ''),
           OLD.status,
           -1,
           -((OLD.answered_at IS NOT NULL)::int),
           -(coalesce(lower(OLD.answered_by COLLATE "C") LIKE 'machine%' OR OLD.answered_by = 'fax', false)::int),
           -((OLD.duration_secs IS NOT NULL)::int),
           -(coalesce(OLD.duration_secs, 0)),
           -((OLD.cost_estimate_usd IS NOT NULL)::int),
           -(coalesce(sb_usd_micros(OLD.cost_estimate_usd), 0)),
           -((a.call_id IS NOT NULL)::int),
           -(coalesce(a.call_id IS NOT NULL AND a.goal_met, false)::int),
           -(coalesce(a.call_id IS NOT NULL AND NOT a.goal_met, false)::int),
           -(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'positive', false)::int),
           -(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'neutral', false)::int),
           -(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'negative', false)::int)
    FROM (SELECT 1) AS one LEFT JOIN call_analyses a ON a.call_id = OLD.id AND a.status = 'done'
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = call_rollup.calls + excluded.calls,
        answered = call_rollup.answered + excluded.answered,
        voicemail = call_rollup.voicemail + excluded.voicemail,
        timed = call_rollup.timed + excluded.timed,
        duration_secs = call_rollup.duration_secs + excluded.duration_secs,
        costed = call_rollup.costed + excluded.costed,
        cost_micros = call_rollup.cost_micros + excluded.cost_micros,
        analyzed = call_rollup.analyzed + excluded.analyzed,
        goal_met = call_rollup.goal_met + excluded.goal_met,
        goal_missed = call_rollup.goal_missed + excluded.goal_missed,
        positive = call_rollup.positive + excluded.positive,
        neutral = call_rollup.neutral + excluded.neutral,
        negative = call_rollup.negative + excluded.negative;
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT NEW.started_at / 900000,
           NEW.direction,
           coalesce(NEW.agent_id, ''),
           coalesce(NEW.campaign_id, ''),
           NEW.status,
           1,
           (NEW.answered_at IS NOT NULL)::int,
           coalesce(lower(NEW.answered_by COLLATE "C") LIKE 'machine%' OR NEW.answered_by = 'fax', false)::int,
           (NEW.duration_secs IS NOT NULL)::int,
           coalesce(NEW.duration_secs, 0),
           (NEW.cost_estimate_usd IS NOT NULL)::int,
           coalesce(sb_usd_micros(NEW.cost_estimate_usd), 0),
           (a.call_id IS NOT NULL)::int,
           coalesce(a.call_id IS NOT NULL AND a.goal_met, false)::int,
           coalesce(a.call_id IS NOT NULL AND NOT a.goal_met, false)::int,
           coalesce(a.call_id IS NOT NULL AND a.sentiment = 'positive', false)::int,
           coalesce(a.call_id IS NOT NULL AND a.sentiment = 'neutral', false)::int,
           coalesce(a.call_id IS NOT NULL AND a.sentiment = 'negative', false)::int
    FROM (SELECT 1) AS one LEFT JOIN call_analyses a ON a.call_id = NEW.id AND a.status = 'done'
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = call_rollup.calls + excluded.calls,
        answered = call_rollup.answered + excluded.answered,
        voicemail = call_rollup.voicemail + excluded.voicemail,
        timed = call_rollup.timed + excluded.timed,
        duration_secs = call_rollup.duration_secs + excluded.duration_secs,
        costed = call_rollup.costed + excluded.costed,
        cost_micros = call_rollup.cost_micros + excluded.cost_micros,
        analyzed = call_rollup.analyzed + excluded.analyzed,
        goal_met = call_rollup.goal_met + excluded.goal_met,
        goal_missed = call_rollup.goal_missed + excluded.goal_missed,
        positive = call_rollup.positive + excluded.positive,
        neutral = call_rollup.neutral + excluded.neutral,
        negative = call_rollup.negative + excluded.negative;
    DELETE FROM call_rollup WHERE bucket = OLD.started_at / 900000 AND direction = OLD.direction
        AND agent_id = coalesce(OLD.agent_id, '') AND campaign_id = coalesce(OLD.campaign_id, '')
        AND status = OLD.status AND calls = 0;
    RETURN NULL;
END
$$;
CREATE TRIGGER call_rollup_update AFTER UPDATE OF started_at, direction, agent_id, campaign_id,
    status, answered_at, answered_by, duration_secs, cost_estimate_usd ON calls FOR EACH ROW
    EXECUTE FUNCTION call_rollup_update();

-- The analysis goes first, so its own trigger takes its counts out while the call is still
-- there to say where they were; the foreign key's cascade then finds nothing left.
CREATE FUNCTION call_rollup_delete_analysis() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM call_analyses WHERE call_id = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER call_rollup_delete_analysis BEFORE DELETE ON calls FOR EACH ROW
    EXECUTE FUNCTION call_rollup_delete_analysis();

CREATE FUNCTION call_rollup_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT OLD.started_at / 900000,
           OLD.direction,
           coalesce(OLD.agent_id, ''),
           coalesce(OLD.campaign_id, ''),
           OLD.status,
           -1,
           -((OLD.answered_at IS NOT NULL)::int),
           -(coalesce(lower(OLD.answered_by COLLATE "C") LIKE 'machine%' OR OLD.answered_by = 'fax', false)::int),
           -((OLD.duration_secs IS NOT NULL)::int),
           -(coalesce(OLD.duration_secs, 0)),
           -((OLD.cost_estimate_usd IS NOT NULL)::int),
           -(coalesce(sb_usd_micros(OLD.cost_estimate_usd), 0)),
           -((a.call_id IS NOT NULL)::int),
           -(coalesce(a.call_id IS NOT NULL AND a.goal_met, false)::int),
           -(coalesce(a.call_id IS NOT NULL AND NOT a.goal_met, false)::int),
           -(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'positive', false)::int),
           -(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'neutral', false)::int),
           -(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'negative', false)::int)
    FROM (SELECT 1) AS one LEFT JOIN call_analyses a ON a.call_id = OLD.id AND a.status = 'done'
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = call_rollup.calls + excluded.calls,
        answered = call_rollup.answered + excluded.answered,
        voicemail = call_rollup.voicemail + excluded.voicemail,
        timed = call_rollup.timed + excluded.timed,
        duration_secs = call_rollup.duration_secs + excluded.duration_secs,
        costed = call_rollup.costed + excluded.costed,
        cost_micros = call_rollup.cost_micros + excluded.cost_micros,
        analyzed = call_rollup.analyzed + excluded.analyzed,
        goal_met = call_rollup.goal_met + excluded.goal_met,
        goal_missed = call_rollup.goal_missed + excluded.goal_missed,
        positive = call_rollup.positive + excluded.positive,
        neutral = call_rollup.neutral + excluded.neutral,
        negative = call_rollup.negative + excluded.negative;
    DELETE FROM call_rollup WHERE bucket = OLD.started_at / 900000 AND direction = OLD.direction
        AND agent_id = coalesce(OLD.agent_id, '') AND campaign_id = coalesce(OLD.campaign_id, '')
        AND status = OLD.status AND calls = 0;
    RETURN NULL;
END
$$;
CREATE TRIGGER call_rollup_delete AFTER DELETE ON calls FOR EACH ROW
    EXECUTE FUNCTION call_rollup_delete();

CREATE FUNCTION call_rollup_analysis_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT c.started_at / 900000,
           c.direction,
           coalesce(c.agent_id, ''),
           coalesce(c.campaign_id, ''),
           c.status,
           0, 0, 0, 0, 0, 0, 0,
           (NEW.status = 'done')::int,
           coalesce(NEW.status = 'done' AND NEW.goal_met, false)::int,
           coalesce(NEW.status = 'done' AND NOT NEW.goal_met, false)::int,
           coalesce(NEW.status = 'done' AND NEW.sentiment = 'positive', false)::int,
           coalesce(NEW.status = 'done' AND NEW.sentiment = 'neutral', false)::int,
           coalesce(NEW.status = 'done' AND NEW.sentiment = 'negative', false)::int
    FROM calls c WHERE c.id = NEW.call_id
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = call_rollup.calls + excluded.calls,
        answered = call_rollup.answered + excluded.answered,
        voicemail = call_rollup.voicemail + excluded.voicemail,
        timed = call_rollup.timed + excluded.timed,
        duration_secs = call_rollup.duration_secs + excluded.duration_secs,
        costed = call_rollup.costed + excluded.costed,
        cost_micros = call_rollup.cost_micros + excluded.cost_micros,
        analyzed = call_rollup.analyzed + excluded.analyzed,
        goal_met = call_rollup.goal_met + excluded.goal_met,
        goal_missed = call_rollup.goal_missed + excluded.goal_missed,
        positive = call_rollup.positive + excluded.positive,
        neutral = call_rollup.neutral + excluded.neutral,
        negative = call_rollup.negative + excluded.negative;
    RETURN NULL;
END
$$;
CREATE TRIGGER call_rollup_analysis_insert AFTER INSERT ON call_analyses FOR EACH ROW
    WHEN (NEW.status = 'done')
    EXECUTE FUNCTION call_rollup_analysis_insert();

CREATE FUNCTION call_rollup_analysis_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT c.started_at / 900000,
           c.direction,
           coalesce(c.agent_id, ''),
           coalesce(c.campaign_id, ''),
           c.status,
           0, 0, 0, 0, 0, 0, 0,
           (NEW.status = 'done')::int - (OLD.status = 'done')::int,
           coalesce(NEW.status = 'done' AND NEW.goal_met, false)::int
               - coalesce(OLD.status = 'done' AND OLD.goal_met, false)::int,
           coalesce(NEW.status = 'done' AND NOT NEW.goal_met, false)::int
               - coalesce(OLD.status = 'done' AND NOT OLD.goal_met, false)::int,
           coalesce(NEW.status = 'done' AND NEW.sentiment = 'positive', false)::int
               - coalesce(OLD.status = 'done' AND OLD.sentiment = 'positive', false)::int,
           coalesce(NEW.status = 'done' AND NEW.sentiment = 'neutral', false)::int
               - coalesce(OLD.status = 'done' AND OLD.sentiment = 'neutral', false)::int,
           coalesce(NEW.status = 'done' AND NEW.sentiment = 'negative', false)::int
               - coalesce(OLD.status = 'done' AND OLD.sentiment = 'negative', false)::int
    FROM calls c WHERE c.id = NEW.call_id
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = call_rollup.calls + excluded.calls,
        answered = call_rollup.answered + excluded.answered,
        voicemail = call_rollup.voicemail + excluded.voicemail,
        timed = call_rollup.timed + excluded.timed,
        duration_secs = call_rollup.duration_secs + excluded.duration_secs,
        costed = call_rollup.costed + excluded.costed,
        cost_micros = call_rollup.cost_micros + excluded.cost_micros,
        analyzed = call_rollup.analyzed + excluded.analyzed,
        goal_met = call_rollup.goal_met + excluded.goal_met,
        goal_missed = call_rollup.goal_missed + excluded.goal_missed,
        positive = call_rollup.positive + excluded.positive,
        neutral = call_rollup.neutral + excluded.neutral,
        negative = call_rollup.negative + excluded.negative;
    RETURN NULL;
END
$$;
CREATE TRIGGER call_rollup_analysis_update AFTER UPDATE OF status, goal_met, sentiment
    ON call_analyses FOR EACH ROW
    WHEN (OLD.status = 'done' OR NEW.status = 'done')
    EXECUTE FUNCTION call_rollup_analysis_update();

CREATE FUNCTION call_rollup_analysis_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT c.started_at / 900000,
           c.direction,
           coalesce(c.agent_id, ''),
           coalesce(c.campaign_id, ''),
           c.status,
           0, 0, 0, 0, 0, 0, 0,
           -((OLD.status = 'done')::int),
           -(coalesce(OLD.status = 'done' AND OLD.goal_met, false)::int),
           -(coalesce(OLD.status = 'done' AND NOT OLD.goal_met, false)::int),
           -(coalesce(OLD.status = 'done' AND OLD.sentiment = 'positive', false)::int),
           -(coalesce(OLD.status = 'done' AND OLD.sentiment = 'neutral', false)::int),
           -(coalesce(OLD.status = 'done' AND OLD.sentiment = 'negative', false)::int)
    FROM calls c WHERE c.id = OLD.call_id
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = call_rollup.calls + excluded.calls,
        answered = call_rollup.answered + excluded.answered,
        voicemail = call_rollup.voicemail + excluded.voicemail,
        timed = call_rollup.timed + excluded.timed,
        duration_secs = call_rollup.duration_secs + excluded.duration_secs,
        costed = call_rollup.costed + excluded.costed,
        cost_micros = call_rollup.cost_micros + excluded.cost_micros,
        analyzed = call_rollup.analyzed + excluded.analyzed,
        goal_met = call_rollup.goal_met + excluded.goal_met,
        goal_missed = call_rollup.goal_missed + excluded.goal_missed,
        positive = call_rollup.positive + excluded.positive,
        neutral = call_rollup.neutral + excluded.neutral,
        negative = call_rollup.negative + excluded.negative;
    RETURN NULL;
END
$$;
CREATE TRIGGER call_rollup_analysis_delete AFTER DELETE ON call_analyses FOR EACH ROW
    WHEN (OLD.status = 'done')
    EXECUTE FUNCTION call_rollup_analysis_delete();

-- call_rollup_day and call_rollup_chart (engine/migrations/20261209000101_overview_days.sql)
-- are kept from call_rollup itself: every change there moves the same difference here. An
-- upsert's DO UPDATE fires AFTER UPDATE, its insert AFTER INSERT, as in SQLite.
CREATE FUNCTION call_rollup_day_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_rollup_day (day, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    VALUES (NEW.bucket / 96, NEW.direction, NEW.agent_id, NEW.campaign_id, NEW.status, NEW.calls, NEW.answered, NEW.voicemail, NEW.timed, NEW.duration_secs, NEW.costed, NEW.cost_micros, NEW.analyzed, NEW.goal_met, NEW.goal_missed, NEW.positive, NEW.neutral, NEW.negative)
    ON CONFLICT (day, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = call_rollup_day.calls + excluded.calls,
        answered = call_rollup_day.answered + excluded.answered,
        voicemail = call_rollup_day.voicemail + excluded.voicemail,
        timed = call_rollup_day.timed + excluded.timed,
        duration_secs = call_rollup_day.duration_secs + excluded.duration_secs,
        costed = call_rollup_day.costed + excluded.costed,
        cost_micros = call_rollup_day.cost_micros + excluded.cost_micros,
        analyzed = call_rollup_day.analyzed + excluded.analyzed,
        goal_met = call_rollup_day.goal_met + excluded.goal_met,
        goal_missed = call_rollup_day.goal_missed + excluded.goal_missed,
        positive = call_rollup_day.positive + excluded.positive,
        neutral = call_rollup_day.neutral + excluded.neutral,
        negative = call_rollup_day.negative + excluded.negative;
    INSERT INTO call_rollup_chart (bucket, direction, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    VALUES (NEW.bucket, NEW.direction, NEW.calls, NEW.answered, NEW.voicemail, NEW.timed, NEW.duration_secs, NEW.costed, NEW.cost_micros, NEW.analyzed, NEW.goal_met, NEW.goal_missed, NEW.positive, NEW.neutral, NEW.negative)
    ON CONFLICT (bucket, direction) DO UPDATE SET
        calls = call_rollup_chart.calls + excluded.calls,
        answered = call_rollup_chart.answered + excluded.answered,
        voicemail = call_rollup_chart.voicemail + excluded.voicemail,
        timed = call_rollup_chart.timed + excluded.timed,
        duration_secs = call_rollup_chart.duration_secs + excluded.duration_secs,
        costed = call_rollup_chart.costed + excluded.costed,
        cost_micros = call_rollup_chart.cost_micros + excluded.cost_micros,
        analyzed = call_rollup_chart.analyzed + excluded.analyzed,
        goal_met = call_rollup_chart.goal_met + excluded.goal_met,
        goal_missed = call_rollup_chart.goal_missed + excluded.goal_missed,
        positive = call_rollup_chart.positive + excluded.positive,
        neutral = call_rollup_chart.neutral + excluded.neutral,
        negative = call_rollup_chart.negative + excluded.negative;
    RETURN NULL;
END
$$;
CREATE TRIGGER call_rollup_day_insert AFTER INSERT ON call_rollup FOR EACH ROW
    EXECUTE FUNCTION call_rollup_day_insert();

-- The rollup's upserts change counts only, never keys; the difference goes where the row is.
CREATE FUNCTION call_rollup_day_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_rollup_day (day, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    VALUES (NEW.bucket / 96, NEW.direction, NEW.agent_id, NEW.campaign_id, NEW.status, NEW.calls - OLD.calls, NEW.answered - OLD.answered, NEW.voicemail - OLD.voicemail, NEW.timed - OLD.timed, NEW.duration_secs - OLD.duration_secs, NEW.costed - OLD.costed, NEW.cost_micros - OLD.cost_micros, NEW.analyzed - OLD.analyzed, NEW.goal_met - OLD.goal_met, NEW.goal_missed - OLD.goal_missed, NEW.positive - OLD.positive, NEW.neutral - OLD.neutral, NEW.negative - OLD.negative)
    ON CONFLICT (day, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = call_rollup_day.calls + excluded.calls,
        answered = call_rollup_day.answered + excluded.answered,
        voicemail = call_rollup_day.voicemail + excluded.voicemail,
        timed = call_rollup_day.timed + excluded.timed,
        duration_secs = call_rollup_day.duration_secs + excluded.duration_secs,
        costed = call_rollup_day.costed + excluded.costed,
        cost_micros = call_rollup_day.cost_micros + excluded.cost_micros,
        analyzed = call_rollup_day.analyzed + excluded.analyzed,
        goal_met = call_rollup_day.goal_met + excluded.goal_met,
        goal_missed = call_rollup_day.goal_missed + excluded.goal_missed,
        positive = call_rollup_day.positive + excluded.positive,
        neutral = call_rollup_day.neutral + excluded.neutral,
        negative = call_rollup_day.negative + excluded.negative;
    INSERT INTO call_rollup_chart (bucket, direction, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    VALUES (NEW.bucket, NEW.direction, NEW.calls - OLD.calls, NEW.answered - OLD.answered, NEW.voicemail - OLD.voicemail, NEW.timed - OLD.timed, NEW.duration_secs - OLD.duration_secs, NEW.costed - OLD.costed, NEW.cost_micros - OLD.cost_micros, NEW.analyzed - OLD.analyzed, NEW.goal_met - OLD.goal_met, NEW.goal_missed - OLD.goal_missed, NEW.positive - OLD.positive, NEW.neutral - OLD.neutral, NEW.negative - OLD.negative)
    ON CONFLICT (bucket, direction) DO UPDATE SET
        calls = call_rollup_chart.calls + excluded.calls,
        answered = call_rollup_chart.answered + excluded.answered,
        voicemail = call_rollup_chart.voicemail + excluded.voicemail,
        timed = call_rollup_chart.timed + excluded.timed,
        duration_secs = call_rollup_chart.duration_secs + excluded.duration_secs,
        costed = call_rollup_chart.costed + excluded.costed,
        cost_micros = call_rollup_chart.cost_micros + excluded.cost_micros,
        analyzed = call_rollup_chart.analyzed + excluded.analyzed,
        goal_met = call_rollup_chart.goal_met + excluded.goal_met,
        goal_missed = call_rollup_chart.goal_missed + excluded.goal_missed,
        positive = call_rollup_chart.positive + excluded.positive,
        neutral = call_rollup_chart.neutral + excluded.neutral,
        negative = call_rollup_chart.negative + excluded.negative;
    DELETE FROM call_rollup_day WHERE day = NEW.bucket / 96 AND direction = NEW.direction
        AND agent_id = NEW.agent_id AND campaign_id = NEW.campaign_id AND status = NEW.status
        AND calls = 0;
    DELETE FROM call_rollup_chart WHERE bucket = NEW.bucket AND direction = NEW.direction AND calls = 0;
    RETURN NULL;
END
$$;
CREATE TRIGGER call_rollup_day_update AFTER UPDATE ON call_rollup FOR EACH ROW
    EXECUTE FUNCTION call_rollup_day_update();
