"""The live loop: pace visits, plan them, write them, apply due lifecycle work, report."""
import random
import signal
import time

import psycopg2

from .db.ddl import ident
from .db.setup import first_line
from .errors import UserError
from .db.writer import PgWriter, UserVanished
from .pacing import Pacer
from .sim.lifecycle import Delays
from .sim.pools import ProductPool, UserEntry
from .sim.visits import PURCHASE, VisitPlanner
from .stats import Stats

TICK_INTERVAL = 0.5      # seconds of schedule time between two lifecycle ticks
TICK_LIMIT = 1000        # changes of one kind per tick
WARM_USERS = 50_000      # returning users loaded from an existing shop (--if_exists append)
MAX_FAILED_IN_A_ROW = 50 # consecutive failed visits before giving up (e.g. the schema was dropped)


class StopFlag:
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


class Runner:
    def __init__(self, conn, settings, log, stop=None):
        self.s = settings
        self.log = log
        self.stop = stop or StopFlag()
        self.stats = Stats(settings.avg_qps)
        self.delays = Delays.for_scale(settings.time_scale)
        self.writer = PgWriter(settings.conn_kw, settings.schema, self.stats, log, should_stop=self.stop,
                               reconnect_timeout=settings.reconnect_timeout, conn=conn,
                               synchronous_commit=settings.synchronous_commit)
        self.rng = random.Random(settings.seed)
        places, people = make_samplers(self.rng)
        with conn.cursor() as cur:
            products = load_products(cur, settings.schema)
            self.planner = VisitPlanner(self.rng, products, places, people, ghost_ratio=settings.ghost_ratio)
            warmed = warm_users(cur, settings.schema, self.planner)
        if warmed:
            log.info(f"{warmed} existing users can come back")
        self.restock = set()
        self.pacer = None
        self._failed_in_a_row = 0
        self._last_warning = 0.0

    def run(self):
        s, stats, planner, writer = self.s, self.stats, self.planner, self.writer
        pacer = self.pacer = Pacer(s.avg_qps, seed=None if s.seed is None else s.seed + 1, arrivals=s.arrivals)
        stats.start(pacer.start)
        next_tick = pacer.wall_start + TICK_INTERVAL
        next_status = time.monotonic() + s.status_interval
        max_iter = s.max_iter
        try:
            while not self.stop.stop and (max_iter < 0 or stats.visits < max_iter):
                wait = pacer.wait_seconds()
                while wait > 0 and not self.stop.stop:
                    time.sleep(min(wait, 0.05))
                    if time.monotonic() >= next_status:
                        next_status = self._status(next_status)
                    wait = pacer.wait_seconds()
                if self.stop.stop:
                    break
                now = pacer.advance()
                while next_tick <= now:
                    self.tick(next_tick)
                    next_tick += TICK_INTERVAL
                if self.visit(now):
                    stats.visit_done(self._last_kind, pacer.lag, self._last_latency)
                if time.monotonic() >= next_status:
                    next_status = self._status(next_status)
        finally:
            writer.close()
        return stats.snapshot(final=True)

    def _status(self, due):
        self.log.status(self.stats.snapshot())
        return max(due + self.s.status_interval, time.monotonic())

    def _failed(self, what, exc):
        """A statement failed with the connection intact (not a restart), already counted by the
        caller: warn at most every few seconds, and give up if nothing succeeds any more."""
        self._failed_in_a_row += 1
        reason = first_line(exc)
        if self._failed_in_a_row >= MAX_FAILED_IN_A_ROW:
            raise UserError(f"giving up after {self._failed_in_a_row} failed writes in a row: {reason}")
        now = time.monotonic()
        if now - self._last_warning > 5:
            self._last_warning = now
            self.log.warn(f"{what} failed and was skipped: {reason}")

    def visit(self, now):
        """Plans and writes one visit; False if it failed (counted as an error, rolled back)."""
        planner, stats = self.planner, self.stats
        v = planner.plan(now)
        self._last_kind = v.kind
        started = time.perf_counter()
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
        self._last_latency = time.perf_counter() - started   # the transaction as the client sees it
        self._failed_in_a_row = 0
        if v.new_user is not None:
            if user_id is not None:
                planner.add_user(user_id, v)
            stats.add("users", "insert")
        n_events = len(v.ev_type)
        stats.add("events", "insert", n_events)
        if v.kind == PURCHASE:
            n = len(v.product_ids)
            stats.add("orders", "insert")
            stats.add("order_items", "insert", n)
            stats.add("inventory_items", "update", n - extra)
            stats.add("inventory_items", "insert", extra)
            self.restock.update(v.product_ids)
        return True

    def tick(self, now):
        restock = sorted(self.restock)
        moves = self.planner.take_address_changes()
        try:
            r = self.writer.apply_tick(now, self.delays, TICK_LIMIT, restock, moves)
        except psycopg2.Error as e:
            self.stats.failed_ticks += 1
            self._failed("a lifecycle step", e)
            return
        if r is None:
            self.stats.ticks_deferred += 1
            return
        self.restock.clear()
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
