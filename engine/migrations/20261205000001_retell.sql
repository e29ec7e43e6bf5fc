-- Retell as an agent's voice backend (issue 14, point 4). Existing agents stay on OpenAI
-- Realtime. The Retell objects made for an agent (its LLM and agent) are kept by id so that
-- edits and deletion reach them; the Retell call a Twilio call was handed to is kept so that
-- Retell's webhooks find the call record.
ALTER TABLE agents ADD COLUMN backend TEXT NOT NULL DEFAULT 'openai_realtime'
    CHECK (backend IN ('openai_realtime', 'retell'));
ALTER TABLE agents ADD COLUMN retell_voice_id TEXT NOT NULL DEFAULT 'retell-Cimo';
ALTER TABLE agents ADD COLUMN retell_llm_id TEXT;
ALTER TABLE agents ADD COLUMN retell_agent_id TEXT;
-- The webhook URL the Retell agent was last given: when the public URL moves, the agents
-- still reporting to the old one are found (and moved) by it.
ALTER TABLE agents ADD COLUMN retell_webhook_url TEXT;

CREATE TABLE retell_calls (
    call_id        TEXT PRIMARY KEY REFERENCES calls (id),
    retell_call_id TEXT NOT NULL UNIQUE,
    registered_at  INTEGER NOT NULL
);
