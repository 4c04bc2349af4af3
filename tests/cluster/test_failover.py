"""The failover proof of cluster mode (issue 14), on the local cluster under load from a seeded generator: one
broker, then one Connect worker, then one TaskManager killed with SIGKILL (each the node of its kind doing the most
of the pipeline's work, so that its loss matters), each time while changes flow. Each time the pipeline carries
on without operator action, verify ends OK with zero missing, extra or different rows, and the Flink results equal
PostgreSQL; then the node comes back and is back in its kind's sense (the scenario's docstring:
generator/thelook_datagen/scenarios/node_failure.py). The figures per failure are logged (time until changes flowed
again, duplicates, peak commit->Kafka latency) and kept in the README."""
import pytest
from scenariokit import connector_states, log, run_scenario


def failover(p, node, seed):
    res, summary = run_scenario(p, "node-failure", "--node", node, "--rate", 20, "--seed", seed, "--watch", 5,
                                timeout=560, compare_flink=True)
    assert res.returncode == 0 and summary, res.stdout[-4000:] + res.stderr[-3000:]
    assert summary["ok"], summary
    verify = summary["verify"]
    assert verify["ok"] and verify["exit_status"] == 0, verify
    assert summary["flink"] and summary["flink"]["equal"], summary["flink"]
    failure = summary["failure"]
    # changes flowed again: a change committed after the kill reached Kafka, and one after the recovery
    assert failure["resumed_s"] is not None and failure["peak_latency_ms"] is not None, failure
    assert connector_states(p) == ["RUNNING", "RUNNING"]
    log(f"{summary['node']}: recovered {failure['recovered_s']} s after the kill, first change in Kafka after "
        f"{failure['resumed_s']} s, on time again after {failure['on_time_again_s']} s, peak latency "
        f"{failure['peak_latency_ms']} ms, {failure['duplicates']} duplicates; back: {summary['back']}")
    return summary


@pytest.mark.timeout(600, func_only=True)   # the shared pipeline's setup counts apart (900 s)
def test_broker_killed(cluster_pipeline):
    s = failover(cluster_pipeline, "kafka:busiest", 11)
    assert s["kind"] == "kafka" and s["failure"]["leaders_moved"] >= 1, s["failure"]
    back = s["back"]
    # rejoined the ISR of every partition it replicates, and leads its preferred partitions again
    assert back["in_sync_s"] is not None and back["preferred_leader_s"] >= back["in_sync_s"], back
    assert back["preferred_partitions"] >= 1, back


@pytest.mark.timeout(600, func_only=True)   # the shared pipeline's setup counts apart (900 s)
def test_connect_worker_killed(cluster_pipeline):
    s = failover(cluster_pipeline, "connect:busiest", 12)
    failure = s["failure"]
    # the task moved to the surviving worker
    assert s["kind"] == "connect" and failure["task_worker"], failure
    # back: a member of the group's current generation again (its rebalance epoch equals the other worker's);
    # Connect balances connectors and tasks each on its own, so one connector and one task need not move back
    back = s["back"]
    assert back["rejoined_s"] is not None and back["epoch"] >= 1, back
    assert back["work_on_it"] in (0, 1, 2) and back["assignment"]["tasks"], back


@pytest.mark.timeout(600, func_only=True)   # the shared pipeline's setup counts apart (900 s)
def test_taskmanager_killed(cluster_pipeline):
    s = failover(cluster_pipeline, "taskmanager:busiest", 13)
    failure = s["failure"]
    # the jobs that ran on it restarted on the other TaskManager from a completed checkpoint
    assert failure["jobs_restarted"] and all(isinstance(c, int) for c in failure["restored_checkpoints"].values()), \
        failure
    back = s["back"]
    # registered again with all its slots; Flink does not move running jobs back, so they are free
    assert back["slots"] == 8 and back["free_slots"] == 8, back
