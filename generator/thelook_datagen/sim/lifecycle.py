"""The shop's clock: lifecycle delays, the time scale, and which orders take which path.

Delays are given in shop time and divided by the time scale, so that with the default scale a
shop day lasts 10 real seconds and a watcher sees shipments, cancellations, deliveries, returns,
account closures and stock write-offs within the first minute.

An order's path (cancelled, kept, returned) is a pure function of its id: its fate bucket is
`hashint8extended(id, seed) & 1023`, computed in SQL (`fate_sql`), both by the live ticks and for
the bulk history (which fetches the buckets from PostgreSQL instead of re-implementing the hash), so
every generator process, and a restarted one, agrees on it without storing anything beside the data
set's columns. `path_of_bucket` says which statuses a bucket passes through and `state_at` where an
order of that bucket stands at a given time. Users (account closures) and unsold stock (write-offs)
have fate buckets of their own (USER_FATE_SEED, ITEM_FATE_SEED).
"""
from dataclasses import dataclass

DAY = 86400.0
DEFAULT_TIME_SCALE = DAY / 10.0   # one shop day per 10 s

FATE_BUCKETS = 1024
CANCEL_BELOW = 154        # ~15% of orders are cancelled while Processing
RETURN_FROM = 921         # ~10% of orders are returned after delivery
CLOSE_BELOW = 205         # ~20% of users who have not ordered 2 shop days after signing up close the account
                          # (at 3%, two runs in three showed no closure in their first minute)
WRITE_OFF_BELOW = 20      # ~2% of stock is written off if still unsold after a while

ORDER_FATE_SEED = 7
USER_FATE_SEED = 11
ITEM_FATE_SEED = 13


def fate_sql(column, seed):
    """SQL for the fate bucket (0..FATE_BUCKETS-1) of the id in `column`."""
    return f"(hashint8extended({column}, {seed}) & {FATE_BUCKETS - 1})"


@dataclass(frozen=True)
class Delays:
    """Lifecycle delays in real seconds (shop delays divided by the time scale)."""
    cancel: float
    ship: float
    deliver: float
    return_: float
    close_min: float
    close_max: float
    write_off: float
    initial_stock_age: float
    restock_below: int = 2
    restock_units: int = 3

    @classmethod
    def for_scale(cls, scale=DEFAULT_TIME_SCALE):
        if scale <= 0:
            raise ValueError("time scale must be positive")
        # The closing window is at least a minute wide: a sign-up's created_at is its session's
        # first click, up to ~30 s before the visit is written, and must not fall past the window.
        close_min = 2 * DAY / scale
        return cls(cancel=0.25 * DAY / scale, ship=1 * DAY / scale, deliver=2 * DAY / scale,
                   return_=3 * DAY / scale, close_min=close_min, close_max=close_min + max(DAY / scale, 60.0),
                   write_off=5 * DAY / scale, initial_stock_age=6 * DAY / scale)


def path_of_bucket(bucket):
    """The statuses an order passes through, given its fate bucket (0..1023)."""
    if bucket < CANCEL_BELOW:
        return ("Processing", "Cancelled")
    if bucket >= RETURN_FROM:
        return ("Processing", "Shipped", "Complete", "Returned")
    return ("Processing", "Shipped", "Complete")


def state_at(bucket, created, now, delays):
    """Status and (shipped_at, delivered_at, returned_at) of an order created at `created` (epoch s)
    as seen at `now`: what the live lifecycle would have done by then. For bulk history writers."""
    path = path_of_bucket(bucket)
    if path[-1] == "Cancelled":
        return ("Cancelled" if now >= created + delays.cancel else "Processing"), None, None, None
    shipped = created + delays.ship
    delivered = shipped + delays.deliver
    returned = delivered + delays.return_
    if now < shipped:
        return "Processing", None, None, None
    if now < delivered:
        return "Shipped", shipped, None, None
    if path[-1] == "Returned" and now >= returned:
        return "Returned", shipped, delivered, returned
    return "Complete", shipped, delivered, None


ALLOWED_TRANSITIONS = {
    "Processing": {"Shipped", "Cancelled"},
    "Shipped": {"Complete"},
    "Complete": {"Returned"},
    "Cancelled": set(),
    "Returned": set(),
}
