"""Row builders for the tables a visit and its lifecycle touch, without I/O.

The live writer does the same in one SQL statement (db/statements.py) so that stock is taken with
`FOR UPDATE SKIP LOCKED`; bulk writers (history backfill, benchmarks) that assign ids themselves
can use these to build COPY rows. Timestamps are epoch seconds (float, UTC); column orders are the
ones of db/ddl.COLUMNS without the identity column.
"""
from .lifecycle import state_at

ORDER_COLUMNS = ("user_id", "status", "gender", "created_at", "returned_at", "shipped_at", "delivered_at",
                 "num_of_item")
ORDER_ITEM_COLUMNS = ("order_id", "user_id", "product_id", "inventory_item_id", "status", "created_at",
                      "shipped_at", "delivered_at", "returned_at", "sale_price")
INVENTORY_COLUMNS = ("product_id", "created_at", "sold_at", "cost", "product_category", "product_name",
                     "product_brand", "product_retail_price", "product_department", "product_sku",
                     "product_distribution_center_id")


def order_state(bucket, created, now, delays):
    """(status, shipped_at, delivered_at, returned_at) of an order at `now`; see lifecycle.state_at."""
    return state_at(bucket, created, now, delays)


def order_row(visit, user_id, state):
    status, shipped, delivered, returned = state
    return (user_id, status, visit.gender, visit.order_ts, returned, shipped, delivered, len(visit.product_ids))


def order_item_rows(visit, order_id, user_id, inventory_ids, products, state):
    """One row per product of the visit's order; `products` maps id -> Product (retail_price)."""
    status, shipped, delivered, returned = state
    return [(order_id, user_id, pid, inv, status, visit.order_ts, shipped, delivered, returned,
             products[pid].retail_price) for pid, inv in zip(visit.product_ids, inventory_ids)]


def inventory_row(product, created, sold=None):
    p = product
    return (p.id, created, sold, p.cost, p.category, p.name, p.brand, p.retail_price, p.department, p.sku,
            p.distribution_center_id)
