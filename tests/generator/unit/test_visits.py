"""The visit simulation on its own: paths, timestamps, users, products, seeds."""
import re

import pytest

from thelook_datagen.sim.values import EVENT_TYPES
from thelook_datagen.sim.visits import ABANDONED_CART, BROWSE, GHOST, PURCHASE, USER_COLUMNS

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_purchase_path_and_order(simulate, make_planner, product_rows):
    dept = {pid: d for pid, _c, _b, d in product_rows}
    visits = [v for v in simulate(make_planner(ghost_ratio=0.0), 3000) if v.kind == PURCHASE]
    assert len(visits) > 1000
    sizes = set()
    for v in visits:
        n = len(v.product_ids)
        sizes.add(n)
        assert 1 <= n <= 4 and len(set(v.product_ids)) == n
        assert v.ev_type == ["home"] + ["department", "product", "cart"] * n + ["purchase"]
        assert v.ev_uri[0] == "/home" and v.ev_uri[-1] == "/purchase"
        for k, pid in enumerate(v.product_ids):
            assert v.ev_uri[2 + 3 * k] == f"/product/{pid}"
            assert v.ev_uri[1 + 3 * k].startswith(f"/department/{dept[pid].lower()}/category/")
            assert dept[pid] == {"M": "Men", "F": "Women"}[v.gender]
        assert v.order_ts == v.ev_ts[-1]
    assert sizes == {1, 2, 3, 4}


def test_kinds_shares_and_ghosts(simulate, make_planner):
    visits = simulate(make_planner(ghost_ratio=0.3), 6000)
    kinds = {k: sum(v.kind == k for v in visits) / len(visits) for k in (GHOST, BROWSE, ABANDONED_CART, PURCHASE)}
    assert abs(kinds[GHOST] - 0.3) < 0.03
    assert kinds[PURCHASE] > 0.3 and kinds[ABANDONED_CART] > 0.1 and kinds[BROWSE] > 0.1
    for v in visits:
        if v.kind == GHOST:
            assert v.user_id is None and v.new_user is None and not v.product_ids
            assert "purchase" not in v.ev_type
        else:
            assert (v.user_id is None) != (v.new_user is None)
        if v.kind == ABANDONED_CART:
            assert "cart" in v.ev_type and "purchase" not in v.ev_type
        assert set(v.ev_type) <= set(EVENT_TYPES)
        assert UUID4.match(v.session_id)
        assert all(0 <= int(x) <= 255 for x in v.ip_address.split("."))
        assert v.city and v.postal_code is not None


def test_timestamps_ordered_and_not_after_visit_time(simulate, make_planner):
    planner = make_planner(ghost_ratio=0.1)
    created = {}
    now = 1_800_000_000.0
    next_id = 1
    for _ in range(3000):
        now += 0.002                      # 500 visits/s: returning users come back within ms
        v = planner.plan(now)
        assert v.ev_ts == sorted(v.ev_ts) and v.ev_ts[-1] == now
        assert now - v.ev_ts[0] < 40
        if v.new_user is not None:
            assert v.new_user[USER_COLUMNS.index("created_at")] == v.ev_ts[0]
            planner.add_user(next_id, v)
            created[next_id] = v.ev_ts[0]
            next_id += 1
        elif v.user_id is not None:
            assert v.ev_ts[0] > created[v.user_id], "a returning user's session starts after sign-up"


def test_new_user_rows_are_complete(simulate, make_planner):
    for v in simulate(make_planner(ghost_ratio=0.0, new_user_share=1.0), 300):
        u = dict(zip(USER_COLUMNS, v.new_user))
        assert u["gender"] in ("M", "F") and 12 <= u["age"] <= 70
        assert "@" in u["email"] and u["first_name"] and u["last_name"]
        assert u["country"] and u["city"] and isinstance(u["latitude"], float)
        assert u["traffic_source"] in ("Search", "Organic", "Facebook", "Email", "Display")
        assert (v.city, v.state, v.postal_code) == (u["city"], u["state"], u["postal_code"])


def test_same_seed_same_visits(simulate, make_planner):
    def digest(seed):
        return [(v.kind, v.session_id, v.user_id, v.new_user, tuple(v.ev_uri), tuple(v.product_ids or ()))
                for v in simulate(make_planner(seed=seed), 500)]
    assert digest(7) == digest(7)
    assert digest(7) != digest(8)


def test_returning_users_and_pool_removal(simulate, make_planner):
    planner = make_planner(ghost_ratio=0.0)
    visits = simulate(planner, 2000)
    returning = [v for v in visits if v.user_id is not None]
    assert len(returning) > 1000
    planner.forget_user(returning[0].user_id)
    assert returning[0].user_id not in planner.users
    for _ in range(2000):
        v = planner.plan(1_900_000_000.0)
        assert v.user_id != returning[0].user_id


def test_as_sign_up_turns_visit_into_new_user(simulate, make_planner):
    planner = make_planner(ghost_ratio=0.0, new_user_share=0.0)
    simulate(planner, 50)
    v = next(v for v in (planner.plan(1_900_000_000.0) for _ in range(100)) if v.user_id is not None)
    uid = v.user_id
    planner.as_sign_up(v)
    assert v.user_id is None and v.new_user is not None and uid not in planner.users


def test_address_changes_only_for_known_users(simulate, make_planner):
    planner = make_planner(ghost_ratio=0.0, address_change_share=0.5)
    simulate(planner, 500)
    changes = planner.take_address_changes()
    assert changes and all(c[0] in planner.users for c in changes)
    assert planner.take_address_changes() == []


def test_a_user_who_moved_visits_from_the_new_place(simulate, make_planner):
    planner = make_planner(ghost_ratio=0.0, new_user_share=0.0, address_change_share=1.0)
    simulate(planner, 1)
    planner.new_user_share = 0.0
    v = planner.plan(1_800_000_100.0)
    (uid, _street, postal, city, state, *_), = planner.take_address_changes()
    assert uid == v.user_id
    again = planner.plan(1_800_000_200.0)
    assert again.user_id == uid
    assert (again.city, again.state, again.postal_code) == (city, state, postal)


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_bad_ghost_ratio(simulate, make_planner, ratio):
    with pytest.raises(ValueError):
        make_planner(ghost_ratio=ratio)


def test_row_builders_for_bulk_writers(simulate, make_planner, catalog):
    from thelook_datagen.sim.lifecycle import Delays
    from thelook_datagen.sim.rows import (INVENTORY_COLUMNS, ORDER_COLUMNS, ORDER_ITEM_COLUMNS, inventory_row,
                                          order_item_rows, order_row, order_state)
    products = {p.id: p for p in catalog}
    v = next(v for v in simulate(make_planner(ghost_ratio=0.0), 200) if v.kind == PURCHASE)
    d = Delays.for_scale(86400)
    state = order_state(500, v.order_ts, v.order_ts + 3.5, d)
    assert state[0] == "Complete"
    order = dict(zip(ORDER_COLUMNS, order_row(v, 7, state)))
    assert order["num_of_item"] == len(v.product_ids) and order["shipped_at"] < order["delivered_at"]
    items = [dict(zip(ORDER_ITEM_COLUMNS, r)) for r in
             order_item_rows(v, 3, 7, list(range(len(v.product_ids))), products, state)]
    assert [i["product_id"] for i in items] == v.product_ids
    assert all(i["sale_price"] == products[i["product_id"]].retail_price and i["status"] == "Complete" for i in items)
    inv = dict(zip(INVENTORY_COLUMNS, inventory_row(products[v.product_ids[0]], 1.0, v.order_ts)))
    assert inv["product_sku"] == products[v.product_ids[0]].sku and inv["sold_at"] == v.order_ts
