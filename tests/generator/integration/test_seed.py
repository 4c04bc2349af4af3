"""--seed: the same options give the same logical content."""
import pytest

pytestmark = pytest.mark.stack

ARGS = ["--no-create-topic", "--quiet", "--seed", "4242", "--avg-qps", "150", "--max_iter", "900",
        "--time-scale", "172800"]


def content(db, schema):
    s = f'"{schema}"'
    return {
        "users": db.rows(f"SELECT id, first_name, last_name, email, age, gender, state, street_address, postal_code, "
                         f"city, country, latitude, longitude, traffic_source FROM {s}.users ORDER BY id"),
        "orders": db.rows(f"SELECT order_id, user_id, status, gender, num_of_item, shipped_at IS NULL, "
                          f"delivered_at IS NULL, returned_at IS NULL FROM {s}.orders ORDER BY order_id"),
        "items": db.rows(f"SELECT id, order_id, user_id, product_id, status, sale_price FROM {s}.order_items ORDER BY id"),
        "events": db.rows(f"SELECT session_id, sequence_number, user_id, ip_address, city, browser, traffic_source, "
                          f"uri, event_type FROM {s}.events ORDER BY session_id, sequence_number"),
    }


def test_same_seed_same_content(run_gen, new_schema, db, start_gen):
    a, b, c = new_schema(), new_schema(), new_schema()
    pa = start_gen("--schema", a, *ARGS)
    pb = start_gen("--schema", b, *ARGS)
    assert pa.wait(timeout=300) == 0 and pb.wait(timeout=300) == 0
    ca, cb = content(db, a), content(db, b)
    assert len(ca["orders"]) > 100 and len(ca["users"]) > 100
    statuses = {r[2] for r in ca["orders"]}
    assert len(statuses) >= 3, statuses
    for key in ca:
        assert ca[key] == cb[key], key
    run_gen("--schema", c, *[x if x != "4242" else "4243" for x in ARGS])
    assert content(db, c)["users"] != ca["users"]
