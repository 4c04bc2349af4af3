"""Counters of what was written, and the status line / summary built from them."""
import json
import sys
import time

from .latency import Latency

TABLES = ("users", "events", "orders", "order_items", "inventory_items", "products",
          "distribution_centers")
OPS = ("insert", "update", "delete")
BEHIND_S = 1.0   # lag from which the status line says plainly that the target rate is not met


class Stats:
    def __init__(self, target_qps, clock=time.monotonic):
        self.clock = clock
        self.target_qps = target_qps
        self.started = clock()
        self.visits = 0
        self.kinds = {}
        self.rows = {(t, op): 0 for t in TABLES for op in OPS}
        self.errors = 0
        self.retries = 0
        self.reconnects = 0
        self.lag = 0.0
        self.max_lag = 0.0
        self.latency = Latency()          # write time of each visit, whole run
        self.recent_latency = Latency()   # since the last status line
        self._last = (self.started, 0, 0)

    def add(self, table, op, n=1):
        if n:
            self.rows[(table, op)] += n

    def visit_done(self, kind, lag, latency=None):
        """A visit committed: its kind, how late it started, and how long writing it took (s)."""
        if latency is not None:
            self.latency.add(latency)
            self.recent_latency.add(latency)
        self.visits += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self.lag = lag
        if lag > self.max_lag:
            self.max_lag = lag

    def total_rows(self):
        return sum(self.rows.values())

    def snapshot(self, final=False):
        """Figures for a status line: overall figures, and rates over the last interval."""
        now = self.clock()
        elapsed = max(now - self.started, 1e-9)
        last_t, last_v, last_r = self._last
        span = max(now - last_t, 1e-9)
        total_rows = self.total_rows()
        self._last = (now, self.visits, total_rows)
        per_table = {}
        for (table, op), n in self.rows.items():
            if n:
                per_table.setdefault(table, {})[op] = n
        latency = (self.latency if final else self.recent_latency).summary_ms()
        self.recent_latency = Latency()
        return {
            "event": "summary" if final else "status",
            "elapsed_s": round(elapsed, 1),
            "visits": self.visits,
            "target_visits_per_s": self.target_qps or None,
            "visits_per_s": round(self.visits / elapsed, 2),
            "recent_visits_per_s": round((self.visits - last_v) / span, 2),
            "rows": total_rows,
            "rows_per_s": round(total_rows / elapsed, 1),
            "recent_rows_per_s": round((total_rows - last_r) / span, 1),
            "tables": per_table,
            "visit_kinds": dict(sorted(self.kinds.items())),
            "errors": self.errors,
            "retries": self.retries,
            "reconnects": self.reconnects,
            "lag_s": round(self.lag, 3),
            "max_lag_s": round(self.max_lag, 3),
            # write time per visit (one transaction): since the last status line, or the whole run
            "latency_ms": latency,
        }


def format_text(s):
    target = "flat out" if not s["target_visits_per_s"] else f"target {s['target_visits_per_s']:g}/s"
    tables = " ".join(
        f"{t}(+{ops.get('insert', 0)} ~{ops.get('update', 0)} -{ops.get('delete', 0)})"
        for t, ops in s["tables"].items()) or "no changes"
    head = "summary" if s["event"] == "summary" else "status"
    recent = "" if head == "summary" else f", last {s['recent_visits_per_s']:.1f}/s"
    line = (f"[thelook-datagen] {head} {s['elapsed_s']:.0f}s visits {s['visits']} ({target}, achieved "
            f"{s['visits_per_s']:.2f}/s{recent}) rows {s['rows']} "
            f"({s['rows_per_s']:.0f}/s) | {tables} | errors {s['errors']} retries {s['retries']} "
            f"reconnects {s['reconnects']} | lag {s['lag_s']:.3f}s (max {s['max_lag_s']:.3f}s)")
    lat = s.get("latency_ms")
    if lat and lat["max"]:
        line += (f" | latency ms mean {lat['mean']:.2f} p50 {lat['p50']:.2f} p95 {lat['p95']:.2f} "
                 f"p99 {lat['p99']:.2f} max {lat['max']:.2f}")
    if s["event"] == "status" and s["lag_s"] >= BEHIND_S:
        line += f" | BEHIND SCHEDULE by {s['lag_s']:.1f}s: the database is not keeping up with the target rate"
    return line


class Log:
    """Writes status lines and messages to stderr as text or as JSON lines."""

    def __init__(self, fmt="text", quiet=False, stream=None):
        self.fmt = fmt
        self.quiet = quiet
        self.stream = stream or sys.stderr

    def _emit(self, record, text):
        if self.fmt == "json":
            record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}
            self.stream.write(json.dumps(record) + "\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def status(self, snap):
        if not self.quiet:
            self._emit(snap, format_text(snap))

    def summary(self, snap):
        self._emit(snap, format_text(snap))

    def info(self, message, **fields):
        if not self.quiet:
            self._emit({"event": "info", "message": message, **fields}, f"[thelook-datagen] {message}")

    def warn(self, message, **fields):
        self._emit({"event": "warning", "message": message, **fields}, f"[thelook-datagen] {message}")

    def error(self, message, **fields):
        self._emit({"event": "error", "message": message, **fields}, f"thelook-datagen: error: {message}")
