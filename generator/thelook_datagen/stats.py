"""Counters of what was written, and the status line / summary built from them."""
import json
import sys
import threading
import time
from bisect import bisect_left
from typing import Optional, TypedDict

from .latency import Latency, LatencySummary
from .tables import ARCHIVED_TABLES, WRITTEN_TABLES

OPS = ("insert", "update", "delete")
BEHIND_S = 1.0   # lag from which the status line says plainly that the target rate is not met
# Upper bounds (s) of the visit write-latency histogram exposed to Prometheus (metrics.py): 0.5 ms to 5 s.
LATENCY_BOUNDS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Snapshot(TypedDict):
    """One status line or the summary, as `Stats.snapshot` returns it and as the JSON log writes it
    (one record, these keys; `format_text` turns it into the text line). Rates are per second of
    the run's clock; "recent_*" are over the interval since the previous snapshot."""
    event: str                           # "status" (every --status-interval) or "summary" (end of run)
    elapsed_s: float                     # since the run started streaming
    visits: int                          # committed visits = sum(visit_kinds.values())
    target_visits_per_s: Optional[float]  # --avg-qps, None when running flat out
    visits_per_s: float
    recent_visits_per_s: float
    rows: int                            # rows changed = sum over tables and operations of `tables`
    rows_per_s: float
    recent_rows_per_s: float
    tables: dict                         # table -> {"insert"/"update"/"delete": rows}, non-zero entries only
    visit_kinds: dict                    # "ghost"/"browse"/"abandoned_cart"/"purchase" -> committed visits
    ticks: int                           # lifecycle steps committed
    archived: dict                       # table -> rows deleted by --horizon archive steps (also in `tables`)
    archive_steps: int                   # archive steps committed (0 without --horizon)
    errors: int                          # = failed_visits + failed_ticks + failed_archives
    failed_visits: int
    failed_ticks: int
    failed_archives: int
    retries: int                         # = returning_user_gone + visit_retries + ticks_deferred + archives_deferred
    returning_user_gone: int
    visit_retries: int
    ticks_deferred: int
    archives_deferred: int
    reconnects: int
    rate_changes: int                    # target rate changes through --control (target_visits_per_s is the last)
    lag_s: float                         # how late the last visit started behind its schedule
    max_lag_s: float
    latency_ms: LatencySummary           # write time per visit: the interval's, or the whole run's (summary)


class Stats:
    """The run's counters (like pgbench's StatsData). Each says exactly what it counts:

    visits               visits committed, one transaction each; a visit counts once however often
                         its statement ran. visits = sum(kinds.values()).
    kinds[kind]          committed visits per kind (sim.visits.VISIT_KINDS).
    rows[(table, op)]    rows inserted/updated/deleted per table, by visits, lifecycle ticks and archive steps
                         (tables.WRITTEN_TABLES x OPS). The snapshot's rows = sum over all of them.
    ticks                lifecycle steps (ticks) committed, one transaction each (possibly changing no
                         row). Ticks run = ticks + failed_ticks + ticks_deferred.
    failed_visits        visits whose statement failed with the connection intact: rolled back,
                         skipped, not in `visits`.
    failed_ticks         lifecycle ticks that failed likewise; what was due is picked up by a later tick.
    archived[table]      rows deleted by --horizon archive steps, per table (ARCHIVED_TABLES): sessions'
                         events, final orders, their order items and the stock they sold. They are
                         deletes, so each is also counted in rows[(table, "delete")].
    archive_steps        --horizon archive steps committed, one transaction each (possibly deleting
                         nothing). Steps run = archive_steps + failed_archives + archives_deferred.
    failed_archives      archive steps that failed with the connection intact: rolled back; a later step
                         archives the rows. errors = failed_visits + failed_ticks + failed_archives.
    returning_user_gone  returning users' visits whose user had been deleted meanwhile (account closed,
                         e.g. by another generator): re-planned as a sign-up and written (one visit).
    visit_retries        re-runs of a visit's statement after a deadlock, serialization failure or lock
                         timeout (the visit is still written once).
    ticks_deferred       lifecycle ticks put off after a conflict with a concurrent visit; what was due
                         is applied by the next tick.
    archives_deferred    archive steps rolled back after a conflict with a concurrent transaction (e.g.
                         a deadlock with another generator); the next step does their work.
                         retries = returning_user_gone + visit_retries + ticks_deferred + archives_deferred.
    reconnects           times the connection was lost (each followed by reconnecting with backoff).
    target_qps           the visits/s aimed at (0 = flat out): --avg-qps, then each rate the run loop
                         takes from the --control endpoint.
    rate_changes         target rate changes accepted by the --control endpoint (counted by the
                         server thread that accepted them, the only writer).
    lag, max_lag         how late the last visit started behind its schedule (s), and the most so far.
    latency              write time of each committed visit (s, as the client sees the transaction),
                         whole run; recent_latency the same since the last snapshot.
    latency_buckets[i]   committed visits whose write time was <= LATENCY_BOUNDS_S[i] and above the
                         bound before (the last: above 5 s); whole run, sum = latency.n.
    """

    def __init__(self, target_qps, clock=time.monotonic):
        self.clock = clock
        self.target_qps = target_qps
        self.started = clock()
        self.visits = 0
        self.kinds = {}
        self.ticks = 0
        self.rows = {(t, op): 0 for t in WRITTEN_TABLES for op in OPS}
        self.archived = {t: 0 for t in ARCHIVED_TABLES}
        self.archive_steps = 0
        self.failed_archives = 0
        self.archives_deferred = 0
        self.failed_visits = 0
        self.failed_ticks = 0
        self.returning_user_gone = 0
        self.visit_retries = 0
        self.ticks_deferred = 0
        self.reconnects = 0
        self.rate_changes = 0
        self.lag = 0.0
        self.max_lag = 0.0
        self.latency = Latency()          # write time of each visit, whole run
        self.recent_latency = Latency()   # since the last status line
        self.latency_buckets = [0] * (len(LATENCY_BOUNDS_S) + 1)
        self._last = (self.started, 0, 0)

    def start(self, at):
        """The run starts at `at` (a reading of `clock`): elapsed time, overall rates and the first
        interval's rates count from there."""
        self.started = at
        self._last = (at, self.visits, self.total_rows())

    @property
    def errors(self):
        return self.failed_visits + self.failed_ticks + self.failed_archives

    @property
    def retries(self):
        return self.returning_user_gone + self.visit_retries + self.ticks_deferred + self.archives_deferred

    def add(self, table, op, n=1):
        if n:
            self.rows[(table, op)] += n

    def archive_done(self, deleted):
        """An archive step committed; `deleted`: {table: rows it deleted} (counted as deletes too)."""
        self.archive_steps += 1
        for table, n in deleted.items():
            if n:
                self.archived[table] += n
                self.rows[(table, "delete")] += n

    def visit_done(self, kind, lag, latency=None):
        """A visit committed: its kind, how late it started, and how long writing it took (s)."""
        if latency is not None:
            self.latency.add(latency)
            self.recent_latency.add(latency)
            self.latency_buckets[bisect_left(LATENCY_BOUNDS_S, latency)] += 1
        self.visits += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        self.lag = lag
        if lag > self.max_lag:
            self.max_lag = lag

    def total_rows(self):
        return sum(self.rows.values())

    def snapshot(self, final=False) -> Snapshot:
        """Figures for a status line (the interval since the previous snapshot starts anew) or, with
        `final`, the summary of the whole run."""
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
        return Snapshot(
            event="summary" if final else "status",
            elapsed_s=round(elapsed, 1),
            visits=self.visits,
            target_visits_per_s=self.target_qps or None,
            visits_per_s=round(self.visits / elapsed, 2),
            recent_visits_per_s=round((self.visits - last_v) / span, 2),
            rows=total_rows,
            rows_per_s=round(total_rows / elapsed, 1),
            recent_rows_per_s=round((total_rows - last_r) / span, 1),
            tables=per_table,
            visit_kinds=dict(sorted(self.kinds.items())),
            ticks=self.ticks,
            archived={t: n for t, n in self.archived.items() if n},
            archive_steps=self.archive_steps,
            errors=self.errors,
            failed_visits=self.failed_visits,
            failed_ticks=self.failed_ticks,
            failed_archives=self.failed_archives,
            retries=self.retries,
            returning_user_gone=self.returning_user_gone,
            visit_retries=self.visit_retries,
            ticks_deferred=self.ticks_deferred,
            archives_deferred=self.archives_deferred,
            reconnects=self.reconnects,
            rate_changes=self.rate_changes,
            lag_s=round(self.lag, 3),
            max_lag_s=round(self.max_lag, 3),
            latency_ms=latency,
        )


def format_text(s: Snapshot):
    """The one-line text form of a snapshot (or of its JSON record read back)."""
    target = "flat out" if not s["target_visits_per_s"] else f"target {s['target_visits_per_s']:g}/s"
    tables = " ".join(
        f"{t}(+{ops.get('insert', 0)} ~{ops.get('update', 0)} -{ops.get('delete', 0)})"
        for t, ops in s["tables"].items()) or "no changes"
    head = "summary" if s["event"] == "summary" else "status"
    recent = "" if head == "summary" else f", last {s['recent_visits_per_s']:.1f}/s"
    line = (f"[thelook-datagen] {head} {s['elapsed_s']:.0f}s visits {s['visits']} ({target}, achieved "
            f"{s['visits_per_s']:.2f}/s{recent}) rows {s['rows']} "
            f"({s['rows_per_s']:.0f}/s) | {tables} | ticks {s.get('ticks', 0)} | errors {s['errors']} "
            f"retries {s['retries']} "
            f"(gone {s['returning_user_gone']}, conflict {s['visit_retries']}, tick {s['ticks_deferred']}) "
            f"reconnects {s['reconnects']} | lag {s['lag_s']:.3f}s (max {s['max_lag_s']:.3f}s)")
    lat = s.get("latency_ms")
    if lat and lat["max"]:
        line += (f" | latency ms mean {lat['mean']:.2f} p50 {lat['p50']:.2f} p95 {lat['p95']:.2f} "
                 f"p99 {lat['p99']:.2f} max {lat['max']:.2f}")
    if s.get("archive_steps") or s.get("failed_archives") or s.get("archives_deferred"):
        archived = s.get("archived") or {}
        line += (f" | archived {sum(archived.values())} rows ("
                 + (", ".join(f"{t} {n}" for t, n in archived.items()) or "none yet")
                 + f") in {s['archive_steps']} steps")
        if s.get("failed_archives") or s.get("archives_deferred"):
            line += f" (failed {s.get('failed_archives', 0)}, deferred {s.get('archives_deferred', 0)})"
    if s.get("rate_changes"):
        line += f" | rate changes {s['rate_changes']}"
    if s["event"] == "status" and s["lag_s"] >= BEHIND_S:
        line += f" | BEHIND SCHEDULE by {s['lag_s']:.1f}s: the database is not keeping up with the target rate"
    return line


class Log:
    """Writes status lines and messages to stderr as text or as JSON lines. One line at a time: the
    --control server's threads report rate changes while the run loop writes its status lines."""

    def __init__(self, fmt="text", quiet=False, stream=None):
        self.fmt = fmt
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def _emit(self, record, text):
        if self.fmt == "json":
            record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}
            line = json.dumps(record) + "\n"
        else:
            line = text + "\n"
        with self._lock:
            self.stream.write(line)
            self.stream.flush()

    def status(self, snap: Snapshot):
        if not self.quiet:
            self._emit(snap, format_text(snap))

    def summary(self, snap: Snapshot):
        self._emit(snap, format_text(snap))

    def record(self, event, fields, text):
        """A result of its own (e.g. event "backfill"): a JSON record {"event": event, **fields}, or
        `text` as one line; shown even with --quiet, like the summary."""
        self._emit({"event": event, **fields}, f"[thelook-datagen] {text}")

    def info(self, message, **fields):
        if not self.quiet:
            self._emit({"event": "info", "message": message, **fields}, f"[thelook-datagen] {message}")

    def warn(self, message, **fields):
        self._emit({"event": "warning", "message": message, **fields}, f"[thelook-datagen] {message}")

    def error(self, message, **fields):
        self._emit({"event": "error", "message": message, **fields}, f"thelook-datagen: error: {message}")
