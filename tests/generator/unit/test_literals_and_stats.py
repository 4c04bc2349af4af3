import io
import json

from thelook_datagen.db.literals import float_array, int_array, lit, str_array
from thelook_datagen.stats import Log, Stats, format_text


def test_literals():
    assert lit("O'Brien") == "'O''Brien'"
    assert lit("back\\slash") == "'back\\slash'"      # standard_conforming_strings = on
    assert lit(None) == "NULL" and lit(True) == "true" and lit(3) == "3" and lit(1.5) == "1.5"
    assert str_array(["a'b", "c"]) == "ARRAY['a''b','c']" and str_array([]) == "'{}'"
    assert float_array([1.25]) == "ARRAY[1.25]" and int_array(None) == "'{}'"


def test_status_and_summary_json():
    stats = Stats(10.0)
    stats.add("orders", "insert", 3)
    stats.add("orders", "update", 2)
    stats.visit_done("purchase", 0.25)
    out = io.StringIO()
    log = Log("json", stream=out)
    log.status(stats.snapshot())
    log.summary(stats.snapshot(final=True))
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["event"] for x in lines] == ["status", "summary"]
    assert lines[1]["tables"]["orders"] == {"insert": 3, "update": 2}
    assert lines[1]["lag_s"] == 0.25 and lines[1]["target_visits_per_s"] == 10.0
    text = format_text(lines[1])
    assert "orders(+3 ~2 -0)" in text and "target 10/s" in text and "lag 0.250s" in text


def test_quiet_keeps_summary():
    out = io.StringIO()
    log = Log("text", quiet=True, stream=out)
    stats = Stats(0)
    log.status(stats.snapshot())
    log.info("hello")
    log.summary(stats.snapshot(final=True))
    assert out.getvalue().count("\n") == 1 and "summary" in out.getvalue()


def test_status_says_when_behind_schedule():
    stats = Stats(500.0)
    stats.visit_done("ghost", 2.5)
    assert "BEHIND SCHEDULE by 2.5s" in format_text(stats.snapshot())
    stats.visit_done("ghost", 0.01)
    assert "BEHIND" not in format_text(stats.snapshot())


def test_latency_percentiles_within_a_bucket():
    from thelook_datagen.latency import GROWTH, Latency
    lat = Latency()
    values = [i / 1000 for i in range(1, 1001)]        # 1 ms .. 1 s, uniform
    for v in reversed(values):
        lat.add(v)
    for q, exact in ((0.5, 0.5), (0.95, 0.95), (0.99, 0.99)):
        assert exact <= lat.percentile(q) <= exact * GROWTH
    assert lat.percentile(1.0) == lat.max == 1.0
    assert Latency().summary_ms() == {"mean": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    assert lat.summary_ms()["mean"] == 500.5


def test_status_reports_latency_since_the_last_line_and_summary_over_the_run():
    stats = Stats(10.0)
    for _ in range(99):
        stats.visit_done("browse", 0.0, 0.002)
    stats.visit_done("browse", 0.0, 0.5)
    first = stats.snapshot()
    assert first["latency_ms"]["max"] == 500.0 and 2.0 <= first["latency_ms"]["p50"] <= 2.05
    assert "latency ms mean 6.98 p50 2.0" in format_text(first)
    stats.visit_done("browse", 0.0, 0.010)
    assert stats.snapshot()["latency_ms"]["max"] == 10.0          # the interval's own figures
    final = stats.snapshot(final=True)
    assert final["latency_ms"]["max"] == 500.0 and 2.0 <= final["latency_ms"]["p99"] <= 10.2


def test_counters_add_up_and_each_has_its_key_and_place_in_the_line():
    from thelook_datagen.stats import Snapshot
    from thelook_datagen.tables import WRITTEN_TABLES
    stats = Stats(0)
    assert {t for t, _ in stats.rows} == set(WRITTEN_TABLES)
    stats.failed_visits, stats.failed_ticks = 2, 1
    stats.returning_user_gone, stats.visit_retries, stats.ticks_deferred = 1, 2, 4
    stats.reconnects = 5
    stats.ticks = 6
    stats.visit_done("ghost", 0.0)
    stats.visit_done("purchase", 0.0)
    stats.add("events", "insert", 7)
    stats.add("events", "delete", 2)
    snap = stats.snapshot()
    assert set(snap) == set(Snapshot.__annotations__)            # the declared shape, no more, no less
    assert snap["visits"] == sum(snap["visit_kinds"].values()) == 2
    assert snap["rows"] == sum(n for ops in snap["tables"].values() for n in ops.values()) == 9
    assert (snap["errors"], snap["failed_visits"], snap["failed_ticks"]) == (3, 2, 1)
    assert (snap["retries"], snap["returning_user_gone"], snap["visit_retries"], snap["ticks_deferred"]) == (7, 1, 2, 4)
    line = format_text(snap)
    assert "\n" not in line
    assert "| ticks 6 | errors 3 retries 7 (gone 1, conflict 2, tick 4) reconnects 5 |" in line


def test_archived_rows_are_deletes_counted_apart_and_shown_once_there_are_steps():
    stats = Stats(10)
    stats.add("events", "insert", 100)
    stats.add("events", "delete", 3)                 # an account closure, not the horizon
    assert "archived" not in format_text(stats.snapshot())
    stats.archive_done({"events": 40, "orders": 2, "order_items": 3, "inventory_items": 3})
    stats.archive_done({"events": 0, "orders": 0, "order_items": 0, "inventory_items": 0})
    stats.failed_archives, stats.archives_deferred = 1, 2
    snap = stats.snapshot()
    assert snap["archived"] == {"events": 40, "orders": 2, "order_items": 3, "inventory_items": 3}
    assert snap["archive_steps"] == 2
    assert snap["tables"]["events"] == {"insert": 100, "delete": 43}
    assert snap["tables"]["orders"] == {"delete": 2} and snap["rows"] == 100 + 43 + 2 + 3 + 3
    assert (snap["errors"], snap["retries"]) == (1, 2)
    line = format_text(snap)
    assert ("| archived 48 rows (events 40, orders 2, order_items 3, inventory_items 3) in 2 steps "
            "(failed 1, deferred 2)") in line


def test_a_record_of_its_own_is_shown_even_when_quiet():
    out = io.StringIO()
    Log("json", quiet=True, stream=out).record("backfill", {"rows": 3}, "backfill: 3 rows")
    rec = json.loads(out.getvalue())
    assert rec["event"] == "backfill" and rec["rows"] == 3
    out = io.StringIO()
    Log("text", quiet=True, stream=out).record("backfill", {"rows": 3}, "backfill: 3 rows")
    assert out.getvalue() == "[thelook-datagen] backfill: 3 rows\n"


def test_the_run_counts_from_its_start():
    now = [10.0]
    stats = Stats(0, clock=lambda: now[0])
    now[0] = 50.0
    stats.start(40.0)
    stats.visit_done("browse", 0.0)
    now[0] = 60.0
    snap = stats.snapshot()
    assert snap["elapsed_s"] == 20.0 and snap["visits_per_s"] == 0.05 and snap["recent_visits_per_s"] == 0.05
