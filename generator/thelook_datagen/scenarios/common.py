"""What every scenario shares: the timeline, the target connector and its slot, PostgreSQL's WAL figures,
the scenario's own generator, a tail of the change topics (commit->Kafka latency), Prometheus, and the real
`thelook-datagen verify` at the end. Nothing here prints; every problem is a ScenarioError (a UserError)."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from . import ScenarioError
from ..ops import connector as connector_ops
from ..tables import HEARTBEAT, TABLES, topic_name

MIB = 2 ** 20


def mib(n):
    return f"{n / MIB:.1f} MiB"


# ---------------------------------------------------------------- the timeline

class Timeline:
    """Lines `[scenario +12.3s] what happened, figures`, kept for --json and passed to `say` as they come."""

    def __init__(self, say=None, clock=time.monotonic):
        self.clock = clock
        self.t0 = clock()
        self.say = say
        self.entries = []

    def now(self):
        return self.clock() - self.t0

    def note(self, text, **figures):
        t = round(self.now(), 1)
        self.entries.append({"t": t, "text": text, **figures})
        if self.say:
            self.say(f"[scenario +{t:.1f}s] {text}")
        return t


# ---------------------------------------------------------------- the connector

@dataclass
class Target:
    """The connector the scenario works on, as Kafka Connect has it."""
    name: str
    config: dict
    slot: str
    schema: str
    topic_prefix: str
    state: str


def target_connector(connect, name, schema=None, topic_prefix=None):
    """The registered connector `name`, RUNNING, with its slot, schema and topic prefix; schema and prefix
    given by the user must match its config. ScenarioError (one line) otherwise."""
    path = f"/connectors/{quote(name, safe='')}"
    reply = connect.send("GET", path + "/config")
    if reply.status == 404:
        raise ScenarioError(f"connector {name} is not registered on Kafka Connect at {connect.url}",
                            "register it with scripts/register-connector, or name another with {opt:connector}")
    if reply.status != 200:
        raise connect.refused("GET", path + "/config", reply)
    config = reply.body or {}
    status = connector_ops.get_status(connect, name) or {}
    states = [status.get("connector", {}).get("state")] + [t.get("state") for t in status.get("tasks", [])]
    if not connector_ops.is_running(status):
        raise ScenarioError(f"connector {name} is not RUNNING ({'/'.join(str(s) for s in states)})",
                            "resume or restart it first: scripts/register-connector")
    slot = config.get("slot.name") or "debezium"
    found_schema = connector_ops.schema_of(config.get("table.include.list"))
    prefix = config.get("topic.prefix")
    if schema and found_schema and schema != found_schema:
        raise ScenarioError(f"connector {name} captures schema {found_schema}, not {schema}",
                            "leave {opt:schema} out, or name the connector of that schema with {opt:connector}")
    if topic_prefix and prefix and topic_prefix != prefix:
        raise ScenarioError(f"connector {name} writes topics {prefix}.*, not {topic_prefix}.*",
                            "leave {opt:topic_prefix} out, or name the right connector with {opt:connector}")
    schema = schema or found_schema
    if not schema or not (topic_prefix or prefix):
        raise ScenarioError(f"connector {name}: cannot tell its schema or topic prefix from its config",
                            "pass {opt:schema} and {opt:topic_prefix}")
    return Target(name, config, slot, schema, topic_prefix or prefix, "RUNNING")


def wait_state(connect, name, wanted, timeout, tasks=None):
    """Waits until the connector's state is `wanted` (and, `tasks` given, its tasks' states are all that, with
    at least one task; tasks=() means no task at all). Returns the seconds waited."""
    t0 = time.monotonic()
    last = None
    while True:
        status = connector_ops.get_status(connect, name) or {}
        state = status.get("connector", {}).get("state")
        task_states = [t.get("state") for t in status.get("tasks", [])]
        last = f"{state}, tasks {task_states or 'none'}"
        if state == wanted and (tasks is None or (tasks == () and not task_states)
                                or (task_states and all(s == tasks for s in task_states))):
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise ScenarioError(f"connector {name} not {wanted} within {timeout:g} s (it is {last})")
        time.sleep(0.25)


# ---------------------------------------------------------------- PostgreSQL

class Postgres:
    """One autocommit connection for the scenario's probes."""

    def __init__(self, conn_kw):
        import psycopg2
        try:
            self.conn = psycopg2.connect(**conn_kw)
        except psycopg2.OperationalError as err:
            first = (str(err).strip().splitlines() or ["connection failed"])[0]
            raise ScenarioError(f"cannot connect to PostgreSQL: {first}",
                                "is the stack running? scripts/stack status; or set {opt:host}, {opt:port}") from None
        self.conn.autocommit = True

    def one(self, sql, params=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()

    def wal_lsn(self):
        """The current WAL position as a byte count."""
        return int(self.one("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")[0])

    def slot(self, name):
        """{retained, confirmed_lag, active, wal_status, confirmed_flush} of slot `name` (bytes), or None."""
        row = self.one("SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint, "
                       "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint, active, "
                       "wal_status, pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::bigint "
                       "FROM pg_replication_slots WHERE slot_name = %s", (name,))
        if row is None:
            return None
        return {"retained": int(row[0]), "confirmed_lag": int(row[1]), "active": row[2], "wal_status": row[3],
                "confirmed_flush": int(row[4]) if row[4] is not None else None}

    def slot_limit(self):
        """max_slot_wal_keep_size in bytes, or None when unlimited (-1)."""
        setting, unit = self.one("SELECT setting, unit FROM pg_settings WHERE name = 'max_slot_wal_keep_size'")
        value = int(setting)
        if value < 0:
            return None
        return value * {"kB": 1024, "MB": MIB, "GB": 1024 * MIB}.get(unit or "MB", MIB)

    def tables_exist(self, schema):
        return int(self.one("SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s)",
                            (schema, list(TABLES)))[0])

    def close(self):
        self.conn.close()


def newest_event_id(pg, schema):
    """The highest id of the schema's events table (None when empty): every visit writes events."""
    from psycopg2 import sql
    with pg.conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT max(id) FROM {}.events").format(sql.Identifier(schema)))
        return cur.fetchone()[0]


def require_slot(pg, slot, connector):
    state = pg.slot(slot)
    if state is None:
        raise ScenarioError(f"replication slot {slot} of connector {connector} does not exist in this database",
                            "is {opt:host}/{opt:db} the connector's database?")
    return state


# ---------------------------------------------------------------- environment of the child commands

def child_env(settings):
    """os.environ with the scenario's PostgreSQL and Kafka settings as the variables the generator and verify
    read (the password stays out of the command line); the generator's metrics port and control are removed
    (a demo's generator may hold them)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("THELOOK_METRICS_PORT", "THELOOK_CONTROL", "THELOOK_SCHEMA", "THELOOK_TOPIC_PREFIX")
           and not k.startswith("THELOOK_KAFKA_CONFIG_")}
    for var, value in (("PGHOST", settings.host), ("PGPORT", settings.port), ("PGUSER", settings.user),
                       ("PGPASSWORD", settings.password), ("PGDATABASE", settings.db),
                       ("KAFKA_BOOTSTRAP_SERVERS", settings.bootstrap_servers)):
        if value is not None:
            env[var] = str(value)
    for key, value in (settings.kafka_config or {}).items():
        env["THELOOK_KAFKA_CONFIG_" + key.upper().replace(".", "_")] = value
    # this package, also when it runs from a checkout without being installed (scripts/scenario's fallback)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def datagen_command():
    return [sys.executable, "-m", "thelook_datagen"]


# ---------------------------------------------------------------- the scenario's own generator

class Generator:
    """`thelook-datagen --avg-qps RATE --seed SEED` on the target's schema, in the background, its JSON lines
    in a temporary file."""

    def __init__(self, settings, target, env):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="thelook-scenario-gen-", suffix=".log", delete=False)
        self.cmd = datagen_command() + [
            "--schema", target.schema, "--topic-prefix", target.topic_prefix, "--avg-qps", f"{settings.rate:g}",
            "--seed", str(settings.seed), "--if_exists", "append", "--max_iter", "-1", "--no-create-topic",
            "--log-format", "json", "--status-interval", "5"]
        self.proc = subprocess.Popen(self.cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    @classmethod
    def start_writing(cls, settings, target, env, pg, timeline):
        """A generator started and seen committing (wait_writing), as the timeline says; None with
        --no-generator. One that does not commit in time is stopped before the error goes up."""
        if settings.no_generator:
            return None
        since = newest_event_id(pg, target.schema)
        gen = cls(settings, target, env)
        try:
            waited = gen.wait_writing(pg, target.schema, since)
        except BaseException:   # the caller has no handle on it yet to stop it
            gen.stop()
            raise
        timeline.note(f"generator writing: {settings.rate:g} visits/s, seed {settings.seed} ({waited:.1f} s "
                      "after its start)")
        return gen

    def alive(self):
        return self.proc.poll() is None

    def wait_writing(self, pg, schema, since_id, timeout=90.0):
        """Waits until the generator has committed visits (events beyond id `since_id`, read before it
        started): its start (imports, connection, reference data) takes seconds, more on a loaded machine, and
        figures measured before its first commit would be of an idle database. Returns the seconds waited."""
        t0 = time.monotonic()
        while True:
            self.check()
            if (newest_event_id(pg, schema) or 0) > (since_id or 0):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise ScenarioError(f"the scenario's generator committed no visit within {timeout:g} s")
            time.sleep(0.25)

    def records(self):
        out = []
        for line in Path(self.log.name).read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": "text", "message": line})
        return out

    def last_error(self):
        for r in reversed(self.records()):
            if r.get("event") in ("error", "text", "warning"):
                return r.get("message") or str(r)
        return f"exit status {self.proc.returncode}"

    def check(self):
        if not self.alive():
            raise ScenarioError(f"the scenario's generator exited ({self.proc.returncode}): {self.last_error()}")

    def stop(self, timeout=30):
        """SIGTERM (it finishes its visit and prints its summary); returns the summary record or None."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        summary = next((r for r in reversed(self.records()) if r.get("event") == "summary"), None)
        return summary

    def stopped_summary(self, timeline):
        """Stops the generator at the end of a scenario; its figures for the summary (None without them), noted."""
        summary = self.stop()
        timeline.note("generator stopped" + (f": {summary['visits']} visits, {summary['rows']} rows, "
                                             f"{summary['visits_per_s']:.1f} visits/s" if summary else ""))
        return {k: summary.get(k) for k in ("visits", "visits_per_s", "rows", "errors")} if summary else None

    def cleanup(self, timeline):
        """The `finally` of every scenario: a generator still running is stopped (noted), its log removed."""
        if self.alive():
            self.stop()
            timeline.note("cleanup: generator stopped")
        self.remove_log()

    def remove_log(self):
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


# ---------------------------------------------------------------- the change topics

class ChangeTail:
    """Reads the target's change topics from their end offsets at start, in a thread, and keeps per streamed
    change (op c/u/d, the heartbeat table left out as in verify) its commit time (source.ts_ms) and its Kafka
    record timestamp, so that the commit->Kafka latency of any window of commits can be told afterwards."""

    def __init__(self, settings, target):
        from confluent_kafka import Consumer, KafkaException, TopicPartition
        from ..kafka_client import quiet_logger, reason
        conf = {"bootstrap.servers": settings.bootstrap_servers, "group.id": f"thelook-scenario-{os.getpid()}",
                "enable.auto.commit": False, "enable.partition.eof": False, "fetch.wait.max.ms": 100,
                "socket.connection.setup.timeout.ms": 10000, "logger": quiet_logger(),
                # a cluster's broker killed: the client learns its partitions' new leaders from a metadata
                # refresh, which it otherwise makes every 5 minutes (it keeps calling the dead leader meanwhile)
                "topic.metadata.refresh.interval.ms": 2000,
                **(settings.kafka_config or {})}
        self.consumer = Consumer(conf)
        # the end offsets are asked for with a consumer of their own: a call on the tailing one waits behind
        # its fetches (seconds per partition)
        self.probe = Consumer(dict(conf, **{"group.id": conf["group.id"] + "-probe"}))
        topics = [topic_name(target.topic_prefix, target.schema, t) for t in TABLES if t != HEARTBEAT]
        try:
            meta = self.consumer.list_topics(timeout=settings.kafka_timeout)
        except KafkaException as err:
            self.close_clients()
            raise ScenarioError(f"cannot reach Kafka at {settings.bootstrap_servers}: {reason(err)}",
                                "start the broker or fix {opt:bootstrap_servers}") from None
        parts = [TopicPartition(t, p) for t in topics if t in meta.topics for p in meta.topics[t].partitions]
        if not parts:
            self.close_clients()
            raise ScenarioError(f"none of the topics {target.topic_prefix}.{target.schema}.<table> exists on "
                                f"{settings.bootstrap_servers}", "is the connector streaming?")
        for tp in parts:
            _, high = self.probe.get_watermark_offsets(tp, timeout=settings.kafka_timeout)
            tp.offset = high
        self.start = {(tp.topic, tp.partition): tp.offset for tp in parts}
        self.positions = dict(self.start)     # next offset to read per partition (kept by the thread)
        self.parts = parts
        self.consumer.assign(parts)
        self.events = []            # (source_ts_ms, kafka_ts_ms) of each change's first delivery
        # a change delivered again (at-least-once: a task resumed from an older offset) is counted, not kept:
        # a change is its topic, its LSN (source.lsn, unique per change in the WAL) and its record key
        self.seen = set()
        self.duplicates = 0
        self.lock = threading.Lock()
        self.records = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="scenario-tail", daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                batch = self.consumer.consume(1000, 0.2)
            except Exception:           # the broker restarting: keep trying until stopped
                time.sleep(0.5)
                continue
            found = []
            read = {}
            repeated = 0
            for m in batch:
                if m.error():
                    continue
                read[(m.topic(), m.partition())] = m.offset() + 1
                if m.value() is None:
                    continue
                ts_type, ts = m.timestamp()
                try:
                    event = json.loads(m.value())
                except ValueError:
                    continue
                event = event.get("payload", event) if isinstance(event, dict) else {}
                source = event.get("source") or {}
                if event.get("op") in ("c", "u", "d") and source.get("ts_ms") is not None and ts_type:
                    identity = (m.topic(), source.get("lsn"), m.key())
                    if identity in self.seen:
                        repeated += 1
                        continue
                    self.seen.add(identity)
                    found.append((int(source["ts_ms"]), int(ts)))
            with self.lock:
                self.duplicates += repeated
                self.records += len(batch)
                self.events.extend(found)
                self.positions.update(read)

    def newest(self):
        """(source_ts_ms, kafka_ts_ms) of the change read last, or None."""
        with self.lock:
            return self.events[-1] if self.events else None

    def between(self, start_ms, end_ms):
        """[(source_ts_ms, kafka_ts_ms)] of the changes committed within [start_ms, end_ms]."""
        with self.lock:
            return [e for e in self.events if start_ms <= e[0] <= end_ms]

    def read_up_to_now(self, timeout=30.0):
        """Waits until the consumer has read up to the topics' end offsets of this moment."""
        from confluent_kafka import KafkaException
        ends = {}
        deadline = time.monotonic() + timeout
        for tp in self.parts:
            while (tp.topic, tp.partition) not in ends:
                try:
                    _, high = self.probe.get_watermark_offsets(tp, timeout=10, cached=False)
                    ends[(tp.topic, tp.partition)] = high
                except KafkaException:
                    # a partition whose leader just moved (a broker lost): the client keeps asking the old
                    # leader until its metadata is refreshed, which a metadata request of the topic does
                    if time.monotonic() > deadline:
                        raise
                    try:
                        self.probe.list_topics(tp.topic, timeout=5)
                    except KafkaException:
                        time.sleep(0.5)
        while time.monotonic() < deadline:
            # (the positions the tailing thread keeps: asking its consumer from here waits behind its fetches)
            with self.lock:
                positions = dict(self.positions)
            if all(positions.get(k, -1) >= v for k, v in ends.items()):
                return True
            time.sleep(0.2)
        return False

    def close(self):
        self._stop.set()
        self.thread.join(5)
        self.close_clients()

    def close_clients(self):
        for client in (self.consumer, self.probe):
            try:
                client.close()
            except Exception:
                pass


# ---------------------------------------------------------------- Prometheus

def prometheus_value(url, query, timeout=3.0):
    """The first series' value of an instant query, or None (no Prometheus, no series)."""
    if not url:
        return None
    import requests
    try:
        reply = requests.get(url.rstrip("/") + "/api/v1/query", params={"query": query}, timeout=timeout)
        result = reply.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None
    except Exception:
        return None


def prometheus_vector(url, query, timeout=3.0):
    """{instance label: value} of an instant query, {} without Prometheus or series."""
    import requests
    try:
        reply = requests.get(url.rstrip("/") + "/api/v1/query", params={"query": query}, timeout=timeout)
        return {r["metric"].get("instance"): float(r["value"][1]) for r in reply.json()["data"]["result"]}
    except Exception:
        return {}


# ---------------------------------------------------------------- verify

@dataclass
class VerifyResult:
    status: int
    seconds: float
    report: dict = field(default_factory=dict)
    output: str = ""

    @property
    def ok(self):
        return self.status == 0 and bool(self.report.get("ok"))

    def line(self):
        if self.report:
            return self.report.get("verdict", "")
        lines = [ln for ln in self.output.splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit status {self.status}"

    def summary(self):
        r = self.report
        return {"exit_status": self.status, "ok": self.ok, "seconds": round(self.seconds, 1),
                "verdict": self.line(), "rows": r.get("rows"), "events": r.get("events"),
                "latency_ms": r.get("latency"),
                # per table, the columns whose values the topics do not hold (Debezium's placeholder), with rows
                "not_captured": {t["table"]: t["not_captured"] for t in r.get("tables", []) if t.get("not_captured")}}


def run_verify(settings, target, env, timeout):
    """The real `thelook-datagen verify` on the target's schema, prefix and slot; its JSON report read back."""
    with tempfile.TemporaryDirectory(prefix="thelook-scenario-verify-") as tmp:
        report = Path(tmp) / "verify.json"
        cmd = datagen_command() + ["verify", "--schema", target.schema, "--topic-prefix", target.topic_prefix,
                                   "--slot", target.slot, "--timeout", f"{timeout:g}", "--json", str(report),
                                   "--quiet"]
        t0 = time.monotonic()
        try:
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout + 300)
        except subprocess.TimeoutExpired:
            return VerifyResult(2, time.monotonic() - t0, {}, f"verify did not finish within {timeout + 300:g} s")
        try:
            data = json.loads(report.read_text()) if report.exists() else {}
        except ValueError:
            data = {}
        return VerifyResult(res.returncode, time.monotonic() - t0, data, res.stdout + res.stderr)


# ---------------------------------------------------------------- the end of every scenario

def finish(settings, target, env, timeline, result, verify_expected_ok=True):
    """The end every scenario shares: the real `thelook-datagen verify` on the target, then (where Flink jobs
    of the target's topic prefix run) their results compared with PostgreSQL (flink_check). Fills
    result["verify"] (and "verify_output" when it is not OK) and result["flink"]; returns True when verify's
    outcome is the expected one (OK, or FAILED when verify_expected_ok is False) and Flink's results, where
    compared, equal PostgreSQL's."""
    timeline.note(f"verify: thelook-datagen verify --schema {target.schema} --topic-prefix "
                  f"{target.topic_prefix} --slot {target.slot}")
    verified = run_verify(settings, target, env, settings.verify_timeout)
    result["verify"] = verified.summary()
    timeline.note(f"verify exit {verified.status} in {verified.seconds:.1f} s: {verified.line()}")
    if verified.ok != verify_expected_ok:
        result["verify_output"] = verified.output[-4000:]
    from .flink_check import compare_if_running
    flink = compare_if_running(settings, target, timeline)
    result["flink"] = flink
    return verified.ok == verify_expected_ok and (flink is None or flink["equal"])
