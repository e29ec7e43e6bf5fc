-- Inbound calls: why a call was rejected, what the carrier recorded and detected, and which
-- carrier events were already applied (carriers deliver at least once, sometimes out of order).

ALTER TABLE calls ADD COLUMN reject_reason TEXT;       -- unknown_number, no_inbound_agent, ...
ALTER TABLE calls ADD COLUMN recording_url TEXT;
ALTER TABLE calls ADD COLUMN answered_by TEXT;         -- machine detection: human, machine, ...

-- Live calls per agent are counted on every routing decision.
CREATE INDEX calls_agent_status ON calls (agent_id, status);

-- One row per carrier event applied; a repeated delivery finds its row and changes nothing.
CREATE TABLE carrier_events (
    carrier     TEXT NOT NULL,
    event_key   TEXT NOT NULL,   -- Telnyx: data.id; Twilio: CallSid/SequenceNumber/CallStatus
    received_at INTEGER NOT NULL,
    PRIMARY KEY (carrier, event_key)
);

-- A number's received-call count rises with each inbound call routed to an agent, in the
-- same statement that records the call: routing stays a single atomic write.
CREATE TRIGGER calls_count_received AFTER INSERT ON calls
WHEN NEW.direction = 'inbound' AND NEW.reject_reason IS NULL AND NEW.number_id IS NOT NULL
BEGIN
    UPDATE phone_numbers SET calls_received = calls_received + 1 WHERE id = NEW.number_id;
END;
