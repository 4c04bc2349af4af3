import random

import pytest


@pytest.fixture(scope="session")
def catalog():
    from thelook_datagen.reference.catalog import build_catalog
    return build_catalog(seed=0)


@pytest.fixture(scope="session")
def product_rows(catalog):
    return [(p.id, p.category, p.brand, p.department) for p in catalog]


@pytest.fixture
def make_planner(product_rows):
    from thelook_datagen.reference.people import PersonSampler
    from thelook_datagen.reference.places import PlaceSampler
    from thelook_datagen.sim.pools import ProductPool
    from thelook_datagen.sim.visits import VisitPlanner

    products = ProductPool(product_rows)

    def make(seed=1, **kw):
        rng = random.Random(seed)
        return VisitPlanner(rng, products, PlaceSampler(rng), PersonSampler(rng), **kw)
    return make


def _simulate(planner, n, start=1_800_000_000.0, qps=50.0):
    """Plans n visits, feeding back sign-ups with fake ids as the writer would."""
    visits, next_id, now = [], 1, start
    for _ in range(n):
        now += 1.0 / qps
        v = planner.plan(now)
        if v.new_user is not None:
            planner.add_user(next_id, v)
            next_id += 1
        visits.append(v)
    return visits


@pytest.fixture
def simulate():
    return _simulate
