"""--metrics-port: the option and its variable, one-line errors for a bad or busy port (before
anything connects), and the collector's figures, which must be the summary's own."""
import os
import socket
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from testkit import free_port, one_line_error

from thelook_datagen.errors import UserError
from thelook_datagen.metrics import MetricsServer, StatsCollector, registry_for
from thelook_datagen.options import GENERATOR, parse_settings
from thelook_datagen.stats import LATENCY_BOUNDS_S, Stats
from thelook_datagen.tables import WRITTEN_TABLES

# No PG*/KAFKA variables: a check that came after connecting would show up as a connection error.
CLEAN = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "KAFKA", "THELOOK_"))}


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "thelook_datagen", *args], env={**CLEAN, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def test_off_by_default_and_set_by_option_or_variable():
    s = parse_settings([], environ={})
    assert (s.metrics_port, s.metrics_address, s.metrics_linger) == (None, "127.0.0.1", 0.0)
    s = parse_settings([], environ={"THELOOK_METRICS_PORT": "9464", "THELOOK_METRICS_ADDRESS": "0.0.0.0",
                                    "THELOOK_METRICS_LINGER": "5"})
    assert (s.metrics_port, s.metrics_address, s.metrics_linger) == (9464, "0.0.0.0", 5.0)
    s = parse_settings(["--metrics-port", "19464"], environ={"THELOOK_METRICS_PORT": "9464"})
    assert s.metrics_port == 19464, "the command line wins over the environment"
    assert parse_settings([], environ={"THELOOK_METRICS_PORT": ""}).metrics_port is None
    help_text = {o.dest: o.help_text() for o in GENERATOR.options()}["metrics_port"]
    assert "9464" in help_text and "THELOOK_METRICS_PORT" in help_text


@pytest.mark.parametrize("args, env, needle", [
    (["--metrics-port", "0"], {}, "--metrics-port"),
    (["--metrics-port", "65536"], {}, "--metrics-port"),
    (["--metrics-port", "http"], {}, "--metrics-port"),
    (["--metrics-port", "-1"], {}, "--metrics-port"),
    ([], {"THELOOK_METRICS_PORT": "0"}, "THELOOK_METRICS_PORT"),
    ([], {"THELOOK_METRICS_PORT": "99999"}, "THELOOK_METRICS_PORT"),
    ([], {"THELOOK_METRICS_PORT": "ninety"}, "THELOOK_METRICS_PORT"),
    (["--metrics-port", "9464", "--metrics-linger", "-1"], {}, "--metrics-linger"),
])
def test_bad_port_is_one_line_exit_2(args, env, needle):
    proc = run(*args, env=env)
    line = one_line_error(proc, "thelook-datagen: error: ")
    assert proc.returncode == 2 and needle in line, line


def test_port_in_use_is_one_line_before_anything_connects():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # PostgreSQL would be unreachable (nothing listens on PGPORT): the port is checked first
        proc = run("--metrics-port", str(port), "--no-create-topic",
                   env={"PGHOST": "127.0.0.1", "PGPORT": str(free_port()), "PGCONNECT_TIMEOUT": "1"})
    line = one_line_error(proc, "thelook-datagen: error: ")
    assert proc.returncode == 2
    assert f"metrics port {port} is already in use" in line, line
    assert "--metrics-port" in line and "THELOOK_METRICS_PORT" in line, line


def test_an_address_that_cannot_be_bound_is_one_user_error():
    with pytest.raises(UserError) as e:
        MetricsServer(StatsCollector(Stats(0)), free_port(), "192.0.2.1")   # TEST-NET-1: not ours
    assert "cannot serve metrics on 192.0.2.1" in str(e.value)


def known_stats():
    stats = Stats(12.5)
    for kind, latency in [("ghost", 0.0004), ("browse", 0.0012), ("purchase", 0.003), ("purchase", 0.2),
                          ("abandoned_cart", 7.0), ("browse", 0.0005)]:
        stats.visit_done(kind, 0.25, latency)
    stats.visit_done("ghost", 0.125)                      # a visit not timed (no latency)
    for table, op, n in [("users", "insert", 3), ("events", "insert", 17), ("events", "delete", 4),
                         ("orders", "insert", 2), ("orders", "update", 5), ("order_items", "insert", 3),
                         ("inventory_items", "update", 2), ("inventory_items", "insert", 1),
                         ("inventory_items", "delete", 6), ("users", "update", 1), ("users", "delete", 1)]:
        stats.add(table, op, n)
    stats.ticks = 9
    stats.archive_done({"events": 5, "orders": 1, "order_items": 2, "inventory_items": 2})
    stats.archive_done({"events": 0, "orders": 0, "order_items": 0, "inventory_items": 0})
    stats.failed_visits, stats.failed_ticks, stats.failed_archives = 2, 1, 1
    stats.returning_user_gone, stats.visit_retries, stats.ticks_deferred, stats.archives_deferred = 1, 3, 4, 2
    stats.reconnects = 5
    return stats


def scrape(collector):
    from prometheus_client import generate_latest
    text = generate_latest(registry_for(collector)).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(family, suffix="", **match):
    """{label values (sorted by label name, the match left out): value} of a family's samples."""
    out = {}
    for s in family.samples:
        if s.name != family.name + suffix or any(s.labels.get(k) != v for k, v in match.items()):
            continue
        key = tuple(v for k, v in sorted(s.labels.items()) if k not in match)
        out[key[0] if len(key) == 1 else key] = s.value
    return out


def test_collector_figures_are_the_summary_figures():
    stats = known_stats()
    collector = StatsCollector(stats, {"version": "0.1.0", "schema": "demo", "seed": "7"})
    m = scrape(collector)
    summary = stats.snapshot(final=True)

    visits = samples(m["thelook_visits"], "_total")
    assert {k: n for k, n in visits.items() if n} == summary["visit_kinds"]
    assert sum(visits.values()) == summary["visits"] == 7
    assert set(visits) >= {"ghost", "browse", "abandoned_cart", "purchase"}, "every kind from the start"

    written = samples(m["thelook_rows_written"], "_total")
    assert set(written) == {(op, t) for t in WRITTEN_TABLES for op in ("insert", "update", "delete")}
    assert {(t, op): n for (op, t), n in written.items() if n} == {
        (t, op): n for t, ops in summary["tables"].items() for op, n in ops.items()}
    assert sum(written.values()) == summary["rows"] == 55    # 45 + the 10 archived rows (deletes)

    archived = samples(m["thelook_rows_archived"], "_total")
    assert archived == {"events": 5, "orders": 1, "order_items": 2, "inventory_items": 2} == summary["archived"]
    assert samples(m["thelook_archive_steps"], "_total") == {(): summary["archive_steps"]} == {(): 2}
    assert written[("delete", "events")] == 4 + 5 and written[("delete", "orders")] == 1

    errors = samples(m["thelook_errors"], "_total")
    assert errors == {k: summary[k] for k in ("failed_visits", "failed_ticks", "failed_archives")}
    assert sum(errors.values()) == summary["errors"] == 4
    retries = samples(m["thelook_retries"], "_total")
    assert retries == {k: summary[k] for k in ("returning_user_gone", "visit_retries", "ticks_deferred",
                                               "archives_deferred")}
    assert sum(retries.values()) == summary["retries"] == 10
    assert samples(m["thelook_reconnects"], "_total") == {(): summary["reconnects"]} == {(): 5}
    assert samples(m["thelook_lifecycle_ticks"], "_total") == {(): summary["ticks"]} == {(): 9}

    lat = m["thelook_visit_write_latency_seconds"]
    buckets = samples(lat, "_bucket")
    count, total = samples(lat, "_count")[()], samples(lat, "_sum")[()]
    # le is "less than or equal": 0.0005 s itself is in the first bucket, 7 s only in +Inf
    assert [buckets[f"{b:g}"] for b in LATENCY_BOUNDS_S] == [2, 2, 3, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5]
    assert buckets["+Inf"] == count == 6              # the untimed visit is not in the histogram
    assert total == pytest.approx(0.0004 + 0.0012 + 0.003 + 0.2 + 7.0 + 0.0005)
    assert 1000 * total / count == pytest.approx(summary["latency_ms"]["mean"], abs=0.001)

    gauges = {name: m[name].samples[0].value for name in (
        "thelook_target_visits_per_second", "thelook_schedule_lag_seconds", "thelook_schedule_max_lag_seconds",
        "thelook_run_finished", "thelook_horizon_seconds")}
    assert gauges == {"thelook_horizon_seconds": 0.0, "thelook_target_visits_per_second": 12.5, "thelook_schedule_lag_seconds": 0.125,
                      "thelook_schedule_max_lag_seconds": 0.25, "thelook_run_finished": 0.0}
    info = m["thelook_generator_info"].samples[0]
    assert info.name == "thelook_generator_info" and info.labels["seed"] == "7" and info.value == 1
    assert "process_cpu_seconds" in m


def test_every_metric_says_what_it_counts():
    m = scrape(StatsCollector(known_stats(), {"version": "x"}))
    ours = {n: f for n, f in m.items() if n.startswith("thelook_")}
    assert len(ours) >= 13
    for name, family in ours.items():
        assert len(family.documentation) > 30, name
    assert "sum over kind is the summary's errors" in ours["thelook_errors"].documentation
    assert "sum over kind is the summary's retries" in ours["thelook_retries"].documentation


def test_loaded_rows_and_the_end_of_the_run():
    collector = StatsCollector(Stats(0))
    collector.loaded("reference", {"products": 29120, "distribution_centers": 10, "inventory_items": 70000})
    collector.loaded("backfill", {"users": 40, "events": 300, "orders": 0})
    collector.finished = True
    m = scrape(collector)
    assert samples(m["thelook_rows_loaded"], "_total") == {
        ("reference", "products"): 29120, ("reference", "distribution_centers"): 10,
        ("reference", "inventory_items"): 70000, ("backfill", "users"): 40, ("backfill", "events"): 300}
    assert m["thelook_run_finished"].samples[0].value == 1
    assert m["thelook_target_visits_per_second"].samples[0].value == 0, "0 = flat out"


def test_server_serves_the_live_counters_then_closes_its_port():
    stats = Stats(0)
    port = free_port()
    server = MetricsServer(StatsCollector(stats), port)
    try:
        assert server.url == f"http://127.0.0.1:{port}/metrics"
        stats.visit_done("browse", 0.0, 0.001)
        first = urllib.request.urlopen(server.url, timeout=5).read().decode()
        assert 'thelook_visits_total{kind="browse"} 1.0' in first
        stats.visit_done("browse", 0.0, 0.001)            # read at scrape time: the next scrape sees it
        assert 'thelook_visits_total{kind="browse"} 2.0' in urllib.request.urlopen(server.url, timeout=5).read().decode()
        stopped = iter([False, False, True])
        server.linger(30, lambda: next(stopped))           # a signal ends the linger at once
    finally:
        server.close()
    assert not server.thread.is_alive()
    with pytest.raises(OSError):                           # nothing listens any more
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    MetricsServer(StatsCollector(stats), port).close()     # and the next run can have the port
