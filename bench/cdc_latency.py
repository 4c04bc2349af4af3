#!/usr/bin/env python3
"""Commit-to-Kafka latency of the Debezium pipeline at several generator rates, on the running stack.

For each rate (visits/s) the generator writes for --seconds; every change event's latency is the
time from its transaction's commit in PostgreSQL (source.ts_ms) to its Kafka record timestamp.
Prints p50/p95/p99/max per rate, then runs `thelook-datagen verify` over the whole run. Uses its
own schema, topic prefix, connector and slot, all removed at the end (--keep keeps them).

    eval "$(scripts/stack env)"; python bench/cdc_latency.py [--rates 10,100,500] [--seconds 30]
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KEYS = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "KAFKA_BOOTSTRAP_SERVERS", "CONNECT_URL")


def say(msg):
    print(f"[cdc-latency {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def stack_env():
    if all(os.environ.get(k) for k in KEYS):
        return {k: os.environ[k] for k in KEYS}
    out = subprocess.run([str(ROOT / "scripts" / "stack"), "env"], capture_output=True, text=True, check=True).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export "):
            k, _, v = line[7:].partition("=")
            env[k] = shlex.split(v)[0] if v else ""
    return env


def percentile(values, q):
    import math
    return values[max(0, min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1))]


class Bench:
    def __init__(self, env):
        sfx = uuid.uuid4().hex[:8]
        self.schema, self.prefix = f"bench_cdc_{sfx}", f"benchcdc{sfx}"
        self.name, self.slot, self.pub = f"bench-cdc-{sfx}", f"bench_cdc_{sfx}_slot", f"bench_cdc_{sfx}_pub"
        self.env = dict(os.environ, **env)
        self.stack = env

    def generator(self, *args):
        cmd = [str(BIN / "thelook-datagen"), "--schema", self.schema, "--topic-prefix", self.prefix, "--quiet", *args]
        res = subprocess.run(cmd, env=self.env, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"generator failed: {res.stderr.strip()[-2000:]}")
        return res.stdout + res.stderr

    def register(self, *extra):
        res = subprocess.run([sys.executable, str(ROOT / "scripts" / "register-connector"), "--name", self.name,
                              "--schema", self.schema, "--topic-prefix", self.prefix, "--slot", self.slot,
                              "--publication", self.pub, *extra], env=self.env, capture_output=True, text=True)
        if res.returncode != 0 and "--delete" not in extra:
            raise SystemExit(f"register-connector failed: {res.stderr.strip()[-2000:]}")

    def sql(self, query, params=None):
        import psycopg2
        conn = psycopg2.connect(host=self.stack["PGHOST"], port=self.stack["PGPORT"], user=self.stack["PGUSER"],
                                password=self.stack["PGPASSWORD"], dbname=self.stack["PGDATABASE"])
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def wait_confirmed(self, timeout=300):
        """Until the slot confirms the current WAL position: Kafka has everything written so far."""
        target = self.sql("SELECT pg_current_wal_insert_lsn() - '0/0'")[0][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.sql("SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = %s",
                           (self.slot,))
            if got and got[0][0] is not None and got[0][0] >= target:
                return
            time.sleep(0.5)
        raise SystemExit("the connector did not catch up within the timeout")

    def change_events(self):
        """(table, source.ts_ms, record timestamp ms) of every streamed change, heartbeat excluded."""
        from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
        c = Consumer({"bootstrap.servers": self.stack["KAFKA_BOOTSTRAP_SERVERS"],
                      "group.id": f"bench-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False})
        try:
            topics = [t for t in c.list_topics(timeout=10).topics
                      if t.startswith(f"{self.prefix}.{self.schema}.") and not t.endswith(".heartbeat")]
            tps = [TopicPartition(t, p, OFFSET_BEGINNING) for t in topics
                   for p in c.list_topics(t, timeout=10).topics[t].partitions]
            high = {(tp.topic, tp.partition): c.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
            pos = {k: 0 for k in high}
            c.assign(tps)
            out = []
            while any(pos[k] < h for k, h in high.items()):
                for m in c.consume(5000, 1.0):
                    if m.error():
                        continue
                    pos[(m.topic(), m.partition())] = m.offset() + 1
                    if m.value() is None:
                        continue
                    v = json.loads(m.value())
                    if v.get("op") in ("c", "u", "d"):
                        out.append((m.topic().rsplit(".", 1)[-1], v["source"]["ts_ms"], m.timestamp()[1]))
            return out
        finally:
            c.close()

    def cleanup(self):
        self.register("--delete", "--reset-offsets")
        for _ in range(60):
            if not self.sql("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s AND active", (self.slot,)):
                break
            time.sleep(1)
        self.sql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", (self.slot,))
        self.sql(f'DROP PUBLICATION IF EXISTS "{self.pub}"')
        self.sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": self.stack["KAFKA_BOOTSTRAP_SERVERS"]})
        names = [t for t in admin.list_topics(timeout=10).topics
                 if t.startswith(self.prefix + ".") or t == f"__debezium-heartbeat.{self.prefix}"]
        for fut in (admin.delete_topics(names).values() if names else []):
            try:
                fut.result(30)
            except Exception:
                pass


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", default="10,100,500", help="visits/s to measure, comma-separated (default %(default)s)")
    p.add_argument("--seconds", type=float, default=30, help="seconds of writing per rate (default %(default)s)")
    p.add_argument("--keep", action="store_true", help="keep schema, connector, slot and topics")
    args = p.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    b = Bench(stack_env())
    say(f"schema {b.schema}, topics {b.prefix}.{b.schema}.*, connector {b.name}")
    windows = []
    try:
        b.generator("--if_exists", "replace", "--max_iter", "0", "--seed", "1")
        b.register("--wait-snapshot", "--timeout", "900")  # the initial snapshot is out of the way first
        say("connector streaming; snapshot done")
        for i, rate in enumerate(rates):
            visits = int(rate * args.seconds)
            say(f"{rate:g} visits/s for {args.seconds:g} s ({visits} visits)")
            t0 = time.time()
            out = b.generator("--if_exists", "append", "--avg-qps", f"{rate:g}", "--max_iter", str(visits),
                              "--seed", str(100 + i), "--no-create-topic")
            t1 = time.time()
            achieved = re.findall(r"achieved ([\d.]+)/s", out)
            b.wait_confirmed()
            windows.append((rate, t0 * 1000, t1 * 1000, achieved[-1] if achieved else "?"))
            time.sleep(2)
        say("reading the change topics")
        events = b.change_events()
        rows = []
        for rate, start, end, achieved in windows:
            lat = sorted(kts - ts for _, ts, kts in events if start <= ts <= end)
            if not lat:
                rows.append((rate, achieved, 0, None))
                continue
            rows.append((rate, achieved, len(lat) / ((end - start) / 1000), lat))
        say("verify over the whole run")
        res = subprocess.run([str(BIN / "thelook-datagen"), "verify", "--schema", b.schema, "--topic-prefix", b.prefix,
                              "--slot", b.slot, "--quiet"], env=b.env, capture_output=True, text=True)
        verdict = [l for l in res.stdout.splitlines() if l.startswith("RESULT")]
    finally:
        if not args.keep:
            b.cleanup()
    print()
    print("commit-to-Kafka latency (source.ts_ms -> Kafka record timestamp), Debezium 3.6 on the local stack")
    print(f"{'target/s':>9} {'achieved/s':>11} {'changes/s':>10} {'events':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for rate, achieved, cps, lat in rows:
        if not lat:
            print(f"{rate:>9g} {achieved:>11} {'-':>10} {0:>8}")
            continue
        print(f"{rate:>9g} {achieved:>11} {cps:>10.0f} {len(lat):>8} {percentile(lat, 50):>8} {percentile(lat, 95):>8} "
              f"{percentile(lat, 99):>8} {lat[-1]:>8}")
    target = [r for r in rows if r[0] == 100 and r[3]]
    if target:
        p99 = percentile(target[0][3], 99)
        print(f"target p99 < 1000 ms at 100 visits/s: {p99} ms -> {'met' if p99 < 1000 else 'NOT met'}")
    print(verdict[0] if verdict else f"verify failed to run: {res.stderr.strip()[-500:]}")
    return 0 if res.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
