#!/usr/bin/env python3
"""The DuckDB side of the benchmark: what a user without kvsentry would run.

    duck.py --files F... [--ti FILE --as-of T] [--threads N] --out OUT.json

Reads the raw JSON lines once (sql/load.sql: `read_json` over plain and gzipped files alike,
only the columns the rules need, into a temporary table), then runs the seed rules as SQL
(sql/threshold.sql, and sql/ti.sql when --ti is given). With --full-aggregates, the
threshold rule computes the Elastic rule's whole STATS clause (sql/load_full.sql,
sql/threshold_full.sql), as kvsentry's alerts carry it. Writes the alerts as JSON:
{"threshold": [{window_start, upn, action_count, distinct_actions}...],
 "ti": [{indicator_id, ip, event_time, events}...], "rows_loaded": N, "duckdb": VERSION}.
"""

import argparse
import json
import os
import sys

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))


def read_sql(name):
    with open(os.path.join(HERE, "sql", name)) as f:
        return f.read()


def sql(name):
    """A query of sql/, its {read_operations} filled in from sql/read_operations.sql."""
    # The list without its comment lines, so that it can sit inside a line of SQL.
    ops = " ".join(line for line in read_sql("read_operations.sql").splitlines()
                   if not line.lstrip().startswith("--"))
    return read_sql(name).replace("{read_operations}", ops)


def quote(s):
    return "'" + s.replace("'", "''") + "'"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", nargs="+", required=True)
    ap.add_argument("--ti")
    ap.add_argument("--as-of")
    ap.add_argument("--threads", type=int, default=0, help="0: DuckDB's default (all cores)")
    ap.add_argument("--full-aggregates", action="store_true",
                    help="the Elastic rule's whole STATS clause (load_full.sql, threshold_full.sql)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    con = duckdb.connect()
    if a.threads:
        con.execute(f"SET threads = {a.threads}")
    files = "[" + ", ".join(quote(f) for f in a.files) + "]"
    full = "_full" if a.full_aggregates else ""
    con.execute(sql(f"load{full}.sql").replace("{files}", files))
    rows_loaded = con.execute("SELECT count(*) FROM ev").fetchone()[0]

    out = {"duckdb": duckdb.__version__, "rows_loaded": rows_loaded, "threshold": [], "ti": None}
    cur = con.execute(sql(f"threshold{full}.sql"))
    cols = [d[0] for d in cur.description]
    out["threshold"] = [dict(zip(cols, r)) for r in cur.fetchall()]
    if a.ti:
        if not a.as_of:
            sys.exit("duck.py: --ti needs --as-of")
        q = sql("ti.sql").replace("{ti_file}", quote(a.ti)).replace("{as_of}", a.as_of)
        cur = con.execute(q)
        cols = [d[0] for d in cur.description]
        out["ti"] = [dict(zip(cols, r)) for r in cur.fetchall()]
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1, default=str)


if __name__ == "__main__":
    main()
