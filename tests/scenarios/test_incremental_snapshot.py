"""incremental-snapshot on the real stack (stack tier), on the scenario tests' shared pipeline (conftest.py):
`scripts/scenario incremental-snapshot` at 20 visits/s re-reads products and users through Debezium's
signalling table: exit 0, Debezium's COMPLETED notification, one read event per key (each table's reads between
the rows it scanned minus the streamed changes meanwhile and the rows scanned), streaming going on meanwhile,
verify OK with the re-read rows, the signalling table left as found and the connector RUNNING afterwards."""
import time

import pytest
from scenariokit import connector_states, log, run_scenario


@pytest.mark.timeout(300)       # the pipeline fixture's setup included when this file runs alone
def test_incremental_snapshot_of_products_and_users_while_streaming(scenario_pipeline):
    p = scenario_pipeline
    signal_table = f"{p.schema}.debezium_signal"
    rows_before = p.sql(f"SELECT count(*) FROM {signal_table}")[0][0]
    products, users = (p.sql(f"SELECT count(*) FROM {p.schema}.{t}")[0][0] for t in ("products", "users"))
    t0 = time.monotonic()
    res, summary = run_scenario(p, "incremental-snapshot", "--rate", 20, "--seed", 4, "--snapshot-timeout", 120,
                                timeout=240)
    seconds = time.monotonic() - t0
    assert res.returncode == 0 and summary, res.stdout[-4000:] + res.stderr
    assert summary["ok"] and summary["completed"] and not summary["problems"], summary.get("problems")
    assert summary["tables"] == ["products", "users"]
    reads, scanned = summary["reads"], summary["scanned"]
    # Debezium scanned every row that existed at the signal (products: no writes; users: grows meanwhile)
    assert scanned["products"] == summary["rows_at_signal"]["products"] >= products > 28000
    assert scanned["users"] >= users > 0
    for t in ("products", "users"):
        assert summary["distinct_keys"][t] == reads[t], "each key read once"
        assert scanned[t] - summary["streamed_changes"][t] <= reads[t] <= scanned[t], (t, summary)
    assert summary["reads_total"] == reads["products"] + reads["users"]
    assert summary["snapshot_s"] > 0 and summary["rows_per_s"] > 0
    assert summary["debezium_snapshot_s"] is not None and summary["debezium_snapshot_s"] <= summary["snapshot_s"]
    # streaming went on: the generator's sign-ups arrived as streamed changes of users during the snapshot
    assert summary["generator"]["visits"] > 0
    # verify OK with the re-read rows (replayed as upserts: the row counts equal PostgreSQL's)
    assert summary["verify"]["ok"] and summary["verify"]["exit_status"] == 0
    texts = [e["text"] for e in summary["timeline"]]
    assert any("Debezium: incremental snapshot STARTED" in x for x in texts)
    assert any(x.startswith("Debezium: products scanned") for x in texts)
    # left as found: the run's signal and watermark rows deleted, the connector and its task RUNNING
    assert any("cleanup:" in x and "deleted from" in x for x in texts)
    assert p.sql(f"SELECT count(*) FROM {signal_table}")[0][0] == rows_before
    assert connector_states(p) == ["RUNNING", "RUNNING"]
    log(f"figures: snapshot {summary['snapshot_s']} s (Debezium {summary['debezium_snapshot_s']} s), reads {reads}, "
        f"scanned {scanned}, {summary['rows_per_s']} rows/s, streamed meanwhile {summary['streamed_changes']}, peak "
        f"latency {summary['peak_latency_ms']} ms, verify {summary['verify']['seconds']} s; scenario {seconds:.1f} s")
