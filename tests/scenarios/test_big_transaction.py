"""big-transaction on the real stack (stack tier), on the scenario tests' shared pipeline (conftest.py), at CI
scale: `scripts/scenario big-transaction --changes 50000` at 5 visits/s: exit 0; all 50,000 events of the one
transaction and every product's price change in Kafka, the last after the first; the visits committed
meanwhile waited behind it (their peak latency at least half the time its last event took);
Connect's heap reported from Prometheus when the stack has it; verify OK with the scenario's table in it; the
table and its topic gone and the connector RUNNING with its own table list afterwards."""
import time

import pytest
from scenariokit import connector_states, log, run_scenario

CHANGES = 50_000


# func_only: the budget is the scenario's; the shared pipeline's setup (first test of the package) is not in it
@pytest.mark.timeout(90, func_only=True)
def test_big_transaction_reaches_kafka_whole_and_verifies(scenario_pipeline):
    p = scenario_pipeline
    t0 = time.monotonic()
    include_before = _include_list(p)
    products = p.sql(f"SELECT count(*), sum(retail_price) FROM {p.schema}.products")[0]
    res, summary = run_scenario(p, "big-transaction", "--changes", CHANGES, "--rate", 5, timeout=85)
    assert res.returncode == 0 and summary, res.stdout[-4000:] + res.stderr
    assert summary["ok"] and summary["complete"] and summary["events_in_kafka"] == CHANGES
    # the catalogue-wide UPDATE was part of it, and stays (a price campaign, not reverted)
    assert summary["products"] == products[0]
    after = p.sql(f"SELECT sum(retail_price) FROM {p.schema}.products")[0][0]
    assert after > products[1] * 1.04, (products, after)
    # timed from the COMMIT: the first event, then the last, then the products (written after the inserts)
    assert 0 <= summary["first_event_s"] <= summary["last_event_s"] <= summary["last_product_event_s"]
    # the visits committed meanwhile waited behind the transaction in the one replication stream: those of the
    # window's first half until its end at least
    during = summary["visits_during"]
    assert during["changes"] > 0 and during["peak_ms"] >= 500 * summary["last_event_s"]
    assert during["peak_ms"] > summary["visits_before"]["p50_ms"]
    # Connect's heap, when the stack's Prometheus scrapes it: a peak at least the value before, below the max
    if summary["heap_reported"]:
        assert summary["heap_before_bytes"] <= summary["heap_peak_bytes"] <= summary["heap_max_bytes"]
    else:
        assert any("heap: not reported" in e["text"] for e in summary["timeline"])
    # verify OK, the scenario's table in it: theLook's rows plus the transaction's
    assert summary["verify"]["ok"] and summary["verify"]["exit_status"] == 0
    assert summary["verify"]["rows"] >= CHANGES + products[0]
    # left as found
    assert connector_states(p) == ["RUNNING", "RUNNING"]
    assert _include_list(p) == include_before
    assert not p.sql(f"SELECT 1 FROM pg_tables WHERE schemaname = '{p.schema}' AND tablename = 'scenario_big_tx'")
    assert not p.sql(f"SELECT 1 FROM pg_publication_tables WHERE pubname = '{p.publication}' "
                     "AND tablename = 'scenario_big_tx'")
    assert f"{p.prefix}.{p.schema}.scenario_big_tx" not in _topics(p)
    log(f"figures: last event {summary['last_event_s']} s, products {summary['last_product_event_s']} s after "
        f"COMMIT; visits p50/peak {during['p50_ms']}/{during['peak_ms']} ms; heap peak "
        f"{(summary['heap_peak_bytes'] or 0) / 2**20:.0f} MiB; verify {summary['verify']['seconds']} s; "
        f"test {time.monotonic() - t0:.1f}s")


def _include_list(p):
    import requests
    return requests.get(f"{p.stack_env['CONNECT_URL']}/connectors/{p.name}/config", timeout=10).json()[
        "table.include.list"]


def _topics(p):
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": p.stack_env["KAFKA_BOOTSTRAP_SERVERS"]})
    return list(admin.list_topics(timeout=10).topics)
