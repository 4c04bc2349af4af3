"""Loads the reference data once: distribution centres, the catalogue (ids 1..N), initial stock."""
import io
import random

from .copyio import copy_rows, row_text, ts_text
from .ddl import ident

CATALOG_SEED = 0            # the catalogue is the same for every run and process
STOCK_SEED = 1
STOCK_PER_PRODUCT = (1, 4)  # initial unsold units per product, inclusive

PRODUCT_COLUMNS = ("id", "cost", "category", "name", "brand", "retail_price", "department", "sku",
                   "distribution_center_id")
INVENTORY_COLUMNS = ("product_id", "created_at", "sold_at", "cost", "product_category", "product_name",
                     "product_brand", "product_retail_price", "product_department", "product_sku",
                     "product_distribution_center_id")


def initial_stock_lines(products, now, max_age, seed=STOCK_SEED):
    """COPY lines of unsold inventory for a fresh shop: a few units per product, received over the
    last `max_age` seconds (so stock write-offs can start right away). The product's attributes are
    encoded once per product, not once per unit."""
    rng = random.Random(seed)
    lo, hi = STOCK_PER_PRODUCT
    for p in products:
        head = f"{p.id}\t"
        tail = "\t\\N\t" + row_text((p.cost, p.category, p.name, p.brand, p.retail_price, p.department, p.sku,
                                      p.distribution_center_id)) + "\n"
        for _ in range(lo + rng.randrange(hi - lo + 1)):
            yield head + ts_text(now - max_age * rng.random()) + tail


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
    stock = io.StringIO()
    units = stock.writelines(initial_stock_lines(products, now, stock_age)) or stock.getvalue().count("\n")
    stock.seek(0)
    cursor.copy_expert(f"COPY {s}.inventory_items ({', '.join(INVENTORY_COLUMNS)}) FROM STDIN", stock)
    return {"distribution_centers": len(centres), "products": len(products), "inventory_items": units}
