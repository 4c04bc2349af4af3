"""restart-storm on the real stack (stack tier), on the scenario tests' shared pipeline: Kafka Connect, the
broker, PostgreSQL and the Flink TaskManager restarted one after another by scripts/stack while the scenario's
generator writes at 20 visits/s, with short pauses from the seed. After each restart the connector runs again
and capture resumes; after the TaskManager the shared pipeline's Flink jobs run again; the generator
reconnected to PostgreSQL; verify OK; the connector RUNNING afterwards. (The Flink results are compared once,
after every scenario, by test_zz_flink_results.py.)"""
import time

import pytest
from scenariokit import connector_states, log, run_scenario


@pytest.mark.timeout(600)
def test_restart_storm_recovers_and_verifies(scenario_pipeline, request):
    if request.config.getoption("--stack") != "local":
        pytest.skip("the restarts need the local stack launcher (scripts/stack)")
    p = scenario_pipeline
    t0 = time.monotonic()
    res, summary = run_scenario(p, "restart-storm", "--pause-min", 2, "--pause-max", 5, "--rate", 20, "--seed", 5,
                                timeout=400)
    assert res.returncode == 0 and summary, res.stdout[-4000:] + res.stderr
    assert summary["ok"]
    restarts = summary["restarts"]
    assert [r["service"] for r in restarts] == ["connect", "kafka", "postgres", "taskmanager"]
    for r in restarts:
        assert r["restart_s"] > 0 and r["connector_running_s"] is not None, r
        # capture resumed: a change committed after this restart reached Kafka
        assert r["capture_resumed_s"] is not None and r["first_change_latency_ms"] is not None, r
    flink_jobs = restarts[-1]["flink_jobs_running"]
    assert flink_jobs in (0, 5), restarts[-1]      # 0: THELOOK_SCENARIO_TESTS_NO_FLINK=1, no jobs to restore
    assert summary["generator"]["reconnects"] >= 1, summary["generator"]   # PostgreSQL went away under it
    assert summary["verify"]["ok"] and summary["verify"]["exit_status"] == 0
    assert connector_states(p) == ["RUNNING", "RUNNING"]
    log("figures: " + "; ".join(f"{r['service']} restart {r['restart_s']} s, RUNNING +{r['connector_running_s']} s, "
                                f"capture +{r['capture_resumed_s']} s" for r in restarts)
        + f"; test {time.monotonic() - t0:.1f}s")
