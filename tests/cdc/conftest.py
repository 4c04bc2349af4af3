"""An isolated CDC pipeline per test: its own schema, topic prefix, connector, slot and publication.

`pipeline` gives a Pipeline whose names share one random suffix. It runs the real generator
(thelook-datagen), registers the real connector (scripts/register-connector) and runs the real
verify; at the end it deletes the connector, drops the slot, the publication and the schema, and
deletes the topics.
"""
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
from thelook_datagen.tables import TABLES

ROOT = Path(__file__).resolve().parents[2]
REGISTER = ROOT / "scripts" / "register-connector"
STACK = ROOT / "scripts" / "stack"
BIN = Path(sys.executable).parent


def log(msg):
    print(f"[cdc-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Pipeline:
    def __init__(self, stack_env, tmp_path):
        suffix = uuid.uuid4().hex[:8]
        self.schema = f"cdct_{suffix}"
        self.prefix = f"cdct{suffix}"
        self.name = f"cdct-{suffix}"
        self.slot = f"cdct_{suffix}_slot"
        self.publication = f"cdct_{suffix}_pub"
        self.stack_env = stack_env
        self.tmp = tmp_path
        self.env = dict(os.environ, **stack_env)
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
            return requests.get(f"{self.stack_env['CONNECT_URL']}/connectors/{self.name}/status", timeout=10).text
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


@pytest.fixture
def pipeline(stack_env, tmp_path):
    p = Pipeline(stack_env, tmp_path)
    log(f"pipeline schema={p.schema} prefix={p.prefix} connector={p.name} slot={p.slot}")
    try:
        yield p
    finally:
        p.cleanup()
