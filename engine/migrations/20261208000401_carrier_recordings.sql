-- Who records an agent's calls when `record_calls` is on: Switchboard itself, or the carrier
-- (its file fetched and kept like Switchboard's own).
ALTER TABLE agents ADD COLUMN recording_source TEXT NOT NULL DEFAULT 'switchboard';

-- A carrier's recording waiting to be fetched into the recordings folder: set when the
-- carrier says it is ready (`recording_url`), cleared once the file is kept or the fetch has
-- given up (the URL stays). Whatever is still set at start is fetched again.
ALTER TABLE calls ADD COLUMN recording_fetch_pending INTEGER NOT NULL DEFAULT 0;
CREATE INDEX calls_recording_fetch ON calls (id) WHERE recording_fetch_pending = 1;
