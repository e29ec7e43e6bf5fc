-- Webhooks to the user's own systems (issue 16, point 3): endpoints, the events they are sent,
-- and an outbox of deliveries, one row per endpoint and event.
--
-- call.started and call.ended are enqueued by triggers on `calls`, so the outbox row is
-- written in the same transaction as the change that causes it, by every path that answers or
-- ends a call (carrier reports, the bridge, the dialer, Retell, refusals), and a crash can
-- never keep one without the other. A migration that rebuilds `calls` drops these triggers
-- with it and must create them again (tests/webhooks.rs fails if it does not).
--
-- Signing secrets are in the OS keyring (`webhooks/<endpoint id>`), never here.

CREATE TABLE webhook_endpoints (
    id          TEXT PRIMARY KEY NOT NULL,
    url         TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- Only this campaign's calls. Deleting the campaign deletes the endpoint: widening it to
    -- every call instead would send a CRM calls it never asked for.
    campaign_id TEXT REFERENCES campaigns (id) ON DELETE CASCADE,
    -- A JSON array of event types, e.g. ["call.started","call.ended"].
    events      TEXT NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- One event: what happened to which call. `payload` is the body sent, frozen when first
-- rendered so every attempt and redelivery sends the same bytes (call.started and call.ended
-- are rendered by the delivery task from the call as it then stands; call.analyzed comes with
-- its data).
CREATE TABLE webhook_events (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    call_id    TEXT REFERENCES calls (id) ON DELETE SET NULL,
    data       TEXT,
    payload    TEXT,
    created_at INTEGER NOT NULL
);
-- A call starts and ends once: the triggers below rely on finding the event by these.
CREATE UNIQUE INDEX webhook_events_once ON webhook_events (call_id, type)
    WHERE type IN ('call.started', 'call.ended');
CREATE INDEX webhook_events_unrendered ON webhook_events (seq) WHERE payload IS NULL;

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_seq       INTEGER NOT NULL REFERENCES webhook_events (seq) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_attempt_at INTEGER,
    response_status INTEGER,
    error           TEXT,
    delivered_at    INTEGER,
    created_at      INTEGER NOT NULL,
    UNIQUE (endpoint_id, event_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id DESC);

-- Test calls (this machine's microphone) are not business calls: no CRM hears of them.
CREATE TRIGGER webhook_call_answered AFTER UPDATE OF answered_at ON calls
WHEN OLD.answered_at IS NULL AND NEW.answered_at IS NOT NULL AND OLD.ended_at IS NULL
     AND NEW.direction <> 'test'
BEGIN
    INSERT INTO webhook_events (id, type, call_id, created_at)
    SELECT 'evt_' || lower(hex(randomblob(12))), 'call.started', NEW.id,
           CAST(unixepoch('subsec') * 1000 AS INTEGER)
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.enabled
        AND (e.campaign_id IS NULL OR e.campaign_id = NEW.campaign_id)
        AND EXISTS (SELECT 1 FROM json_each(e.events) WHERE value = 'call.started'));
    INSERT INTO webhook_deliveries (endpoint_id, event_seq, next_attempt_at, created_at)
    SELECT e.id, ev.seq, ev.created_at, ev.created_at
    FROM webhook_events ev, webhook_endpoints e
    WHERE ev.call_id = NEW.id AND ev.type = 'call.started' AND e.enabled
        AND (e.campaign_id IS NULL OR e.campaign_id = NEW.campaign_id)
        AND EXISTS (SELECT 1 FROM json_each(e.events) WHERE value = 'call.started');
END;

CREATE TRIGGER webhook_call_ended AFTER UPDATE OF ended_at ON calls
WHEN OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL AND NEW.direction <> 'test'
BEGIN
    INSERT INTO webhook_events (id, type, call_id, created_at)
    SELECT 'evt_' || lower(hex(randomblob(12))), 'call.ended', NEW.id,
           CAST(unixepoch('subsec') * 1000 AS INTEGER)
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.enabled
        AND (e.campaign_id IS NULL OR e.campaign_id = NEW.campaign_id)
        AND EXISTS (SELECT 1 FROM json_each(e.events) WHERE value = 'call.ended'));
    INSERT INTO webhook_deliveries (endpoint_id, event_seq, next_attempt_at, created_at)
    SELECT e.id, ev.seq, ev.created_at, ev.created_at
    FROM webhook_events ev, webhook_endpoints e
    WHERE ev.call_id = NEW.id AND ev.type = 'call.ended' AND e.enabled
        AND (e.campaign_id IS NULL OR e.campaign_id = NEW.campaign_id)
        AND EXISTS (SELECT 1 FROM json_each(e.events) WHERE value = 'call.ended');
END;

-- A call refused on arrival is written already ended: it ends too, once.
CREATE TRIGGER webhook_call_ended_on_arrival AFTER INSERT ON calls
WHEN NEW.ended_at IS NOT NULL AND NEW.direction <> 'test'
BEGIN
    INSERT INTO webhook_events (id, type, call_id, created_at)
    SELECT 'evt_' || lower(hex(randomblob(12))), 'call.ended', NEW.id,
           CAST(unixepoch('subsec') * 1000 AS INTEGER)
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.enabled
        AND (e.campaign_id IS NULL OR e.campaign_id = NEW.campaign_id)
        AND EXISTS (SELECT 1 FROM json_each(e.events) WHERE value = 'call.ended'));
    INSERT INTO webhook_deliveries (endpoint_id, event_seq, next_attempt_at, created_at)
    SELECT e.id, ev.seq, ev.created_at, ev.created_at
    FROM webhook_events ev, webhook_endpoints e
    WHERE ev.call_id = NEW.id AND ev.type = 'call.ended' AND e.enabled
        AND (e.campaign_id IS NULL OR e.campaign_id = NEW.campaign_id)
        AND EXISTS (SELECT 1 FROM json_each(e.events) WHERE value = 'call.ended');
END;
