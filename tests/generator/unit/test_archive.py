"""The shop horizon's rule (sim/archive.py) without a server: what is beyond the horizon, what an
open order keeps, when steps run. The SQL that implements the rule is compared with `select` on a
real PostgreSQL in tests/generator/integration/test_horizon.py."""
import random

import pytest

from thelook_datagen.sim.archive import (ARCHIVE_BACKLOG_INTERVAL, ARCHIVE_INTERVAL, ARCHIVE_LIMIT, MIN_HORIZON,
                                         Horizon, final_order_sql, format_duration, is_final, may_be_closed,
                                         parse_duration, select)
from thelook_datagen.sim.lifecycle import (ALLOWED_TRANSITIONS, CLOSE_BELOW, FATE_BUCKETS, RETURN_FROM, Delays,
                                           path_of_bucket, state_at)
from thelook_datagen.sim.values import ORDER_STATUSES


@pytest.mark.parametrize("text,seconds", [("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("8h", 28800.0),
                                          ("1.5d", 129600.0), (" 2H ", 7200.0), (".5m", 30.0), ("1", 1.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "off", "OFF", "0s", "0.0h", "none"])
def test_zero_or_off_is_no_horizon(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize("text,reason", [("3x", "expected a duration"), ("-5m", "expected a duration"),
                                         ("", "expected a duration"), ("8 hours", "expected a duration"),
                                         ("0.5", "at least 1 s"), ("nan", "expected a duration")])
def test_bad_durations_say_why(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_duration(text)


def test_durations_read_back():
    assert [format_duration(s) for s in (90, 3600, 5400, 86400, 1.5)] == ["90s", "1h", "90m", "1d", "1.5s"]
    for text in ("90s", "1h", "90m", "1d"):
        assert format_duration(parse_duration(text)) == text


def test_final_means_no_lifecycle_step_changes_the_order_any_more():
    """For every fate bucket and every status on its path: final exactly at the path's end. A Complete
    order that is still to be returned is open; Processing and Shipped never are final."""
    for bucket in range(FATE_BUCKETS):
        path = path_of_bucket(bucket)
        for status in ORDER_STATUSES:
            if status in path:
                assert is_final(status, bucket) == (status == path[-1]), (bucket, status)
    assert ALLOWED_TRANSITIONS["Cancelled"] == ALLOWED_TRANSITIONS["Returned"] == set()
    assert is_final("Complete", RETURN_FROM - 1) and not is_final("Complete", RETURN_FROM)
    assert not any(is_final(s, b) for s in ("Processing", "Shipped") for b in range(FATE_BUCKETS))


def test_final_in_sql_is_the_same_predicate():
    sql = final_order_sql("F")
    assert sql == f"(status IN ('Cancelled','Returned') OR (status = 'Complete' AND F < {RETURN_FROM}))"


OLD_USER, NEW_CLOSABLE, NEW_STAYING = 1, 2, 3
USERS = {OLD_USER: (10.0, 0), NEW_CLOSABLE: (95.0, CLOSE_BELOW - 1), NEW_STAYING: (95.0, CLOSE_BELOW)}
CLOSING_SINCE = 90.0     # now - close_max: users who signed up since may still be closed


def shop():
    """A small shop at cutoff 100: sessions, orders in every state, their items and stock."""
    events = {
        1: ("old", 90.0), 2: ("old", 95.0),            # a session that started and ended before the cutoff
        3: ("straddles", 99.0), 4: ("straddles", 104.0),  # started before, ended after: archived whole
        5: ("new", 100.0), 6: ("new", 101.0),          # started at the cutoff: kept
    }
    returning = RETURN_FROM            # fate buckets: one that ends Returned, one Complete for good
    kept = RETURN_FROM - 1
    orders = {
        10: ("Cancelled", 50.0, 3, OLD_USER),                # final, old -> archived
        11: ("Returned", 50.0, returning, OLD_USER),         # final, old -> archived
        12: ("Complete", 50.0, kept, OLD_USER),              # final, old -> archived
        13: ("Complete", 50.0, returning, OLD_USER),         # old but its return is still to come: open
        14: ("Processing", 50.0, kept, OLD_USER),            # open
        15: ("Shipped", 50.0, kept, OLD_USER),               # open
        16: ("Cancelled", 100.0, 3, OLD_USER),               # final but not before the cutoff
        17: ("Cancelled", 96.0, 3, NEW_CLOSABLE),            # final and old, but its buyer may be closed
        18: ("Cancelled", 96.0, 3, NEW_STAYING),             # the same for a buyer of a staying fate -> archived
    }
    items, stock = {}, {}
    for order_id in orders:
        for k in range(2):
            item = order_id * 10 + k
            items[item] = (order_id, 1000 + item)
            stock[1000 + item] = 50.0          # sold
    stock[5000] = None                          # unsold stock, old: never archived
    stock[5001] = 40.0                          # sold, no order item here (another shop's): not ours to take
    return events, orders, items, stock


def test_select_archives_old_sessions_whole_and_final_orders_with_items_and_stock():
    events, orders, items, stock = shop()
    sel = select(events, orders, items, stock, USERS, cutoff=100.0, closing_since=CLOSING_SINCE)
    assert sel.events == {1, 2, 3, 4}
    assert sel.orders == {10, 11, 12, 18}
    assert sel.order_items == {100, 101, 110, 111, 120, 121, 180, 181}
    assert sel.inventory_items == {1100, 1101, 1110, 1111, 1120, 1121, 1180, 1181}


def test_an_order_waits_while_its_buyer_may_still_be_closed_as_one_without_orders():
    """The lifecycle closes accounts of a closing fate that have no order 2-3 shop days after sign-up:
    archiving the order of such a user within that window would make them one."""
    assert may_be_closed(95.0, CLOSE_BELOW - 1, CLOSING_SINCE)
    assert may_be_closed(CLOSING_SINCE, 0, CLOSING_SINCE)                   # the window's edge is inside
    assert not may_be_closed(95.0, CLOSE_BELOW, CLOSING_SINCE)              # a fate that never closes
    assert not may_be_closed(CLOSING_SINCE - 0.001, 0, CLOSING_SINCE)       # the window is over
    events, orders, items, stock = shop()
    later = select(events, orders, items, stock, USERS, cutoff=100.0, closing_since=95.5)
    assert 17 in later.orders, "once the buyer's window is over, the order goes"


def test_nothing_an_open_order_references_is_selected():
    events, orders, items, stock = shop()
    sel = select(events, orders, items, stock, USERS, cutoff=100.0, closing_since=CLOSING_SINCE)
    for order_id in (13, 14, 15, 16, 17):
        assert order_id not in sel.orders
        mine = {i for i, (o, _) in items.items() if o == order_id}
        assert not mine & sel.order_items
        assert not {items[i][1] for i in mine} & sel.inventory_items
    assert 5000 not in sel.inventory_items and 5001 not in sel.inventory_items


def test_after_a_selection_the_rest_is_consistent_on_a_simulated_shop():
    """Random orders through their lifecycle (sim.lifecycle.state_at) at a fast scale: after archiving,
    every remaining item has its order and its stock, no open order lost anything, every archived
    order was final and older than the horizon, and every old final order is gone."""
    rng = random.Random(5)
    delays = Delays.for_scale(86400.0)       # a shop day per second
    now, horizon = 1000.0, 30.0
    orders, items, stock, events = {}, {}, {}, {}
    next_item = 1
    for order_id in range(1, 801):
        created = now - rng.uniform(0, 120)
        bucket = rng.randrange(FATE_BUCKETS)
        status = state_at(bucket, created, now, delays)[0]
        orders[order_id] = (status, created, bucket, 1)
        for _ in range(rng.randint(1, 4)):
            items[next_item] = (order_id, 10_000 + next_item)
            stock[10_000 + next_item] = created
            next_item += 1
        session = f"s{order_id}"
        for k in range(rng.randint(1, 14)):
            events[len(events) + 1] = (session, created - k * rng.uniform(0.2, 2.0))
    sel = select(events, orders, items, stock, {1: (0.0, 0)}, now - horizon, now - delays.close_max)
    left_orders = {o: v for o, v in orders.items() if o not in sel.orders}
    left_items = {i: v for i, v in items.items() if i not in sel.order_items}
    left_stock = {i: v for i, v in stock.items() if i not in sel.inventory_items}
    assert all(o in left_orders and inv in left_stock for o, inv in left_items.values())
    assert all(is_final(orders[o][0], orders[o][2]) and orders[o][1] < now - horizon for o in sel.orders)
    assert not [o for o, (s, c, b, _) in left_orders.items() if c < now - horizon and is_final(s, b)]
    assert len(sel.orders) > 100 and len(left_orders) > 100      # both sides are exercised
    assert {s for s, _ in events.values()} >= {events[i][0] for i in sel.events}
    by_session = {}
    for i, (s, _) in events.items():
        by_session.setdefault(s, set()).add(i)
    for s, ids in by_session.items():
        assert ids <= sel.events or not ids & sel.events, "a session is archived whole or not at all"


def test_horizon_steps():
    h = Horizon(60.0)
    assert (h.interval, h.backlog_interval, h.limit) == (ARCHIVE_INTERVAL, ARCHIVE_BACKLOG_INTERVAL, ARCHIVE_LIMIT)
    assert h.cutoff(1000.0) == 940.0
    assert h.closing_since(1000.0, Delays.for_scale(8640)) == 1000.0 - 80.0
    assert h.next_step(1000.0, full=False) == 1000.0 + ARCHIVE_INTERVAL
    assert h.next_step(1000.0, full=True) == 1000.0 + ARCHIVE_BACKLOG_INTERVAL
    assert ARCHIVE_BACKLOG_INTERVAL < ARCHIVE_INTERVAL
    with pytest.raises(ValueError):
        Horizon(MIN_HORIZON / 2)
