"""Faults mid-run lose nothing: after restarting Connect, the broker or PostgreSQL while the generator
writes, verify still finds every change in Kafka (duplicates from at-least-once delivery allowed)."""
import os
import re
import signal
import time

import pytest

from testkit import pg_servers


def log(msg):
    print(f"[cdc-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)

pytestmark = pytest.mark.stack


def service_pid(pipeline, service):
    for line in pipeline.stack("status").stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == service and parts[2].isdigit():
            return int(parts[2])
    raise AssertionError(f"no pid for {service} in scripts/stack status")


PINNED, SECOND = pg_servers()


# every fault on the stack's PostgreSQL; on the second major (tests/cdc/conftest.py) the one that concerns it
@pytest.mark.parametrize(("service", "pg_server"), [
    pytest.param("connect", "pinned", id="connect"), pytest.param("connect-crash", "pinned", id="connect-crash"),
    pytest.param("kafka", "pinned", id="kafka"), pytest.param("postgres", "pinned", id=f"postgres-{PINNED.id}"),
    pytest.param("postgres", "second", id=f"postgres-{SECOND.id}")], indirect=["pg_server"])
def test_restart_mid_run_loses_no_change(pipeline, service):
    """connect-crash: Kafka Connect killed with SIGKILL (no offset flush, no clean shutdown), then started.
    postgres on the second major: its own `scripts/stack --only postgres` instance is restarted."""
    gen = pipeline.generator("--if_exists", "replace", "--seed", "11", "--avg-qps", "50", "--max_iter", "-1",
                             background=True)
    pipeline.wait_for_tables()
    # Before Connect has committed the end of the initial snapshot, a failing task snapshots again, and
    # a second snapshot cannot express the rows deleted in between (verify reports them as extra).
    pipeline.register("--wait-snapshot", timeout=300)
    pipeline.wait_until_streaming("orders")
    time.sleep(3)
    assert gen.poll() is None, "the generator must still be writing when the fault hits"
    t0 = time.monotonic()
    if service == "connect-crash":
        os.kill(service_pid(pipeline, "connect"), signal.SIGKILL)
        time.sleep(3)
        service = "connect"
    pipeline.stack("restart", service)
    log(f"{service} restarted in {time.monotonic() - t0:.1f}s")
    time.sleep(8)  # writes go on after the fault
    assert gen.poll() is None, f"generator died during the {service} restart"
    gen.send_signal(signal.SIGTERM)
    out = pipeline.wait(gen, timeout=60)
    if service == "postgres":
        reconnects = [int(n) for n in re.findall(r"reconnects (\d+)", out)]
        assert reconnects and reconnects[-1] >= 1, f"the generator should have reconnected:\n{out[-2000:]}"

    res, report = pipeline.verify("--require-full-before-images", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr + "\nconnector status: " + pipeline.connector_status()
    assert report["ok"]
    streamed = sum(t["ops"].get(op, 0) for t in report["tables"] for op in "cud" if t["table"] != "heartbeat")
    assert streamed > 0 and report["before_images"]["mismatch"] == 0
    log(f"duplicates redelivered: {sum(t['duplicates'] for t in report['tables'])}")
