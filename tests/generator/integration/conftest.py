"""Fixtures for generator tests against a real PostgreSQL (and Kafka) from `stack_env`.

Each test works in its own schema (and topic prefix), dropped at the end.
"""
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest

ROOT = Path(__file__).resolve().parents[3]
GENERATOR = [sys.executable, "-m", "thelook_datagen"]
# A fast lifecycle for short runs: a shop day lasts 0.5 s, so within a few seconds orders ship,
# get delivered and returned, accounts close and stock is written off.
FAST = ["--time-scale", "172800"]


class LiveConnection:
    """A connection that reconnects when PostgreSQL was restarted under it (reconnect tests)."""

    def __init__(self, stack_env):
        self.kw = dict(host=stack_env["PGHOST"], port=stack_env["PGPORT"], user=stack_env["PGUSER"],
                       password=stack_env["PGPASSWORD"], dbname=stack_env["PGDATABASE"])
        self.conn = None

    def cursor(self):
        if self.conn is not None and not self.conn.closed:
            try:
                self.conn.cursor().execute("SELECT 1")
            except psycopg2.OperationalError:
                self.conn.close()
        if self.conn is None or self.conn.closed:
            self.conn = psycopg2.connect(**self.kw)
            self.conn.autocommit = True
        return self.conn.cursor()

    def close(self):
        if self.conn is not None:
            self.conn.close()


@pytest.fixture
def pg(stack_env):
    conn = LiveConnection(stack_env)
    yield conn
    conn.close()


@pytest.fixture
def new_schema(pg):
    """Factory of fresh schema names; every schema made is dropped at the end of the test."""
    names = []

    def make():
        name = "gt_" + uuid.uuid4().hex[:10]
        names.append(name)
        return name
    yield make
    with pg.cursor() as cur:
        for name in names:
            cur.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def schema(new_schema):
    return new_schema()


@pytest.fixture
def gen_env(stack_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THELOOK_KAFKA_CONFIG_", "PG"))}
    env.update({k: stack_env[k] for k in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE",
                                          "KAFKA_BOOTSTRAP_SERVERS")})
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def run_gen(gen_env):
    def run(*args, env=None, timeout=300, check=True):
        e = dict(gen_env)
        e.update(env or {})
        proc = subprocess.run(GENERATOR + list(args), env=e, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"generator exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc
    return run


@pytest.fixture
def start_gen(gen_env):
    procs = []

    def start(*args, env=None):
        e = dict(gen_env)
        e.update(env or {})
        p = subprocess.Popen(GENERATOR + list(args), env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        procs.append(p)
        return p
    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def summary_of(stderr):
    """The final summary of a run made with --log-format json."""
    lines = [json.loads(x) for x in stderr.splitlines() if x.startswith("{")]
    summaries = [x for x in lines if x.get("event") == "summary"]
    assert summaries, f"no summary in:\n{stderr[-2000:]}"
    return summaries[-1]


@pytest.fixture
def summary():
    return summary_of


def scalar(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args or None)
        return cur.fetchone()[0]


def rows(conn, sql, *args):
    with conn.cursor() as cur:
        cur.execute(sql, args or None)
        return cur.fetchall()


INVARIANTS = {
    # every foreign key holds (checked by query, not only trusted to the constraints)
    "products without centre": "SELECT count(*) FROM {s}.products p LEFT JOIN {s}.distribution_centers d ON d.id = p.distribution_center_id WHERE d.id IS NULL",
    "orders without user": "SELECT count(*) FROM {s}.orders o LEFT JOIN {s}.users u ON u.id = o.user_id WHERE u.id IS NULL",
    "items without order": "SELECT count(*) FROM {s}.order_items i LEFT JOIN {s}.orders o USING (order_id) WHERE o.order_id IS NULL",
    "items without user": "SELECT count(*) FROM {s}.order_items i LEFT JOIN {s}.users u ON u.id = i.user_id WHERE u.id IS NULL",
    "items without product": "SELECT count(*) FROM {s}.order_items i LEFT JOIN {s}.products p ON p.id = i.product_id WHERE p.id IS NULL",
    "items without stock": "SELECT count(*) FROM {s}.order_items i LEFT JOIN {s}.inventory_items v ON v.id = i.inventory_item_id WHERE v.id IS NULL",
    "stock without product": "SELECT count(*) FROM {s}.inventory_items v LEFT JOIN {s}.products p ON p.id = v.product_id WHERE p.id IS NULL",
    "events of missing users": "SELECT count(*) FROM {s}.events e LEFT JOIN {s}.users u ON u.id = e.user_id WHERE e.user_id IS NOT NULL AND u.id IS NULL",
    # each sold inventory item belongs to exactly one order item of the same product, and vice versa
    "sold stock not in exactly one item": "SELECT count(*) FROM {s}.inventory_items v WHERE v.sold_at IS NOT NULL AND (SELECT count(*) FROM {s}.order_items i WHERE i.inventory_item_id = v.id AND i.product_id = v.product_id) <> 1",
    "items on unsold stock": "SELECT count(*) FROM {s}.order_items i JOIN {s}.inventory_items v ON v.id = i.inventory_item_id WHERE v.sold_at IS NULL OR v.sold_at <> i.created_at",
    "stock attributes differ from product": "SELECT count(*) FROM {s}.inventory_items v JOIN {s}.products p ON p.id = v.product_id WHERE (v.cost, v.product_category, v.product_name, v.product_brand, v.product_retail_price, v.product_department, v.product_sku, v.product_distribution_center_id) IS DISTINCT FROM (p.cost, p.category, p.name, p.brand, p.retail_price, p.department, p.sku, p.distribution_center_id)",
    "sale price is not retail price": "SELECT count(*) FROM {s}.order_items i JOIN {s}.products p ON p.id = i.product_id WHERE i.sale_price <> p.retail_price",
    # num_of_item matches the items
    "num_of_item mismatch": "SELECT count(*) FROM {s}.orders o WHERE o.num_of_item <> (SELECT count(*) FROM {s}.order_items i WHERE i.order_id = o.order_id) OR o.num_of_item NOT BETWEEN 1 AND 4",
    # lifecycle timestamps ordered and matching the status; items move with their order
    "order timestamps vs status": """SELECT count(*) FROM {s}.orders WHERE NOT (
        (status IN ('Processing', 'Cancelled') AND shipped_at IS NULL AND delivered_at IS NULL AND returned_at IS NULL)
        OR (status = 'Shipped' AND shipped_at IS NOT NULL AND delivered_at IS NULL AND returned_at IS NULL)
        OR (status = 'Complete' AND shipped_at IS NOT NULL AND delivered_at IS NOT NULL AND returned_at IS NULL)
        OR (status = 'Returned' AND shipped_at IS NOT NULL AND delivered_at IS NOT NULL AND returned_at IS NOT NULL))""",
    "order timestamps out of order": "SELECT count(*) FROM {s}.orders WHERE shipped_at < created_at OR delivered_at < shipped_at OR returned_at < delivered_at",
    "items differ from order": "SELECT count(*) FROM {s}.order_items i JOIN {s}.orders o USING (order_id) WHERE (i.status, i.created_at, i.shipped_at, i.delivered_at, i.returned_at, i.user_id) IS DISTINCT FROM (o.status, o.created_at, o.shipped_at, o.delivered_at, o.returned_at, o.user_id)",
    "order gender is not user's": "SELECT count(*) FROM {s}.orders o JOIN {s}.users u ON u.id = o.user_id WHERE o.gender <> u.gender",
    "order before sign-up": "SELECT count(*) FROM {s}.orders o JOIN {s}.users u ON u.id = o.user_id WHERE o.created_at < u.created_at",
    # valid values
    "bad order status": "SELECT count(*) FROM {s}.orders WHERE status NOT IN ('Processing','Shipped','Complete','Cancelled','Returned')",
    "bad item status": "SELECT count(*) FROM {s}.order_items WHERE status NOT IN ('Processing','Shipped','Complete','Cancelled','Returned')",
    "bad event type": "SELECT count(*) FROM {s}.events WHERE event_type NOT IN ('home','department','product','cart','purchase','cancel')",
    "bad user values": "SELECT count(*) FROM {s}.users WHERE gender NOT IN ('M','F') OR age NOT BETWEEN 12 AND 70 OR traffic_source NOT IN ('Search','Organic','Facebook','Email','Display') OR email NOT LIKE '%@%'",
    "bad event values": "SELECT count(*) FROM {s}.events WHERE browser NOT IN ('Chrome','Safari','Firefox','IE','Other') OR traffic_source NOT IN ('Email','Adwords','YouTube','Facebook','Organic')",
    # sessions: one user, sequence 1..n, clicks in time order, ghosts never buy
    "inconsistent sessions": """SELECT count(*) FROM (SELECT session_id FROM {s}.events GROUP BY session_id
        HAVING count(DISTINCT coalesce(user_id, -1)) > 1 OR min(sequence_number) <> 1
            OR max(sequence_number) <> count(*) OR count(DISTINCT sequence_number) <> count(*)
            OR count(DISTINCT (ip_address, browser, traffic_source)) > 1) x""",
    "clicks out of order": """SELECT count(*) FROM (SELECT created_at < lag(created_at) OVER w AS bad FROM {s}.events
        WINDOW w AS (PARTITION BY session_id ORDER BY sequence_number)) x WHERE bad""",
    "ghost purchases": "SELECT count(*) FROM {s}.events WHERE user_id IS NULL AND event_type = 'purchase'",
    "events before sign-up": "SELECT count(*) FROM {s}.events e JOIN {s}.users u ON u.id = e.user_id WHERE e.created_at < u.created_at",
    # no future timestamps anywhere
    "future timestamps": """SELECT (SELECT count(*) FROM {s}.users WHERE created_at > now())
        + (SELECT count(*) FROM {s}.events WHERE created_at > now())
        + (SELECT count(*) FROM {s}.orders WHERE greatest(created_at, shipped_at, delivered_at, returned_at) > now())
        + (SELECT count(*) FROM {s}.order_items WHERE greatest(created_at, shipped_at, delivered_at, returned_at) > now())
        + (SELECT count(*) FROM {s}.inventory_items WHERE greatest(created_at, sold_at) > now())""",
}


def check_invariants(conn, schema):
    """Returns {name: violations} for every invariant that does not hold (empty when all hold)."""
    s = f'"{schema}"'
    bad = {}
    for name, sql in INVARIANTS.items():
        n = scalar(conn, sql.format(s=s))
        if n:
            bad[name] = n
    return bad




def table_changes(conn, schema):
    """Rows inserted/updated/deleted per table according to PostgreSQL's own statistics."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
    return {r[0]: {"insert": r[1], "update": r[2], "delete": r[3]} for r in rows(
        conn, "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables WHERE schemaname = %s",
        schema)}


class Db:
    """Read-side helpers for assertions."""

    def __init__(self, conn):
        self.conn = conn

    def scalar(self, sql, *args):
        return scalar(self.conn, sql, *args)

    def rows(self, sql, *args):
        return rows(self.conn, sql, *args)

    def invariants(self, schema):
        return check_invariants(self.conn, schema)

    def changes(self, schema):
        return table_changes(self.conn, schema)

    def count(self, schema, table):
        return scalar(self.conn, f'SELECT count(*) FROM "{schema}".{table}')


@pytest.fixture
def db(pg):
    return Db(pg)
