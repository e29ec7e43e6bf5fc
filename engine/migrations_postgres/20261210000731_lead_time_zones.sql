-- Per-lead time zones: the lead's own IANA zone from its list (NULL: none given), and the
-- zone key the dialer judges calling hours by (zones sorted and joined by '&': the lead's
-- own, else its number's; '' when unknown, read in the campaign window's zone). Leads are
-- claimed per zone key, so the index leads with it.
ALTER TABLE leads ADD COLUMN time_zone TEXT;
ALTER TABLE leads ADD COLUMN zones TEXT NOT NULL DEFAULT '';
CREATE INDEX leads_due_by_zones ON leads (campaign_id, zones, next_attempt_at, id)
    WHERE status = 'pending';
-- A single call's answering-machine policy (JSON, as a campaign's `voicemail`); NULL: no
-- detection asked for, or a campaign call (its campaign's policy applies).
ALTER TABLE calls ADD COLUMN machine_policy TEXT;
