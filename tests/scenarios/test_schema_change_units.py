"""schema-change without a stack: verify's handling of columns added, widened and dropped while a table is
captured (events older than a column lack its field), its report notes, and the generator's fillers for the
extra columns of users."""
import io
import json

import pytest

from thelook_datagen.db.statements import USER_FILLERS, visit_sql
from thelook_datagen.verify import report
from thelook_datagen.verify.database import Table
from thelook_datagen.verify.replay import TableReplay, compare
from thelook_datagen.verify.values import Column

pytestmark = pytest.mark.filterwarnings("error")


def _users(defaulted=("tier",)):
    cols = [Column("id", "int8"), Column("city", "text"), Column("points", "int8"), Column("tier", "text")]
    t = Table("demo", "users", cols, ["id"], "f")
    t.defaulted = frozenset(defaulted)
    return t


def _ev(op, before, after, ts, txid=1, lsn=1):
    return json.dumps({"op": op, "before": before, "after": after,
                       "source": {"txId": txid, "lsn": lsn, "ts_ms": ts}}).encode()


def _key(i):
    return json.dumps({"id": i}).encode()


OLD1 = {"id": 1, "city": "Oslo", "gone": "x"}        # written before points/tier existed, with a since-dropped column
OLD2 = {"id": 2, "city": "Rome", "gone": "y"}


def _replay(events):
    rp = TableReplay(_users())
    for key, value in events:
        rp.apply(key, value, None, None)
    return rp


def test_a_field_absent_from_older_events_is_null_and_a_dropped_column_is_ignored():
    rp = _replay([(_key(1), _ev("r", None, OLD1, 1000)), (_key(2), _ev("r", None, OLD2, 1000)),
                  (_key(3), _ev("c", None, {"id": 3, "city": "Kyiv", "points": 7, "tier": "gold"}, 5000))])
    pg = {(1,): (1, "Oslo", None, "bronze"), (2,): (2, "Rome", None, None), (3,): (3, "Kyiv", 7, "gold")}
    result = compare(rp, pg)
    assert result["different"] == 0 and result["matched"] == 3
    # row 2: both absent fields are NULL in PostgreSQL; row 1: points NULL, tier its default
    assert result["absent_as_null"] == {"points": 2, "tier": 1}
    assert result["not_in_stream"] == {"tier": {"rows": 1, "before_ms": 5000, "before": "1970-01-01T00:00:05.000Z"}}


def test_a_column_without_default_holding_a_value_its_events_never_carried_is_a_difference():
    rp = _replay([(_key(1), _ev("r", None, OLD1, 1000))])
    result = compare(rp, {(1,): (1, "Oslo", 42, None)})    # points 42: an UPDATE that never arrived
    assert result["different"] == 1 and result["different_examples"][0][1] == [("points", "NULL", "42")]
    assert "not_in_stream" not in result or not result["not_in_stream"]


def test_an_update_after_the_column_was_added_carries_it_and_the_history_has_no_gap():
    old = {"id": 1, "city": "Oslo"}
    moved_before = {"id": 1, "city": "Oslo", "points": None, "tier": "bronze"}   # decoded with the default
    moved = dict(moved_before, city="Lima")
    rp = _replay([(_key(1), _ev("r", None, old, 1000)), (_key(1), _ev("u", moved_before, moved, 6000, 2, 2))])
    assert rp.before_mismatch_count == 0 and rp.before_missing == 0
    result = compare(rp, {(1,): (1, "Lima", None, "bronze")})
    assert result["matched"] == 1 and result["different"] == 0 and not result.get("not_in_stream")


def test_an_update_older_than_the_column_is_not_a_partial_before_image():
    a, b = {"id": 1, "city": "Oslo"}, {"id": 1, "city": "Lima"}
    rp = _replay([(_key(1), _ev("c", None, a, 1000)), (_key(1), _ev("u", a, b, 2000, 2, 2))])
    assert rp.before_missing == 0 and rp.before_mismatch_count == 0
    # a before-image lacking a column its after-image has is still partial
    rp = _replay([(_key(1), _ev("c", None, dict(a, points=1, tier="t"), 1000)),
                  (_key(1), _ev("u", a, dict(b, points=1, tier="t"), 2000, 2, 2))])
    assert rp.before_missing == 1


def test_tables_whose_events_carry_every_column_report_nothing_new():
    rp = _replay([(_key(1), _ev("c", None, {"id": 1, "city": "Oslo", "points": 1, "tier": "t"}, 1000))])
    result = compare(rp, {(1,): (1, "Oslo", 1, "t")})
    assert "absent_as_null" not in result and "not_in_stream" not in result and rp.late == {}


def test_report_notes_and_verdict_for_late_columns():
    tables = [{"table": "users", "not_in_stream": {"tier": {"rows": 3, "before": "2026-11-30T03:40:00.000Z"}},
               "absent_as_null": {"points": 5}}]
    out = io.StringIO()
    report.render_late_columns({"tables": tables}, out.write)
    text = out.getvalue()
    assert "users.tier: not in the change stream for rows written before 2026-11-30T03:40:00.000Z (3 rows)" in text
    assert "users.points: 5 rows whose last change event predates the column" in text
    assert "3 rows hold a column value that is not in the change stream" in report.late_columns_verdict(tables)
    assert report.late_columns_verdict([{"table": "users"}]) == ""


def test_the_generator_fills_known_extra_user_columns_only_when_asked():
    plain = visit_sql("demo")
    assert "loyalty" not in plain
    assert visit_sql("demo", ()) == plain
    both = visit_sql("demo", ("loyalty_points", "loyalty_tier"))
    assert "created_at, \"loyalty_points\", \"loyalty_tier\")" in both
    assert USER_FILLERS["loyalty_points"] in both and USER_FILLERS["loyalty_tier"] in both
    with pytest.raises(KeyError):
        visit_sql("demo", ("shoe_size",))
