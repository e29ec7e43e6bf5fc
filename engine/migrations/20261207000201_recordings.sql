-- Switchboard's own recordings: an agent records its calls when asked (both sides, stereo),
-- optionally saying a disclosure first.
ALTER TABLE agents ADD COLUMN record_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN recording_disclosure TEXT NOT NULL DEFAULT '';

-- A call's recording: its file in the data directory's recordings folder (named, not a path,
-- so the data directory can move), when the recording began (the offset of the transcript's
-- lines into it), and its length once the call ended (NULL while recording, or after a crash
-- until the file is measured again at start).
ALTER TABLE calls ADD COLUMN recording_file TEXT;
ALTER TABLE calls ADD COLUMN recording_started_at INTEGER;
ALTER TABLE calls ADD COLUMN recording_ms INTEGER;

-- The retention sweep looks for old recordings only.
CREATE INDEX calls_recorded ON calls (ended_at) WHERE recording_file IS NOT NULL;
