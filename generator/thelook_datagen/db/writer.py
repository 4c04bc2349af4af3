"""Takes planned visits and lifecycle ticks to PostgreSQL, reconnecting when the server goes away.

Each visit is one prepared statement in autocommit mode: one round trip, one transaction. When the
connection breaks during a visit we cannot know whether its commit happened, so after reconnecting
we look for its session_id first and re-apply it only if it is not there: never half, never twice.
"""
import time

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from ..errors import Stopped, UserError
from .ddl import ident
from .literals import float_array, int_array, lit, str_array
from .statements import (ARCHIVE_NAME, ARCHIVE_PARAM_TYPES, TICK_NAME, TICK_PARAM_TYPES, USER_FILLERS, VISIT_NAME,
                         VISIT_PARAM_TYPES, ArchiveResult, TickResult, archive_sql, execute_template, prepare_sql,
                         tick_sql, visit_sql)

NO_USER_SQL = ",".join(["NULL"] * 14)
TRANSIENT = (psycopg2.errors.DeadlockDetected, psycopg2.errors.SerializationFailure,
             psycopg2.errors.LockNotAvailable)


def users_extra_columns(cur, schema):
    """The columns of statements.USER_FILLERS that the users table has now, in the table's order. Read at each
    (re)connection: a column added later is filled from the next connection on (scripts/scenario schema-change
    restarts its generator for that)."""
    cur.execute("SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
                "AND NOT a.attisdropped AND a.attname = ANY(%s) ORDER BY a.attnum",
                (f"{ident(schema)}.users", list(USER_FILLERS)))
    return tuple(r[0] for r in cur.fetchall())


class UserVanished(Exception):
    """A returning user's account was closed (by another generator) before the visit committed."""


def connect_kwargs(host=None, port=None, user=None, password=None, dbname=None, connect_timeout=10):
    kw = {"host": host, "port": port, "user": user, "password": password, "dbname": dbname,
          "connect_timeout": connect_timeout, "application_name": "thelook-datagen",
          # notice a dead peer (network loss) in seconds instead of the kernel's hours
          "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}
    return {k: v for k, v in kw.items() if v is not None}


def describe_target(kw):
    where = kw.get("host") or "local socket"
    if kw.get("port"):
        where += f":{kw['port']}"
    parts = [where]
    if kw.get("dbname"):
        parts.append(f"database {kw['dbname']}")
    if kw.get("user"):
        parts.append(f"user {kw['user']}")
    return ", ".join(parts)


def open_connection(kw):
    """First connection: any failure is the user's to fix (one clear line)."""
    try:
        conn = psycopg2.connect(**kw)
    except psycopg2.OperationalError as e:
        raise UserError(f"cannot connect to PostgreSQL ({describe_target(kw)}): {_libpq_reason(e)}") from None
    conn.autocommit = True
    return conn


def _libpq_reason(exc):
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    reasons = []
    for ln in lines:
        # "connection to server at "h" (ip), port p failed: FATAL:  password authentication failed ..."
        if " failed: " in ln:
            ln = ln.split(" failed: ", 1)[1]
        ln = ln.replace("FATAL:  ", "").replace("ERROR:  ", "")
        if ln and ln not in reasons:
            reasons.append(ln)
    return "; ".join(reasons[:2]) or exc.__class__.__name__


class PgWriter:
    def __init__(self, conn_kw, schema, stats, log, should_stop=lambda: False, reconnect_timeout=0.0,
                 conn=None, synchronous_commit="on"):
        self.synchronous_commit = synchronous_commit
        self.kw = conn_kw
        self.schema = schema
        self.stats = stats
        self.log = log
        self.should_stop = should_stop
        self.reconnect_timeout = reconnect_timeout
        self.conn = None
        self.cur = None
        self._tick_exec = execute_template(TICK_NAME, len(TICK_PARAM_TYPES))
        self._archive_exec = execute_template(ARCHIVE_NAME, len(ARCHIVE_PARAM_TYPES))
        self.extra_user_columns = ()   # columns of users beyond theLook's that it fills (statements.USER_FILLERS)
        if conn is not None:
            self._attach(conn)

    # -- connection ----------------------------------------------------------------------------
    def _attach(self, conn):
        conn.autocommit = True
        cur = conn.cursor()
        # a visit has ~30 parameters; replanning it each time would cost more than running it
        cur.execute("SET plan_cache_mode = force_generic_plan")
        cur.execute("SET standard_conforming_strings = on")  # literals.py relies on it
        cur.execute("SELECT set_config('synchronous_commit', %s, false)", (self.synchronous_commit,))
        extra = users_extra_columns(cur, self.schema)
        if extra != self.extra_user_columns:
            self.extra_user_columns = extra
            if extra:
                self.log.info(f"users has column(s) {', '.join(extra)}: new users get them filled")
        cur.execute(prepare_sql(VISIT_NAME, VISIT_PARAM_TYPES, visit_sql(self.schema, extra)))
        cur.execute(prepare_sql(TICK_NAME, TICK_PARAM_TYPES, tick_sql(self.schema)))
        cur.execute(prepare_sql(ARCHIVE_NAME, ARCHIVE_PARAM_TYPES, archive_sql(self.schema)))
        self.conn, self.cur = conn, cur

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg2.Error:
                pass
        self.conn = self.cur = None

    def _lost(self, exc):
        if self.conn is not None:
            self.close()
        self.stats.reconnects += 1
        self.log.warn(f"PostgreSQL connection lost ({_libpq_reason(exc)}); reconnecting with backoff")
        started = time.monotonic()
        delay, last_note = 0.5, started
        while True:
            if self.should_stop():
                raise Stopped()
            try:
                conn = psycopg2.connect(**self.kw)
                self._attach(conn)
                self.log.info(f"PostgreSQL is back after {time.monotonic() - started:.1f} s; carrying on")
                return
            except psycopg2.Error as e:
                self.close()
                now = time.monotonic()
                if self.reconnect_timeout and now - started > self.reconnect_timeout:
                    raise UserError(f"PostgreSQL ({describe_target(self.kw)}) unreachable for "
                                    f"{self.reconnect_timeout:g} s: {_libpq_reason(e)}") from None
                if now - last_note >= 30:
                    self.log.warn(f"still waiting for PostgreSQL ({_libpq_reason(e)})")
                    last_note = now
            _sleep(delay, self.should_stop)
            delay = min(delay * 2, 10.0)

    # -- visits ----------------------------------------------------------------------------------
    @staticmethod
    def visit_call(v):
        """The EXECUTE text of one visit (the hot path: plain string building, no adaptation)."""
        u = v.new_user
        if u:
            head = "NULL,true," + ",".join(map(lit, u))
        else:
            head = lit(v.user_id) + ",false," + NO_USER_SQL
        return "".join((
            "EXECUTE ", VISIT_NAME, "(", head, ",",
            ",".join(map(lit, (v.session_id, v.ip_address, v.city, v.state, v.postal_code, v.browser,
                               v.traffic_source))), ",",
            float_array(v.ev_ts), ",", str_array(v.ev_uri), ",", str_array(v.ev_type), ",",
            int_array(v.product_ids), ",", lit(v.order_ts), ",", lit(v.gender), ")"))

    def apply_visit(self, visit):
        """Writes one visit as one transaction. Returns (user_id, order_id, extra_stock_units);
        user_id/order_id are None for a visit found already committed after a reconnect."""
        statement = self.visit_call(visit)
        uncertain = False
        while True:
            try:
                if self.cur is None:
                    raise psycopg2.InterfaceError("not connected")
                if uncertain:
                    self.cur.execute(f"SELECT user_id FROM {ident(self.schema)}.events WHERE session_id = %s LIMIT 1",
                                     (visit.session_id,))
                    row = self.cur.fetchone()
                    if row is not None:
                        return row[0], None, 0
                    uncertain = False
                self.cur.execute(statement)
                return self.cur.fetchone()
            except psycopg2.errors.ForeignKeyViolation:
                if visit.user_id is not None:
                    raise UserVanished() from None
                raise
            except TRANSIENT:
                self.stats.visit_retries += 1   # rolled back as a whole: run it again
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
                if self.conn is not None and not self.conn.closed:
                    raise
                uncertain = True
                self._lost(e)

    # -- lifecycle ---------------------------------------------------------------------------------
    def apply_tick(self, now, delays, limit, restock_ids, moves):
        """Applies every lifecycle change due at `now` in one transaction. Returns its TickResult
        (see statements.tick_sql), or None when it hit a conflict with a concurrent visit and was
        rolled back (the caller counts it as deferred: what is due is picked up by the next tick)."""
        cols = list(zip(*moves)) if moves else [()] * 8
        params = (now, delays.cancel, delays.ship, delays.deliver, delays.return_, delays.close_min,
                  delays.close_max, delays.write_off, limit, list(restock_ids), delays.restock_below,
                  delays.restock_units) + tuple(list(c) for c in cols)
        # a conflict: raced with a visit of another generator; what is still due is picked up next tick
        return self._step(self._tick_exec, params, TickResult)

    # -- horizon -----------------------------------------------------------------------------------
    def apply_archive(self, cutoff, limit, closing_since):
        """One archive step (--horizon): deletes, in one transaction, at most `limit` of the oldest
        sessions' first events (with the rest of those sessions) and `limit` of the oldest final
        orders (with their items and sold stock) dated before `cutoff` (epoch s), except orders of
        users who may still be closed (signed up since `closing_since`, sim.archive). Returns its
        ArchiveResult (statements.archive_sql), or None when it hit a conflict with a concurrent
        transaction and was rolled back (the next step picks the rows up again)."""
        # a conflict: e.g. a deadlock with another generator's account closure deleting the same events
        return self._step(self._archive_exec, (cutoff, limit, closing_since), ArchiveResult)

    def _step(self, statement, params, result_type):
        """Runs one background step (a tick or an archive step: one transaction, one result row) and
        returns that row as result_type; None when it conflicted with another transaction and was rolled
        back (nothing to redo: the next step finds what is still due). A lost connection is reopened
        (_lost) and the step run again, with the same parameters."""
        while True:
            try:
                if self.cur is None:
                    raise psycopg2.InterfaceError("not connected")
                self.cur.execute(statement, params)
                return result_type._make(self.cur.fetchone())
            except (psycopg2.errors.ForeignKeyViolation, *TRANSIENT):
                return None
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
                if self.conn is not None and not self.conn.closed:
                    raise
                self._lost(e)


def _sleep(seconds, should_stop):
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0 or should_stop():
            return
        time.sleep(min(left, 0.1))
