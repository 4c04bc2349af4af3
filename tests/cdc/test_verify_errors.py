"""verify's bad inputs: one clear line on stderr, exit status 2, no traceback."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import free_port, one_line_error

pytestmark = pytest.mark.stack
BIN = Path(sys.executable).parent


def verify(stack_env, *args, **env_over):
    env = {**os.environ, **stack_env, **env_over}
    res = subprocess.run([str(BIN / "thelook-datagen"), "verify", "--quiet", *args], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    # exactly one line on stderr: nothing of librdkafka's own log (%3|...|FAIL|...) ahead of it
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    return one_line_error(res, "thelook-datagen verify: error: ")


def test_wrong_database_password(stack_env):
    assert "cannot connect to PostgreSQL" in verify(stack_env, PGPASSWORD="wrong-password")


def test_schema_without_tables(stack_env):
    assert "no theLook tables in schema 'no_such_schema_x'" in verify(stack_env, "--schema", "no_such_schema_x")


def test_unreachable_kafka(stack_env, tmp_path):
    # Needs some table to get as far as Kafka: a one-table schema of our own.
    import psycopg2
    conn = psycopg2.connect(host=stack_env["PGHOST"], port=stack_env["PGPORT"], user=stack_env["PGUSER"],
                            password=stack_env["PGPASSWORD"], dbname=stack_env["PGDATABASE"])
    conn.autocommit = True
    schema = f"cdct_verr_{os.getpid()}"
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".users (id bigint PRIMARY KEY)')
        port = free_port()
        line = verify(stack_env, "--schema", schema, "--bootstrap-servers", f"127.0.0.1:{port}",
                      "--kafka-timeout", "3")
        assert f"cannot reach Kafka at 127.0.0.1:{port}" in line
        line = verify(stack_env, "--schema", schema, "--topic-prefix", "no-such-prefix")
        assert "none of the topics no-such-prefix" in line
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()
