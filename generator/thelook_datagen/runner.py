"""The live loop: pace visits, plan them, write them, apply due lifecycle work, report.

`build_runner(conn, settings, log, stop)` does everything that needs the database before streaming
(reads the catalogue, lets existing users come back, prepares the writer's statements) and returns
a `Runner`: the loop alone, with its collaborators passed in (planner, writer, pacer, stats, log,
stop flag, clock), so that it runs against a fake writer and a fake clock in unit tests.

Lifecycle ticks run at fixed points of the schedule, every TICK_INTERVAL seconds after its start,
before the first visit due at or after them. When the schedule jumps ahead (a slow write, a
reconnect after an outage), the loop catches up: it applies one tick for each TICK_INTERVAL passed,
in order and each at its own instant of the schedule, before the next visit; none is skipped or
merged into another. The cap is per tick: each tick moves at most TICK_LIMIT orders per status
step (with their items), closes at most TICK_LIMIT accounts (with their events) and writes off at
most TICK_LIMIT units, so a backlog that came due at once is worked off by successive ticks, oldest
first. The number of catch-up ticks is not capped (after an outage of T seconds, T / TICK_INTERVAL
ticks run back to back before the next visit; those with nothing due are cheap).

With --horizon (sim/archive.py), an archive step runs every ARCHIVE_INTERVAL seconds of schedule
time, like a tick before the visit due after it: one small transaction (at most ARCHIVE_LIMIT of the
oldest sessions and final orders) that deletes what lies beyond the horizon. It runs inline, on the
loop's own connection, for three reasons: its size is bounded, so it delays the next visit by
milliseconds, and the schedule (not the previous write) decides when visits start, so none is lost;
it never runs at the same time as a visit or tick of this process, so it cannot conflict with them;
and with a seed at a set rate it runs at the same points of the schedule every time. A step that hits
its limit means a backlog (e.g. an earlier run's history): the next one follows after
ARCHIVE_BACKLOG_INTERVAL instead, between visits, until the backlog is gone. After an outage there is
no catch-up per interval as for ticks: the next step's cutoff covers everything that came due
meanwhile, and backlog steps work it off.

A new target rate from the --control endpoint (control.RateControl) is taken between two visits and
while waiting for the next one: the schedule restarts from that moment (Pacer.set_rate), so the new
rate holds at once, with no burst of visits owed to the old one. The wait between visits is then
the control's pause(), which a request cuts short, so a long wait at a slow rate ends at once.
"""
import random
import signal
import time

import psycopg2

from .db.ddl import ident
from .db.setup import first_line
from .db.writer import PgWriter, UserVanished
from .errors import UserError
from .pacing import Pacer
from .sim.archive import Horizon
from .sim.lifecycle import Delays
from .sim.pools import ProductPool, UserEntry
from .sim.visits import PURCHASE, VisitPlanner
from .stats import Stats

TICK_INTERVAL = 0.5      # seconds of schedule time between two lifecycle ticks
TICK_LIMIT = 1000        # changes of one kind per tick
WARM_USERS = 50_000      # returning users loaded from an existing shop (--if_exists append)
MAX_FAILED_IN_A_ROW = 50 # consecutive failed writes (visits or ticks) before giving up (e.g. the schema was dropped)
WAIT_STEP = 0.05         # longest sleep waiting for the next visit (stop flag, status line, new rate checked between)
WARN_EVERY = 5.0         # seconds between two warnings about failed writes


class StopFlag:
    """Set by SIGINT/SIGTERM (after `install`): the loop finishes the visit it is writing and stops."""

    def __init__(self):
        self.stop = False
        self.signal = None

    def __call__(self):
        return self.stop

    def install(self):
        def handler(signum, _frame):
            self.stop = True
            self.signal = signum
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def load_products(cur, schema):
    cur.execute(f"SELECT id, category, brand, department FROM {ident(schema)}.products ORDER BY id")
    return ProductPool(cur.fetchall())


def warm_users(cur, schema, planner, limit=WARM_USERS):
    cur.execute(f"SELECT id, gender, city, state, postal_code, extract(epoch FROM created_at)::float8 "
                f"FROM {ident(schema)}.users ORDER BY id DESC LIMIT %s", (limit,))
    rows = cur.fetchall()
    for row in reversed(rows):
        planner.users.add(UserEntry._make(row), planner.rng)
    return len(rows)


def make_samplers(rng):
    from .reference.people import PersonSampler
    from .reference.places import PlaceSampler
    return PlaceSampler(rng), PersonSampler(rng)


def build_runner(conn, settings, log, stop=None, stats=None, control=None):
    """The live loop for `settings` on an open connection (which the writer takes over): reads the
    catalogue and the latest users of the shop, prepares the statements. `stats`: the counters to
    update (e.g. the ones the metrics server reads), else new ones. `control`: the --control
    endpoint's control.RateControl, whose new rates the loop takes."""
    stop = stop or StopFlag()
    stats = Stats(settings.avg_qps) if stats is None else stats
    writer = PgWriter(settings.conn_kw, settings.schema, stats, log, should_stop=stop,
                      reconnect_timeout=settings.reconnect_timeout, conn=conn,
                      synchronous_commit=settings.synchronous_commit)
    rng = random.Random(settings.seed)
    places, people = make_samplers(rng)
    with conn.cursor() as cur:
        products = load_products(cur, settings.schema)
        planner = VisitPlanner(rng, products, places, people, ghost_ratio=settings.ghost_ratio)
        warmed = warm_users(cur, settings.schema, planner)
    if warmed:
        log.info(f"{warmed} existing users can come back")
    pacer = Pacer(settings.avg_qps, seed=None if settings.seed is None else settings.seed + 1,
                  arrivals=settings.arrivals)
    horizon = Horizon(settings.horizon) if settings.horizon else None
    return Runner(planner, writer, pacer, stats, log, stop, Delays.for_scale(settings.time_scale),
                  max_iter=settings.max_iter, status_interval=settings.status_interval, control=control,
                  sleep=time.sleep if control is None else control.pause, horizon=horizon)


class Runner:
    """The loop. Collaborators:

    planner   sim.visits.VisitPlanner: plans each visit, learns new users' ids, forgets closed ones
    writer    apply_visit(visit) -> (user_id, order_id, extra_units); apply_tick(now, delays, limit,
              restock_ids, moves) -> TickResult, or None when put off; apply_archive(cutoff, limit,
              closing_since) -> ArchiveResult or None (with a horizon); close(). Raises
              psycopg2.Error for a failed write (db.writer.PgWriter; it handles reconnects itself).
    pacer     pacing.Pacer: when the next visit is due, its scheduled time, the lag
    stats     stats.Stats (on the same clock as the pacer)
    log       stats.Log: status lines and warnings
    stop      StopFlag: checked before each visit and while waiting
    control   control.RateControl or None: take() -> a new target rate or None, checked like `stop`
    horizon   sim.archive.Horizon or None (--horizon): when archive steps run and their cutoff and limit
    clock     monotonic seconds (status line timing), `sleep` waits (control.pause with a control,
              so that a new rate ends the wait), `timer` times each write
    """

    def __init__(self, planner, writer, pacer, stats, log, stop, delays, *, max_iter=-1, status_interval=5.0,
                 tick_interval=TICK_INTERVAL, tick_limit=TICK_LIMIT, control=None, clock=time.monotonic,
                 sleep=time.sleep, timer=time.perf_counter, horizon=None):
        self.planner = planner
        self.writer = writer
        self.pacer = pacer
        self.stats = stats
        self.log = log
        self.stop = stop
        self.delays = delays
        self.max_iter = max_iter
        self.status_interval = status_interval
        self.tick_interval = tick_interval
        self.tick_limit = tick_limit
        self.control = control
        self.clock = clock
        self.sleep = sleep
        self.timer = timer
        self.horizon = horizon
        self.restock = set()        # products sold or written off since the last tick
        self._failed_in_a_row = 0
        self._last_warning = None

    def run(self):
        """Streams until stopped or max_iter visits are committed; returns the summary snapshot. The
        writer is closed however the loop ends (a UserError after too many failures goes up)."""
        stats, pacer, stop, clock, sleep = self.stats, self.pacer, self.stop, self.clock, self.sleep
        stats.start(pacer.start)
        next_tick = pacer.wall_start + self.tick_interval
        next_archive = None if self.horizon is None else pacer.wall_start + self.horizon.interval
        next_status = clock() + self.status_interval
        max_iter = self.max_iter
        try:
            while not stop.stop and (max_iter < 0 or stats.visits < max_iter):
                self._take_rate()
                wait = pacer.wait_seconds()
                while wait > 0 and not stop.stop:
                    sleep(min(wait, WAIT_STEP))
                    self._take_rate()             # may move the next visit nearer (or make it due now)
                    if clock() >= next_status:
                        next_status = self._status(next_status)
                    wait = pacer.wait_seconds()
                if stop.stop:
                    break
                now = pacer.advance()
                while next_tick <= now:       # catch-up: one tick per interval passed, each capped
                    self.tick(next_tick)
                    next_tick += self.tick_interval
                if next_archive is not None and next_archive <= now:
                    next_archive = self.archive(next_archive, now)
                self.visit(now)
                if clock() >= next_status:
                    next_status = self._status(next_status)
        finally:
            self.writer.close()
        return stats.snapshot(final=True)

    def _take_rate(self):
        """Paces at the rate the control endpoint asked for since the last call, if any: the schedule
        restarts now (nothing owed to the old rate) and the status line and metrics show the new target."""
        qps = None if self.control is None else self.control.take()
        if qps is not None:
            self.pacer.set_rate(qps)
            self.stats.target_qps = qps

    def _status(self, due):
        self.log.status(self.stats.snapshot())
        return max(due + self.status_interval, self.clock())

    def _failed(self, what, exc):
        """A statement failed with the connection intact (not a restart), already counted by the
        caller: warn at most every WARN_EVERY seconds, and give up after MAX_FAILED_IN_A_ROW failed
        writes (visits or ticks) with no committed visit in between."""
        self._failed_in_a_row += 1
        reason = first_line(exc)
        if self._failed_in_a_row >= MAX_FAILED_IN_A_ROW:
            raise UserError(f"giving up after {self._failed_in_a_row} failed writes in a row: {reason}")
        now = self.clock()
        if self._last_warning is None or now - self._last_warning > WARN_EVERY:
            self._last_warning = now
            self.log.warn(f"{what} failed and was skipped: {reason}")

    def visit(self, now):
        """Plans and writes one visit and counts it; False if it failed (counted as an error, rolled back)."""
        planner, stats = self.planner, self.stats
        v = planner.plan(now)
        started = self.timer()
        while True:
            try:
                user_id, order_id, extra = self.writer.apply_visit(v)
                break
            except UserVanished:
                stats.returning_user_gone += 1
                planner.as_sign_up(v)
            except psycopg2.Error as e:
                stats.failed_visits += 1
                self._failed("a visit", e)
                return False
        latency = self.timer() - started   # the transaction as the client sees it
        self._failed_in_a_row = 0
        if v.new_user is not None:
            if user_id is not None:
                planner.add_user(user_id, v)
            stats.add("users", "insert")
        stats.add("events", "insert", len(v.ev_type))
        if v.kind == PURCHASE:
            n = len(v.product_ids)
            stats.add("orders", "insert")
            stats.add("order_items", "insert", n)
            stats.add("inventory_items", "update", n - extra)
            stats.add("inventory_items", "insert", extra)
            self.restock.update(v.product_ids)
        stats.visit_done(v.kind, self.pacer.lag, latency)
        return True

    def archive(self, at, now):
        """The archive step due at `at` (schedule time, <= `now`, the visit's): deletes what lies beyond
        the horizon at `at`, at most the horizon's limit. Returns the schedule time of the next step:
        the next point of the step grid, or, when the loop is behind (a stall, an outage) and that
        point has passed already, the one after `now`: no burst of steps, as the next one archives
        everything due by its own instant anyway."""
        h = self.horizon
        full = False
        try:
            r = self.writer.apply_archive(h.cutoff(at), h.limit, h.closing_since(at, self.delays))
        except psycopg2.Error as e:
            self.stats.failed_archives += 1
            self._failed("an archive step", e)
            r = None
        else:
            if r is None:
                self.stats.archives_deferred += 1
                full = True
        if r is not None:
            self.stats.archive_done({"events": r.events, "orders": r.orders, "order_items": r.order_items,
                                     "inventory_items": r.inventory_items})
            full = r.old_events >= h.limit or r.old_orders >= h.limit
        due = h.next_step(at, full)
        return due if due > now else h.next_step(now, full)

    def tick(self, now):
        """The lifecycle work due at `now` (schedule time), at most tick_limit changes of each kind."""
        restock = sorted(self.restock)
        moves = self.planner.take_address_changes()
        try:
            r = self.writer.apply_tick(now, self.delays, self.tick_limit, restock, moves)
        except psycopg2.Error as e:
            self.planner.return_address_changes(moves)
            self.stats.failed_ticks += 1
            self._failed("a lifecycle step", e)
            return
        if r is None:
            self.planner.return_address_changes(moves)
            self.stats.ticks_deferred += 1
            return
        self.restock.clear()
        self.stats.ticks += 1
        add = self.stats.add
        add("orders", "update", r.cancelled + r.shipped + r.delivered + r.returned)
        add("order_items", "update", r.cancelled_items + r.shipped_items + r.delivered_items + r.returned_items)
        add("events", "delete", r.closed_events)
        add("users", "delete", len(r.closed_users))
        add("users", "update", r.moved)
        add("inventory_items", "delete", len(r.written_off))
        add("inventory_items", "insert", r.restocked)
        for uid in r.closed_users:
            self.planner.forget_user(uid)
        self.restock.update(r.written_off)
