-- The overview's numbers (issue 16, point 5): a rollup of the call log kept by triggers, so that a
-- chart over a month reads a few thousand rows instead of every call in it.
--
-- One row per quarter hour (UTC: `started_at / 900000`; every time zone's offset is a whole
-- number of quarter hours, so any zone's days are sums of whole buckets), direction, agent,
-- campaign and status ('' for no agent or campaign, as a key cannot hold NULL). Cost is summed
-- in millionths of a dollar, so taking a call out again leaves exactly zero. A post-call
-- analysis counts with its call (goal met, sentiment) once it is done.
--
-- Every change to a call takes the old row's contribution out and puts the new one's in, in
-- AFTER triggers (they fire only for rows really written, so an ignored or failed write moves
-- nothing); a change to an analysis moves only its own counts, at its call's key. A migration
-- that rebuilds `calls` or `call_analyses` drops these triggers with it and must create them
-- again.

CREATE TABLE call_rollup (
    bucket        INTEGER NOT NULL,
    direction     TEXT NOT NULL,
    agent_id      TEXT NOT NULL,
    campaign_id   TEXT NOT NULL,
    status        TEXT NOT NULL,
    calls         INTEGER NOT NULL,
    answered      INTEGER NOT NULL,
    -- Answered by a machine (answering-machine detection), as `domain::call::is_machine`.
    voicemail     INTEGER NOT NULL,
    -- Calls with a duration, the average's denominator.
    timed         INTEGER NOT NULL,
    duration_secs INTEGER NOT NULL,
    costed        INTEGER NOT NULL,
    cost_micros   INTEGER NOT NULL,
    analyzed      INTEGER NOT NULL,
    goal_met      INTEGER NOT NULL,
    goal_missed   INTEGER NOT NULL,
    positive      INTEGER NOT NULL,
    neutral       INTEGER NOT NULL,
    negative      INTEGER NOT NULL,
    PRIMARY KEY (bucket, direction, agent_id, campaign_id, status)
) WITHOUT ROWID;
-- A campaign's funnel is over its whole life.
CREATE INDEX call_rollup_campaign ON call_rollup (campaign_id, bucket);

INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
SELECT c.started_at / 900000,
       c.direction,
       coalesce(c.agent_id, ''),
       coalesce(c.campaign_id, ''),
       c.status,
       sum(1),
       sum(c.answered_at IS NOT NULL),
       sum(coalesce(c.answered_by LIKE 'machine%' OR c.answered_by = 'fax', 0)),
       sum(c.duration_secs IS NOT NULL),
       sum(coalesce(c.duration_secs, 0)),
       sum(c.cost_estimate_usd IS NOT NULL),
       sum(coalesce(CAST(round(c.cost_estimate_usd * 1000000) AS INTEGER), 0)),
       sum(a.call_id IS NOT NULL),
       sum(coalesce(a.call_id IS NOT NULL AND a.goal_met = 1, 0)),
       sum(coalesce(a.call_id IS NOT NULL AND a.goal_met = 0, 0)),
       sum(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'positive', 0)),
       sum(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'neutral', 0)),
       sum(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'negative', 0))
FROM calls c LEFT JOIN call_analyses a ON a.call_id = c.id AND a.status = 'done'
GROUP BY 1, 2, 3, 4, 5;

CREATE TRIGGER call_rollup_insert AFTER INSERT ON calls BEGIN
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT NEW.started_at / 900000,
           NEW.direction,
           coalesce(NEW.agent_id, ''),
           coalesce(NEW.campaign_id, ''),
           NEW.status,
           1,
           NEW.answered_at IS NOT NULL,
           coalesce(NEW.answered_by LIKE 'machine%' OR NEW.answered_by = 'fax', 0),
           NEW.duration_secs IS NOT NULL,
           coalesce(NEW.duration_secs, 0),
           NEW.cost_estimate_usd IS NOT NULL,
           coalesce(CAST(round(NEW.cost_estimate_usd * 1000000) AS INTEGER), 0),
           a.call_id IS NOT NULL,
           coalesce(a.call_id IS NOT NULL AND a.goal_met = 1, 0),
           coalesce(a.call_id IS NOT NULL AND a.goal_met = 0, 0),
           coalesce(a.call_id IS NOT NULL AND a.sentiment = 'positive', 0),
           coalesce(a.call_id IS NOT NULL AND a.sentiment = 'neutral', 0),
           coalesce(a.call_id IS NOT NULL AND a.sentiment = 'negative', 0)
    FROM (SELECT 1) LEFT JOIN call_analyses a ON a.call_id = NEW.id AND a.status = 'done'
    WHERE true
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = calls + excluded.calls,
        answered = answered + excluded.answered,
        voicemail = voicemail + excluded.voicemail,
        timed = timed + excluded.timed,
        duration_secs = duration_secs + excluded.duration_secs,
        costed = costed + excluded.costed,
        cost_micros = cost_micros + excluded.cost_micros,
        analyzed = analyzed + excluded.analyzed,
        goal_met = goal_met + excluded.goal_met,
        goal_missed = goal_missed + excluded.goal_missed,
        positive = positive + excluded.positive,
        neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
END;

CREATE TRIGGER call_rollup_update AFTER UPDATE OF started_at, direction, agent_id, campaign_id, status, answered_at, answered_by,
    duration_secs, cost_estimate_usd ON calls BEGIN
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT OLD.started_at / 900000,
           OLD.direction,
           coalesce(OLD.agent_id, ''),
           coalesce(OLD.campaign_id, ''),
           OLD.status,
           -(1),
           -(OLD.answered_at IS NOT NULL),
           -(coalesce(OLD.answered_by LIKE 'machine%' OR OLD.answered_by = 'fax', 0)),
           -(OLD.duration_secs IS NOT NULL),
           -(coalesce(OLD.duration_secs, 0)),
           -(OLD.cost_estimate_usd IS NOT NULL),
           -(coalesce(CAST(round(OLD.cost_estimate_usd * 1000000) AS INTEGER), 0)),
           -(a.call_id IS NOT NULL),
           -(coalesce(a.call_id IS NOT NULL AND a.goal_met = 1, 0)),
           -(coalesce(a.call_id IS NOT NULL AND a.goal_met = 0, 0)),
           -(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'positive', 0)),
           -(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'neutral', 0)),
           -(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'negative', 0))
    FROM (SELECT 1) LEFT JOIN call_analyses a ON a.call_id = OLD.id AND a.status = 'done'
    WHERE true
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = calls + excluded.calls,
        answered = answered + excluded.answered,
        voicemail = voicemail + excluded.voicemail,
        timed = timed + excluded.timed,
        duration_secs = duration_secs + excluded.duration_secs,
        costed = costed + excluded.costed,
        cost_micros = cost_micros + excluded.cost_micros,
        analyzed = analyzed + excluded.analyzed,
        goal_met = goal_met + excluded.goal_met,
        goal_missed = goal_missed + excluded.goal_missed,
        positive = positive + excluded.positive,
        neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT NEW.started_at / 900000,
           NEW.direction,
           coalesce(NEW.agent_id, ''),
           coalesce(NEW.campaign_id, ''),
           NEW.status,
           1,
           NEW.answered_at IS NOT NULL,
           coalesce(NEW.answered_by LIKE 'machine%' OR NEW.answered_by = 'fax', 0),
           NEW.duration_secs IS NOT NULL,
           coalesce(NEW.duration_secs, 0),
           NEW.cost_estimate_usd IS NOT NULL,
           coalesce(CAST(round(NEW.cost_estimate_usd * 1000000) AS INTEGER), 0),
           a.call_id IS NOT NULL,
           coalesce(a.call_id IS NOT NULL AND a.goal_met = 1, 0),
           coalesce(a.call_id IS NOT NULL AND a.goal_met = 0, 0),
           coalesce(a.call_id IS NOT NULL AND a.sentiment = 'positive', 0),
           coalesce(a.call_id IS NOT NULL AND a.sentiment = 'neutral', 0),
           coalesce(a.call_id IS NOT NULL AND a.sentiment = 'negative', 0)
    FROM (SELECT 1) LEFT JOIN call_analyses a ON a.call_id = NEW.id AND a.status = 'done'
    WHERE true
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = calls + excluded.calls,
        answered = answered + excluded.answered,
        voicemail = voicemail + excluded.voicemail,
        timed = timed + excluded.timed,
        duration_secs = duration_secs + excluded.duration_secs,
        costed = costed + excluded.costed,
        cost_micros = cost_micros + excluded.cost_micros,
        analyzed = analyzed + excluded.analyzed,
        goal_met = goal_met + excluded.goal_met,
        goal_missed = goal_missed + excluded.goal_missed,
        positive = positive + excluded.positive,
        neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
    DELETE FROM call_rollup WHERE bucket = OLD.started_at / 900000 AND direction = OLD.direction
        AND agent_id = coalesce(OLD.agent_id, '') AND campaign_id = coalesce(OLD.campaign_id, '')
        AND status = OLD.status AND calls = 0;
END;

-- The analysis goes first, so its own trigger takes its counts out while the call is still
-- there to say where they were; the foreign key's cascade then finds nothing left.
CREATE TRIGGER call_rollup_delete_analysis BEFORE DELETE ON calls BEGIN
    DELETE FROM call_analyses WHERE call_id = OLD.id;
END;
CREATE TRIGGER call_rollup_delete AFTER DELETE ON calls BEGIN
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT OLD.started_at / 900000,
           OLD.direction,
           coalesce(OLD.agent_id, ''),
           coalesce(OLD.campaign_id, ''),
           OLD.status,
           -(1),
           -(OLD.answered_at IS NOT NULL),
           -(coalesce(OLD.answered_by LIKE 'machine%' OR OLD.answered_by = 'fax', 0)),
           -(OLD.duration_secs IS NOT NULL),
           -(coalesce(OLD.duration_secs, 0)),
           -(OLD.cost_estimate_usd IS NOT NULL),
           -(coalesce(CAST(round(OLD.cost_estimate_usd * 1000000) AS INTEGER), 0)),
           -(a.call_id IS NOT NULL),
           -(coalesce(a.call_id IS NOT NULL AND a.goal_met = 1, 0)),
           -(coalesce(a.call_id IS NOT NULL AND a.goal_met = 0, 0)),
           -(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'positive', 0)),
           -(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'neutral', 0)),
           -(coalesce(a.call_id IS NOT NULL AND a.sentiment = 'negative', 0))
    FROM (SELECT 1) LEFT JOIN call_analyses a ON a.call_id = OLD.id AND a.status = 'done'
    WHERE true
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = calls + excluded.calls,
        answered = answered + excluded.answered,
        voicemail = voicemail + excluded.voicemail,
        timed = timed + excluded.timed,
        duration_secs = duration_secs + excluded.duration_secs,
        costed = costed + excluded.costed,
        cost_micros = cost_micros + excluded.cost_micros,
        analyzed = analyzed + excluded.analyzed,
        goal_met = goal_met + excluded.goal_met,
        goal_missed = goal_missed + excluded.goal_missed,
        positive = positive + excluded.positive,
        neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
    DELETE FROM call_rollup WHERE bucket = OLD.started_at / 900000 AND direction = OLD.direction
        AND agent_id = coalesce(OLD.agent_id, '') AND campaign_id = coalesce(OLD.campaign_id, '')
        AND status = OLD.status AND calls = 0;
END;

CREATE TRIGGER call_rollup_analysis_insert AFTER INSERT ON call_analyses
WHEN NEW.status = 'done' BEGIN
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT c.started_at / 900000,
           c.direction,
           coalesce(c.agent_id, ''),
           coalesce(c.campaign_id, ''),
           c.status,
           0,
           0,
           0,
           0,
           0,
           0,
           0,
           NEW.status = 'done',
           coalesce(NEW.status = 'done' AND NEW.goal_met = 1, 0),
           coalesce(NEW.status = 'done' AND NEW.goal_met = 0, 0),
           coalesce(NEW.status = 'done' AND NEW.sentiment = 'positive', 0),
           coalesce(NEW.status = 'done' AND NEW.sentiment = 'neutral', 0),
           coalesce(NEW.status = 'done' AND NEW.sentiment = 'negative', 0)
    FROM calls c WHERE c.id = NEW.call_id
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = calls + excluded.calls,
        answered = answered + excluded.answered,
        voicemail = voicemail + excluded.voicemail,
        timed = timed + excluded.timed,
        duration_secs = duration_secs + excluded.duration_secs,
        costed = costed + excluded.costed,
        cost_micros = cost_micros + excluded.cost_micros,
        analyzed = analyzed + excluded.analyzed,
        goal_met = goal_met + excluded.goal_met,
        goal_missed = goal_missed + excluded.goal_missed,
        positive = positive + excluded.positive,
        neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
END;
CREATE TRIGGER call_rollup_analysis_update AFTER UPDATE OF status, goal_met, sentiment ON call_analyses
WHEN OLD.status = 'done' OR NEW.status = 'done' BEGIN
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT c.started_at / 900000,
           c.direction,
           coalesce(c.agent_id, ''),
           coalesce(c.campaign_id, ''),
           c.status,
           0,
           0,
           0,
           0,
           0,
           0,
           0,
           (NEW.status = 'done') - (OLD.status = 'done'),
           (coalesce(NEW.status = 'done' AND NEW.goal_met = 1, 0)) - (coalesce(OLD.status = 'done' AND OLD.goal_met = 1, 0)),
           (coalesce(NEW.status = 'done' AND NEW.goal_met = 0, 0)) - (coalesce(OLD.status = 'done' AND OLD.goal_met = 0, 0)),
           (coalesce(NEW.status = 'done' AND NEW.sentiment = 'positive', 0)) - (coalesce(OLD.status = 'done' AND OLD.sentiment = 'positive', 0)),
           (coalesce(NEW.status = 'done' AND NEW.sentiment = 'neutral', 0)) - (coalesce(OLD.status = 'done' AND OLD.sentiment = 'neutral', 0)),
           (coalesce(NEW.status = 'done' AND NEW.sentiment = 'negative', 0)) - (coalesce(OLD.status = 'done' AND OLD.sentiment = 'negative', 0))
    FROM calls c WHERE c.id = NEW.call_id
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = calls + excluded.calls,
        answered = answered + excluded.answered,
        voicemail = voicemail + excluded.voicemail,
        timed = timed + excluded.timed,
        duration_secs = duration_secs + excluded.duration_secs,
        costed = costed + excluded.costed,
        cost_micros = cost_micros + excluded.cost_micros,
        analyzed = analyzed + excluded.analyzed,
        goal_met = goal_met + excluded.goal_met,
        goal_missed = goal_missed + excluded.goal_missed,
        positive = positive + excluded.positive,
        neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
END;
CREATE TRIGGER call_rollup_analysis_delete AFTER DELETE ON call_analyses
WHEN OLD.status = 'done' BEGIN
    INSERT INTO call_rollup (bucket, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    SELECT c.started_at / 900000,
           c.direction,
           coalesce(c.agent_id, ''),
           coalesce(c.campaign_id, ''),
           c.status,
           0,
           0,
           0,
           0,
           0,
           0,
           0,
           -(OLD.status = 'done'),
           -(coalesce(OLD.status = 'done' AND OLD.goal_met = 1, 0)),
           -(coalesce(OLD.status = 'done' AND OLD.goal_met = 0, 0)),
           -(coalesce(OLD.status = 'done' AND OLD.sentiment = 'positive', 0)),
           -(coalesce(OLD.status = 'done' AND OLD.sentiment = 'neutral', 0)),
           -(coalesce(OLD.status = 'done' AND OLD.sentiment = 'negative', 0))
    FROM calls c WHERE c.id = OLD.call_id
    ON CONFLICT (bucket, direction, agent_id, campaign_id, status) DO UPDATE SET
        calls = calls + excluded.calls,
        answered = answered + excluded.answered,
        voicemail = voicemail + excluded.voicemail,
        timed = timed + excluded.timed,
        duration_secs = duration_secs + excluded.duration_secs,
        costed = costed + excluded.costed,
        cost_micros = cost_micros + excluded.cost_micros,
        analyzed = analyzed + excluded.analyzed,
        goal_met = goal_met + excluded.goal_met,
        goal_missed = goal_missed + excluded.goal_missed,
        positive = positive + excluded.positive,
        neutral = neutral + excluded.neutral,
        negative = negative + excluded.negative;
END;
