"""connector-outage on the real stack (stack tier), on the scenario tests' shared pipeline (conftest.py):
`scripts/scenario connector-outage` for 20 s at 20 visits/s: exit 0, the slot's retained WAL grew during the
outage, the backlog drained, the outage's changes reached Kafka (peak commit->Kafka latency about the
outage), verify OK, and the connector RUNNING again afterwards."""
import time

import pytest
from scenariokit import connector_states, log, run_scenario

OUTAGE_S = 20


@pytest.mark.timeout(240)
def test_connector_outage_holds_wal_drains_and_verifies(scenario_pipeline):
    p = scenario_pipeline
    t0 = time.monotonic()
    res, summary = run_scenario(p, "connector-outage", "--outage", OUTAGE_S, "--rate", 20, "--seed", 3, timeout=200)
    assert res.returncode == 0 and summary, res.stdout[-4000:] + res.stderr
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
    # the projection: the generator's WAL rate (20 visits/s write well over 10 KiB/s) times the outage
    assert summary["wal_rate_bytes_per_s"] > 10 * 1024, summary["wal_rate_bytes_per_s"]
    assert summary["projected_bytes"] >= summary["wal_rate_bytes_per_s"] * OUTAGE_S
    # left as found: the connector and its task RUNNING
    assert connector_states(p) == ["RUNNING", "RUNNING"]
    log(f"figures: peak retained {summary['peak_retained_bytes'] / 2**20:.1f} MiB (start "
        f"{summary['start_retained_bytes'] / 2**20:.1f}), drain {summary['drain_s']} s, peak latency "
        f"{summary['peak_latency_ms']} ms, {summary['outage_changes']} outage changes; test {time.monotonic() - t0:.1f}s")
