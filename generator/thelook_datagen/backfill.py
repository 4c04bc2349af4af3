"""Bulk history (setting backfill_days, N): N days of past shop activity, written with COPY before the
live stream starts.

The visits come from the live stream's own planner (sim.visits.VisitPlanner) at Poisson times over
the past N days. What the live lifecycle would have done to them by now is applied as they are
written: each order and its items get the status and timestamps of sim.lifecycle.state_at (the
same delays and the same fate per order id as the live ticks), and a user whose fate is to close
the account and who had not ordered when that came due is left out with their events, as the live
ticks would have deleted them. Every item sold in the history is a unit of stock received a while
before its sale and sold to exactly that order item.

The work is split over worker processes (simulation is the bottleneck, not PostgreSQL): worker k
of W plans every W-th visit with its own seeded planner and users, and takes the ids
base + k + W*j of each table, so the content depends on the seed and W only. The parent writes
their COPY chunks in ONE transaction that holds EXCLUSIVE locks on the shop's tables (other
generators wait instead of taking ids in the reserved ranges) and moves the identity sequences past
the ids used. Checking keys row by row and maintaining indexes per row would cost PostgreSQL
several times the COPY itself, so foreign keys, unique constraints and secondary indexes are
dropped for the load and re-created, which validates every row, before the commit: the history
either lands whole with every constraint holding, or not at all.
"""
import heapq
import multiprocessing
import queue
import random
import signal
import time
from collections import namedtuple

import psycopg2

from .db.copyio import field
from .db.ddl import ident
from .db.statements import move_sql
from .errors import UserError
from .sim.lifecycle import CLOSE_BELOW, DAY, ORDER_FATE_SEED, USER_FATE_SEED, Delays, fate_sql
from .sim.pools import ProductPool
from .sim.rows import INVENTORY_COLUMNS, ORDER_COLUMNS, ORDER_ITEM_COLUMNS, inventory_row, order_state
from .sim.visits import EVENT_COLUMNS, PURCHASE, USER_COLUMNS, VisitPlanner

WORKERS = 2
CHUNK_ROWS = 40_000          # rows a worker hands over at once (one COPY per table)
FATE_BLOCK = 20_000          # fate buckets fetched per query
WRITE_ORDER = ("users", "orders", "inventory_items", "order_items", "events")
ID_COLUMN = {"users": "id", "orders": "order_id", "inventory_items": "id", "order_items": "id",
             "events": "id"}
COLUMNS = {
    "users": ("id",) + USER_COLUMNS,
    "orders": ("order_id",) + ORDER_COLUMNS,
    "inventory_items": ("id",) + INVENTORY_COLUMNS,
    "order_items": ("id",) + ORDER_ITEM_COLUMNS,
    "events": ("id",) + EVENT_COLUMNS,
}
# positions of the timestamps (epoch seconds) in the row builders' tuples
TIMESTAMPS = {t: frozenset(i for i, c in enumerate(cols[1:]) if c.endswith("_at")) for t, cols in COLUMNS.items()}
Product = namedtuple("Product", "id cost category name brand retail_price department sku distribution_center_id")
NULL = "\\N"

# Messages of the worker processes to the parent, in this order: Ready once it has read the
# catalogue, Chunks of COPY text, Done at the end; Failed instead, with a one-line reason.
Ready = namedtuple("Ready", "worker")
Chunk = namedtuple("Chunk", "worker data counts visits reached")   # data/counts: table -> COPY bytes / rows;
                                                                     # visits planned and schedule time reached
Done = namedtuple("Done", "worker last_ids visits closed cpu_s moves")  # last id per table, accounts closed,
                                                                       # CPU seconds, latest AddressChange per user
Failed = namedtuple("Failed", "worker reason")


class Timestamps:
    """Epoch seconds to timestamptz text. Formatted minutes are cached: gmtime/strftime run about
    once per minute of history instead of once per value."""
    CACHE = 10_000

    def __init__(self):
        self.minutes = {}

    def __call__(self, epoch):
        if epoch is None:
            return NULL
        us = int(epoch * 1_000_000)
        minute, rest = divmod(us, 60_000_000)
        prefix = self.minutes.get(minute)
        if prefix is None:
            if len(self.minutes) >= self.CACHE:
                self.minutes.clear()
            prefix = self.minutes[minute] = time.strftime("%Y-%m-%d %H:%M:", time.gmtime(minute * 60))
        return f"{prefix}{rest // 1_000_000:02d}.{rest % 1_000_000:06d}+00"


class Ids:
    """Worker k of n takes ids base + k + n*j of one table."""

    def __init__(self, base, k, n):
        self.next = base + k
        self.step = n
        self.last = None

    def take(self):
        self.last = self.next
        self.next += self.step
        return self.last

    def take_many(self, n):
        """The first of n ids (the others follow at `step`)."""
        first = self.next
        self.next += self.step * n
        self.last = self.next - self.step
        return first


class Fates:
    """hashint8extended(id, seed) & 1023 for one worker's ids of a table (every `step`-th id), the
    way the live ticks compute it in SQL (sim.lifecycle.fate_sql), fetched from PostgreSQL in blocks
    so Python and SQL can never disagree. `of` is the fate function HistoryBuilder takes."""

    def __init__(self, cur, seed, step):
        self.cur, self.seed, self.step = cur, seed, step
        self.first = None
        self.buckets = []

    def of(self, id_):
        k = (id_ - self.first) // self.step if self.first is not None else -1
        if not 0 <= k < len(self.buckets):
            self.first = id_
            expr = fate_sql("g", self.seed)
            self.cur.execute(f"SELECT {expr}::int FROM generate_series(%s::bigint, %s::bigint, %s) g",
                             (id_, id_ + self.step * (FATE_BLOCK - 1), self.step))
            self.buckets = [r[0] for r in self.cur.fetchall()]
            k = 0
        return self.buckets[k]


def load_products(cur, schema):
    """The catalogue as the history needs it: {id: Product}."""
    cur.execute(f"SELECT {', '.join(Product._fields)} FROM {ident(schema)}.products ORDER BY id")
    products = {r[0]: Product(*r) for r in cur.fetchall()}
    if not products:
        raise UserError(f"bulk history: no products in {schema}.products")
    return products


def open_builder(cur, schema, k, n, bases, seed, ghost_ratio, delays, end):
    """Worker k of n's HistoryBuilder on the database: its catalogue, and fates from PostgreSQL."""
    return HistoryBuilder(load_products(cur, schema), k, n, bases, seed, ghost_ratio, delays, end,
                          order_fate=Fates(cur, ORDER_FATE_SEED, n).of, user_fate=Fates(cur, USER_FATE_SEED, n).of)


class HistoryBuilder:
    """Plans the visits of worker k of n and turns them into COPY text, closures and lifecycles
    applied. No I/O: `products` is {id: Product}, `order_fate(order_id)` and `user_fate(user_id)`
    give the fate bucket (0..1023) of an id (Fates(...).of on a database; any function in tests)."""

    def __init__(self, products, k, n, bases, seed, ghost_ratio, delays, end, order_fate, user_fate):
        rng = random.Random(f"thelook-backfill:{seed}:{k}")
        from .runner import make_samplers
        places, people = make_samplers(rng)
        self.products = products
        self.planner = VisitPlanner(rng, ProductPool((p.id, p.category, p.brand, p.department)
                                                     for p in self.products.values()),
                                    places, people, ghost_ratio=ghost_ratio)
        self.rng = rng
        self.ids = {t: Ids(bases[t], k, n) for t in COLUMNS}
        self.order_fate = order_fate
        self.user_fate = user_fate
        self.delays = delays
        self.end = end
        self.ts = Timestamps()
        self.formats = {t: tuple(self.ts if i in at else field for i in range(len(COLUMNS[t]) - 1))
                        for t, at in TIMESTAMPS.items()}
        self.lines = {t: [] for t in COLUMNS}
        self.held = {}          # user id -> [user line, event lines...] while the account may still close
        self.closing = []       # heap of (due time, user id)
        self.stock_tails = {}
        self.moves = {}         # user id -> latest address change (applied with one UPDATE at the end)
        self.visits = 0
        self.closed = 0

    def rows_buffered(self):
        return sum(len(v) for v in self.lines.values())

    def take_chunk(self):
        chunk = {t: "".join(rows).encode() for t, rows in self.lines.items() if rows}
        counts = {t: len(rows) for t, rows in self.lines.items() if rows}
        self.lines = {t: [] for t in COLUMNS}
        return chunk, counts

    def _close_due(self, now):
        while self.closing and self.closing[0][0] <= now:
            _, uid = heapq.heappop(self.closing)
            if self.held.pop(uid, None) is not None:
                self.planner.forget_user(uid)
                self.moves.pop(uid, None)
                self.closed += 1

    def _release(self, uid):
        held = self.held.pop(uid, None)
        if held:
            self.lines["users"].append(held[0])
            self.lines["events"].extend(held[1:])

    def visit(self, now):
        self._close_due(now)
        v = self.planner.plan(now)
        self.visits += 1
        ts, lines = self.ts, self.lines
        uid = v.user_id
        events = lines["events"]
        if v.new_user is not None:
            uid = self.ids["users"].take()
            self.planner.add_user(uid, v)
            u = v.new_user
            line = self._line("users", uid, u)
            if self.user_fate(uid) < CLOSE_BELOW and u.created_at + self.delays.close_min < self.end:
                self.held[uid] = [line]
                heapq.heappush(self.closing, (u.created_at + self.delays.close_min, uid))
            else:
                lines["users"].append(line)
        if uid is not None and uid in self.held:
            if v.kind == PURCHASE:
                self._release(uid)
            else:
                events = self.held[uid]
        # events are most of the rows: formatted inline from Visit.event_rows' fields, which is
        # much cheaper than a tuple per event through _line (URIs are ours and need no escaping).
        # tests/generator/unit/test_history_builder.py checks every line, column by column, against
        # Visit.event_rows for the same visit.
        ev_id = self.ids["events"]
        first, step = ev_id.take_many(len(v.ev_ts)), ev_id.step
        head = f"\t{NULL if uid is None else uid}\t"
        session = f"\t{v.session_id}\t"
        place = (f"\t{v.ip_address}\t{field(v.city)}\t{field(v.state)}\t{field(v.postal_code)}\t{v.browser}\t"
                 f"{v.traffic_source}\t")
        events.extend([f"{first + step * i}{head}{i + 1}{session}{ts(t)}{place}{uri}\t{et}\n"
                       for i, (t, uri, et) in enumerate(zip(v.ev_ts, v.ev_uri, v.ev_type))])
        if v.kind == PURCHASE:
            self._order(v, uid)
        if self.planner.address_changes:
            for move in self.planner.take_address_changes():
                self.moves[move.user_id] = move

    def _order(self, v, uid):
        # lines in COLUMNS order, formatted inline for speed (through sim.rows' builders and _line
        # the worker plans about 25% fewer rows per CPU-second); test_history_builder.py checks them
        # column by column against order_row, order_item_rows and inventory_row
        oid = self.ids["orders"].take()
        status, *times = order_state(self.order_fate(oid), v.order_ts, self.end, self.delays)
        ts, lines, rnd = self.ts, self.lines, self.rng.random
        created = ts(v.order_ts)
        shipped, delivered, returned = map(ts, times)
        lines["orders"].append(f"{oid}\t{uid}\t{status}\t{v.gender}\t{created}\t{returned}\t{shipped}\t"
                               f"{delivered}\t{len(v.product_ids)}\n")
        inv_ids = self.ids["inventory_items"]
        item_ids = self.ids["order_items"]
        stock, items = lines["inventory_items"], lines["order_items"]
        for pid in v.product_ids:
            inv = inv_ids.take()
            # a unit received a while before its sale (restocked), sold to exactly this item
            received = ts(v.order_ts - self.delays.initial_stock_age * rnd())
            stock.append(f"{inv}\t{pid}\t{received}\t{created}\t{self._stock_tail(pid)}\n")
            items.append(f"{item_ids.take()}\t{oid}\t{uid}\t{pid}\t{inv}\t{status}\t{created}\t{shipped}\t"
                         f"{delivered}\t{returned}\t{self.products[pid].retail_price!r}\n")

    def _stock_tail(self, pid):
        """The product's columns of an inventory line, formatted once per product."""
        tail = self.stock_tails.get(pid)
        if tail is None:
            row = inventory_row(self.products[pid], None)[3:]
            tail = self.stock_tails[pid] = "\t".join(map(field, row))
        return tail

    def _line(self, table, id_, row):
        return f"{id_}\t" + "\t".join([c(x) for c, x in zip(self.formats[table], row)]) + "\n"

    def finish(self):
        """Accounts whose closing is not due yet are written; the live ticks close them on time."""
        for uid in list(self.held):
            self._release(uid)

    def last_ids(self):
        return {t: i.last for t, i in self.ids.items() if i.last is not None}


def arrivals(rng, rate, start, end):
    t = start + rng.expovariate(rate)
    while t < end:
        yield t
        t += rng.expovariate(rate)


def _worker(k, n, conn_kw, schema, bases, seed, ghost_ratio, scale, start, end, rate, out):
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle; it ends us
    try:
        conn = psycopg2.connect(**conn_kw)
        conn.autocommit = True
        with conn.cursor() as cur:
            b = open_builder(cur, schema, k, n, bases, seed, ghost_ratio, Delays.for_scale(scale), end)
            out.put(Ready(k))
            clock = random.Random(f"thelook-backfill-arrivals:{seed}:{k}")
            for t in arrivals(clock, rate / n, start, end):
                b.visit(t)
                if not b.visits % 64 and b.rows_buffered() >= CHUNK_ROWS:
                    out.put(Chunk(k, *b.take_chunk(), b.visits, t))
            b.finish()
            out.put(Chunk(k, *b.take_chunk(), b.visits, end))
            out.put(Done(k, b.last_ids(), b.visits, b.closed, time.process_time(), list(b.moves.values())))
        conn.close()
    except UserError as e:
        out.put(Failed(k, str(e)))
    except Exception as e:  # reported by the parent as one line
        out.put(Failed(k, f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"))


def _reserve_ids(cur, schema):
    s = ident(schema)
    cur.execute(f"LOCK TABLE {', '.join(f'{s}.{t}' for t in WRITE_ORDER)} IN EXCLUSIVE MODE")
    bases = {}
    for table, col in ID_COLUMN.items():
        cur.execute("SELECT nextval(pg_get_serial_sequence(%s, %s))", (f"{s}.{table}", col))
        bases[table] = cur.fetchone()[0]
    return bases


ROWS_PER_VISIT = 7        # rows a history visit writes, on average (for the index decision)


def _existing_rows(cur, schema):
    """Rows in the written tables, estimated: the planner's count, or size / 150 bytes for a table
    autovacuum has not analysed yet."""
    cur.execute("SELECT coalesce(sum(greatest(reltuples, pg_relation_size(oid) / 150.0)), 0)::bigint "
                "FROM pg_class WHERE oid = ANY(%s::regclass[])", ([f"{ident(schema)}.{t}" for t in WRITE_ORDER],))
    return cur.fetchone()[0]


def _drop_constraints_and_indexes(cur, schema, indexes_too):
    """Foreign keys, unique constraints and (if `indexes_too`) secondary indexes of the written
    tables, dropped for the load and re-created at the end of the same transaction. Checking keys
    row by row and inserting random keys (session ids) into B-trees would cost PostgreSQL several
    times the COPY itself; building an index from sorted rows once is far cheaper, unless the tables
    already hold more rows than the history adds. Primary keys stay: the ids come in ascending
    order, so they only ever append."""
    tables = [f"{ident(schema)}.{t}" for t in WRITE_ORDER]
    kinds = ["f", "u"] if indexes_too else ["f"]
    cur.execute("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = ANY(%s::char[]) AND conrelid = ANY(%s::regclass[]) ORDER BY contype, 1, 2",
                (kinds, tables))
    constraints = cur.fetchall()
    indexes = []
    if indexes_too:
        cur.execute("SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                    "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
                    "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
                    (tables,))
        indexes = cur.fetchall()
    for table, name, _ in constraints:
        cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {ident(name)}")
    for name, _ in indexes:
        cur.execute(f"DROP INDEX {name}")
    return constraints, indexes


def _restore_constraints_and_indexes(cur, dropped):
    constraints, indexes = dropped
    cur.execute("SET LOCAL maintenance_work_mem = '256MB'")   # sorts in memory for a day or two of history
    for _, definition in indexes:
        cur.execute(definition)
    # dropped foreign keys first, so re-created last: a foreign key may need a unique constraint
    for table, name, definition in reversed(constraints):
        cur.execute(f"ALTER TABLE {table} ADD CONSTRAINT {ident(name)} {definition}")


def _apply_moves(cur, schema, moves):
    """The history's address changes: each user's latest one, in one UPDATE (users who closed their
    account in the history were never written and are not in `moves`)."""
    if not moves:
        return 0
    cols = [list(c) for c in zip(*moves)]
    types = ("bigint", "text", "text", "text", "text", "text", "float8", "float8")
    cur.execute(move_sql(ident(schema), ", ".join(f"%s::{t}[]" for t in types)), cols)
    return cur.rowcount


def _advance_sequences(cur, schema, last_ids):
    s = ident(schema)
    for table, last in last_ids.items():
        cur.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s)", (f"{s}.{table}", ID_COLUMN[table], last))


DEFAULT_RATE = 10.0   # visits/s of the history when the live stream runs flat out


def run_backfill(conn, settings, log):
    """The bulk history the settings ask for: backfill_days at backfill_rate (default: avg_qps, or 10)."""
    rate = getattr(settings, "backfill_rate", None) or settings.avg_qps or DEFAULT_RATE
    return backfill(conn, settings.conn_kw, settings.schema, settings.backfill_days, rate, settings.seed,
                    settings.ghost_ratio, settings.time_scale, log)


def backfill(conn, conn_kw, schema, days, visits_per_s, seed, ghost_ratio, time_scale, log, workers=WORKERS,
             end=None):
    """Writes `days` days of history ending now. Returns a summary dict (also logged as event
    "backfill"): days, visits, rows, rows per table, closed accounts, seconds, rows_per_s."""
    if days <= 0:
        raise UserError("{opt:backfill_days} must be > 0")
    if visits_per_s <= 0:
        raise UserError("the bulk history needs a visit rate > 0", "set {opt:backfill_rate}")
    started = time.monotonic()
    end = time.time() if end is None else end
    start = end - days * DAY
    expected = days * DAY * visits_per_s
    log.info(f"backfill: {days:g} days of history at {visits_per_s:g} visits/s (about {expected:,.0f} visits), "
             f"COPY with {workers} worker processes")
    old_autocommit = conn.autocommit
    conn.autocommit = False
    # fork: spawn would re-run an unguarded __main__ (python -m thelook_datagen). The children
    # inherit the parent's connection but never touch it, and leave through os._exit.
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue(maxsize=2 * workers)
    procs = []
    rows = {t: 0 for t in COLUMNS}
    visits = closed = 0
    moves = []
    worker_cpu = 0.0
    cpu_started = time.process_time()
    last_ids = {}
    try:
        with conn.cursor() as cur:
            bases = _reserve_ids(cur, schema)
            for k in range(workers):
                p = ctx.Process(target=_worker, name=f"backfill-{k}", daemon=True,
                                args=(k, workers, conn_kw, schema, bases, seed, ghost_ratio, time_scale,
                                      start, end, visits_per_s, out))
                p.start()
                procs.append(p)
            progress = {k: (0, start) for k in range(workers)}
            done, ready, next_note = 0, 0, time.monotonic() + 5
            dropped = None
            while done < workers:
                msg = _next_message(out, procs)
                if type(msg) is Failed:
                    raise UserError(f"bulk history: worker {msg.worker} failed: {msg.reason}")
                if type(msg) is Ready:
                    ready += 1
                    if ready == workers:   # they have read the catalogue: now the locks may grow
                        rebuild = expected * ROWS_PER_VISIT > _existing_rows(cur, schema)
                        dropped = _drop_constraints_and_indexes(cur, schema, rebuild)
                    continue
                if type(msg) is Done:
                    done += 1
                    for t, last in msg.last_ids.items():
                        last_ids[t] = max(last, last_ids.get(t, last))
                    closed += msg.closed
                    worker_cpu += msg.cpu_s
                    moves += msg.moves
                    continue
                for table in WRITE_ORDER:
                    if table in msg.data:
                        cur.copy_expert(f"COPY {ident(schema)}.{table} ({', '.join(COLUMNS[table])}) FROM STDIN",
                                        _Reader(msg.data[table]), size=1 << 20)
                        rows[table] += msg.counts[table]
                progress[msg.worker] = (msg.visits, msg.reached)
                if time.monotonic() >= next_note:
                    next_note = time.monotonic() + 5
                    _progress(log, progress, start, end, rows, started)
            visits = sum(v for v, _ in progress.values())
            _advance_sequences(cur, schema, last_ids)
            moved = _apply_moves(cur, schema, moves)
            if dropped:
                log.info(f"backfill: re-creating {len(dropped[1])} indexes and {len(dropped[0])} constraints "
                         f"(validating every row)")
                _restore_constraints_and_indexes(cur, dropped)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=5)
        conn.autocommit = old_autocommit
    seconds = time.monotonic() - started
    total = sum(rows.values())
    summary = {"days": days, "visits": visits, "rows": total, "tables": rows, "closed_accounts": closed,
               "address_changes": moved,
               "seconds": round(seconds, 2), "rows_per_s": round(total / seconds, 1),
               "generator_cpu_s": round(worker_cpu + time.process_time() - cpu_started, 2),
               "from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
               "to": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))}
    text = f"backfill: {total:,} rows ({visits:,} visits, {closed:,} accounts closed, {moved:,} moved) " \
           f"in {seconds:.1f} s, {total / seconds:,.0f} rows/s"
    log.record("backfill", summary, text)   # a record of its own, shown even with --quiet
    return summary


def _next_message(out, procs):
    while True:
        try:
            return out.get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise UserError(f"bulk history: worker {dead[0].name} died (exit {dead[0].exitcode})")


def _progress(log, progress, start, end, rows, started):
    reached = min(t for _, t in progress.values())
    total = sum(rows.values())
    elapsed = time.monotonic() - started
    log.info(f"backfill: {100 * (reached - start) / (end - start):.0f}% of the history "
             f"(up to {time.strftime('%Y-%m-%d %H:%M', time.gmtime(reached))} UTC), {total:,} rows, "
             f"{total / elapsed:,.0f} rows/s")


class _Reader:
    """A file-like view of one COPY chunk for copy_expert (no copy into a StringIO)."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def read(self, size=-1):
        if size is None or size < 0:
            size = len(self.data) - self.pos
        piece = self.data[self.pos:self.pos + size]
        self.pos += len(piece)
        return piece

    readline = read
