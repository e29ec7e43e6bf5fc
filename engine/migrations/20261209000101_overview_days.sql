-- The overview at a million calls (issue 16, point 8): two coarser rollups over `call_rollup`,
-- so that a month's overview reads a few thousand rows instead of every quarter hour's keys
-- (about 68,000 a month for 20 agents, near one row per call).
--
-- `call_rollup_day`: the same keys with whole UTC days (`bucket / 96`) in place of quarter
-- hours. A range's totals (per status, agent, campaign) are its whole UTC days from here plus
-- the quarter hours at its two edges from `call_rollup` (a local day is not a UTC day).
--
-- `call_rollup_chart`: per quarter hour and direction only, the per-day series when no agent
-- or campaign narrows the overview (a narrowed one reads `call_rollup` through an index).
--
-- Both are kept from `call_rollup` itself by triggers: every change there (the triggers on
-- `calls` and `call_analyses` upsert it) moves the same difference here, so there is one
-- place that knows what a call counts for. A row of `call_rollup` is deleted only when its
-- counts are all zero, so deleting it moves nothing; rows here are likewise dropped at zero.

CREATE TABLE call_rollup_day (
    day           INTEGER NOT NULL,
    direction     TEXT NOT NULL,
    agent_id      TEXT NOT NULL,
    campaign_id   TEXT NOT NULL,
    status        TEXT NOT NULL,
    calls         INTEGER NOT NULL,
    answered      INTEGER NOT NULL,
    voicemail     INTEGER NOT NULL,
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
    PRIMARY KEY (day, direction, agent_id, campaign_id, status)
) WITHOUT ROWID;

CREATE TABLE call_rollup_chart (
    bucket        INTEGER NOT NULL,
    direction     TEXT NOT NULL,
    calls         INTEGER NOT NULL,
    answered      INTEGER NOT NULL,
    voicemail     INTEGER NOT NULL,
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
    PRIMARY KEY (bucket, direction)
) WITHOUT ROWID;

-- One agent's overview reads its own quarter hours.
CREATE INDEX call_rollup_agent ON call_rollup (agent_id, bucket);

INSERT INTO call_rollup_day (day, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
SELECT bucket / 96, direction, agent_id, campaign_id, status, sum(calls), sum(answered), sum(voicemail), sum(timed), sum(duration_secs), sum(costed), sum(cost_micros), sum(analyzed), sum(goal_met), sum(goal_missed), sum(positive), sum(neutral), sum(negative)
FROM call_rollup GROUP BY 1, 2, 3, 4, 5;

INSERT INTO call_rollup_chart (bucket, direction, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
SELECT bucket, direction, sum(calls), sum(answered), sum(voicemail), sum(timed), sum(duration_secs), sum(costed), sum(cost_micros), sum(analyzed), sum(goal_met), sum(goal_missed), sum(positive), sum(neutral), sum(negative)
FROM call_rollup GROUP BY 1, 2;

CREATE TRIGGER call_rollup_day_insert AFTER INSERT ON call_rollup BEGIN
    INSERT INTO call_rollup_day (day, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    VALUES (NEW.bucket / 96, NEW.direction, NEW.agent_id, NEW.campaign_id, NEW.status, NEW.calls, NEW.answered, NEW.voicemail, NEW.timed, NEW.duration_secs, NEW.costed, NEW.cost_micros, NEW.analyzed, NEW.goal_met, NEW.goal_missed, NEW.positive, NEW.neutral, NEW.negative)
    ON CONFLICT (day, direction, agent_id, campaign_id, status) DO UPDATE SET
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
    INSERT INTO call_rollup_chart (bucket, direction, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    VALUES (NEW.bucket, NEW.direction, NEW.calls, NEW.answered, NEW.voicemail, NEW.timed, NEW.duration_secs, NEW.costed, NEW.cost_micros, NEW.analyzed, NEW.goal_met, NEW.goal_missed, NEW.positive, NEW.neutral, NEW.negative)
    ON CONFLICT (bucket, direction) DO UPDATE SET
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

-- The rollup's upserts change counts only, never keys; the difference goes where the row is.
CREATE TRIGGER call_rollup_day_update AFTER UPDATE ON call_rollup BEGIN
    INSERT INTO call_rollup_day (day, direction, agent_id, campaign_id, status, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    VALUES (NEW.bucket / 96, NEW.direction, NEW.agent_id, NEW.campaign_id, NEW.status, NEW.calls - OLD.calls, NEW.answered - OLD.answered, NEW.voicemail - OLD.voicemail, NEW.timed - OLD.timed, NEW.duration_secs - OLD.duration_secs, NEW.costed - OLD.costed, NEW.cost_micros - OLD.cost_micros, NEW.analyzed - OLD.analyzed, NEW.goal_met - OLD.goal_met, NEW.goal_missed - OLD.goal_missed, NEW.positive - OLD.positive, NEW.neutral - OLD.neutral, NEW.negative - OLD.negative)
    ON CONFLICT (day, direction, agent_id, campaign_id, status) DO UPDATE SET
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
    INSERT INTO call_rollup_chart (bucket, direction, calls, answered, voicemail, timed, duration_secs, costed, cost_micros, analyzed, goal_met, goal_missed, positive, neutral, negative)
    VALUES (NEW.bucket, NEW.direction, NEW.calls - OLD.calls, NEW.answered - OLD.answered, NEW.voicemail - OLD.voicemail, NEW.timed - OLD.timed, NEW.duration_secs - OLD.duration_secs, NEW.costed - OLD.costed, NEW.cost_micros - OLD.cost_micros, NEW.analyzed - OLD.analyzed, NEW.goal_met - OLD.goal_met, NEW.goal_missed - OLD.goal_missed, NEW.positive - OLD.positive, NEW.neutral - OLD.neutral, NEW.negative - OLD.negative)
    ON CONFLICT (bucket, direction) DO UPDATE SET
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
    DELETE FROM call_rollup_day WHERE day = NEW.bucket / 96 AND direction = NEW.direction
        AND agent_id = NEW.agent_id AND campaign_id = NEW.campaign_id AND status = NEW.status
        AND calls = 0;
    DELETE FROM call_rollup_chart WHERE bucket = NEW.bucket AND direction = NEW.direction AND calls = 0;
END;
