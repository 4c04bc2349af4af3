"""The shop's tables, named once for the whole package (DDL, topics, verify, counters, tests).

`TABLES` is the creation order (referenced tables first; drop in reverse). `SHOP_TABLES` are the
seven theLook tables; `HEARTBEAT` is the table Debezium's heartbeat query writes, captured like the
others so that the replication slot moves on while the shop is idle. `WRITTEN_TABLES` are the ones
the generator changes while streaming (the catalogue tables are loaded once), in the order the
status line shows them; `ARCHIVED_TABLES` the ones whose old rows `--horizon` deletes. `SIGNAL`
is Debezium's signalling table (signal.data.collection: an execute-snapshot row starts an
incremental snapshot, and Debezium writes its chunk watermarks there);
it is captured (Debezium reads signals and watermarks from the replication stream, so it must be in
the publication) but it is not a shop table: verify and the workload leave it out.
"""

HEARTBEAT = "heartbeat"
SHOP_TABLES = ("distribution_centers", "products", "users", "orders", "inventory_items", "order_items",
               "events")
SIGNAL = "debezium_signal"
TABLES = SHOP_TABLES + (HEARTBEAT,)
CAPTURED_TABLES = TABLES + (SIGNAL,)   # every captured table has a change topic PREFIX.SCHEMA.TABLE
WRITTEN_TABLES = ("users", "events", "orders", "order_items", "inventory_items", "products",
                  "distribution_centers")
# The tables a --horizon archives rows of (sim/archive.py), in the order the status line shows them.
ARCHIVED_TABLES = ("events", "orders", "order_items", "inventory_items")


def topic_name(prefix, schema, table):
    return f"{prefix}.{schema}.{table}"
