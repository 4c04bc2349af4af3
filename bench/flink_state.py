#!/usr/bin/env python3
"""Flink's state under a seeded load: TaskManager heap after a full GC, its RSS, checkpoint sizes, Kafka bytes.

On the running local stack (endpoints from `eval "$(scripts/stack env)"`) it sets up a throwaway schema,
topic prefix, Debezium connector and the five Flink jobs (the shared flink/ files, so the state backend
configured for the stack is what it measures), then runs `thelook-datagen --seed S --avg-qps R` for
--visits visits and samples every --interval seconds, and once more when the jobs have read everything
(there the heap is the lowest of four collections 10 s apart, followed by the heap's largest classes):

  rows          rows in the schema's tables (the database the jobs mirror)
  heap after GC the TaskManager JVM's used heap right after a full GC forced with `jcmd PID GC.run`: what
                stays live (with the hashmap backend the jobs' state is here)
  RSS           the TaskManager process's resident memory (RocksDB's native memory and block cache count
                here, not in the heap)
  state         per job, the latest completed checkpoint's full state size (REST state_size), summed
  written       what that checkpoint wrote (checkpointed_size: with incremental checkpoints the increment)
  ckpt dir      du of the stack's checkpoint folder (every job's retained checkpoints, the demo's too)
  local dir     du of the TaskManager's working folder (io.tmp.dirs: RocksDB keeps its files there)
  kafka         bytes of this prefix's change topics on the broker's disk (the largest partition apart)
  CPU           the TaskManager's CPU time over the run (the cost of the state backend shows here)

The TaskManager is shared: jobs running beside it (a demo) count in its heap and RSS. Compare runs on
a stack with nothing else submitted. Everything it created is removed at the end (--keep keeps it).

    eval "$(scripts/stack env)"; python bench/flink_state.py --avg-qps 100 --visits 30000 --seed 1
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack_memory  # noqa: E402  (the stack's programs and their process trees)
from proc_watch import cpu_seconds  # noqa: E402  (utime + stime from /proc)
from throwaway import remove_pipeline  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATAGEN = Path(sys.executable).parent / "thelook-datagen"
NEEDED = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "KAFKA_BOOTSTRAP_SERVERS",
          "CONNECT_URL", "FLINK_URL", "FLINK_SQL_GATEWAY_URL")
TABLES = ("users", "orders", "order_items", "inventory_items", "events", "products", "distribution_centers")
HEAP_USED = re.compile(r"heap\s+total \d+K, used (\d+)K")


def log(msg):
    print(f"[flink-state {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, env, check=True):
    res = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise SystemExit(f"flink-state: {' '.join(map(str, cmd[:2]))} failed:\n{res.stderr[-2000:]}{res.stdout[-2000:]}")
    return res


def http_json(url):
    with urllib.request.urlopen(url, timeout=15) as r:
        return json.load(r)


def taskmanager_jvm():
    """The pid of the TaskManager's JVM (the supervisord program's process tree, its java process)."""
    pid = stack_memory.service_pids().get("taskmanager")
    if pid is None:
        raise SystemExit("flink-state: the stack's taskmanager is not running (scripts/stack status)")
    for p in stack_memory.tree(pid, stack_memory.children_map()):
        try:
            if Path(f"/proc/{p}/comm").read_text().strip() == "java":
                return p
        except OSError:
            continue
    raise SystemExit(f"flink-state: no java process under the taskmanager (pid {pid})")


def heap_after_gc_mib(pid):
    """Used heap (MiB) right after a forced full GC: the live objects."""
    run(["jcmd", pid, "GC.run"], os.environ)
    m = HEAP_USED.search(run(["jcmd", pid, "GC.heap_info"], os.environ).stdout)
    return int(m.group(1)) / 1024 if m else None


def rss_mib(pid):
    return (stack_memory._kib(f"/proc/{pid}/status", "VmRSS:") or 0) / 1024


def du_mib(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total / 2**20


def kafka_bytes(stack_dir, prefix):
    """(all bytes, largest partition's bytes, its name) of the prefix's change topics on the broker's disk."""
    data = Path(stack_dir) / "kafka" / "data"
    sizes = {d.name: du_mib(d) for d in data.glob(f"{prefix}.*-*") if ".analytics." not in d.name}
    if not sizes:
        return 0.0, 0.0, "-"
    big = max(sizes, key=sizes.get)
    return sum(sizes.values()), sizes[big], big


def checkpoints(flink_url, prefix):
    """{job: (state bytes, checkpointed bytes, completed count)} of the prefix's running jobs."""
    out = {}
    for job in http_json(f"{flink_url}/jobs/overview")["jobs"]:
        if job["name"].startswith(prefix + ".") and job["state"] == "RUNNING":
            info = http_json(f"{flink_url}/jobs/{job['jid']}/checkpoints")
            last = (info.get("latest") or {}).get("completed") or {}
            out[job["name"].rsplit(".", 1)[1]] = (last.get("state_size", 0), last.get("checkpointed_size", 0),
                                                  info["counts"]["completed"])
    return out


def count_rows(env, schema):
    conn = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"],
                            password=env["PGPASSWORD"], dbname=env["PGDATABASE"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT " + " + ".join(f"(SELECT COUNT(*) FROM {schema}.{t})" for t in TABLES))
            return cur.fetchone()[0]
    finally:
        conn.close()


def sample(env, schema, prefix, pid, started):
    ck = checkpoints(env["FLINK_URL"], prefix)
    stack_dir = env.get("THELOOK_STACK_DIR") or ROOT / ".stack"   # the launcher's default
    kafka_all, kafka_big, big_name = kafka_bytes(stack_dir, prefix)
    return {
        "t": time.monotonic() - started, "rows": count_rows(env, schema),
        "heap": heap_after_gc_mib(pid), "rss": rss_mib(pid), "cpu": cpu_seconds(pid),
        "state": sum(v[0] for v in ck.values()) / 2**20, "written": sum(v[1] for v in ck.values()) / 2**20,
        "jobs": {k: round(v[0] / 2**20, 2) for k, v in ck.items()},
        "ckpt_dir": du_mib(Path(stack_dir) / "flink" / "checkpoints"),
        "local_dir": du_mib(Path(stack_dir) / "flink" / "tmp"),
        "kafka": kafka_all, "kafka_big": kafka_big, "kafka_big_name": big_name,
    }


def line(s):
    return (f"{s['t']:6.0f} s {s['rows']:>9,} rows  heap after GC {s['heap']:6.1f} MiB  RSS {s['rss']:6.0f} MiB  "
            f"state {s['state']:7.2f} MiB (checkpoint wrote {s['written']:6.2f})  ckpt dir {s['ckpt_dir']:6.1f} MiB  "
            f"local {s['local_dir']:6.1f} MiB  kafka {s['kafka']:6.1f} MiB (largest {s['kafka_big']:.1f})")


def main():
    p = argparse.ArgumentParser(description="TaskManager heap after GC, RSS and checkpoint sizes under a seeded load.")
    p.add_argument("--avg-qps", type=float, default=100, help="generator rate, visits/s (default 100)")
    p.add_argument("--visits", type=int, default=30000, help="visits to write (default 30000: 5 min at 100/s)")
    p.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    p.add_argument("--interval", type=float, default=60, help="seconds between samples (default 60)")
    p.add_argument("--json", help="write the samples to this file")
    p.add_argument("--keep", action="store_true", help="keep the schema, topics, connector and jobs")
    args = p.parse_args()
    missing = [k for k in NEEDED if not os.environ.get(k)]
    if missing:
        sys.exit(f"flink-state: {', '.join(missing)} not set; run: eval \"$(scripts/stack env)\"")
    env = dict(os.environ)
    pid = taskmanager_jvm()
    tag = uuid.uuid4().hex[:8]
    schema, prefix, slot = f"fstate_{tag}", f"fstate{tag}", f"fstate_{tag}"
    datagen = [DATAGEN, "--schema", schema, "--topic-prefix", prefix]
    submit = [sys.executable, ROOT / "scripts" / "submit-flink-jobs", "--topic-prefix", prefix, "--schema", schema]
    generator = None
    samples = []
    try:
        log(f"schema {schema}, prefix {prefix}: creating tables, connector and jobs")
        run(datagen + ["--if_exists", "fail", "--max_iter", "0", "--quiet"], env)
        run([sys.executable, ROOT / "scripts" / "register-connector", "--name", f"fstate-{tag}",
             "--topic-prefix", prefix, "--schema", schema, "--slot", slot, "--publication", f"{slot}_pub"], env)
        run(submit, env)
        started = time.monotonic()
        samples.append(sample(env, schema, prefix, pid, started))
        log(line(samples[-1]))
        generator = subprocess.Popen([str(c) for c in datagen + [
            "--if_exists", "append", "--seed", str(args.seed), "--avg-qps", str(args.avg_qps),
            "--max_iter", str(args.visits), "--quiet"]], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        next_at = time.monotonic() + args.interval
        while generator.poll() is None:
            time.sleep(1)
            if time.monotonic() >= next_at:
                next_at += args.interval
                samples.append(sample(env, schema, prefix, pid, started))
                log(line(samples[-1]))
        if generator.returncode != 0:
            raise SystemExit(f"flink-state: the generator failed: {generator.stderr.read()[-1000:]}")
        wait_consumed(env, prefix, schema)
        time.sleep(25)   # two more checkpoints after the last change: the sizes include everything
        samples.append(sample(env, schema, prefix, pid, started))
        # settled: the lowest of four forced collections 10 s apart (records still in flight, e.g. a mini-batch
        # being flushed, are gone in some of them), and what the heap holds then
        for _ in range(3):
            time.sleep(10)
            samples[-1]["heap"] = min(samples[-1]["heap"], heap_after_gc_mib(pid))
        log(line(samples[-1]))
        histogram = run(["jcmd", pid, "GC.class_histogram"], env).stdout.splitlines()
        print("TaskManager heap at the end, largest classes (jcmd GC.class_histogram):")
        print("\n".join(histogram[1:14]))
    finally:
        if generator is not None and generator.poll() is None:
            generator.send_signal(signal.SIGINT)
            try:
                generator.wait(30)
            except subprocess.TimeoutExpired:
                generator.kill()
        if not args.keep:
            log("cleaning up")
            remove_pipeline(env, connector=f"fstate-{tag}", schema=schema, prefix=prefix, slot=slot, submit=submit)
    report(samples)
    if args.json:
        Path(args.json).write_text(json.dumps(samples, indent=1))


def wait_consumed(env, prefix, schema, timeout=300):
    from thelook_datagen.ops import flink_results
    conf = {"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"]}
    deadline = time.monotonic() + timeout
    while flink_results.jobs_behind(conf, prefix, schema, ROOT / "flink"):
        if time.monotonic() > deadline:
            log(f"the jobs did not catch up within {timeout} s; sampling anyway")
            return
        time.sleep(2)


def report(samples):
    first, last = samples[0], samples[-1]
    per = (last["rows"] - first["rows"]) / 100000 or 1
    print(f"\n{'':>8}{'rows':>10}{'heap MiB':>10}{'RSS MiB':>9}{'state MiB':>11}{'ckpt dir':>10}{'local':>8}{'kafka MiB':>11}")
    for s in samples:
        print(f"{s['t']:7.0f}s{s['rows']:>10,}{s['heap']:>10.1f}{s['rss']:>9.0f}{s['state']:>11.2f}"
              f"{s['ckpt_dir']:>10.1f}{s['local_dir']:>8.1f}{s['kafka']:>11.1f}")
    print(f"per 100,000 rows: heap after GC {(last['heap'] - first['heap']) / per:+.1f} MiB, "
          f"RSS {(last['rss'] - first['rss']) / per:+.0f} MiB, checkpointed state {(last['state'] - first['state']) / per:+.2f} MiB, "
          f"Kafka {(last['kafka'] - first['kafka']) / per:+.1f} MiB")
    if first.get("cpu") is not None and last.get("cpu") is not None:
        print(f"TaskManager CPU over the run: {last['cpu'] - first['cpu']:.0f} s "
              f"({(last['cpu'] - first['cpu']) * 1e6 / max(last['rows'] - first['rows'], 1):.0f} µs per row written)")
    print("state per job at the end (MiB): " + ", ".join(f"{k} {v}" for k, v in sorted(last["jobs"].items())))
    print(f"largest change topic partition: {last['kafka_big_name']} {last['kafka_big']:.1f} MiB")


if __name__ == "__main__":
    main()
