#!/usr/bin/env python3
"""Freshness of the Flink analytics: from a change committed in PostgreSQL to the result in Kafka.

On the running stack (endpoints from `eval "$(scripts/stack env)"`) it sets up a throwaway schema,
topic prefix, Debezium connector and the Flink jobs, runs the generator as background load, and
commits probe changes that each create a result key of their own, in a minute of the year 2000
that no real activity touches:
  - funnel probe: one ghost event (a new session)  -> a new key of {prefix}.analytics.funnel_per_minute
  - revenue probe: one order with one item         -> a new key of {prefix}.analytics.revenue_per_minute
Freshness = the time a consumer sees that key in the result topic minus the time COMMIT returned.
It also times the Debezium leg (commit to the change event in the CDC topic) for the funnel probe.
Prints p50, p90, p99 and max, then removes everything it created.

Usage: bench/flink_freshness.py [--avg-qps 50] [--probes 60]
"""
import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg2
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throwaway import remove_pipeline  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATAGEN = Path(sys.executable).parent / "thelook-datagen"
NEEDED = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "KAFKA_BOOTSTRAP_SERVERS",
          "CONNECT_URL", "FLINK_URL", "FLINK_SQL_GATEWAY_URL")
BASE = 946684800.0  # 2000-01-01T00:00:00Z: probe minutes are counted from here


def log(msg):
    print(f"[flink-freshness] {msg}", file=sys.stderr, flush=True)


def minute_iso(n):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE + 60 * n))


class Seen:
    """Consumes topics from their current end and records when each key first shows up."""

    def __init__(self, bootstrap, topics, key_of):
        self.first = {}
        self.key_of = key_of
        self.stop = threading.Event()
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"freshness-{uuid.uuid4().hex}",
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 5,
                                  "fetch.min.bytes": 1})
        parts = []
        for topic in topics:
            meta = self.consumer.list_topics(topic, timeout=30).topics[topic]
            for p in meta.partitions:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
                parts.append(TopicPartition(topic, p, high))
        self.consumer.assign(parts)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            msg = self.consumer.poll(0.1)
            if msg is None or msg.error() or msg.value() is None:
                continue
            now = time.time()
            key = self.key_of(msg.topic(), json.loads(msg.value()))
            if key is not None:
                self.first.setdefault(key, now)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.consumer.close()


def percentiles(values):
    values = sorted(values)
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return {"n": len(values), "p50": q[49], "p90": q[89], "p99": q[98], "max": values[-1]}


def run(cmd, env, check=True):
    res = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise SystemExit(f"flink-freshness: {' '.join(map(str, cmd[:2]))} failed:\n{res.stderr[-2000:]}{res.stdout[-2000:]}")
    return res


def main():
    p = argparse.ArgumentParser(description="Commit-to-result freshness of the Flink analytics.")
    p.add_argument("--avg-qps", type=float, default=50, help="background generator load, visits/s (default 50)")
    p.add_argument("--probes", type=int, default=60, help="probes of each kind (default 60)")
    p.add_argument("--keep", action="store_true", help="keep the schema, topics, connector and jobs")
    args = p.parse_args()
    missing = [k for k in NEEDED if not os.environ.get(k)]
    if missing:
        sys.exit(f"flink-freshness: {', '.join(missing)} not set; run: eval \"$(scripts/stack env)\"")
    env = dict(os.environ)
    tag = uuid.uuid4().hex[:8]
    schema, prefix, slot = f"fresh_{tag}", f"fresh{tag}", f"fresh_{tag}"
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    datagen = [DATAGEN, "--schema", schema, "--topic-prefix", prefix]
    submit = [sys.executable, ROOT / "scripts" / "submit-flink-jobs", "--topic-prefix", prefix, "--schema", schema]
    generator = None
    try:
        log(f"schema {schema}, prefix {prefix}: creating tables, connector and jobs")
        run(datagen + ["--if_exists", "fail", "--max_iter", "0", "--quiet"], env)
        run([sys.executable, ROOT / "scripts" / "register-connector", "--name", f"fresh-{tag}",
             "--topic-prefix", prefix, "--schema", schema, "--slot", slot, "--publication", f"{slot}_pub"], env)
        # All five jobs, as in the demo: the probes measure two of them while the others load Flink too.
        run(submit, env)
        generator = subprocess.Popen([str(c) for c in datagen + ["--if_exists", "append", "--avg-qps",
                                                                  str(args.avg_qps), "--max_iter", "-1", "--quiet"]],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        measure(args, env, schema, prefix, bootstrap)
    finally:
        if generator is not None:
            generator.send_signal(signal.SIGINT)
            try:
                generator.wait(30)
            except subprocess.TimeoutExpired:
                generator.kill()
        if not args.keep:
            log("cleaning up")
            remove_pipeline(env, connector=f"fresh-{tag}", schema=schema, prefix=prefix, slot=slot, submit=submit)


def measure(args, env, schema, prefix, bootstrap):
    def key_of(topic, value):
        if topic.endswith(".funnel_per_minute") or topic.endswith(".revenue_per_minute"):
            if value.get("window_start", "").startswith("2000-"):
                return (topic.rsplit(".", 1)[-1], value["window_start"])
            return None
        after = value.get("after") or {}
        session = after.get("session_id") or ""
        return ("cdc_events", session) if session.startswith("probe-") else None

    topics = [f"{prefix}.analytics.funnel_per_minute", f"{prefix}.analytics.revenue_per_minute",
              f"{prefix}.{schema}.events"]
    conn = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"],
                            password=env["PGPASSWORD"], dbname=env["PGDATABASE"])
    cur = conn.cursor()
    cur.execute(f"SET search_path TO {schema}")
    wait_for_topics(bootstrap, topics)
    seen = Seen(bootstrap, topics, key_of)
    cur.execute("SELECT id, retail_price, distribution_center_id, category, name, brand, department, sku, cost"
                " FROM products ORDER BY id LIMIT 50")
    products = cur.fetchall()
    conn.commit()
    committed = {}
    n = 0

    def probe(kind):
        nonlocal n
        n += 1
        ts = BASE + 60 * n
        if kind == "funnel":
            cur.execute("INSERT INTO events (user_id, sequence_number, session_id, created_at, event_type, uri)"
                        " VALUES (NULL, 1, %s, to_timestamp(%s), 'home', '/home')", (f"probe-{n}", ts))
        else:
            pid, price, dc, cat, name, brand, dept, sku, cost = random.choice(products)
            cur.execute("SELECT id FROM users ORDER BY id LIMIT 1")
            user = cur.fetchone()[0]
            cur.execute("INSERT INTO orders (user_id, status, gender, created_at, num_of_item)"
                        " VALUES (%s, 'Processing', 'F', to_timestamp(%s), 1) RETURNING order_id", (user, ts))
            order = cur.fetchone()[0]
            cur.execute("INSERT INTO inventory_items (product_id, created_at, sold_at, cost, product_category,"
                        " product_name, product_brand, product_retail_price, product_department, product_sku,"
                        " product_distribution_center_id) VALUES (%s, to_timestamp(%s), to_timestamp(%s), %s, %s,"
                        " %s, %s, %s, %s, %s, %s) RETURNING id",
                        (pid, ts, ts, cost, cat, name, brand, price, dept, sku, dc))
            item = cur.fetchone()[0]
            cur.execute("INSERT INTO order_items (order_id, user_id, product_id, inventory_item_id, status,"
                        " created_at, sale_price) VALUES (%s, %s, %s, %s, 'Processing', to_timestamp(%s), %s)",
                        (order, user, pid, item, ts, price))
        conn.commit()
        committed[n] = (kind, time.time())

    # Warm-up: the jobs first read the topics from the beginning; wait until a probe comes through.
    log(f"background load {args.avg_qps} visits/s; waiting for the jobs to catch up")
    deadline = time.monotonic() + 300
    while True:
        probe("funnel")
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end and ("funnel_per_minute", minute_iso(n)) not in seen.first:
            time.sleep(0.05)
        if ("funnel_per_minute", minute_iso(n)) in seen.first:
            break
        if time.monotonic() > deadline:
            sys.exit("flink-freshness: no probe result within 300 s; are the jobs running? (Flink UI)")
    time.sleep(5)
    first_measured = n + 1
    log(f"measuring {args.probes} probes of each kind")
    for _ in range(args.probes):
        for kind in ("funnel", "revenue"):
            probe(kind)
            time.sleep(random.uniform(0.2, 0.6))
    time.sleep(10)
    seen.close()
    conn.close()

    lat = {"funnel_per_minute": [], "revenue_per_minute": [], "cdc_events": []}
    lost = 0
    for i in range(first_measured, n + 1):
        kind, t0 = committed[i]
        job = "funnel_per_minute" if kind == "funnel" else "revenue_per_minute"
        t1 = seen.first.get((job, minute_iso(i)))
        if t1 is None:
            lost += 1
        else:
            lat[job].append(t1 - t0)
        if kind == "funnel" and ("cdc_events", f"probe-{i}") in seen.first:
            lat["cdc_events"].append(seen.first[("cdc_events", f"probe-{i}")] - t0)
    load = os.getloadavg()[1]
    print(f"Freshness at {args.avg_qps:g} visits/s background load (seconds, commit -> seen in Kafka;"
          f" machine load average {load:.1f} on {os.cpu_count()} cores):")
    labels = {"cdc_events": "Debezium only (commit -> CDC topic)",
              "funnel_per_minute": "funnel_per_minute result",
              "revenue_per_minute": "revenue_per_minute result"}
    for name in ("cdc_events", "funnel_per_minute", "revenue_per_minute"):
        if lat[name]:
            s = percentiles(lat[name])
            print(f"  {labels[name]:<38} n={s['n']:<4} p50={s['p50']:.3f} p90={s['p90']:.3f} "
                  f"p99={s['p99']:.3f} max={s['max']:.3f}")
    if lost:
        print(f"  {lost} probe(s) not seen within 10 s after the last one")
        sys.exit(1)


def wait_for_topics(bootstrap, topics, timeout=120):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        have = set(admin.list_topics(timeout=30).topics)
        if all(t in have for t in topics):
            return
        if time.monotonic() > deadline:
            sys.exit(f"flink-freshness: topics missing after {timeout} s: {sorted(set(topics) - have)}")
        time.sleep(1)


if __name__ == "__main__":
    main()
