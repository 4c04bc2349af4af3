"""Prometheus metrics of a run (`--metrics-port`): the run's own counters, read at scrape time.

Nothing is counted twice: `StatsCollector` is a prometheus_client custom collector that reads the
`stats.Stats` object the run loop updates (the one the status line and the summary are made of), so
the metrics and the summary cannot disagree, and a visit costs nothing more when metrics are on. A
scrape reads a few dozen integers (cheap at any scrape interval). Each counter's HELP says what it
counts and how the counters add up (like pgbench's StatsData and the `Stats` docstring):

  thelook_visits_total{kind}               = the summary's visit_kinds; sum over kind = its visits
  thelook_rows_written_total{table,op}     = the summary's tables; sum = its rows (streaming only)
  thelook_rows_loaded_total{table,source}  COPY loads before streaming, not in the summary's rows:
                                           source="reference" (the "loaded ..." line), "backfill"
                                           (the backfill record's tables)
  thelook_rows_archived_total{table}       = the summary's archived (--horizon); also counted in
                                           rows_written{op="delete"}
  thelook_lifecycle_ticks_total            = the summary's ticks
  thelook_archive_steps_total              = the summary's archive_steps
  thelook_errors_total{kind}               kind failed_visits / failed_ticks / failed_archives; sum = the
                                           summary's errors
  thelook_retries_total{kind}              kind returning_user_gone / visit_retries / ticks_deferred /
                                           archives_deferred; sum = the summary's retries
  thelook_reconnects_total                 = the summary's reconnects
  thelook_rate_changes_total               = the summary's rate_changes (--control)
  thelook_visit_write_latency_seconds      histogram; _count = visits timed, _sum / _count = the mean
  thelook_horizon_seconds, thelook_target_visits_per_second, thelook_schedule_lag_seconds, thelook_schedule_max_lag_seconds,
  thelook_run_finished, thelook_generator_info, and the process_* metrics of prometheus_client.

On a fresh schema, for each table: rows_written{op="insert"} - rows_written{op="delete"} +
rows_loaded (all sources) = its count(*), once the run has ended (thelook_run_finished 1).

The server is bound before the run writes anything (a port in use is one error line) and is shut
down at exit, after the summary (and `--metrics-linger` seconds). It is a threaded wsgiref server
like prometheus_client's own start_http_server, serving prometheus_client's WSGI app unchanged (so
/metrics answers exactly as before); with `--control` the /control paths go to control.ControlApp
instead.
"""
import errno
import socket
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .control import ControlApp, RateControl
from .errors import UserError
from .sim.visits import VISIT_KINDS
from .stats import LATENCY_BOUNDS_S, OPS
from .tables import ARCHIVED_TABLES, WRITTEN_TABLES

PREFIX = "thelook_"
ERROR_KINDS = ("failed_visits", "failed_ticks", "failed_archives")
RETRY_KINDS = ("returning_user_gone", "visit_retries", "ticks_deferred", "archives_deferred")
LOADED_SOURCES = ("reference", "backfill")
_LE = tuple(f"{b:g}" for b in LATENCY_BOUNDS_S) + ("+Inf",)

HELP = {
    "visits": "Visits committed (one transaction each; a visit counts once however often its statement ran), "
              "by kind (ghost, browse, abandoned_cart, purchase). The sum over kind is the summary's visits.",
    "rows_written": "Rows inserted, updated or deleted while streaming, by visits, lifecycle steps and --horizon "
                    "archive steps, per table "
                    "and op (insert, update, delete): the summary's tables, whose sum is its rows. COPY loads "
                    "before streaming are in thelook_rows_loaded_total instead.",
    "rows_loaded": "Rows inserted with COPY before streaming, per table, not in thelook_rows_written_total or the "
                   "summary: source=reference (catalogue, distribution centres and initial stock, loaded once "
                   "into an empty schema), source=backfill (the --backfill-days history, as in its backfill "
                   "record).",
    "lifecycle_ticks": "Lifecycle steps (ticks: shipping, returns, moves, write-offs, restocking, closed "
                       "accounts) committed, one transaction each. Ticks run = this + "
                       "thelook_errors_total{kind=\"failed_ticks\"} + thelook_retries_total{kind=\"ticks_deferred\"}.",
    "rows_archived": "Rows deleted by --horizon archive steps, per table (events of sessions that started before "
                     "the horizon; final orders created before it, their order items and the stock they sold): "
                     "the summary's archived. They are deletes, so each is in "
                     "thelook_rows_written_total{op=\"delete\"} too.",
    "archive_steps": "--horizon archive steps committed, one transaction each (possibly deleting nothing). Steps "
                     "run = this + thelook_errors_total{kind=\"failed_archives\"} + "
                     "thelook_retries_total{kind=\"archives_deferred\"}.",
    "horizon_seconds": "The --horizon: rows further back than this many seconds are archived; 0 = no horizon "
                       "(nothing is archived).",
    "errors": "Writes that failed with the connection intact, rolled back and skipped: kind=failed_visits (not "
              "in thelook_visits_total), kind=failed_ticks (a later tick does their work), kind=failed_archives "
              "(a later --horizon archive step does their work). The sum over kind is the summary's errors.",
    "retries": "Writes done again: kind=returning_user_gone (a returning user's account was closed meanwhile; "
               "written as a sign-up), kind=visit_retries (a visit's statement run again after a deadlock, "
               "serialization failure or lock timeout), kind=ticks_deferred (a lifecycle tick rolled back after a "
               "conflict with a concurrent visit; the next tick does its work), kind=archives_deferred (a --horizon "
               "archive step rolled back after a conflict; the next step does its work). The sum over kind is the "
               "summary's retries.",
    "reconnects": "PostgreSQL connections lost mid-run, each followed by reconnecting with backoff.",
    "visit_write_latency_seconds": "Write time of each committed visit (its transaction as the client sees it, "
                                   "including retries), seconds; _count = visits timed, _sum/_count = the "
                                   "summary's mean latency.",
    "target_visits_per_second": "Visits per second asked for (--avg-qps, or the last rate set through the "
                                "--control endpoint once the run loop has taken it); 0 = flat out.",
    "rate_changes": "Changes of the target visit rate accepted by the --control endpoint (POST /control/rate "
                    "with a rate other than the current one); each restarts the visit schedule from that moment.",
    "schedule_lag_seconds": "How late the last visit started behind its schedule, seconds (0 when running "
                            "flat out).",
    "schedule_max_lag_seconds": "The largest schedule lag of the run so far, seconds.",
    "run_finished": "1 once the run has ended and its summary is printed (the counters are final), else 0.",
    "generator": "The generator's version and run settings (value 1).",
}


class StatsCollector:
    """Reads `stats` (a stats.Stats) at every scrape. `loaded(source, tables)` records COPY loads
    before streaming; `finished` is set once the summary is printed."""

    def __init__(self, stats, info=None, horizon=None):
        self.stats = stats
        self.horizon = horizon or 0.0
        self.info = dict(info or {})
        self.loaded_rows = {}
        self.finished = False

    def loaded(self, source, tables):
        for table, n in tables.items():
            if n:
                key = (table, source)
                self.loaded_rows[key] = self.loaded_rows.get(key, 0) + n

    def collect(self):
        from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
                                            InfoMetricFamily)
        s = self.stats
        kinds = dict(s.kinds)            # copies: the run loop keeps counting while a scrape reads
        rows = dict(s.rows)
        archived = dict(s.archived)
        buckets = list(s.latency_buckets)
        latency_total = s.latency.total

        def counter(name, labels=(), values=None, value=None):
            m = CounterMetricFamily(PREFIX + name, HELP[name], labels=list(labels) or None,
                                    value=value if not labels else None)
            for label_values, v in (values or ()):
                m.add_metric(list(label_values), v)
            return m

        def gauge(name, value):
            return GaugeMetricFamily(PREFIX + name, HELP[name], value=value)

        yield counter("visits", ("kind",), [((k,), kinds.get(k, 0)) for k in VISIT_KINDS] +
                      [((k,), n) for k, n in kinds.items() if k not in VISIT_KINDS])
        yield counter("rows_written", ("table", "op"),
                      [((t, op), rows.get((t, op), 0)) for t in WRITTEN_TABLES for op in OPS])
        yield counter("rows_loaded", ("table", "source"),
                      [(key, n) for key, n in sorted(self.loaded_rows.items())])
        yield counter("rows_archived", ("table",), [((t,), archived.get(t, 0)) for t in ARCHIVED_TABLES])
        yield counter("lifecycle_ticks", value=s.ticks)
        yield counter("archive_steps", value=s.archive_steps)
        yield counter("errors", ("kind",), [((k,), getattr(s, k)) for k in ERROR_KINDS])
        yield counter("retries", ("kind",), [((k,), getattr(s, k)) for k in RETRY_KINDS])
        yield counter("reconnects", value=s.reconnects)
        yield counter("rate_changes", value=s.rate_changes)
        cumulative, seen = [], 0
        for le, n in zip(_LE, buckets):
            seen += n
            cumulative.append((le, seen))
        yield HistogramMetricFamily(PREFIX + "visit_write_latency_seconds", HELP["visit_write_latency_seconds"],
                                    buckets=cumulative, sum_value=latency_total)
        yield gauge("horizon_seconds", self.horizon)
        yield gauge("target_visits_per_second", s.target_qps or 0.0)
        yield gauge("schedule_lag_seconds", s.lag)
        yield gauge("schedule_max_lag_seconds", s.max_lag)
        yield gauge("run_finished", 1.0 if self.finished else 0.0)
        if self.info:
            yield InfoMetricFamily(PREFIX + "generator", HELP["generator"], value=self.info)


def registry_for(collector):
    """A registry with `collector` and the process metrics (CPU seconds, resident memory, open files)."""
    from prometheus_client import CollectorRegistry, ProcessCollector
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    return registry


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """One thread per request (a slow scrape or control client never holds up another)."""
    daemon_threads = True      # as prometheus_client's: request threads never keep the process alive


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        """No access log: stderr carries the status lines."""


def serve(app, port, address):
    """Serves the WSGI `app` on address:port from a daemon thread; returns (server, thread). The
    address family follows the address (an IPv6 address gets an IPv6 socket), as in
    prometheus_client's start_http_server. Raises OSError when it cannot bind."""
    family, _, _, _, sockaddr = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM,
                                                   flags=socket.AI_PASSIVE)[0]

    class Server(_ThreadingServer):
        address_family = family
    httpd = Server((sockaddr[0], port), _QuietHandler)
    httpd.set_app(app)
    thread = threading.Thread(target=httpd.serve_forever, name="thelook-metrics", daemon=True)
    thread.start()
    return httpd, thread


class MetricsServer:
    """The HTTP server of --metrics-port, bound at construction (before anything is written).
    `control` (a control.RateControl, --control): also serve /control, with `token_file`."""

    def __init__(self, collector, port, address="127.0.0.1", control=None, token_file=None):
        from prometheus_client import make_wsgi_app
        self.collector = collector
        self.control = control
        self.port, self.address = port, address
        app = make_wsgi_app(registry_for(collector))
        if control is not None:
            app = ControlApp(control, app, token_file)
        try:
            self.httpd, self.thread = serve(app, port, address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UserError(f"metrics port {port} is already in use on {address}",
                                "choose another port with {opt:metrics_port} or THELOOK_METRICS_PORT") from None
            reason = e.strerror or str(e)
            raise UserError(f"cannot serve metrics on {address}:{port}: {reason}",
                            "check {opt:metrics_address} and {opt:metrics_port}") from None
        self.port = self.httpd.server_address[1]    # the one picked when asked for port 0 (tests)

    def _base(self):
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}"

    @property
    def url(self):
        return self._base() + "/metrics"

    @property
    def control_url(self):
        return self._base() + "/control"

    def run_finished(self):
        """The summary is printed: the counters are final (thelook_run_finished 1) and the rate can
        no longer change (POST /control/rate gets 409)."""
        self.collector.finished = True
        if self.control is not None:
            self.control.close()

    def linger(self, seconds, should_stop, sleep=time.sleep):
        """Keeps serving (the final counts) for `seconds`, or until should_stop() is true."""
        deadline = time.monotonic() + seconds
        while not should_stop() and time.monotonic() < deadline:
            sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def close(self):
        """Stops the server thread and closes its socket (waits for the serve loop, at most ~0.5 s)."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def start_metrics(settings, stats, log=None):
    """The metrics server for `settings` reading `stats`, or None when --metrics-port is not set.
    With --control it also serves the rate control, which reports each change through `log`."""
    if settings.control and not settings.metrics_port:
        raise UserError("{opt:control} needs {opt:metrics_port}: the control endpoint is served by the metrics "
                        "server", "add {opt:metrics_port} 9464, or THELOOK_METRICS_PORT")
    if not settings.metrics_port:
        return None
    from importlib.metadata import PackageNotFoundError, version
    try:
        release = version("thelook-datagen")
    except PackageNotFoundError:
        release = "unknown"
    info = {"version": release, "schema": settings.schema, "seed": str(settings.seed),
            "arrivals": settings.arrivals, "time_scale": f"{settings.time_scale:g}"}
    control = RateControl(stats, log) if settings.control else None
    return MetricsServer(StatsCollector(stats, info, getattr(settings, "horizon", None)), settings.metrics_port, settings.metrics_address,
                         control, settings.control_token_file)
