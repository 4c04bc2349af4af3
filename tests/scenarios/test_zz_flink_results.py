"""After every scenario (pytest runs this file last in tests/scenarios): the Flink jobs that ran on the shared
pipeline through all of them still hold results equal to PostgreSQL's, compared once by the same code every
scenario runs at its end (thelook_datagen.scenarios.flink_check, ops/flink_results.py)."""
import os
from types import SimpleNamespace

import pytest
from scenariokit import log
from thelook_datagen.scenarios.common import Target, Timeline
from thelook_datagen.scenarios.flink_check import compare_if_running


@pytest.mark.timeout(300)
def test_flink_results_equal_postgres_after_every_scenario(scenario_pipeline):
    p = scenario_pipeline
    if os.environ.get("THELOOK_SCENARIO_TESTS_NO_FLINK") == "1":
        pytest.skip("THELOOK_SCENARIO_TESTS_NO_FLINK=1: no Flink jobs on the shared pipeline")
    env = p.stack_env
    settings = SimpleNamespace(
        no_flink_compare=False, flink_url=env["FLINK_URL"], flink_settle=180.0, top_products_window=60,
        bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], kafka_config={},
        conn_kw={"host": env["PGHOST"], "port": env["PGPORT"], "user": env["PGUSER"], "password": env["PGPASSWORD"],
                 "dbname": env["PGDATABASE"]})
    timeline = Timeline(lambda line: log(line))
    result = compare_if_running(settings, Target(p.name, {}, p.slot, p.schema, p.prefix, "RUNNING"), timeline)
    assert result is not None, "no Flink job of the shared pipeline's prefix is running"
    assert sorted(result["jobs"]) == ["funnel_per_minute", "revenue_per_minute", "status_counts", "stock_per_dc",
                                      "top_products_last_hour"], result["jobs"]
    assert not result["behind"], f"jobs did not consume every change: {result['behind']}"
    assert result["equal"], f"Flink results differ from PostgreSQL: {result['problems']}"
    # something was compared: order minutes, statuses, centres
    assert result["rows"]["revenue_per_minute"] > 0 and result["rows"]["stock_per_dc"] > 0, result["rows"]
