-- The node fetching a carrier's recording (the SQLite migration of the same version explains it).
ALTER TABLE calls ADD COLUMN recording_fetch_by TEXT COLLATE "C";
