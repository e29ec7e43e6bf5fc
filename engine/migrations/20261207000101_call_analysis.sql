-- Post-call analysis (issue 16): each agent's settings (a JSON object checked by the engine when
-- the agent is saved: enabled, goal, model, custom fields), and each call's analysis, kept in
-- its own table so that it is also the job queue a restart resumes.
ALTER TABLE agents ADD COLUMN analysis TEXT NOT NULL DEFAULT '{}';

CREATE TABLE call_analyses (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE REFERENCES calls (id) ON DELETE CASCADE,
    -- pending, running, done, failed, skipped
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    summary TEXT,
    goal_met INTEGER,
    sentiment TEXT,
    fields TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    model TEXT,
    analyzed_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX call_analyses_due ON call_analyses (next_attempt_at) WHERE status = 'pending';

-- A call is queued for analysis in the very write that records its end (or a late answer), so
-- no end path has to know about analysis and a crash cannot lose the job. Only answered calls
-- of agents with analysis on.
CREATE TRIGGER calls_analysis_enqueue AFTER UPDATE OF ended_at, answered_at ON calls
WHEN new.ended_at IS NOT NULL AND new.answered_at IS NOT NULL
    AND (old.ended_at IS NULL OR old.answered_at IS NULL)
BEGIN
    INSERT OR IGNORE INTO call_analyses (call_id, status, attempts, next_attempt_at, created_at)
    SELECT new.id, 'pending', 0, new.ended_at, new.ended_at FROM agents a
    WHERE a.id = new.agent_id AND json_extract(a.analysis, '$.enabled') = 1;
END;

-- Full-text search over summaries, beside the transcripts' (20261206000004), same tokenizer.
CREATE VIRTUAL TABLE summary_fts USING fts5(
    summary,
    content = 'call_analyses',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER call_analyses_fts_insert AFTER INSERT ON call_analyses BEGIN
    INSERT INTO summary_fts (rowid, summary) VALUES (new.id, new.summary);
END;
CREATE TRIGGER call_analyses_fts_delete AFTER DELETE ON call_analyses BEGIN
    INSERT INTO summary_fts (summary_fts, rowid, summary) VALUES ('delete', old.id, old.summary);
END;
CREATE TRIGGER call_analyses_fts_update AFTER UPDATE OF summary ON call_analyses BEGIN
    INSERT INTO summary_fts (summary_fts, rowid, summary) VALUES ('delete', old.id, old.summary);
    INSERT INTO summary_fts (rowid, summary) VALUES (new.id, new.summary);
END;
