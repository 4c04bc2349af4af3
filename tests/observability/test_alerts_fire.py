"""The alert rules of observability/prometheus/alerts.yml FIRE on the real stack when its parts really fail,
and CLEAR after the recovery (stack tier; thresholds as they are in the file, none lowered for the test).

One scenario, three faults at once so that their waits overlap (each alert's `for:` is a minute or less,
but run one after the other they would take about five minutes):

- the Flink TaskManager is killed (SIGKILL): FlinkJobNotRunning for every job that was RUNNING; once it
  fires, the TaskManager is started again (`scripts/stack restart taskmanager`), and the test waits until
  the alert clears and every one of those jobs runs all its tasks again. While no TaskManager runs, the jobs
  restart (every 10 s on a stack that has run for a while, only once in the first minutes of a fresh one);
  with three restarts FlinkJobRestarting fires for them too, and clears only when they leave its 10-minute
  window, which this test does not wait for;
- once the TaskManager is back, a job of the test's own in a real crash loop, the classic one of a CDC
  pipeline: it reads a topic whose one record is not JSON (a poison record), fails on it, and the stack's
  restart strategy (flink/common.sql's settings, every 10 s, forever) starts it again on the same record:
  FlinkJobRestarting fires for it at its third restart; the job is cancelled (the runbook's first step), and
  the alert clears at once, as a cancelled job has no metrics any more;
- a Debezium connector of the test's own (schema, topics, slot and publication under a random prefix, as in
  tests/cdc) is paused under load: KafkaConnectNotRunning for the connector and its task, and
  DebeziumNoChangeEvents (no event for a minute while the generator writes); resumed once all have fired;
- the generator is asked for 20,000 visits/s, far more than PostgreSQL takes, serving its metrics where the
  stack's Prometheus scrapes a generator: GeneratorBehindSchedule; once it fires, the generator is stopped
  and one at 5 visits/s takes its place (it also keeps "the generator writes" true for the pause above).

The paused connector's slot stops confirming while the generator writes: PostgresSlotNotConfirming (more
than one WAL segment behind for a whole minute) fires with the connector alerts and clears after the resume.

The other two replication-slot alerts fire in the same pause, with their production thresholds (alerts.yml)
and PostgreSQL's settings as they are (max_wal_size 1 GB, max_slot_wal_keep_size 2 GB). Right after the pause
the slot is made to hold back more than 1 GiB of WAL, by ending the current 16 MiB WAL segment with
pg_switch_wal() again and again (see hold_back_wal): PostgresSlotRetainedWalHigh (above 512 MiB for 1m) and
PostgresSlotWalNotReserved (wal_status `extended`, WAL beyond max_wal_size, for 30s) fire within the minute
and a bit that the connector alerts need anyway, and both clear once the resumed connector confirms again and
PostgreSQL moves the slot's restart_lsn forward. The held-back WAL is kept far from invalidation (below
1.6 GiB, or the connector is resumed at once; the tests fail at 1.8), and after the recovery the test waits
until the connector and its task are RUNNING and the slot is active, `reserved` and holds back only a few MiB
again, as other tests sharing the stack need it.

Every wait polls Prometheus's /api/v1/alerts (or Connect, Flink) with a deadline; nothing sleeps a fixed
time. The stack is left as found: connector removed with its slot, publication, schema and topics, the
TaskManager running and every job that ran before RUNNING again, a Flink job of the test's own (submitted
only when no job ran) and the crash-looping one cancelled, the poison topic deleted with the others.
"""
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "scripts" / "stack"
SUBMIT = ROOT / "scripts" / "submit-flink-jobs"
COMMON_SQL = ROOT / "flink" / "common.sql"
RULES_FILE = ROOT / "observability" / "prometheus" / "alerts.yml"

OVERLOAD_QPS = 20000       # far above what PostgreSQL takes (about 1,100 visits/s flat out on the 2-core machine)
LOW_QPS = 5                # what PostgreSQL takes easily: the generator keeps up and keeps writing
FLINK_JOB = "status_counts"  # the own Flink job, when no job runs on the stack
POISON = b"{this record is not JSON"   # what the crash-looping job fails on, after every restart
FIRE_DEADLINE_S = 200      # from the fault until its alerts fire (`for:` 1m at most, plus detection, scrape and load)
CLEAR_DEADLINE_S = 180     # from the recovery until the alerts have cleared (and the Flink jobs run again)
SETUP_DEADLINE_S = 240
POLL_S = 1.0
# which fault each alert answers (for the timings in the summary; the first prefix that matches)
ALERT_FAULTS = (("Generator", "generator"), ("KafkaConnect", "connector"), ("Debezium", "connector"),
                ("PostgresSlotRetainedWal", "wal"), ("PostgresSlotWalNotReserved", "wal"),
                ("PostgresSlot", "connector"), ("FlinkJobRestarting", "crashloop"), ("Flink", "flink"))
# The held-back WAL (hold_back_wal). The alerts' own thresholds: 512 MiB (PostgresSlotRetainedWalHigh) and
# max_wal_size, 1 GiB, beyond which wal_status is `extended` (PostgresSlotWalNotReserved). The slot is taken to
# WAL_TARGET, then the generator's writes add to it until the resume; at max_slot_wal_keep_size (2 GiB)
# PostgreSQL would invalidate the slot, so the connector is resumed at once if it ever reaches WAL_SAFETY, and
# the tests fail if it reached WAL_NEVER.
MIB = 2 ** 20
WAL_TARGET = 1178 * MIB            # about 1.15 GiB: 154 MiB beyond max_wal_size
WAL_SAFETY = 1638 * MIB            # 1.6 GiB
WAL_NEVER = 1843 * MIB             # 1.8 GiB
MAX_SWITCHES = 120                 # 1.9 GiB of segments: a loop that does not reach WAL_TARGET stops there
HEALTHY_RETAINED = 32 * MIB        # "a few MiB" after the recovery: at most two segments
SCENARIO_TIMEOUT_S = 720   # pytest-timeout of each test: the first one pays for the scenario (about 3 minutes)


def log(msg):
    print(f"[alerts-test {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _pipeline_class():
    """tests/cdc's Pipeline (throwaway schema, topic prefix, connector, slot, publication; cleanup), loaded from
    its conftest under a name of its own."""
    spec = importlib.util.spec_from_file_location("cdc_pipeline_for_alert_tests",
                                                  ROOT / "tests" / "cdc" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stack_pg_superuser(stack_env):
    """A connection to the local stack's PostgreSQL as its superuser `postgres`: over the unix socket that
    scripts/stack gives the server (its directory is private to the OS user running PostgreSQL, and initdb
    trusts local connections there). The demo role `thelook` may not call pg_switch_wal()."""
    import psycopg2
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT / "scripts"))
        for name in [m for m in sys.modules if m == "stackctl" or m.startswith("stackctl.")]:
            mp.delitem(sys.modules, name)
        from stackctl import services, settings
        sock = services.Layout(settings.data_dir(), Path(), Path(), Path(), Path()).pg_socket_dir
    port = stack_env["PGPORT"]
    try:
        found = (sock / f".s.PGSQL.{port}").exists()
    except OSError:      # a directory this user may not enter
        found = False
    if not found:
        raise AssertionError(f"no socket of the stack's PostgreSQL (port {port}) in {sock}: the test needs the "
                             "local stack of THELOOK_STACK_DIR, and to be able to enter that directory (as root or "
                             "as the user who started the stack)")
    conn = psycopg2.connect(host=str(sock), port=port, user="postgres", dbname=stack_env["PGDATABASE"],
                            connect_timeout=10)
    conn.autocommit = True
    return conn


# ------------------------------------------------------------------ Prometheus

def _normalise(expr):
    """An expression as text comparable with the one Prometheus's API prints (no spaces; numbers as floats)."""
    expr = re.sub(r"\s+", "", expr)
    return re.sub(r"(?<![\w.])(\d+\.?\d*(?:[eE][-+]?\d+)?)(?![\w.])", lambda m: repr(float(m.group(1))), expr)


class Prometheus:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def get(self, path, **params):
        r = requests.get(f"{self.url}{path}", params=params, timeout=10)
        r.raise_for_status()
        return r.json()["data"]

    def query(self, expr):
        return self.get("/api/v1/query", query=expr)["result"]

    def value(self, expr):
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def alerts(self):
        return self.get("/api/v1/alerts")["alerts"]

    def loaded_rules(self):
        return sorted((r["name"], _normalise(r["query"]), r["duration"])
                      for g in self.get("/api/v1/rules")["groups"] for r in g["rules"] if r["type"] == "alerting")

    def generator_target(self):
        urls = [t["scrapeUrl"] for t in self.get("/api/v1/targets", state="active")["activeTargets"]
                if t["labels"].get("job") == "generator"]
        assert urls, "the stack's Prometheus has no target of job generator"
        url = urlsplit(urls[0])
        return url.hostname, url.port


def file_rules():
    def seconds(d):
        return {"s": 1, "m": 60, "h": 3600}[d[-1]] * int(d[:-1]) if d else 0
    doc = yaml.safe_load(RULES_FILE.read_text())
    return sorted((r["alert"], _normalise(r["expr"]), seconds(r.get("for", "")))
                  for g in doc["groups"] for r in g["rules"])


class Timeline:
    """Every alert seen in /api/v1/alerts: since when it was pending, when it first fired, and when it resolved
    (gone from the active alerts after firing); `resets` counts pending spells that ended without firing.
    Times are seconds since the scenario began."""

    def __init__(self, t0):
        self.t0 = t0
        self.alerts = {}      # frozenset(labels) -> {"labels", "pending", "firing", "resolved", "value"}
        self.active = set()

    def update(self, alerts):
        now = round(time.monotonic() - self.t0, 1)
        seen = set()
        for a in alerts:
            key = frozenset(a["labels"].items())
            seen.add(key)
            entry = self.alerts.setdefault(key, {"labels": dict(a["labels"]), "pending": None, "firing": None,
                                                 "resolved": None, "value": None, "resets": 0})
            if entry["resolved"] is not None and a["state"] == "firing":
                entry["resolved"] = None     # fired again
            if entry["pending"] is None:
                entry["pending"] = now
            if a["state"] == "firing" and entry["firing"] is None:
                entry["firing"], entry["value"] = now, a.get("value")
        for key in self.active - seen:
            entry = self.alerts[key]
            if entry["firing"] is not None and entry["resolved"] is None:
                entry["resolved"] = now
            elif entry["firing"] is None:     # pending, then gone before its `for:` was over
                entry["pending"] = None
                entry["resets"] += 1
        self.active = seen

    @staticmethod
    def _match(labels, want):
        return all((labels.get(k) is None) if v is None else labels.get(k) == v for k, v in want.items())

    def find(self, alertname, **want):
        return [e for e in self.alerts.values()
                if e["labels"]["alertname"] == alertname and self._match(e["labels"], want)]

    def firing(self, alertname, **want):
        return [e for e in self.find(alertname, **want) if e["firing"] is not None and e["resolved"] is None
                and frozenset(e["labels"].items()) in self.active]

    def still_active(self, alertname, **want):
        return [e for e in self.find(alertname, **want) if frozenset(e["labels"].items()) in self.active]


# ------------------------------------------------------------------ the scenario

class Scenario:
    def __init__(self, stack_env, prometheus, tmp):
        self.stack_env, self.prom, self.tmp = stack_env, prometheus, tmp
        self.cdc = _pipeline_class()
        self.p = self.cdc.Pipeline(stack_env, tmp)
        self.stack_cmd_env = dict(self.p.env)   # for scripts/stack
        # every generator run gets its --metrics-port explicitly; none serves metrics by inheriting the variable
        self.p.env["THELOOK_METRICS_PORT"] = ""
        self.t0 = time.monotonic()
        self.timeline = Timeline(self.t0)
        self.marks = {}             # what happened when (seconds since t0)
        self.figures = {}
        self.own_job = False
        self.jobs_before = {}       # jid -> name of every job RUNNING before the TaskManager was killed
        self.overload = self.low = self.tm_restart = None
        self.crash_jid = None       # the crash-looping job's id, once submitted
        self.paused = self.killed = False
        self.wal_max = 0            # the most WAL the test's slot held back (bytes, polled every second)
        self.slot_after = None      # the slot once the connector's alerts had cleared

    def now(self):
        return round(time.monotonic() - self.t0, 1)

    def mark(self, what, detail=""):
        self.marks[what] = self.now()
        log(f"{self.now():6.1f}s {what}{detail}")

    # --- the parts of the stack
    def flink_jobs(self):
        return requests.get(f"{self.stack_env['FLINK_URL']}/jobs/overview", timeout=10).json()["jobs"]

    def jobs_all_running(self):
        jobs = {j["jid"]: j for j in self.flink_jobs()}

        def all_tasks_running(job):
            tasks = job["tasks"]
            return job["state"] == "RUNNING" and tasks["running"] + tasks.get("finished", 0) == tasks["total"]
        return all(jid in jobs and all_tasks_running(jobs[jid]) for jid in self.jobs_before)

    def taskmanager_pid(self):
        out = subprocess.run([str(STACK), "status"], env=self.stack_cmd_env, capture_output=True, text=True,
                             timeout=60).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) > 2 and parts[0] == "taskmanager" and parts[1] == "running" and parts[2].isdigit():
                return int(parts[2])
        return None

    def start_crash_loop(self):
        """Submits a job of the test's own that fails on a poison record after every restart: a topic of the
        test's prefix holds one record that is not JSON, and the job reads it with the JSON format (which
        fails on a record it cannot parse, its default). The session runs flink/common.sql's SET statements,
        so the restart strategy is the stack jobs' own. Returns the job id."""
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewTopic
        from thelook_datagen.ops import flink_jobs
        bootstrap = self.stack_env["KAFKA_BOOTSTRAP_SERVERS"]
        topic, name = f"{self.p.prefix}.poison", f"{self.p.prefix}.crash-loop"
        admin = AdminClient({"bootstrap.servers": bootstrap})   # (kept: its futures die with it)
        for fut in admin.create_topics([NewTopic(topic, 1, 1)]).values():
            fut.result(30)
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce(topic, POISON)
        assert producer.flush(30) == 0, "the poison record was not delivered to Kafka"
        settings = [st for _, st in flink_jobs.split_statements(COMMON_SQL.read_text())
                    if st.lstrip().upper().startswith("SET ")]
        assert any("restart-strategy" in st for st in settings), "flink/common.sql sets no restart strategy"
        with flink_jobs.GatewaySession(flink_jobs.gateway_client(self.stack_env["FLINK_SQL_GATEWAY_URL"]),
                                       name) as session:
            for st in settings + [
                    f"SET 'pipeline.name' = '{name}'",
                    f"CREATE TEMPORARY TABLE poison (id INT) WITH ('connector' = 'kafka', 'topic' = '{topic}', "
                    f"'properties.bootstrap.servers' = '{bootstrap}', 'properties.group.id' = '{name}', "
                    "'scan.startup.mode' = 'earliest-offset', 'format' = 'json')",
                    "CREATE TEMPORARY TABLE nowhere (id INT) WITH ('connector' = 'blackhole')"]:
                session.execute(st, 60)
            rows = session.execute("INSERT INTO nowhere SELECT id FROM poison", 120)
        assert rows and rows[0], f"the crash-looping job's INSERT returned no job id: {rows}"
        return rows[0][0]

    def job_state(self, jid):
        r = requests.get(f"{self.stack_env['FLINK_URL']}/jobs/{jid}", timeout=10)
        return r.json().get("state") if r.ok else None

    def cancel_job(self, jid):
        requests.patch(f"{self.stack_env['FLINK_URL']}/jobs/{jid}?mode=cancel", timeout=30).raise_for_status()

    def connect(self, method, path):
        r = requests.request(method, f"{self.stack_env['CONNECT_URL']}/connectors/{self.p.name}{path}", timeout=30)
        r.raise_for_status()
        return r

    def generator(self, qps, *extra):
        return self.p.generator("--avg-qps", qps, "--max_iter", -1, "--no-create-topic", "--metrics-port",
                                self.metrics_port, "--metrics-address", self.metrics_host, *extra, background=True)

    @staticmethod
    def stop(proc, timeout=60):
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def wait(self, what, condition, deadline_s):
        deadline = time.monotonic() + deadline_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {deadline_s} s")
            time.sleep(POLL_S)

    # --- before the faults
    def check_prerequisites(self):
        loaded, wanted = self.prom.loaded_rules(), file_rules()
        assert loaded == wanted, (
            "the stack's Prometheus runs other alert rules than observability/prometheus/alerts.yml (loaded at its "
            "start): restart it with `scripts/stack restart prometheus`\nloaded: "
            f"{[r[0] for r in loaded]}\nfile:   {[r[0] for r in wanted]}")
        host, port = self.prom.generator_target()
        if host not in ("127.0.0.1", "localhost"):
            pytest.skip(f"the stack's Prometheus scrapes the generator at {host}:{port}, not on this machine")
        self.metrics_host, self.metrics_port = "127.0.0.1", port
        with socket.socket() as s:
            if s.connect_ex((self.metrics_host, port)) == 0:
                pytest.skip(f"something already serves on {host}:{port}, where the stack's Prometheus scrapes a "
                            "generator (a demo's generator?): this test runs its own generator there")
        assert self.taskmanager_pid(), "scripts/stack status shows no running taskmanager"
        stack_pg_superuser(self.stack_env).close()   # pg_switch_wal() needs it: fail before the faults
        # (the connector alerts concern this test's own connector, the Flink ones the jobs' series above 0, which
        # setup() waits for; the generator alert needs no generator behind schedule already)
        self.timeline.update(self.prom.alerts())
        assert not self.timeline.still_active("GeneratorBehindSchedule"), \
            "GeneratorBehindSchedule is active before the test"

    def setup(self):
        p = self.p
        log(f"pipeline schema={p.schema} prefix={p.prefix} connector={p.name} slot={p.slot}; generator metrics on "
            f"{self.metrics_host}:{self.metrics_port}")
        # the tables, the reference data and the topics, then a few visits
        p.generator("--if_exists", "replace", "--seed", 5, "--max_iter", 20, "--avg-qps", 0, timeout=SETUP_DEADLINE_S)
        self.mark("schema ready")
        register = subprocess.Popen(
            [sys.executable, str(self.cdc.REGISTER), "--name", p.name, "--schema", p.schema, "--topic-prefix",
             p.prefix, "--slot", p.slot, "--publication", p.publication, "--timeout", "180"],
            env=p.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.jobs_before = {j["jid"]: j["name"] for j in self.flink_jobs() if j["state"] == "RUNNING"}
        if not self.jobs_before:
            self.own_job = True
            res = subprocess.run([sys.executable, str(SUBMIT), "--topic-prefix", p.prefix, "--schema", p.schema,
                                  "--job", FLINK_JOB], env=p.env, capture_output=True, text=True,
                                 timeout=SETUP_DEADLINE_S)
            assert res.returncode == 0, f"submit-flink-jobs exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
            self.jobs_before = {j["jid"]: j["name"] for j in self.flink_jobs()
                                if j["state"] == "RUNNING" and j["name"].startswith(p.prefix + ".")}
            self.mark("own Flink job submitted", f": {list(self.jobs_before.values())}")
        # every job runs all its tasks, and Prometheus has seen it (the alert's series above 0)
        ids = "|".join(self.jobs_before)
        self.wait("the Flink jobs running all their tasks", lambda: self.jobs_all_running() and len(self.prom.query(
            f'flink_jobmanager_job_allSubTasksRunningOrFinishedTime{{job_id=~"{ids}"}} > 0')) == len(self.jobs_before),
            SETUP_DEADLINE_S)
        self.restarts_before = {r["metric"]["job_id"]: float(r["value"][1]) for r in self.prom.query(
            f'flink_jobmanager_job_numRestarts{{job_id=~"{ids}"}}')}
        pid = self.taskmanager_pid()
        self.killed = True
        os.kill(pid, signal.SIGKILL)
        self.mark("TaskManager killed", f" (pid {pid}); jobs running before: {sorted(self.jobs_before.values())}")
        out, _ = register.communicate(timeout=SETUP_DEADLINE_S)
        assert register.returncode == 0, f"register-connector exited {register.returncode}:\n{out[-3000:]}"
        self.wait("the connector streaming (debezium_streaming_connected 1 in Prometheus)", lambda: self.prom.value(
            f'debezium_streaming_connected{{name="{p.prefix}"}}') == 1, SETUP_DEADLINE_S)
        self.wait("the connector and its task running in Prometheus", lambda: len(self.prom.query(
            f'kafka_connect_connector_status{{connector="{p.name}",status="running"}} or '
            f'kafka_connect_task_status{{connector="{p.name}",status="running"}}')) == 2, SETUP_DEADLINE_S)
        self.mark("connector streaming")

    # --- the faults and the recoveries
    def lsn(self):
        return int(self.p.sql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")[0][0])

    SLOTS = ("SELECT slot_name, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint, wal_status,"
             " active FROM pg_replication_slots")

    def slot(self, cur=None):
        """The test's slot now: WAL held back (bytes, what pg_replication_slot_retained_wal_bytes exports),
        wal_status, active; and the WAL every other slot holds back."""
        if cur is None:
            rows = self.p.sql(self.SLOTS)
        else:
            cur.execute(self.SLOTS)
            rows = cur.fetchall()
        ours = [r for r in rows if r[0] == self.p.slot]
        assert ours, f"the test's slot {self.p.slot} is gone: {rows}"
        retained, wal_status, active = ours[0][1:]
        self.wal_max = max(self.wal_max, retained)
        others = {r[0]: r[1] for r in rows if r[0] != self.p.slot}
        return {"retained": retained, "wal_status": wal_status, "active": active, "others": others}

    def hold_back_wal(self):
        """Makes the paused connector's slot hold back WAL_TARGET (about 1.15 GiB) within seconds.

        PostgreSQL keeps every WAL segment from the slot's restart_lsn on, and the paused connector confirms
        nothing, so its restart_lsn stays. Writing 1 GiB for real would take the generator about three minutes
        flat out on the idle 2-core machine (a visit writes about 5.5 KiB of WAL: some 6 MiB/s; 1-2 MiB/s on a
        loaded one), so the pause would last minutes longer. pg_switch_wal() instead ends the current 16 MiB
        segment: the WAL position moves to the start of the next one, and the WAL the slot holds back grows by
        up to a segment per call, kept on disk like any other (about 1.3 GB in pg_wal: check the disk space).
        A switch does nothing when nothing was written since the previous one, so each call follows a tiny
        write of its own (txid_current() in a transaction of its own: a commit record, an empty transaction
        that pgoutput does not send). This is what a stuck consumer under a heavy write load leads to, only
        faster; the alerts' thresholds and PostgreSQL's settings are the production ones.

        It stops at WAL_TARGET, measured over every slot: another slot that nobody confirms (a leftover of an
        interrupted test) would grow as fast, and must not come near max_slot_wal_keep_size either. The slot of
        a connector that does confirm (the demo's, on a stack the tests reuse) holds back as much for a while
        too: PostgreSQL moves its restart_lsn on only at a running-transactions record (one every 15 s while WAL
        is written) that the consumer has confirmed, so its slot alerts may go pending for some seconds."""
        su = stack_pg_superuser(self.stack_env)
        switches = skipped = 0
        t = time.monotonic()
        try:
            with su.cursor() as cur:
                cur.execute("SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'")
                segment = cur.fetchone()[0]
                while True:
                    state = self.slot(cur)
                    behind = max([state["retained"], *state["others"].values()])
                    if state["retained"] >= WAL_TARGET or behind >= WAL_TARGET or switches >= MAX_SWITCHES:
                        break
                    cur.execute("SELECT txid_current()")
                    # (the end of the switch record: the rest of its segment is skipped, not written)
                    cur.execute("SELECT pg_wal_lsn_diff(pg_switch_wal(), '0/0')::bigint")
                    skipped += -cur.fetchone()[0] % segment
                    switches += 1
        finally:
            su.close()
        self.wal_skipped = skipped
        self.figures["WAL segments switched"] = switches
        self.figures["switching (s)"] = round(time.monotonic() - t, 1)
        self.figures["retained WAL after switching (MiB)"] = round(state["retained"] / MIB, 1)
        self.mark("WAL held back", f": the slot holds back {state['retained'] / MIB:.0f} MiB, wal_status "
                  f"{state['wal_status']}, after {switches} calls of pg_switch_wal()")
        assert state["retained"] >= WAL_TARGET, (
            f"the slot holds back {state['retained'] / MIB:.0f} MiB after {switches} WAL switches, not "
            f"{WAL_TARGET / MIB:.0f}; other slots (MiB): "
            + repr({k: round(v / MIB) for k, v in state["others"].items()})
            + ": one that nobody confirms holds back WAL too (drop a slot no connector uses)")
        assert state["wal_status"] == "extended", f"wal_status {state['wal_status']} beyond max_wal_size"

    def run(self):
        self.check_prerequisites()
        self.setup()
        p = self.p
        self.connect("PUT", "/pause")
        self.paused = True
        self.wal_at_pause = self.lsn()
        self.mark("connector paused")
        self.overload = self.generator(OVERLOAD_QPS, "--seed", 6)
        self.mark("overload generator started", f" ({OVERLOAD_QPS} visits/s asked)")
        # the fault of the two other slot alerts, in the same pause (a few seconds)
        self.hold_back_wal()
        states = {"generator": "faulty", "connector": "faulty", "flink": "faulty", "crashloop": "waiting"}
        t_fault = {"generator": self.marks["connector paused"], "connector": self.marks["connector paused"],
                   "wal": self.marks["WAL held back"], "flink": self.marks["TaskManager killed"]}
        t_recover = {}
        while any(s in ("waiting", "faulty", "recovering", "settling") for s in states.values()):
            self.timeline.update(self.prom.alerts())
            now = self.now()
            for proc, what in ((self.overload, "overload generator"), (self.low, "low-rate generator")):
                if proc is not None and proc.poll() not in (None, 0):
                    raise AssertionError(f"the {what} exited {proc.returncode}:\n"
                                         f"{Path(proc.log_path).read_text()[-3000:]}")
            # the generator: behind its schedule -> a run it keeps up with
            if states["generator"] == "faulty":
                fired = self.timeline.firing("GeneratorBehindSchedule")
                if fired or now - t_fault["generator"] > FIRE_DEADLINE_S:
                    self.stop(self.overload)
                    self.figures["overload visits/s"] = self.achieved(self.overload)
                    self.low = self.generator(LOW_QPS, "--seed", 7)
                    states["generator"], t_recover["generator"] = "recovering", self.now()
                    self.mark("generator recovered", f": GeneratorBehindSchedule {'fired' if fired else 'DID NOT FIRE'}"
                              f"; generator now at {LOW_QPS} visits/s")
            elif states["generator"] == "recovering":
                if not self.timeline.still_active("GeneratorBehindSchedule"):
                    states["generator"] = "done"
                    self.mark("generator alert clear")
                elif now - t_recover["generator"] > CLEAR_DEADLINE_S:
                    states["generator"] = "stuck"
            # the connector: paused -> resumed -> its alerts clear -> connector and slot healthy again
            slot = self.slot() if states["connector"] in ("faulty", "recovering", "settling") else None
            if states["connector"] == "faulty":
                fired = (self.timeline.firing("KafkaConnectNotRunning", connector=p.name, task=None)
                         and self.timeline.firing("KafkaConnectNotRunning", connector=p.name, task="0")
                         and self.timeline.firing("DebeziumNoChangeEvents", name=p.prefix)
                         and self.timeline.firing("PostgresSlotNotConfirming", slot_name=p.slot)
                         and self.timeline.firing("PostgresSlotRetainedWalHigh", slot_name=p.slot)
                         and self.timeline.firing("PostgresSlotWalNotReserved", slot_name=p.slot,
                                                  wal_status="extended"))
                # (the generator's writes add to the held-back WAL: never near max_slot_wal_keep_size)
                unsafe = slot["retained"] >= WAL_SAFETY
                if fired or unsafe or now - t_fault["connector"] > FIRE_DEADLINE_S:
                    self.figures["retained WAL of the paused slot, max (MiB)"] = round((self.prom.value(
                        f'max_over_time(pg_replication_slot_retained_wal_bytes{{slot_name="{p.slot}"}}[5m])') or 0)
                        / MIB, 1)
                    wal = self.lsn() - self.wal_at_pause - self.wal_skipped
                    self.figures["WAL written during the pause (MiB)"] = round(wal / MIB, 1)
                    self.figures["pause (s)"] = round(now - t_fault["connector"], 1)
                    self.connect("PUT", "/resume")
                    self.paused = False
                    states["connector"], t_recover["connector"] = "recovering", self.now()
                    t_recover["wal"] = t_recover["connector"]
                    self.mark("connector resumed", ": connector and slot alerts " + (
                        "fired" if fired else "DID NOT ALL FIRE") + (
                        f"; RESUMED EARLY, the slot held back {slot['retained'] / MIB:.0f} MiB" if unsafe else ""))
            elif states["connector"] == "recovering":
                if not (self.timeline.still_active("KafkaConnectNotRunning", connector=p.name)
                        or self.timeline.still_active("DebeziumNoChangeEvents", name=p.prefix)
                        or self.timeline.still_active("PostgresSlotNotConfirming", slot_name=p.slot)
                        or self.timeline.still_active("PostgresSlotRetainedWalHigh", slot_name=p.slot)
                        or self.timeline.still_active("PostgresSlotWalNotReserved", slot_name=p.slot)):
                    states["connector"] = "settling"
                    self.mark("connector alerts clear", f" (the slot holds back {slot['retained'] / MIB:.1f} MiB)")
                elif now - t_recover["connector"] > CLEAR_DEADLINE_S:
                    states["connector"] = "stuck"
            elif states["connector"] == "settling":
                status = self.connect("GET", "/status").json()
                running = [status["connector"]["state"]] + [t["state"] for t in status["tasks"]]
                if (set(running) == {"RUNNING"} and slot["active"] and slot["wal_status"] == "reserved"
                        and slot["retained"] < HEALTHY_RETAINED):
                    self.slot_after = {**slot, "states": running}
                    self.mark("connector and slot healthy", f": RUNNING, slot active, reserved, "
                              f"{slot['retained'] / MIB:.1f} MiB held back")
                    states["connector"] = "done"
                elif now - t_recover["connector"] > CLEAR_DEADLINE_S:
                    self.slot_after = {**slot, "states": running}
                    states["connector"] = "stuck"
            # Flink: TaskManager killed -> started again
            if states["flink"] == "faulty":
                fired = all(self.timeline.firing("FlinkJobNotRunning", job_id=jid) for jid in self.jobs_before)
                if fired or now - t_fault["flink"] > FIRE_DEADLINE_S:
                    self.restarts_down = {r["metric"]["job_id"]: float(r["value"][1]) for r in self.prom.query(
                        f'flink_jobmanager_job_numRestarts{{job_id=~"{"|".join(self.jobs_before)}"}}')}
                    # (`restart` of a running TaskManager would stop it first: only start one that is not running)
                    running = self.taskmanager_pid()
                    self.tm_restart = subprocess.Popen(["true"] if running else [str(STACK), "restart", "taskmanager"],
                                                       env=self.stack_cmd_env, stdout=subprocess.PIPE,
                                                       stderr=subprocess.STDOUT, text=True)
                    states["flink"], t_recover["flink"] = "recovering", self.now()
                    self.mark("TaskManager started", ": FlinkJobNotRunning "
                              + ("fired for every job; " if fired else "DID NOT FIRE for every job; ")
                              + ("the TaskManager is running again (started by someone else)" if running
                                 else "scripts/stack restart taskmanager"))
            elif states["flink"] == "recovering":
                if self.tm_restart.poll() is not None and self.tm_restart.returncode != 0:
                    raise AssertionError(f"scripts/stack restart taskmanager failed:\n{self.tm_restart.stdout.read()}")
                if (self.tm_restart.poll() == 0
                        and not any(self.timeline.still_active("FlinkJobNotRunning", job_id=jid)
                                    for jid in self.jobs_before)
                        and self.jobs_all_running()):
                    self.killed = False
                    states["flink"] = "done"
                    self.mark("Flink alert clear", ", every job RUNNING again")
                elif now - t_recover["flink"] > CLEAR_DEADLINE_S:
                    states["flink"] = "stuck"
            # a crash loop: once the TaskManager is back, a job failing on a poison record -> cancelled
            if states["crashloop"] == "waiting":
                if states["flink"] in ("recovering", "done") and self.tm_restart.poll() == 0:
                    self.crash_jid = self.start_crash_loop()
                    states["crashloop"], t_fault["crashloop"] = "faulty", self.now()
                    self.mark("crash-looping job submitted", f" ({self.crash_jid}: fails on a poison record)")
                elif states["flink"] == "stuck":
                    states["crashloop"] = "stuck"
            elif states["crashloop"] == "faulty":
                fired = self.timeline.firing("FlinkJobRestarting", job_id=self.crash_jid)
                if fired or now - t_fault["crashloop"] > FIRE_DEADLINE_S:
                    self.figures["crash loop: restarts when cancelled"] = self.prom.value(
                        f'flink_jobmanager_job_numRestarts{{job_id="{self.crash_jid}"}}')
                    self.cancel_job(self.crash_jid)
                    states["crashloop"], t_recover["crashloop"] = "recovering", self.now()
                    self.mark("crash-looping job cancelled", ": FlinkJobRestarting " + (
                        "fired" if fired else "DID NOT FIRE"))
            elif states["crashloop"] == "recovering":
                if (not self.timeline.still_active("FlinkJobRestarting", job_id=self.crash_jid)
                        and self.job_state(self.crash_jid) == "CANCELED"):
                    states["crashloop"] = "done"
                    self.mark("crash-loop alert clear", ", the job CANCELED")
                elif now - t_recover["crashloop"] > CLEAR_DEADLINE_S:
                    states["crashloop"] = "stuck"
            time.sleep(POLL_S)
        self.states, self.t_fault, self.t_recover = states, t_fault, t_recover
        self.mark("scenario over")

    @staticmethod
    def achieved(proc):
        out = Path(proc.log_path).read_text()
        rates = re.findall(r"achieved ([\d.]+)/s", out)
        return float(rates[-1]) if rates else None

    # --- leave the stack as found
    def restore(self):
        for proc in (self.overload, self.low):
            self.stop(proc)
        if self.paused:
            try:
                self.connect("PUT", "/resume")
            except requests.RequestException as err:
                log(f"restore: resume failed: {err}")
        if self.tm_restart is not None and self.tm_restart.poll() is None:
            self.tm_restart.wait(300)
        if self.killed and not self.taskmanager_pid():
            res = subprocess.run([str(STACK), "restart", "taskmanager"], env=self.stack_cmd_env, capture_output=True,
                                 text=True, timeout=300)
            log(f"restore: scripts/stack restart taskmanager exited {res.returncode}")
        if self.jobs_before and not self.own_job:
            try:
                self.wait("every Flink job that ran before RUNNING again", self.jobs_all_running, 240)
            except AssertionError as err:
                log(f"restore: {err}")
        if self.crash_jid and self.job_state(self.crash_jid) not in ("CANCELED", "FAILED", None):
            try:
                self.cancel_job(self.crash_jid)
            except requests.RequestException as err:
                log(f"restore: the crash-looping job not cancelled: {err}")
        if self.own_job:
            res = subprocess.run([sys.executable, str(SUBMIT), "--topic-prefix", self.p.prefix, "--schema",
                                  self.p.schema, "--cancel"], env=self.p.env, capture_output=True, text=True,
                                 timeout=300)
            log(f"restore: own Flink job cancelled (exit {res.returncode})")
        self.p.cleanup()

    def summary(self):
        lines = []
        fault = getattr(self, "t_fault", {})
        recover = getattr(self, "t_recover", {})
        for e in sorted(self.timeline.alerts.values(), key=lambda e: (e["labels"]["alertname"], e["pending"] or 0)):
            name = e["labels"]["alertname"]
            labels = {k: v for k, v in e["labels"].items() if k not in ("alertname", "instance", "job", "severity")}
            line = f"  {name} {labels}: pending {e['pending']} s, firing {e['firing']} s, resolved {e['resolved']} s"
            domain = next((d for prefix, d in ALERT_FAULTS if name.startswith(prefix)), None)
            if e["firing"] is not None and domain in fault and e["firing"] >= fault[domain]:
                line += f" (fired {e['firing'] - fault[domain]:.1f} s after the fault"
                if e["resolved"] is not None and domain in recover:
                    line += f", cleared {e['resolved'] - recover[domain]:.1f} s after the recovery"
                line += ")"
            if e["resets"]:
                line += f", {e['resets']} pending spells without firing"
            lines.append(line)
        return ("alert timeline (seconds since the scenario began; faults: "
                + ", ".join(f"{k} at {v} s" for k, v in self.marks.items()) + ")\n" + "\n".join(lines)
                + "\nfigures: " + repr(self.figures))


@pytest.fixture(scope="module")
def scenario(stack_env, request, tmp_path_factory):
    if request.config.getoption("--stack") != "local":
        pytest.skip("kills and restarts the TaskManager with scripts/stack: local stack only")
    assert stack_env.get("PROMETHEUS_URL"), \
        "the stack's environment has no PROMETHEUS_URL (scripts/stack env prints it)"
    s = Scenario(stack_env, Prometheus(stack_env["PROMETHEUS_URL"]), tmp_path_factory.mktemp("alerts"))
    started = time.monotonic()
    try:
        s.run()
    finally:
        try:
            s.restore()
        finally:
            s.figures["retained WAL of the slot, max polled (MiB)"] = round(s.wal_max / MIB, 1)
            if s.slot_after:
                s.figures["slot after the recovery"] = s.slot_after
            s.figures["scenario incl. setup and cleanup (s)"] = round(time.monotonic() - started, 1)
            log(s.summary())
    return s


def fired_and_cleared(s, alertname, **labels):
    entries = s.timeline.find(alertname, **labels)
    assert entries, f"{alertname} {labels} never became active\n{s.summary()}"
    fired = [e for e in entries if e["firing"] is not None]
    assert fired, f"{alertname} {labels} was pending but never fired\n{s.summary()}"
    unresolved = [e for e in fired if e["resolved"] is None]
    assert not unresolved, f"{alertname} {labels} did not clear after the recovery\n{s.summary()}"
    return fired


@pytest.mark.timeout(SCENARIO_TIMEOUT_S)
def test_paused_connector_fires_connector_and_task_not_running_then_clears(scenario):
    s = scenario
    assert s.states["connector"] == "done", s.summary()
    connector = fired_and_cleared(s, "KafkaConnectNotRunning", connector=s.p.name, task=None)
    task = fired_and_cleared(s, "KafkaConnectNotRunning", connector=s.p.name, task="0")
    assert {e["labels"]["status"] for e in connector + task} == {"paused"}
    assert {e["labels"]["severity"] for e in connector + task} == {"warning"}
    for e in connector + task:
        assert e["firing"] >= s.t_fault["connector"] + 60, "fired before its `for: 1m`"
        assert e["resolved"] >= s.t_recover["connector"]


@pytest.mark.timeout(SCENARIO_TIMEOUT_S)
def test_paused_connector_fires_no_change_events_while_the_generator_writes_then_clears(scenario):
    s = scenario
    fired = fired_and_cleared(s, "DebeziumNoChangeEvents", name=s.p.prefix)
    for e in fired:
        assert e["firing"] >= s.t_fault["connector"] + 60, "no events for a minute cannot be seen sooner"
        assert e["resolved"] >= s.t_recover["connector"]
    # the slot's WAL was held back while paused: the series the slot alerts watch moved for this slot
    assert s.figures["retained WAL of the paused slot, max (MiB)"] > 1, s.summary()


@pytest.mark.timeout(SCENARIO_TIMEOUT_S)
def test_paused_connector_fires_slot_not_confirming_then_clears(scenario):
    """The paused connector's slot stops confirming while the generator writes: more than one WAL segment
    (16 MiB) behind for a whole minute fires PostgresSlotNotConfirming (its threshold as in the file)."""
    s = scenario
    fired = fired_and_cleared(s, "PostgresSlotNotConfirming", slot_name=s.p.slot)
    for e in fired:
        assert e["firing"] >= s.t_fault["connector"] + 60, "a minute of lag cannot be seen sooner"
        assert e["resolved"] >= s.t_recover["connector"]
    assert s.figures["WAL written during the pause (MiB)"] > 16, s.summary()


@pytest.mark.timeout(SCENARIO_TIMEOUT_S)
def test_held_back_wal_fires_slot_retained_wal_high_then_clears(scenario):
    """The paused slot holds back more than 512 MiB (hold_back_wal: about 1.15 GiB) for a minute:
    PostgresSlotRetainedWalHigh, threshold and `for:` as in the file; it clears when the resumed connector
    confirms again and the slot's restart_lsn moves on."""
    s = scenario
    fired = fired_and_cleared(s, "PostgresSlotRetainedWalHigh", slot_name=s.p.slot)
    assert {e["labels"]["severity"] for e in fired} == {"warning"}
    for e in fired:
        # (the slot passed 512 MiB during the switching, which began after the pause)
        assert e["firing"] >= s.marks["connector paused"] + 60, "fired before its `for: 1m`"
        assert e["resolved"] >= s.t_recover["wal"]
    assert s.figures["retained WAL after switching (MiB)"] > 1024, s.summary()


@pytest.mark.timeout(SCENARIO_TIMEOUT_S)
def test_held_back_wal_fires_slot_wal_not_reserved_extended_then_clears(scenario):
    """Beyond max_wal_size (1 GB) the slot's wal_status is `extended`: PostgresSlotWalNotReserved with
    severity warning (`for: 30s`), cleared when the slot is back within max_wal_size (`reserved`)."""
    s = scenario
    fired = fired_and_cleared(s, "PostgresSlotWalNotReserved", slot_name=s.p.slot)
    assert {e["labels"]["wal_status"] for e in fired} == {"extended"}, s.summary()
    assert {e["labels"]["severity"] for e in fired} == {"warning"}
    for e in fired:
        assert e["firing"] >= s.marks["connector paused"] + 30, "fired before its `for: 30s`"
        assert e["resolved"] >= s.t_recover["wal"]


@pytest.mark.timeout(SCENARIO_TIMEOUT_S)
def test_held_back_wal_stayed_far_from_invalidation_and_the_slot_recovered(scenario):
    """The held-back WAL never came near max_slot_wal_keep_size (2 GB, where PostgreSQL invalidates the slot
    and the connector must snapshot again), and after the recovery the stack is as other tests need it: the
    connector and its task RUNNING, the slot active, `reserved` and holding back a few MiB."""
    s = scenario
    assert s.wal_max < WAL_NEVER, f"the slot held back {s.wal_max / MIB:.0f} MiB\n{s.summary()}"
    assert s.slot_after is not None, s.summary()
    after = s.slot_after
    assert after["states"] == ["RUNNING", "RUNNING"], s.summary()
    assert after["active"] and after["wal_status"] == "reserved", s.summary()
    assert after["retained"] < HEALTHY_RETAINED, s.summary()
    assert s.states["connector"] == "done", s.summary()


@pytest.mark.timeout(SCENARIO_TIMEOUT_S)
def test_killed_taskmanager_fires_flink_job_not_running_then_clears(scenario):
    s = scenario
    assert s.states["flink"] == "done", s.summary()
    for jid, name in s.jobs_before.items():
        for e in fired_and_cleared(s, "FlinkJobNotRunning", job_id=jid):
            assert e["firing"] >= s.t_fault["flink"] + 60, "fired before its `for: 1m`"
            assert e["resolved"] >= s.t_recover["flink"], f"{name} cleared before the TaskManager was started"
    # (states["flink"] == "done" means every one of them ran all its tasks again before the scenario ended; the
    # stack's own jobs must still, while the test's own job, if it needed one, has been cancelled since)
    if not s.own_job:
        assert s.jobs_all_running(), s.summary()


@pytest.mark.timeout(SCENARIO_TIMEOUT_S)
def test_taskmanager_down_counts_restarts_for_flink_job_restarting(scenario):
    """Without a TaskManager the jobs fail and restart: the series FlinkJobRestarting reads
    (flink_jobmanager_job_numRestarts) counts them, and three within 10 minutes fire it. How often a job
    restarts while it waits for slots varies (every 10 s on a stack that ran for a while, once in the first
    minutes of a fresh one), so three are not required here; the promtool tests cover the rule's logic. It
    clears when the restarts leave its 10-minute window, which the test does not wait for."""
    s = scenario
    for jid, name in s.jobs_before.items():
        restarts = s.restarts_down.get(jid, 0) - s.restarts_before.get(jid, 0)
        assert restarts >= 1, f"{name}: no restart counted while the TaskManager was down\n{s.summary()}"
        fired = [e for e in s.timeline.find("FlinkJobRestarting", job_id=jid) if e["firing"] is not None]
        if restarts >= 3:
            assert fired, f"{name}: {restarts:.0f} restarts, FlinkJobRestarting did not fire\n{s.summary()}"
    s.figures["restarts while the TaskManager was down"] = {
        s.jobs_before[j]: s.restarts_down.get(j, 0) - s.restarts_before.get(j, 0) for j in s.jobs_before}


@pytest.mark.timeout(SCENARIO_TIMEOUT_S)
def test_crash_looping_job_fires_flink_job_restarting_then_clears_when_cancelled(scenario):
    """A job that fails on a poison record after every restart: FlinkJobRestarting fires once it has restarted
    three times (no `for:`), and clears as soon as the job is cancelled, not 10 minutes later."""
    s = scenario
    assert s.states["crashloop"] == "done", s.summary()
    for e in fired_and_cleared(s, "FlinkJobRestarting", job_id=s.crash_jid):
        assert e["firing"] >= s.t_fault["crashloop"], "fired before the job was submitted"
        assert e["resolved"] >= s.t_recover["crashloop"], "cleared before the job was cancelled"
        assert e["resolved"] - s.t_recover["crashloop"] < 60, "cleared only long after the job was cancelled"
    assert s.figures["crash loop: restarts when cancelled"] >= 3, s.summary()


@pytest.mark.timeout(SCENARIO_TIMEOUT_S)
def test_overloaded_generator_fires_behind_schedule_then_clears(scenario):
    s = scenario
    assert s.states["generator"] == "done", s.summary()
    for e in fired_and_cleared(s, "GeneratorBehindSchedule"):
        assert e["firing"] >= s.t_fault["generator"] + 30, "fired before its `for: 30s`"
        assert e["resolved"] >= s.t_recover["generator"]
