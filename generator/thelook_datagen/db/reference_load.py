"""Loads the reference data once: distribution centres, the catalogue (ids 1..N), initial stock."""
import random

from .copyio import copy_rows, ts_text
from .ddl import ident

CATALOG_SEED = 0            # the catalogue is the same for every run and process
STOCK_SEED = 1
STOCK_PER_PRODUCT = (1, 4)  # initial unsold units per product, inclusive

PRODUCT_COLUMNS = ("id", "cost", "category", "name", "brand", "retail_price", "department", "sku",
                   "distribution_center_id")
INVENTORY_COLUMNS = ("product_id", "created_at", "sold_at", "cost", "product_category", "product_name",
                     "product_brand", "product_retail_price", "product_department", "product_sku",
                     "product_distribution_center_id")


def initial_stock_rows(products, now, max_age, seed=STOCK_SEED):
    """Unsold inventory rows for a fresh shop: a few units per product, received over the last
    `max_age` seconds (so stock write-offs can start right away)."""
    rng = random.Random(seed)
    lo, hi = STOCK_PER_PRODUCT
    for p in products:
        for _ in range(rng.randint(lo, hi)):
            yield (p.id, ts_text(now - max_age * rng.random()), None, p.cost, p.category, p.name, p.brand,
                   p.retail_price, p.department, p.sku, p.distribution_center_id)


def load_reference(cursor, schema, now, stock_age):
    """COPY distribution centres, products and initial stock into empty tables. Returns row counts."""
    from ..reference.catalog import DISTRIBUTION_CENTERS, build_catalog
    s = ident(schema)
    centres = [(dc.id, dc.name, dc.latitude, dc.longitude) for dc in DISTRIBUTION_CENTERS]
    copy_rows(cursor, f"{s}.distribution_centers", ("id", "name", "latitude", "longitude"), centres)
    products = build_catalog(seed=CATALOG_SEED)
    copy_rows(cursor, f"{s}.products", PRODUCT_COLUMNS,
              ((p.id, p.cost, p.category, p.name, p.brand, p.retail_price, p.department, p.sku,
                p.distribution_center_id) for p in products))
    stock = list(initial_stock_rows(products, now, stock_age))
    copy_rows(cursor, f"{s}.inventory_items", INVENTORY_COLUMNS, stock)
    return {"distribution_centers": len(centres), "products": len(products), "inventory_items": len(stock)}
