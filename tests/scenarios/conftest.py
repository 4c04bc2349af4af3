"""What the scenario tests share (issue 13: one stack, one connector, one set of Flink jobs).

`scenario_pipeline` (package scope) is one pipeline of its own on the running stack (scenariokit.loaded_pipeline): tests/cdc's Pipeline
(own schema, topic prefix, connector, slot and publication, all removed at the end), its tables loaded by the
real generator (one unsold unit in 8 of the initial stock kept), the connector registered with its snapshot done, and the five Flink jobs of flink/ submitted
on its prefix (cancelled, with their result topics, at the end). Every scenario test runs `scripts/scenario`
on it with scenariokit's `run_scenario`, which passes --no-flink-compare: the Flink results are compared with PostgreSQL
once, after every scenario, by test_zz_flink_results.py (pytest runs the files in alphabetical order, and the
scenarios leave the pipeline as they found it, so any order works)."""
import os

import pytest
from scenariokit import loaded_pipeline

SEED = 3
# THELOOK_SCENARIO_TESTS_NO_FLINK=1: no Flink jobs (several developers' test runs on one stack would take more
# than the TaskManager's 8 slots); test_zz_flink_results.py then skips
NO_FLINK = os.environ.get("THELOOK_SCENARIO_TESTS_NO_FLINK") == "1"


@pytest.fixture(scope="package")
def scenario_pipeline(stack_env, tmp_path_factory):
    with loaded_pipeline(stack_env, tmp_path_factory.mktemp("scenarios"), SEED, snapshot_timeout=180,
                         flink=not NO_FLINK) as p:
        yield p
