"""--horizon against a real PostgreSQL: a seeded run with a short horizon and a fast lifecycle.

Done when: rows beyond the horizon are gone (sessions and final orders with their items and sold
stock), open orders older than the horizon keep everything they reference, the table sizes level off
(the counts after 2N seconds are close to those after N, while as many rows were inserted in between),
the generator's counters equal PostgreSQL's own, every invariant of the shop holds, and the archive
statement deletes exactly what the rule of sim/archive.py selects."""
import json
import time

import psycopg2
import pytest
from testkit import watch

from thelook_datagen.db.writer import PgWriter
from thelook_datagen.sim.archive import is_final, may_be_closed, select
from thelook_datagen.sim.lifecycle import ORDER_FATE_SEED, RETURN_FROM, USER_FATE_SEED, CLOSE_BELOW, Delays, fate_sql
from thelook_datagen.stats import Log, Stats

pytestmark = pytest.mark.stack

HORIZON = 8.0          # seconds
# a shop day per second: orders are final within 6 s (cancelled after 0.25 s, complete after 3 s,
# returned after 6 s), so with an 8 s horizon the shop is at its steady size after about 15 s
SCALE = ["--time-scale", "86400"]
CLOSE_MAX = Delays.for_scale(86400).close_max    # 62 s: orders of users who may still be closed wait that long
RATE = 40
GROWING = ("events", "orders", "order_items")


def counts(db, schema):
    n = {t: db.count(schema, t) for t in ("events", "orders", "order_items", "users", "products",
                                          "distribution_centers")}
    n["sold"] = db.scalar(f'SELECT count(*) FROM "{schema}".inventory_items WHERE sold_at IS NOT NULL')
    return n


def order_with_fate(db, wanted, taken):
    """An order id far above the identity's range, not in `taken`, whose fate bucket satisfies
    `wanted` (SQL on `f`)."""
    return db.scalar(f"SELECT id FROM generate_series(900000000, 900005000) id WHERE id <> ALL(%s) "
                     f"AND {wanted.replace('f', fate_sql('id', ORDER_FATE_SEED))} LIMIT 1", [0] + taken)


def plant_orders(pg, db, schema):
    """Orders an hour old, one item each on its own sold unit: two open ones that the lifecycle will not
    move during the test (a Shipped order whose delivery is due tomorrow, as it shipped "tomorrow"; a
    Complete one fated to be returned, delivered "tomorrow") and two final ones (Cancelled; Complete
    for good). Returns {name: (order_id, order item id, inventory item id)}."""
    s = f'"{schema}"'
    now = db.scalar("SELECT now()")
    hour, day = "interval '1 hour'", "interval '1 day'"
    plan = {   # name: (fate bucket wanted, status, shipped_at, delivered_at)
        "shipped": (f"f >= {RETURN_FROM} - 500 AND f < {RETURN_FROM}", "Shipped", f"%(t)s + {day}", "NULL"),
        "to_return": (f"f >= {RETURN_FROM}", "Complete", "%(t)s - interval '50 minutes'", f"%(t)s + {day}"),
        "cancelled": ("f < 100", "Cancelled", "NULL", "NULL"),
        "complete": (f"f >= 200 AND f < {RETURN_FROM}", "Complete", "%(t)s - interval '50 minutes'",
                     "%(t)s - interval '40 minutes'"),
    }
    planted = {}
    with pg.cursor() as cur:
        cur.execute(f"INSERT INTO {s}.users (first_name, last_name, email, age, gender, state, street_address, "
                    f"postal_code, city, country, latitude, longitude, traffic_source, created_at) VALUES "
                    f"('Old', 'Customer', 'old@example.com', 40, 'F', 'CA', '1 Main St', '90001', 'Los Angeles', "
                    f"'United States', 34.0, -118.2, 'Search', %(t)s - interval '2 hours') RETURNING id", {"t": now})
        user = cur.fetchone()[0]
        for name, (wanted, status, shipped, delivered) in plan.items():
            order_id = order_with_fate(db, wanted, [v[0] for v in planted.values()])
            p = {"t": now, "order": order_id, "user": user, "status": status}
            cur.execute(f"INSERT INTO {s}.inventory_items (product_id, created_at, sold_at, cost, product_category, "
                        f"product_name, product_brand, product_retail_price, product_department, product_sku, "
                        f"product_distribution_center_id) SELECT id, %(t)s - 3 * {hour}, %(t)s - {hour}, cost, "
                        f"category, name, brand, retail_price, department, sku, distribution_center_id "
                        f"FROM {s}.products WHERE department = 'Women' ORDER BY id LIMIT 1 RETURNING id, product_id", p)
            p["unit"], p["product"] = cur.fetchone()
            cur.execute(f"INSERT INTO {s}.orders (order_id, user_id, status, gender, created_at, shipped_at, "
                        f"delivered_at, num_of_item) VALUES (%(order)s, %(user)s, %(status)s, 'F', %(t)s - {hour}, "
                        f"{shipped}, {delivered}, 1)", p)
            cur.execute(f"INSERT INTO {s}.order_items (order_id, user_id, product_id, inventory_item_id, status, "
                        f"created_at, shipped_at, delivered_at, sale_price) SELECT %(order)s, %(user)s, id, %(unit)s, "
                        f"%(status)s, %(t)s - {hour}, {shipped}, {delivered}, retail_price FROM {s}.products "
                        f"WHERE id = %(product)s RETURNING id", p)
            planted[name] = (order_id, cur.fetchone()[0], p["unit"])
    return planted


def present(db, schema, order_id, item, unit):
    s = f'"{schema}"'
    return (db.scalar(f"SELECT count(*) FROM {s}.orders WHERE order_id = %s", order_id),
            db.scalar(f"SELECT count(*) FROM {s}.order_items WHERE id = %s", item),
            db.scalar(f"SELECT count(*) FROM {s}.inventory_items WHERE id = %s", unit))


@pytest.mark.timeout(150)   # most of it the reference load into the fresh schema on a busy machine
def test_a_short_horizon_keeps_the_shop_at_a_steady_size(run_gen, start_gen, schema, pg, db):
    run_gen("--schema", schema, "--if_exists", "replace", "--no-create-topic", "--max_iter", "0", "--quiet")
    planted = plant_orders(pg, db, schema)
    before = counts(db, schema)

    proc = start_gen("--schema", schema, "--no-create-topic", "--seed", "21", "--avg-qps", str(RATE),
                     "--horizon", f"{HORIZON:g}s", *SCALE, "--log-format", "json", "--status-interval", "1")
    err = watch(proc)
    err.wait_for("streaming visits", timeout=60)
    t0 = time.monotonic()
    samples = {}
    for mark in (15.0, 30.0):
        time.sleep(max(0.0, t0 + mark - time.monotonic()))
        assert proc.poll() is None, err.text[-3000:]
        status = [json.loads(x) for x in list(err.lines) if '"event": "status"' in x][-1]
        inserted = {t: status["tables"].get(t, {}).get("insert", 0) for t in GROWING}
        inserted["sold"] = status["tables"].get("order_items", {}).get("insert", 0)    # a unit per item
        samples[mark] = (counts(db, schema), inserted)
    proc.send_signal(2)
    assert proc.wait(timeout=30) == 0, err.text[-3000:]
    out = err.finish()
    assert "Traceback" not in out
    summary = [json.loads(x) for x in out.splitlines() if '"event": "summary"' in x][-1]
    s = f'"{schema}"'

    # the shop levels off: between 15 s and 30 s the generator inserted as many rows again as in the
    # first 15 s, yet the tables hold about what they held at 15 s (without a horizon they would hold
    # every row inserted: growth = inserts)
    (n1, i1), (n2, i2) = samples[15.0], samples[30.0]
    for table in GROWING + ("sold",):
        inserted = i2[table] - i1[table]
        assert inserted > 0.5 * i1[table] > 0, (table, i1, i2)
        assert abs(n2[table] - n1[table]) < 0.25 * inserted, (table, n1, n2, i1, i2)
        assert n2[table] - before[table] < 0.5 * i2[table], (table, n2, i2)

    # what is beyond the horizon is gone; `end` is the last visit's instant, and what came due in the
    # last two seconds (after the last step) may still be there, as may the orders of users who could
    # still be closed as users without orders (sim.archive.may_be_closed)
    end = db.scalar(f"SELECT max(created_at) FROM {s}.events")
    old_sessions = db.scalar(f"SELECT count(*) FROM (SELECT session_id FROM {s}.events GROUP BY session_id "
                             f"HAVING min(created_at) < %s - interval '{HORIZON + 2:g} s' "
                             f"AND max(created_at) < %s - interval '2 s') x", end, end)
    assert old_sessions == 0
    old_final = db.scalar(f"SELECT count(*) FROM {s}.orders WHERE created_at < %s - interval '{HORIZON + 2:g} s' "
                          f"AND coalesce(returned_at, delivered_at, created_at + interval '1 s') < %s - interval "
                          f"'2 s' AND (status IN ('Cancelled', 'Returned') OR (status = 'Complete' AND "
                          f"{fate_sql('order_id', ORDER_FATE_SEED)} < {RETURN_FROM})) AND NOT EXISTS (SELECT 1 "
                          f"FROM {s}.users u WHERE u.id = user_id AND {fate_sql('u.id', USER_FATE_SEED)} < "
                          f"{CLOSE_BELOW} AND u.created_at >= %s - interval '{CLOSE_MAX + 2:g} s')", end, end, end)
    assert old_final == 0
    waiting = db.scalar(f"SELECT count(*) FROM {s}.orders o JOIN {s}.users u ON u.id = o.user_id WHERE "
                        f"o.created_at < %s - interval '{HORIZON + 2:g} s' AND o.status = 'Cancelled' AND "
                        f"{fate_sql('u.id', USER_FATE_SEED)} < {CLOSE_BELOW}", end)
    assert waiting > 0, "the orders of buyers who may still be closed wait"

    # open orders keep their items and stock however old they are; the final ones went whole
    assert present(db, schema, *planted["shipped"]) == (1, 1, 1)
    assert present(db, schema, *planted["to_return"]) == (1, 1, 1)
    assert present(db, schema, *planted["cancelled"]) == (0, 0, 0)
    assert present(db, schema, *planted["complete"]) == (0, 0, 0)

    # never archived: users, products, centres; the counters are PostgreSQL's own
    end_counts = counts(db, schema)
    assert end_counts["products"] == before["products"] and end_counts["distribution_centers"] == 10
    users = summary["tables"].get("users", {})
    assert end_counts["users"] == before["users"] + users.get("insert", 0) - users.get("delete", 0)
    archived = summary["archived"]
    assert archived["orders"] >= 2 and archived["events"] > 0 and summary["archive_steps"] >= 25
    assert archived["order_items"] == archived["inventory_items"]
    assert summary["tables"]["orders"]["delete"] == archived["orders"]          # the only deletes of orders
    assert summary["tables"]["order_items"]["delete"] == archived["order_items"]
    for table in GROWING:
        ops = summary["tables"][table]
        assert end_counts[table] - before[table] == ops.get("insert", 0) - ops.get("delete", 0), table
    # the two open orders planted have their next step "tomorrow": out of the way, every invariant holds
    with pg.cursor() as cur:
        for order_id, item, unit in (planted["shipped"], planted["to_return"]):
            cur.execute(f"DELETE FROM {s}.order_items WHERE id = %s", (item,))
            cur.execute(f"DELETE FROM {s}.orders WHERE order_id = %s", (order_id,))
            cur.execute(f"DELETE FROM {s}.inventory_items WHERE id = %s", (unit,))
    assert db.invariants(schema) == {}


@pytest.mark.timeout(150)
def test_the_archive_statement_deletes_what_the_rule_selects(run_gen, schema, pg, db):
    """A run without a horizon leaves orders in every state; the archive statement, run in small
    steps at a cutoff in the middle of the run, deletes exactly what sim.archive.select picks."""
    run_gen("--schema", schema, "--if_exists", "replace", "--no-create-topic", "--seed", "5", "--avg-qps", "100",
            "--max_iter", "1200", *SCALE, "--quiet")
    s = f'"{schema}"'
    fate = fate_sql("order_id", ORDER_FATE_SEED)
    ev = {i: (sid, ts) for i, sid, ts in db.rows(f"SELECT id, session_id, extract(epoch FROM created_at)::float8 "
                                                  f"FROM {s}.events")}
    orders = {i: (st, ts, b, u) for i, st, ts, b, u in db.rows(
        f"SELECT order_id, status, extract(epoch FROM created_at)::float8, {fate}, user_id FROM {s}.orders")}
    users = {i: (ts, b) for i, ts, b in db.rows(f"SELECT id, extract(epoch FROM created_at)::float8, "
                                                 f"{fate_sql('id', USER_FATE_SEED)} FROM {s}.users")}
    items = {i: (o, u) for i, o, u in db.rows(f"SELECT id, order_id, inventory_item_id FROM {s}.order_items")}
    stock = {i: t for i, t in db.rows(f"SELECT id, extract(epoch FROM sold_at)::float8 FROM {s}.inventory_items")}
    # a cutoff halfway through the run, between two instants (orders are dated like their session's
    # last event) far enough apart that rounding to PostgreSQL's microseconds cannot move a row across
    times = sorted({ts for _, ts in ev.values()})
    k = next(k for k in range(len(times) // 2, len(times) - 1) if times[k + 1] - times[k] > 1e-3)
    cutoff = (times[k] + times[k + 1]) / 2
    # users who signed up after the first tenth of sign-ups may still be closed: those of a closing fate
    # (a fifth) have their final orders before the cutoff wait
    user_times = sorted({ts for ts, _ in users.values()})
    j = next(j for j in range(len(user_times) // 10, len(user_times) - 1) if user_times[j + 1] - user_times[j] > 1e-3)
    closing_since = (user_times[j] + user_times[j + 1]) / 2
    want = select(ev, orders, items, stock, users, cutoff, closing_since)
    assert len(want.orders) > 20 and len(want.events) > 1000
    waiting = [o for o, (st, ts, b, u) in orders.items()
               if ts < cutoff and is_final(st, b) and may_be_closed(*users[u], closing_since)]
    assert waiting and not set(waiting) & want.orders
    assert {v[0] for v in orders.values()} == {"Processing", "Shipped", "Complete", "Cancelled", "Returned"}

    conn = psycopg2.connect(**pg.kw)
    writer = PgWriter({}, schema, Stats(0), Log("text", quiet=True), conn=conn)
    deleted = {"events": 0, "orders": 0, "order_items": 0, "inventory_items": 0}
    steps = 0
    try:
        while True:                                   # steps of 7: many of them, each its own transaction
            r = writer.apply_archive(cutoff, 7, closing_since)
            steps += 1
            for t in deleted:
                deleted[t] += getattr(r, t)
            if r.old_events < 7 and r.old_orders < 7:
                break
    finally:
        writer.close()
    assert steps > 20
    assert deleted == {"events": len(want.events), "orders": len(want.orders),
                       "order_items": len(want.order_items), "inventory_items": len(want.inventory_items)}
    assert {i for (i,) in db.rows(f"SELECT id FROM {s}.events")} == set(ev) - want.events
    assert {i for (i,) in db.rows(f"SELECT order_id FROM {s}.orders")} == set(orders) - want.orders
    assert {i for (i,) in db.rows(f"SELECT id FROM {s}.order_items")} == set(items) - want.order_items
    assert {i for (i,) in db.rows(f"SELECT id FROM {s}.inventory_items")} == set(stock) - want.inventory_items
    assert db.invariants(schema) == {}
