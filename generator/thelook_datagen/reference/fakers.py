"""One Faker generator per locale for the whole process, driven by the caller's random.Random.

Building a Faker generator costs milliseconds, so each locale is built once. Pointing its
`random` at the caller's rng before each call makes every result follow the caller's seed.
"""
from __future__ import annotations

import random

from faker import Factory
from faker.generator import Generator

_generators: dict[str, Generator] = {}


def faker_for(locale: str, rng: random.Random) -> Generator:
    gen = _generators.get(locale)
    if gen is None:
        gen = _generators[locale] = Factory.create(locale)
    gen.random = rng
    return gen


def provider(locale: str, kind: str):
    """The locale's provider of one kind ('person', 'address'), for its word lists."""
    gen = faker_for(locale, random.Random(0))
    for p in gen.providers:
        if type(p).__module__.startswith(f"faker.providers.{kind}"):
            return p
    raise LookupError(f"Faker locale {locale} has no {kind} provider")
