"""PostgreSQL restarts mid-run: the generator says so, retries with backoff and carries on,
with no half-written and no duplicated visit.

The restart goes through `scripts/stack restart postgres` (the local stack), or through the shell
command in THELOOK_TEST_PG_RESTART when the tests point at another server.
"""
import os
import signal
import subprocess
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
pytestmark = [pytest.mark.stack, pytest.mark.slow]


def restart_postgres():
    command = os.environ.get("THELOOK_TEST_PG_RESTART")
    if command:
        subprocess.run(command, shell=True, check=True, capture_output=True, timeout=120)
    else:
        subprocess.run([os.path.join(ROOT, "scripts", "stack"), "restart", "postgres"], check=True,
                       capture_output=True, timeout=180)


class Reader(threading.Thread):
    """Collects the generator's stderr lines while it runs."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.lines = stream, []

    def run(self):
        for line in self.stream:
            self.lines.append(line)

    def wait_for(self, text, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(text in ln for ln in self.lines):
                return
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not seen in:\n{''.join(self.lines)[-3000:]}")


def test_reconnect_after_postgres_restart(start_gen, schema, db):
    p = start_gen("--schema", schema, "--no-create-topic", "--avg-qps", "40", "--status-interval", "1",
                  "--time-scale", "1000")
    out = Reader(p.stderr)
    out.start()
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
