"""Random arrivals scheduled against the clock (not sleeps between visits).

Visit k is due at a precomputed instant on the schedule; the loop waits until that instant, so the
time spent writing never lowers the rate. When the database is slower than the schedule, the
visits run back to back and `lag` says how far behind the schedule they are.

Two arrival processes:
- "poisson": independent exponential gaps with mean 1/qps (a homogeneous Poisson process).
- "stratified" (default): the timeline is cut into windows of about one second holding exactly
  K = qps x window arrivals, placed as a Poisson process conditioned on that count (K sorted
  uniform instants). Arrivals stay random and memoryless within a window, but the count over any
  span of whole windows is exact, so a one-minute measurement is on target even at 1 visit/s
  (where pure Poisson arrivals alone would wander by +-13%).

`set_rate` changes the rate mid-run (the --control endpoint): the schedule starts afresh at that
instant, as if a new run had begun, so a change takes effect at once and without a burst.
"""
import random
import time

ARRIVALS = ("stratified", "poisson")
WINDOW = 1.0


class Pacer:
    def __init__(self, qps, seed=None, clock=time.monotonic, wall=time.time, arrivals="stratified"):
        if arrivals not in ARRIVALS:
            raise ValueError(f"arrivals must be one of {ARRIVALS}")
        self.arrivals = arrivals
        self.rng = random.Random(seed)
        self.clock = clock
        self.wall = wall
        self.set_rate(qps)

    def set_rate(self, qps):
        """Paces at `qps` (0 = flat out) from now on: the schedule restarts at this instant.

        Nothing of the old schedule carries over: no visit is owed for the time before (a change
        made while behind, or from a slow rate to a fast one, brings no burst of catch-up visits),
        the lag is 0 again, and the first visit is due at a random instant after now, as at the
        start of a run (the random sequence itself goes on, so a seeded run stays repeatable for
        the same changes at the same moments)."""
        if qps < 0:
            raise ValueError("rate must be >= 0")
        self.qps = qps
        self.start = self.clock()
        self.wall_start = self.wall()
        self.lag = 0.0
        self._window_end = 0.0
        self._pending = []         # offsets of the current window, latest first (pop from the end)
        self.offset = 0.0          # schedule position of the next visit, seconds after start
        if qps:
            self.offset = self._next_offset()

    def _next_offset(self):
        if self.arrivals == "poisson":
            return self.offset + self.rng.expovariate(self.qps)
        while not self._pending:
            k = max(1, round(self.qps * WINDOW))
            span = k / self.qps
            begin = self._window_end
            self._pending = sorted((begin + span * self.rng.random() for _ in range(k)), reverse=True)
            self._window_end = begin + span
        return self._pending.pop()

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
        self.offset = self._next_offset()
        return min(self.wall(), self.wall_start + (due - self.start))

    def wait_seconds(self):
        due = self.next_due()
        return 0.0 if due is None else max(0.0, due - self.clock())
