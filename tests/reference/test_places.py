"""Users' places: real cities in the data set's country shares, plausible postal codes, speed."""
import random
import re
import time
from collections import Counter

import pytest

from thelook_datagen.reference.places import Place, PlaceSampler
from thelook_datagen.reference.regions import COUNTRIES

SHARES = {name: share for name, share in COUNTRIES.values()}
POSTAL = {
    "China": r"\d{6}",
    "United States": r"\d{5}",
    "Brasil": r"\d{5}-\d{3}",
    "South Korea": r"\d{5}",
    "France": r"\d{5}",
    "United Kingdom": r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}",
    "Germany": r"\d{5}",
    "Spain": r"\d{5}",
    "Japan": r"\d{3}-\d{4}",
    "Australia": r"\d{4}",
    "Belgium": r"\d{4}",
}
N = 100_000


@pytest.fixture(scope="module")
def samples():
    sampler = PlaceSampler(random.Random(42))
    return [sampler.sample() for _ in range(N)]


def test_country_names_as_the_data_set_spells_them():
    assert set(SHARES) == {"China", "United States", "Brasil", "South Korea", "France", "United Kingdom",
                           "Germany", "Spain", "Japan", "Australia", "Belgium"}


def test_country_shares_within_two_points(samples):
    counts = Counter(p.country for p in samples)
    total_share = sum(SHARES.values())
    assert set(counts) == set(SHARES)
    for country, share in SHARES.items():
        assert abs(counts[country] / N - share / total_share) < 0.02, country


def test_fields_complete_and_typed(samples):
    for p in samples:
        assert isinstance(p, Place)
        assert p.country and p.state and p.city and p.postal_code
        assert -90 <= p.latitude <= 90 and -180 <= p.longitude <= 180
        assert re.fullmatch(POSTAL[p.country], p.postal_code), p


def test_real_big_cities_weighted_by_population(samples):
    cities = Counter((p.country, p.city) for p in samples)
    top = {city for (_, city), _ in cities.most_common(15)}
    assert {"Shanghai", "Beijing", "Seoul", "São Paulo"} <= top
    ny = [p for p in samples if p.city == "New York City"]
    assert ny and ny[0].state == "New York" and abs(ny[0].latitude - 40.71) < 0.1
    assert len(cities) > 3000


def test_coordinates_inside_the_country(samples):
    boxes = {  # rough bounding boxes: lat min, lat max, lon min, lon max
        "China": (18, 54, 73, 135), "United States": (18, 72, -180, -65), "Brasil": (-34, 6, -74, -34),
        "South Korea": (33, 39, 124, 132), "France": (41, 52, -5.5, 10), "United Kingdom": (49, 61, -9, 2),
        "Germany": (47, 55.1, 5.8, 15.1), "Spain": (27, 44, -18.5, 4.5), "Japan": (24, 46, 122, 146),
        "Australia": (-44, -10, 112, 154), "Belgium": (49.4, 51.6, 2.5, 6.5),
    }
    for p in samples:
        lat0, lat1, lon0, lon1 = boxes[p.country]
        assert lat0 <= p.latitude <= lat1 and lon0 <= p.longitude <= lon1, p


def test_postal_codes_follow_the_state(samples):
    for p in samples:
        if p.country == "United States" and p.state == "California":
            assert 90000 <= int(p.postal_code) <= 96199, p
        if p.country == "Brasil" and p.state == "São Paulo":
            assert p.postal_code < "20000", p
        if p.country == "Australia" and p.state == "Victoria":
            assert p.postal_code.startswith("3"), p
        if p.country == "South Korea" and p.state == "Seoul":
            assert p.postal_code.startswith("0"), p
        if p.country == "China" and p.state == "Beijing":
            assert p.postal_code.startswith("10"), p


def test_big_cities_use_their_own_postal_ranges(samples):
    from thelook_datagen.reference.places import _load

    assert _load().unresolved_anchors == []  # every anchor city name exists in the city data
    checks = {
        "London": lambda code: code.split()[0] in {"E1", "E2", "E14", "E17", "N1", "N7", "N19", "NW1", "NW3",
                                                   "NW6", "SE1", "SE10", "SE15", "SW1A", "SW3", "SW11",
                                                   "SW19", "W1", "W2", "W8", "W11", "WC1", "WC2", "EC1", "EC2"},
        "Paris": lambda code: code.startswith("75"),
        "Sydney": lambda code: 2000 <= int(code) <= 2234,
        "Madrid": lambda code: code.startswith("28"),
        "Berlin": lambda code: 10100 <= int(code) <= 14199,
        "Tokyo": lambda code: 100 <= int(code[:3]) <= 179,
        "Shanghai": lambda code: code.startswith("20"),
        "Manhattan": lambda code: code[:3] in {"100", "101", "102"},
    }
    seen = set()
    for p in samples:
        check = checks.get(p.city) if p.state != "Kansas" else None  # Manhattan, Kansas is a town
        if check:
            seen.add(p.city)
            assert check(p.postal_code), p
    assert seen == set(checks)


def test_same_seed_same_places():
    a, b = PlaceSampler(random.Random(5)), PlaceSampler(random.Random(5))
    assert [a.sample() for _ in range(500)] == [b.sample() for _ in range(500)]
    c = PlaceSampler(random.Random(6))
    assert [a.sample() for _ in range(50)] != [c.sample() for _ in range(50)]


def test_street_addresses():
    sampler = PlaceSampler(random.Random(9))
    seen = set()
    for _ in range(3000):
        place = sampler.sample()
        address = sampler.street_address(place)
        assert address and "\n" not in address and address == address.strip()
        assert address.isascii() or place.country in {"Brasil", "France", "Germany", "Spain", "Belgium"}
        assert re.search(r"\d", address), (place.country, address)
        seen.add(place.country)
    assert len(seen) == 11
    x, y = PlaceSampler(random.Random(3)), PlaceSampler(random.Random(3))
    px, py = x.sample(), y.sample()
    assert [x.street_address(px) for _ in range(20)] == [y.street_address(py) for _ in range(20)]


def test_sample_time_is_printed():
    sampler = PlaceSampler(random.Random(1))
    start = time.perf_counter()
    for _ in range(N):
        sampler.sample()
    per_sample = (time.perf_counter() - start) / N
    places = [sampler.sample() for _ in range(2000)]
    start = time.perf_counter()
    for place in places:
        sampler.street_address(place)
    per_address = (time.perf_counter() - start) / len(places)
    print(f"\nPlaceSampler.sample: {per_sample * 1e6:.2f} us; street_address: {per_address * 1e6:.1f} us")
