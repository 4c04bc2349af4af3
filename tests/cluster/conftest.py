"""The failover tests of cluster mode (issue 14): they run against a local cluster (`scripts/stack up
--cluster`), which scripts/test starts after the single-node stack is down (never beside it: the two would need
about 12 GB together) and removes at the end. THELOOK_CLUSTER_TESTS=1 says that the stack the environment points
at is such a cluster; without it the package is skipped (the single-node run collects it too).

`cluster_pipeline` (package scope) is one pipeline on the cluster, as the scenario tests' (tests/scenarios): its
own schema, topic prefix, connector and slot (tests/cdc's Pipeline), the tables loaded by the real generator with
one unsold unit in 8 of the initial stock kept, the connector registered with its initial snapshot done, and the
five Flink jobs submitted on its prefix. Each failover test runs `scripts/scenario node-failure` on it."""
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
SEED = 4


def pytest_collection_modifyitems(config, items):
    if os.environ.get("THELOOK_CLUSTER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="needs the local cluster: scripts/test starts one after the single-node run "
                                   "(or scripts/test --cluster)")
    for item in items:
        if "/tests/cluster/" in str(item.fspath):
            item.add_marker(skip)


def _cdc():
    spec = importlib.util.spec_from_file_location("cdc_pipeline_for_cluster_tests", ROOT / "tests" / "cdc" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="package")
def cluster_pipeline(stack_env, tmp_path_factory):
    assert "," in stack_env["KAFKA_BOOTSTRAP_SERVERS"], \
        f"THELOOK_CLUSTER_TESTS=1 but the stack has one broker ({stack_env['KAFKA_BOOTSTRAP_SERVERS']})"
    p = _cdc().Pipeline(stack_env, tmp_path_factory.mktemp("cluster"))
    log(f"cluster pipeline schema={p.schema} prefix={p.prefix} connector={p.name} slot={p.slot}")
    t0 = time.monotonic()
    try:
        p.generator("--if_exists", "replace", "--seed", SEED, "--max_iter", 20, "--avg-qps", 0, timeout=180)
        removed = p.sql(f'WITH gone AS (DELETE FROM "{p.schema}".inventory_items ii WHERE sold_at IS NULL AND '
                        f'id % 8 <> 0 AND NOT EXISTS (SELECT 1 FROM "{p.schema}".order_items oi WHERE '
                        f'oi.inventory_item_id = ii.id) RETURNING 1) SELECT count(*) FROM gone')[0][0]
        log(f"{removed} units of the initial stock removed before the snapshot")
        p.register("--wait-snapshot", timeout=240)
        res = subprocess.run([sys.executable, str(SUBMIT), "--topic-prefix", p.prefix, "--schema", p.schema],
                             env=p.env, capture_output=True, text=True, timeout=400)
        assert res.returncode == 0, f"submit-flink-jobs failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
        log(f"cluster pipeline ready (snapshot done, Flink jobs running) in {time.monotonic() - t0:.1f}s")
        yield p
    finally:
        subprocess.run([sys.executable, str(SUBMIT), "--topic-prefix", p.prefix, "--cancel"], env=p.env,
                       capture_output=True, timeout=240)
        p.cleanup()
        p.delete_topics()
