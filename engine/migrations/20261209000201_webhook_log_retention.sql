-- The webhook log kept for 30 days (webhooks/retention.rs): events are found by age, oldest
-- first, without walking the whole outbox every hour.
CREATE INDEX webhook_events_age ON webhook_events (created_at);
-- Deliveries by event: whether an event is still owed, and the cascade when it is deleted
-- (a foreign key's child column unindexed makes every delete scan the table).
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_seq);
