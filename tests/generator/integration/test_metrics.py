"""--metrics-port end to end: a run on a fresh schema (reference data, a short bulk history, then
visits flat out with a fast lifecycle and a --horizon that archives the older part of the history, so
rows are inserted, updated and deleted) is scraped while it runs and once more after its summary
(--metrics-linger keeps the server up for that final scrape).

Done when: the final scrape's counters are the JSON summary's, and for each table the rows the
generator counts as inserted (streaming and COPY loads) minus those it counts as deleted equal the
table's count(*) in PostgreSQL."""
import json
import signal
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from testkit import free_port, watch

from thelook_datagen.tables import WRITTEN_TABLES

pytestmark = pytest.mark.stack

FAST = ["--time-scale", "172800"]
VISITS = 2000


def scrape(url):
    """{(sample name, sorted label items): value}, or None when nothing answers."""
    try:
        text = urllib.request.urlopen(url, timeout=2).read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def by_label(m, name, label):
    return {dict(labels)[label]: v for (n, labels), v in m.items() if n == name}


def one(m, name):
    return m[(name, ())]


@pytest.mark.timeout(60)
def test_metrics_while_running_and_final_counts_equal_summary_and_database(start_gen, schema, db):
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    proc = start_gen("--schema", schema, "--if_exists", "replace", "--no-create-topic", "--seed", "17",
                     "--max_iter", str(VISITS), "--backfill-days", "0.003", "--backfill-rate", "5",
                     "--log-format", "json", "--status-interval", "1", *FAST, "--horizon", "60s",
                     "--metrics-port", str(port), "--metrics-linger", "60")
    err = watch(proc)
    err.wait_for('"event": "backfill"', timeout=30)

    # while it runs: every 0.2 s; counters never go down, and some scrape lands mid-run
    scrapes, deadline = [], time.monotonic() + 30
    while not any('"event": "summary"' in line for line in err.lines):
        assert proc.poll() is None and time.monotonic() < deadline, err.text[-3000:]
        m = scrape(url)
        if m is not None:
            scrapes.append(m)
        time.sleep(0.2)
    counters = [k for k in scrapes[0] if k[0].endswith(("_total", "_count", "_bucket"))]
    for before, after in zip(scrapes, scrapes[1:]):
        assert all(after[k] >= before[k] for k in counters)
    mid = [sum(by_label(m, "thelook_visits_total", "kind").values()) for m in scrapes
           if one(m, "thelook_run_finished") == 0]
    assert any(0 < v < VISITS for v in mid), mid

    # after the summary: the final figures (the server lingers, Ctrl-C/SIGTERM ends the wait)
    for _ in range(50):
        final = scrape(url)
        if final is not None and one(final, "thelook_run_finished") == 1:
            break
        time.sleep(0.1)
    assert one(final, "thelook_run_finished") == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    out = err.finish()
    assert "Traceback" not in out
    records = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    summary = [r for r in records if r["event"] == "summary"][-1]
    backfill = [r for r in records if r["event"] == "backfill"][-1]

    # the metrics are the summary's figures
    visits = by_label(final, "thelook_visits_total", "kind")
    assert {k: v for k, v in visits.items() if v} == summary["visit_kinds"]
    assert sum(visits.values()) == summary["visits"] == VISITS
    written = {(dict(lb)["table"], dict(lb)["op"]): v for (n, lb), v in final.items()
               if n == "thelook_rows_written_total"}
    assert {k: v for k, v in written.items() if v} == {
        (t, op): n for t, ops in summary["tables"].items() for op, n in ops.items()}
    assert sum(written.values()) == summary["rows"]
    assert by_label(final, "thelook_errors_total", "kind") == {
        k: summary[k] for k in ("failed_visits", "failed_ticks", "failed_archives")}
    assert by_label(final, "thelook_retries_total", "kind") == {
        k: summary[k] for k in ("returning_user_gone", "visit_retries", "ticks_deferred", "archives_deferred")}
    archived = by_label(final, "thelook_rows_archived_total", "table")
    assert {t: v for t, v in archived.items() if v} == summary["archived"]
    assert archived["events"] > 0 and archived["orders"] > 0         # the history's older part
    assert one(final, "thelook_archive_steps_total") == summary["archive_steps"] > 0
    assert one(final, "thelook_horizon_seconds") == 60
    assert one(final, "thelook_reconnects_total") == summary["reconnects"]
    assert one(final, "thelook_lifecycle_ticks_total") == summary["ticks"] > 0
    assert one(final, "thelook_visit_write_latency_seconds_count") == VISITS
    mean_ms = 1000 * one(final, "thelook_visit_write_latency_seconds_sum") / VISITS
    assert mean_ms == pytest.approx(summary["latency_ms"]["mean"], abs=0.001)
    assert one(final, "thelook_schedule_max_lag_seconds") == pytest.approx(summary["max_lag_s"], abs=0.001)
    assert one(final, "thelook_target_visits_per_second") == 0
    loaded = {(dict(lb)["source"], dict(lb)["table"]): v for (n, lb), v in final.items()
              if n == "thelook_rows_loaded_total"}
    assert {t: v for (src, t), v in loaded.items() if src == "backfill"} == {
        t: n for t, n in backfill["tables"].items() if n}
    assert loaded[("reference", "products")] > 28000

    # the run changed rows in every way, and the counts add up to what the tables hold
    assert all(written[(t, "update")] and written[(t, "delete")] for t in ("users", "inventory_items")), written
    for table in WRITTEN_TABLES:
        expected = (written[(table, "insert")] - written[(table, "delete")]
                    + sum(v for (src, t), v in loaded.items() if t == table))
        assert expected == db.count(schema, table), table
