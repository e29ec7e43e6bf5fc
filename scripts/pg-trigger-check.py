#!/usr/bin/env python3
"""The PostgreSQL baseline's triggers and search column against SQLite's, by their effects.

    scripts/pg-trigger-check.py POSTGRES [--keep]

POSTGRES is anything psql takes as a database (a URL or a conninfo string); use a scratch
database. A fresh SQLite database (engine/migrations/*.sql) and a fresh PostgreSQL schema
(engine/migrations_postgres/*.sql, in a new schema named sb_trigger_check_<pid>, dropped at
the end unless --keep) are given the same statements, which exercise every trigger: agents,
numbers, campaigns and webhook endpoints; calls inbound, outbound and test going from queued or
ringing to answered and to completed, failed or no answer, with and without agent and campaign,
with machine detection and cost estimates; analyses queued by the calls' ends and taken
through running, done (goal met or not, each sentiment), redone and deleted; transcript lines;
deletions of agents, a campaign and calls (with their foreign keys' actions).

Then every table is compared row by row, except what is random or the clock's (an event's id
and time, a delivery's times: checked by form and by relation instead) and numbering that is
each engine's own (see SKIP); and searches through the tsvector columns, in the form the store
is to use, must find what FTS5 finds. Exits 1 on any difference. Standard library and psql only
(Python's sqlite3 module; SQLite older than 3.42 gets unixepoch('subsec') from Python).
"""

import argparse
import glob
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEP, ROW, NULL = "\x1f", "\x1e", "\x01NULL"

BOOLEANS = {
    ("agents", "active"), ("agents", "record_calls"), ("campaign_agents", "is_primary"),
    ("tool_calls", "ok"), ("call_transfers", "warm"), ("webhook_endpoints", "enabled"),
    ("call_analyses", "goal_met"), ("calls", "recording_fetch_pending"),
}
# Columns left out of the row comparison, and why.
SKIP = {
    # Random and the clock's; checked by form and by relation below.
    ("webhook_events", "id"), ("webhook_events", "created_at"),
    ("webhook_deliveries", "next_attempt_at"), ("webhook_deliveries", "created_at"),
    # A delivery's id follows the join order of the trigger's INSERT … SELECT, which is the
    # planner's on either side; deliveries are compared by (endpoint, event).
    ("webhook_deliveries", "id"),
    # ON CONFLICT DO NOTHING takes a value from the identity sequence even when it inserts
    # nothing (the queue's trigger meeting an existing analysis): ids may have gaps.
    ("call_analyses", "id"),
    # One statement ending several calls makes their events in the order it visits the rows,
    # which is each engine's own (SQLite's index order, PostgreSQL's heap order); events are
    # compared by type and call, deliveries by endpoint and their event's type and call.
    ("webhook_events", "seq"),
}
# Columns compared through an expression instead.
EXPRESSIONS = {
    ("webhook_deliveries", "event_seq"):
        "(SELECT e.type || ' ' || coalesce(e.call_id, '-') FROM webhook_events e "
        "WHERE e.seq = webhook_deliveries.event_seq) AS event",
}

# A UTC midnight: bucket T0 / 900000 is a day's first quarter hour, T0 / 86400000 a whole day.
T0 = 20793 * 86_400_000
MIN = 60_000


def t(offset_ms):
    return T0 + offset_ms


def agent(id_, name, analysis):
    return (f"INSERT INTO agents (id, name, voice, model, max_concurrent_calls, created_at, "
            f"updated_at, analysis) VALUES ('{id_}', '{name}', 'alloy', 'gpt', 2, {T0}, {T0}, "
            f"'{analysis}')")


def call(id_, direction, agent_id, number_id, status, started, *, campaign=None, ended=None,
         reject=None, carrier="twilio", lead=None):
    def q(v):
        return "NULL" if v is None else (f"'{v}'" if isinstance(v, str) else str(v))
    return (f"INSERT INTO calls (id, direction, carrier, carrier_call_id, from_number, to_number, "
            f"agent_id, number_id, status, started_at, ended_at, reject_reason, campaign_id, "
            f"lead_id) VALUES ('{id_}', '{direction}', '{carrier}', 'cc-{id_}', '+15550100', "
            f"'+15550200', {q(agent_id)}, {q(number_id)}, '{status}', {started}, {q(ended)}, "
            f"{q(reject)}, {q(campaign)}, {q(lead)})")


def line(call_id, speaker, text, at):
    text = text.replace("'", "''")
    return (f"INSERT INTO transcript_lines (call_id, speaker, text, at) "
            f"VALUES ('{call_id}', '{speaker}', '{text}', {at})")


def statements():
    s = [
        # Agents: analysis on as JSON true, as 1 and 1.0; off as {}, false and "1" (a string
        # is not 1 for SQLite's json_extract(…) = 1).
        agent("a1", "Ada", '{"enabled": true, "goal": "book"}'),
        agent("a2", "Bo", '{"enabled": 1}'),
        agent("a3", "Cy", "{}"),
        agent("a4", "Di", '{"enabled": false}'),
        agent("a5", "Ed", '{"enabled": "1"}'),
        agent("a6", "Flo", '{"enabled": 1.0}'),
        agent("a7", "Gus", '{"enabled": true}'),
        "UPDATE agents SET active = FALSE, record_calls = TRUE WHERE id = 'a5'",
        "INSERT INTO phone_numbers (id, number, carrier, inbound_agent_id, created_at) "
        f"VALUES ('n1', '+15550001', 'twilio', 'a1', {T0})",
        "INSERT INTO phone_numbers (id, number, carrier, inbound_agent_id, created_at) "
        f"VALUES ('n2', '+15550002', 'telnyx', 'a2', {T0})",
        "INSERT INTO phone_numbers (id, number, carrier, created_at) "
        f"VALUES ('n3', '+15550003', 'twilio', {T0})",
        "INSERT INTO campaigns (id, name, status, settings, created_at, updated_at) "
        f"VALUES ('c1', 'Spring', 'running', '{{}}', {T0}, {T0})",
        "INSERT INTO campaigns (id, name, status, settings, created_at, updated_at) "
        f"VALUES ('c2', 'Autumn', 'draft', '{{}}', {T0}, {T0})",
        "INSERT INTO campaign_agents (campaign_id, agent_id, is_primary, position) "
        "VALUES ('c1', 'a2', TRUE, 0), ('c1', 'a3', FALSE, 1), ('c2', 'a7', TRUE, 0)",
        "INSERT INTO campaign_numbers (campaign_id, number_id, position) VALUES ('c1', 'n3', 0)",
        "INSERT INTO leads (campaign_id, line, name, phone) VALUES "
        "('c1', 2, 'Ann', '+15551001'), ('c1', 3, 'Bob', '+15551002'), ('c2', 2, 'Cat', '+15551003')",
        # Endpoints: every call; campaign c1's ends; a disabled one; one wanting another type;
        # campaign c2's (deleted with it); and JSON spelled with spaces.
        "INSERT INTO webhook_endpoints (id, url, campaign_id, events, enabled, created_at, updated_at) VALUES "
        f"('e1', 'https://crm/1', NULL, '[\"call.started\",\"call.ended\"]', TRUE, {T0}, {T0}), "
        f"('e2', 'https://crm/2', 'c1', '[\"call.ended\"]', TRUE, {T0}, {T0}), "
        f"('e3', 'https://crm/3', NULL, '[\"call.started\",\"call.ended\"]', FALSE, {T0}, {T0}), "
        f"('e4', 'https://crm/4', NULL, '[\"call.analyzed\"]', TRUE, {T0}, {T0}), "
        f"('e5', 'https://crm/5', 'c2', '[\"call.started\",\"call.ended\"]', TRUE, {T0}, {T0}), "
        f"('e6', 'https://crm/6', NULL, '[ \"call.started\" ]', TRUE, {T0}, {T0})",

        # k01: inbound to n1 (counted), answered, ended with a cost whose micros are a half
        # (SQLite rounds 2.5 to 3).
        call("k01", "inbound", "a1", "n1", "ringing", t(1_000)),
        f"UPDATE calls SET status = 'in_progress', answered_at = {t(5_000)} WHERE id = 'k01'",
        "UPDATE calls SET answered_by = 'human' WHERE id = 'k01'",
        line("k01", "caller", "Hello, I'd like to book a table at the Café for 3.14 people", t(6_000)),
        line("k01", "agent", "Sure! Your email is john@example.com?", t(7_000)),
        line("k01", "tool", 'lookup_table({"size":4}) -> ok', t(8_000)),
        "INSERT INTO tool_calls (call_id, agent_id, tool, ok, ms, at) VALUES "
        f"('k01', 'a1', 'lookup_table', TRUE, 120, {t(8_000)}), "
        f"('k01', 'a1', 'lookup_table', FALSE, 30, {t(9_000)})",
        f"UPDATE calls SET status = 'completed', ended_at = {t(65_000)}, duration_secs = 60, "
        f"cost_estimate_usd = 0.0000025 WHERE id = 'k01'",
        "UPDATE calls SET recording_url = 'https://rec/k01', recording_fetch_pending = TRUE "
        "WHERE id = 'k01'",
        # k02: refused on arrival, already ended: not counted, ends once.
        call("k02", "inbound", None, "n2", "failed", t(2_000), ended=t(2_000),
             reject="no_inbound_agent"),
        # k03: inbound to n2, never answered.
        call("k03", "inbound", "a2", "n2", "ringing", t(3_000)),
        f"UPDATE calls SET status = 'no_answer', ended_at = {t(33_000)} WHERE id = 'k03'",
        # k04: campaign c1's, answered by a machine, cost, transfer; deleted later.
        call("k04", "outbound", "a2", "n3", "queued", t(4_000), campaign="c1", lead=1),
        "UPDATE calls SET status = 'ringing' WHERE id = 'k04'",
        f"UPDATE calls SET status = 'in_progress', answered_at = {t(9_000)}, "
        "answered_by = 'machine_end_beep' WHERE id = 'k04'",
        line("k04", "agent", "Leaving a message about your refund", t(10_000)),
        "INSERT INTO call_transfers (id, call_id, target, to_uri, warm, state, started_at) "
        f"VALUES ('x1', 'k04', 'Sales', 'tel:+15559999', FALSE, 'failed', {t(11_000)})",
        f"UPDATE calls SET status = 'completed', ended_at = {t(39_000)}, duration_secs = 30, "
        "cost_estimate_usd = 0.1234565 WHERE id = 'k04'",
        f"UPDATE leads SET status = 'done', last_call_id = 'k04', attempts = 1 WHERE id = 1",
        # k05: outbound, no agent or campaign, fails.
        call("k05", "outbound", None, None, "queued", t(5_000)),
        f"UPDATE calls SET status = 'failed', ended_at = {t(6_000)}, hangup_cause = 'busy' "
        "WHERE id = 'k05'",
        # k06: a test call: no webhook, but counted and analysed.
        call("k06", "test", "a1", None, "in_progress", t(6_000), carrier="local"),
        f"UPDATE calls SET answered_at = {t(6_500)} WHERE id = 'k06'",
        line("k06", "caller", "Crème brûlée, ÉCOLE naïve façade", t(7_000)),
        line("k06", "agent", "Refund request: order #12345, it's 10,000 USD", t(8_000)),
        f"UPDATE calls SET status = 'completed', ended_at = {t(96_000)}, duration_secs = 90 "
        "WHERE id = 'k06'",
        # k07: machine in capitals (LIKE ignores ASCII case), analysis off, half a micro.
        call("k07", "outbound", "a3", "n3", "ringing", t(7_000), campaign="c1"),
        f"UPDATE calls SET status = 'in_progress', answered_at = {t(8_000)}, "
        "answered_by = 'MACHINE_START' WHERE id = 'k07'",
        f"UPDATE calls SET status = 'completed', ended_at = {t(20_000)}, duration_secs = 12, "
        "cost_estimate_usd = 0.0000005 WHERE id = 'k07'",
        # k08: a fax, analysis on as 1.0.
        call("k08", "outbound", "a6", None, "ringing", t(8_000)),
        f"UPDATE calls SET status = 'in_progress', answered_at = {t(9_000)}, answered_by = 'fax' "
        "WHERE id = 'k08'",
        f"UPDATE calls SET status = 'completed', ended_at = {t(19_000)}, duration_secs = 10, "
        "cost_estimate_usd = 0.0000015 WHERE id = 'k08'",
        # k09: its analysis row exists before it ends: the queue's insert is ignored.
        call("k09", "inbound", "a1", "n1", "ringing", t(9_000)),
        "INSERT INTO call_analyses (call_id, status, attempts, created_at) "
        f"VALUES ('k09', 'skipped', 0, {t(9_000)})",
        f"UPDATE calls SET status = 'in_progress', answered_at = {t(10_000)} WHERE id = 'k09'",
        line("k09", "caller", "Москва ПРИВЕТ and ΕΛΛΑΔΑ", t(11_000)),
        line("k09", "agent", "über-cool e-mail foo_bar_baz O'Reilly v1.2.3", t(12_000)),
        f"UPDATE calls SET status = 'completed', ended_at = {t(70_000)}, duration_secs = 60 "
        "WHERE id = 'k09'",
        # k10: campaign c2's (deleted later), analysis off as "1".
        call("k10", "outbound", "a5", None, "ringing", t(10_000), campaign="c2", lead=3),
        f"UPDATE calls SET status = 'in_progress', answered_at = {t(11_000)}, "
        "answered_by = 'human' WHERE id = 'k10'",
        f"UPDATE calls SET status = 'completed', ended_at = {t(41_000)}, duration_secs = 30, "
        "cost_estimate_usd = 0.02 WHERE id = 'k10'",
        # k11: started the day before, then moved: another day, agent and campaign.
        call("k11", "inbound", "a1", "n1", "ringing", t(-1_000)),
        f"UPDATE calls SET started_at = {t(3_000)}, agent_id = 'a2', campaign_id = 'c1' "
        "WHERE id = 'k11'",
        f"UPDATE calls SET status = 'no_answer', ended_at = {t(30_000)} WHERE id = 'k11'",
        # k12: ended, then answered late: queued for analysis, no call.started.
        call("k12", "outbound", "a2", None, "ringing", t(12_000)),
        f"UPDATE calls SET status = 'completed', ended_at = {t(50_000)}, duration_secs = 38 "
        "WHERE id = 'k12'",
        f"UPDATE calls SET answered_at = {t(13_000)} WHERE id = 'k12'",
        # k13-k16 end in one statement; k14's agent is deleted later (SET NULL moves it).
        call("k13", "outbound", "a3", None, "ringing", t(900_000)),
        call("k14", "outbound", "a7", None, "ringing", t(901_000), campaign="c2"),
        call("k15", "inbound", "a2", "n2", "ringing", t(86_400_000 + 5_000)),
        call("k16", "outbound", "a4", None, "ringing", t(902_000)),
        f"UPDATE calls SET answered_at = {t(905_000)}, answered_by = 'Machine' "
        "WHERE id IN ('k13', 'k14', 'k16')",
        f"UPDATE calls SET status = 'completed', ended_at = {t(960_000)}, "
        "duration_secs = CASE WHEN answered_at IS NULL THEN NULL ELSE 55 END, "
        "cost_estimate_usd = CASE id WHEN 'k16' THEN -0.0000025 WHEN 'k13' THEN 0.1 END "
        "WHERE id IN ('k13', 'k14', 'k15', 'k16')",
        line("k13", "caller", "Machinery talk about Refunds", t(906_000)),
        # Writes that name rollup columns without changing them, and ones that do not.
        "UPDATE calls SET answered_at = answered_at, ended_at = ended_at WHERE id = 'k01'",
        "UPDATE calls SET context = '{\"name\": \"Ann\"}' WHERE id = 'k04'",
        "UPDATE calls SET cost_estimate_usd = 0.5 WHERE id = 'k04'",

        # Analyses, as the worker takes them.
        "UPDATE call_analyses SET status = 'running', attempts = 1 WHERE call_id = 'k01'",
        "UPDATE call_analyses SET status = 'done', goal_met = TRUE, sentiment = 'positive', "
        "summary = 'Caller booked a table at the Café; wants a refund-free deal', "
        f"model = 'gpt', analyzed_at = {t(70_000)}, fields = '{{\"party\": 4}}' "
        "WHERE call_id = 'k01'",
        "UPDATE call_analyses SET status = 'done', goal_met = FALSE, sentiment = 'negative', "
        f"summary = 'Voicemail reached; no booking', analyzed_at = {t(45_000)} "
        "WHERE call_id = 'k04'",
        "UPDATE call_analyses SET status = 'done', sentiment = 'neutral', "
        f"summary = 'A test of the agent', analyzed_at = {t(99_000)} WHERE call_id = 'k06'",
        "UPDATE call_analyses SET status = 'done', goal_met = TRUE, sentiment = 'neutral' "
        "WHERE call_id = 'k08'",
        "UPDATE call_analyses SET sentiment = 'positive' WHERE call_id = 'k08'",
        "UPDATE call_analyses SET status = 'failed', error = 'model timed out' "
        "WHERE call_id = 'k08'",
        "UPDATE call_analyses SET status = 'done', goal_met = TRUE, sentiment = 'positive' "
        "WHERE call_id = 'k12'",
        "DELETE FROM call_analyses WHERE call_id = 'k12'",
        # Written done at once (as a test or an import would), then redone through the upsert
        # the store uses, then done again.
        "INSERT INTO call_analyses (call_id, status, goal_met, sentiment, summary, created_at) "
        f"VALUES ('k07', 'done', FALSE, 'positive', 'Machine greeting heard', {t(21_000)})",
        "INSERT INTO call_analyses (call_id, status, attempts, next_attempt_at, created_at) "
        f"VALUES ('k06', 'pending', 0, {t(100_000)}, {t(100_000)}) "
        "ON CONFLICT (call_id) DO UPDATE SET status = excluded.status, attempts = 0, "
        "goal_met = NULL, sentiment = NULL, summary = NULL "
        "WHERE call_analyses.status NOT IN ('pending', 'running')",
        "UPDATE call_analyses SET status = 'done', goal_met = FALSE, sentiment = 'negative', "
        "summary = 'Refunds explained twice' WHERE call_id = 'k06'",
        "INSERT INTO call_analyses (call_id, status, goal_met, sentiment, created_at) "
        f"VALUES ('k13', 'done', TRUE, 'negative', {t(961_000)})",

        # Deletions: an agent (its calls keep them, unnamed), a campaign (its endpoint, leads
        # and pool go; its calls stay), and calls (their analysis goes first).
        "UPDATE phone_numbers SET inbound_agent_id = NULL WHERE inbound_agent_id = 'a7'",
        "DELETE FROM agents WHERE id = 'a7'",
        "DELETE FROM campaigns WHERE id = 'c2'",
        "DELETE FROM calls WHERE id IN ('k04', 'k05')",
        "DELETE FROM calls WHERE id = 'k13'",
        # After the deletions, a call ends in a bucket that emptied, and a new one starts.
        call("k17", "inbound", "a1", "n1", "ringing", t(4_500)),
        f"UPDATE calls SET status = 'in_progress', answered_at = {t(5_500)} WHERE id = 'k17'",
        f"UPDATE calls SET status = 'completed', ended_at = {t(9_500)}, duration_secs = 4 "
        "WHERE id = 'k17'",
    ]
    return s


# Searches as the store makes them: the typed words (runs of letters and digits), all
# required, the last also as a prefix.
SEARCHES = [
    ["cafe"], ["café"], ["CAFE"], ["caf"], ["book", "tab"], ["john", "example"],
    ["example", "com"], ["3", "14"], ["14"], ["refund"], ["refu"], ["12345"], ["10", "000"],
    ["москва"], ["привет"], ["ελλαδα"], ["uber", "cool"], ["foo", "bar", "baz"], ["reilly"],
    ["v1"], ["2", "3"], ["creme", "brulee"], ["ecole"], ["nai"], ["xyz"], ["lookup"],
    ["size"], ["e", "mail"], ["machine"], ["deal"], ["booked", "ca"], ["free"],
]


# --- the two databases ---------------------------------------------------------------------

def open_sqlite(path):
    db = sqlite3.connect(path, isolation_level=None)
    if sqlite3.sqlite_version_info < (3, 42, 0):
        # unixepoch('subsec') came with SQLite 3.42 (sqlx bundles a newer one); an older
        # library returns NULL, which the webhook triggers cannot store. Same value, in Python.
        def unixepoch(*args):
            now = time.time()
            return int(now * 1000) / 1000 if "subsec" in args else int(now)
        db.create_function("unixepoch", -1, unixepoch)
    return db


class Pg:
    def __init__(self, target, search_path):
        self.target = target
        self.env = dict(os.environ)
        self.env["PGOPTIONS"] = (self.env.get("PGOPTIONS", "") +
                                 f" -c search_path={search_path}").strip()

    def psql(self, *args, input=None):
        p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.target,
                            *args], capture_output=True, text=True, env=self.env, input=input)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip())
        return p.stdout

    def rows(self, sql):
        out = self.psql("-At", "-F", SEP, "-R", ROW, "-P", f"null={NULL}", "-c", sql)
        out = out.rstrip("\n" + ROW)
        if not out:
            return []
        return [tuple(None if v == NULL else v for v in r.split(SEP))
                for r in out.split(ROW) if r != ""]


def norm(v):
    """One spelling for a value from either side: numbers as numbers, NULL as None."""
    if v is None:
        return None
    s = str(v)
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        return s


def columns(lite, table):
    return [r[1] for r in lite.execute(f"PRAGMA table_info('{table}')")]


def select_for(lite, table):
    cols = []
    for c in columns(lite, table):
        if (table, c) in SKIP:
            continue
        if (table, c) in EXPRESSIONS:
            cols.append(EXPRESSIONS[(table, c)])
        elif (table, c) in BOOLEANS:
            cols.append(f"CASE WHEN {c} THEN 1 WHEN NOT {c} THEN 0 END AS {c}")
        else:
            cols.append(c)
    return f"SELECT {', '.join(cols)} FROM {table}"


def fts_query(words):
    """call_search::fts_query's form."""
    return " ".join(f'"{w}"' + ("*" if i == len(words) - 1 else "") for i, w in enumerate(words))


PG_SEARCH = ("(nullif(plainto_tsquery('simple', sb_words({p}))::text, '') || ':*')::tsquery")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("postgres", help="a psql database: URL or conninfo (a scratch database)")
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema")
    a = ap.parse_args()

    problems = []

    def check(ok, what):
        if not ok:
            problems.append(what)
        return ok

    schema = f"sb_trigger_check_{os.getpid()}_{random.randrange(1 << 16)}"
    admin = Pg(a.postgres, "public")
    pg = Pg(a.postgres, schema)
    admin.psql("-c", f"CREATE SCHEMA {schema}")
    tmp = tempfile.TemporaryDirectory()
    try:
        for f in sorted(glob.glob(os.path.join(ROOT, "engine/migrations_postgres/*.sql"))):
            pg.psql("--single-transaction", "-f", f)
        lite = open_sqlite(os.path.join(tmp.name, "switchboard.db"))
        for f in sorted(glob.glob(os.path.join(ROOT, "engine/migrations/*.sql"))):
            lite.executescript(open(f, encoding="utf-8").read())
        lite.execute("PRAGMA foreign_keys = ON")  # as Store::open leaves it

        started = int(time.time() * 1000)
        dml = statements()
        for sql in dml:
            try:
                lite.execute(sql)
            except sqlite3.Error as e:
                sys.exit(f"SQLite refused: {e}\n  {sql}")
        pg.psql("--single-transaction", input=";\n".join(dml) + ";\n")
        ended = int(time.time() * 1000)
        print(f"{len(dml)} statements applied to SQLite {sqlite3.sqlite_version} and to "
              f"PostgreSQL schema {schema}")

        # Every table, row by row.
        tables = [r[0] for r in lite.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' AND name NOT LIKE '%_fts_%' ORDER BY name")]
        compared = 0
        for table in tables:
            sql = select_for(lite, table)
            want = sorted((tuple(norm(v) for v in r) for r in lite.execute(sql)), key=repr)
            got = sorted((tuple(norm(v) for v in r) for r in pg.rows(sql)), key=repr)
            compared += len(want)
            if check(want == got, f"{table} differs"):
                continue
            for r in want:
                if r not in got:
                    print(f"  {table} SQLite only:     {r}")
            for r in got:
                if r not in want:
                    print(f"  {table} PostgreSQL only: {r}")
        print(f"{len(tables)} tables, {compared} SQLite rows compared")

        # The brief's list, said once more by name so that an empty table cannot pass silently.
        for table, least in (("call_rollup", 10), ("call_rollup_day", 5), ("call_rollup_chart", 5),
                             ("webhook_events", 10), ("webhook_deliveries", 12),
                             ("call_analyses", 7)):
            n = lite.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            check(n >= least, f"{table}: only {n} rows; the statements should make {least}")
        received = dict(lite.execute("SELECT id, calls_received FROM phone_numbers"))
        check(received == {"n1": 4, "n2": 2, "n3": 0},
              f"phone_numbers.calls_received on SQLite is {received}")

        # What was left out: ids and times made by the triggers.
        for side, rows in (
            ("SQLite", lite.execute("SELECT id, created_at FROM webhook_events").fetchall()),
            ("PostgreSQL", pg.rows("SELECT id, created_at FROM webhook_events")),
        ):
            for id_, at in rows:
                check(re.fullmatch(r"evt_[0-9a-f]{24}", id_), f"{side}: event id {id_!r}")
                check(started - 1000 <= int(at) <= ended + 1000,
                      f"{side}: event time {at} not within the run ({started}..{ended})")
            check(len({r[0] for r in rows}) == len(rows), f"{side}: event ids repeat")
        relation = ("SELECT count(*) FROM webhook_deliveries d JOIN webhook_events e "
                    "ON e.seq = d.event_seq WHERE d.created_at <> e.created_at "
                    "OR d.next_attempt_at IS NULL OR d.next_attempt_at <> e.created_at")
        check(lite.execute(relation).fetchone()[0] == 0, "SQLite: a delivery's times")
        check(pg.rows(relation)[0][0] == "0", "PostgreSQL: a delivery's times")

        # Search: what FTS5 finds, the tsvector columns find.
        n_lines = 0
        for words in SEARCHES:
            want = sorted(lite.execute(
                "SELECT t.call_id, t.text FROM transcript_fts JOIN transcript_lines t "
                "ON t.id = transcript_fts.rowid WHERE transcript_fts MATCH ?",
                (fts_query(words),)).fetchall())
            typed = " ".join(words).replace("'", "''")
            got = sorted(pg.rows(
                "SELECT call_id, text FROM transcript_lines WHERE tsv @@ "
                + PG_SEARCH.format(p=f"'{typed}'")))
            # The plain form, for words that fold to letters and digits only.
            plain = " & ".join(words[:-1] + [words[-1] + ":*"]).replace("'", "''")
            got_plain = sorted(pg.rows(
                "SELECT call_id, text FROM transcript_lines WHERE tsv @@ "
                f"to_tsquery('simple', sb_fold('{plain}'))"))
            check(want == got, f"search {words}: FTS5 finds {want}, PostgreSQL {got}")
            check(got == got_plain, f"search {words}: the plain tsquery finds {got_plain}")
            want_s = sorted(r[0] for r in lite.execute(
                "SELECT a.call_id FROM summary_fts JOIN call_analyses a "
                "ON a.id = summary_fts.rowid WHERE summary_fts MATCH ?", (fts_query(words),)))
            got_s = sorted(r[0] for r in pg.rows(
                "SELECT call_id FROM call_analyses WHERE tsv @@ "
                + PG_SEARCH.format(p=f"'{typed}'")))
            check(want_s == got_s, f"summary search {words}: FTS5 {want_s}, PostgreSQL {got_s}")
            n_lines += len(want) + len(want_s)
        check(n_lines >= 25, f"searches found only {n_lines} lines and summaries in all")
        print(f"{len(SEARCHES)} searches compared, {n_lines} lines and summaries found")
    except RuntimeError as e:
        problems.append(f"PostgreSQL: {e}")
    finally:
        if not a.keep:
            admin.psql("-c", f"DROP SCHEMA {schema} CASCADE")
        tmp.cleanup()

    for p in problems:
        print(f"DIFF: {p}")
    print(f"trigger check: {len(problems)} difference{'s' if len(problems) != 1 else ''}"
          + (f" (schema {schema} kept)" if a.keep else ""))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
