"""The bulk history's COPY lines (backfill.HistoryBuilder) without a database: every line it
produces is checked column by column against the unit-tested row builders for the same visit
(USER_COLUMNS rows, Visit.event_rows, sim.rows.order_row / order_item_rows / inventory_row) and the
ids each worker takes; account closures against their rule. The fates are plain functions here
(on a database they come from PostgreSQL's hashint8extended, see backfill.Fates)."""
from datetime import datetime, timezone

import pytest

from thelook_datagen.backfill import COLUMNS, HistoryBuilder
from thelook_datagen.sim.lifecycle import CLOSE_BELOW, Delays
from thelook_datagen.sim.rows import inventory_row, order_item_rows, order_row, order_state
from thelook_datagen.sim.visits import PURCHASE

END = 1_800_000_000.0
DAYS = 8
VISITS = 1500
DELAYS = Delays.for_scale(1)            # real time: ship after a day, returns after 6 days, closures 2-3 days
BASES = {"users": 1001, "orders": 5, "inventory_items": 70001, "order_items": 1, "events": 300}
UNESCAPE = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}


def order_fate(order_id):
    return order_id * 37 % 1024         # every bucket: cancelled, kept and returned orders


def user_fate(user_id):
    return user_id * 53 % 1024          # about 20% below CLOSE_BELOW


def decode(text):
    """One COPY text field back to its text (None for NULL)."""
    if text == "\\N":
        return None
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            out.append(UNESCAPE[text[i:i + 2]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def epoch(text):
    assert text.endswith("+00"), text
    return datetime.strptime(text[:-3], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()


def check_line(table, line, id_, row, approx=()):
    """`line` holds id_ and then `row` (the row builder's tuple), column by column: timestamps (the
    *_at columns, epoch seconds) to the microsecond, other values exactly; `approx` columns are
    skipped (checked by the caller)."""
    columns = COLUMNS[table]
    fields = line.split("\t")
    assert len(fields) == len(columns), (table, line)
    assert fields[0] == str(id_), (table, line)
    for column, text, want in zip(columns[1:], fields[1:], row):
        got = decode(text)
        where = (table, id_, column, text, want)
        if column in approx:
            continue
        if want is None or got is None:
            assert got is None and want is None, where
        elif column.endswith("_at"):
            assert abs(epoch(got) - want) < 1.5e-6, where
        elif isinstance(want, float):
            assert float(got) == want, where
        elif isinstance(want, int):
            assert int(got) == want, where
        else:
            assert got == want, where


def ids(table, k, n):
    """The ids worker k of n takes of `table`, in order: base + k + n*j."""
    j = 0
    while True:
        yield BASES[table] + k + n * j
        j += 1


@pytest.fixture(scope="module")
def history(catalog):
    """Worker 1 of 2 building a week of history from planned visits, with every visit recorded."""
    products = {p.id: p for p in catalog}
    b = HistoryBuilder(products, 1, 2, BASES, 9, 0.2, DELAYS, END, order_fate=order_fate, user_fate=user_fate)
    planned, signed_up = [], {}
    plan, add_user = b.planner.plan, b.planner.add_user

    def recording_plan(now):
        v = plan(now)
        planned.append(v)
        return v

    def recording_add_user(user_id, visit):
        signed_up[id(visit)] = user_id
        return add_user(user_id, visit)
    b.planner.plan, b.planner.add_user = recording_plan, recording_add_user
    lines = {t: [] for t in COLUMNS}

    def take():
        chunk, counts = b.take_chunk()
        for table, data in chunk.items():
            got = data.decode().split("\n")
            assert got[-1] == "" and len(got) - 1 == counts[table]
            lines[table] += got[:-1]
    start = END - DAYS * 86400
    for i in range(VISITS):
        b.visit(start + (i + 0.5) * DAYS * 86400 / VISITS)
        if i % 500 == 499:
            take()                      # chunks as a worker hands them over
    b.finish()
    take()
    by_id = {t: {int(x.split("\t", 1)[0]): x for x in rows} for t, rows in lines.items()}
    assert all(len(by_id[t]) == len(lines[t]) for t in lines), "an id written twice"
    return {"builder": b, "visits": planned, "signed_up": signed_up, "lines": by_id, "products": products}


def users_of(h):
    """uid -> (sign-up visit, [all visits of the user])."""
    users = {}
    for v in h["visits"]:
        uid = h["signed_up"].get(id(v), v.user_id)
        if uid is None:
            continue
        if v.new_user is not None:
            users[uid] = (v, [])
        users[uid][1].append(v)
    return users


def closed_users(h):
    return {uid for uid in users_of(h) if uid not in h["lines"]["users"]}


def test_user_lines_are_the_planned_user_rows(history):
    users = users_of(history)
    user_ids = ids("users", 1, 2)
    assert list(users) == [next(user_ids) for _ in users]      # ids in sign-up order, every 2nd from base + 1
    written = history["lines"]["users"]
    assert set(written) <= set(users) and len(written) > 200
    for uid, line in written.items():
        check_line("users", line, uid, users[uid][0].new_user)


def test_event_lines_are_the_visits_event_rows(history):
    closed = closed_users(history)
    event_ids = ids("events", 1, 2)
    written = history["lines"]["events"]
    expected = 0
    for v in history["visits"]:
        uid = history["signed_up"].get(id(v), v.user_id)
        rows = v.event_rows(uid)
        first = [next(event_ids) for _ in rows]            # taken even for events later left out
        if uid in closed:
            assert not any(i in written for i in first)
            continue
        for id_, row in zip(first, rows):
            check_line("events", written[id_], id_, row)
        expected += len(rows)
    assert len(written) == expected


def test_order_item_and_stock_lines_are_the_row_builders_rows(history):
    products = history["products"]
    order_ids, item_ids, stock_ids = ids("orders", 1, 2), ids("order_items", 1, 2), ids("inventory_items", 1, 2)
    lines = history["lines"]
    statuses = set()
    n = 0
    for v in history["visits"]:
        if v.kind != PURCHASE:
            continue
        uid = history["signed_up"].get(id(v), v.user_id)
        oid = next(order_ids)
        state = order_state(order_fate(oid), v.order_ts, END, DELAYS)
        statuses.add(state[0])
        check_line("orders", lines["orders"][oid], oid, order_row(v, uid, state))
        stock = [next(stock_ids) for _ in v.product_ids]
        for item_id, row in zip([next(item_ids) for _ in v.product_ids],
                                order_item_rows(v, oid, uid, stock, products, state)):
            check_line("order_items", lines["order_items"][item_id], item_id, row)
        for inv, pid in zip(stock, v.product_ids):
            line = lines["inventory_items"][inv]
            # a unit received up to initial_stock_age before its sale (random), sold to this order item
            received = epoch(line.split("\t")[2])
            assert v.order_ts - DELAYS.initial_stock_age - 1e-6 <= received <= v.order_ts + 1e-6
            check_line("inventory_items", line, inv, inventory_row(products[pid], received, v.order_ts),
                       approx=("created_at",))
        n += 1
    assert n > 200 and len(lines["orders"]) == n
    assert len(lines["order_items"]) == len(lines["inventory_items"])
    assert statuses == {"Processing", "Shipped", "Complete", "Cancelled", "Returned"}


def test_accounts_closed_as_the_live_lifecycle_would(history):
    """Left out: exactly users fated to close (user_fate < CLOSE_BELOW) who had not ordered when the
    closing came due (created + close_min, before the end), with all their sessions; they never
    come back afterwards. Users fated to close who ordered in time are written."""
    b = history["builder"]
    users = users_of(history)
    closed = closed_users(history)
    assert len(closed) == b.closed > 5
    kept_fated = 0
    for uid, (signup, visits) in users.items():
        due = signup.new_user.created_at + DELAYS.close_min
        ordered_in_time = any(v.kind == PURCHASE and v.ev_ts[-1] < due for v in visits)
        if uid in closed:
            assert user_fate(uid) < CLOSE_BELOW and due < END and not ordered_in_time, uid
            assert all(v.ev_ts[-1] < due for v in visits), "a closed account came back"
            assert uid not in b.moves
        elif user_fate(uid) < CLOSE_BELOW and due < END - 86400:
            kept_fated += 1
            assert ordered_in_time, uid
    assert kept_fated > 0


def test_moves_are_the_latest_address_change_of_written_users(history):
    b = history["builder"]
    assert b.moves and set(b.moves) <= set(history["lines"]["users"])
    assert all(uid == move.user_id for uid, move in b.moves.items())


def test_last_ids_are_the_highest_taken(history):
    b = history["builder"]
    last = b.last_ids()
    assert last["users"] == max(users_of(history))
    assert last["orders"] == max(history["lines"]["orders"])
    assert all((last[t] - BASES[t] - 1) % 2 == 0 for t in last)
