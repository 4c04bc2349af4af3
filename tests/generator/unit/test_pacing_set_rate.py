"""Pacer.set_rate (the --control endpoint's rate change) against a fake clock: the schedule restarts
at the moment of the change, so the new rate holds from there with no burst of visits owed to the
old schedule, whether it was slower, behind, paced or flat out."""
import pytest

from thelook_datagen.pacing import Pacer

ARRIVALS = ["stratified", "poisson"]


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t

    def wall(self):
        return self.t + 1_800_000_000.0


def pacer(qps, arrivals="stratified", seed=7):
    clock = FakeClock()
    return Pacer(qps, seed=seed, clock=clock, wall=clock.wall, arrivals=arrivals), clock


def run_for(p, clock, seconds, write_s=0.0):
    """Visits the way the loop makes them (sleep until due, advance) until `seconds` have passed;
    returns their scheduled wall times."""
    end, stamps = clock.t + seconds, []
    while True:
        wait = p.wait_seconds()
        if clock.t + wait >= end:
            clock.t = end
            return stamps
        clock.t += wait
        stamps.append(p.advance())
        assert stamps[-1] <= clock.wall(), "a visit's time never lies in the future"
        clock.t += write_s


@pytest.mark.parametrize("arrivals", ARRIVALS)
def test_the_schedule_restarts_from_the_change(arrivals):
    p, clock = pacer(2.0, arrivals)
    run_for(p, clock, 3.3)
    changed_at = clock.t
    p.set_rate(50.0)
    assert (p.qps, p.start, p.wall_start, p.lag) == (50.0, changed_at, clock.wall(), 0.0)
    assert changed_at < p.next_due() < changed_at + 1.0
    stamps = run_for(p, clock, 20.0)
    assert min(stamps) >= clock.wall() - 20.0, "no visit is scheduled before the change"
    assert abs(len(stamps) / 20.0 - 50.0) / 50.0 < (0.01 if arrivals == "stratified" else 0.08)


@pytest.mark.parametrize("arrivals", ARRIVALS)
def test_a_long_wait_at_a_slow_rate_is_not_owed_after_raising_it(arrivals):
    """0.2 visits/s: 4.9 s pass waiting for a visit; then 40 visits/s. The next second holds about
    40 visits, not 40 plus the 4.9 s x 40 'missed' under the new rate."""
    p, clock = pacer(0.2, arrivals, seed=11)
    clock.t += 4.9                       # the loop is waiting (the first visit may or may not be due)
    p.set_rate(40.0)
    assert p.wait_seconds() > 0, "nothing is due at the instant of the change"
    first = run_for(p, clock, 0.25)
    assert len(first) <= 25, f"{len(first)} visits in the first 0.25 s at 40/s: a burst"
    rest = run_for(p, clock, 4.75)
    n = len(first) + len(rest)
    assert abs(n / 5.0 - 40.0) / 40.0 < (0.01 if arrivals == "stratified" else 0.2), n


def test_lagging_behind_is_forgotten():
    """The database was too slow for the old schedule (3 s behind): the new schedule starts at the
    change, so nothing is due at once and the lag is 0 again."""
    p, clock = pacer(100.0)
    run_for(p, clock, 2.0, write_s=0.05)
    assert p.lag > 0.5
    p.set_rate(10.0)
    assert p.lag == 0.0 and p.wait_seconds() > 0
    stamps = run_for(p, clock, 10.0)
    assert len(stamps) == 100 and p.lag == 0.0


def test_paced_to_flat_out_and_back():
    p, clock = pacer(5.0)
    run_for(p, clock, 1.0)
    p.set_rate(0)
    assert p.next_due() is None and p.wait_seconds() == 0.0
    clock.t += 0.001
    assert p.advance() == clock.wall() and p.lag == 0.0, "flat out: each visit's time is now"
    clock.t += 0.5
    p.set_rate(10.0)
    changed_at = clock.t
    assert p.next_due() > changed_at and p.wait_seconds() > 0, "no visit owed from the flat-out time"
    assert len(run_for(p, clock, 10.0)) == 100


def test_flat_out_start_then_paced():
    p, clock = pacer(0)
    assert p.next_due() is None
    clock.t += 60.0
    p.set_rate(25.0)
    assert 0 < p.wait_seconds() <= 1.0
    assert len(run_for(p, clock, 4.0)) == 100


def test_timestamps_keep_increasing_across_changes():
    p, clock = pacer(20.0)
    stamps = []
    for qps in (20.0, 200.0, 0, 3.0, 50.0):
        p.set_rate(qps)
        if qps:
            stamps += run_for(p, clock, 1.5)
        else:
            for _ in range(10):
                clock.t += 0.002
                stamps.append(p.advance())
    assert stamps == sorted(stamps)


def test_a_negative_rate_is_refused():
    p, _ = pacer(5.0)
    with pytest.raises(ValueError):
        p.set_rate(-1.0)
    assert p.qps == 5.0
