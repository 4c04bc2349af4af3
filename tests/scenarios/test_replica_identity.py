"""replica-identity on the real stack (stack tier), on the scenario tests' shared pipeline (conftest.py):
`scripts/scenario replica-identity` with 10 rows of 12 KiB: exit 0; every UPDATE event of the REPLICA IDENTITY
DEFAULT table carries Debezium's unavailable-value placeholder for the untouched TOASTed column, none of the
FULL table's does; verify is OK and reports the DEFAULT table's column as not captured in every row; the
scenario's tables and topics are gone and the connector is RUNNING with its own table list afterwards."""
import time

import pytest
from scenariokit import connector_states, log, run_scenario

ROWS = 10


# func_only: the budget is the scenario's; the shared pipeline's setup (first test of the package) is not in it
@pytest.mark.timeout(45, func_only=True)
def test_replica_identity_default_loses_the_toasted_value_full_keeps_it(scenario_pipeline):
    p = scenario_pipeline
    t0 = time.monotonic()
    include_before = _include_list(p)
    res, summary = run_scenario(p, "replica-identity", "--toast-rows", ROWS, "--toast-kib", 12, "--rate", 5,
                                timeout=40)
    assert res.returncode == 0 and summary, res.stdout[-4000:] + res.stderr
    assert summary["ok"]
    # the events as Debezium wrote them
    assert summary["update_events"] == {"scenario_toast_default": ROWS, "scenario_toast_full": ROWS}
    assert summary["placeholder_events"] == {"scenario_toast_default": ROWS, "scenario_toast_full": 0}
    assert summary["before_images"] == {"scenario_toast_default": "none", "scenario_toast_full": "full"}
    # the large values really were out of line: both TOAST relations hold at least the rows' values
    assert summary["value_bytes"] == 12 * 1024
    assert all(v >= ROWS * 12 * 1024 for v in summary["toast_bytes"].values()), summary["toast_bytes"]
    # verify: OK, the DEFAULT table's column reported as not captured in every row, nothing else
    assert summary["verify"]["ok"] and summary["verify"]["exit_status"] == 0
    assert summary["not_captured"] == {"scenario_toast_default": {"big": ROWS}}
    assert "value not captured (TOAST, replica identity DEFAULT) in 10 rows" in summary["verify"]["verdict"]
    # left as found
    assert connector_states(p) == ["RUNNING", "RUNNING"]
    assert _include_list(p) == include_before
    assert not p.sql(f"SELECT tablename FROM pg_tables WHERE schemaname = '{p.schema}' "
                     "AND tablename LIKE 'scenario_toast%'")
    assert not [t for t in _topics(p) if ".scenario_toast" in t]
    log(f"figures: {summary['placeholder_events']} placeholders of {summary['update_events']} updates; verify "
        f"{summary['verify']['seconds']} s; test {time.monotonic() - t0:.1f}s")


def _include_list(p):
    import requests
    return requests.get(f"{p.stack_env['CONNECT_URL']}/connectors/{p.name}/config", timeout=10).json()[
        "table.include.list"]


def _topics(p):
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": p.stack_env["KAFKA_BOOTSTRAP_SERVERS"]})
    return list(admin.list_topics(timeout=10).topics)
