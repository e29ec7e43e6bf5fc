#!/usr/bin/env python3
"""Compares a SQLite database's schema with a PostgreSQL schema, as the two stores must match.

    scripts/pg-schema-parity.py SQLITE_DB POSTGRES [--schema NAME]
    scripts/pg-schema-parity.py --fresh [SQLITE_DB] POSTGRES [--schema NAME]

POSTGRES is anything psql takes as a database: a URL (postgres://user@host:port/db) or a
conninfo string ("host=127.0.0.1 port=5432 dbname=sb user=sb"). The schema is the
connection's current one unless --schema names it.

With --fresh, both sides are made first: the SQLite file (a temporary one if not given, else it
must not exist) from engine/migrations/*.sql in order, and the PostgreSQL schema (it must not
exist; --schema is then required) from engine/migrations_postgres/*.sql. The schema is kept.

Compared, per table: the tables themselves (SQLite's FTS5 tables and internals left out),
the columns in order (the generated tsvector columns that replace FTS5 left out),
their types (INTEGER is BIGINT or, for the known flags, BOOLEAN; REAL is DOUBLE PRECISION),
nullability, defaults, the primary key, rowid keys as identity columns, unique constraints,
foreign keys with their ON DELETE, COLLATE "C" on text keys, the indexes by name (SQLite's
autoindexes and PostgreSQL's constraint indexes left out) with their columns, order,
uniqueness and partialness, and the triggers by name with their table, timing, events,
UPDATE OF columns and WHEN (FTS5's sync triggers left out). For each FTS5 table, its content
table must have a generated tsvector column over the indexed column, with a GIN index.

Prints each difference and exits 1 if there is any. Only the standard library and psql.
"""

import argparse
import glob
import os
import re
import sqlite3
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# SQLite's 0/1 integers that are BOOLEAN on PostgreSQL.
BOOLEANS = {
    ("agents", "active"),
    ("agents", "record_calls"),
    ("campaign_agents", "is_primary"),
    ("tool_calls", "ok"),
    ("call_transfers", "warm"),
    ("webhook_endpoints", "enabled"),
    ("call_analyses", "goal_met"),
    ("calls", "recording_fetch_pending"),
}
TYPES = {"INTEGER": "bigint", "REAL": "double precision", "TEXT": "text", "BLOB": "bytea"}
FTS_SHADOWS = ("_data", "_idx", "_content", "_docsize", "_config")
SEP = "\x1f"
ROW = "\x1e"
NULL = "\x01NULL"


class Psql:
    """Queries through `psql -At`: fields and rows split on control characters, so that no
    value (an index predicate, a generated column's expression) is taken for a separator."""

    def __init__(self, target):
        self.target = target

    def run(self, sql):
        p = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.target, "-At",
             "-F", SEP, "-R", ROW, "-P", f"null={NULL}", "-c", sql],
            capture_output=True, text=True,
        )
        if p.returncode != 0:
            sys.exit(f"psql failed: {p.stderr.strip()}\n  in: {sql[:200]}")
        return p.stdout

    def rows(self, sql):
        out = self.run(sql).rstrip("\n" + ROW)
        if not out:
            return []
        return [
            tuple(None if v == NULL else v for v in r.split(SEP))
            for r in out.split(ROW) if r != ""
        ]


def lite_norm_default(value, boolean):
    if value is None:
        return None
    v = value.strip()
    while v.startswith("(") and v.endswith(")"):
        v = v[1:-1].strip()
    if boolean:
        return {"1": "true", "0": "false", "TRUE": "true", "FALSE": "false"}.get(v.upper(), v)
    return v


def pg_norm_default(value):
    if value is None:
        return None
    v = re.sub(r"::(text|bigint|integer|double precision|boolean)$", "", value.strip())
    return v


# --- SQLite --------------------------------------------------------------------------------

def sqlite_schema(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    master = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
    fts = {}
    for typ, name, _, sql in master:
        if typ == "table" and sql and re.search(r"USING\s+fts5", sql, re.I):
            body = sql[sql.index("(") + 1: sql.rindex(")")]
            parts = [p.strip() for p in body.split(",")]
            content = next(
                (re.sub(r"content\s*=\s*", "", p).strip("'\" ") for p in parts
                 if re.match(r"content\s*=", p, re.I)), None)
            column = next(p for p in parts if "=" not in p)
            fts[name] = (content, column)
    skip = set(fts) | {f + s for f in fts for s in FTS_SHADOWS}
    tables = {}
    for typ, name, _, sql in master:
        if typ != "table" or name.startswith("sqlite_") or name in skip:
            continue
        without_rowid = bool(re.search(r"WITHOUT\s+ROWID\s*;?\s*$", sql, re.I))
        cols = db.execute(f"PRAGMA table_info('{name}')").fetchall()
        pk = [c[1] for c in sorted((c for c in cols if c[5]), key=lambda c: c[5])]
        t = {
            "columns": [],
            "pk": pk,
            "rowid_key": None,
            "unique": set(),
            "fks": set(),
            "indexes": {},
        }
        for cid, cname, ctype, notnull, dflt, pkpos in cols:
            t["columns"].append({
                "name": cname,
                "type": ctype.upper(),
                # A key column cannot be NULL on PostgreSQL. On SQLite a rowid key cannot be
                # either; a text key can (SQLite's old quirk), noted below, not a difference.
                "notnull": bool(notnull) or bool(pkpos),
                "lite_nullable_key": bool(pkpos) and not notnull and not (
                    len(pk) == 1 and ctype.upper() == "INTEGER" and not without_rowid),
                "default": lite_norm_default(dflt, (name, cname) in BOOLEANS),
            })
        if len(pk) == 1 and not without_rowid:
            c = next(c for c in t["columns"] if c["name"] == pk[0])
            if c["type"] == "INTEGER":
                t["rowid_key"] = pk[0]
        for fk in db.execute(f"PRAGMA foreign_key_list('{name}')").fetchall():
            t["fks"].add((fk[3], fk[2], fk[4], fk[6].upper()))
        for _, iname, unique, origin, partial in db.execute(f"PRAGMA index_list('{name}')"):
            info = db.execute(f"PRAGMA index_xinfo('{iname}')").fetchall()
            keys = [(r[2] if r[2] is not None else "<expr>", bool(r[3])) for r in info if r[5]]
            if origin == "u":
                t["unique"].add(tuple(k for k, _ in keys))
            elif origin == "c":
                t["indexes"][iname] = {"unique": bool(unique), "partial": bool(partial),
                                       "keys": keys}
        tables[name] = t
    triggers = {}
    for typ, name, tbl, sql in master:
        if typ != "trigger":
            continue
        if any(re.search(rf"\b{re.escape(f)}\b", sql) for f in fts):
            continue  # keeps an FTS5 index in step: a generated column on PostgreSQL
        m = re.match(
            r"CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+(BEFORE|AFTER|INSTEAD\s+OF)?\s*"
            r"(INSERT|DELETE|UPDATE(?:\s+OF\s+(.*?))?)\s+ON\s+\S+\s*(?:FOR\s+EACH\s+ROW\s*)?"
            r"(WHEN\s+.*?)?\s*BEGIN\b",
            sql, re.I | re.S)
        if not m:
            sys.exit(f"cannot read trigger {name}: {sql[:120]}")
        of = tuple(sorted(c.strip() for c in m.group(3).split(","))) if m.group(3) else ()
        triggers[name] = {
            "table": tbl,
            "timing": (m.group(1) or "BEFORE").upper(),
            "event": m.group(2).split()[0].upper(),
            "of": of,
            "when": bool(m.group(4)),
        }
    return tables, triggers, fts


# --- PostgreSQL ----------------------------------------------------------------------------

def pg_schema(psql, schema):
    ns = f"'{schema}'::regnamespace"
    tables = {}
    for (name,) in psql.rows(
            f"SELECT relname FROM pg_class WHERE relnamespace = {ns} AND relkind IN ('r','p')"):
        tables[name] = {"columns": [], "pk": [], "unique": set(), "fks": set(), "indexes": {},
                        "gin": set()}
    for rel, name, typ, notnull, dflt, gen, ident, coll, gexpr in psql.rows(f"""
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
                   a.attgenerated, a.attidentity, coalesce(co.collname, ''),
                   CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
            WHERE c.relnamespace = {ns} AND c.relkind IN ('r','p') AND a.attnum > 0
              AND NOT a.attisdropped
            ORDER BY c.relname, a.attnum"""):
        tables[rel]["columns"].append({
            "name": name, "type": typ, "notnull": notnull == "t", "default": pg_norm_default(dflt),
            "generated": gen != "", "identity": ident, "collation": coll, "gexpr": gexpr,
        })
    for rel, contype, cols, ftable, fcols, deltype, conname in psql.rows(f"""
            SELECT c.relname, k.contype,
                   (SELECT string_agg(a.attname, ',' ORDER BY x.n) FROM unnest(k.conkey)
                        WITH ORDINALITY x(att, n)
                    JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.att),
                   f.relname,
                   (SELECT string_agg(a.attname, ',' ORDER BY x.n) FROM unnest(k.confkey)
                        WITH ORDINALITY x(att, n)
                    JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = x.att),
                   k.confdeltype, k.conname
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
            LEFT JOIN pg_class f ON f.oid = k.confrelid
            WHERE c.relnamespace = {ns} AND k.contype IN ('p','u','f')"""):
        t = tables[rel]
        if contype == "p":
            t["pk"] = cols.split(",")
        elif contype == "u":
            t["unique"].add(tuple(cols.split(",")))
        else:
            action = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL",
                      "d": "SET DEFAULT"}[deltype]
            # SQLite lists a multi-column key one row per column; none here has more than one.
            t["fks"].add((cols, ftable, fcols, action))
    for rel, iname, unique, partial, method, keys, constraint in psql.rows(f"""
            SELECT c.relname, i.relname, x.indisunique, x.indpred IS NOT NULL, am.amname,
                   (SELECT string_agg(coalesce(a.attname, '<expr>') || ':' ||
                           ((x.indoption[k.n - 1] & 1) = 1)::text, ',' ORDER BY k.n)
                    FROM unnest(x.indkey) WITH ORDINALITY k(att, n)
                    LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.att
                                             AND k.att <> 0
                    WHERE k.n <= x.indnkeyatts),
                   EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class c ON c.oid = x.indrelid JOIN pg_am am ON am.oid = i.relam
            WHERE c.relnamespace = {ns}"""):
        if constraint == "t":
            continue
        parsed = [(k.rsplit(":", 1)[0], k.rsplit(":", 1)[1] == "true") for k in keys.split(",")]
        if method == "gin":
            tables[rel]["gin"].add((iname, tuple(k for k, _ in parsed)))
            continue
        tables[rel]["indexes"][iname] = {"unique": unique == "t", "partial": partial == "t",
                                         "keys": parsed}
    triggers = {}
    for name, rel, tgtype, cols, when in psql.rows(f"""
            SELECT t.tgname, c.relname, t.tgtype,
                   (SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM unnest(t.tgattr) x
                    JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = x),
                   t.tgqual IS NOT NULL
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE c.relnamespace = {ns} AND NOT t.tgisinternal"""):
        tgtype = int(tgtype)
        events = [e for bit, e in ((4, "INSERT"), (8, "DELETE"), (16, "UPDATE")) if tgtype & bit]
        triggers[name] = {
            "table": rel,
            "timing": "INSTEAD OF" if tgtype & 64 else ("BEFORE" if tgtype & 2 else "AFTER"),
            "event": "/".join(events),
            "of": tuple(cols.split(",")) if cols else (),
            "when": when == "t",
            "row": bool(tgtype & 1),
        }
    return tables, triggers


# --- Comparison ----------------------------------------------------------------------------

def compare(lite, lite_triggers, fts, pg, pg_triggers):
    diffs, notes = [], []
    for name in sorted(set(lite) - set(pg)):
        diffs.append(f"table {name}: in SQLite only")
    for name in sorted(set(pg) - set(lite)):
        diffs.append(f"table {name}: in PostgreSQL only")
    fts_by_table = {content: (f, col) for f, (content, col) in fts.items()}
    checked_columns = 0
    for name in sorted(set(lite) & set(pg)):
        lt, pt = lite[name], pg[name]
        lcols = lt["columns"]
        pcols = pt["columns"]
        # The generated tsvector columns stand for FTS5: last in the baseline, with columns
        # that later migrations added after them.
        searches = [c for c in pcols if c["type"] == "tsvector" and c["generated"]]
        pcols = [c for c in pcols if not (c["type"] == "tsvector" and c["generated"])]
        for tsv in searches:
            if name not in fts_by_table:
                diffs.append(f"{name}.{tsv['name']}: a search column but no FTS5 table indexes {name}")
            else:
                f, col = fts_by_table[name]
                if not re.search(rf"\b{re.escape(col)}\b", tsv["gexpr"] or ""):
                    diffs.append(f"{name}.{tsv['name']}: does not index {col} as {f} does")
                if not any(keys == (tsv["name"],) for _, keys in pt["gin"]):
                    diffs.append(f"{name}.{tsv['name']}: no GIN index")
                fts_by_table.pop(name)
        lnames = [c["name"] for c in lcols]
        pnames = [c["name"] for c in pcols]
        if lnames != pnames:
            diffs.append(f"{name}: columns differ\n    SQLite:     {lnames}\n    PostgreSQL: {pnames}")
        pmap = {c["name"]: c for c in pcols}
        key_cols = set(lt["pk"]) | {fk[0] for fk in lt["fks"]}
        for lc in lcols:
            pc = pmap.get(lc["name"])
            if pc is None:
                continue
            checked_columns += 1
            where = f"{name}.{lc['name']}"
            boolean = (name, lc["name"]) in BOOLEANS
            want = "boolean" if boolean else TYPES.get(lc["type"], "?" + lc["type"])
            if pc["type"] != want:
                diffs.append(f"{where}: {lc['type']} on SQLite wants {want}, is {pc['type']}")
            if lc["notnull"] != pc["notnull"]:
                diffs.append(f"{where}: NOT NULL {lc['notnull']} on SQLite, {pc['notnull']} on PostgreSQL")
            if lc["lite_nullable_key"]:
                notes.append(f"{where}: a text key SQLite lets be NULL; PostgreSQL does not")
            if lc["default"] != pc["default"]:
                diffs.append(f"{where}: default {lc['default']!r} on SQLite, {pc['default']!r} on PostgreSQL")
            if pc["generated"]:
                diffs.append(f"{where}: generated on PostgreSQL only")
            is_rowid = lt["rowid_key"] == lc["name"]
            if is_rowid != (pc["identity"] == "d"):
                diffs.append(f"{where}: rowid key {is_rowid} on SQLite, identity "
                             f"{pc['identity'] or 'none'} on PostgreSQL (want BY DEFAULT)")
            if want == "text" and lc["name"] in key_cols and pc["collation"] != "C":
                diffs.append(f"{where}: a text key or reference, COLLATE \"C\" wanted, "
                             f"is {pc['collation'] or 'default'}")
        if lt["pk"] != pt["pk"]:
            diffs.append(f"{name}: primary key {lt['pk']} on SQLite, {pt['pk']} on PostgreSQL")
        if lt["unique"] != pt["unique"]:
            diffs.append(f"{name}: unique constraints {sorted(lt['unique'])} on SQLite, "
                         f"{sorted(pt['unique'])} on PostgreSQL")
        if lt["fks"] != pt["fks"]:
            diffs.append(f"{name}: foreign keys differ\n    SQLite:     {sorted(lt['fks'])}\n"
                         f"    PostgreSQL: {sorted(pt['fks'])}")
        for iname in sorted(set(lt["indexes"]) | set(pt["indexes"])):
            li, pi = lt["indexes"].get(iname), pt["indexes"].get(iname)
            if li is None:
                diffs.append(f"index {iname} on {name}: in PostgreSQL only")
            elif pi is None:
                diffs.append(f"index {iname} on {name}: in SQLite only")
            elif li != pi:
                diffs.append(f"index {iname} on {name}: SQLite {li}, PostgreSQL {pi}")
    for name in sorted(fts_by_table):
        if name in pg:
            diffs.append(f"{name}: FTS5 {fts_by_table[name][0]} indexes it, no tsvector column")
    for name in sorted(set(lite_triggers) | set(pg_triggers)):
        lt, pt = lite_triggers.get(name), pg_triggers.get(name)
        if lt is None:
            diffs.append(f"trigger {name}: in PostgreSQL only")
        elif pt is None:
            diffs.append(f"trigger {name}: in SQLite only")
        else:
            if not pt.pop("row"):
                diffs.append(f"trigger {name}: not FOR EACH ROW on PostgreSQL")
            if lt != pt:
                diffs.append(f"trigger {name}: SQLite {lt}, PostgreSQL {pt}")
    return diffs, notes, checked_columns


# --- Making fresh databases ----------------------------------------------------------------

def build_sqlite(path):
    db = sqlite3.connect(path)
    for f in sorted(glob.glob(os.path.join(ROOT, "engine/migrations/*.sql"))):
        db.executescript(open(f, encoding="utf-8").read())
    db.commit()
    db.close()


def build_pg(target, schema):
    psql = Psql(target)
    if psql.rows(f"SELECT 1 FROM pg_namespace WHERE nspname = '{schema}'"):
        sys.exit(f"schema {schema} exists already; --fresh makes a new one")
    psql.run(f"CREATE SCHEMA {schema}")
    env = dict(os.environ)
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + f" -c search_path={schema}").strip()
    for f in sorted(glob.glob(os.path.join(ROOT, "engine/migrations_postgres/*.sql"))):
        p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", target,
                            "--single-transaction", "-f", f], capture_output=True, text=True,
                           env=env)
        if p.returncode != 0:
            sys.exit(f"{os.path.basename(f)} failed: {p.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fresh", action="store_true",
                    help="make both databases from the migrations first")
    ap.add_argument("--schema", help="PostgreSQL schema (default: the connection's current one)")
    ap.add_argument("databases", nargs="+", metavar="SQLITE_DB POSTGRES")
    a = ap.parse_args()
    if len(a.databases) == 2:
        sqlite_path, target = a.databases
    elif len(a.databases) == 1 and a.fresh:
        sqlite_path, target = None, a.databases[0]
    else:
        ap.error("give SQLITE_DB and POSTGRES (SQLITE_DB may be left out with --fresh)")
    tmp = None
    if a.fresh:
        if not a.schema:
            ap.error("--fresh needs --schema")
        if sqlite_path is None:
            tmp = tempfile.TemporaryDirectory()
            sqlite_path = os.path.join(tmp.name, "switchboard.db")
        elif os.path.exists(sqlite_path):
            sys.exit(f"{sqlite_path} exists already; --fresh makes a new one")
        build_sqlite(sqlite_path)
        build_pg(target, a.schema)
    elif not os.path.exists(sqlite_path):
        sys.exit(f"no SQLite database at {sqlite_path}")
    psql = Psql(target)
    schema = a.schema or psql.rows("SELECT current_schema()")[0][0]
    if not psql.rows(f"SELECT 1 FROM pg_namespace WHERE nspname = '{schema}'"):
        sys.exit(f"no schema {schema} in {target}")

    lite, lite_triggers, fts = sqlite_schema(sqlite_path)
    pg, pg_triggers = pg_schema(psql, schema)
    diffs, notes, columns = compare(lite, lite_triggers, fts, pg, pg_triggers)
    for n in notes:
        print(f"note: {n}")
    for d in diffs:
        print(f"DIFF: {d}")
    indexes = sum(len(t["indexes"]) for t in lite.values())
    print(f"schema parity: {len(lite)} tables, {columns} columns, {indexes} indexes, "
          f"{len(lite_triggers)} triggers compared ({len(fts)} FTS5 tables as tsvector columns); "
          f"{len(diffs)} difference{'s' if len(diffs) != 1 else ''}")
    if tmp:
        tmp.cleanup()
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
