"""Visits: one session on the site, planned as rows without any I/O.

`VisitPlanner.plan(now)` returns a `Visit` holding the rows of one session: the events, the new
user (for a sign-up) and the order's products (for a purchase). A writer turns it into one
transaction; the ids the database assigns come back through `VisitPlanner.add_user`.
All randomness comes from the planner's `random.Random`, so a seed fixes the content.
"""
from collections import deque, namedtuple

from .pools import UserEntry, UserPool
from .values import (AGE_MAX, AGE_MIN, BROWSER, DEPARTMENT_OF_GENDER, EVENT_TRAFFIC, GENDERS,
                     ITEMS, USER_TRAFFIC)

GHOST, BROWSE, ABANDONED_CART, PURCHASE = "ghost", "browse", "abandoned_cart", "purchase"
VISIT_KINDS = (GHOST, BROWSE, ABANDONED_CART, PURCHASE)

# Column order of a new user row (users without id).
USER_COLUMNS = ("first_name", "last_name", "email", "age", "gender", "state", "street_address",
                "postal_code", "city", "country", "latitude", "longitude", "traffic_source", "created_at")
# A sign-up's user row (USER_COLUMNS order; a tuple, so writers take it as it is).
NewUser = namedtuple("NewUser", USER_COLUMNS)
# A user's move, applied by the next lifecycle tick: the new address columns of users.
AddressChange = namedtuple("AddressChange", "user_id street_address postal_code city state country latitude longitude")
EVENT_COLUMNS = ("user_id", "sequence_number", "session_id", "created_at", "ip_address", "city",
                 "state", "postal_code", "browser", "traffic_source", "uri", "event_type")

GHOST_PATHS = (("product",), ("department", "product"), ("department", "product", "cart"),
               ("product", "cart", "cancel"), ("home", "department", "product"))

MIN_GAP, MAX_GAP = 0.2, 2.0   # seconds between two clicks of a session


class Visit:
    """One session's rows. Timestamps are epoch seconds (float, UTC). `new_user` is a NewUser for a
    sign-up (else None), `user_id` the returning user's id (else None)."""
    __slots__ = ("kind", "session_id", "user_id", "new_user", "gender", "ip_address", "city",
                 "state", "postal_code", "browser", "traffic_source", "ev_ts", "ev_uri", "ev_type",
                 "product_ids", "order_ts")

    def __init__(self, kind, session_id, ip_address, browser, traffic_source, ev_ts, ev_uri, ev_type):
        self.kind = kind
        self.session_id = session_id
        self.ip_address = ip_address
        self.browser = browser
        self.traffic_source = traffic_source
        self.ev_ts = ev_ts
        self.ev_uri = ev_uri
        self.ev_type = ev_type
        self.user_id = self.new_user = self.gender = self.city = self.state = self.postal_code = None
        self.product_ids = self.order_ts = None

    @property
    def registered(self):
        return self.kind != GHOST

    def event_rows(self, user_id=None):
        """Event rows in EVENT_COLUMNS order (user_id given for a sign-up, whose id the DB assigns)."""
        uid = self.user_id if user_id is None else user_id
        return [(uid, seq, self.session_id, ts, self.ip_address, self.city, self.state,
                 self.postal_code, self.browser, self.traffic_source, uri, et)
                for seq, (ts, uri, et) in enumerate(zip(self.ev_ts, self.ev_uri, self.ev_type), 1)]


class VisitPlanner:
    def __init__(self, rng, products, places, people, ghost_ratio=0.2, new_user_share=0.3,
                 purchase_share=0.5, abandon_share=0.2, address_change_share=0.02,
                 user_pool_capacity=50_000):
        if not 0.0 <= ghost_ratio <= 1.0:
            raise ValueError("ghost ratio must be between 0 and 1")
        self.rng = rng
        self.products = products
        self.places = places
        self.people = people
        self.ghost_ratio = ghost_ratio
        self.new_user_share = new_user_share
        self.purchase_share = purchase_share
        self.abandon_share = abandon_share
        self.address_change_share = address_change_share
        self.users = UserPool(user_pool_capacity)
        self.address_changes = deque(maxlen=1000)   # AddressChange, oldest first

    # -- visits ----------------------------------------------------------------------------
    def plan(self, now):
        rng = self.rng
        if rng.random() < self.ghost_ratio:
            return self._ghost(now)
        x = rng.random()
        if x < self.purchase_share:
            kind = PURCHASE
        elif x < self.purchase_share + self.abandon_share:
            kind = ABANDONED_CART
        else:
            kind = BROWSE
        if not len(self.users) or rng.random() < self.new_user_share:
            return self._registered(now, kind, None)
        return self._registered(now, kind, self.users.pick(rng))

    def _session(self, kind, now, types, uris, not_before=None):
        rng = self.rng
        n = len(types)
        gaps = [MIN_GAP + (MAX_GAP - MIN_GAP) * rng.random() for _ in range(n - 1)]
        span = sum(gaps)
        if not_before is not None and now - span <= not_before and span > 0:
            factor = max(0.0, now - not_before - 1e-3) / span
            gaps = [g * factor for g in gaps]
        ts = [now] * n
        for k in range(n - 2, -1, -1):
            ts[k] = ts[k + 1] - gaps[k]
        return Visit(kind, session_uuid(rng.getrandbits(128)), "%d.%d.%d.%d" % tuple(rng.getrandbits(32).to_bytes(4, "big")),
                     BROWSER.draw(rng), EVENT_TRAFFIC.draw(rng), ts, uris, types)

    def _browse_path(self, department, steps):
        types, uris = [], []
        for _ in range(steps):
            pid = self.products.draw(self.rng, department)
            types += ("department", "product")
            uris += (self.products.department_uri[pid], f"/product/{pid}")
        return types, uris

    def _ghost(self, now):
        rng = self.rng
        path = GHOST_PATHS[rng.randrange(len(GHOST_PATHS))]
        department = self.products.departments[rng.randrange(len(self.products.departments))]
        pid = self.products.draw(rng, department)
        uris = [_uri(et, pid, self.products) for et in path]
        v = self._session(GHOST, now, list(path), uris)
        place = self.places.sample()
        v.city, v.state, v.postal_code = place.city, place.state, place.postal_code
        return v

    def _registered(self, now, kind, entry):
        """A signed-in session: of the returning user `entry` (a UserEntry), or of a new user (None)."""
        rng = self.rng
        gender = entry.gender if entry else GENDERS[rng.randrange(2)]
        department = DEPARTMENT_OF_GENDER[gender]
        types, uris = ["home"], ["/home"]
        product_ids = None
        if kind == PURCHASE:
            product_ids = self.products.draw_distinct(rng, department, ITEMS.draw(rng))
            for pid in product_ids:
                types += ("department", "product", "cart")
                uris += (self.products.department_uri[pid], f"/product/{pid}", "/cart")
            types.append("purchase")
            uris.append("/purchase")
        elif kind == ABANDONED_CART:
            t, u = self._browse_path(department, 1 + rng.randrange(2))
            types += t + ["cart"]
            uris += u + ["/cart"]
            if rng.random() < 0.5:
                types.append("cancel")
                uris.append("/cancel")
        else:
            t, u = self._browse_path(department, 1 + rng.randrange(3))
            types += t
            uris += u
        v = self._session(kind, now, types, uris, not_before=entry.created_ts if entry else None)
        v.gender = gender
        if product_ids:
            v.product_ids = product_ids
            v.order_ts = now
        if entry:
            v.user_id = entry.id
            v.city, v.state, v.postal_code = entry.city, entry.state, entry.postal_code
            if rng.random() < self.address_change_share:
                self._plan_address_change(entry)
        else:
            u = v.new_user = self._new_user(gender, v.ev_ts[0])
            v.city, v.state, v.postal_code = u.city, u.state, u.postal_code
        return v

    def _new_user(self, gender, created_at):
        rng = self.rng
        place = self.places.sample()
        first, last = self.people.name(gender, place.country)
        return NewUser(first, last, self.people.email(first, last), AGE_MIN + rng.randrange(AGE_MAX - AGE_MIN + 1),
                       gender, place.state, self.places.street_address(place), place.postal_code, place.city,
                       place.country, place.latitude, place.longitude, USER_TRAFFIC.draw(rng), created_at)

    def _plan_address_change(self, entry):
        """The user moves after this visit: their next sessions come from the new place."""
        place = self.places.sample()
        self.address_changes.append(AddressChange(entry.id, self.places.street_address(place), place.postal_code,
                                                  place.city, place.state, place.country, place.latitude,
                                                  place.longitude))
        self.users.replace(entry._replace(city=place.city, state=place.state, postal_code=place.postal_code))

    # -- feedback from the writer ------------------------------------------------------------
    def add_user(self, user_id, visit):
        """Registers the id the database gave to a visit's new user, for later returning visits."""
        u = visit.new_user
        self.users.add(UserEntry(user_id, u.gender, u.city, u.state, u.postal_code, u.created_at), self.rng)

    def forget_user(self, user_id):
        self.users.discard(user_id)

    def take_address_changes(self):
        changes = [c for c in self.address_changes if c.user_id in self.users]
        self.address_changes.clear()
        return changes

    def return_address_changes(self, changes):
        """Changes taken for a lifecycle step that did not commit: offered again, ahead of newer ones
        (the pool already shows the new address, so the users row must still get it)."""
        self.address_changes.extendleft(reversed(changes))

    def as_sign_up(self, visit):
        """Turns a returning user's visit into a sign-up (its user was deleted meanwhile)."""
        self.forget_user(visit.user_id)
        visit.user_id = None
        u = visit.new_user = self._new_user(visit.gender, visit.ev_ts[0])
        visit.city, visit.state, visit.postal_code = u.city, u.state, u.postal_code
        return visit


def session_uuid(bits):
    """A version-4 UUID string from 128 random bits (uuid.UUID is several times slower)."""
    h = "%032x" % bits
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[bits & 3]}{h[17:20]}-{h[20:]}"


def _uri(event_type, pid, products):
    if event_type == "department":
        return products.department_uri[pid]
    if event_type == "product":
        return f"/product/{pid}"
    return "/" + event_type
