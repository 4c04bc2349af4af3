"""Value sets and weights of theLook (see shared/reference/thelook.md)."""
import itertools

ORDER_STATUSES = ("Processing", "Shipped", "Complete", "Cancelled", "Returned")
EVENT_TYPES = ("home", "department", "product", "cart", "purchase", "cancel")
GENDERS = ("M", "F")
DEPARTMENT_OF_GENDER = {"M": "Men", "F": "Women"}

USER_TRAFFIC_SOURCES = (("Search", .70), ("Organic", .15), ("Facebook", .06), ("Email", .05), ("Display", .04))
EVENT_TRAFFIC_SOURCES = (("Email", .45), ("Adwords", .30), ("YouTube", .10), ("Facebook", .10), ("Organic", .05))
BROWSERS = (("Chrome", .50), ("Safari", .20), ("Firefox", .20), ("IE", .05), ("Other", .05))
ITEMS_PER_ORDER = ((1, .70), (2, .20), (3, .05), (4, .05))

AGE_MIN, AGE_MAX = 12, 70


class Weighted:
    """Draws from a fixed weighted set with one uniform number (cheaper than random.choices)."""
    __slots__ = ("values", "cum", "total")

    def __init__(self, pairs):
        self.values = tuple(v for v, _ in pairs)
        self.cum = tuple(itertools.accumulate(w for _, w in pairs))
        self.total = self.cum[-1]

    def draw(self, rng):
        x = rng.random() * self.total
        for value, c in zip(self.values, self.cum):
            if x < c:
                return value
        return self.values[-1]


USER_TRAFFIC = Weighted(USER_TRAFFIC_SOURCES)
EVENT_TRAFFIC = Weighted(EVENT_TRAFFIC_SOURCES)
BROWSER = Weighted(BROWSERS)
ITEMS = Weighted(ITEMS_PER_ORDER)
