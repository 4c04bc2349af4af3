import random

from thelook_datagen.sim.pools import ProductPool, UserPool


def test_user_pool_is_bounded_and_removal_is_exact():
    rng = random.Random(1)
    pool = UserPool(capacity=100)
    for i in range(1, 1001):
        pool.add((i, "F", "c", "s", "p", 0.0), rng)
    assert len(pool) == 100
    ids = [e[0] for e in pool._entries]
    for uid in ids[:50]:
        pool.discard(uid)
        assert uid not in pool
    assert len(pool) == 50
    assert all(pool._entries[slot][0] == uid for uid, slot in pool._index.items())
    assert all(pool.pick(rng)[0] in pool for _ in range(100))


def test_product_pool_skew_and_departments():
    rows = [(i, "Jeans", "Levi's", "Men" if i % 2 else "Women") for i in range(1, 2001)]
    pool = ProductPool(rows)
    rng = random.Random(2)
    draws = [pool.draw(rng, "Men") for _ in range(20000)]
    assert all(d % 2 == 1 for d in draws)
    low = sum(d <= 200 for d in draws) / len(draws)
    assert low > 0.2, "popular products sell more than the long tail"
    assert pool.department_uri[1] == "/department/men/category/jeans/brand/levi%27s"
    assert len(set(pool.draw_distinct(rng, "Women", 4))) == 4
