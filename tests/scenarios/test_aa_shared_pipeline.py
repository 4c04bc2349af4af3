"""The scenario tests' shared pipeline (conftest.py), set up here first (pytest runs this file first in
tests/scenarios) so that its setup time counts against this test's timeout, not against a scenario's: the
connector and its task RUNNING with the initial snapshot committed, and the five Flink jobs of its prefix
RUNNING (unless THELOOK_SCENARIO_TESTS_NO_FLINK=1)."""
import os

import pytest
import requests
from scenariokit import connector_states

JOBS = ["funnel_per_minute", "revenue_per_minute", "status_counts", "stock_per_dc", "top_products_last_hour"]


@pytest.mark.timeout(900)
def test_shared_pipeline_streams_with_its_flink_jobs(scenario_pipeline):
    p = scenario_pipeline
    assert connector_states(p) == ["RUNNING", "RUNNING"]
    counted = p.sql(f'SELECT count(*) FROM "{p.schema}".products')[0][0]
    assert counted > 0, "the shared pipeline's schema has no products"
    if os.environ.get("THELOOK_SCENARIO_TESTS_NO_FLINK") == "1":
        return
    jobs = requests.get(p.stack_env["FLINK_URL"] + "/jobs/overview", timeout=10).json()["jobs"]
    head = f"{p.prefix}.analytics."
    running = sorted(j["name"][len(head):] for j in jobs if j["name"].startswith(head) and j["state"] == "RUNNING")
    assert running == JOBS, running
