"""slot-invalidated on the real stack (stack tier): `scripts/scenario slot-invalidated` runs its own PostgreSQL
(max_slot_wal_keep_size 32MB), connector, slot and topics on the stack's Kafka Connect and Kafka, so it needs no
shared pipeline. Asserted: exit 0; the slot lost after the stall with more WAL written than the limit;
register-connector and verify exit 1 and `scripts/stack status` prints a line, each naming the invalidated slot;
the recovery's steps ran and verify is OK; and nothing is left behind (connector, topics, instance)."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from scenariokit import SCENARIO, log

MIB = 2 ** 20


@pytest.mark.timeout(240)
def test_slot_invalidated_is_said_fails_verify_and_recovers(stack_env):
    env = dict(os.environ, **stack_env)
    before = set(Path("/tmp").glob("thelook-slotinv-*"))
    cmd = [sys.executable, str(SCENARIO), "slot-invalidated", "--json", "--no-flink-compare", "--rate", "20",
           "--seed", "5", "--stall-writes", "3", "--observe", "3"]
    t0 = time.monotonic()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=220)
    log(f"slot-invalidated: exit {res.returncode} in {time.monotonic() - t0:.1f}s")
    summary = json.loads(res.stdout) if res.stdout.strip().startswith("{") else None
    for entry in (summary or {}).get("timeline", []):
        log(f"  +{entry['t']:.1f}s {entry['text']}")
    assert res.returncode == 0 and summary and summary["ok"], res.stdout[-4000:] + res.stderr[-3000:]
    slot = summary["slot"]

    # invalidated: wal_status lost, after more WAL than the limit
    assert summary["wal_status"] == "lost" and summary["limit_bytes"] == 32 * MIB
    assert summary["wal_written_bytes"] > summary["limit_bytes"], summary["wal_written_bytes"]
    assert summary["generator_wal_bytes"] > 0, "the generator's writes during the stall are what the slot lost"
    # each tool says so in one line naming the slot; register-connector and verify exit 1 (FAILED)
    d = summary["detected"]
    for tool in ("register_connector", "verify"):
        assert d[tool]["exit_status"] == 1 and slot in d[tool]["line"] and "invalidated" in d[tool]["line"], d[tool]
        assert "README.md#recovering-from-an-invalidated-slot" in d[tool]["line"]
    assert slot in d["stack_status"]["line"] and "INVALIDATED" in d["stack_status"]["line"], d["stack_status"]
    assert d["prometheus_rule"] and "wal_status" in d["prometheus_rule"], d["prometheus_rule"]
    # recovered: every step ran, verify OK on the new snapshot
    steps = summary["recovery"]["steps"]
    assert set(steps) >= {"delete_connector", "drop_slot", "recreate_topics", "register_snapshot"}
    assert summary["recovery"]["topics"] >= 1 and summary["recovery"]["flink_jobs"] == 0
    assert summary["verify"]["ok"] and summary["verify"]["exit_status"] == 0 and summary["verify"]["rows"] > 0
    # left as found: no connector, no topics of its prefix, no instance
    connectors = requests.get(f"{stack_env['CONNECT_URL']}/connectors", timeout=10).json()
    assert summary["connector"] not in connectors
    from confluent_kafka.admin import AdminClient
    topics = AdminClient({"bootstrap.servers": stack_env["KAFKA_BOOTSTRAP_SERVERS"]}).list_topics(timeout=10).topics
    assert not [t for t in topics if summary["topic_prefix"] in t]
    assert set(Path("/tmp").glob("thelook-slotinv-*")) == before
    log(f"figures: lost {summary['lost_after_s']} s after the stall, {summary['wal_written_bytes'] / MIB:.1f} MiB "
        f"written ({summary['switches']} segment switches), recovery {summary['recovery']['seconds']} s "
        f"{steps}, verify {summary['verify']['seconds']} s ({summary['verify']['rows']} rows); scenario "
        f"{summary['seconds']} s")
