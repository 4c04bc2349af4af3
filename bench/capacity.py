#!/usr/bin/env python3
"""Capacity of the whole pipeline: ramps the generator's rate step by step until the pipeline no longer keeps up.

On the running stack (endpoints from `eval "$(scripts/stack env)"`, PROMETHEUS_URL included) it sets up a
throwaway schema, topic prefix, Debezium connector, slot, publication and the five Flink jobs (the
shared connectors/ and flink/ files, so tuning there is what it measures; a demo keeps running beside it),
then for each step runs `thelook-datagen --avg-qps RATE` and measures, after --warmup seconds, for
--step-seconds:

  visits/s, rows/s   the generator's own counters (thelook_visits_total, thelook_rows_written_total,
                     read from its --metrics-port endpoint at the step's start and end)
  events/s           kafka_connect_source_task_records_write_total of the connector (Prometheus)
  Debezium p50/p99   commit -> Kafka of every change committed in the step (source.ts_ms -> the record's
                     timestamp, read back from the CDC topics after the step, as bench/cdc_latency.py does)
  Flink p50/p99      freshness probes, as bench/flink_freshness.py: a change committed into a minute of
                     2000 -> its key seen in the result topic (funnel_per_minute, revenue_per_minute)
  slot WAL           pg_replication_slot_retained_wal_bytes of the slot, the largest in the step (Prometheus)
  kept up            Debezium: debezium_streaming_milliseconds_behind_source (floor 1 s); Flink: the sum of
                     flink_taskmanager_job_task_operator_pendingRecords of the jobs' Kafka sources (records in
                     the topics not read yet; floor one second of change events). Each compares the median of
                     the step's last quarter with its first quarter: lag that grew by more than max(floor, half
                     of where it started) = not keeping up. (currentEmitEventTimeLag is not used: it keeps its
                     last value on a source that reads nothing, e.g. the products topic after the snapshot.)
  CPU                per process tree (each supervisord program of the stack, the generator, this bench),
                     from /proc: cores used over the step; the busiest one is named as the bottleneck
  Flink busy/bp      the busiest task's busyTimeMsPerSecond and backPressuredTimeMsPerSecond (Prometheus)

A step is sustained when the generator achieved >= 95% of the rate and both Debezium and Flink kept up. The
ramp stops at the first step that is not; the last line is the highest sustained rate. The 500 visits/s goal
(Debezium p99 < 1 s, Flink p99 < 2 s) is checked when 500 is a step. Everything it created is removed at the
end (--keep keeps it). Exit 0 after a complete run, 2 when it could not run (stack not there).

    eval "$(scripts/stack env)"; python bench/capacity.py [--quick] [--steps 50,100,...] [--step-seconds 60]
"""
import argparse
import json
import math
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proc_watch import cpu_seconds  # noqa: E402  (utime + stime from /proc, shared by the benches)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
NEEDED = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "KAFKA_BOOTSTRAP_SERVERS", "CONNECT_URL",
          "FLINK_URL", "FLINK_SQL_GATEWAY_URL", "PROMETHEUS_URL")
BASE = 946684800.0       # 2000-01-01T00:00:00Z: probe minutes are counted from here (no real activity there)
DEFAULT_STEPS = "50,100,200,350,500,700,1000"
QUICK_STEPS = "100,500"
LAG_FLOOR_MS = 1000      # lag growing by less than this over a step is noise, not falling behind
GOAL = (500, 1.0, 2.0)   # visits/s, Debezium p99 s, Flink p99 s


class CannotRun(Exception):
    """The bench could not run (stack not there, setup failed): one line, exit 2."""


def say(msg):
    print(f"[capacity {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- pure logic (tests/bench/test_capacity.py)

def percentile(values, q):
    """Nearest-rank percentile of a non-empty list (the q-th value of the sorted list, as cdc_latency.py)."""
    values = sorted(values)
    return values[max(0, min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1))]


def lag_trend(samples, t0, t1):
    """(median of the first quarter, median of the last quarter) of [(t, value)] samples in [t0, t1]."""
    quarter = (t1 - t0) / 4
    first = [v for t, v in samples if t0 <= t <= t0 + quarter]
    last = [v for t, v in samples if t1 - quarter <= t <= t1]
    if not first or not last:
        return None
    return statistics.median(first), statistics.median(last)


def kept_up(samples, t0, t1, floor=LAG_FLOOR_MS):
    """True when the lag at the end of the step is not above the start by more than max(floor, half the
    start); None without samples in both quarters."""
    trend = lag_trend(samples, t0, t1)
    if trend is None:
        return None
    start, end = trend
    return end <= start + max(floor, 0.5 * start)


def sustained(target, achieved, debezium_ok, flink_ok, min_fraction=0.95):
    """A step is sustained when the generator achieved the rate and neither Debezium nor Flink fell behind."""
    return achieved >= min_fraction * target and debezium_ok is not False and flink_ok is not False


def bottleneck(cpu):
    """The process with the most CPU over the step ({name: cores}), or None."""
    cpu = {k: v for k, v in cpu.items() if v is not None}
    return max(cpu, key=cpu.get) if cpu else None


def parse_metrics(text, names):
    """{name: sum over series} of the sample lines of a Prometheus text exposition, for the given names."""
    out = {n: 0.0 for n in names}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in out:
            out[name] += float(line.rsplit(" ", 1)[1] if "}" not in line else line.rsplit("}", 1)[1].split()[0])
    return out


SOURCE_TS = re.compile(rb'"source":\{.*?"ts_ms":(\d+)')


def source_ts_ms(value):
    """source.ts_ms of a Debezium JSON change event (bytes), without parsing the whole event; None if absent."""
    i = value.rfind(b'"source":{')
    m = SOURCE_TS.match(value, i) if i >= 0 else None
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------- the stack

def stack_env():
    """The endpoints from the environment (eval "$(scripts/stack env)"), else from `scripts/stack env`."""
    env = {k: os.environ[k] for k in NEEDED if os.environ.get(k)}
    if len(env) < len(NEEDED):
        out = subprocess.run([str(ROOT / "scripts" / "stack"), "env"], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            if line.startswith("export "):
                k, _, v = line[7:].partition("=")
                env.setdefault(k, v.strip("'\""))
    missing = [k for k in NEEDED if not env.get(k)]
    if missing:
        raise CannotRun(f"{', '.join(missing)} not set (start the stack with scripts/stack up, then "
                        f"eval \"$(scripts/stack env)\")")
    return env


def http_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def check_stack(env):
    """One line naming the first component that is not there."""
    import psycopg2
    from confluent_kafka.admin import AdminClient
    fix = "start it with scripts/stack up (same THELOOK_* variables), then eval \"$(scripts/stack env)\""
    try:
        psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"], password=env["PGPASSWORD"],
                         dbname=env["PGDATABASE"], connect_timeout=5).close()
    except Exception as e:
        raise CannotRun(f"PostgreSQL is not reachable at {env['PGHOST']}:{env['PGPORT']}: "
                        f"{str(e).strip().splitlines()[0]} ({fix})")
    try:
        AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"]}).list_topics(timeout=5)
    except Exception:
        raise CannotRun(f"Kafka is not reachable at {env['KAFKA_BOOTSTRAP_SERVERS']} ({fix})")
    for what, url in (("Kafka Connect", env["CONNECT_URL"] + "/"), ("the Flink JobManager", env["FLINK_URL"] + "/overview"),
                      ("the Flink SQL gateway", env["FLINK_SQL_GATEWAY_URL"] + "/v1/info"),
                      ("Prometheus", env["PROMETHEUS_URL"] + "/api/v1/status/buildinfo")):
        try:
            http_json(url, timeout=5)
        except Exception as e:
            raise CannotRun(f"{what} is not reachable at {url.rsplit('/', 1)[0] if what != 'Kafka Connect' else url}: "
                            f"{e} ({fix})")


class Prometheus:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def range(self, query, start, end, step=5):
        """[(t, value)] of the query (one series expected: aggregate it), or [] when it has none."""
        q = urllib.parse.urlencode({"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step})
        try:
            res = http_json(f"{self.url}/api/v1/query_range?{q}")["data"]["result"]
        except Exception:
            return []
        return [(float(t), float(v)) for t, v in res[0]["values"]] if res else []

    def at(self, query, t):
        q = urllib.parse.urlencode({"query": query, "time": f"{t:.3f}"})
        try:
            res = http_json(f"{self.url}/api/v1/query?{q}")["data"]["result"]
        except Exception:
            return None
        return float(res[0]["value"][1]) if res else None


def service_pids():
    """{service: pid} of the stack's supervisord programs (`scripts/stack status`, this THELOOK_STACK_DIR)."""
    out = subprocess.run([str(ROOT / "scripts" / "stack"), "status"], capture_output=True, text=True)
    pids = {}
    for line in out.stdout.splitlines()[2:]:
        m = re.match(r"^(\S+)\s+(\S+)\s+(\d+|-)\s", line)
        if m and m.group(2) == "running" and m.group(3).isdigit():
            pids[m.group(1)] = int(m.group(3))
    return pids


def _children():
    kids = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def tree_cpu(roots):
    """{name: {pid: cpu seconds}} over each root's process tree (per pid, so a backend that exits is not
    counted as negative)."""
    kids = _children()
    out = {}
    for name, root in roots.items():
        todo, seen = [root], {}
        while todo:
            p = todo.pop()
            c = cpu_seconds(p)
            if c is not None:
                seen[p] = c
            todo.extend(kids.get(p, ()))
        out[name] = seen
    return out


def machine_busy():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v[:8]) - idle, sum(v[:8])


def cores_used(before, after, seconds):
    return {name: sum(c - before.get(name, {}).get(pid, 0.0) for pid, c in procs.items()) / seconds
            for name, procs in after.items()}


def free_port(preferred):
    for port in ([int(preferred)] if preferred else []) + [0]:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return s.getsockname()[1]
        except OSError:
            continue
        finally:
            s.close()


# ---------------------------------------------------------------- the run

class Capacity:
    def __init__(self, env, args):
        self.env, self.args = env, args
        tag = uuid.uuid4().hex[:8]
        self.tag, self.schema, self.prefix = tag, f"cap_{tag}", f"cap{tag}"
        self.connector, self.slot, self.pub = f"cap-{tag}", f"cap_{tag}", f"cap_{tag}_pub"
        self.child_env = dict(os.environ, **env)
        self.child_env.pop("THELOOK_METRICS_PORT", None)       # the generator's port is chosen per step
        self.prom = Prometheus(env["PROMETHEUS_URL"])
        self.probe_n = 0
        self.probes = []          # (n, kind, commit time)
        self.seen = {}            # (job, minute iso) -> first time seen
        self.stop_seen = threading.Event()
        self.generator = None
        self.created = False

    # -- helpers
    def pg(self):
        import psycopg2
        return psycopg2.connect(host=self.env["PGHOST"], port=self.env["PGPORT"], user=self.env["PGUSER"],
                                password=self.env["PGPASSWORD"], dbname=self.env["PGDATABASE"])

    def sql(self, query, params=None):
        conn = self.pg()
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def run(self, cmd, check=True, timeout=1200):
        res = subprocess.run([str(c) for c in cmd], env=self.child_env, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            err = (res.stderr.strip() or res.stdout.strip()).splitlines()
            raise CannotRun(f"{Path(str(cmd[1] if cmd[0] == sys.executable else cmd[0])).name} failed: "
                            f"{err[-1] if err else res.returncode}")
        return res

    def datagen(self, *args):
        return [BIN / "thelook-datagen", "--schema", self.schema, "--topic-prefix", self.prefix, *args]

    def submit(self, *args):
        return [sys.executable, ROOT / "scripts" / "submit-flink-jobs", "--topic-prefix", self.prefix,
                "--schema", self.schema, *args]

    # -- setup
    def setup(self):
        say(f"throwaway set: schema {self.schema}, topics {self.prefix}.*, connector {self.connector}, "
            f"slot {self.slot}, jobs {self.prefix}.analytics.*")
        self.created = True
        # a few hundred visits first: the snapshot then has users (the revenue probe's orders need one)
        self.run(self.datagen("--if_exists", "fail", "--max_iter", "300", "--quiet", "--seed", "1"))
        say("schema and catalogue loaded; registering the connector (initial snapshot)")
        self.run([sys.executable, ROOT / "scripts" / "register-connector", "--name", self.connector,
                  "--schema", self.schema, "--topic-prefix", self.prefix, "--slot", self.slot,
                  "--publication", self.pub, "--wait-snapshot", "--timeout", "600",
                  *(["--file", self.args.connector_file] if self.args.connector_file else [])])
        say("snapshot done; submitting the five Flink jobs")
        self.run(self.submit(*(["--sql-dir", self.args.sql_dir] if self.args.sql_dir else [])))
        self.result_topics = [f"{self.prefix}.analytics.funnel_per_minute", f"{self.prefix}.analytics.revenue_per_minute"]
        self.probe_conn = self.pg()
        cur = self.probe_conn.cursor()
        cur.execute(f"SET search_path TO {self.schema}")
        cur.execute("SELECT id, retail_price, distribution_center_id, category, name, brand, department, sku, cost"
                    " FROM products ORDER BY id LIMIT 50")
        self.products = cur.fetchall()
        cur.execute("SELECT id FROM users ORDER BY id LIMIT 1")
        row = cur.fetchone()
        self.user = row[0] if row else None
        self.probe_conn.commit()
        say("waiting for the jobs to read the snapshot (a probe through Flink)")
        # the result topics appear with the jobs' first results: probes of both kinds until they do
        self._wait_topics(self.result_topics, poke=lambda: (self.probe("funnel"), self.probe("revenue")))
        self.seen_thread = threading.Thread(target=self._consume_results, daemon=True)
        self.seen_thread.start()
        deadline = time.monotonic() + 600
        while True:
            n = self.probe("funnel")
            t_end = time.monotonic() + 5
            while time.monotonic() < t_end and ("funnel_per_minute", self.minute(n)) not in self.seen:
                time.sleep(0.05)
            if ("funnel_per_minute", self.minute(n)) in self.seen:
                break
            if time.monotonic() > deadline:
                raise CannotRun("no probe result from Flink within 600 s (are the jobs running? Flink UI)")
        say("pipeline warm")

    def _wait_topics(self, topics, timeout=600, poke=None):
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": self.env["KAFKA_BOOTSTRAP_SERVERS"]})
        deadline = time.monotonic() + timeout
        while True:
            have = set(admin.list_topics(timeout=30).topics)
            if all(t in have for t in topics):
                return
            if time.monotonic() > deadline:
                raise CannotRun(f"result topics missing after {timeout} s: {sorted(set(topics) - have)} "
                                "(are the jobs running? Flink UI)")
            if poke:
                poke()
            time.sleep(5)

    def _consume_results(self):
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.env["KAFKA_BOOTSTRAP_SERVERS"], "group.id": f"cap-{uuid.uuid4().hex}",
                      "enable.auto.commit": False, "fetch.wait.max.ms": 5, "fetch.min.bytes": 1})
        parts = []
        for topic in self.result_topics:
            for p in c.list_topics(topic, timeout=30).topics[topic].partitions:
                parts.append(TopicPartition(topic, p, c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]))
        c.assign(parts)
        try:
            while not self.stop_seen.is_set():
                msg = c.poll(0.1)
                if msg is None or msg.error() or msg.value() is None:
                    continue
                now = time.time()
                ws = json.loads(msg.value()).get("window_start", "")
                if ws.startswith("2000-"):
                    self.seen.setdefault((msg.topic().rsplit(".", 1)[-1], ws), now)
        finally:
            c.close()

    @staticmethod
    def minute(n):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE + 60 * n))

    def probe(self, kind):
        """One change of its own minute of 2000 (as bench/flink_freshness.py); returns its number."""
        self.probe_n += 1
        n, ts = self.probe_n, BASE + 60 * self.probe_n
        cur = self.probe_conn.cursor()
        if kind == "funnel" or self.user is None:
            kind = "funnel"
            cur.execute("INSERT INTO events (user_id, sequence_number, session_id, created_at, event_type, uri)"
                        " VALUES (NULL, 1, %s, to_timestamp(%s), 'home', '/home')", (f"probe-{n}", ts))
        else:
            pid, price, dc, cat, name, brand, dept, sku, cost = random.choice(self.products)
            cur.execute("INSERT INTO orders (user_id, status, gender, created_at, num_of_item)"
                        " VALUES (%s, 'Processing', 'F', to_timestamp(%s), 1) RETURNING order_id", (self.user, ts))
            order = cur.fetchone()[0]
            cur.execute("INSERT INTO inventory_items (product_id, created_at, sold_at, cost, product_category,"
                        " product_name, product_brand, product_retail_price, product_department, product_sku,"
                        " product_distribution_center_id) VALUES (%s, to_timestamp(%s), to_timestamp(%s), %s, %s,"
                        " %s, %s, %s, %s, %s, %s) RETURNING id", (pid, ts, ts, cost, cat, name, brand, price, dept, sku, dc))
            item = cur.fetchone()[0]
            cur.execute("INSERT INTO order_items (order_id, user_id, product_id, inventory_item_id, status,"
                        " created_at, sale_price) VALUES (%s, %s, %s, %s, 'Processing', to_timestamp(%s), %s)",
                        (order, self.user, pid, item, ts, price))
        self.probe_conn.commit()
        self.probes.append((n, kind, time.time()))
        return n

    def _probe_loop(self, until, stop):
        kinds = ("funnel", "revenue")
        i = 0
        while not stop.is_set() and time.time() < until:
            try:
                self.probe(kinds[i % 2])
            except Exception as e:          # a probe failing must not end the step; say it once
                say(f"probe failed: {e}")
                self.probe_conn.rollback()
            i += 1
            stop.wait(random.uniform(0.3, 0.7))

    # -- Kafka
    def cdc_partitions(self):
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.env["KAFKA_BOOTSTRAP_SERVERS"], "group.id": "cap-offsets"})
        try:
            md = c.list_topics(timeout=30).topics
            out = {}
            for t, meta in md.items():
                if t.startswith(f"{self.prefix}.{self.schema}.") and not t.endswith(".heartbeat"):
                    for p in meta.partitions:
                        out[(t, p)] = c.get_watermark_offsets(TopicPartition(t, p), timeout=30)[1]
            return out
        finally:
            c.close()

    def cdc_latencies(self, start_offsets, t0, t1):
        """commit -> Kafka latency (ms) of every change committed in [t0, t1], read from start_offsets on."""
        from confluent_kafka import Consumer, TopicPartition
        ends = self.cdc_partitions()
        c = Consumer({"bootstrap.servers": self.env["KAFKA_BOOTSTRAP_SERVERS"], "group.id": f"cap-{uuid.uuid4().hex[:6]}",
                      "enable.auto.commit": False, "fetch.max.bytes": 52428800})
        todo = {k: h for k, h in ends.items() if h > start_offsets.get(k, 0)}
        c.assign([TopicPartition(t, p, start_offsets.get((t, p), 0)) for (t, p) in todo])
        lo, hi, lat = t0 * 1000, t1 * 1000, []
        pos = {k: start_offsets.get(k, 0) for k in todo}
        try:
            while any(pos[k] < h for k, h in todo.items()):
                for m in c.consume(10000, 1.0):
                    if m.error():
                        continue
                    pos[(m.topic(), m.partition())] = m.offset() + 1
                    v = m.value()
                    if v is None:
                        continue
                    ts = source_ts_ms(v)
                    if ts is not None and lo <= ts <= hi:
                        lat.append(m.timestamp()[1] - ts)
        finally:
            c.close()
        return lat

    def wait_confirmed(self, timeout):
        """Until the slot confirms the WAL written so far (Kafka has every change); False after timeout."""
        target = self.sql("SELECT pg_current_wal_insert_lsn() - '0/0'")[0][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.sql("SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = %s",
                           (self.slot,))
            if got and got[0][0] is not None and got[0][0] >= target:
                return True
            time.sleep(0.5)
        return False

    # -- generator
    def gen_metrics(self, port):
        names = ("thelook_visits_total", "thelook_rows_written_total", "thelook_schedule_lag_seconds")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return parse_metrics(r.read().decode(), names)
        except Exception:
            return None

    def start_generator(self, rate, seed):
        # on the port Prometheus scrapes when it is free (a demo's generator may hold it), else any free one
        port = free_port(os.environ.get("THELOOK_METRICS_PORT"))
        self.generator = subprocess.Popen(
            [str(c) for c in self.datagen("--if_exists", "append", "--avg-qps", f"{rate:g}", "--max_iter", "-1",
                                          "--seed", str(seed), "--quiet", "--no-create-topic",
                                          "--metrics-port", str(port))],
            env=self.child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while self.gen_metrics(port) is None:
            if self.generator.poll() is not None:
                raise CannotRun(f"the generator ended: {self.generator.stderr.read().strip()[-300:]}")
            if time.monotonic() > deadline:
                raise CannotRun("the generator served no metrics within 60 s")
            time.sleep(0.2)
        return port

    def stop_generator(self):
        g, self.generator = self.generator, None
        if g is not None and g.poll() is None:
            g.send_signal(signal.SIGINT)
            try:
                g.wait(30)
            except subprocess.TimeoutExpired:
                g.kill()
                g.wait()

    # -- one step
    def step(self, i, rate):
        a = self.args
        start_offsets = self.cdc_partitions()
        port = self.start_generator(rate, 100 + i)
        roots = {**service_pids(), "generator": self.generator.pid, "bench": os.getpid()}
        time.sleep(a.warmup)
        stop = threading.Event()
        t0 = time.time()
        g0, cpu0, m0 = self.gen_metrics(port), tree_cpu(roots), machine_busy()
        first_probe = self.probe_n + 1
        prober = threading.Thread(target=self._probe_loop, args=(t0 + a.step_seconds, stop), daemon=True)
        prober.start()
        time.sleep(a.step_seconds)
        t1 = time.time()
        g1, cpu1, m1 = self.gen_metrics(port), tree_cpu(roots), machine_busy()
        load = os.getloadavg()
        stop.set()
        prober.join()
        last_probe = self.probe_n
        time.sleep(6)                         # one more scrape covers t1
        self.stop_generator()
        dt = t1 - t0
        r = {"target": rate, "load": load[0], "seconds": dt}
        r["visits"] = (g1["thelook_visits_total"] - g0["thelook_visits_total"]) / dt if g0 and g1 else 0.0
        r["rows"] = (g1["thelook_rows_written_total"] - g0["thelook_rows_written_total"]) / dt if g0 and g1 else 0.0
        r["sched_lag"] = g1["thelook_schedule_lag_seconds"] if g1 else None
        r["cpu"] = cores_used(cpu0, cpu1, dt)
        r["machine"] = (m1[0] - m0[0]) / max(1, m1[1] - m0[1]) * os.cpu_count()
        r["bottleneck"] = bottleneck({k: v for k, v in r["cpu"].items() if k != "bench"})
        r["others"] = max(0.0, r["machine"] - sum(r["cpu"].values()))    # other stacks and tests on the machine
        pipeline = sum(r["cpu"].get(k, 0.0) for k in ("kafka", "connect", "taskmanager"))
        r["us_per_change"] = pipeline / r["rows"] * 1e6 if r["rows"] else None   # CPU of the CDC + Flink path
        P, conn, pre = self.prom, self.connector, self.prefix
        jobs = f'job_name=~"{pre}_analytics_.*"'        # the reporter writes the job's dots as underscores
        written = P.range(f'sum(kafka_connect_source_task_records_write_total{{connector="{conn}"}})', t0, t1)
        r["events"] = (written[-1][1] - written[0][1]) / (written[-1][0] - written[0][0]) if len(written) > 1 else None
        dbz = P.range(f'max(debezium_streaming_milliseconds_behind_source{{name="{pre}"}})', t0, t1)
        r["dbz_lag"] = lag_trend(dbz, t0, t1)
        r["dbz_ok"] = kept_up(dbz, t0, t1)
        wal = P.range(f'max(pg_replication_slot_retained_wal_bytes{{slot_name="{self.slot}"}})', t0, t1)
        r["wal_max"] = max(v for _, v in wal) if wal else None
        r["wal_end"] = wal[-1][1] if wal else None
        pend = P.range(f'sum(flink_taskmanager_job_task_operator_pendingRecords{{{jobs}}})', t0, t1)
        r["flink_pending"] = lag_trend(pend, t0, t1)
        r["flink_ok"] = kept_up(pend, t0, t1, floor=max(100.0, r["events"] or 0.0))
        busy = P.range(f'max(flink_taskmanager_job_task_busyTimeMsPerSecond{{{jobs}}})', t0, t1)
        bp = P.range(f'max(flink_taskmanager_job_task_backPressuredTimeMsPerSecond{{{jobs}}})', t0, t1)
        r["flink_busy"] = statistics.mean(v for _, v in busy) if busy else None
        r["flink_bp"] = statistics.mean(v for _, v in bp) if bp else None
        busiest = P.at(f'topk(1, avg_over_time(flink_taskmanager_job_task_busyTimeMsPerSecond{{{jobs}}}[{int(dt)}s]))', t1)
        r["flink_busiest"] = None
        if busiest is not None:
            q = urllib.parse.urlencode({"query": f'topk(1, avg_over_time(flink_taskmanager_job_task_busyTimeMsPerSecond{{{jobs}}}[{int(dt)}s]))',
                                        "time": f"{t1:.3f}"})
            try:
                res = http_json(f"{P.url}/api/v1/query?{q}")["data"]["result"]
                lab = res[0]["metric"]
                r["flink_busiest"] = f"{lab.get('job_name', '').split('_analytics_', 1)[-1]}/{lab.get('task_name', '')[:40]}"
            except Exception:
                pass
        # Debezium: every change of the step, once the slot confirmed what was written (bounded wait)
        r["drained"] = self.wait_confirmed(max(30, a.step_seconds))
        lat = self.cdc_latencies(start_offsets, t0, t1)
        r["dbz_n"] = len(lat)
        r["dbz_p50"] = percentile(lat, 50) / 1000 if lat else None
        r["dbz_p99"] = percentile(lat, 99) / 1000 if lat else None
        # Flink: probes of the step, given up to 15 s more
        deadline = time.monotonic() + 15
        mine = [p for p in self.probes if first_probe <= p[0] <= last_probe]
        job = {"funnel": "funnel_per_minute", "revenue": "revenue_per_minute"}
        while time.monotonic() < deadline and any((job[k], self.minute(n)) not in self.seen for n, k, _ in mine):
            time.sleep(0.2)
        fresh = [self.seen[(job[k], self.minute(n))] - c for n, k, c in mine if (job[k], self.minute(n)) in self.seen]
        r["probes"], r["lost"] = len(mine), len(mine) - len(fresh)
        r["fl_p50"] = percentile(fresh, 50) if fresh else None
        r["fl_p99"] = percentile(fresh, 99) if fresh else None
        if r["lost"]:
            r["flink_ok"] = False
        if r["flink_ok"] is None and fresh:      # no lag metric: the probes' trend decides
            ptimes = [(c, self.seen[(job[k], self.minute(n))] - c) for n, k, c in mine if (job[k], self.minute(n)) in self.seen]
            r["flink_ok"] = kept_up([(t, v * 1000) for t, v in ptimes], t0, t1)
        if r["dbz_ok"] is None:
            r["dbz_ok"] = r["drained"]
        r["ok"] = sustained(rate, r["visits"], r["dbz_ok"], r["flink_ok"])
        return r

    # -- cleanup
    def cleanup(self):
        self.stop_generator()
        self.stop_seen.set()
        if getattr(self, "probe_conn", None) is not None:
            try:
                self.probe_conn.close()
            except Exception:
                pass
        if not self.created or self.args.keep:
            return
        say("cleaning up (jobs, connector, slot, publication, schema, topics)")
        self.run(self.submit("--cancel"), check=False)
        self.run([sys.executable, ROOT / "scripts" / "register-connector", "--name", self.connector, "--delete",
                  "--reset-offsets"], check=False)
        try:
            for _ in range(60):
                row = self.sql("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (self.slot,))
                if not row:
                    break
                if not row[0][0]:
                    self.sql("SELECT pg_drop_replication_slot(%s)", (self.slot,))
                    break
                time.sleep(1)
            self.sql(f'DROP PUBLICATION IF EXISTS "{self.pub}"')
            self.sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        except Exception as e:
            say(f"cleanup in PostgreSQL incomplete: {e}")
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": self.env["KAFKA_BOOTSTRAP_SERVERS"]})
        names = [t for t in admin.list_topics(timeout=30).topics
                 if t.startswith(self.prefix + ".") or t == f"__debezium-heartbeat.{self.prefix}"]
        for fut in (admin.delete_topics(names, operation_timeout=30).values() if names else []):
            try:
                fut.result()
            except Exception:
                pass


# ---------------------------------------------------------------- output

def fmt(v, spec=".2f", none="-"):
    return none if v is None else format(v, spec)


def yn(v):
    return "?" if v is None else ("yes" if v else "NO")


def step_line(r):
    cpu = " ".join(f"{k}={v:.2f}" for k, v in sorted(r["cpu"].items(), key=lambda kv: -kv[1]) if v >= 0.01)
    dl, fl = r["dbz_lag"], r["flink_pending"]
    return (f"target {r['target']:g}/s: visits {r['visits']:.0f}/s rows {r['rows']:.0f}/s events "
            f"{fmt(r['events'], '.0f')}/s | Debezium p50 {fmt(r['dbz_p50'], '.3f')} p99 {fmt(r['dbz_p99'], '.3f')} s, "
            f"behind {fmt(dl and dl[0], '.0f')}->{fmt(dl and dl[1], '.0f')} ms kept up {yn(r['dbz_ok'])} | "
            f"Flink p50 {fmt(r['fl_p50'], '.3f')} p99 {fmt(r['fl_p99'], '.3f')} s ({r['probes']} probes, {r['lost']} lost), "
            f"pending records {fmt(fl and fl[0], '.0f')}->{fmt(fl and fl[1], '.0f')} kept up {yn(r['flink_ok'])}, "
            f"busiest task {fmt(r['flink_busy'], '.0f')} ms/s busy {fmt(r['flink_bp'], '.0f')} ms/s backpressured "
            f"({r['flink_busiest'] or '-'}) | slot WAL max {fmt(r['wal_max'] and r['wal_max'] / 2**20, '.1f')} MiB | "
            f"cores: machine {r['machine']:.2f} (others {r['others']:.2f}), {cpu}; kafka+connect+taskmanager "
            f"{fmt(r['us_per_change'], '.0f')} CPU µs per change | bottleneck {r['bottleneck']} | load {r['load']:.1f} | "
            f"{'SUSTAINED' if r['ok'] else 'NOT sustained'}")


def final_table(rows, args):
    print()
    print(f"Capacity, {os.cpu_count()} cores, step {args.step_seconds:g} s after {args.warmup:g} s warm-up "
          f"(latencies in s; WAL in MiB; µs/chg = CPU of kafka+connect+taskmanager per change written;"
          f" cores = CPU seconds per second)")
    h = (f"{'target':>6} {'visits/s':>8} {'rows/s':>7} {'events/s':>8} {'dbz p50':>7} {'dbz p99':>7} {'fl p50':>6} "
         f"{'fl p99':>6} {'slotWAL':>7} {'µs/chg':>6} {'dbz up':>6} {'fl up':>5} {'flink busy':>10} {'bottleneck':>12} "
         f"{'load':>5} {'sustained':>9}")
    print(h)
    for r in rows:
        print(f"{r['target']:>6g} {r['visits']:>8.0f} {r['rows']:>7.0f} {fmt(r['events'], '.0f'):>8} "
              f"{fmt(r['dbz_p50'], '.3f'):>7} {fmt(r['dbz_p99'], '.3f'):>7} {fmt(r['fl_p50'], '.2f'):>6} "
              f"{fmt(r['fl_p99'], '.2f'):>6} {fmt(r['wal_max'] and r['wal_max'] / 2**20, '.1f'):>7} "
              f"{fmt(r['us_per_change'], '.0f'):>6} "
              f"{yn(r['dbz_ok']):>6} {yn(r['flink_ok']):>5} {fmt(r['flink_busy'], '.0f'):>10} "
              f"{r['bottleneck'] or '-':>12} {r['load']:>5.1f} {'yes' if r['ok'] else 'NO':>9}")
    names = []
    for r in rows:
        names += [n for n in sorted(r["cpu"], key=lambda k: -r["cpu"][k]) if n not in names]
    print()
    print("CPU per process (cores)")
    print(f"{'target':>6} {'machine':>7} {'others':>6} " + " ".join(f"{n[:11]:>11}" for n in names))
    for r in rows:
        print(f"{r['target']:>6g} {r['machine']:>7.2f} {r['others']:>6.2f} "
              + " ".join(f"{r['cpu'].get(n, 0):>11.2f}" for n in names))
    print()
    good = [r for r in rows if r["ok"]]
    if good:
        best = good[-1]
        print(f"highest sustained rate: {best['visits']:.0f} visits/s (step {best['target']:g}/s), "
              f"{best['rows']:.0f} changes/s; bottleneck there: {best['bottleneck']} "
              f"({best['cpu'][best['bottleneck']]:.2f} cores)")
    else:
        print("highest sustained rate: none of the steps was sustained")
    bad = next((r for r in rows if not r["ok"]), None)
    if bad:
        why = []
        if bad["visits"] < 0.95 * bad["target"]:
            why.append(f"the generator reached only {bad['visits']:.0f} visits/s")
        if bad["dbz_ok"] is False:
            why.append("Debezium fell behind")
        if bad["flink_ok"] is False:
            why.append("Flink fell behind")
        print(f"ceiling: at {bad['target']:g} visits/s {', '.join(why)}; busiest process {bad['bottleneck']} "
              f"({bad['cpu'][bad['bottleneck']]:.2f} cores), machine {bad['machine']:.2f} of {os.cpu_count()} cores "
              f"busy, {bad['others']:.2f} of them by processes outside this stack"
              + (" (the machine is saturated: CPU, not one stage, is the limit)"
                 if bad["machine"] > 0.9 * os.cpu_count() else ""))
    else:
        print("ceiling: not reached by the steps run (add higher --steps)")
    goal = next((r for r in rows if r["target"] == GOAL[0]), None)
    if goal:
        met = (goal["ok"] and goal["dbz_p99"] is not None and goal["dbz_p99"] < GOAL[1]
               and goal["fl_p99"] is not None and goal["fl_p99"] < GOAL[2])
        print(f"goal {GOAL[0]} visits/s kept up with Debezium p99 < {GOAL[1]:g} s and Flink p99 < {GOAL[2]:g} s: "
              f"{'met' if met else 'NOT met'} (Debezium p99 {fmt(goal['dbz_p99'], '.3f')} s, "
              f"Flink p99 {fmt(goal['fl_p99'], '.3f')} s, kept up {yn(goal['ok'])})")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", help=f"visits/s of each step, comma-separated (default {DEFAULT_STEPS}; --quick {QUICK_STEPS})")
    p.add_argument("--step-seconds", type=float, help="seconds measured per step (default 60; --quick 20)")
    p.add_argument("--warmup", type=float, help="seconds at each step's rate before measuring (default 10; --quick 5)")
    p.add_argument("--quick", action="store_true", help=f"a short run for development: steps {QUICK_STEPS}, 20 s each")
    p.add_argument("--no-stop", action="store_true", help="run every step even after one that was not sustained")
    p.add_argument("--keep", action="store_true", help="keep the schema, topics, connector, slot and jobs")
    p.add_argument("--connector-file", help="connector JSON to measure (default: connectors/thelook-postgres.json); "
                                            "to compare a candidate setting with the shared one")
    p.add_argument("--sql-dir", help="Flink SQL folder to measure (default: flink/), as --connector-file")
    args = p.parse_args(argv)
    try:
        steps = [float(s) for s in (args.steps or (QUICK_STEPS if args.quick else DEFAULT_STEPS)).split(",") if s.strip()]
    except ValueError:
        p.error(f"--steps wants numbers separated by commas, not {args.steps!r}")
    if not steps or any(s <= 0 for s in steps):
        p.error("--steps wants positive rates (visits/s)")
    args.step_seconds = args.step_seconds or (20.0 if args.quick else 60.0)
    args.warmup = args.warmup if args.warmup is not None else (5.0 if args.quick else 10.0)
    if args.step_seconds < 12:
        p.error("--step-seconds must be at least 12 (Prometheus scrapes every 5 s)")

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        env = stack_env()
        check_stack(env)
    except CannotRun as e:
        print(f"capacity: error: {e}", file=sys.stderr)
        return 2
    load = os.getloadavg()
    say(f"steps {', '.join(f'{s:g}' for s in steps)} visits/s, {args.step_seconds:g} s each after {args.warmup:g} s "
        f"warm-up; {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    conn_file = Path(args.connector_file or ROOT / "connectors" / "thelook-postgres.json")
    try:
        cfg = json.loads(conn_file.read_text())["config"]
    except (OSError, ValueError, KeyError) as e:
        print(f"capacity: error: cannot read the connector JSON {conn_file}: {e}", file=sys.stderr)
        return 2
    tuned = {k: v for k, v in cfg.items() if k.startswith("producer.override.") or k in
             ("max.batch.size", "max.queue.size", "poll.interval.ms")}
    say(f"connector {conn_file} ({', '.join(f'{k}={v}' for k, v in tuned.items())}), "
        f"Flink SQL {args.sql_dir or ROOT / 'flink'}")
    cap = Capacity(env, args)
    rows = []
    try:
        cap.setup()
        for i, rate in enumerate(steps):
            say(f"step {i + 1}/{len(steps)}: {rate:g} visits/s (load {os.getloadavg()[0]:.1f})")
            r = cap.step(i, rate)
            rows.append(r)
            say(step_line(r))
            if not r["ok"] and not args.no_stop:
                say("not sustained: stopping the ramp")
                break
    except CannotRun as e:
        print(f"capacity: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        cap.cleanup()
    if rows:
        load = os.getloadavg()
        print(f"\nload average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
        final_table(rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
