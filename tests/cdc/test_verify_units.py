"""verify's decoding of Debezium encodings and its snapshot arithmetic, without a stack."""
import base64
import datetime as dt
import json
from decimal import Decimal

from thelook_datagen.verify.database import Snapshot, Table, int_to_lsn, lsn_to_int
from thelook_datagen.verify.replay import TableReplay, compare
from thelook_datagen.verify.values import Column, parse_iso_instant

UTC = dt.timezone.utc


def test_timestamptz_iso_strings_compare_as_instants_at_microseconds():
    col = Column("created_at", "timestamptz")
    pg = dt.datetime(2026, 11, 27, 15, 43, 33, 123456, tzinfo=UTC)
    for text in ("2026-11-27T15:43:33.123456Z", "2026-11-27T16:43:33.123456+01:00", "2026-11-27T15:43:33.1234560Z"):
        assert col.from_kafka(text) == col.from_pg(pg), text
    assert col.from_kafka("2026-11-27T15:43:33.12Z") == col.from_pg(pg.replace(microsecond=120000))
    assert col.from_kafka("2026-11-27T15:43:33Z") != col.from_pg(pg)
    assert parse_iso_instant("1970-01-01T00:00:00.000001Z") == 1


def test_numbers_dates_and_bytes():
    assert Column("x", "float8").from_kafka(0.1 + 0.2) == Column("x", "float8").from_pg(0.30000000000000004)
    assert Column("x", "float4").from_kafka(1.1) == Column("x", "float4").from_pg(1.1)
    assert Column("x", "int8").from_kafka(2 ** 62) == 2 ** 62
    assert Column("x", "numeric", scale=2).from_kafka("12.30") == Decimal("12.3")
    raw = base64.b64encode((1230).to_bytes(2, "big", signed=True)).decode()
    assert Column("x", "numeric", scale=2).from_kafka(raw) == Decimal("12.30")
    assert Column("x", "numeric").from_kafka({"scale": 1, "value": base64.b64encode(b"\x7b").decode()}) == Decimal("12.3")
    assert Column("d", "date").from_kafka(20784) == Column("d", "date").from_pg(dt.date(2026, 11, 27))
    ts = Column("t", "timestamp", precision=6)
    assert ts.from_kafka(1_000_001) == ts.from_pg(dt.datetime(1970, 1, 1, 0, 0, 1, 1))
    assert Column("t", "timestamp", precision=3).from_kafka(1001) == ts.from_pg(dt.datetime(1970, 1, 1, 0, 0, 1, 1000))
    assert Column("b", "bytea").from_kafka(base64.b64encode(b"\x00\xff").decode()) == Column("b", "bytea").from_pg(memoryview(b"\x00\xff"))
    assert Column("j", "jsonb").from_kafka('{"b":1,"a":[1,2]}') == Column("j", "jsonb").from_pg({"a": [1, 2], "b": 1})
    assert Column("n", "text").from_kafka(None) is None


def test_snapshot_visibility_with_32_bit_debezium_txids():
    snap = Snapshot("4294967390:4294967400:4294967395")  # epoch 1: xmin 94, xmax 104, 99 in progress
    assert snap.visible(90)          # below xmin: committed before the snapshot
    assert snap.visible(96)          # between xmin and xmax, not in progress
    assert not snap.visible(99)      # in progress at snapshot time
    assert not snap.visible(104)     # started after the snapshot
    assert Snapshot("1745:1745:").visible(1744) and not Snapshot("1745:1745:").visible(1745)
    assert lsn_to_int("1/A0") == (1 << 32) + 0xA0 and int_to_lsn(lsn_to_int("16/B374D848")) == "16/B374D848"


def _table():
    cols = [Column("id", "int8"), Column("status", "text"), Column("ts", "timestamptz")]
    return Table("demo", "orders", cols, ["id"], "f")


def _event(op, before, after, txid, lsn):
    return json.dumps({"op": op, "before": before, "after": after,
                       "source": {"txId": txid, "lsn": lsn, "ts_ms": 1000}}).encode()


def test_replay_applies_ops_skips_later_transactions_and_tolerates_redelivery():
    snap = Snapshot("100:100:")
    rp = TableReplay(_table(), snap)
    a = {"id": 1, "status": "Processing", "ts": "2026-01-01T00:00:00Z"}
    b = dict(a, status="Shipped")
    c = dict(a, status="Complete")
    key = json.dumps({"id": 1}).encode()
    stream = [_event("c", None, a, 90, 10), _event("u", a, b, 91, 20),
              _event("u", a, b, 91, 20),                # redelivered after a crash
              _event("u", b, c, 120, 30),               # committed after the snapshot: not compared
              _event("d", c, None, 121, 40), None]      # delete + tombstone, after the snapshot too
    for v in stream:
        rp.apply(key, v, 1050, None)
    assert rp.ops == {"c": 1, "u": 2} and rp.duplicates == 1 and rp.after_cut == 2 and rp.tombstones == 1
    pg = {(1,): (1, "Shipped", parse_iso_instant("2026-01-01T00:00:00Z"))}
    assert compare(rp, pg)["matched"] == 1
    assert rp.before_mismatch_count == 0 and rp.latencies == [50, 50, 50, 50, 50]


def test_replay_flags_a_gap_in_a_rows_history_and_differences():
    rp = TableReplay(_table())
    a = {"id": 1, "status": "Processing", "ts": "2026-01-01T00:00:00Z"}
    b = dict(a, status="Shipped")
    c = dict(a, status="Complete")
    key = json.dumps({"id": 1}).encode()
    rp.apply(key, _event("c", None, a, 1, 1), None, None)
    rp.apply(key, _event("u", b, c, 3, 3), None, None)  # the update a -> b never arrived
    assert rp.before_mismatch_count == 1
    result = compare(rp, {(1,): (1, "Returned", parse_iso_instant("2026-01-01T00:00:00Z")), (2,): (2, "x", None)})
    assert result["different"] == 1 and result["missing"] == 1 and result["different_examples"][0][1][0][0] == "status"


def test_a_second_snapshot_is_counted_and_cannot_express_deletes():
    rp = TableReplay(_table())
    a = {"id": 1, "status": "Processing", "ts": "2026-01-01T00:00:00Z"}
    b = {"id": 2, "status": "Processing", "ts": "2026-01-01T00:00:00Z"}
    for key_id, image, lsn in ((1, a, 100), (2, b, 100), (2, b, 500)):  # row 1 deleted between the snapshots,
        rp.apply(json.dumps({"id": key_id}).encode(), _event("r", None, image, 7, lsn), None, None)  # its DELETE lost
    assert len(rp.snapshot_lsns) == 2
    assert compare(rp, {(2,): (2, "Processing", parse_iso_instant("2026-01-01T00:00:00Z"))})["extra"] == 1


def test_incremental_snapshot_reads_interleaved_with_streaming_are_upserts_not_another_snapshot():
    """An execute-snapshot signal's reads (op r, source.snapshot 'incremental', no LSN, no txId, as Debezium
    3.6 sends them) arrive between streamed changes: each is the row's value when its chunk was read."""
    def read(image):
        return json.dumps({"op": "r", "before": None, "after": image,
                           "source": {"snapshot": "incremental", "txId": None, "lsn": None, "ts_ms": 2000}}).encode()

    rp = TableReplay(_table(), Snapshot("100:100:"))
    a = {"id": 1, "status": "Processing", "ts": "2026-01-01T00:00:00Z"}
    b = dict(a, status="Shipped")
    c = {"id": 2, "status": "Complete", "ts": "2026-01-01T00:00:00Z"}
    k1, k2 = json.dumps({"id": 1}).encode(), json.dumps({"id": 2}).encode()
    rp.apply(k1, _event("r", None, a, 7, 100), None, None)      # the initial snapshot
    rp.apply(k2, _event("r", None, c, 7, 100), None, None)
    rp.apply(k1, _event("u", a, b, 90, 200), 1050, None)         # streaming
    rp.apply(k1, read(b), 2100, None)                            # the incremental snapshot re-reads both rows
    rp.apply(k2, read(c), 2100, None)
    rp.apply(k1, _event("u", b, dict(b, status="Complete"), 95, 300), 1050, None)  # streaming goes on
    assert rp.incremental_reads == 2 and len(rp.snapshot_lsns) == 1, "one snapshot run, two incremental reads"
    assert rp.ops == {"r": 4, "u": 2} and rp.duplicates == 0 and rp.before_mismatch_count == 0
    ts = parse_iso_instant("2026-01-01T00:00:00Z")
    result = compare(rp, {(1,): (1, "Complete", ts), (2,): (2, "Complete", ts)})
    assert result["matched"] == 2 and result["extra"] == result["missing"] == result["different"] == 0
