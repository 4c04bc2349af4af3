"""--backfill-days: history written with COPY before the live stream, on a real PostgreSQL.

One run of a week of history at real-time lifecycle delays (--time-scale 1), followed by a short
live stream on top of it; then the data's invariants (every foreign key, stock sold once, lifecycle
timestamps ordered and matching the status, no future timestamps, ...) and what only history has:
the activity spread evenly over the days, statuses matching each order's age, accounts closed as
the live lifecycle would have closed them.
"""
import json
import time

import pytest

pytestmark = pytest.mark.stack

DAY = 86400
DAYS = 7
RATE = 0.05                 # visits/s of the history: 4,320 visits a day
REAL_TIME = ["--time-scale", "1"]


def backfill_record(stderr):
    records = [json.loads(x) for x in stderr.splitlines() if x.startswith("{")]
    done = [r for r in records if r.get("event") == "backfill"]
    assert done, f"no backfill record in:\n{stderr[-2000:]}"
    return done[-1]


@pytest.fixture(scope="module")
def history(stack_env):
    """One backfilled shop shared by the tests of this module (dropped at the end): a week of
    history at 0.05 visits/s (about 30,000 visits), then 50 live visits."""
    import os
    import subprocess
    import sys
    import uuid

    import psycopg2
    schema = "gt_backfill_" + uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({k: stack_env[k] for k in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")})
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "thelook_datagen", "--schema", schema, "--no-create-topic",
                           "--if_exists", "replace", "--seed", "5", "--avg-qps", "5", "--max_iter", "50",
                           "--log-format", "json", "--backfill-days", str(DAYS), "--backfill-rate", str(RATE),
                           *REAL_TIME],
                          env=env, capture_output=True, text=True, timeout=900)
    conn = psycopg2.connect(host=stack_env["PGHOST"], port=stack_env["PGPORT"], user=stack_env["PGUSER"],
                            password=stack_env["PGPASSWORD"], dbname=stack_env["PGDATABASE"])
    conn.autocommit = True
    try:
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield {"schema": schema, "stderr": proc.stderr, "started": started, "conn": conn}
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


def q(h, sql, *args):
    with h["conn"].cursor() as cur:
        cur.execute(sql.format(s='"' + h["schema"] + '"'), args or None)
        return cur.fetchall()


def test_backfill_reports_its_rows_and_the_live_stream_follows(history, summary):
    rec = backfill_record(history["stderr"])
    live = summary(history["stderr"])
    assert "Traceback" not in history["stderr"]
    assert rec["days"] == DAYS and rec["rows_per_s"] > 0 and rec["rows"] == sum(rec["tables"].values())
    expected = DAYS * DAY * RATE
    assert abs(rec["visits"] - expected) < 5 * expected ** 0.5, rec
    assert live["visits"] == 50
    # the database holds what the backfill wrote plus what the live stream wrote
    lt = live["tables"]
    counts = dict(q(history, "SELECT 'orders', count(*) FROM {s}.orders UNION ALL "
                             "SELECT 'order_items', count(*) FROM {s}.order_items UNION ALL "
                             "SELECT 'users', count(*) FROM {s}.users UNION ALL SELECT 'events', count(*) FROM {s}.events"))
    for table in ("orders", "order_items", "users", "events"):
        ops = lt.get(table, {})
        assert counts[table] == rec["tables"][table] + ops.get("insert", 0) - ops.get("delete", 0), (table, rec, lt)


def test_every_invariant_holds(history, db):
    assert db.invariants(history["schema"]) == {}


def test_history_spreads_evenly_over_the_days_and_ends_now(history):
    end = history["started"]
    per_day = dict(q(history, "SELECT floor((extract(epoch FROM now()) - extract(epoch FROM s.t)) / 86400)::int, "
                              "count(*) FROM (SELECT min(created_at) t FROM {s}.events GROUP BY session_id) s "
                              "GROUP BY 1 ORDER BY 1"))
    oldest, newest = q(history, "SELECT extract(epoch FROM min(created_at)), extract(epoch FROM max(created_at)) "
                                "FROM {s}.events")[0]
    assert end - DAYS * DAY - 60 < float(oldest) < end - DAYS * DAY + 3600
    assert float(newest) <= time.time()
    # every full day holds about RATE * DAY sessions (accounts closed take a few with them)
    full_days = [per_day.get(d, 0) for d in range(DAYS - 1)]
    for n in full_days:
        assert abs(n - RATE * DAY) < 0.08 * RATE * DAY, per_day
    assert sum(per_day.values()) > 0.97 * DAYS * DAY * RATE


def test_statuses_match_each_orders_age(history):
    # real-time delays: cancel after 6 h, ship after 1 day, deliver 2 days later, return 3 days after
    age = "(extract(epoch FROM now()) - extract(epoch FROM created_at)) / 86400"
    rows = q(history, f"SELECT status, min({age}), max({age}), count(*) FROM {{s}}.orders GROUP BY status")
    by = {status: (float(lo), float(hi), n) for status, lo, hi, n in rows}
    assert set(by) == {"Processing", "Shipped", "Complete", "Cancelled", "Returned"}, by
    assert by["Processing"][1] < 1.01            # nothing waits longer than the ship delay
    assert by["Shipped"][0] > 0.99 and by["Shipped"][1] < 3.01
    assert by["Complete"][0] > 2.99
    assert by["Returned"][0] > 5.99
    assert by["Cancelled"][0] > 0.24
    # an order's fate is a function of its id, as in the live ticks: ~15% cancelled, ~10% returned
    old = dict(q(history, f"SELECT status, count(*) FROM {{s}}.orders WHERE {age} > 6.1 GROUP BY status"))
    total = sum(old.values())
    assert total > 1000
    assert set(old) == {"Complete", "Cancelled", "Returned"}, old
    assert abs(old["Cancelled"] / total - 154 / 1024) < 0.03, old
    assert abs(old["Returned"] / total - 103 / 1024) < 0.03, old


def test_accounts_closed_like_the_live_lifecycle(history):
    from thelook_datagen.sim.lifecycle import CLOSE_BELOW, USER_FATE_SEED, fate_sql
    rec = backfill_record(history["stderr"])
    assert rec["closed_accounts"] > 0
    # users fated to close, past the closing window (2-3 days at real time) and without orders: none left
    left = q(history, f"SELECT count(*) FROM {{s}}.users u WHERE {fate_sql('u.id', USER_FATE_SEED)} < {CLOSE_BELOW} "
                      f"AND u.created_at < now() - interval '3 days' "
                      f"AND NOT EXISTS (SELECT 1 FROM {{s}}.orders o WHERE o.user_id = u.id)")[0][0]
    assert left == 0
    # ...while those fated to close who ordered in time stay
    kept = q(history, f"SELECT count(*) FROM {{s}}.users u WHERE {fate_sql('u.id', USER_FATE_SEED)} < {CLOSE_BELOW} "
                      f"AND u.created_at < now() - interval '3 days'")[0][0]
    assert kept > 0


def test_identity_sequences_continue_after_the_history(history):
    for table, col in (("users", "id"), ("orders", "order_id"), ("order_items", "id"), ("events", "id"),
                       ("inventory_items", "id")):
        seq = q(history, "SELECT pg_get_serial_sequence(%s, %s)", f'"{history["schema"]}".{table}', col)[0][0]
        max_id, last = q(history, f"SELECT (SELECT max({col}) FROM {{s}}.{table}), (SELECT last_value FROM {seq})")[0]
        assert last >= max_id, table
    # foreign keys are back after the load
    n = q(history, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = %s::regnamespace",
          '"' + history["schema"] + '"')[0][0]
    assert n == 9


def test_indexes_and_unique_constraints_are_rebuilt(history):
    """The load drops secondary indexes and unique constraints; all of them are back and valid."""
    from thelook_datagen.db.ddl import index_sql
    expected = {stmt.split(" IF NOT EXISTS ")[1].split()[0] for stmts in index_sql(history["schema"]).values()
                for stmt in stmts}
    present = dict(q(history, "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                              "WHERE c.relnamespace = %s::regnamespace", '"' + history["schema"] + '"'))
    assert expected <= set(present), expected - set(present)
    assert all(present.values())
    unique = q(history, "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE contype = 'u' AND connamespace = %s::regnamespace", '"' + history["schema"] + '"')
    assert [d for _, d in unique] == ["UNIQUE (inventory_item_id)"]


def test_history_has_address_changes(history):
    """Users who moved in the history: their row has the new address, their first session the old one."""
    rec = backfill_record(history["stderr"])
    assert rec["address_changes"] > 50, rec
    # each user's earliest event, in one sort (a correlated min() per user scanned the events table once per
    # user: five minutes of the suite)
    moved = q(history, "SELECT count(*) FROM {s}.users u JOIN (SELECT DISTINCT ON (user_id) user_id, city, "
                       "postal_code, sequence_number FROM {s}.events WHERE user_id IS NOT NULL "
                       "ORDER BY user_id, created_at, sequence_number, id) e ON e.user_id = u.id "
                       "AND e.sequence_number = 1 WHERE (e.city, e.postal_code) IS DISTINCT FROM (u.city, u.postal_code)")[0][0]
    # the live stream's 50 visits may move a few more; a move to the same town is not visible
    assert 0.8 * rec["address_changes"] <= moved <= rec["address_changes"] + 10, (moved, rec["address_changes"])


def test_backfill_with_a_seed_repeats(run_gen, new_schema, db):
    """Same seed and options into two fresh schemas: the same users, orders, products and statuses."""
    def content(schema):
        return (db.rows(f'SELECT id, email, gender, city FROM "{schema}".users ORDER BY id'),
                db.rows(f'SELECT o.order_id, o.user_id, o.status, o.num_of_item, array_agg(i.product_id ORDER BY i.id) '
                        f'FROM "{schema}".orders o JOIN "{schema}".order_items i USING (order_id) '
                        f'GROUP BY o.order_id ORDER BY o.order_id'),
                db.rows(f'SELECT count(*), count(DISTINCT session_id) FROM "{schema}".events'))
    runs = []
    for _ in range(2):
        schema = new_schema()
        run_gen("--schema", schema, "--no-create-topic", "--if_exists", "replace", "--seed", "42", "--max_iter", "0",
                "--backfill-days", "1", "--backfill-rate", "0.05", *REAL_TIME)
        runs.append(content(schema))
    assert runs[0] == runs[1]
    assert len(runs[0][0]) > 500 and len(runs[0][1]) > 500


def test_backfill_on_a_bigger_shop_keeps_its_indexes(run_gen, new_schema, db):
    """A short history on top of a shop with more rows than it adds: the indexes are kept (rebuilding
    them would cost more than the load) and every invariant still holds."""
    schema = new_schema()
    run_gen("--schema", schema, "--no-create-topic", "--if_exists", "replace", "--seed", "8", "--avg-qps", "0",
            "--max_iter", "3000")
    index_oids = "SELECT indexrelid::bigint FROM pg_index WHERE indrelid = %s::regclass ORDER BY 1"
    before = db.rows(index_oids, f'"{schema}".events')
    run_gen("--schema", schema, "--no-create-topic", "--if_exists", "append", "--seed", "9", "--max_iter", "0",
            "--backfill-days", "0.001", "--backfill-rate", "1", *REAL_TIME)
    assert db.rows(index_oids, f'"{schema}".events') == before
    assert db.invariants(schema) == {}
