"""Every PromQL expression of the Grafana dashboard and of the alert rules, run against the stack's real
Prometheus while a seeded generator streams through the whole pipeline (stack tier).

No Grafana runs here, so this is what proves the dashboard: each panel target's `expr` (Grafana's
$__rate_interval replaced by 1m) must run without error and return at least one series. Each rule of
observability/prometheus/alerts.yml must run without error as it is, and with its condition taken away
(promql_exprs.series_checks: `> x` and the other comparisons, `and` / `unless` / `or` joins, `absent()`)
every remaining expression must return series: a healthy alert returns nothing by design, but the series
it watches must exist, or the alert could never fire. And every scrape target of
observability/prometheus/prometheus.yml must be up (up == 1), the generator's included, while the
generator runs.

The pipeline the generator feeds, so that the Debezium, Kafka and Flink series exist:
- reuse: a Debezium PostgreSQL connector of this stack is RUNNING and a Flink job is RUNNING (scripts/demo,
  compose): the generator appends to the connector's schema, nothing else is changed;
- own: otherwise (the test suite's fresh stack) a pipeline of this test's own (schema, topics, connector,
  slot, publication and one Flink job under a random prefix), removed at the end.
THELOOK_PROMQL_PIPELINE=reuse|own forces one (reuse fails if there is nothing to reuse).

The generator serves its metrics on the address Prometheus scrapes for the `generator` job (read from
Prometheus's targets: 127.0.0.1 and THELOOK_METRICS_PORT of the stack locally). If something already serves
there (a demo's generator) or the address is not this machine's (compose's generator service), that one
provides the generator series. Nothing waits a fixed time: the checks run in rounds until all pass or the
deadline.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
import requests
import yaml

import promql_exprs as px   # registered by conftest.py

ROOT = px.ROOT
BIN = Path(sys.executable).parent
REGISTER = ROOT / "scripts" / "register-connector"
SUBMIT = ROOT / "scripts" / "submit-flink-jobs"
SEED = 7
QPS = 20
RUN_CAP_S = 150             # the generator's --max_iter is QPS * this: it ends on its own if the test hangs
READY_DEADLINE_S = 75       # from the generator's start until every check passes
FLINK_JOB = "status_counts"  # the own pipeline's one Flink job (reads orders and order_items)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def log(msg):
    print(f"[promql-test {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ Prometheus

class Prometheus:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def query(self, expr):
        """("ok", result) | ("empty", None) | ("error", message)"""
        try:
            r = requests.post(f"{self.url}/api/v1/query", data={"query": expr}, timeout=10)
            body = r.json()
        except (requests.RequestException, ValueError) as err:
            return "error", f"Prometheus at {self.url} did not answer: {err}"
        if body.get("status") != "success":
            return "error", f"{body.get('errorType')}: {body.get('error')}"
        data = body["data"]
        if data["resultType"] in ("vector", "matrix"):
            return ("ok", data["result"]) if data["result"] else ("empty", None)
        value = data["result"][1]   # scalar or string
        return ("empty", None) if value in ("NaN", "") else ("ok", data["result"])

    def targets(self):
        r = requests.get(f"{self.url}/api/v1/targets", params={"state": "active"}, timeout=10)
        r.raise_for_status()
        return r.json()["data"]["activeTargets"]


def expected_targets():
    """{(job, instance)} of observability/prometheus/prometheus.yml."""
    config = yaml.safe_load(px.SCRAPE_CONFIG.read_text())
    out = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                out.add((job["job_name"], (static.get("labels") or {}).get("instance", target)))
    return out


@pytest.fixture(scope="module")
def prometheus(stack_env):
    url = stack_env.get("PROMETHEUS_URL")
    assert url, "the stack's environment has no PROMETHEUS_URL (scripts/stack env prints it)"
    try:
        requests.get(f"{url}/-/ready", timeout=10).raise_for_status()
    except requests.RequestException as err:
        pytest.fail(f"Prometheus at {url} is not ready: {err}")
    return Prometheus(url)


# ------------------------------------------------------------------ the workload

def tool_env(stack_env):
    """os.environ without THELOOK_* settings (each command gets its options explicitly), plus the stack."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THELOOK_")}
    env.update(stack_env)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def running_pipeline(stack_env):
    """(schema, topic prefix, connector) of a RUNNING Debezium PostgreSQL connector on this stack's database,
    if a Flink job is RUNNING too; else None."""
    try:
        connectors = requests.get(f"{stack_env['CONNECT_URL']}/connectors",
                                  params=[("expand", "status"), ("expand", "info")], timeout=10).json()
        jobs = requests.get(f"{stack_env['FLINK_URL']}/jobs/overview", timeout=10).json()["jobs"]
    except (requests.RequestException, ValueError, KeyError):
        return None
    if not any(job["state"] == "RUNNING" for job in jobs):
        return None
    found = []
    for name, c in connectors.items():
        config, status = c["info"]["config"], c["status"]
        if (config.get("connector.class") == "io.debezium.connector.postgresql.PostgresConnector"
                and status["connector"]["state"] == "RUNNING" and status["tasks"]
                and all(t["state"] == "RUNNING" for t in status["tasks"])
                and config.get("database.port") in ("${env:PGPORT}", str(stack_env["PGPORT"]))
                and config.get("table.include.list")):
            schema = config["table.include.list"].split(",")[0].strip().split(".")[0]
            found.append((name != "thelook-postgres", schema, config["topic.prefix"], name))
    return min(found)[1:] if found else None


def port_is_free(host, port):
    """Whether the generator could listen there: bound as its HTTP server binds (SO_REUSEADDR), so that the
    TIME_WAIT connections of a previous generator's scrapes do not count as a listener."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class Workload:
    """The seeded generator and, if needed, a pipeline of its own; stop() removes what it made."""

    def __init__(self, stack_env, prometheus, tmp_path):
        self.stack_env, self.prometheus, self.tmp = stack_env, prometheus, tmp_path
        self.env = tool_env(stack_env)
        self.generator = None
        self.own = None
        self.notes = []

    # --- where the generator's metrics go
    def metrics_address(self):
        scrape = [t["scrapeUrl"] for t in self.prometheus.targets() if t["labels"].get("job") == "generator"]
        assert scrape, "Prometheus has no target for the generator job"
        url = urlsplit(scrape[0])
        return url.hostname, url.port

    def start(self):
        mode = os.environ.get("THELOOK_PROMQL_PIPELINE", "auto")
        assert mode in ("auto", "reuse", "own"), f"THELOOK_PROMQL_PIPELINE={mode!r}: auto, reuse or own"
        existing = running_pipeline(self.stack_env) if mode != "own" else None
        if mode == "reuse" and not existing:
            pytest.fail("THELOOK_PROMQL_PIPELINE=reuse, but no Debezium connector with a Flink job is RUNNING on "
                        "this stack")
        host, port = self.metrics_address()
        self.metrics_host = "127.0.0.1" if host == "localhost" else host.strip("[]")
        serve = host in LOCAL_HOSTS and port_is_free(self.metrics_host, port)
        if not serve:
            self.notes.append(f"the generator series come from whatever serves {host}:{port} (not this test)")
        if existing:
            schema, prefix, connector = existing
            self.notes.append(f"reusing connector {connector} (schema {schema}, topics {prefix}.*) and the running "
                              f"Flink jobs")
            if serve:
                self.start_generator(schema, prefix, port, "--if_exists", "append", "--no-create-topic")
            return
        suffix = uuid.uuid4().hex[:8]
        self.own = {"schema": f"promql_{suffix}", "prefix": f"promql{suffix}", "connector": f"promql-{suffix}",
                    "slot": f"promql_{suffix}", "publication": f"promql_{suffix}_pub"}
        o = self.own
        self.notes.append(f"own pipeline: schema {o['schema']}, connector {o['connector']}, Flink job "
                          f"{o['prefix']}.analytics.{FLINK_JOB}")
        t0 = time.monotonic()
        self.start_generator(o["schema"], o["prefix"], port if serve else None, "--if_exists", "fail")
        self.wait_for_tables(o["schema"])
        log(f"tables of {o['schema']} there after {time.monotonic() - t0:.1f} s; registering the connector and "
            f"submitting the Flink job")
        register = subprocess.Popen(
            [sys.executable, str(REGISTER), "--name", o["connector"], "--schema", o["schema"], "--topic-prefix",
             o["prefix"], "--slot", o["slot"], "--publication", o["publication"], "--timeout", "120"],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        submit = subprocess.Popen(
            [sys.executable, str(SUBMIT), "--topic-prefix", o["prefix"], "--schema", o["schema"], "--job", FLINK_JOB,
             # Kafka as the TaskManager sees it (compose: kafka:19092)
             "--bootstrap-servers", self.stack_env.get("FLINK_KAFKA_BOOTSTRAP_SERVERS",
                                                       self.stack_env["KAFKA_BOOTSTRAP_SERVERS"])],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for what, proc in (("register-connector", register), ("submit-flink-jobs", submit)):
            out, _ = proc.communicate(timeout=240)
            assert proc.returncode == 0, f"{what} exited {proc.returncode}:\n{out[-3000:]}"
            log(f"{what} done after {time.monotonic() - t0:.1f} s")

    def start_generator(self, schema, prefix, port, *extra):
        cmd = [BIN / "thelook-datagen", "--schema", schema, "--topic-prefix", prefix, "--seed", SEED,
               "--avg-qps", QPS, "--max_iter", QPS * RUN_CAP_S, "--log-format", "json", "--status-interval", "5",
               *extra]
        if port is not None:
            cmd += ["--metrics-port", port, "--metrics-address", self.metrics_host]
        self.log_path = self.tmp / "generator.log"
        log("run " + " ".join(map(str, cmd[1:])))
        with open(self.log_path, "w") as out:
            self.generator = subprocess.Popen([str(c) for c in cmd], env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def generator_output(self):
        return self.log_path.read_text()[-3000:] if self.generator else ""

    def assert_generator_alive(self):
        if self.generator is not None and self.generator.poll() is not None:
            pytest.fail(f"the generator exited {self.generator.returncode} early:\n{self.generator_output()}")

    def sql(self, statement, params=None):
        e = self.stack_env
        conn = psycopg2.connect(host=e["PGHOST"], port=e["PGPORT"], user=e["PGUSER"], password=e["PGPASSWORD"],
                                dbname=e["PGDATABASE"], connect_timeout=10)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def wait_for_tables(self, schema, timeout=120):
        from thelook_datagen.tables import TABLES
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assert_generator_alive()
            n = self.sql("SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s)",
                         (schema, list(TABLES)))[0][0]
            if n == len(TABLES):
                return
            time.sleep(0.5)
        pytest.fail(f"the generator did not create the tables of {schema} within {timeout} s:\n"
                    f"{self.generator_output()}")

    def stop(self):
        if self.generator is not None and self.generator.poll() is None:
            self.generator.send_signal(signal.SIGTERM)
            try:
                self.generator.wait(30)
            except subprocess.TimeoutExpired:
                self.generator.kill()
        if self.own:
            self.remove_own_pipeline()

    def remove_own_pipeline(self):
        o = self.own
        cancel = subprocess.Popen([sys.executable, str(SUBMIT), "--topic-prefix", o["prefix"], "--schema", o["schema"],
                                   "--cancel"], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        delete = subprocess.Popen([sys.executable, str(REGISTER), "--name", o["connector"], "--delete", "--reset-offsets",
                                   "--timeout", "60"], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        for what, proc in (("submit-flink-jobs --cancel", cancel), ("register-connector --delete", delete)):
            try:
                out, _ = proc.communicate(timeout=180)
            except subprocess.TimeoutExpired:
                proc.kill()
                out = "(killed after 180 s)"
            if proc.returncode:
                log(f"cleanup: {what} exited {proc.returncode}: {out[-500:]}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                active = self.sql("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (o["slot"],))
                if not active:
                    break
                if not active[0][0]:
                    self.sql("SELECT pg_drop_replication_slot(%s)", (o["slot"],))
                    break
            except psycopg2.Error as err:
                log(f"cleanup: {str(err).strip()}")
            time.sleep(1)
        for statement in (f'DROP PUBLICATION IF EXISTS "{o["publication"]}"',
                          f'DROP SCHEMA IF EXISTS "{o["schema"]}" CASCADE'):
            try:
                self.sql(statement)
            except psycopg2.Error as err:
                log(f"cleanup: {str(err).strip()}")
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": self.stack_env["KAFKA_BOOTSTRAP_SERVERS"]})
        try:
            names = [t for t in admin.list_topics(timeout=10).topics
                     if t.startswith(o["prefix"] + ".") or t == f"__debezium-heartbeat.{o['prefix']}"]
            for fut in (admin.delete_topics(names, operation_timeout=30).values() if names else ()):
                try:
                    fut.result(30)
                except Exception as err:   # a topic already gone is fine
                    log(f"cleanup: {err}")
        except Exception as err:
            log(f"cleanup: topics not deleted: {err}")


# ------------------------------------------------------------------ the checks

def checks():
    """[(label, expr, must return series)]: the dashboard's targets, each rule as it is (must run), and the
    expressions under each rule (must return series)."""
    out = [(label, expr, True) for label, expr in px.dashboard_queries()]
    for label, expr, parts in px.rule_checks():
        out.append((f"{label} (as written)", expr, False))
        out += [(f"{label}, without its condition", part, True) for part in parts]
    return out


def target_problems(prometheus, expected):
    problems = []
    targets = prometheus.targets()
    seen = {(t["labels"].get("job"), t["labels"].get("instance")): t for t in targets}
    for job, instance in sorted(expected - set(seen)):
        problems.append(f"target job={job} instance={instance} of prometheus.yml is not scraped")
    for (job, instance), t in sorted(seen.items()):
        if t["health"] != "up":
            problems.append(f"target job={job} instance={instance} ({t['scrapeUrl']}) is {t['health']}: "
                            f"{t.get('lastError')}")
    status, result = prometheus.query("up")
    if status != "ok":
        problems.append(f"up: {status} {result or ''}")
    else:
        ups = {(s["metric"].get("job"), s["metric"].get("instance")): s["value"][1] for s in result}
        problems += [f"up{{job={job!r}, instance={instance!r}}} == {value}, not 1"
                     for (job, instance), value in sorted(ups.items()) if value != "1"]
        problems += [f"no up series for job={job} instance={instance}" for job, instance in sorted(expected - set(ups))]
    return problems


def run_round(prometheus, all_checks):
    """(failures, fatal): failures as lines; fatal True when an expression is malformed (no use waiting)."""
    failures, fatal = [], False
    for label, expr, needs_series in all_checks:
        status, detail = prometheus.query(expr)
        if status == "error":
            failures.append(f"{label}: ERROR {detail}\n    {expr}")
            fatal = fatal or detail.startswith("bad_data")
        elif status == "empty" and needs_series:
            failures.append(f"{label}: no series\n    {expr}")
    return failures, fatal


@pytest.mark.timeout(240)
def test_every_dashboard_and_alert_expression_returns_series(stack_env, prometheus, tmp_path):
    all_checks = checks()
    expected = expected_targets()
    n_dashboard = sum(1 for label, _, _ in all_checks if label.startswith("dashboard"))
    n_rules = len(px.rules())
    log(f"{len(all_checks)} queries: {n_dashboard} dashboard targets, {n_rules} rules as written (must run), "
        f"{len(all_checks) - n_dashboard - n_rules} expressions under the rules (must return series); "
        f"{len(expected)} scrape targets")
    t0 = time.monotonic()
    workload = Workload(stack_env, prometheus, tmp_path)
    try:
        workload.start()
        for note in workload.notes:
            log(note)
        started = time.monotonic()
        deadline = started + READY_DEADLINE_S
        rounds = 0
        while True:
            workload.assert_generator_alive()
            rounds += 1
            problems = target_problems(prometheus, expected)
            failures, fatal = run_round(prometheus, all_checks)
            if not problems and not failures:
                break
            if fatal or time.monotonic() > deadline:
                pytest.fail(f"after {rounds} rounds in {time.monotonic() - started:.0f} s "
                            f"({'; '.join(workload.notes)}):\n" + "\n".join(problems + failures))
            time.sleep(1)
        log(f"all {len(all_checks)} expressions returned series and all {len(expected)} targets are up, "
            f"{time.monotonic() - started:.1f} s after the workload started (round {rounds})")
    finally:
        workload.stop()
        log(f"done in {time.monotonic() - t0:.1f} s")
