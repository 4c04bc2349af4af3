#!/usr/bin/env python3
"""Benchmark of thelook-datagen against the PostgreSQL the PG* variables point at.

One run measures, on the same database:
  1. the generator flat out (--avg-qps 0): visits/s and rows/s from its own JSON summary;
  2. the ceiling: minimal psycopg2 loops (bench/baseline_loop.py) writing the same row mix per
     visit (taken from the generator's summary of step 1), one commit per visit, in two styles (a
     statement per table and operation; all of a visit's statements in one round trip); ratios.
     Generator and ceiling alternate (2 rounds) so a noisy neighbour hits both alike; CPU per
     visit of the client and of PostgreSQL's backends (from /proc, when PostgreSQL is local) is
     printed too, as it does not depend on what else the machine runs;
  3. rate accuracy at 1, 10, 100 and 500 visits/s over a window: achieved vs target, and achieved
     vs the generator's own seeded schedule (the part pacing controls);
  4. resident memory of the generator over a long flat-out run (VmRSS sampled from /proc);
  5. bulk history (--backfill-days): rows/s written with COPY, and rows per CPU-second;
  6. the cost of --metrics-port: flat-out windows of the same length with and without it, alternating
     (which one goes first changes every round), the metrics scraped every 5 s as Prometheus does;
     visits/s, client and PostgreSQL CPU per visit of each. Windows of equal length keep the shop's
     lifecycle work (which follows shop time) alike in both.
Usage: source scripts/bootstrap && python bench/generator.py [--quick]
Full run about 14 minutes, --quick about 4. Schemas bench_gen, bench_base, bench_rate, bench_backfill and bench_metrics (--prefix) are dropped at the end.
"""
import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import socket
import tempfile
import threading
import time
import urllib.request

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baseline_loop import BaselineLoop, OneTripLoop  # noqa: E402
from report import table  # noqa: E402
from proc_watch import BackendCpu, WatchedProcess, cpu_seconds  # noqa: E402

PREFIX = ["bench"]   # schema prefix (--prefix), so that two bench runs on one database keep apart


def schema(kind):
    return f"{PREFIX[0]}_{kind}"


def all_schemas():
    return [schema(k) for k in ("gen", "base", "rate", "backfill", "metrics")]
SEED = 1


def note(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def generator_cmd():
    exe = shutil.which("thelook-datagen")
    return [exe] if exe else [sys.executable, "-m", "thelook_datagen"]


class GeneratorRun:
    """One thelook-datagen process with JSON log lines, its summary and RSS samples.

    `seconds` counts from the moment it starts streaming (after schema set-up and reference data),
    then it gets SIGINT, which makes it finish the current visit and print its summary."""
    STREAMING = "streaming visits"

    def __init__(self, workdir, name, schema, extra, seconds=None, rss_interval=1.0, startup_timeout=600):
        self.log_path = os.path.join(workdir, f"{name}.log")
        cmd = generator_cmd()
        argv = cmd + ["--no-create-topic", "--schema", schema, "--seed", str(SEED),
                      "--log-format", "json", "--status-interval", "5"] + extra
        note(f"{name}: thelook-datagen {' '.join(argv[len(cmd):])}"
             + (f" (stopped {seconds:g} s after streaming starts)" if seconds else ""))
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        pg = BackendCpu(psycopg2.connect, "thelook-datagen")
        self.proc = WatchedProcess(argv, env=os.environ.copy(), interval=rss_interval, stdout_path=self.log_path)
        self.stream_t = None
        self.window_cpu = self.window_pg_cpu = None
        if seconds:
            started = self._wait_for_streaming(startup_timeout)
            if started is not None:
                self.stream_t = started - self.proc.started
                c0, p0 = cpu_seconds(self.proc.proc.pid), pg.total()
                try:
                    self.proc.proc.wait(timeout=max(0.0, started + seconds - time.monotonic()))
                except subprocess.TimeoutExpired:
                    c1, p1 = cpu_seconds(self.proc.proc.pid), pg.total()
                    if None not in (c0, c1):
                        self.window_cpu = c1 - c0
                    if None not in (p0, p1):
                        self.window_pg_cpu = p1 - p0
        self.rc = self.proc.stop() if seconds else self.proc.wait()
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        self.pg_cpu = pg.stop()
        self.records = self._read()
        summaries = [r for r in self.records if r.get("event") == "summary"]
        if self.rc != 0 or not summaries:
            tail = "\n".join(json.dumps(r) for r in self.records[-5:])
            raise SystemExit(f"bench: {name} failed (exit {self.rc}); last lines of {self.log_path}:\n{tail}")
        self.summary = summaries[-1]

    def _read(self):
        records = []
        with open(self.log_path) as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    records.append({"event": "text", "message": line.rstrip()})
        return records

    def _wait_for_streaming(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.proc.poll() is None:
            with open(self.log_path) as f:
                if self.STREAMING in f.read():
                    return time.monotonic()
            time.sleep(0.1)
        return None

    @property
    def statuses(self):
        return [r for r in self.records if r.get("event") == "status"]


def mix_per_visit(summary):
    visits = summary["visits"]
    return {t: {op: n / visits for op, n in ops.items()} for t, ops in summary["tables"].items()}


def drop_schemas(conn, names):
    with conn.cursor() as cur:
        for s in names:
            cur.execute(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
    conn.commit()


# -- phases ------------------------------------------------------------------------------------------
def flat_out(workdir, seconds, if_exists):
    extra = ["--avg-qps", "0", "--if_exists", if_exists, "--status-interval", "3600", "--max_iter", "-1"]
    run = GeneratorRun(workdir, "flat-out", schema("gen"), extra, seconds=seconds)
    s = run.summary
    return {"visits": s["visits"], "elapsed_s": s["elapsed_s"], "visits_per_s": s["visits"] / s["elapsed_s"],
            "rows": s["rows"], "rows_per_s": s["rows"] / s["elapsed_s"], "summary": s,
            "cpu_s": run.window_cpu, "pg_cpu_s": run.window_pg_cpu}


class Scraper:
    """GETs http://127.0.0.1:PORT/metrics every `every` seconds in a thread, as Prometheus would."""

    def __init__(self, port, every=5.0):
        self.url, self.every, self.count, self.seconds = f"http://127.0.0.1:{port}/metrics", every, 0, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop.wait(self.every):
            t0 = time.perf_counter()
            try:
                urllib.request.urlopen(self.url, timeout=4).read()
            except OSError:
                continue   # not serving yet (start-up) or already gone
            self.count += 1
            self.seconds.append(time.perf_counter() - t0)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metrics_cost(workdir, seconds, rounds):
    """Flat-out windows without and with --metrics-port, alternating the order round by round."""
    GeneratorRun(workdir, "metrics-setup", schema("metrics"), ["--if_exists", "replace", "--quiet", "--max_iter", "0"])
    out = []
    for k in range(rounds):
        for on in ((False, True) if k % 2 == 0 else (True, False)):
            extra = ["--avg-qps", "0", "--if_exists", "append", "--status-interval", "3600", "--max_iter", "-1"]
            scraper = None
            if on:
                port = free_port()
                extra += ["--metrics-port", str(port)]
                scraper = Scraper(port)
            try:
                run = GeneratorRun(workdir, f"metrics-{'on' if on else 'off'}-{k + 1}", schema("metrics"), extra,
                                   seconds=seconds)
            finally:
                if scraper:
                    scraper.close()
            s = run.summary
            out.append({"round": k + 1, "metrics": on, "visits": s["visits"], "elapsed_s": s["elapsed_s"],
                        "visits_per_s": s["visits"] / s["elapsed_s"], "cpu_s": run.window_cpu,
                        "pg_cpu_s": run.window_pg_cpu, "scrapes": scraper.count if scraper else 0,
                        "scrape_ms_p50": (1000 * sorted(scraper.seconds)[len(scraper.seconds) // 2]
                                          if scraper and scraper.seconds else None)})
            note(f"metrics {'on ' if on else 'off'} round {k + 1}: {out[-1]['visits_per_s']:.1f} visits/s")
    return out


def baseline(conn, mix, seconds, loop_class=BaselineLoop):
    # bench_base is the generator's own shop with zero visits (same DDL, indexes, foreign keys and
    # reference data), so both writers pay for the same schema.
    conn.autocommit = False
    loop = loop_class(conn, schema("base"), mix, seed=SEED)
    backend = conn.get_backend_pid()
    c0, p0 = time.process_time(), cpu_seconds(backend)
    note(f"baseline: {loop_class.__name__}, one commit per visit, {sum(sum(o.values()) for o in mix.values()):.2f} "
         f"rows per visit, {seconds:g} s")
    n, elapsed = loop.run(seconds=seconds,
                          progress=lambda v, t: note(f"baseline: {v} visits in {t:.0f} s ({v / t:.0f}/s)"))
    p1 = cpu_seconds(backend)
    conn.autocommit = False
    return {"visits": n, "elapsed_s": elapsed, "visits_per_s": n / elapsed, "rows": loop.rows_written(),
            "rows_per_s": loop.rows_written() / elapsed, "cpu_s": time.process_time() - c0,
            "pg_cpu_s": None if None in (p0, p1) else p1 - p0}


def scheduled_visits(qps, elapsed):
    """Visits the generator's seeded Poisson schedule has due within `elapsed` seconds."""
    from thelook_datagen.pacing import Pacer
    pacer = Pacer(qps, seed=SEED + 1, clock=lambda: 0.0, wall=lambda: 0.0)
    n = 0
    while pacer.offset <= elapsed:
        pacer.advance()
        n += 1
    return n


def rate_accuracy(workdir, rate, window):
    extra = ["--avg-qps", f"{rate:g}", "--if_exists", "append", "--max_iter", "-1"]
    run = GeneratorRun(workdir, f"rate-{rate:g}", schema("rate"), extra, seconds=window)
    s = run.summary
    elapsed = s["elapsed_s"]
    achieved = s["visits"] / elapsed
    planned = scheduled_visits(rate, elapsed)
    return {"target": rate, "window_s": elapsed, "visits": s["visits"], "achieved": achieved,
            "error_pct": 100.0 * (achieved - rate) / rate,
            "scheduled": planned, "vs_schedule_pct": 100.0 * (s["visits"] - planned) / max(planned, 1),
            "poisson_sigma_pct": 100.0 / math.sqrt(rate * elapsed), "max_lag_s": s.get("max_lag_s"),
            "latency_ms": s.get("latency_ms") or {}}


def long_run(workdir, seconds, visits, more):
    extra = ["--avg-qps", "0", "--if_exists", "append", "--max_iter", str(visits), "--status-interval", "60"] + more
    run = GeneratorRun(workdir, "long-run", schema("gen"), extra, seconds=seconds, rss_interval=2.0)
    s = run.summary
    samples = run.proc.samples
    # samples before streaming cover start-up (imports, catalogue); "start" is the first one after
    stream = [k for t, k in samples if t >= (run.stream_t or 0.0) + 2.0] or [k for _, k in samples]
    return {"visits": s["visits"], "elapsed_s": s["elapsed_s"], "visits_per_s": s["visits"] / s["elapsed_s"],
            "rss_start_mib": stream[0] / 1024, "rss_peak_mib": max(k for _, k in samples) / 1024,
            "rss_stream_peak_mib": max(stream) / 1024,
            "rss_end_mib": stream[-1] / 1024, "samples": len(samples),
            "rss_series_mib": [round(k / 1024, 1) for _, k in samples[:: max(1, len(samples) // 12)]]}


def backfill(workdir, days, rate):
    extra = ["--avg-qps", "0", "--backfill-rate", f"{rate:g}", "--if_exists", "replace", "--max_iter", "0",
             "--backfill-days", f"{days:g}"]
    run = GeneratorRun(workdir, "backfill", schema("backfill"), extra)
    done = [r for r in run.records if r.get("event") == "backfill"]
    if not done:
        raise SystemExit(f"bench: backfill printed no 'backfill' record (see {run.log_path})")
    # the generator's CPU as it reports it (workers and parent, without start-up), PostgreSQL's
    # from its backends (whole run: reference data too, so slightly more than the backfill's)
    return dict(done[-1], pg_cpu_s=run.pg_cpu)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short windows (about 2 minutes in all)")
    p.add_argument("--flat-seconds", type=float, help="window of the flat-out and baseline runs")
    p.add_argument("--rounds", type=int, help="alternating generator/ceiling rounds (default 2, quick 1)")
    p.add_argument("--rate-window", type=float, help="seconds per rate-accuracy run")
    p.add_argument("--rates", default="1,10,100,500", help="comma-separated target rates")
    p.add_argument("--long-seconds", type=float, help="time limit of the memory run")
    p.add_argument("--long-visits", type=int, default=1_000_000,
                   help="visits of the memory run (stops at --long-seconds if that comes first)")
    p.add_argument("--long-args", default="", help="extra generator options for the memory run, e.g. "
                   "'--synchronous-commit off' to reach more visits in the time")
    p.add_argument("--backfill-days", type=float, help="days of history for the backfill figure")
    p.add_argument("--backfill-rate", type=float, default=10.0, help="visits/s of the backfilled history")
    p.add_argument("--skip", default="", help="comma-separated phases to skip: flat,rate,long,backfill,metrics")
    p.add_argument("--metrics-seconds", type=float, help="window of each run of the metrics-cost phase "
                                                            "(default 60, quick 20)")
    p.add_argument("--metrics-rounds", type=int, help="rounds of the metrics-cost phase, each one run without "
                                                        "and one with --metrics-port (default 3, quick 1)")
    p.add_argument("--prefix", default="bench", help="schema name prefix (default bench: bench_gen, ...)")
    p.add_argument("--keep-schemas", action="store_true", help="do not drop the bench schemas at the end")
    a = p.parse_args(argv)
    PREFIX[0] = a.prefix
    flat_s = a.flat_seconds or (10 if a.quick else 30)
    rounds = a.rounds or (1 if a.quick else 2)
    rate_w = a.rate_window or (10 if a.quick else 60)
    long_s = a.long_seconds or (30 if a.quick else 150)
    bf_days = a.backfill_days or (0.02 if a.quick else 0.1)
    skip = set(filter(None, a.skip.split(",")))
    rates = [float(x) for x in a.rates.split(",") if x.strip()]

    try:
        conn = psycopg2.connect(connect_timeout=10, application_name="thelook-bench")
    except psycopg2.OperationalError as e:
        print(f"bench: cannot connect to PostgreSQL (PG* variables): {str(e).strip().splitlines()[0]}",
              file=sys.stderr)
        return 1
    with conn.cursor() as cur:
        cur.execute("SELECT version(), current_setting('synchronous_commit'), current_setting('fsync')")
        version, sync_commit, fsync = cur.fetchone()
    conn.commit()
    workdir = tempfile.mkdtemp(prefix="thelook-bench-")
    note(f"PostgreSQL {version.split(',')[0]} at {os.environ.get('PGHOST')}:{os.environ.get('PGPORT')}, "
         f"synchronous_commit={sync_commit} fsync={fsync}; logs in {workdir}")
    results = {}
    try:
        if "flat" not in skip:
            # generator and ceiling alternate, so that a noisy neighbour hits both alike
            GeneratorRun(workdir, "baseline-setup", schema("base"), ["--avg-qps", "0", "--if_exists", "replace",
                                                                   "--quiet", "--max_iter", "0"])
            results["flat_rounds"] = []
            for k in range(rounds):
                g = flat_out(workdir, flat_s, "replace" if k == 0 else "append")
                mix = results.setdefault("mix", mix_per_visit(g["summary"]))
                b = baseline(conn, mix, flat_s)
                b1 = baseline(conn, mix, flat_s, OneTripLoop)
                results["flat_rounds"].append({"generator": g, "baseline": b, "baseline_one_trip": b1})
        if "rate" not in skip:
            GeneratorRun(workdir, "rate-setup", schema("rate"), ["--if_exists", "replace", "--max_iter", "0",
                                                               "--quiet"])
            results["rates"] = [rate_accuracy(workdir, r, rate_w) for r in rates]
        if "long" not in skip:
            results["long"] = long_run(workdir, long_s, a.long_visits, a.long_args.split())
        if "backfill" not in skip:
            results["backfill"] = backfill(workdir, bf_days, a.backfill_rate)
        if "metrics" not in skip:
            results["metrics"] = metrics_cost(workdir, a.metrics_seconds or (20 if a.quick else 60),
                                              a.metrics_rounds or (1 if a.quick else 3))
    finally:
        if not a.keep_schemas:
            drop_schemas(conn, all_schemas())
            note(f"dropped schemas {', '.join(all_schemas())}")
        conn.close()
    report(results, version, sync_commit, fsync)
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    note(f"raw figures: {os.path.join(workdir, 'results.json')}")
    return 0


def per_visit_us(cpu, visits):
    return "n/a" if cpu is None or not visits else f"{1e6 * cpu / visits:.0f}"


def report(r, version, sync_commit, fsync):
    print(f"\nthelook-datagen benchmark on {version.split(',')[0]} (synchronous_commit={sync_commit}, "
          f"fsync={fsync}), {os.cpu_count()} CPUs")
    if "flat_rounds" in r:
        rows, gv, bv, ov = [], [], [], []
        writers = (("generator", "thelook-datagen --avg-qps 0"), ("baseline", "psycopg2 loop, a statement per table"),
                   ("baseline_one_trip", "psycopg2 loop, one round trip"))
        for k, rd in enumerate(r["flat_rounds"], 1):
            for key, label in writers:
                x = rd[key]
                rows.append([k, label, x["visits"], f"{x['elapsed_s']:.1f}", f"{x['visits_per_s']:.1f}", x["rows"],
                             f"{x['rows_per_s']:.0f}", per_visit_us(x.get("cpu_s"), x["visits"]),
                             per_visit_us(x.get("pg_cpu_s"), x["visits"])])
            gv.append(rd["generator"]["visits_per_s"])
            bv.append(rd["baseline"]["visits_per_s"])
            ov.append(rd["baseline_one_trip"]["visits_per_s"])
        table("1-2. Flat out vs hand-written ceilings (one commit per visit, same row mix), alternating rounds",
              ["round", "writer", "visits", "seconds", "visits/s", "rows", "rows/s", "client CPU us/visit",
               "PG CPU us/visit"], rows)
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        for name, cv in (("a statement per table", bv), ("one round trip", ov)):
            ratio = sum(gv) / sum(cv)
            print(f"vs ceiling '{name}': generator {mean(gv):.1f} visits/s, ceiling {mean(cv):.1f} visits/s; ratio "
                  f"{ratio:.2f} (target >= 0.8: {'met' if ratio >= 0.8 else 'NOT met'}); per round: "
                  + ", ".join(f"{g / c:.2f}" for g, c in zip(gv, cv)))
        print("row mix per visit (I insert, U update, D delete): " + "; ".join(
            f"{t} " + " ".join(f"{op[0].upper()}{n:.3f}" for op, n in ops.items()) for t, ops in r["mix"].items()))
    if "rates" in r:
        table("3. Rate accuracy over the window (the generator's default arrivals; target within 2%)",
              ["target/s", "window s", "visits", "achieved/s", "error vs target", "seeded schedule",
               "error vs schedule", "pure-Poisson 1-sigma", "max lag s", "write ms p50", "p99", "max"],
              [[f"{x['target']:g}", f"{x['window_s']:.1f}", x["visits"], f"{x['achieved']:.2f}",
                f"{x['error_pct']:+.2f}%", x["scheduled"], f"{x['vs_schedule_pct']:+.2f}%",
                f"{x['poisson_sigma_pct']:.1f}%", x["max_lag_s"]]
               + [x["latency_ms"].get(k, "n/a") for k in ("p50", "p99", "max")] for x in r["rates"]])
    if "long" in r:
        x = r["long"]
        table("4. Memory over a long flat-out run (VmRSS of the generator process)",
              ["visits", "seconds", "visits/s", "RSS start MiB", "RSS peak while streaming MiB", "RSS end MiB",
               "RSS peak incl. start-up MiB"],
              [[x["visits"], f"{x['elapsed_s']:.0f}", f"{x['visits_per_s']:.1f}", f"{x['rss_start_mib']:.1f}",
                f"{x['rss_stream_peak_mib']:.1f}", f"{x['rss_end_mib']:.1f}", f"{x['rss_peak_mib']:.1f}"]])
        print("RSS over time (MiB): " + " ".join(str(v) for v in x["rss_series_mib"]))
    if "backfill" in r:
        x = r["backfill"]
        gen, pg = x.get("generator_cpu_s"), x.get("pg_cpu_s")
        cpu = (gen or 0) + (pg or 0)
        table("5. Bulk history (--backfill-days, COPY; target >= 100,000 rows/s)",
              ["days", "visits", "rows", "seconds", "rows/s", "generator CPU s", "PG CPU s", "rows per CPU-second"],
              [[f"{x['days']:g}", x["visits"], x["rows"], f"{x['seconds']:.1f}", f"{x['rows_per_s']:.0f}",
                "n/a" if gen is None else f"{gen:.1f}", "n/a" if pg is None else f"{pg:.1f}",
                f"{x['rows'] / cpu:.0f}" if gen is not None and pg is not None else "n/a"]])
        print("rows/s is wall-clock on this machine as it is now; rows per CPU-second (generator + PostgreSQL)"
              " is the load-independent figure: N dedicated cores give at most N times that.")
    if "metrics" in r:
        runs = r["metrics"]
        table("6. Cost of --metrics-port (flat out, equal windows, alternating; scraped every 5 s)",
              ["round", "metrics", "visits", "seconds", "visits/s", "client CPU us/visit", "PG CPU us/visit",
               "scrapes", "scrape ms p50"],
              [[x["round"], "on" if x["metrics"] else "off", x["visits"], f"{x['elapsed_s']:.1f}",
                f"{x['visits_per_s']:.1f}", per_visit_us(x.get("cpu_s"), x["visits"]),
                per_visit_us(x.get("pg_cpu_s"), x["visits"]), x["scrapes"],
                "n/a" if x["scrape_ms_p50"] is None else f"{x['scrape_ms_p50']:.1f}"] for x in runs])
        on = [x["visits_per_s"] for x in runs if x["metrics"]]
        off = [x["visits_per_s"] for x in runs if not x["metrics"]]
        if on and off:
            print(f"metrics on: {sum(on) / len(on):.1f} visits/s, off: {sum(off) / len(off):.1f} visits/s "
                  f"(ratio {sum(on) / sum(off):.3f}; per round: "
                  + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(on, off)) + ")")


if __name__ == "__main__":
    sys.exit(main())
