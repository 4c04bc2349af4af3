from collections import Counter

import pytest

from thelook_datagen.sim.lifecycle import (ALLOWED_TRANSITIONS, DAY, DEFAULT_TIME_SCALE, FATE_BUCKETS, Delays,
                                           path_of_bucket, state_at)


def test_default_scale_shows_changes_within_a_minute():
    d = Delays.for_scale(DEFAULT_TIME_SCALE)
    assert d.ship == pytest.approx(10.0)
    # at 10 visits/s a watcher sees cancellations, shipments, deliveries and closures within 60 s
    assert d.cancel < d.ship < d.ship + d.deliver < 60
    assert d.close_min < 60 and d.close_max - d.close_min >= 60
    assert d.write_off < d.initial_stock_age
    assert Delays.for_scale(1).ship == DAY
    with pytest.raises(ValueError):
        Delays.for_scale(0)


def test_paths_follow_allowed_transitions_and_shares():
    ends = Counter()
    for bucket in range(FATE_BUCKETS):
        path = path_of_bucket(bucket)
        assert path[0] == "Processing"
        for a, b in zip(path, path[1:]):
            assert b in ALLOWED_TRANSITIONS[a]
        ends[path[-1]] += 1
    assert ends["Cancelled"] / FATE_BUCKETS == pytest.approx(0.15, abs=0.01)
    assert ends["Returned"] / FATE_BUCKETS == pytest.approx(0.10, abs=0.01)


@pytest.mark.parametrize("bucket", [0, 500, 1000])
def test_state_at_orders_timestamps_and_matches_status(bucket):
    d = Delays.for_scale(DEFAULT_TIME_SCALE)
    created = 1_800_000_000.0
    seen = []
    for k in range(0, 200):
        status, shipped, delivered, returned = state_at(bucket, created, created + k * 0.5, d)
        stamps = [t for t in (created, shipped, delivered, returned) if t is not None]
        assert stamps == sorted(stamps) and stamps[-1] <= created + k * 0.5
        assert (shipped is not None) == (status in ("Shipped", "Complete", "Returned"))
        assert (delivered is not None) == (status in ("Complete", "Returned"))
        assert (returned is not None) == (status == "Returned")
        if not seen or seen[-1] != status:
            seen.append(status)
    assert tuple(seen) == path_of_bucket(bucket)
