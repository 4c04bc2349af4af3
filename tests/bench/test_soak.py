"""The pure logic of bench/soak.py: run length, warm-up, least-squares trends and the goal checks (no services)."""
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))          # soak.py imports its neighbour stack_memory.py
SPEC = importlib.util.spec_from_file_location("soak", BENCH / "soak.py")
soak = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(soak)
MIB = soak.MIB


def samples(values, step_s=60, visits_per_s=100):
    """Samples every step_s seconds at a steady rate, one series "x" with the given values."""
    return [{"t": i * step_s, "visits": i * step_s * visits_per_s, "sim_h": i * step_s * visits_per_s / 36000,
             "values": {"x": v}} for i, v in enumerate(values)]


def test_plan_defaults_to_eight_simulated_hours():
    assert soak.plan(100) == (48.0, 8.0)
    assert soak.plan(10) == (480.0, 8.0)


def test_plan_converts_minutes_and_simulated_hours():
    minutes, hours = soak.plan(100, minutes=30)
    assert minutes == 30 and hours == pytest.approx(5.0)
    assert soak.plan(50, simulated_hours=2) == (pytest.approx(24.0), 2)


@pytest.mark.parametrize("rate,minutes,hours", [(0, None, None), (-5, None, None), (float("nan"), None, None),
                                                (100, 0, None), (100, None, -1), (100, 30, 5)])
def test_plan_refuses_bad_input(rate, minutes, hours):
    with pytest.raises(ValueError):
        soak.plan(rate, minutes, hours)


def test_warmup_is_the_first_simulated_hour_at_most_a_third():
    assert soak.default_warmup_minutes(100, 48) == pytest.approx(6.0)     # 36,000 visits at 100/s
    assert soak.default_warmup_minutes(100, 3) == pytest.approx(1.0)      # a smoke run keeps two thirds


def test_least_squares_recovers_a_line():
    slope, intercept = soak.least_squares([(x, 3 * x + 7) for x in range(10)])
    assert slope == pytest.approx(3) and intercept == pytest.approx(7)
    assert soak.least_squares([(1, 5)]) is None
    assert soak.least_squares([(2, 5), (2, 6)]) is None


def test_trend_leaves_the_warmup_out_and_converts_to_simulated_and_real_hours():
    # 100 MiB flat during a 5-minute warm-up spike, then +1 MiB per real minute
    values = [500 * MIB] * 5 + [100 * MIB + i * MIB for i in range(20)]
    tr = soak.trend(samples(values), "x", warmup_s=5 * 60)
    assert tr.n == 20 and tr.start == 100 * MIB and tr.end == 119 * MIB
    assert tr.per_real_hour == pytest.approx(60 * MIB)
    # 100 visits/s: a real hour is 10 simulated hours
    assert tr.per_sim_hour == pytest.approx(6 * MIB)
    assert tr.base == pytest.approx(100 * MIB)
    assert tr.relative == pytest.approx(0.06)


def test_trend_needs_three_samples_after_the_warmup_and_skips_missing_values():
    assert soak.trend(samples([1, 2, 3, 4]), "x", warmup_s=120) is None
    s = samples([1, None, 3, 4, 5])
    assert soak.trend(s, "x", warmup_s=0).n == 4


def test_memory_growing_five_percent_per_simulated_hour_is_not_flat():
    base = 300 * MIB
    # 100 visits/s, samples a minute apart = 0.1667 simulated h: +5% per simulated hour
    growing = samples([base + i * 0.05 * base / 6 for i in range(30)])
    assert soak.memory_flat(soak.trend(growing, "x", 0)) is False
    slower = samples([base + i * 0.04 * base / 6 for i in range(30)])
    assert soak.memory_flat(soak.trend(slower, "x", 0)) is True


def test_memory_sawtooth_and_shrinking_are_flat_and_tiny_growth_is_noise():
    saw = samples([200 * MIB + (i % 5) * 20 * MIB for i in range(30)])
    assert soak.memory_flat(soak.trend(saw, "x", 0)) is True
    shrinking = samples([400 * MIB - i * MIB for i in range(30)])
    assert soak.memory_flat(soak.trend(shrinking, "x", 0)) is True
    # a 10 MiB process growing 0.5 MiB per simulated hour: 5% but under the 1 MiB noise floor
    tiny = samples([10 * MIB + i * 0.5 * MIB / 6 for i in range(30)])
    assert soak.memory_flat(soak.trend(tiny, "x", 0)) is True
    assert soak.memory_flat(None) is None


def test_disk_linear_growth_and_levelling_off_pass_acceleration_fails():
    linear = samples([50 * MIB + i * 4 * MIB for i in range(30)])
    assert soak.disk_linear(soak.halves(linear, "x", 0)) is True
    levels_off = samples([50 * MIB + min(i, 15) * 4 * MIB for i in range(30)])
    assert soak.disk_linear(soak.halves(levels_off, "x", 0)) is True
    quadratic = samples([50 * MIB + i * i * MIB for i in range(30)])
    first, second = soak.halves(quadratic, "x", 0)
    assert second > 2 * first
    assert soak.disk_linear((first, second)) is False
    assert soak.disk_linear(soak.halves(samples([1, 2]), "x", 0)) is None


def test_wal_projection_against_the_slot_limit():
    flat = soak.trend(samples([4 * MIB] * 10), "x", 0)
    assert soak.wal_bounded(flat, 4 * MIB, 2048 * MIB) == (True, 4 * MIB)
    # +6 MiB per real minute at 100 visits/s = 36 MiB per simulated hour: 8 more hours reach 300 MiB
    leaking = soak.trend(samples([i * 6 * MIB for i in range(10)]), "x", 0)
    ok, projected = soak.wal_bounded(leaking, 54 * MIB, 256 * MIB)
    assert ok is False and projected == pytest.approx(54 * MIB + 8 * 36 * MIB)
    assert soak.wal_bounded(leaking, 54 * MIB, None)[0] is None          # unlimited: reported only
    assert soak.wal_bounded(None, None, 256 * MIB) == (None, None)


@pytest.mark.parametrize("text,seconds", [("1 h", 3600), ("90 min", 5400), ("3600000", 3600), ("2d", 172800),
                                          ("30 s", 30), ("1.5 hours", 5400), ("soon", None), ("5 fortnights", None)])
def test_parse_duration(text, seconds):
    assert soak.parse_duration(text) == seconds


def test_sql_ttls_finds_the_setting_and_hints():
    sql = ("SET 'table.exec.state.ttl' = '2 h';\nSET 'table.exec.state.ttl' = '0 ms';\n"
           "SELECT /*+ STATE_TTL('o' = '1d', 'i' = '12 h') */ * FROM orders o JOIN items i ON o.id = i.order_id;")
    assert soak.sql_ttls("jobs/x.sql", sql) == [("jobs/x.sql: table.exec.state.ttl", 7200),
                                                ("jobs/x.sql: STATE_TTL o", 86400),
                                                ("jobs/x.sql: STATE_TTL i", 43200)]


def results(memory=None, disk=None, wal=(True, ""), pipeline=(True, ""), verify=(True, "")):
    return {"memory": {"heap after GC taskmanager": (True, 1.0)} if memory is None else memory,
            "disk": {"Kafka log dirs": True} if disk is None else disk, "wal": wal, "pipeline": pipeline,
            "verify": verify}


def test_goals_all_met_exit_zero():
    rows = soak.goals(results())
    assert [met for _, met, _ in rows] == [True] * 5
    assert soak.exit_status(rows) == 0


def test_a_missed_goal_is_named_and_exits_one():
    rows = soak.goals(results(memory={"heap after GC taskmanager": (False, 12.5), "RSS postgres": (True, 0.1)}))
    assert rows[0][1] is False and "taskmanager +12.5%/sim h" in rows[0][2]
    assert soak.exit_status(rows) == 1
    rows = soak.goals(results(disk={"Kafka log dirs": True, "PostgreSQL database": False}))
    assert rows[1][1] is False and "PostgreSQL database" in rows[1][2]
    assert soak.exit_status(soak.goals(results(verify=(False, "FAILED")))) == 1


def test_a_goal_that_could_not_be_checked_is_not_met():
    rows = soak.goals(results(memory={"heap after GC kafka": (None, 0.0)}, verify=(None, "not run")))
    assert rows[0][1] is None and "no trend for heap after GC kafka" in rows[0][2]
    assert soak.exit_status(rows) == 1


def test_histogram_total_is_the_live_bytes():
    text = """12345:
 num     #instances         #bytes  class name (module)
-------------------------------------------------------
   1:         74197       10777296  [B (java.base@17.0.15)
   2:         71721        1721304  java.lang.String (java.base@17.0.15)
Total        442710       26496504
"""
    assert soak.histogram_total(text) == 26496504
    assert soak.histogram_total("12345:\nCommand executed\n") is None


def test_jstat_old_survivor_adds_s0_s1_and_old_in_bytes():
    text = ("    S0C    S1C    S0U    S1U      EC       EU        OC         OU       MC     MU    CCSC   CCSU   YGC     "
            "YGCT    FGC    FGCT     CGC    CGCT     GCT\n"
            "    0.0 2048.0    0.0 1970.8 80896.0 16384.0  207872.0  169340.0 49472.0 48480.2 6272.0 5794.4     23    "
            "0.419     0    0.000    12    0.078    0.496\n")
    assert soak.jstat_old_survivor(text) == pytest.approx((1970.8 + 169340.0) * 1024)
    assert soak.jstat_old_survivor("") is None


def test_horizon_is_demo_time_scaled_to_the_run():
    assert soak.demo_horizon("1h") == 3600
    assert soak.demo_horizon("off") is None
    assert soak.real_horizon(3600, 100) == 360      # ten times the demo's rate: a demo hour in 6 real minutes
    assert soak.real_horizon(3600, 10) == 3600


def test_bad_horizon_is_a_one_line_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        soak.main(["--horizon", "soon"])
    assert e.value.code == 2
    assert "--horizon" in capsys.readouterr().err
