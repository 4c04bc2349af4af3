"""SIGTERM / SIGINT: finish the current transaction, print the summary, exit 0."""
import signal
import time

import pytest

pytestmark = pytest.mark.stack


def wait_for(proc, text, timeout=60):
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} not seen in: {''.join(seen)[-2000:]}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_prints_summary_and_exits_zero(start_gen, schema, db, sig):
    p = start_gen("--schema", schema, "--no-create-topic", "--avg-qps", "100", "--status-interval", "1")
    wait_for(p, "streaming visits")
    wait_for(p, "status")
    p.send_signal(sig)
    start = time.time()
    _out, rest = p.communicate(timeout=30)
    assert time.time() - start < 5
    assert p.returncode == 0, rest
    assert "summary" in rest and "Traceback" not in rest
    last = [ln for ln in rest.splitlines() if "summary" in ln][-1]
    visits = int(last.split(" visits ")[1].split()[0])
    sessions = db.scalar(f'SELECT count(DISTINCT session_id) FROM "{schema}".events')
    assert sessions == visits, "every counted visit is committed whole, nothing more"
    assert db.invariants(schema) == {}
