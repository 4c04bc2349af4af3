"""PostgreSQL restarts mid-run: the generator says so, retries with backoff and carries on,
with no half-written and no duplicated visit.

The restart goes through `scripts/stack restart postgres` (the local stack), or through the shell
command in THELOOK_TEST_PG_RESTART when the tests point at another server.
"""
import os
import signal
import subprocess
import time

import pytest
from testkit import watch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
pytestmark = [pytest.mark.stack, pytest.mark.slow]


def restart_postgres():
    command = os.environ.get("THELOOK_TEST_PG_RESTART")
    if command:
        subprocess.run(command, shell=True, check=True, capture_output=True, timeout=120)
    else:
        subprocess.run([os.path.join(ROOT, "scripts", "stack"), "restart", "postgres"], check=True,
                       capture_output=True, timeout=180)


def test_reconnect_after_postgres_restart(start_gen, schema, db):
    p = start_gen("--schema", schema, "--no-create-topic", "--avg-qps", "40", "--status-interval", "1",
                  "--time-scale", "1000")
    out = watch(p)
    out.wait_for("streaming visits", 120)
    time.sleep(3)
    restart_postgres()
    out.wait_for("PostgreSQL connection lost", 60)
    out.wait_for("PostgreSQL is back", 120)
    time.sleep(3)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    out.join(timeout=5)
    text = "".join(out.lines)
    assert "Traceback" not in text
    summary = [ln for ln in out.lines if " summary " in ln][-1]
    visits = int(summary.split(" visits ")[1].split()[0])
    assert "reconnects 0" not in summary
    # every visit counted is in the database exactly once, whole
    sessions = db.scalar(f'SELECT count(DISTINCT session_id) FROM "{schema}".events')
    assert sessions == visits
    assert db.invariants(schema) == {}
    # it kept writing after the restart
    last = db.scalar(f"SELECT extract(epoch FROM now() - max(created_at)) FROM \"{schema}\".events")
    assert last < 10


def test_reconnect_after_backend_killed_repeatedly(start_gen, schema, db):
    """The server ends the generator's session (as after a network cut or an admin kill) several
    times, mid-visit at flat out: each visit is still written exactly once."""
    p = start_gen("--schema", schema, "--no-create-topic", "--status-interval", "1", "--time-scale", "1000")
    out = watch(p)
    out.wait_for("streaming visits", 120)
    kills = 0
    for _ in range(5):
        time.sleep(1.0)
        back = sum("PostgreSQL is back" in ln for ln in out.lines)
        kills += db.scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name = 'thelook-datagen' AND pid <> pg_backend_pid()")
        deadline = time.time() + 60
        while sum("PostgreSQL is back" in ln for ln in out.lines) <= back and time.time() < deadline:
            time.sleep(0.1)
    assert kills >= 5
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    out.join(timeout=5)
    summary = [ln for ln in out.lines if " summary " in ln][-1]
    visits = int(summary.split(" visits ")[1].split()[0])
    assert visits > 100
    assert int(summary.split(" reconnects ")[1].split()[0]) >= 3
    assert db.scalar(f'SELECT count(DISTINCT session_id) FROM "{schema}".events') == visits
    assert db.invariants(schema) == {}
