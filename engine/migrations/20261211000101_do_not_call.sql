-- The do-not-call list: numbers never dialed, on every campaign (`campaign_id` NULL, the
-- global list) or on one campaign. The dialer's claim and a single call's write both look a
-- number up here in the transaction that commits to dialing, so an entry added mid-campaign
-- is honoured by the very next claim.
CREATE TABLE do_not_call (
    id          INTEGER PRIMARY KEY,
    number      TEXT NOT NULL,          -- E.164
    campaign_id TEXT REFERENCES campaigns (id) ON DELETE CASCADE,
    source      TEXT NOT NULL CHECK (source IN ('manual', 'import', 'opt_out', 'api')),
    note        TEXT NOT NULL DEFAULT '',
    call_id     TEXT,                   -- the call an opt-out was said in
    added_at    INTEGER NOT NULL
);
-- One entry per number and list; NULL is not equal to NULL in a unique index, hence two.
CREATE UNIQUE INDEX do_not_call_global ON do_not_call (number) WHERE campaign_id IS NULL;
CREATE UNIQUE INDEX do_not_call_campaign ON do_not_call (campaign_id, number)
    WHERE campaign_id IS NOT NULL;
-- The claim's question: is this number listed, globally or for this campaign?
CREATE INDEX do_not_call_number ON do_not_call (number);
