"""connector-outage on the real stack (stack tier): a throwaway pipeline (tests/cdc's Pipeline: own schema,
topic prefix, connector, slot and publication; removed at the end), then `scripts/scenario connector-outage`
on it for 20 s at 20 visits/s: exit 0, the slot's retained WAL grew during the outage, the backlog drained,
the outage's changes reached Kafka (peak commit->Kafka latency about the outage), verify OK, and the
connector RUNNING again afterwards."""
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scripts" / "scenario"
OUTAGE_S = 20


def log(msg):
    print(f"[scenario-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _cdc():
    """tests/cdc's Pipeline, loaded from its conftest under a name of its own."""
    spec = importlib.util.spec_from_file_location("cdc_pipeline_for_scenario_tests",
                                                  ROOT / "tests" / "cdc" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def pipeline(stack_env, tmp_path):
    p = _cdc().Pipeline(stack_env, tmp_path)
    log(f"pipeline schema={p.schema} prefix={p.prefix} connector={p.name} slot={p.slot}")
    try:
        yield p
    finally:
        p.cleanup()


@pytest.mark.timeout(240)
def test_connector_outage_holds_wal_drains_and_verifies(pipeline):
    p = pipeline
    t0 = time.monotonic()
    # the tables, the reference data and the topics, a few visits; then the connector and its snapshot
    p.generator("--if_exists", "replace", "--seed", 3, "--max_iter", 20, "--avg-qps", 0, timeout=120)
    p.register("--wait-snapshot", timeout=120)
    log(f"pipeline ready in {time.monotonic() - t0:.1f}s")
    t1 = time.monotonic()
    res = subprocess.run([sys.executable, str(SCENARIO), "connector-outage", "--connector", p.name, "--schema",
                          p.schema, "--topic-prefix", p.prefix, "--outage", str(OUTAGE_S), "--rate", "20",
                          "--seed", "3", "--json"], env=p.env, capture_output=True, text=True, timeout=200)
    log(f"scenario exit {res.returncode} in {time.monotonic() - t1:.1f}s")
    print(res.stdout[-6000:], res.stderr[-3000:], flush=True)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr
    summary = json.loads(res.stdout)
    for entry in summary["timeline"]:
        log(f"  +{entry['t']:.1f}s {entry['text']}")
    assert summary["ok"] and summary["mode"] == "stop" and summary["slot"] == p.slot
    # the slot held WAL back during the outage, and more as it went on
    during = [s["retained"] for s in summary["retained_samples"]]
    assert summary["peak_retained_bytes"] > summary["start_retained_bytes"], summary["retained_samples"]
    assert during[-1] > during[0], during
    assert any("outage +" in e["text"] and "slot holds" in e["text"] for e in summary["timeline"])
    # drained, the outage's changes in Kafka with a latency about the outage's length, verify OK
    assert summary["drained"] and summary["drain_s"] is not None and summary["drain_s"] < 120
    assert summary["outage_changes"] > 0
    assert summary["peak_latency_ms"] >= 0.5 * OUTAGE_S * 1000, summary["peak_latency_ms"]
    assert summary["verify"]["ok"] and summary["verify"]["exit_status"] == 0
    assert summary["wal_rate_bytes_per_s"] > 0 and summary["projected_bytes"] >= summary["start_retained_bytes"]
    # left as found: the connector and its task RUNNING
    status = requests.get(f"{p.stack_env['CONNECT_URL']}/connectors/{p.name}/status", timeout=10).json()
    assert [status["connector"]["state"]] + [t["state"] for t in status["tasks"]] == ["RUNNING", "RUNNING"], status
    log(f"figures: peak retained {summary['peak_retained_bytes'] / 2**20:.1f} MiB (start "
        f"{summary['start_retained_bytes'] / 2**20:.1f}), drain {summary['drain_s']} s, peak latency "
        f"{summary['peak_latency_ms']} ms, {summary['outage_changes']} outage changes; test {time.monotonic() - t0:.1f}s")
