#!/usr/bin/env python3
"""Steady state of the shop with and without --horizon, against the PostgreSQL the PG* variables point at.

Two runs of thelook-datagen, one after the other, at the same rate, seed and time scale, each on a fresh
schema (reference data first, not timed): one without a horizon, one with --horizon. Every --sample
seconds of streaming it records, per table, the rows (count(*)) and the table's size on disk with its
indexes (pg_total_relation_size), and the generator's resident memory (VmRSS). It prints the rows and
sizes over time side by side, the growth per minute over the second half of each run (the steady state),
and the inserts and deletes per second over that half from the generator's own status lines.

Usage: source scripts/bootstrap && python bench/horizon.py [--rate 50] [--horizon 60s] [--seconds 300]
About 2 x (--seconds + start-up). Schemas PREFIX_horizon_off and PREFIX_horizon_on are dropped at the end.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import table  # noqa: E402
from proc_watch import WatchedProcess, vm_rss_kib  # noqa: E402

TABLES = ("events", "orders", "order_items", "inventory_items", "users")
COUNTED = TABLES + ("sold",)   # "sold": inventory items with sold_at set (the rest is unsold stock)


def note(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def slope_per_minute(points, since):
    """Least-squares slope (per minute) of [(t seconds, value)] over the points with t >= since;
    None with fewer than two."""
    pts = [(t, v) for t, v in points if t >= since]
    if len(pts) < 2:
        return None
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    mv = sum(v for _, v in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    if var == 0:
        return None
    return 60.0 * sum((t - mt) * (v - mv) for t, v in pts) / var


def rates_between(first, last):
    """{table: (inserts/s, deletes/s)} between two status records of the generator (cumulative counters)."""
    span = last["elapsed_s"] - first["elapsed_s"]
    out = {}
    for table in TABLES:
        a, b = first["tables"].get(table, {}), last["tables"].get(table, {})
        out[table] = tuple((b.get(op, 0) - a.get(op, 0)) / span if span > 0 else 0.0 for op in ("insert", "delete"))
    return out


def sample(conn, schema):
    with conn.cursor() as cur:
        rows = {}
        for t in TABLES:
            cur.execute(f'SELECT count(*), pg_total_relation_size(%s) FROM "{schema}".{t}', (f'"{schema}".{t}',))
            rows[t] = cur.fetchone()
        cur.execute(f'SELECT count(*) FROM "{schema}".inventory_items WHERE sold_at IS NOT NULL')
        rows["sold"] = (cur.fetchone()[0], None)
    return rows


def run(label, schema, args, workdir, conn):
    log = os.path.join(workdir, f"{label}.log")
    argv = [sys.executable, "-m", "thelook_datagen", "--schema", schema, "--if_exists", "replace", "--no-create-topic",
            "--seed", str(args.seed), "--avg-qps", f"{args.rate:g}", "--time-scale", f"{args.time_scale:g}",
            "--log-format", "json", "--status-interval", "5"]
    if label == "on":
        argv += ["--horizon", args.horizon]
    note(f"{label}: {' '.join(argv[3:])} for {args.seconds:g} s of streaming")
    proc = WatchedProcess(argv, env=os.environ.copy(), interval=5.0, stdout_path=log)
    deadline = time.monotonic() + 900
    while True:
        with open(log) as f:
            if "streaming visits" in f.read():
                break
        if proc.proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"bench: the {label} run did not start streaming; see {log}")
        time.sleep(0.2)
    t0 = time.monotonic()
    series = []
    k = 0
    while True:
        at = k * args.sample
        if at > args.seconds:
            break
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        series.append((at, sample(conn, schema), (vm_rss_kib(proc.proc.pid) or 0) / 1024))
        note(f"{label} {at:4.0f}s: " + " ".join(f"{t} {n}" for t, (n, _) in series[-1][1].items())
             + f", RSS {series[-1][2]:.1f} MiB")
        k += 1
    rc = proc.stop()
    records = []
    with open(log) as f:
        for line in f:
            if line.startswith("{"):
                records.append(json.loads(line))
    summary = [r for r in records if r.get("event") == "summary"]
    if rc != 0 or not summary:
        raise SystemExit(f"bench: the {label} run failed (exit {rc}); see {log}")
    statuses = [r for r in records if r.get("event") == "status"]
    half = [r for r in statuses if r["elapsed_s"] >= args.seconds / 2]
    rates = rates_between(half[0], statuses[-1]) if len(half) >= 2 else {}
    return {"series": series, "summary": summary[-1], "rates": rates, "log": log}


def report(args, res):
    print(f"\nthe shop with and without --horizon {args.horizon}: {args.rate:g} visits/s, seed {args.seed}, "
          f"time scale {args.time_scale:g}, {args.seconds:g} s of streaming each, sampled every {args.sample:g} s")
    head = ["t s"] + [f"{t} {side}" for t in COUNTED for side in ("off", "on")] + ["RSS off", "RSS on"]
    rows = []
    for (t, off, rss_off), (_, on, rss_on) in zip(res["off"]["series"], res["on"]["series"]):
        rows.append([f"{t:.0f}"] + [str(x[tb][0]) for tb in COUNTED for x in (off, on)]
                    + [f"{rss_off:.1f}", f"{rss_on:.1f}"])
    table("rows per table (count(*); sold = inventory items sold) and the generator's RSS (MiB) over time",
           head, rows)
    size_rows = []
    for (t, off, _), (_, on, _) in zip(res["off"]["series"], res["on"]["series"]):
        size_rows.append([f"{t:.0f}"] + [f"{x[tb][1] / 2**20:.1f}" for tb in TABLES for x in (off, on)])
    table("size on disk with indexes (MiB, pg_total_relation_size)",
           ["t s"] + [f"{t} {side}" for t in TABLES for side in ("off", "on")], size_rows)
    since = args.seconds / 2
    growth = []
    for side in ("off", "on"):
        s = res[side]["series"]
        growth.append([side] + [_fmt(slope_per_minute([(t, x[tb][0]) for t, x, _ in s], since)) for tb in COUNTED]
                      + [_fmt(slope_per_minute([(t, x[tb][1] / 2**20) for t, x, _ in s], since), 2)
                         for tb in ("events",)]
                      + [_fmt(slope_per_minute([(t, r) for t, _, r in s], since), 2)])
    table(f"growth per minute over the second half (from {since:.0f} s: least squares)",
           ["horizon"] + [f"{t} rows" for t in COUNTED] + ["events MiB", "RSS MiB"], growth)
    rate_rows = []
    for side in ("off", "on"):
        r = res[side]["rates"]
        rate_rows.append([side] + [f"{r[t][0]:.1f} / {r[t][1]:.1f}" if t in r else "n/a" for t in TABLES])
    table("inserts / deletes per second over the second half (the generator's counters)",
           ["horizon"] + list(TABLES), rate_rows)
    on = res["on"]["summary"]
    print(f"\narchived by --horizon {args.horizon}: " + ", ".join(f"{t} {n}" for t, n in on.get("archived", {}).items())
          + f" in {on.get('archive_steps', 0)} steps; visits off {res['off']['summary']['visits']}, "
          f"on {on['visits']} (achieved {on['visits_per_s']:.2f}/s), max lag on {on['max_lag_s']:.2f} s, "
          f"write latency p99 off {res['off']['summary']['latency_ms']['p99']:.1f} ms, on {on['latency_ms']['p99']:.1f} ms")


def _fmt(x, digits=0):
    return "n/a" if x is None else f"{x:+.{digits}f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=50.0, help="visits/s of both runs (default 50)")
    p.add_argument("--horizon", default="60s", help="the --horizon of the second run (default 60s)")
    p.add_argument("--seconds", type=float, default=300.0, help="seconds of streaming per run (default 300)")
    p.add_argument("--sample", type=float, default=30.0, help="seconds between samples (default 30)")
    p.add_argument("--time-scale", type=float, default=8640.0, help="--time-scale of both runs (default 8640)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--prefix", default="bench", help="schema name prefix (default bench)")
    p.add_argument("--keep-schemas", action="store_true", help="do not drop the two schemas at the end")
    a = p.parse_args(argv)
    if a.rate <= 0 or a.seconds <= 0 or a.sample <= 0:
        p.error("--rate, --seconds and --sample must be positive")
    try:
        conn = psycopg2.connect(connect_timeout=10, application_name="thelook-bench")
    except psycopg2.OperationalError as e:
        print(f"bench: cannot connect to PostgreSQL (PG* variables): {str(e).strip().splitlines()[0]}",
              file=sys.stderr)
        return 1
    conn.autocommit = True
    workdir = tempfile.mkdtemp(prefix="thelook-bench-horizon-")
    schemas = {side: f"{a.prefix}_horizon_{side}" for side in ("off", "on")}
    res = {}
    try:
        for side in ("off", "on"):
            res[side] = run(side, schemas[side], a, workdir, conn)
    finally:
        if not a.keep_schemas:
            with conn.cursor() as cur:
                for s in schemas.values():
                    cur.execute(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
            note(f"dropped schemas {', '.join(schemas.values())}")
        conn.close()
    report(a, res)
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump({k: {kk: vv for kk, vv in v.items()} for k, v in res.items()}, f, indent=1, default=str)
    note(f"logs and raw figures in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
