"""The Flink SQL analytics, end to end on the local stack, proven equal to the database.

One seeded generator run (with lifecycle UPDATEs and DELETEs) streams through Debezium into Kafka;
the jobs of flink/ are submitted with scripts/submit-flink-jobs under a topic prefix of this test's
own; then, for every result topic, the final table read from Kafka (last value per key, tombstones
remove) must equal the same computation in SQL on PostgreSQL's final rows. Before comparing, a
suffix of every source topic is sent again, as Debezium does after a crash, so the results also
prove that duplicates are not counted twice.
"""
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
import requests
from confluent_kafka import ConsumerGroupTopicPartitions, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from thelook_datagen.tables import SHOP_TABLES as TABLES

ROOT = Path(__file__).resolve().parents[2]
SUBMIT = ROOT / "scripts" / "submit-flink-jobs"
REGISTER = ROOT / "scripts" / "register-connector"
DATAGEN = Path(sys.executable).parent / "thelook-datagen"
VISITS = int(os.environ.get("FLINK_TEST_VISITS", "4000"))   # 80 s at 50 visits/s
TOP_WINDOW_MINUTES = 1   # a short window, so that the test sees minutes leave it
SETTLE_SECONDS = 150
REPLAYED_PER_TOPIC = 400
# To check that these tests catch a broken job, point them at a modified copy of flink/.
SQL_DIR_ARGS = ["--sql-dir", os.environ["FLINK_TEST_SQL_DIR"]] if os.environ.get("FLINK_TEST_SQL_DIR") else []

pytestmark = pytest.mark.stack


def log(msg):
    print(f"[flink-test {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- Kafka helpers

def read_upsert_topic(bootstrap, topic, timeout=60.0):
    """The final table of an upsert topic: {key json: value dict}, tombstoned keys removed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"flink-test-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        meta = consumer.list_topics(topic, timeout=timeout)
        if topic not in meta.topics or meta.topics[topic].error is not None:
            return {}
        ends = {}
        for p in meta.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                ends[p] = (low, high)
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in ends.items()])
        table, done = {}, set()
        deadline = time.monotonic() + timeout
        while len(done) < len(ends):
            assert time.monotonic() < deadline, f"reading {topic} did not reach its end in {timeout} s"
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert not msg.error(), f"{topic}: {msg.error()}"
            key = json.dumps(json.loads(msg.key()), sort_keys=True)
            if msg.value() is None:
                table.pop(key, None)
            else:
                table[key] = json.loads(msg.value())
            if msg.offset() + 1 >= ends[msg.partition()][1]:
                done.add(msg.partition())
        return table
    finally:
        consumer.close()


def read_topic(bootstrap, topic, last=None, timeout=60.0):
    """All records of a topic (or the last `last` of each partition) as (partition, key, value)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"flink-test-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(topic, timeout=timeout)
        ends = {}
        for p in meta.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            start = low if last is None else max(low, high - last)
            if high > start:
                ends[p] = (start, high)
        consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in ends.items()])
        records, done = [], set()
        deadline = time.monotonic() + timeout
        while len(done) < len(ends):
            assert time.monotonic() < deadline, f"reading {topic} did not reach its end in {timeout} s"
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert not msg.error(), f"{topic}: {msg.error()}"
            records.append((msg.partition(), msg.key(), msg.value()))
            if msg.offset() + 1 >= ends[msg.partition()][1]:
                done.add(msg.partition())
        return records
    finally:
        consumer.close()


def replay_suffix(bootstrap, topics, count):
    """Sends the last `count` records of each topic again, in order: Debezium's redelivery after
    a crash (at least once) looks exactly like this."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    sent = 0
    for topic in topics:
        for partition, key, value in read_topic(bootstrap, topic, last=count):
            producer.produce(topic, key=key, value=value, partition=partition)
            sent += 1
    assert producer.flush(30) == 0, "duplicates not delivered"
    return sent


# ---------------------------------------------------------------- the pipeline under test

def run(cmd, env, timeout=300, check=True):
    res = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {res.returncode}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


class Pipeline:
    def __init__(self, stack_env):
        tag = uuid.uuid4().hex[:8]
        self.schema = f"flinkt_{tag}"
        self.prefix = f"flinkt{tag}"
        self.connector = f"flinkt-{tag}"
        self.slot = f"flinkt_{tag}"
        self.publication = f"flinkt_{tag}_pub"
        self.env = dict(os.environ, **stack_env)
        self.bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
        self.generator_summary = ""
        self.can_restart = False
        self.restarted_taskmanager = False

    def pg(self):
        conn = psycopg2.connect(host=self.env["PGHOST"], port=self.env["PGPORT"], user=self.env["PGUSER"],
                                password=self.env["PGPASSWORD"], dbname=self.env["PGDATABASE"])
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute(f"SET search_path TO {self.schema}")
        return conn

    def query(self, sql, params=None):
        conn = self.pg()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                cols = [d[0] for d in cur.description]
                return [dict(zip(cols, row)) for row in cur.fetchall()]
        finally:
            conn.close()

    def datagen(self, *args):
        return [DATAGEN, "--schema", self.schema, "--topic-prefix", self.prefix, *args]

    def submit(self, *args, check=True):
        return run([sys.executable, SUBMIT, "--topic-prefix", self.prefix, "--schema", self.schema, *args],
                   self.env, check=check)

    def start(self):
        log(f"schema {self.schema}, topic prefix {self.prefix}")
        run(self.datagen("--if_exists", "fail", "--max_iter", "0", "--quiet"), self.env)
        run([sys.executable, REGISTER, "--name", self.connector, "--topic-prefix", self.prefix,
             "--schema", self.schema, "--slot", self.slot, "--publication", self.publication], self.env)
        log("connector running; submitting the jobs")
        # Jobs first, then the load: the TaskManager restart must fall inside the generator's run,
        # however long the submission takes on a busy machine.
        self.submitted = self.submit("--top-products-window", str(TOP_WINDOW_MINUTES), *SQL_DIR_ARGS)
        log(self.submitted.stdout.strip().splitlines()[-1] + "; starting the generator")
        generator = subprocess.Popen(
            [str(c) for c in self.datagen("--if_exists", "append", "--seed", "1", "--avg-qps", "50",
                                          "--max_iter", str(VISITS), "--status-interval", "20")],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            if self.can_restart:
                self.crash_taskmanager_midway(generator)
            out, _ = generator.communicate(timeout=VISITS / 50 * 2 + 120)
        except BaseException:
            generator.kill()
            raise
        assert generator.returncode == 0, f"generator failed:\n{out[-3000:]}"
        self.generator_summary = next((ln for ln in out.splitlines() if " summary " in ln), "")
        log(f"generator done: {self.generator_summary[-200:]}")
        sent = replay_suffix(self.bootstrap, [f"{self.prefix}.{self.schema}.{t}" for t in TABLES],
                             REPLAYED_PER_TOPIC)
        log(f"sent {sent} change events a second time (at-least-once redelivery)")
        self.wait_until_consumed()

    def wait_until_consumed(self, timeout=SETTLE_SECONDS):
        """Waits until every job has committed offsets at the end of each source topic.

        The Kafka source commits its offsets when a checkpoint completes, and a checkpoint completes
        only after mini-batches are flushed and the upsert-kafka sink has flushed its writes, so then
        the result topics hold the results of every change, the replayed duplicates included. Without
        this, a comparison could pass on the results from before the duplicates arrived."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        sources = [f"{self.prefix}.{self.schema}.{t}" for t in TABLES]
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"flink-test-{uuid.uuid4().hex}"})
        ends = {}
        for topic in sources:
            for p in consumer.list_topics(topic, timeout=30).topics[topic].partitions:
                ends[(topic, p)] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
        consumer.close()
        reads = {}   # job group -> the source topics its SQL reads
        for path in (ROOT / "flink" / "jobs").glob("*.sql"):
            names = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", path.read_text()))
            tables = {n.replace("_changes", "") for n in names} & set(TABLES)
            assert tables, f"{path.name} reads no source table?"
            reads[f"{self.prefix}.analytics.{path.stem}"] = {f"{self.prefix}.{self.schema}.{t}" for t in tables}
        deadline = time.monotonic() + timeout
        while True:
            behind = {}
            for group, topics in reads.items():
                fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
                committed = {(tp.topic, tp.partition): tp.offset for tp in fut.result().topic_partitions}
                lag = sum(end - max(committed.get(tp, 0), 0) for tp, end in ends.items() if tp[0] in topics)
                if lag > 0:
                    behind[group] = f"{lag} changes behind"
            if not behind:
                log("every job has consumed every change (committed offsets at the topic ends)")
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs did not catch up within {timeout} s: {behind}")
            time.sleep(2)

    def crash_taskmanager_midway(self, generator):
        """Restarts Flink's TaskManager while the generator runs: every job fails over and resumes
        from its last checkpoint, re-reading (and re-emitting) what came after it."""
        time.sleep(15)
        deadline = time.monotonic() + 45
        while True:   # crash once every job has a checkpoint to resume from
            self.checkpoints_before = self.completed_checkpoints()
            if len(self.checkpoints_before) == 5 and all(self.checkpoints_before.values()):
                break
            if time.monotonic() > deadline:
                break  # the test of the restore reports it
            time.sleep(1)
        assert generator.poll() is None, "the generator ended before the TaskManager restart"
        log("restarting the Flink TaskManager mid-run")
        run([ROOT / "scripts" / "stack", "restart", "taskmanager"], self.env)
        self.restarted_taskmanager = True

    def completed_checkpoints(self):
        counts = {}
        for job in requests.get(self.env["FLINK_URL"] + "/jobs/overview", timeout=10).json()["jobs"]:
            if job["name"].startswith(self.prefix + ".") and job["state"] == "RUNNING":
                info = requests.get(f"{self.env['FLINK_URL']}/jobs/{job['jid']}/checkpoints", timeout=10).json()
                counts[job["name"]] = info["counts"]["completed"]
        return counts

    def restored_jobs(self):
        restored = []
        for job in requests.get(self.env["FLINK_URL"] + "/jobs/overview", timeout=10).json()["jobs"]:
            if job["name"].startswith(self.prefix + ".") and job["state"] == "RUNNING":
                info = requests.get(f"{self.env['FLINK_URL']}/jobs/{job['jid']}/checkpoints", timeout=10).json()
                if (info.get("latest") or {}).get("restored"):
                    restored.append(job["name"])
        return sorted(restored)

    def stop(self):
        self.submit("--cancel", check=False)
        run([sys.executable, REGISTER, "--name", self.connector, "--delete"], self.env, check=False)
        conn = self.pg()
        try:
            with conn.cursor() as cur:
                deadline = time.monotonic() + 60
                while True:
                    cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (self.slot,))
                    row = cur.fetchone()
                    if row is None:
                        break
                    if not row[0]:
                        cur.execute("SELECT pg_drop_replication_slot(%s)", (self.slot,))
                        break
                    if time.monotonic() > deadline:
                        log(f"replication slot {self.slot} still active; not dropped")
                        break
                    time.sleep(1)
                cur.execute(f"DROP PUBLICATION IF EXISTS {self.publication}")
                cur.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        finally:
            conn.close()
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        topics = [t for t in admin.list_topics(timeout=30).topics
                  if t.startswith(self.prefix + ".") or t == f"__debezium-heartbeat.{self.prefix}"]
        if topics:
            for fut in admin.delete_topics(topics, operation_timeout=30).values():
                try:
                    fut.result()
                except Exception as exc:  # cleanup is best effort; the test result stands
                    log(f"topic not deleted: {exc}")
        groups = [f"{self.prefix}.analytics.{p.stem}" for p in (ROOT / "flink" / "jobs").glob("*.sql")]
        try:
            for fut in admin.delete_consumer_groups(groups, request_timeout=30).values():
                try:
                    fut.result()
                except Exception:
                    pass
        except Exception:
            pass


@pytest.fixture(scope="module")
def pipeline(stack_env, request):
    p = Pipeline(stack_env)
    # The TaskManager crash needs the local launcher; against compose the rest of the test still runs.
    p.can_restart = (request.config.getoption("--stack") == "local"
                     and subprocess.run([ROOT / "scripts" / "stack", "status", "--quiet"],
                                        capture_output=True).returncode == 0)
    try:
        p.start()
        yield p
    finally:
        p.stop()


# ---------------------------------------------------------------- comparing

MINUTE = "to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-6 + 1e-9 * abs(float(b))
    return a == b


def diff(expected, actual, fields):
    """Human-readable differences between two {key: row} tables (empty when equal)."""
    problems = []
    for key in sorted(set(expected) - set(actual))[:5]:
        problems.append(f"missing {key}: expected {expected[key]}")
    for key in sorted(set(actual) - set(expected))[:5]:
        problems.append(f"extra {key}: {actual[key]}")
    for key in sorted(set(expected) & set(actual)):
        bad = [f for f in fields if not same(expected[key].get(f), actual[key].get(f))]
        if bad and len(problems) < 15:
            problems.append(f"{key}: " + ", ".join(f"{f} expected {expected[key].get(f)!r} got {actual[key].get(f)!r}"
                                                    for f in bad))
    counts = f"{len(expected)} expected rows, {len(actual)} in Kafka"
    return [counts] + problems if problems else []


def settle(check, what):
    """Polls until the Flink result equals the database, or reports the last difference."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        problems = check()
        if not problems:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what} differs from PostgreSQL after {SETTLE_SECONDS} s:\n  " + "\n  ".join(problems))
        time.sleep(3)


def kafka_table(pipeline, name, key_fields):
    rows = read_upsert_topic(pipeline.bootstrap, f"{pipeline.prefix}.analytics.{name}")
    return {tuple(v[k] for k in key_fields): v for v in rows.values()}


def db_table(rows, key_fields):
    return {tuple(r[k] for k in key_fields): r for r in rows}


# ---------------------------------------------------------------- the results

def test_revenue_per_minute_equals_database(pipeline):
    keys = ("window_start", "department", "category")
    fields = ("window_end", "revenue", "gross_revenue", "orders", "items")
    sql = f"""
        SELECT {MINUTE.format("date_trunc('minute', oi.created_at)")} AS window_start,
               {MINUTE.format("date_trunc('minute', oi.created_at) + interval '1 minute'")} AS window_end,
               p.department, p.category,
               SUM(CASE WHEN oi.status IN ('Cancelled', 'Returned') THEN 0 ELSE oi.sale_price END) AS revenue,
               SUM(oi.sale_price) AS gross_revenue,
               COUNT(DISTINCT oi.order_id) AS orders, COUNT(*) AS items
        FROM order_items oi JOIN products p ON p.id = oi.product_id
        GROUP BY 1, 2, 3, 4"""
    expected = db_table(pipeline.query(sql), keys)
    assert len(expected) > 20, "the run produced too few order minutes to test anything"
    statuses = {r["status"] for r in pipeline.query("SELECT DISTINCT status FROM order_items")}
    assert {"Cancelled", "Returned"} <= statuses, f"no cancellations/returns in the run: {statuses}"
    settle(lambda: diff(expected, kafka_table(pipeline, "revenue_per_minute", keys), fields), "revenue_per_minute")


def test_status_counts_equal_database(pipeline):
    keys = ("entity", "status")
    sql = """SELECT 'orders' AS entity, status, COUNT(*) AS cnt FROM orders GROUP BY status
             UNION ALL SELECT 'order_items', status, COUNT(*) FROM order_items GROUP BY status"""
    expected = db_table(pipeline.query(sql), keys)
    assert {k[1] for k in expected} == {"Processing", "Shipped", "Complete", "Cancelled", "Returned"}
    settle(lambda: diff(expected, kafka_table(pipeline, "status_counts", keys), ("cnt",)), "status_counts")


def test_funnel_per_minute_equals_database(pipeline):
    keys = ("window_start",)
    fields = ("window_end", "sessions", "product_views", "carts", "purchases", "abandoned_carts",
              "ghost_sessions", "conversion_rate")
    sql = f"""
        WITH s AS (
          SELECT session_id, MIN(created_at) AS started_at, MAX(user_id) AS user_id,
                 COUNT(*) FILTER (WHERE event_type = 'product') AS product_views,
                 bool_or(event_type = 'cart') AS reached_cart, bool_or(event_type = 'purchase') AS purchased
          FROM events GROUP BY session_id)
        SELECT {MINUTE.format("date_trunc('minute', started_at)")} AS window_start,
               {MINUTE.format("date_trunc('minute', started_at) + interval '1 minute'")} AS window_end,
               COUNT(*) AS sessions, SUM(product_views) AS product_views,
               COUNT(*) FILTER (WHERE reached_cart) AS carts,
               COUNT(*) FILTER (WHERE purchased) AS purchases,
               COUNT(*) FILTER (WHERE user_id IS NOT NULL AND reached_cart AND NOT purchased) AS abandoned_carts,
               COUNT(*) FILTER (WHERE user_id IS NULL) AS ghost_sessions,
               (COUNT(*) FILTER (WHERE purchased))::float8 / COUNT(*) AS conversion_rate
        FROM s GROUP BY 1, 2"""
    expected = db_table(pipeline.query(sql), keys)
    for row in expected.values():
        row["product_views"] = int(row["product_views"])
    assert sum(r["abandoned_carts"] for r in expected.values()) > 0
    assert sum(r["ghost_sessions"] for r in expected.values()) > 0
    match = re.search(r"events\(\+\d+ ~\d+ -(\d+)\)", pipeline.generator_summary)
    if match:  # closed accounts deleted events: the funnel must have followed those DELETEs
        assert int(match.group(1)) > 0, pipeline.generator_summary
    settle(lambda: diff(expected, kafka_table(pipeline, "funnel_per_minute", keys), fields), "funnel_per_minute")


def test_top_products_over_the_window_equal_database(pipeline):
    keys = ("rank",)
    fields = ("product_id", "product_name", "brand", "department", "category", "revenue", "items",
              "window_start", "window_end")
    sql = f"""
        WITH clock AS (SELECT date_trunc('minute', MAX(created_at)) AS cur FROM order_items),
        pm AS (
          SELECT oi.product_id, SUM(oi.sale_price::numeric(12, 2)) AS revenue, COUNT(*) AS items
          FROM order_items oi, clock
          WHERE oi.status NOT IN ('Cancelled', 'Returned')
            AND oi.created_at >= clock.cur - %(w)s * interval '1 minute' + interval '1 minute'
            AND oi.created_at < clock.cur + interval '1 minute'
          GROUP BY oi.product_id)
        SELECT ROW_NUMBER() OVER (ORDER BY pm.revenue DESC, pm.product_id) AS rank, pm.product_id,
               p.name AS product_name, p.brand, p.department, p.category, pm.revenue::float8 AS revenue,
               pm.items, {MINUTE.format("clock.cur - %(w)s * interval '1 minute' + interval '1 minute'")} AS window_start,
               {MINUTE.format("clock.cur + interval '1 minute'")} AS window_end
        FROM pm JOIN products p ON p.id = pm.product_id, clock
        ORDER BY rank LIMIT 10"""
    expected = db_table(pipeline.query(sql, {"w": TOP_WINDOW_MINUTES}), keys)
    # Usually 10; fewer only when the run ended seconds into a new minute (then Flink has fewer ranks too).
    assert expected, "no order item in the last window"
    older = pipeline.query("""SELECT COUNT(*) AS n FROM order_items
                              WHERE created_at < (SELECT date_trunc('minute', MAX(created_at)) FROM order_items)
                                                 - %(w)s * interval '1 minute' + interval '1 minute'""",
                           {"w": TOP_WINDOW_MINUTES})[0]["n"]
    assert older > 0, "no order item left the window during the run: the window boundary is untested"
    settle(lambda: diff(expected, kafka_table(pipeline, "top_products_last_hour", keys), fields),
           "top_products_last_hour")


def written_off_from_changelog(pipeline):
    """Unsold inventory items deleted, per centre, from the raw Debezium topic (ids counted once)."""
    deleted = {}
    for _, _, value in read_topic(pipeline.bootstrap, f"{pipeline.prefix}.{pipeline.schema}.inventory_items"):
        if value is None:
            continue
        event = json.loads(value)
        before = event.get("before") or {}
        if event.get("op") == "d" and before.get("sold_at") is None:
            deleted[before["id"]] = before["product_distribution_center_id"]
    return deleted


def test_stock_per_distribution_centre_equals_database(pipeline):
    keys = ("dc_id",)
    fields = ("dc_name", "in_stock", "sold", "written_off")
    deleted = written_off_from_changelog(pipeline)
    assert deleted, "the run wrote off no stock"
    still_there = pipeline.query("SELECT COUNT(*) AS n FROM inventory_items WHERE id = ANY(%s)", (list(deleted),))
    assert still_there[0]["n"] == 0, "items deleted in the changelog still exist in PostgreSQL"
    match = re.search(r"inventory_items\(\+\d+ ~\d+ -(\d+)\)", pipeline.generator_summary)
    if match:  # the generator's own count of DELETEs agrees with the changelog
        assert len(deleted) == int(match.group(1)), pipeline.generator_summary
    sql = """SELECT dc.id AS dc_id, dc.name AS dc_name,
                    COUNT(ii.id) FILTER (WHERE ii.sold_at IS NULL) AS in_stock,
                    COUNT(ii.id) FILTER (WHERE ii.sold_at IS NOT NULL) AS sold
             FROM distribution_centers dc LEFT JOIN inventory_items ii ON ii.product_distribution_center_id = dc.id
             GROUP BY dc.id, dc.name"""
    expected = db_table(pipeline.query(sql), keys)
    for (dc_id,), row in expected.items():
        row["written_off"] = sum(1 for dc in deleted.values() if dc == dc_id)
    settle(lambda: diff(expected, kafka_table(pipeline, "stock_per_dc", keys), fields), "stock_per_dc")


@pytest.mark.parametrize("job", ["revenue_per_minute", "status_counts", "stock_per_dc"])
def test_an_update_is_one_new_value_not_a_tombstone_first(pipeline, job):
    """Keys of these results never disappear in this run, so a tombstone would mean the job
    writes an update as delete-then-insert: consumers would see the key vanish for a moment."""
    records = read_topic(pipeline.bootstrap, f"{pipeline.prefix}.analytics.{job}")
    assert records
    assert sum(1 for _, _, value in records if value is None) == 0


def test_jobs_resumed_from_checkpoints_after_taskmanager_crash(pipeline):
    if not pipeline.restarted_taskmanager:
        pytest.skip("the TaskManager restart needs the local stack launcher (scripts/stack)")
    assert all(n > 0 for n in pipeline.checkpoints_before.values()) and len(pipeline.checkpoints_before) == 5, \
        f"not every job had a checkpoint before the crash: {pipeline.checkpoints_before}"
    restored = pipeline.restored_jobs()
    assert len(restored) == 5, f"jobs restored from a checkpoint: {restored}"


# ---------------------------------------------------------------- the submit script

def test_second_submit_starts_no_second_copy(pipeline):
    res = pipeline.submit("--top-products-window", str(TOP_WINDOW_MINUTES))
    jobs = sorted(p.stem for p in (ROOT / "flink" / "jobs").glob("*.sql"))
    for job in jobs:
        assert f"{pipeline.prefix}.analytics.{job}: already RUNNING" in res.stdout, res.stdout
    overview = requests.get(pipeline.env["FLINK_URL"] + "/jobs/overview", timeout=10).json()["jobs"]
    names = sorted(j["name"] for j in overview
                   if j["name"].startswith(pipeline.prefix + ".") and j["state"] not in ("CANCELED", "FAILED", "FINISHED"))
    assert names == [f"{pipeline.prefix}.analytics.{job}" for job in jobs], names
    assert "Flink web UI: " + pipeline.env["FLINK_URL"] in res.stdout


def test_failing_statement_reports_flinks_error(pipeline, tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "common.sql").write_text((ROOT / "flink" / "common.sql").read_text())
    (tmp_path / "jobs" / "broken.sql").write_text(
        "CREATE TEMPORARY TABLE out_t (n BIGINT) WITH ('connector' = 'blackhole');\n"
        "INSERT INTO out_t SELECT no_such_column FROM orders;\n")
    res = pipeline.submit("--sql-dir", tmp_path, check=False)
    assert res.returncode == 1
    assert "broken.sql:2" in res.stderr
    assert "no_such_column" in res.stderr and "not found" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) <= 4, res.stderr
    assert "\tat " not in res.stderr  # no Java stack trace
