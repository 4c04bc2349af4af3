"""The shop horizon (`--horizon`): which rows a long run archives, and when. No I/O here.

A workshop runs all day: at 10 visits/s the shop gains about 60 rows a second, and PostgreSQL, the
Kafka topics and the Flink jobs' state grow with it. With a horizon, the generator archives what
lies further back than the horizon, as real DELETEs that Debezium captures like any other change:

- a **session** (all its events) once its first event is older than the horizon. Whole sessions,
  never a part of one, because the funnel counts a session in the minute of its first event: half a
  session would move it to another minute;
- an **order** in a final state, created before the horizon, with its order items and the inventory
  items they sold (one transaction, items first, so no foreign key is ever violated). Final means
  no lifecycle step will change it any more: Cancelled, Returned, or Complete and not fated to be
  returned (sim.lifecycle.path_of_bucket). A Complete order that is still to be returned is open:
  it waits for its return and goes at the next step after it. One more condition: its buyer's
  account can no longer be closed. The lifecycle closes accounts that have no order 2 to 3 shop days
  after sign-up (for users of a closing fate); archiving the order of such a user within that window
  would make them look like one who never ordered. So an order of a user of closing fate who signed
  up less than `Delays.close_max` ago waits (at the default time scale 80 s; with a horizon longer
  than that, never);
- a sold **inventory item** only together with its order item (sold stock is referenced by exactly
  one order item, so "sold and its order item is gone" is exactly the stock of archived orders).

Never archived: users, products, distribution centres, unsold stock, and anything an open order
references (its items, their stock, its user). The horizon is real time (seconds of the run's
clock), not shop time: it bounds the shop's size, which grows with real time at a given rate. The
generator's memory holds nothing archived: its pools (sim/pools.py) hold users and products, which
are never archived, and an archive step returns counts only.

`select(...)` is the rule on rows held in memory, the specification that db.statements.archive_sql
implements (the integration tests compare the two on real data); `Horizon` says how often the
archive step runs and how much it may delete at once.
"""
import re
from collections import namedtuple
from dataclasses import dataclass

from .lifecycle import CLOSE_BELOW, RETURN_FROM

# Statuses after which no lifecycle step changes an order any more ("Complete" only when the
# order's fate is not a return: see is_final).
FINAL_STATUSES = ("Cancelled", "Returned", "Complete")

ARCHIVE_INTERVAL = 1.0          # seconds of schedule time between two archive steps
ARCHIVE_BACKLOG_INTERVAL = 0.1  # ... when the last step hit its limit (more is due at once)
ARCHIVE_LIMIT = 250             # sessions' first events and orders selected per step
MIN_HORIZON = 1.0               # seconds; shorter horizons archive visits while they are being written

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhd]?)\s*$", re.IGNORECASE)


def parse_duration(text):
    """'90', '90s', '15m', '8h', '1.5d' -> seconds (float); '0' and 'off' -> None (no horizon).
    Raises ValueError with the reason."""
    t = (text or "").strip().lower()
    if t in ("off", "none", "0"):
        return None
    m = _DURATION.match(t)
    if not m:
        raise ValueError(f"expected a duration such as 90s, 15m, 8h or 1d, got {text!r}")
    seconds = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if seconds == 0:
        return None
    if seconds < MIN_HORIZON:
        raise ValueError(f"must be at least {MIN_HORIZON:g} s (or 0/off for no horizon), got {text!r}")
    return seconds


def format_duration(seconds):
    """A readable form of a horizon: 90 -> '90s', 3600 -> '1h', 5400 -> '90m'."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def is_final(status, bucket):
    """True when no lifecycle step will change an order of this status and fate bucket any more."""
    if status in ("Cancelled", "Returned"):
        return True
    # a Complete order is returned later exactly when its path ends Returned (lifecycle.path_of_bucket)
    return status == "Complete" and bucket < RETURN_FROM


def final_order_sql(fate):
    """SQL of is_final for the orders table, given the SQL of the order's fate bucket (the same
    predicate in the partial index db.ddl creates and in the archive statement, so PostgreSQL uses
    the index)."""
    return f"(status IN ('Cancelled','Returned') OR (status = 'Complete' AND {fate} < {RETURN_FROM}))"


@dataclass(frozen=True)
class Horizon:
    """When and how much the run loop archives. `seconds`: the horizon; a step runs every `interval`
    seconds of schedule time, or after `backlog_interval` when the previous one hit `limit` (a
    backlog, e.g. the history of an earlier run: it is worked off in small steps between visits)."""
    seconds: float
    interval: float = ARCHIVE_INTERVAL
    backlog_interval: float = ARCHIVE_BACKLOG_INTERVAL
    limit: int = ARCHIVE_LIMIT

    def __post_init__(self):
        if not self.seconds >= MIN_HORIZON:
            raise ValueError(f"the horizon must be at least {MIN_HORIZON:g} s")

    def cutoff(self, now):
        """Rows dated before this instant (epoch s) lie beyond the horizon at `now`."""
        return now - self.seconds

    @staticmethod
    def closing_since(now, delays):
        """Users who signed up at or after this instant may still have their account closed at `now`
        or later (lifecycle.Delays.close_max): orders of those of a closing fate wait."""
        return now - delays.close_max

    def next_step(self, now, full):
        """Schedule time of the next step after one at `now` that did (`full`) or did not hit its limit."""
        return now + (self.backlog_interval if full else self.interval)


# What one archive step selected; sets of primary keys per table.
Selection = namedtuple("Selection", "events orders order_items inventory_items")


def may_be_closed(user_created, user_bucket, closing_since):
    """True while the lifecycle may still close this user's account as one without orders: signed up
    at or after `closing_since` (now - Delays.close_max) and of a closing fate (lifecycle.CLOSE_BELOW)."""
    return user_created >= closing_since and user_bucket < CLOSE_BELOW


def select(events, orders, order_items, inventory_items, users, cutoff, closing_since):
    """The rows beyond the horizon at `cutoff` (epoch s), with no limit per step: the rule itself.

    events           {id: (session_id, created_at)}
    orders           {order_id: (status, created_at, fate_bucket, user_id)}
    order_items      {id: (order_id, inventory_item_id)}
    inventory_items  {id: sold_at or None}
    users            {id: (created_at, user fate bucket)}
    closing_since    now - Delays.close_max: users who signed up since may still be closed
    """
    started = {}
    for session, created in events.values():
        if session not in started or created < started[session]:
            started[session] = created
    old_sessions = {s for s, first in started.items() if first < cutoff}
    archived_events = {i for i, (session, _) in events.items() if session in old_sessions}
    archived_orders = {o for o, (status, created, bucket, user) in orders.items()
                       if created < cutoff and is_final(status, bucket)
                       and not may_be_closed(*users[user], closing_since)}
    archived_items = {i for i, (order_id, _) in order_items.items() if order_id in archived_orders}
    sold_by_archived = {order_items[i][1] for i in archived_items}
    archived_stock = {i for i in sold_by_archived if inventory_items.get(i) is not None}
    return Selection(archived_events, archived_orders, archived_items, archived_stock)
