"""Visit write latency: a fixed log-scale histogram, so percentiles over any number of visits cost
constant memory and a few hundred bucket reads (like pgbench's latency report, per interval too).

Buckets are 2% wide from 10 µs up; a percentile is reported as its bucket's upper bound, so it
is at most 2% above the true value. Values below 10 µs fall in the first bucket.
"""
import math
from typing import TypedDict

FLOOR_S = 1e-5
GROWTH = 1.02
BUCKETS = 1200               # 10 µs * 1.02**1200 is far beyond any real write (hours)
_LOG_GROWTH = math.log(GROWTH)


class LatencySummary(TypedDict):
    """Write latency in milliseconds over some visits (all 0.0 when there were none)."""
    mean: float
    p50: float
    p95: float
    p99: float
    max: float


class Latency:
    __slots__ = ("counts", "n", "total", "max")

    def __init__(self):
        self.counts = [0] * BUCKETS
        self.n = 0
        self.total = 0.0
        self.max = 0.0

    def add(self, seconds):
        k = 0 if seconds <= FLOOR_S else min(BUCKETS - 1, int(math.log(seconds / FLOOR_S) / _LOG_GROWTH) + 1)
        self.counts[k] += 1
        self.n += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds

    def percentile(self, q):
        """Upper bound of the bucket holding the q-quantile (0 < q <= 1); 0.0 when empty."""
        if not self.n:
            return 0.0
        rank = max(1, math.ceil(q * self.n))
        seen = 0
        for k, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return min(FLOOR_S * GROWTH ** k, self.max)
        return self.max

    def summary_ms(self) -> LatencySummary:
        """Mean, p50, p95, p99 and max in milliseconds (all 0 when empty)."""
        if not self.n:
            return LatencySummary(mean=0.0, p50=0.0, p95=0.0, p99=0.0, max=0.0)
        return LatencySummary(mean=round(1000 * self.total / self.n, 3),
                              p50=round(1000 * self.percentile(0.50), 3),
                              p95=round(1000 * self.percentile(0.95), 3),
                              p99=round(1000 * self.percentile(0.99), 3),
                              max=round(1000 * self.max, 3))
