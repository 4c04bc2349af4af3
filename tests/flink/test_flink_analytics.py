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
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from thelook_datagen.ops import flink_results
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
        """Waits until every job has committed offsets at the end of each source topic it reads
        (flink_results.jobs_behind: the Kafka source commits on a completed checkpoint, after the upsert-kafka
        sink flushed), so the result topics hold the results of every change, the replayed duplicates
        included. Without this, a comparison could pass on the results from before the duplicates arrived."""
        conf = {"bootstrap.servers": self.bootstrap}
        ends = flink_results.end_offsets(conf, {f"{self.prefix}.{self.schema}.{t}" for t in TABLES})
        deadline = time.monotonic() + timeout
        while True:
            behind = flink_results.jobs_behind(conf, self.prefix, self.schema, ROOT / "flink", ends)
            if not behind:
                log("every job has consumed every change (committed offsets at the topic ends)")
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs did not catch up within {timeout} s: {behind} changes behind")
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


def expected(pipeline, job, written_off=None):
    """The job's result computed on PostgreSQL by the project's own comparison (ops/flink_results.py, which the
    scenarios use too)."""
    conn = pipeline.pg()
    try:
        return flink_results.expected(conn, pipeline.schema, job, TOP_WINDOW_MINUTES, written_off)
    finally:
        conn.close()


def settle_job(pipeline, job, want):
    conf = {"bootstrap.servers": pipeline.bootstrap}
    settle(lambda: flink_results.diff(want, flink_results.result_table(conf, pipeline.prefix, job),
                                      flink_results.RESULTS[job].fields), job)


# ---------------------------------------------------------------- the results

def test_revenue_per_minute_equals_database(pipeline):
    want = expected(pipeline, "revenue_per_minute")
    assert len(want) > 20, "the run produced too few order minutes to test anything"
    statuses = {r["status"] for r in pipeline.query("SELECT DISTINCT status FROM order_items")}
    assert {"Cancelled", "Returned"} <= statuses, f"no cancellations/returns in the run: {statuses}"
    settle_job(pipeline, "revenue_per_minute", want)


def test_status_counts_equal_database(pipeline):
    want = expected(pipeline, "status_counts")
    assert {k[1] for k in want} == {"Processing", "Shipped", "Complete", "Cancelled", "Returned"}
    settle_job(pipeline, "status_counts", want)


def test_funnel_per_minute_equals_database(pipeline):
    want = expected(pipeline, "funnel_per_minute")
    assert sum(r["abandoned_carts"] for r in want.values()) > 0
    assert sum(r["ghost_sessions"] for r in want.values()) > 0
    match = re.search(r"events\(\+\d+ ~\d+ -(\d+)\)", pipeline.generator_summary)
    if match:  # closed accounts deleted events: the funnel must have followed those DELETEs
        assert int(match.group(1)) > 0, pipeline.generator_summary
    settle_job(pipeline, "funnel_per_minute", want)


def test_top_products_over_the_window_equal_database(pipeline):
    want = expected(pipeline, "top_products_last_hour")
    # Usually 10; fewer only when the run ended seconds into a new minute (then Flink has fewer ranks too).
    assert want, "no order item in the last window"
    older = pipeline.query("""SELECT COUNT(*) AS n FROM order_items
                              WHERE created_at < (SELECT date_trunc('minute', MAX(created_at)) FROM order_items)
                                                 - %(w)s * interval '1 minute' + interval '1 minute'""",
                           {"w": TOP_WINDOW_MINUTES})[0]["n"]
    assert older > 0, "no order item left the window during the run: the window boundary is untested"
    settle_job(pipeline, "top_products_last_hour", want)


def test_stock_per_distribution_centre_equals_database(pipeline):
    deleted = flink_results.written_off_items({"bootstrap.servers": pipeline.bootstrap}, pipeline.prefix,
                                              pipeline.schema)
    assert deleted, "the run wrote off no stock"
    still_there = pipeline.query("SELECT COUNT(*) AS n FROM inventory_items WHERE id = ANY(%s)", (list(deleted),))
    assert still_there[0]["n"] == 0, "items deleted in the changelog still exist in PostgreSQL"
    match = re.search(r"inventory_items\(\+\d+ ~\d+ -(\d+)\)", pipeline.generator_summary)
    if match:  # the generator's own count of DELETEs agrees with the changelog
        assert len(deleted) == int(match.group(1)), pipeline.generator_summary
    settle_job(pipeline, "stock_per_dc", expected(pipeline, "stock_per_dc", deleted))


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


# ---------------------------------------------------------------- state: RocksDB, incremental checkpoints, TTL

def _running_jobs(pipeline):
    """{job: jid} of this pipeline's running jobs."""
    return {j["name"].rsplit(".", 1)[1]: j["jid"]
            for j in requests.get(pipeline.env["FLINK_URL"] + "/jobs/overview", timeout=10).json()["jobs"]
            if j["name"].startswith(pipeline.prefix + ".") and j["state"] == "RUNNING"}


def test_jobs_keep_their_state_in_rocksdb_with_incremental_checkpoints(pipeline):
    """The submitted jobs, not just the cluster's config file: Flink reports each job's state backend, and an
    incremental checkpoint writes only what RocksDB added since the one before (less than the whole state),
    where a full one (hashmap, or RocksDB without incremental checkpoints) writes all of it every time."""
    jobs = _running_jobs(pipeline)
    assert len(jobs) == 5, jobs
    url = pipeline.env["FLINK_URL"]
    for job, jid in sorted(jobs.items()):
        config = requests.get(f"{url}/jobs/{jid}/checkpoints/config", timeout=10).json()
        assert config["state_backend"] == "EmbeddedRocksDBStateBackend", (job, config)
        history = requests.get(f"{url}/jobs/{jid}/checkpoints", timeout=10).json()["history"]
        done = [c for c in history if c["status"] == "COMPLETED" and c["state_size"] > 0]
        assert len(done) >= 2, f"{job}: too few checkpoints to compare: {history}"
        assert any(c["checkpointed_size"] < c["state_size"] for c in done), \
            f"{job}: every checkpoint wrote the whole state (not incremental): " \
            + str([(c["checkpointed_size"], c["state_size"]) for c in done])


def test_rocksdb_info_log_is_bounded(pipeline):
    """RocksDB's own info log (a few lines per checkpoint every 10 s, per stateful operator) rolls at 1 MB and
    keeps 2 files (FLINK_STATE_SETTINGS in scripts/stackctl/services.py): what RocksDB itself says it was given,
    in the OPTIONS file it writes into each state folder of the running jobs on the TaskManager's disk."""
    if not pipeline.can_restart:
        pytest.skip("reads the TaskManager's working folder: local stack only (compose: tests/compose checks the setting)")
    jobs = _running_jobs(pipeline)
    assert len(jobs) == 5, jobs
    tmp = Path(os.environ.get("THELOOK_STACK_DIR", ROOT / ".stack")) / "flink" / "tmp"
    options = {}
    for path in tmp.rglob("OPTIONS-*"):
        job = next((j for j, jid in jobs.items() if f"job_{jid}_" in str(path)), None)
        if job:
            options.setdefault(job, []).append(path)
    assert set(options) == set(jobs), f"no RocksDB state folder under {tmp} for {sorted(set(jobs) - set(options))}"
    for job, paths in sorted(options.items()):
        for path in paths:
            text = path.read_text()
            assert re.search(r"^\s*max_log_file_size=1048576$", text, re.M), f"{job}: {path} rolls its log at another size"
            assert re.search(r"^\s*keep_log_file_num=2$", text, re.M), f"{job}: {path} keeps another number of logs"


TTL_HINT = "STATE_TTL('inventory_items_changes' = '1 d')"
PROBE_TTL_SECONDS = 10


def test_write_off_ids_are_forgotten_after_their_ttl_and_not_before(pipeline, tmp_path):
    """The one state with a TTL (flink/README.md, "State"): the stock job's set of item ids already counted as
    written off. A copy of the job whose hint says 10 s instead of a day reads the same topics: a DELETE sent
    again while the id is remembered is not counted, one sent again after 10 s is counted a second time. The
    demo's job (a day) counts neither, and still equals PostgreSQL."""
    source = (ROOT / "flink" / "jobs" / "stock_per_dc.sql").read_text()
    assert TTL_HINT in source, "the stock job's TTL hint changed: update this test and flink/README.md"
    (tmp_path / "jobs").mkdir()
    (tmp_path / "common.sql").write_text((ROOT / "flink" / "common.sql").read_text())
    probe = source.replace(TTL_HINT, f"STATE_TTL('inventory_items_changes' = '{PROBE_TTL_SECONDS} s')")
    probe = probe.replace(".analytics.stock_per_dc'", ".analytics.stock_ttl_probe'")
    (tmp_path / "jobs" / "stock_ttl_probe.sql").write_text(probe)
    conf = {"bootstrap.servers": pipeline.bootstrap}
    topic = f"{pipeline.prefix}.{pipeline.schema}.inventory_items"
    # one unsold item's DELETE event, as Debezium wrote it, to be delivered again
    _, key, value = next(r for r in read_topic(pipeline.bootstrap, topic)
                         if r[2] is not None and json.loads(r[2])["op"] == "d"
                         and json.loads(r[2])["before"]["sold_at"] is None)
    centre = json.loads(value)["before"]["product_distribution_center_id"]
    producer = Producer({"bootstrap.servers": pipeline.bootstrap, "enable.idempotence": True})

    def probe_written_off():
        """The probe's written_off of the centre: the last value of its key in the probe's result topic."""
        last = None
        for k, v in flink_results.read_topic(conf, f"{pipeline.prefix}.analytics.stock_ttl_probe"):
            if json.loads(k)["dc_id"] == centre:
                last = json.loads(v) if v is not None else None
        assert last is not None, f"the probe wrote no result for centre {centre}"
        return last["written_off"]

    def wait_probe_consumed(timeout=SETTLE_SECONDS):
        """Until the probe has committed the ends of its topics: its checkpoint, so its results, include them."""
        deadline = time.monotonic() + timeout
        while flink_results.jobs_behind(conf, pipeline.prefix, pipeline.schema, tmp_path):
            assert time.monotonic() < deadline, "the probe job did not catch up"
            time.sleep(1)

    def deliver_again(times):
        for _ in range(times):          # back to back: the second copy arrives while the first is remembered
            producer.produce(topic, key=key, value=value)
        assert producer.flush(30) == 0
        wait_probe_consumed()

    pipeline.submit("--sql-dir", tmp_path)
    try:
        wait_probe_consumed()
        time.sleep(PROBE_TTL_SECONDS + 2)       # every id the probe saw is older than its TTL now
        before = probe_written_off()
        deliver_again(2)                        # the 1st is counted (id forgotten), the 2nd is not
        after_two = probe_written_off()
        time.sleep(PROBE_TTL_SECONDS + 2)
        deliver_again(1)                        # forgotten again: counted again
        after_three = probe_written_off()
        log(f"TTL probe, centre {centre}: written_off {before} -> {after_two} (2 copies within the TTL) "
            f"-> {after_three} (1 copy after it)")
        assert after_two == before + 1, "a DELETE sent twice within the TTL was not counted exactly once"
        assert after_three == before + 2, "the write-off id was not forgotten after the TTL"
    finally:
        jid = _running_jobs(pipeline).get("stock_ttl_probe")
        if jid:
            requests.patch(f"{pipeline.env['FLINK_URL']}/jobs/{jid}?mode=cancel", timeout=10)
        group = f"{pipeline.prefix}.analytics.stock_ttl_probe"
        admin = AdminClient(conf)   # held while its future runs: a collected client leaves it pending for ever
        try:
            admin.delete_consumer_groups([group], request_timeout=30)[group].result(timeout=60)
        except Exception:  # noqa: BLE001 - cleanup is best effort (the job may still be cancelling)
            pass
    # the demo's job (TTL a day) counted none of the copies: it still equals PostgreSQL
    deleted = flink_results.written_off_items(conf, pipeline.prefix, pipeline.schema)
    settle_job(pipeline, "stock_per_dc", expected(pipeline, "stock_per_dc", deleted))
