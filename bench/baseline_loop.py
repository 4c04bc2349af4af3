"""The ceiling: a minimal hand-written psycopg2 loop writing a given row mix, one commit per visit.

Rows are built from constants (no simulation, no Faker); each table and operation is one
statement per visit (multi-row VALUES, `= ANY(ids)`), and the visit ends with one commit. What the
generator spends beyond this is the cost of its simulation and bookkeeping, which is what the
benchmark's ratio exposes.

The mix is {table: {"insert": x, "update": y, "delete": z}} in rows per visit, fractions allowed:
visit i writes floor((i+1)*x) - floor(i*x) rows, so over N visits the totals match the mix exactly.
UPDATEs and DELETEs hit rows this loop wrote itself, in an order that keeps every foreign key.
"""
import random
import time
from collections import deque

from psycopg2.extras import execute_values

TABLES = ("users", "events", "orders", "order_items", "inventory_items")
OPS = ("insert", "update", "delete")


def share(rate, i):
    return int((i + 1) * rate) - int(i * rate)


class BaselineLoop:
    def __init__(self, conn, schema, mix, seed=1):
        self.conn = conn
        self.s = schema
        self.mix = {t: {op: float(mix.get(t, {}).get(op, 0.0)) for op in OPS} for t in TABLES}
        ins, dele = self.mix["users"]["insert"], self.mix["users"]["delete"]
        self.closer_share = min(1.0, dele / ins) if ins else 0.0
        self.rnd = random.Random(seed)
        with conn.cursor() as cur:
            cur.execute(f"SELECT id, cost, category, name, brand, retail_price, department, sku, "
                        f"distribution_center_id FROM {schema}.products ORDER BY id")
            self.products = cur.fetchall()
            cur.execute(f"SELECT id FROM {schema}.users ORDER BY id DESC LIMIT 1000")
            self.buyers = deque((r[0] for r in cur.fetchall()), maxlen=10_000)
        conn.commit()
        if not self.products:
            raise RuntimeError(f"no products in {schema}.products")
        self.closers = deque(maxlen=100_000)     # users that never order: the ones who close
        self.unsold = deque(maxlen=200_000)      # (inventory id, product id)
        self.sold = deque(maxlen=10_000)
        self.orders = deque(maxlen=10_000)
        self.order_items = deque(maxlen=10_000)
        self.written = {(t, op): 0 for t in TABLES for op in OPS}
        self.visits = 0

    def _n(self, table, op):
        return share(self.mix[table][op], self.visits)

    def _recent(self, pool, n):
        return [pool[-1 - self.rnd.randrange(len(pool))] for _ in range(n)] if pool else []

    def visit(self, cur):
        s, rnd, count = self.s, self.rnd, self.written
        n = self._n("users", "insert")
        uid = None
        if n:
            rows = execute_values(
                cur, f"INSERT INTO {s}.users (first_name, last_name, email, age, gender, state, street_address, "
                     f"postal_code, city, country, latitude, longitude, traffic_source, created_at) VALUES %s "
                     f"RETURNING id",
                [("Ann", "Lee", "ann.lee@example.com", 30, "F", "Texas", "1 Main St", "77001", "Houston",
                  "United States", 29.76, -95.36, "Search")] * n,
                template="(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,now())", fetch=True)
            for (uid,) in rows:
                closer = share(self.closer_share, count["users", "insert"]) > 0
                (self.closers if closer else self.buyers).append(uid)
                count["users", "insert"] += 1
        if uid is None and self.buyers and rnd.random() < 0.8:
            uid = self.buyers[-1 - rnd.randrange(len(self.buyers))]
        n = self._n("events", "insert")
        if n:
            execute_values(
                cur, f"INSERT INTO {s}.events (user_id, sequence_number, session_id, created_at, ip_address, city, "
                     f"state, postal_code, browser, traffic_source, uri, event_type) VALUES %s",
                [(uid, k + 1, f"baseline-{self.visits}", "10.0.0.1", "Houston", "Texas", "77001", "Chrome",
                  "Email", "/home", "home") for k in range(n)],
                template="(%s,%s,%s,now(),%s,%s,%s,%s,%s,%s,%s,%s)")
            count["events", "insert"] += n
        n = self._n("inventory_items", "insert")
        if n:
            rows = execute_values(
                cur, f"INSERT INTO {s}.inventory_items (product_id, cost, product_category, product_name, "
                     f"product_brand, product_retail_price, product_department, product_sku, "
                     f"product_distribution_center_id, created_at) VALUES %s RETURNING id, product_id",
                [self.products[rnd.randrange(len(self.products))] for _ in range(n)],
                template="(%s,%s,%s,%s,%s,%s,%s,%s,%s,now())", fetch=True)
            self.unsold.extend(rows)
            count["inventory_items", "insert"] += n
        n = self._n("orders", "insert")
        new_orders = []
        if n and self.buyers:
            new_orders = execute_values(
                cur, f"INSERT INTO {s}.orders (user_id, status, gender, created_at, num_of_item) VALUES %s "
                     f"RETURNING order_id, user_id",
                [(self._recent(self.buyers, 1)[0], "Processing", "F", 1) for _ in range(n)],
                template="(%s,%s,%s,now(),%s)", fetch=True)
            self.orders.extend(new_orders)
            count["orders", "insert"] += n
        n = min(self._n("order_items", "insert"), len(self.unsold))
        if n and (new_orders or self.orders):
            rows = []
            for k in range(n):
                oid, ouid = new_orders[k % len(new_orders)] if new_orders else self.orders[-1]
                inv, pid = self.unsold.popleft()
                self.sold.append(inv)
                rows.append((oid, ouid, pid, inv, "Processing", 50.0))
            ids = execute_values(
                cur, f"INSERT INTO {s}.order_items (order_id, user_id, product_id, inventory_item_id, status, "
                     f"sale_price, created_at) VALUES %s RETURNING id",
                rows, template="(%s,%s,%s,%s,%s,%s,now())", fetch=True)
            self.order_items.extend(r[0] for r in ids)
            count["order_items", "insert"] += n
        self._updates(cur)
        self._deletes(cur)
        self.visits += 1

    def _update(self, cur, table, key, assignments, pool):
        ids = self._recent(pool, self._n(table, "update"))
        if ids:
            cur.execute(f"UPDATE {self.s}.{table} SET {assignments} WHERE {key} = ANY(%s)", (ids,))
            self.written[table, "update"] += cur.rowcount

    def _updates(self, cur):
        self._update(cur, "users", "id", "street_address = '2 High St', city = 'Austin'", self.buyers)
        self._update(cur, "orders", "order_id", "status = 'Shipped', shipped_at = now()",
                     [o for o, _ in list(self.orders)[-100:]])
        self._update(cur, "order_items", "id", "status = 'Shipped', shipped_at = now()", self.order_items)
        self._update(cur, "inventory_items", "id", "sold_at = now()", self.sold)

    def _deletes(self, cur):
        s, count = self.s, self.written
        n = min(self._n("inventory_items", "delete"), len(self.unsold))
        if n:
            gone = [self.unsold.pop()[0] for _ in range(n)]
            cur.execute(f"DELETE FROM {s}.inventory_items WHERE id = ANY(%s)", (gone,))
            count["inventory_items", "delete"] += cur.rowcount
        n = min(self._n("users", "delete"), len(self.closers))
        if n:
            gone = [self.closers.popleft() for _ in range(n)]
            cur.execute(f"DELETE FROM {s}.events WHERE user_id = ANY(%s)", (gone,))
            count["events", "delete"] += cur.rowcount
            cur.execute(f"DELETE FROM {s}.users WHERE id = ANY(%s)", (gone,))
            count["users", "delete"] += cur.rowcount

    def run(self, visits=None, seconds=None, progress=None, progress_every=5.0):
        """Runs until `visits` are written or `seconds` have passed; returns (visits, elapsed s)."""
        start = time.monotonic()
        next_note = start + progress_every
        with self.conn.cursor() as cur:
            while visits is None or self.visits < visits:
                now = time.monotonic()
                if seconds is not None and now - start >= seconds:
                    break
                self.visit(cur)
                self.conn.commit()
                if progress and now >= next_note:
                    progress(self.visits, now - start)
                    next_note = now + progress_every
        return self.visits, time.monotonic() - start

    def rows_written(self):
        return sum(self.written.values())


class OneTripLoop(BaselineLoop):
    """The same mix, but each visit is ONE round trip: its statements joined into one simple query
    (PostgreSQL runs them as one implicit transaction: one commit). Keys come from the identity
    sequences in blocks, so no statement waits for another's RETURNING. This is the stronger
    ceiling: what a hand-written loop gets when it also saves the round trips."""
    BLOCK = 2000

    def __init__(self, conn, schema, mix, seed=1):
        super().__init__(conn, schema, mix, seed)
        conn.autocommit = True
        self.free = {}

    def _ids(self, cur, table, column, n):
        free = self.free.setdefault(table, deque())
        if len(free) < n:
            cur.execute(f"SELECT nextval(pg_get_serial_sequence('{self.s}.{table}', '{column}')) "
                        f"FROM generate_series(1, %s)", (self.BLOCK + n,))
            free.extend(r[0] for r in cur.fetchall())
        return [free.popleft() for _ in range(n)]

    def visit(self, cur):
        s, rnd, count, m = self.s, self.rnd, self.written, cur.mogrify
        sql = []
        n = self._n("users", "insert")
        uid = None
        for uid in self._ids(cur, "users", "id", n):
            sql.append(m(f"INSERT INTO {s}.users (id, first_name, last_name, email, age, gender, state, "
                         f"street_address, postal_code, city, country, latitude, longitude, traffic_source, "
                         f"created_at) VALUES (%s,'Ann','Lee','ann.lee@example.com',30,'F','Texas','1 Main St',"
                         f"'77001','Houston','United States',29.76,-95.36,'Search',now())", (uid,)))
            closer = share(self.closer_share, count["users", "insert"]) > 0
            (self.closers if closer else self.buyers).append(uid)
            count["users", "insert"] += 1
        if uid is None and self.buyers and rnd.random() < 0.8:
            uid = self.buyers[-1 - rnd.randrange(len(self.buyers))]
        n = self._n("events", "insert")
        if n:
            sql.append(m(f"INSERT INTO {s}.events (user_id, sequence_number, session_id, created_at, ip_address, "
                         f"city, state, postal_code, browser, traffic_source, uri, event_type) SELECT %s, g, %s, "
                         f"now(), '10.0.0.1', 'Houston', 'Texas', '77001', 'Chrome', 'Email', '/home', 'home' "
                         f"FROM generate_series(1, %s) g", (uid, f"baseline-{self.visits}", n)))
            count["events", "insert"] += n
        n = self._n("inventory_items", "insert")
        for inv in self._ids(cur, "inventory_items", "id", n):
            p = self.products[rnd.randrange(len(self.products))]
            sql.append(m(f"INSERT INTO {s}.inventory_items (id, product_id, cost, product_category, product_name, "
                         f"product_brand, product_retail_price, product_department, product_sku, "
                         f"product_distribution_center_id, created_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,now())",
                         (inv,) + tuple(p)))
            self.unsold.append((inv, p[0]))
            count["inventory_items", "insert"] += 1
        n = self._n("orders", "insert")
        new_orders = []
        if n and self.buyers:
            for oid in self._ids(cur, "orders", "order_id", n):
                buyer = self._recent(self.buyers, 1)[0]
                sql.append(m(f"INSERT INTO {s}.orders (order_id, user_id, status, gender, created_at, num_of_item) "
                             f"VALUES (%s,%s,'Processing','F',now(),1)", (oid, buyer)))
                new_orders.append((oid, buyer))
            self.orders.extend(new_orders)
            count["orders", "insert"] += n
        n = min(self._n("order_items", "insert"), len(self.unsold))
        if n and (new_orders or self.orders):
            for k, item in enumerate(self._ids(cur, "order_items", "id", n)):
                oid, ouid = new_orders[k % len(new_orders)] if new_orders else self.orders[-1]
                inv, pid = self.unsold.popleft()
                self.sold.append(inv)
                sql.append(m(f"INSERT INTO {s}.order_items (id, order_id, user_id, product_id, inventory_item_id, "
                             f"status, sale_price, created_at) VALUES (%s,%s,%s,%s,%s,'Processing',50.0,now())",
                             (item, oid, ouid, pid, inv)))
                self.order_items.append(item)
            count["order_items", "insert"] += n
        for table, key, assignments, pool in (
                ("users", "id", "street_address = '2 High St', city = 'Austin'", self.buyers),
                ("orders", "order_id", "status = 'Shipped', shipped_at = now()", [o for o, _ in list(self.orders)[-100:]]),
                ("order_items", "id", "status = 'Shipped', shipped_at = now()", self.order_items),
                ("inventory_items", "id", "sold_at = now()", self.sold)):
            ids = self._recent(pool, self._n(table, "update"))
            if ids:
                sql.append(m(f"UPDATE {s}.{table} SET {assignments} WHERE {key} = ANY(%s)", (ids,)))
                count[table, "update"] += len(ids)
        n = min(self._n("inventory_items", "delete"), len(self.unsold))
        if n:
            sql.append(m(f"DELETE FROM {s}.inventory_items WHERE id = ANY(%s)", ([self.unsold.pop()[0] for _ in range(n)],)))
            count["inventory_items", "delete"] += n
        n = min(self._n("users", "delete"), len(self.closers))
        if n:
            gone = [self.closers.popleft() for _ in range(n)]
            sql.append(m(f"DELETE FROM {s}.events WHERE user_id = ANY(%s)", (gone,)))
            sql.append(m(f"DELETE FROM {s}.users WHERE id = ANY(%s)", (gone,)))
            count["users", "delete"] += n
        if sql:
            cur.execute(b";".join(sql))
        self.visits += 1

    def run(self, visits=None, seconds=None, progress=None, progress_every=5.0):
        start = time.monotonic()
        next_note = start + progress_every
        with self.conn.cursor() as cur:
            while visits is None or self.visits < visits:
                now = time.monotonic()
                if seconds is not None and now - start >= seconds:
                    break
                self.visit(cur)     # autocommit: the joined statements are one implicit transaction
                if progress and now >= next_note:
                    progress(self.visits, now - start)
                    next_note = now + progress_every
        return self.visits, time.monotonic() - start
