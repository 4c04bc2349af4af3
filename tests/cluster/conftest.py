"""The failover tests of cluster mode (issue 14): they run against a local cluster (`scripts/stack up
--cluster`), which scripts/test starts after the single-node stack is down (never beside it: the two would need
about 12 GB together) and removes at the end. THELOOK_CLUSTER_TESTS=1 says that the stack the environment points
at is such a cluster; without it the package is skipped (the single-node run collects it too).

`cluster_pipeline` (package scope) is one pipeline on the cluster, as the scenario tests' (scenariokit.loaded_pipeline): its
own schema, topic prefix, connector and slot (tests/cdc's Pipeline), the tables loaded by the real generator with
one unsold unit in 8 of the initial stock kept, the connector registered with its initial snapshot done, and the
five Flink jobs submitted on its prefix. Each failover test runs `scripts/scenario node-failure` on it."""
import os

import pytest
from scenariokit import loaded_pipeline

SEED = 4


def pytest_collection_modifyitems(config, items):
    if os.environ.get("THELOOK_CLUSTER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="needs the local cluster: scripts/test starts one after the single-node run "
                                   "(or scripts/test --cluster)")
    for item in items:
        if "/tests/cluster/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="package")
def cluster_pipeline(stack_env, tmp_path_factory):
    assert "," in stack_env["KAFKA_BOOTSTRAP_SERVERS"], \
        f"THELOOK_CLUSTER_TESTS=1 but the stack has one broker ({stack_env['KAFKA_BOOTSTRAP_SERVERS']})"
    with loaded_pipeline(stack_env, tmp_path_factory.mktemp("cluster"), SEED, snapshot_timeout=240,
                         what="cluster pipeline") as p:
        yield p
