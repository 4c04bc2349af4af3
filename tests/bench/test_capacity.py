"""The pure logic of bench/capacity.py: percentiles, the "kept up" decision, metric parsing (no services)."""
import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("capacity", Path(__file__).resolve().parents[2] / "bench" / "capacity.py")
capacity = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(capacity)


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert capacity.percentile(values, 50) == 50
    assert capacity.percentile(values, 99) == 99
    assert capacity.percentile(values, 100) == 100
    assert capacity.percentile([7], 99) == 7
    assert capacity.percentile([3, 1, 2], 50) == 2


def test_steady_lag_keeps_up():
    samples = [(t, 200 + (t % 3) * 50) for t in range(0, 61, 5)]
    assert capacity.kept_up(samples, 0, 60) is True


def test_growing_lag_does_not_keep_up():
    samples = [(t, 100 + 100 * t) for t in range(0, 61, 5)]      # +100 ms per second of the step
    assert capacity.lag_trend(samples, 0, 60) == (850, 5350)
    assert capacity.kept_up(samples, 0, 60) is False


def test_small_growth_below_the_floor_is_noise():
    samples = [(t, 100 + 10 * t) for t in range(0, 61, 5)]       # 0.1 s -> 0.7 s: under 1 s
    assert capacity.kept_up(samples, 0, 60) is True


def test_large_steady_lag_that_shrinks_keeps_up():
    samples = [(t, 20000 - 100 * t) for t in range(0, 61, 5)]
    assert capacity.kept_up(samples, 0, 60) is True


def test_no_samples_is_unknown():
    assert capacity.kept_up([], 0, 60) is None
    assert capacity.kept_up([(10, 5)], 0, 60) is None


def test_sustained_needs_the_rate_and_both_stages():
    assert capacity.sustained(500, 490, True, True)
    assert not capacity.sustained(500, 400, True, True)
    assert not capacity.sustained(500, 500, False, True)
    assert not capacity.sustained(500, 500, True, False)
    assert capacity.sustained(500, 500, None, True)          # unknown is not counted as falling behind


def test_bottleneck_is_the_busiest_process():
    assert capacity.bottleneck({"postgres": 0.4, "connect": 0.9, "taskmanager": 0.7}) == "connect"
    assert capacity.bottleneck({}) is None


def test_parse_metrics_sums_series():
    text = """# HELP thelook_visits_total Visits
# TYPE thelook_visits_total counter
thelook_visits_total{kind="ghost"} 10.0
thelook_visits_total{kind="purchase"} 5.0
thelook_rows_written_total{table="orders",op="insert"} 7.0
thelook_schedule_lag_seconds 0.25
thelook_visits_created 1.7e9
"""
    got = capacity.parse_metrics(text, ("thelook_visits_total", "thelook_rows_written_total",
                                        "thelook_schedule_lag_seconds"))
    assert got == {"thelook_visits_total": 15.0, "thelook_rows_written_total": 7.0,
                   "thelook_schedule_lag_seconds": 0.25}


def test_source_ts_ms_reads_the_source_block():
    event = (b'{"before":null,"after":{"id":1,"ts_ms":5},"source":{"version":"3.6","connector":"postgresql",'
             b'"name":"x","ts_ms":1764450000123,"snapshot":"false"},"transaction":null,"op":"c","ts_ms":1764450000200}')
    assert capacity.source_ts_ms(event) == 1764450000123
    assert capacity.source_ts_ms(b'{"op":"c"}') is None
