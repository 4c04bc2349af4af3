"""The pure logic of bench/horizon.py: the steady-state trend and the insert/delete rates (no services)."""
import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("horizon_bench", Path(__file__).resolve().parents[2] / "bench" / "horizon.py")
horizon = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(horizon)


def test_slope_is_per_minute_over_the_second_half_only():
    # grows 100 rows a second for 60 s, then stays flat: the trend from 60 s on is 0
    points = [(t, 100 * min(t, 60)) for t in range(0, 121, 10)]
    assert horizon.slope_per_minute(points, 0) > 0
    assert horizon.slope_per_minute(points, 60) == pytest.approx(0.0)
    assert horizon.slope_per_minute([(t, 3 * t) for t in range(0, 100, 5)], 0) == pytest.approx(180.0)


def test_slope_needs_two_points():
    assert horizon.slope_per_minute([(0, 5)], 0) is None
    assert horizon.slope_per_minute([(0, 5), (10, 6)], 20) is None


def test_rates_between_two_status_records():
    first = {"elapsed_s": 100.0, "tables": {"events": {"insert": 1000, "delete": 100}}}
    last = {"elapsed_s": 110.0, "tables": {"events": {"insert": 2000, "delete": 1050}, "orders": {"insert": 40}}}
    r = horizon.rates_between(first, last)
    assert r["events"] == (100.0, 95.0) and r["orders"] == (4.0, 0.0) and r["users"] == (0.0, 0.0)
