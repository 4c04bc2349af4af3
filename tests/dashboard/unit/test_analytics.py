"""The result-topic folding (pure): upsert semantics, tombstones, the 30-minute window, bad messages."""
import json

from thelook_dashboard.analytics import ResultStore, default_centres, minute_of


def k(**kw):
    return json.dumps(kw).encode()


def revenue(store, minute, dept, cat, revenue, items=1, orders=1, value=True):
    key = k(window_start=minute, department=dept, category=cat)
    val = json.dumps({"window_start": minute, "window_end": minute, "department": dept, "category": cat,
                      "revenue": revenue, "gross_revenue": revenue, "orders": orders, "items": items}).encode()
    return store.apply("revenue_per_minute", key, val if value else None, 1000.0)


def test_last_value_per_key_and_tombstones():
    s = ResultStore()
    s.apply("status_counts", k(entity="orders", status="Shipped"),
            json.dumps({"entity": "orders", "status": "Shipped", "cnt": 3}).encode(), 10.0)
    s.apply("status_counts", k(entity="orders", status="Shipped"),
            json.dumps({"entity": "orders", "status": "Shipped", "cnt": 5}).encode(), 11.0)
    s.apply("status_counts", k(entity="order_items", status="Complete"),
            json.dumps({"entity": "order_items", "status": "Complete", "cnt": 7}).encode(), 12.0)
    v = s.view()["status_counts"]
    assert v["orders"] == {"Shipped": 5} and v["order_items"] == {"Complete": 7}
    assert v["keys"] == 2 and v["updated"] == 12.0
    s.apply("status_counts", k(entity="orders", status="Shipped"), None, 13.0)   # tombstone
    v = s.view()["status_counts"]
    assert v["orders"] == {} and v["keys"] == 1


def test_revenue_window_is_the_30_minutes_ending_with_the_newest():
    s = ResultStore()
    for m in range(40):
        revenue(s, f"2026-11-29T10:{m:02d}:00.000Z", "Women", "Jeans", 10.0 + m)
    revenue(s, "2026-11-29T10:39:00.000Z", "Men", "Socks", 2.5, items=2)
    v = s.view()["revenue_per_minute"]
    assert len(v["minutes"]) == 30
    assert v["minutes"][0] == "2026-11-29T10:10:00Z" and v["minutes"][-1] == "2026-11-29T10:39:00Z"
    women = next(x for x in v["series"] if x["department"] == "Women")
    men = next(x for x in v["series"] if x["department"] == "Men")
    assert women["revenue"][0] == 20.0 and women["revenue"][-1] == 49.0
    assert men["revenue"][:-1] == [0.0] * 29 and men["revenue"][-1] == 2.5 and men["items"][-1] == 2
    top = v["categories"][0]
    assert (top["department"], top["category"]) == ("Women", "Jeans")
    assert top["revenue"] == round(sum(10.0 + m for m in range(10, 40)), 2)


def test_gaps_in_minutes_are_zero_and_deleting_the_newest_moves_the_window():
    s = ResultStore()
    revenue(s, "2026-11-29T10:00:00Z", "Women", "Jeans", 1.0)
    revenue(s, "2026-11-29T10:05:00Z", "Women", "Jeans", 2.0)
    v = s.view()["revenue_per_minute"]
    assert v["minutes"][-1] == "2026-11-29T10:05:00Z"
    assert v["series"][0]["revenue"][-6:] == [1.0, 0.0, 0.0, 0.0, 0.0, 2.0]
    revenue(s, "2026-11-29T10:05:00Z", "Women", "Jeans", 0, value=False)
    assert s.view()["revenue_per_minute"]["minutes"][-1] == "2026-11-29T10:00:00Z"


def test_malformed_messages_are_counted_and_skipped():
    s = ResultStore()
    assert s.view()["stock_per_dc"]["malformed"] == 0     # a cached view must not hide later counts
    assert not s.apply("stock_per_dc", b"not json", b"{}", 1.0)
    assert not s.apply("stock_per_dc", k(dc_id=1), b"[1,2]", 1.0)
    assert not s.apply("stock_per_dc", k(dc_id=1), json.dumps({"dc_id": 1, "in_stock": "many"}).encode(), 1.0)
    assert not s.apply("stock_per_dc", None, b"{}", 1.0)
    assert not s.apply("revenue_per_minute", k(department="x"), json.dumps({"department": "x"}).encode(), 1.0)
    assert not s.apply("funnel_per_minute", k(window_start="yesterday"),
                       json.dumps({"sessions": 1}).encode(), 1.0)
    assert s.apply("stock_per_dc", k(dc_id=1), json.dumps(
        {"dc_id": 1, "dc_name": "Memphis TN", "in_stock": 5, "sold": 2, "written_off": 1}).encode(), 2.0)
    view = s.view()
    assert view["stock_per_dc"]["malformed"] == 4 and view["stock_per_dc"]["keys"] == 1
    assert view["revenue_per_minute"]["malformed"] == 1 and view["funnel_per_minute"]["malformed"] == 1
    assert not s.apply("no_such_job", k(a=1), b"{}", 1.0)


def test_stock_rows_carry_the_centres_coordinates():
    s = ResultStore(default_centres())
    s.apply("stock_per_dc", k(dc_id=4), json.dumps(
        {"dc_id": 4, "dc_name": "Los Angeles CA", "in_stock": 9, "sold": 3, "written_off": 0}).encode(), 2.0)
    row = s.view()["stock_per_dc"]["rows"][0]
    assert row["latitude"] == 34.05 and row["longitude"] == -118.25 and row["in_stock"] == 9


def test_top10_in_rank_order_with_its_window():
    s = ResultStore()
    for rank in (3, 1, 2):
        s.apply("top_products_last_hour", k(rank=rank), json.dumps(
            {"rank": rank, "product_id": 100 + rank, "product_name": f"p{rank}", "brand": "b", "department": "Men",
             "category": "Socks", "revenue": 50.0 - rank, "items": 1, "window_start": "2026-11-29T09:01:00Z",
             "window_end": "2026-11-29T10:01:00Z"}).encode(), 3.0)
    v = s.view()["top_products_last_hour"]
    assert [r["rank"] for r in v["rows"]] == [1, 2, 3]
    assert v["rows"][0]["product_id"] == 101 and v["window_end_iso"] == "2026-11-29T10:01:00Z"


def test_funnel_aligned_arrays_and_views_cached_until_a_change():
    s = ResultStore()
    s.apply("funnel_per_minute", k(window_start="2026-11-29T10:00:00Z"), json.dumps(
        {"window_start": "2026-11-29T10:00:00Z", "sessions": 10, "product_views": 30, "carts": 4, "purchases": 2,
         "abandoned_carts": 1, "ghost_sessions": 3, "conversion_rate": 0.2}).encode(), 5.0)
    first = s.view()["funnel_per_minute"]
    assert first["sessions"][-1] == 10 and first["conversion_rate"][-1] == 0.2
    assert first["sessions"][0] == 0 and first["conversion_rate"][0] is None
    assert s.view()["funnel_per_minute"] is first          # no change: the same object, not rebuilt


def test_minute_of_accepts_flinks_iso_forms():
    assert minute_of("2026-11-29T10:00:00Z") == minute_of("2026-11-29T10:00:59.999Z") == \
        minute_of("2026-11-29T10:00:00.000+00:00")
