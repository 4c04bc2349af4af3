"""The scenario pack at a larger scale than the tests, one scenario after another against the running stack,
with the figures the README and the issue note quote: drain time per minute of outage, incremental snapshot
rows/s, the big transaction's end-to-end time, the recovery after each restart of the storm.

It runs `scripts/scenario NAME --json` (the real command, each with its own seeded generator) on one connector
(default: the demo's thelook-postgres; register it and submit its Flink jobs first, as `scripts/demo` does, so
every scenario also compares the Flink results). The baseline, measured in the same run before the pack: the
commit->Kafka latency of the same generator at the same rate with nothing disturbed (--baseline seconds), read
back from the change topics with the scenarios' own tail.

    eval "$(scripts/stack env)"
    python bench/scenarios.py                                  # the whole pack, default scales
    python bench/scenarios.py --only connector-outage,big-transaction --rate 50 --changes 500000

Prints one line per scenario run (exit status, seconds, its key figures) and a table at the end; exits 1 when
a scenario did not end with its expected outcome.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scripts" / "scenario"
sys.path.insert(0, str(ROOT / "generator"))


def pack(a):
    """(label, scenario, extra args): the scales of the pack."""
    runs = [(f"connector-outage {s} s", "connector-outage", ["--outage", s]) for s in a.outages.split(",")]
    runs += [("incremental-snapshot", "incremental-snapshot", []),
             (f"big-transaction {a.changes}", "big-transaction", ["--changes", str(a.changes)]),
             ("schema-change", "schema-change", []),
             ("replica-identity", "replica-identity", []),
             ("slot-invalidated", "slot-invalidated", []),
             ("restart-storm", "restart-storm", [])]
    only = set(filter(None, (a.only or "").split(",")))
    return [r for r in runs if not only or r[1] in only]


def _get(d, *path):
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def figures(name, s):
    """The figures worth quoting from a scenario's --json summary (None where a scenario has none)."""
    if name == "connector-outage":
        per_min = s["drain_s"] / (s["outage_s"] / 60) if s.get("drain_s") is not None else None
        return {"drain s": s.get("drain_s"), "drain s per outage min": None if per_min is None else round(per_min, 1),
                "WAL held MiB": round((s.get("peak_retained_bytes") or 0) / 2 ** 20, 1),
                "peak latency s": None if s.get("peak_latency_ms") is None else round(s["peak_latency_ms"] / 1000, 1)}
    if name == "restart-storm":
        return {f"{r['service']} back s": r.get("capture_resumed_s") for r in s.get("restarts", [])}
    # the other scenarios: every top-level number of their summary (their own names)
    skip = {"seed", "rate", "seconds", "outage_s"}
    return {k: v for k, v in s.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in skip}


def baseline(a):
    """p50 and peak commit->Kafka latency (ms) of the generator alone, over a.baseline seconds."""
    from thelook_datagen import options
    from thelook_datagen.ops import connector as connector_ops
    from thelook_datagen.scenarios.common import (ChangeTail, Generator, Postgres, child_env, newest_event_id,
                                                  target_connector)
    from thelook_datagen.scenarios.connector_outage import percentile
    s = options.parse_scenario_settings(["connector-outage", "--connector", a.connector, "--rate", str(a.rate),
                                         "--seed", str(a.seed)])
    target = target_connector(connector_ops.client(s.connect_url, timeout=15), s.connector)
    pg = Postgres(s.conn_kw)
    tail = ChangeTail(s, target)
    since = newest_event_id(pg, target.schema)
    gen = Generator(s, target, child_env(s))
    try:
        gen.wait_writing(pg, target.schema, since)
        start = int(time.time() * 1000)
        time.sleep(a.baseline)
        end = int(time.time() * 1000)
        gen.stop()
        tail.read_up_to_now()
        lat = sorted(k - c for c, k in tail.between(start, end))
        return {"changes": len(lat), "p50 ms": percentile(lat, 50), "p99 ms": percentile(lat, 99),
                "peak ms": lat[-1] if lat else None}
    finally:
        if gen.alive():
            gen.stop()
        gen.remove_log()
        tail.close()
        pg.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connector", default="thelook-postgres")
    ap.add_argument("--rate", type=float, default=20.0, help="visits/s of every scenario's generator")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--outages", default="30,120", help="connector-outage lengths, seconds, comma-separated")
    ap.add_argument("--changes", type=int, default=500000, help="big-transaction's row changes")
    ap.add_argument("--baseline", type=float, default=30.0, help="seconds of undisturbed load measured first")
    ap.add_argument("--only", help="only these scenarios (comma-separated names)")
    a = ap.parse_args()
    t0 = time.monotonic()
    base = baseline(a) if a.baseline > 0 else None
    if base:
        print(f"[bench] baseline: {a.rate:g} visits/s undisturbed for {a.baseline:g} s: {base['changes']} changes, "
              f"commit->Kafka p50 {base['p50 ms']} ms, p99 {base['p99 ms']} ms, peak {base['peak ms']} ms", flush=True)
    rows, failed = [], 0
    for label, name, extra in pack(a):
        cmd = [sys.executable, str(SCENARIO), name, "--connector", a.connector, "--rate", str(a.rate), "--seed",
               str(a.seed), "--json", *extra]
        t1 = time.monotonic()
        res = subprocess.run(cmd, capture_output=True, text=True)
        took = time.monotonic() - t1
        try:
            summary = json.loads(res.stdout)
        except ValueError:
            summary = {}
        figs = figures(name, summary) if summary else {}
        verify_s = _get(summary, "verify", "seconds")
        flink = summary.get("flink") if summary else None
        row = {"run": label, "exit": res.returncode, "seconds": round(took, 1), "verify s": verify_s,
               "flink": "-" if not flink else ("equal" if flink.get("equal") else "DIFFERENT"), **figs}
        rows.append(row)
        failed += res.returncode != 0
        print(f"[bench] {label}: exit {res.returncode} in {took:.0f} s; "
              + ", ".join(f"{k} {v}" for k, v in row.items() if k not in ("run", "exit", "seconds")), flush=True)
        if res.returncode != 0:
            print("  " + (res.stderr.strip().splitlines() or ["(no error line)"])[-1], flush=True)
    print(f"\n[bench] {len(rows)} runs in {time.monotonic() - t0:.0f} s, {failed} not as expected")
    if base:
        print(f"baseline ({a.rate:g} visits/s, nothing disturbed): commit->Kafka p50 {base['p50 ms']} ms, "
              f"p99 {base['p99 ms']} ms, peak {base['peak ms']} ms")
    for row in rows:
        print(" | ".join(f"{k} {v}" for k, v in row.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
