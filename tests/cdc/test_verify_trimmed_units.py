"""verify on topics that retention trimmed or that the broker compacts (fast, no stack).

A trimmed topic (cleanup.policy delete: its oldest segments deleted) no longer holds the events of rows
that last changed before its first offset: such a row is absent from the replay although nothing was
lost. verify must say so (one line per topic) and count those rows as not checkable, never as missing,
while extra and different rows stay differences. A compacted topic keeps each key's newest event: rows
are still checked, but a before-image may differ from the event the cleaner left before it."""
import io
import json
from types import SimpleNamespace

from thelook_datagen.verify import report
from thelook_datagen.verify.cli import build_result, note_trimmed_and_compacted
from thelook_datagen.verify.database import Table
from thelook_datagen.verify.kafka_reader import TopicReader
from thelook_datagen.verify.replay import TableReplay, compare
from thelook_datagen.verify.values import Column, parse_iso_instant

TS = "2026-01-01T00:00:00Z"
TOPIC = "p.s.orders"


def _table():
    return Table("s", "orders", [Column("id", "int8"), Column("status", "text"), Column("ts", "timestamptz")],
                 ["id"], "f")


def _event(op, before, after, txid):
    return json.dumps({"op": op, "before": before, "after": after,
                       "source": {"txId": txid, "lsn": txid, "ts_ms": 1000}}).encode()


def _row(i, status):
    return {"id": i, "status": status, "ts": TS}


def _pg(*rows):
    return {(i,): (i, status, parse_iso_instant(TS)) for i, status in rows}


class _Msg:
    def __init__(self, topic, partition, offset, ts):
        self._t, self._p, self._o, self._ts = topic, partition, offset, ts

    def error(self):
        return None

    def topic(self):
        return self._t

    def partition(self):
        return self._p

    def offset(self):
        return self._o

    def timestamp(self):
        return (1, self._ts)


class _Consumer:
    """Hands out given records once (the reader's bookkeeping is what is tested, not Kafka)."""
    def __init__(self, msgs):
        self.msgs = msgs

    def assign(self, tps):
        pass

    def consume(self, num_messages, timeout):
        msgs, self.msgs = self.msgs, []
        return msgs


def _trimmed_replay():
    """Rows 1-3 were created, row 2 updated; retention deleted the creates of rows 1 and 2: the topic starts
    with row 2's update (offset 2) and row 3's create."""
    rp = TableReplay(_table())
    rp.apply(json.dumps({"id": 2}).encode(), _event("u", _row(2, "Processing"), _row(2, "Shipped"), 12), 1700, None)
    rp.apply(json.dumps({"id": 3}).encode(), _event("c", None, _row(3, "Processing"), 13), 1800, None)
    return rp


def test_the_reader_notes_where_a_trimmed_partition_starts():
    reader = TopicReader(_Consumer([_Msg(TOPIC, 0, 2, 1700), _Msg(TOPIC, 0, 3, 1800),
                                    _Msg("p.s.users", 0, 0, 1500)]), {TOPIC: [0], "p.s.users": [0]})
    reader.poll(lambda msg: None)
    reader.high = {(TOPIC, 0): 4, ("p.s.users", 0): 1, ("p.s.events", 0): 9}
    # orders starts at 2; users at 0 (whole); events was trimmed of everything (no record, end offset 9)
    assert reader.trimmed() == {(TOPIC, 0): (2, 1700), ("p.s.events", 0): (9, None)}


def test_rows_older_than_a_trimmed_topic_are_not_checkable_not_missing():
    rp = _trimmed_replay()
    pg = _pg((1, "Processing"), (2, "Shipped"), (3, "Processing"))
    assert compare(rp, pg)["missing"] == 1, "untrimmed, the absent row is a difference"
    rp.trimmed = {0: (2, 1700)}
    result = compare(rp, pg)
    assert (result["missing"], result["not_checkable"], result["matched"]) == (0, 1, 2)


def test_on_a_trimmed_topic_extra_and_different_rows_stay_differences():
    rp = _trimmed_replay()
    rp.trimmed = {0: (2, 1700)}
    result = compare(rp, _pg((2, "Complete")))       # row 2 differs; row 3 is not in PostgreSQL
    assert result["different"] == 1 and result["extra"] == 1 and result["not_checkable"] == 0


def _result(rp, pg, policies=None, reader_trimmed=None):
    reader = SimpleNamespace(trimmed=lambda: reader_trimmed or {}, records=2)
    note_trimmed_and_compacted({TOPIC: rp}, reader, policies or {})
    args = SimpleNamespace(examples=5, require_full_before_images=False, cut="end", idle=5.0, schema="s",
                           topic_prefix="p", bootstrap_servers="k:9092")
    return build_result(args, None, [rp.table], {TOPIC: rp}, {"orders": pg}, {"orders": TOPIC}, {TOPIC: [0]},
                        SimpleNamespace(timestamp_types={1}), reader, 0, None, 1.0)


def test_the_report_says_in_one_line_what_a_trimmed_topic_cannot_prove():
    result = _result(_trimmed_replay(), _pg((1, "Processing"), (2, "Shipped"), (3, "Processing")),
                     reader_trimmed={(TOPIC, 0): (2, 1700)})
    assert result["ok"], result["verdict"]
    assert result["verdict"].startswith("OK: all 2 checkable rows of 1 tables")
    assert "(1 rows not checkable: their changes were trimmed from p.s.orders by retention" in result["verdict"]
    assert result["tables"][0]["trimmed"] == {"first_offsets": {"0": 2}, "since_ms": 1700,
                                              "since": "1970-01-01T00:00:01.700Z"}
    out = io.StringIO()
    report.render(result, out)
    notes = [ln for ln in out.getvalue().splitlines() if ln.startswith("note: topic p.s.orders")]
    assert notes == ["note: topic p.s.orders was trimmed by retention: its first offset is 2, its oldest event is "
                     "from 1970-01-01T00:00:01.700Z; rows whose last change is older cannot be checked: 1 rows of "
                     "orders are not in the replay (not counted as missing), and its op counts cover only the "
                     "events it still holds"]


def test_an_untrimmed_topic_reports_as_before():
    rp = _trimmed_replay()
    result = _result(rp, _pg((2, "Shipped"), (3, "Processing")))
    assert result["ok"] and result["verdict"].startswith("OK: all 2 rows of 1 tables")
    assert result["tables"][0]["trimmed"] == {} and "note: topic" not in _rendered(result)


def test_a_compacted_topic_checks_rows_but_not_history():
    rp = TableReplay(_table())
    key = json.dumps({"id": 1}).encode()
    # the cleaner kept row 1's create and its last update; the updates between are gone
    rp.apply(key, _event("c", None, _row(1, "Processing"), 10), 1000, None)
    rp.apply(key, _event("u", _row(1, "Complete"), _row(1, "Returned"), 14), 1000, None)
    assert rp.before_mismatch_count == 1
    uncompacted = _result(rp, _pg((1, "Returned")))
    assert not uncompacted["ok"], "on a topic that keeps every event, that gap is a lost change"
    rp = TableReplay(_table())
    rp.apply(key, _event("c", None, _row(1, "Processing"), 10), 1000, None)
    rp.apply(key, _event("u", _row(1, "Complete"), _row(1, "Returned"), 14), 1000, None)
    result = _result(rp, _pg((1, "Returned")), policies={TOPIC: "compact"})
    assert result["ok"] and result["tables"][0]["compacted"]
    assert "note: topic p.s.orders is compacted: it keeps each key's newest event" in _rendered(result)
    assert not _result(TableReplay(_table()), _pg((1, "Returned")), policies={TOPIC: "compact"})["ok"], \
        "a row a compacted topic lacks is still missing: compaction keeps every live key's newest event"


def _rendered(result):
    out = io.StringIO()
    report.render(result, out)
    return out.getvalue()
