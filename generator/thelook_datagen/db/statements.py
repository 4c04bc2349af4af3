"""The SQL of a visit and of a lifecycle tick: each ONE statement, prepared once per connection.

A visit is a single statement of data-modifying CTEs executed in autocommit mode, so it is one
round trip and one transaction: new user, events, the order, its items, and the inventory items
it sells (`FOR UPDATE SKIP LOCKED`, so concurrent generators never take the same item). If a
product has no unsold stock left, the statement restocks one unit and sells it in the same
transaction, so an order always gets all its items.
"""
from collections import namedtuple

from ..sim.archive import final_order_sql
from ..sim.lifecycle import (CANCEL_BELOW, CLOSE_BELOW, ITEM_FATE_SEED, ORDER_FATE_SEED, RETURN_FROM,
                             USER_FATE_SEED, WRITE_OFF_BELOW, fate_sql)
from .ddl import ident

VISIT_NAME = "thelook_visit"
TICK_NAME = "thelook_tick"
ARCHIVE_NAME = "thelook_archive"

VISIT_PARAM_TYPES = (
    "bigint", "boolean",                                           # $1 user id, $2 sign-up?
    "text", "text", "text", "integer", "text", "text", "text",     # $3..$9 user columns
    "text", "text", "text", "float8", "float8", "text", "float8",  # $10..$16
    "text", "text", "text", "text", "text", "text", "text",        # $17..$23 session
    "float8[]", "text[]", "text[]",                                # $24..$26 events
    "integer[]", "float8", "text",                                 # $27..$29 order
)

PRODUCT_COPY = ("p.cost, p.category, p.name, p.brand, p.retail_price, p.department, p.sku, "
                "p.distribution_center_id")
INVENTORY_COPY = ("cost, product_category, product_name, product_brand, product_retail_price, "
                  "product_department, product_sku, product_distribution_center_id")


# Columns that are not theLook's but that the generator fills when users has them (the schema-change scenario
# adds them): SQL over the visit's own parameters ($5 the e-mail), so that the parameters, and the statement
# of a users table without them, stay as they are; hashtext makes the value follow the seeded e-mail.
USER_FILLERS = {
    "loyalty_points": "(hashtext($5) & 65535)",
    "loyalty_tier": "(ARRAY['bronze', 'silver', 'gold', 'platinum'])[1 + ((hashtext($5) >> 16) & 3)]",
}


def visit_sql(schema, extra_user_columns=()):
    """The visit statement; `extra_user_columns`: names of USER_FILLERS that users has (filled too)."""
    s = ident(schema)
    extra_names = "".join(f", {ident(c)}" for c in extra_user_columns)
    extra_values = "".join(f", {USER_FILLERS[c]}" for c in extra_user_columns)
    return f"""
WITH nu AS (
  INSERT INTO {s}.users (first_name, last_name, email, age, gender, state, street_address, postal_code,
                         city, country, latitude, longitude, traffic_source, created_at{extra_names})
  SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, to_timestamp($16){extra_values} WHERE $2
  RETURNING id),
uid AS (SELECT coalesce($1, (SELECT id FROM nu)) AS id),
ev AS (
  INSERT INTO {s}.events (user_id, sequence_number, session_id, created_at, ip_address, city, state,
                          postal_code, browser, traffic_source, uri, event_type)
  SELECT (SELECT id FROM uid), e.seq, $17, to_timestamp(e.ts), $18, $19, $20, $21, $22, $23, e.uri, e.et
  FROM unnest($24, $25, $26) WITH ORDINALITY AS e(ts, uri, et, seq)
  RETURNING 1),
want AS (SELECT w.pid, w.ord FROM unnest($27) WITH ORDINALITY AS w(pid, ord)),
picked AS MATERIALIZED (
  SELECT w.ord, w.pid, i.id FROM want w CROSS JOIN LATERAL (
    SELECT ii.id FROM {s}.inventory_items ii WHERE ii.product_id = w.pid AND ii.sold_at IS NULL
    LIMIT 1 FOR UPDATE SKIP LOCKED) i),
sold AS (
  UPDATE {s}.inventory_items ii SET sold_at = to_timestamp($28) FROM picked k WHERE ii.id = k.id
  RETURNING ii.id, ii.product_id),
extra AS (
  INSERT INTO {s}.inventory_items (product_id, created_at, sold_at, {INVENTORY_COPY})
  SELECT p.id, to_timestamp($28), to_timestamp($28), {PRODUCT_COPY}
  FROM want w JOIN {s}.products p ON p.id = w.pid
  WHERE NOT EXISTS (SELECT 1 FROM picked k WHERE k.ord = w.ord)
  RETURNING id, product_id),
ord AS (
  INSERT INTO {s}.orders (user_id, status, gender, created_at, num_of_item)
  SELECT (SELECT id FROM uid), 'Processing', $29, to_timestamp($28), cardinality($27)
  WHERE cardinality($27) > 0
  RETURNING order_id),
items AS (
  INSERT INTO {s}.order_items (order_id, user_id, product_id, inventory_item_id, status, created_at, sale_price)
  SELECT (SELECT order_id FROM ord), (SELECT id FROM uid), x.product_id, x.id, 'Processing',
         to_timestamp($28), p.retail_price
  FROM (SELECT id, product_id FROM sold UNION ALL SELECT id, product_id FROM extra) x
  JOIN want w ON w.pid = x.product_id JOIN {s}.products p ON p.id = x.product_id
  ORDER BY w.ord
  RETURNING 1)
SELECT (SELECT id FROM uid), (SELECT order_id FROM ord), (SELECT count(*) FROM extra)::int
"""


TICK_PARAM_TYPES = (
    "float8",                                                  # $1 now (epoch s)
    "float8", "float8", "float8", "float8",                    # $2..$5 cancel, ship, deliver, return delays
    "float8", "float8", "float8",                              # $6..$8 close window min/max, write-off age
    "integer",                                                 # $9 limit per kind
    "integer[]", "integer", "integer",                         # $10..$12 restock products, below, units
    "bigint[]", "text[]", "text[]", "text[]", "text[]", "text[]", "float8[]", "float8[]",  # $13..$20 moves
)

# The row a tick returns (the SELECT at the end of tick_sql, in this order): orders and their items
# moved to each status, events and users deleted by account closures (ids of the closed users),
# product ids of the unsold units written off, units restocked, users whose address changed.
TickResult = namedtuple("TickResult", "cancelled cancelled_items shipped shipped_items delivered delivered_items "
                                      "returned returned_items closed_events closed_users written_off restocked moved")


def _order_step(s, name, new_status, ts_column, where, order_by):
    ts_set = f", {ts_column} = to_timestamp($1)" if ts_column else ""
    return f"""
{name} AS (
  UPDATE {s}.orders o SET status = '{new_status}'{ts_set}
  WHERE o.order_id IN (SELECT order_id FROM {s}.orders WHERE {where}
                       ORDER BY {order_by} LIMIT $9 FOR UPDATE SKIP LOCKED)
  RETURNING o.order_id),
{name}_items AS (
  UPDATE {s}.order_items SET status = '{new_status}'{ts_set}
  WHERE order_id IN (SELECT order_id FROM {name})
  RETURNING 1),"""


def tick_sql(schema):
    """Every lifecycle change that is due at $1, as one statement (one transaction)."""
    s = ident(schema)
    of = fate_sql("order_id", ORDER_FATE_SEED)
    uf = fate_sql("id", USER_FATE_SEED)
    itf = fate_sql("id", ITEM_FATE_SEED)
    steps = "".join([
        _order_step(s, "cancelled", "Cancelled", None,
                    f"status = 'Processing' AND {of} < {CANCEL_BELOW} AND created_at <= to_timestamp($1 - $2)",
                    "created_at"),
        _order_step(s, "shipped", "Shipped", "shipped_at",
                    f"status = 'Processing' AND {of} >= {CANCEL_BELOW} AND created_at <= to_timestamp($1 - $3)",
                    "created_at"),
        _order_step(s, "delivered", "Complete", "delivered_at",
                    "status = 'Shipped' AND shipped_at <= to_timestamp($1 - $4)", "shipped_at"),
        _order_step(s, "returned", "Returned", "returned_at",
                    f"status = 'Complete' AND {of} >= {RETURN_FROM} AND delivered_at <= to_timestamp($1 - $5)",
                    "delivered_at"),
    ])
    return f"""
WITH {steps}
closing AS (
  SELECT u.id FROM {s}.users u
  WHERE {uf.replace('(id', '(u.id')} < {CLOSE_BELOW}
    AND u.created_at BETWEEN to_timestamp($1 - $7) AND to_timestamp($1 - $6)
    AND NOT EXISTS (SELECT 1 FROM {s}.orders o WHERE o.user_id = u.id)
    AND NOT EXISTS (SELECT 1 FROM {s}.order_items oi WHERE oi.user_id = u.id)
  ORDER BY u.created_at LIMIT $9 FOR UPDATE SKIP LOCKED),
closed_events AS (
  DELETE FROM {s}.events e WHERE e.user_id IN (SELECT id FROM closing) RETURNING 1),
closed AS (
  DELETE FROM {s}.users u WHERE u.id IN (SELECT id FROM closing) RETURNING u.id),
written_off AS (
  DELETE FROM {s}.inventory_items i
  WHERE i.id IN (SELECT id FROM {s}.inventory_items
                 WHERE sold_at IS NULL AND {itf} < {WRITE_OFF_BELOW} AND created_at <= to_timestamp($1 - $8)
                 ORDER BY created_at LIMIT $9 FOR UPDATE SKIP LOCKED)
  RETURNING i.product_id),
restocked AS (
  INSERT INTO {s}.inventory_items (product_id, created_at, {INVENTORY_COPY})
  SELECT p.id, to_timestamp($1), {PRODUCT_COPY}
  FROM {s}.products p CROSS JOIN generate_series(1, $12) g
  WHERE p.id = ANY($10)
    AND (SELECT count(*) FROM (SELECT 1 FROM {s}.inventory_items i
                               WHERE i.product_id = p.id AND i.sold_at IS NULL LIMIT $11) x) < $11
  ORDER BY p.id, g
  RETURNING 1),
moved AS (
  {move_sql(s, "$13, $14, $15, $16, $17, $18, $19, $20")} AND u.id NOT IN (SELECT id FROM closing)
  RETURNING u.id)
SELECT (SELECT count(*) FROM cancelled)::int, (SELECT count(*) FROM cancelled_items)::int,
       (SELECT count(*) FROM shipped)::int, (SELECT count(*) FROM shipped_items)::int,
       (SELECT count(*) FROM delivered)::int, (SELECT count(*) FROM delivered_items)::int,
       (SELECT count(*) FROM returned)::int, (SELECT count(*) FROM returned_items)::int,
       (SELECT count(*) FROM closed_events)::int, ARRAY(SELECT id FROM closed ORDER BY id),
       ARRAY(SELECT product_id FROM written_off ORDER BY product_id),
       (SELECT count(*) FROM restocked)::int, (SELECT count(*) FROM moved)::int
"""


# $1 cutoff (epoch s), $2 limit (first events, orders), $3 closing_since (epoch s: sim.archive.may_be_closed)
ARCHIVE_PARAM_TYPES = ("float8", "integer", "float8")

# The row an archive step returns: the sessions' events selected by age (at most the limit; as many
# means more is due), the sessions whose events were deleted, the final orders selected (likewise),
# and the rows deleted per table.
ArchiveResult = namedtuple("ArchiveResult", "old_events sessions old_orders events orders order_items "
                                            "inventory_items")


def archive_sql(schema):
    """One step of --horizon (sim/archive.py says what and why), as one statement and so one transaction.

    Small on purpose: at most $2 of the oldest events (whole sessions: all events of the sessions
    they start) and $2 of the oldest final orders, each with its items and their sold stock. Every
    row is found through an index (events_created_at_idx, orders_archive_due_idx, the items' order_id
    index, primary keys), so a step reads and locks only the rows it deletes: row locks, never a table
    lock, and never for long, so that visits and lifecycle ticks (of this and other generators) never
    wait on it. The deletes take their keys as arrays (`= ANY (ARRAY(...))`) so that the generic plan
    of the prepared statement probes the indexes whatever the size of the tables. Orders are taken
    FOR UPDATE SKIP LOCKED: one a concurrent tick holds is left for the next step. Order items are deleted in the same statement as their order and their stock, so the
    foreign keys (checked at the end of the statement) hold throughout and Debezium sees one
    transaction. Sold stock is deleted only when its order item is deleted here: the stock of an open
    order stays. An order whose buyer may still have the account closed (sim.archive.may_be_closed, a
    primary-key probe of users) waits, so that archiving never makes a buyer look like a user who never
    ordered."""
    s = ident(schema)
    final = final_order_sql(fate_sql("order_id", ORDER_FATE_SEED))
    user_fate = fate_sql("u.id", USER_FATE_SEED)
    return f"""
WITH old_events AS MATERIALIZED (
  SELECT session_id FROM {s}.events WHERE created_at < to_timestamp($1) ORDER BY created_at LIMIT $2),
sessions AS MATERIALIZED (SELECT DISTINCT session_id FROM old_events),
archived_events AS (
  DELETE FROM {s}.events e WHERE e.session_id = ANY (ARRAY(SELECT session_id FROM sessions)) RETURNING 1),
old_orders AS MATERIALIZED (
  SELECT o.order_id FROM {s}.orders o
  WHERE o.created_at < to_timestamp($1) AND {final}
    AND NOT EXISTS (SELECT 1 FROM {s}.users u WHERE u.id = o.user_id AND u.created_at >= to_timestamp($3)
                    AND {user_fate} < {CLOSE_BELOW})
  ORDER BY o.created_at LIMIT $2 FOR UPDATE OF o SKIP LOCKED),
archived_items AS (
  DELETE FROM {s}.order_items oi WHERE oi.order_id = ANY (ARRAY(SELECT order_id FROM old_orders))
  RETURNING oi.inventory_item_id),
archived_orders AS (
  DELETE FROM {s}.orders o WHERE o.order_id = ANY (ARRAY(SELECT order_id FROM old_orders)) RETURNING 1),
archived_stock AS (
  DELETE FROM {s}.inventory_items i
  WHERE i.id = ANY (ARRAY(SELECT inventory_item_id FROM archived_items)) AND i.sold_at IS NOT NULL
  RETURNING 1)
SELECT (SELECT count(*) FROM old_events)::int, (SELECT count(*) FROM sessions)::int,
       (SELECT count(*) FROM old_orders)::int, (SELECT count(*) FROM archived_events)::int,
       (SELECT count(*) FROM archived_orders)::int, (SELECT count(*) FROM archived_items)::int,
       (SELECT count(*) FROM archived_stock)::int
"""


def move_sql(s, arrays):
    """UPDATE of users' addresses from eight arrays (id, street, postal, city, state, country, lat, lon)."""
    return (f"UPDATE {s}.users u SET street_address = a.street, postal_code = a.postal, city = a.city, "
            f"state = a.state, country = a.country, latitude = a.lat, longitude = a.lon "
            f"FROM unnest({arrays}) AS a(id, street, postal, city, state, country, lat, lon) WHERE u.id = a.id")


def prepare_sql(name, types, body):
    return f"PREPARE {name} ({', '.join(types)}) AS {body}"


def execute_template(name, n):
    return f"EXECUTE {name} (" + ", ".join(["%s"] * n) + ")"
