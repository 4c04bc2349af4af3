"""At --avg-qps 10 with the default time scale, a watcher sees UPDATEs and DELETEs within a minute."""
import signal
import time

import pytest

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def test_updates_and_deletes_within_the_first_minute(start_gen, schema, db):
    # seeded: which sign-ups close their account (and when) is then fixed, not left to chance
    p = start_gen("--schema", schema, "--no-create-topic", "--avg-qps", "10", "--seed", "1", "--quiet")
    deadline = time.time() + 120
    while time.time() < deadline and db.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = 'events'",
            schema) == 0:
        time.sleep(0.2)
    while db.scalar(f'SELECT count(*) FROM "{schema}".events') == 0 and time.time() < deadline:
        time.sleep(0.2)
    started = time.time()
    seen = {}
    while time.time() - started < 60 and len(seen) < 7:
        for table, ops in db.changes(schema).items():
            for op in ("update", "delete"):
                if ops[op] and (table, op) not in seen:
                    seen[(table, op)] = round(time.time() - started, 1)
        time.sleep(1)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    for key in [("orders", "update"), ("order_items", "update"), ("users", "update"),
                ("inventory_items", "update"), ("inventory_items", "delete"), ("users", "delete"),
                ("events", "delete")]:
        assert key in seen, (key, seen)
    assert max(seen.values()) < 60
    print('first UPDATE/DELETE per table, seconds after the first visit:', seen)
    assert db.invariants(schema) == {}
