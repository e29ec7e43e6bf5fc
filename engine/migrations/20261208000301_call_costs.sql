-- Call cost estimates (issue 16, point 4). `calls.cost_estimate_usd` (there since the first
-- migration) is filled by an UPDATE of the calls row in the very write that ends the call
-- (store/call_costs.rs), so triggers on `calls` see it; `cost_breakdown` keeps how it was
-- reached (carrier and AI parts, the rates used, as JSON), so later rate edits change no past
-- call. The rates themselves are a JSON value in `settings` under `cost_rates` (absent: the
-- defaults in domain/cost_defaults.json). Calls ended before this migration keep no estimate.
ALTER TABLE calls ADD COLUMN cost_breakdown TEXT;

-- A campaign's cost is read with its progress, twice a second while it runs: from this index
-- alone, not a scan of the log.
CREATE INDEX calls_campaign_cost ON calls (campaign_id, cost_estimate_usd)
    WHERE campaign_id IS NOT NULL;
