"""Poisson arrivals scheduled against the clock (not sleeps between visits).

Visit k is due at start + sum of k exponential gaps; the loop waits until that instant, so the
time spent writing never lowers the rate. When the database is slower than the schedule, the
visits run back to back and `lag` says how far behind the schedule they are.
"""
import random
import time


class Pacer:
    def __init__(self, qps, seed=None, clock=time.monotonic, wall=time.time):
        if qps < 0:
            raise ValueError("rate must be >= 0")
        self.qps = qps
        self.rng = random.Random(seed)
        self.clock = clock
        self.wall = wall
        self.start = clock()
        self.wall_start = wall()
        self.offset = 0.0      # schedule position of the next visit, seconds after start
        self.lag = 0.0

    def next_due(self):
        """Monotonic instant of the next visit (None when running flat out)."""
        if self.qps == 0:
            return None
        return self.start + self.offset

    def advance(self):
        """Marks the next visit as started; returns its scheduled wall-clock time (epoch s).

        The scheduled time never lies in the future (we only advance once it is due), so it is
        the visit's 'now' for timestamps even when running behind."""
        if self.qps == 0:
            self.lag = 0.0
            return self.wall()
        due = self.start + self.offset
        self.lag = max(0.0, self.clock() - due)
        self.offset += self.rng.expovariate(self.qps)
        return min(self.wall(), self.wall_start + (due - self.start))

    def wait_seconds(self):
        due = self.next_due()
        return 0.0 if due is None else max(0.0, due - self.clock())

    def logical_now(self):
        """Wall-clock time the simulation is at: the next visit's slot, or now if that is later."""
        if self.qps == 0:
            return self.wall()
        return min(self.wall(), self.wall_start + (min(self.clock(), self.start + self.offset) - self.start))
