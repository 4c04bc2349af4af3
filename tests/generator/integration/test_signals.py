"""SIGTERM / SIGINT: finish the current transaction, print the summary, exit 0."""
import signal
import time

import pytest
from testkit import watch

pytestmark = pytest.mark.stack


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_prints_summary_and_exits_zero(start_gen, schema, db, sig):
    p = start_gen("--schema", schema, "--no-create-topic", "--avg-qps", "100", "--status-interval", "1")
    out = watch(p)
    out.wait_for("status", after=out.wait_for("streaming visits"))
    p.send_signal(sig)
    start = time.time()
    p.wait(timeout=30)
    rest = out.finish()
    assert time.time() - start < 5
    assert p.returncode == 0, rest
    assert "summary" in rest and "Traceback" not in rest
    last = [ln for ln in rest.splitlines() if "summary" in ln][-1]
    visits = int(last.split(" visits ")[1].split()[0])
    sessions = db.scalar(f'SELECT count(DISTINCT session_id) FROM "{schema}".events')
    assert sessions == visits, "every counted visit is committed whole, nothing more"
    assert db.invariants(schema) == {}
