"""--if_exists fail / replace / append, exactly as the issue says."""
import pytest

pytestmark = pytest.mark.stack

BASE = ["--no-create-topic", "--quiet"]


def test_fail_refuses_when_tables_exist_and_creates_when_not(run_gen, schema, db):
    run_gen("--schema", schema, "--if_exists", "fail", "--max_iter", "20", *BASE)
    assert db.count(schema, "events") > 0
    before = db.count(schema, "events")
    proc = run_gen("--schema", schema, "--if_exists", "fail", "--max_iter", "20", *BASE, check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "--if_exists fail" in lines[0] and f"{schema}.users" in lines[0]
    assert db.count(schema, "events") == before, "nothing was written"


def test_replace_recreates_once(run_gen, schema, db):
    run_gen("--schema", schema, "--max_iter", "50", *BASE)
    db.scalar(f'INSERT INTO "{schema}".heartbeat VALUES (1, now()) RETURNING 1')
    run_gen("--schema", schema, "--if-exists", "replace", "--max_iter", "30", *BASE)
    assert db.count(schema, "heartbeat") == 0, "tables were recreated"
    sessions = db.scalar(f'SELECT count(DISTINCT session_id) FROM "{schema}".events')
    assert 28 <= sessions <= 30, "dropped once at start, not on every visit"
    assert db.scalar(f'SELECT max(id) FROM "{schema}".products') == db.count(schema, "products")


def test_append_keeps_rows_and_carries_on(run_gen, schema, db):
    run_gen("--schema", schema, "--max_iter", "40", "--if_exists", "append", *BASE)
    users = db.rows(f'SELECT id, email FROM "{schema}".users ORDER BY id')
    products = db.count(schema, "products")
    stock = db.count(schema, "inventory_items")
    run_gen("--schema", schema, "--max_iter", "40", "--if_exists", "append", *BASE)
    after = dict(db.rows(f'SELECT id, email FROM "{schema}".users'))
    assert all(after.get(uid, email) == email for uid, email in users)
    assert db.scalar(f'SELECT count(DISTINCT session_id) FROM "{schema}".events') >= 78
    assert db.count(schema, "products") == products, "reference data loaded once"
    assert db.count(schema, "inventory_items") < stock + 400, "initial stock not loaded twice"


def test_append_rejects_tables_with_other_columns(run_gen, schema, db):
    db.scalar(f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}".users (id text, name text); SELECT 1')
    proc = run_gen("--schema", schema, "--if_exists", "append", "--max_iter", "5", *BASE, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and f"{schema}.users" in line and "missing column first_name" in line
    assert db.count(schema, "users") == 0
