"""Seeded fashion brand names built from word parts, so no trademark list is copied."""
from __future__ import annotations

import random

_ONSETS = (
    "Al", "Ar", "Bel", "Bra", "Cal", "Car", "Cor", "Da", "Del", "El", "Es", "Fa", "Fio", "Ga", "Gio",
    "Ha", "Is", "Ja", "Ka", "La", "Le", "Lu", "Ma", "Mar", "Me", "Mi", "Mo", "Na", "Ne", "No", "Ol",
    "Pa", "Pe", "Ra", "Re", "Ro", "Sa", "Se", "Sol", "Ta", "Te", "Va", "Ve", "Vi", "Za", "Ze",
)
_MIDDLES = ("", "", "", "r", "l", "n", "v", "nt", "ss", "ll", "rr", "z", "m", "d", "lv", "st")
_CODAS = (
    "a", "o", "ia", "ina", "ora", "elle", "ette", "ino", "ano", "eau", "is", "on", "en", "ar", "ique",
    "ada", "oni", "ara", "ea", "io", "ine", "ova", "ier", "ais", "aro",
)
_FIRST = (
    "Ava", "Ben", "Chloe", "Dean", "Ella", "Finn", "Grace", "Hugo", "Ivy", "Jack", "Kate", "Leo",
    "Maya", "Nate", "Olive", "Paul", "Rose", "Sam", "Tess", "Will", "Zoe", "Max", "Lucy", "Theo",
    "Nina", "Oscar", "Ruby", "Felix", "Clara", "Jules",
)
_SURNAMES = (
    "Archer", "Bennett", "Carver", "Dalton", "Ellis", "Fletcher", "Garrison", "Hale", "Irving",
    "Jensen", "Keller", "Langford", "Marlow", "Nash", "Oakley", "Porter", "Quinn", "Ramsey", "Sawyer",
    "Thorne", "Vance", "Whitaker", "Yates", "Ashby", "Brooks", "Calloway", "Donovan", "Everett",
    "Fairfax", "Grayson", "Hollis", "Kendall", "Lockhart", "Mercer", "Prescott", "Sterling", "Tate",
    "Winslow", "Holloway", "Sinclair",
)
_NATURE = (
    "Fox", "Pine", "Salt", "Stone", "Willow", "Birch", "Harbor", "Ember", "Cedar", "Wren", "Sparrow",
    "Moss", "River", "Juniper", "Hazel", "Ivory", "Indigo", "Coral", "Fern", "Lark", "Maple", "Saffron",
    "Tide", "Dune", "Ash", "Sable", "Clover", "Linen", "Thistle", "Aspen", "Meadow", "Orchid", "Flint",
    "Rook", "Canyon", "Marble", "Oak", "Summit", "Drift", "Sage",
)
_PLACES = (
    "North", "West", "Union", "Hudson", "Pacific", "Atlantic", "Mercer", "Bowery", "Bleecker",
    "Carmel", "Sonoma", "Malibu", "Soho", "Chelsea", "Mayfair", "Marais", "Brera", "Tribeca",
    "Venice", "Portland", "Austin", "Aspen", "Montauk", "Nantucket", "Savile",
)
_GOODS = (
    "Denim", "Apparel", "Clothing", "Supply", "Outfitters", "Knitwear", "Tailors", "Goods",
    "Threads", "Studio", "Collective", "Atelier", "Label", "Basics", "Swim", "Intimates", "Lane",
    "& Co.", "Co.", "Brand", "Mills", "Workshop", "Collection", "Project",
)
_CITIES = ("New York", "London", "Paris", "Milano", "Los Angeles", "Tokyo", "Copenhagen", "Sydney")


def build_brands(rng: random.Random, count: int) -> list[str]:
    """count distinct brand names, in a seeded order (the first ones become the big houses)."""
    makers = (_invented, _invented, _designer, _pair, _place_goods, _nature_goods, _invented_goods,
              _initials, _invented_city)
    seen: set[str] = set()
    brands: list[str] = []
    attempts = 0
    while len(brands) < count:
        attempts += 1
        name = rng.choice(makers)(rng)
        if attempts > count * 50:  # the word parts are exhausted: number the rest
            name = f"{name} {attempts}"
        if name not in seen:
            seen.add(name)
            brands.append(name)
    return brands


def _word(rng: random.Random) -> str:
    return rng.choice(_ONSETS) + rng.choice(_MIDDLES) + rng.choice(_CODAS)


def _invented(rng):
    return _word(rng)


def _invented_goods(rng):
    return f"{_word(rng)} {rng.choice(_GOODS)}"


def _invented_city(rng):
    return f"{_word(rng)} {rng.choice(_CITIES)}"


def _designer(rng):
    return f"{rng.choice(_FIRST)} {rng.choice(_SURNAMES)}"


def _pair(rng):
    a, b = rng.sample(_NATURE + _SURNAMES, 2)
    return f"{a} & {b}"


def _place_goods(rng):
    return f"{rng.choice(_PLACES)} {rng.choice(_GOODS)}"


def _nature_goods(rng):
    return f"{rng.choice(_NATURE)} {rng.choice(_GOODS)}"


def _initials(rng):
    letters = "ABCDEFGHJKLMNPRSTW"
    return f"{rng.choice(letters)}.{rng.choice(letters)}. {rng.choice(_SURNAMES)}"
