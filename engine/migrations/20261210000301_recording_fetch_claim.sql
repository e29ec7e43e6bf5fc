-- A carrier's recording waiting to be fetched (`recording_fetch_pending`), and the node
-- fetching it: one node downloads each file, into its own data directory; another takes the
-- fetch over only when that node is dead. NULL: nobody has it yet.
ALTER TABLE calls ADD COLUMN recording_fetch_by TEXT;
