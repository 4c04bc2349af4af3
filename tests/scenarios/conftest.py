"""What the scenario tests share (issue 13: one stack, one connector, one set of Flink jobs).

`scenario_pipeline` (package scope) is one pipeline of its own on the running stack: tests/cdc's Pipeline
(own schema, topic prefix, connector, slot and publication, all removed at the end), its tables loaded by the
real generator (one unsold unit in 8 of the initial stock kept), the connector registered with its snapshot done, and the five Flink jobs of flink/ submitted
on its prefix (cancelled, with their result topics, at the end). Every scenario test runs `scripts/scenario`
on it with scenariokit's `run_scenario`, which passes --no-flink-compare: the Flink results are compared with PostgreSQL
once, after every scenario, by test_zz_flink_results.py (pytest runs the files in alphabetical order, and the
scenarios leave the pipeline as they found it, so any order works)."""
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scenariokit import log

ROOT = Path(__file__).resolve().parents[2]
SUBMIT = ROOT / "scripts" / "submit-flink-jobs"
SEED = 3
# THELOOK_SCENARIO_TESTS_NO_FLINK=1: no Flink jobs (several developers' test runs on one stack would take more
# than the TaskManager's 8 slots); test_zz_flink_results.py then skips
NO_FLINK = os.environ.get("THELOOK_SCENARIO_TESTS_NO_FLINK") == "1"


def _cdc():
    """tests/cdc's Pipeline, loaded from its conftest under a name of its own."""
    spec = importlib.util.spec_from_file_location("cdc_pipeline_for_scenario_tests",
                                                  ROOT / "tests" / "cdc" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="package")
def scenario_pipeline(stack_env, tmp_path_factory):
    p = _cdc().Pipeline(stack_env, tmp_path_factory.mktemp("scenarios"))
    log(f"pipeline schema={p.schema} prefix={p.prefix} connector={p.name} slot={p.slot}")
    t0 = time.monotonic()
    try:
        # the tables, the reference data and the topics, a few visits; the connector and its snapshot; the jobs
        p.generator("--if_exists", "replace", "--seed", SEED, "--max_iter", 20, "--avg-qps", 0, timeout=180)
        # one unsold unit in 8 of the initial stock kept (as slot-invalidated does): the other ~64,000 rows would
        # only make the snapshot and each scenario's verify (it reads every change topic) about twice as long
        removed = p.sql(f'WITH gone AS (DELETE FROM "{p.schema}".inventory_items ii WHERE sold_at IS NULL AND '
                        f'id % 8 <> 0 AND NOT EXISTS (SELECT 1 FROM "{p.schema}".order_items oi WHERE '
                        f'oi.inventory_item_id = ii.id) RETURNING 1) SELECT count(*) FROM gone')[0][0]
        log(f"{removed} units of the initial stock removed before the snapshot")
        p.register("--wait-snapshot", timeout=180)
        if not NO_FLINK:
            res = subprocess.run([sys.executable, str(SUBMIT), "--topic-prefix", p.prefix, "--schema", p.schema],
                                 env=p.env, capture_output=True, text=True, timeout=400)
            assert res.returncode == 0, f"submit-flink-jobs failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
        log(f"pipeline ready (connector snapshot done, Flink jobs running) in {time.monotonic() - t0:.1f}s")
        yield p
    finally:
        if not NO_FLINK:
            subprocess.run([sys.executable, str(SUBMIT), "--topic-prefix", p.prefix, "--cancel"], env=p.env,
                           capture_output=True, timeout=240)
        p.cleanup()
        p.delete_topics()
