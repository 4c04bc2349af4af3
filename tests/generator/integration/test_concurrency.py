"""Several generator processes on one schema: no collisions of ids, stock or lifecycles."""
import pytest

pytestmark = pytest.mark.stack


def test_two_processes_do_not_collide(run_gen, start_gen, schema, db, summary):
    """Both start together on an empty schema (setup is serialised by an advisory lock), then write
    side by side."""
    items_before = 0
    common = ["--schema", schema, "--no-create-topic", "--log-format", "json", "--max_iter", "2500",
              "--time-scale", "172800", "--if_exists", "append"]
    procs = [start_gen(*common, "--seed", str(seed)) for seed in (1, 2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    summaries = [summary(err) for _out, err in outs]
    assert all(s["errors"] == 0 and s["visits"] == 2500 for s in summaries)
    assert db.invariants(schema) == {}
    # both wrote: every order item took its own stock unit (UNIQUE holds and counts add up)
    items = sum(s["tables"]["order_items"]["insert"] for s in summaries)
    assert db.count(schema, "order_items") == items_before + items
    assert db.scalar(f'SELECT count(DISTINCT inventory_item_id) FROM "{schema}".order_items') == items_before + items
    # every visit left its session, except those of accounts closed meanwhile (one to a few each)
    closed = sum(s["tables"].get("users", {}).get("delete", 0) for s in summaries)
    missing = 5000 - db.scalar(f'SELECT count(DISTINCT session_id) FROM "{schema}".events')
    assert closed <= missing <= 5 * closed, (closed, missing)
