"""Poisson arrivals against a fake clock."""
from thelook_datagen.pacing import Pacer


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


import pytest


@pytest.mark.parametrize("arrivals", ["poisson", "stratified"])
def test_schedule_mean_rate_and_no_future_timestamps(arrivals):
    clock = FakeClock()
    wall = lambda: clock.t + 1_800_000_000.0  # noqa: E731
    p = Pacer(100.0, seed=3, clock=clock, wall=wall, arrivals=arrivals)
    stamps = []
    for _ in range(20000):
        clock.t += p.wait_seconds()          # the loop sleeps exactly until due
        ts = p.advance()
        assert ts <= wall()
        stamps.append(ts)
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert abs(rate - 100.0) / 100.0 < 0.02
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
    assert gaps[len(gaps) // 2] < 0.01 - 0.002   # exponential: median ~0.69 of the mean


@pytest.mark.parametrize("qps", [1.0, 2.5, 10.0, 100.0, 500.0])
def test_stratified_rate_is_exact_over_a_minute(qps):
    clock = FakeClock()
    p = Pacer(qps, seed=5, clock=clock, wall=lambda: clock.t)
    n = 0
    while True:
        clock.t += p.wait_seconds()
        if clock.t - p.start >= 60.0:
            break
        p.advance()
        n += 1
    assert abs(n / 60.0 - qps) / qps < 0.02


def test_stratified_gaps_are_random_with_the_right_mean():
    clock = FakeClock()
    p = Pacer(50.0, seed=9, clock=clock, wall=lambda: clock.t)
    stamps = []
    for _ in range(5000):
        clock.t += p.wait_seconds()
        stamps.append(p.advance())
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    mean = sum(gaps) / len(gaps)
    assert abs(mean - 0.02) < 0.0005
    cv = (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5 / mean
    assert 0.85 < cv < 1.1, "spread like exponential gaps (coefficient of variation ~1)"


def test_time_spent_writing_does_not_lower_the_rate():
    clock = FakeClock()
    p = Pacer(50.0, seed=1, clock=clock, wall=lambda: clock.t)
    for _ in range(5000):
        clock.t += p.wait_seconds()
        p.advance()
        clock.t += 0.015                     # each visit takes 15 ms to write (< 20 ms mean gap)
    assert abs(5000 / (clock.t - p.start) - 50.0) / 50 < 0.03


def test_lag_reported_when_behind():
    clock = FakeClock()
    p = Pacer(100.0, seed=1, clock=clock, wall=lambda: clock.t)
    for _ in range(100):
        clock.t += p.wait_seconds()
        p.advance()
        clock.t += 0.05                      # 5x slower than the schedule
    assert p.lag > 3.0


def test_flat_out_has_no_wait():
    p = Pacer(0)
    assert p.wait_seconds() == 0.0 and p.next_due() is None
