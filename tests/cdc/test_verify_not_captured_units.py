"""verify and Debezium's unavailable-value placeholder (fast, no stack): an UPDATE that leaves a TOASTed column
unchanged under REPLICA IDENTITY DEFAULT carries `__debezium_unavailable_value` for it. verify must neither
take the placeholder for data (a difference) nor for a loss: the value is not in the topic, so it is not
compared, and each such column is reported with its number of rows."""
import base64
import io
import json
from types import SimpleNamespace

from thelook_datagen.verify import report
from thelook_datagen.verify.cli import build_result
from thelook_datagen.verify.database import Table
from thelook_datagen.verify.replay import TableReplay, compare
from thelook_datagen.verify.values import NOT_CAPTURED, UNAVAILABLE_PLACEHOLDER, Column

BIG = "ab" * 6000


def _table(ident="d"):
    cols = [Column("id", "int8"), Column("n", "int4"), Column("big", "text"), Column("blob", "bytea")]
    return Table("s", "toasty", cols, ["id"], ident)


def _event(op, before, after, txid):
    return json.dumps({"op": op, "before": before, "after": after,
                       "source": {"txId": txid, "lsn": txid, "ts_ms": 1000}}).encode()


def _replay_default_identity():
    rp = TableReplay(_table())
    blob = base64.b64encode(b"x").decode()
    for i in (1, 2, 3):
        row = {"id": i, "n": 0, "big": BIG, "blob": blob}
        rp.apply(json.dumps({"id": i}).encode(), _event("c", None, row, 10 + i), None, None)
    # rows 1 and 2: only n updated; DEFAULT identity: the before image holds the key only, the after image the
    # placeholder for the unchanged TOASTed text (and, base64-encoded, for the bytea)
    unavailable_b64 = base64.b64encode(UNAVAILABLE_PLACEHOLDER.encode()).decode()
    for i in (1, 2):
        after = {"id": i, "n": 1, "big": UNAVAILABLE_PLACEHOLDER, "blob": unavailable_b64 if i == 1 else blob}
        rp.apply(json.dumps({"id": i}).encode(), _event("u", {"id": i}, after, 20 + i), None, None)
    return rp


def test_the_placeholder_is_not_captured_not_compared_and_counted_per_column():
    rp = _replay_default_identity()
    assert rp.state[(1,)][2] is NOT_CAPTURED and rp.state[(3,)][2] == BIG
    assert rp.placeholders == {"big": 2, "blob": 1} and rp.before_missing == 2 and rp.before_mismatch_count == 0
    pg = {(i,): (i, 1 if i < 3 else 0, BIG, b"x") for i in (1, 2, 3)}
    result = compare(rp, pg)
    assert result["matched"] == 3 and result["different"] == 0
    assert result["not_captured"] == {"big": 2, "blob": 1}


def test_a_real_difference_next_to_a_placeholder_is_still_a_difference():
    rp = _replay_default_identity()
    pg = {(i,): (i, 7, BIG, b"x") for i in (1, 2, 3)}        # n differs everywhere
    result = compare(rp, pg)
    assert result["different"] == 3 and result["matched"] == 0
    # the example names the differing column only, not the one whose value is unknown
    assert [c[0] for c in result["different_examples"][0][1]] == ["n"]
    assert result["not_captured"] == {"big": 2, "blob": 1}


def test_a_full_before_image_after_a_placeholder_is_no_history_gap():
    """After ALTER TABLE ... REPLICA IDENTITY FULL the next UPDATE's before image holds the real value, where the
    replay holds NOT_CAPTURED: unknown is not different."""
    rp = _replay_default_identity()
    blob = base64.b64encode(b"x").decode()
    before = {"id": 2, "n": 1, "big": BIG, "blob": blob}
    rp.apply(json.dumps({"id": 2}).encode(), _event("u", before, dict(before, n=2), 40), None, None)
    assert rp.before_mismatch_count == 0 and rp.state[(2,)][2] == BIG
    assert compare(rp, {(2,): (2, 2, BIG, b"x")})["not_captured"] == {}


def test_report_and_verdict_name_the_column_and_stay_ok():
    rp = _replay_default_identity()
    t = rp.table
    pg = {(i,): (i, 1 if i < 3 else 0, BIG, b"x") for i in (1, 2, 3)}
    args = SimpleNamespace(examples=5, require_full_before_images=False, cut="end", idle=5.0, schema="s",
                           topic_prefix="p", bootstrap_servers="k:9092")
    result = build_result(args, None, [t], {"p.s.toasty": rp}, {"toasty": pg}, {"toasty": "p.s.toasty"},
                          {"p.s.toasty": [0]}, SimpleNamespace(timestamp_types=set()),
                          SimpleNamespace(records=5), 0, None, 1.0)
    assert result["ok"]
    assert "toasty.big: value not captured (TOAST, replica identity DEFAULT) in 2 rows" in result["verdict"]
    assert result["tables"][0]["not_captured"] == {"big": 2, "blob": 1}
    out = io.StringIO()
    report.render(result, out)
    text = out.getvalue()
    assert "toasty.blob: value not captured (TOAST, replica identity DEFAULT) in 1 row\n" in text
    assert "RESULT: OK" in text
