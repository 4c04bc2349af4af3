"""Bounded in-memory pools the simulation draws from, so that a visit needs no SELECT."""
from collections import namedtuple
from urllib.parse import quote

# A registered user as returning visits need them: where they live now and when they signed up
# (epoch s; their sessions start after that).
UserEntry = namedtuple("UserEntry", "id gender city state postal_code created_ts")


class UserPool:
    """Registered users a returning visit can pick: UserEntry tuples, keyed by their first field (id).

    Bounded: once full, a new user replaces a random one, so memory stays flat over any run.
    Removal is O(1) (swap with the last entry), for accounts closed by the lifecycle.
    """

    def __init__(self, capacity=50_000):
        self.capacity = capacity
        self._entries = []
        self._index = {}

    def __len__(self):
        return len(self._entries)

    def add(self, entry, rng):
        if entry[0] in self._index:
            return
        if len(self._entries) < self.capacity:
            self._index[entry[0]] = len(self._entries)
            self._entries.append(entry)
            return
        slot = rng.randrange(self.capacity)
        del self._index[self._entries[slot][0]]
        self._entries[slot] = entry
        self._index[entry[0]] = slot

    def discard(self, user_id):
        slot = self._index.pop(user_id, None)
        if slot is None:
            return
        last = self._entries.pop()
        if slot < len(self._entries):
            self._entries[slot] = last
            self._index[last[0]] = slot

    def replace(self, entry):
        """A known user's entry with new values (e.g. after moving); unknown ids are ignored."""
        slot = self._index.get(entry[0])
        if slot is not None:
            self._entries[slot] = entry

    def pick(self, rng):
        return self._entries[rng.randrange(len(self._entries))]

    def __contains__(self, user_id):
        return user_id in self._index


class ProductPool:
    """The catalogue as the visits see it: product ids per department, with their listing URI.

    Popularity is skewed (a few products sell much more than the long tail) by drawing the index
    as n * u**SKEW over a fixed order of the department's products.
    """
    SKEW = 1.8

    def __init__(self, rows):
        """rows: iterable of (id, category, brand, department)."""
        self.by_department = {}
        self.department_uri = {}
        slugs = {}
        for pid, category, brand, department in rows:
            self.by_department.setdefault(department, []).append(pid)
            key = (department, category, brand)
            uri = slugs.get(key)
            if uri is None:
                uri = slugs[key] = "/department/{}/category/{}/brand/{}".format(
                    _slug(department), _slug(category), _slug(brand))
            self.department_uri[pid] = uri
        for ids in self.by_department.values():
            ids.sort()
        self.departments = sorted(self.by_department)
        if not self.departments:
            raise ValueError("the product catalogue is empty")

    def __len__(self):
        return len(self.department_uri)

    def draw(self, rng, department):
        ids = self.by_department.get(department) or self.by_department[self.departments[0]]
        return ids[int(len(ids) * rng.random() ** self.SKEW)]

    def draw_distinct(self, rng, department, n):
        n = min(n, len(self.by_department.get(department) or self.by_department[self.departments[0]]))
        chosen = []
        while len(chosen) < n:
            pid = self.draw(rng, department)
            if pid not in chosen:
                chosen.append(pid)
        return chosen


def _slug(text):
    return quote(str(text).lower(), safe="&")
