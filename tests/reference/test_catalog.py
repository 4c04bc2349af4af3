"""The seeded product catalogue: shape, value ranges, determinism and speed."""
import re
import statistics
import time
from collections import Counter

import pytest

from thelook_datagen.reference.catalog import (
    CATEGORIES,
    DEPARTMENTS,
    DISTRIBUTION_CENTERS,
    Product,
    build_catalog,
)

WOMEN_ONLY = {"Blazers & Jackets", "Clothing Sets", "Dresses", "Intimates", "Jumpsuits & Rompers", "Leggings",
              "Maternity", "Pants & Capris", "Plus", "Skirts", "Socks & Hosiery", "Suits"}
MEN_ONLY = {"Pants", "Socks", "Suits & Sport Coats", "Underwear"}


@pytest.fixture(scope="module")
def catalog():
    return build_catalog(seed=0)


def test_distribution_centers_are_the_ten_of_the_data_set():
    assert [dc.id for dc in DISTRIBUTION_CENTERS] == list(range(1, 11))
    memphis, port = DISTRIBUTION_CENTERS[0], DISTRIBUTION_CENTERS[5]
    assert (memphis.name, memphis.latitude, memphis.longitude) == ("Memphis TN", 35.1174, -89.9711)
    assert port.name == "Port Authority of New York/New Jersey NY/NJ"
    assert (port.latitude, port.longitude) == (40.634, -73.7834)
    assert DISTRIBUTION_CENTERS[9].name == "Savannah GA"


def test_value_sets():
    assert DEPARTMENTS == ("Men", "Women")
    assert len(CATEGORIES) == 26 == len(set(CATEGORIES))
    assert {"Dresses", "Suits & Sport Coats", "Underwear", "Tops & Tees", "Socks & Hosiery"} <= set(CATEGORIES)


def test_size_and_ids(catalog):
    assert len(catalog) == 29120
    assert [p.id for p in catalog] == list(range(1, 29121))
    assert all(isinstance(p, Product) for p in catalog)


def test_every_category_and_department_present(catalog):
    assert {p.category for p in catalog} == set(CATEGORIES)
    assert {p.department for p in catalog} == set(DEPARTMENTS)
    by_dept = Counter(p.department for p in catalog)
    assert 0.35 < by_dept["Men"] / len(catalog) < 0.55


def test_single_department_categories(catalog):
    depts = {}
    for p in catalog:
        depts.setdefault(p.category, set()).add(p.department)
    for category in WOMEN_ONLY:
        assert depts[category] == {"Women"}, category
    for category in MEN_ONLY:
        assert depts[category] == {"Men"}, category
    both = set(CATEGORIES) - WOMEN_ONLY - MEN_ONLY
    for category in both:
        assert depts[category] == {"Men", "Women"}, category


def test_category_shares_look_like_thelook(catalog):
    counts = Counter(p.category for p in catalog)
    assert counts["Intimates"] > 1500 and counts["Jeans"] > 1500
    assert counts["Clothing Sets"] < 200 and counts["Suits"] < 400
    assert min(counts.values()) > 0


def test_brands(catalog):
    brands = Counter(p.brand for p in catalog)
    assert 2500 <= len(brands) <= 3000
    assert all(b and b == b.strip() for b in brands)
    # a long tail, with a few big houses selling many products
    assert brands.most_common(1)[0][1] > 50


def test_names_start_with_brand_and_name_the_product(catalog):
    for p in catalog:
        assert p.name.startswith(p.brand + " ")
        assert len(p.name) > len(p.brand) + 3
    mens = sum("Men's" in p.name for p in catalog if p.department == "Men")
    assert mens > 0.3 * sum(p.department == "Men" for p in catalog)
    assert not any("Women's" in p.name for p in catalog if p.department == "Men")


def test_prices(catalog):
    prices = [p.retail_price for p in catalog]
    assert min(prices) < 1
    assert 500 < max(prices) <= 1000
    in_band = sum(10 <= x <= 100 for x in prices) / len(prices)
    assert in_band > 0.7
    assert 20 < statistics.median(prices) < 60
    assert all(round(x, 2) == x for x in prices)


def test_cost_is_40_to_60_percent_of_retail(catalog):
    for p in catalog:
        assert round(p.cost, 2) == p.cost
        slack = 0.006 / p.retail_price  # rounding to cents
        assert 0.40 - slack <= p.cost / p.retail_price <= 0.60 + slack, p
        assert p.cost > 0


def test_sku_is_32_hex_and_unique(catalog):
    hexed = re.compile(r"^[0-9a-f]{32}$")
    assert all(hexed.match(p.sku) for p in catalog)
    assert len({p.sku for p in catalog}) == len(catalog)


def test_distribution_centers_valid_and_all_used(catalog):
    ids = Counter(p.distribution_center_id for p in catalog)
    assert set(ids) == {dc.id for dc in DISTRIBUTION_CENTERS}
    assert min(ids.values()) > 0.05 * len(catalog)


def test_deterministic_for_a_seed_and_different_across_seeds(catalog):
    assert build_catalog(seed=0) == catalog
    other = build_catalog(seed=1)
    assert len(other) == len(catalog)
    assert other != catalog
    assert other[0].sku != catalog[0].sku


def test_other_sizes():
    small = build_catalog(seed=7, size=100)
    assert [p.id for p in small] == list(range(1, 101))
    assert build_catalog(seed=7, size=0) == []
    assert len({p.category for p in build_catalog(seed=7, size=1000)}) == 26
    with pytest.raises(ValueError):
        build_catalog(size=-1)


def test_build_time_is_printed():
    best = min(_timed(build_catalog) for _ in range(3))
    print(f"\nbuild_catalog(29,120 products): {best * 1000:.0f} ms")


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
