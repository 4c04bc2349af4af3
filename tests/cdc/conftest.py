"""An isolated CDC pipeline per test: its own schema, topic prefix, connector, slot and publication.

`pipeline` gives a Pipeline whose names share one random suffix. It runs the real generator
(thelook-datagen), registers the real connector (scripts/register-connector) and runs the real
verify; at the end it deletes the connector, drops the slot, the publication and the schema, and
deletes the topics.

Two PostgreSQL majors: by default a pipeline uses the stack's PostgreSQL (.env's POSTGRES_VERSION). A test
parametrised with `pg_server` (see PG_SERVERS) also runs against a second server of another major
(POSTGRES_SECOND_VERSION, or THELOOK_PG_SECOND_VERSION): only PostgreSQL, started once per session as its own
`scripts/stack up --only postgres` instance (own data dir and port, same Maven artifact), captured by a
connector on the stack's own Connect and Kafka.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
from testkit import PINNED_PG, SECOND_PG, free_port
from thelook_datagen.tables import TABLES

ROOT = Path(__file__).resolve().parents[2]
REGISTER = ROOT / "scripts" / "register-connector"
STACK = ROOT / "scripts" / "stack"
BIN = Path(sys.executable).parent




def log(msg):
    print(f"[cdc-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Pipeline:
    def __init__(self, stack_env, tmp_path, server=None):
        suffix = uuid.uuid4().hex[:8]
        self.schema = f"cdct_{suffix}"
        self.prefix = f"cdct{suffix}"
        self.name = f"cdct-{suffix}"
        self.slot = f"cdct_{suffix}_slot"
        self.publication = f"cdct_{suffix}_pub"
        self.tmp = tmp_path
        self.connector_file = None
        if server:
            # the second server: its PG* settings, its stack instance (for `scripts/stack restart postgres`)
            # and a connector whose port is the second server's (the Connect worker's PGPORT is the stack's)
            stack_env = {**stack_env, **server["pg"]}
            doc = json.loads((ROOT / "connectors" / "thelook-postgres.json").read_text())
            doc["config"]["database.port"] = server["pg"]["PGPORT"]
            self.connector_file = tmp_path / "connector.json"
            self.connector_file.write_text(json.dumps(doc))
        self.stack_env = stack_env
        self.env = dict(os.environ, **stack_env, **(server["stack"] if server else {}))
        self.env["PATH"] = f"{BIN}{os.pathsep}{self.env.get('PATH', '')}"
        self.procs = []

    # --- the real components -------------------------------------------------------------
    def generator(self, *args, background=False, timeout=300):
        cmd = [str(BIN / "thelook-datagen"), "--schema", self.schema, "--topic-prefix", self.prefix,
               "--quiet", *map(str, args)]
        log("run " + " ".join(cmd[1:]))
        out = open(self.tmp / f"generator-{len(self.procs)}.log", "w")
        proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, text=True)
        proc.log_path = out.name
        self.procs.append(proc)
        if not background:
            self.wait(proc, timeout)
        return proc

    def wait(self, proc, timeout=300):
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            raise AssertionError(f"generator still running after {timeout}s:\n{Path(proc.log_path).read_text()[-3000:]}")
        assert rc == 0, f"generator exited {rc}:\n{Path(proc.log_path).read_text()[-3000:]}"
        return Path(proc.log_path).read_text()

    def register(self, *extra, timeout=120, check=True):
        cmd = [sys.executable, str(REGISTER), "--name", self.name, "--schema", self.schema,
               "--topic-prefix", self.prefix, "--slot", self.slot, "--publication", self.publication,
               "--timeout", str(timeout), *extra]
        if self.connector_file:
            cmd += ["--file", str(self.connector_file)]
        res = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout + 60)
        log(f"register-connector rc={res.returncode}: {res.stdout.strip().splitlines()[-1:]} {res.stderr.strip().splitlines()[-1:]}")
        if check:
            assert res.returncode == 0, f"register-connector failed:\n{res.stdout}\n{res.stderr}"
        return res

    def verify(self, *extra, timeout=300):
        report = self.tmp / f"verify-{uuid.uuid4().hex[:6]}.json"
        cmd = [str(BIN / "thelook-datagen"), "verify", "--schema", self.schema, "--topic-prefix", self.prefix,
               "--slot", self.slot, "--timeout", str(timeout), "--json", str(report), "--quiet", *extra]
        t0 = time.monotonic()
        res = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout + 120)
        log(f"verify rc={res.returncode} in {time.monotonic() - t0:.1f}s")
        print(res.stdout, res.stderr, flush=True)
        data = json.loads(report.read_text()) if report.exists() else None
        return res, data

    def connector_status(self):
        """Connect's view of the connector, for failure messages (UNASSIGNED after a worker rejoin means the
        worker waits scheduled.rebalance.max.delay.ms before giving the connector back)."""
        import requests
        try:
            return requests.get(f"{self.stack_env['CONNECT_URL'].split(',')[0]}/connectors/{self.name}/status", timeout=10).text
        except requests.RequestException as err:
            return f"Connect unreachable: {err}"

    def stack(self, *args, timeout=300):
        log("scripts/stack " + " ".join(args))
        res = subprocess.run([str(STACK), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        assert res.returncode == 0, f"scripts/stack {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
        return res

    # --- PostgreSQL helpers --------------------------------------------------------------
    def sql(self, query, params=None):
        conn = psycopg2.connect(host=self.stack_env["PGHOST"], port=self.stack_env["PGPORT"],
                                user=self.stack_env["PGUSER"], password=self.stack_env["PGPASSWORD"],
                                dbname=self.stack_env["PGDATABASE"], connect_timeout=10)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def wait_for_tables(self, timeout=180):
        """The generator creates the tables on start; the connector's filtered publication needs all of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                present = self.sql("SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s)",
                                   (self.schema, list(TABLES)))[0][0]
                if present == len(TABLES):
                    return
            except psycopg2.OperationalError:
                pass
            for p in self.procs:
                if p.poll() not in (None, 0):
                    raise AssertionError(f"generator exited {p.returncode}:\n{Path(p.log_path).read_text()[-3000:]}")
            time.sleep(0.5)
        raise AssertionError(f"tables of schema {self.schema} not created within {timeout}s")

    def wait_until_streaming(self, table="orders", minimum=1, timeout=120):
        """Waits until the connector has delivered `minimum` streamed changes (not snapshot reads) of a table."""
        from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
        c = Consumer({"bootstrap.servers": self.stack_env["KAFKA_BOOTSTRAP_SERVERS"],
                      "group.id": f"cdct-wait-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False})
        try:
            topic = f"{self.prefix}.{self.schema}.{table}"
            parts = c.list_topics(topic, timeout=10).topics[topic].partitions
            c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
            seen = 0
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for m in c.consume(500, 0.5):
                    if m.error() or m.value() is None:
                        continue
                    if json.loads(m.value()).get("op") in ("c", "u", "d"):
                        seen += 1
                if seen >= minimum:
                    return seen
            raise AssertionError(f"no streamed change on {topic} within {timeout}s")
        finally:
            c.close()

    # --- cleanup -------------------------------------------------------------------------
    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        subprocess.run([sys.executable, str(REGISTER), "--name", self.name, "--delete", "--reset-offsets",
                        "--timeout", "30"],
                       env=self.env, capture_output=True, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                active = self.sql("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (self.slot,))
                if not active:
                    break
                if not active[0][0]:
                    self.sql("SELECT pg_drop_replication_slot(%s)", (self.slot,))
                    break
            except psycopg2.Error as err:
                log(f"cleanup: {str(err).strip()}")
            time.sleep(1)
        for stmt in (f'DROP PUBLICATION IF EXISTS "{self.publication}"', f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'):
            try:
                self.sql(stmt)
            except psycopg2.Error as err:
                log(f"cleanup: {str(err).strip()}")
        self.delete_topics()

    def delete_topics(self):
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": self.stack_env["KAFKA_BOOTSTRAP_SERVERS"]})
        try:
            names = [t for t in admin.list_topics(timeout=10).topics
                     if t.startswith(self.prefix + ".") or t == f"__debezium-heartbeat.{self.prefix}"]
            if names:
                for fut in admin.delete_topics(names, operation_timeout=30).values():
                    try:
                        fut.result(30)
                    except Exception as err:  # a topic already gone is fine
                        log(f"cleanup: {err}")
        except Exception as err:
            log(f"cleanup: topics not deleted: {err}")


@pytest.fixture(scope="session")
def second_postgres(stack_env, request):
    """A PostgreSQL of the second major next to the stack: `scripts/stack up --only postgres` with its own data
    dir (enterable by the postgres OS user), a free port and THELOOK_PG_VERSION; wiped at the end."""
    if request.config.getoption("--stack") != "local":
        pytest.skip("the second PostgreSQL runs next to the local stack only")
    data = Path(tempfile.mkdtemp(prefix="thelook-pg-second-", dir="/tmp"))
    data.chmod(0o755)
    stack = {"THELOOK_STACK_DIR": str(data), "THELOOK_PG_PORT": str(free_port()), "THELOOK_PG_VERSION": SECOND_PG}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("THELOOK_") or k in ("THELOOK_CACHE_DIR", "THELOOK_MAVEN_REPO")}
    env.update(stack)
    t0 = time.monotonic()
    try:
        res = subprocess.run([str(STACK), "up", "--only", "postgres"], env=env, capture_output=True, text=True,
                             timeout=900)
        assert res.returncode == 0, f"second PostgreSQL {SECOND_PG} did not start:\n{res.stderr[-3000:]}"
        out = subprocess.run([str(STACK), "env"], env=env, capture_output=True, text=True, check=True).stdout
        pg = {line.split("=", 1)[0][len("export "):]: line.split("=", 1)[1] for line in out.splitlines()
              if line.startswith("export PG")}
        log(f"second PostgreSQL {SECOND_PG} on port {pg['PGPORT']} up in {time.monotonic() - t0:.1f}s")
        yield {"pg": pg, "stack": stack, "version": SECOND_PG}
    finally:
        subprocess.run([str(STACK), "down", "--wipe"], env=env, capture_output=True, text=True, timeout=300)
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def pg_server(request):
    """None for the stack's own PostgreSQL; the second_postgres fixture's value for param "second"."""
    if getattr(request, "param", "pinned") == "second":
        return request.getfixturevalue("second_postgres")
    return None


@pytest.fixture
def pipeline(stack_env, tmp_path, pg_server):
    p = Pipeline(stack_env, tmp_path, pg_server)
    log(f"pipeline schema={p.schema} prefix={p.prefix} connector={p.name} slot={p.slot} "
        f"postgres={pg_server['version'] if pg_server else PINNED_PG}")
    try:
        yield p
    finally:
        p.cleanup()
