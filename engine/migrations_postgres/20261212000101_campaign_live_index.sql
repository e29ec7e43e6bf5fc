-- A campaign's live calls by status too (the SQLite migration of the same version explains why).
DROP INDEX calls_campaign_live;
CREATE INDEX calls_campaign_live ON calls (campaign_id, status)
    WHERE campaign_id IS NOT NULL AND status IN ('queued', 'ringing', 'in_progress');
