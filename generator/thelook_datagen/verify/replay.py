"""Replays Debezium change events per table by primary key and compares the result with PostgreSQL.

Debezium delivers at least once: after a crash, a run of events can arrive again. Events of one
key stay in order within their partition, so re-applying a repeated run in order ends in the same
state; repeats are counted (duplicates), not reported as errors.

Incremental snapshots (an execute-snapshot signal) interleave read events (op r, source.snapshot
"incremental", no LSN or txId) with the streamed changes. Each is the row's committed value when its
chunk was read, and Debezium drops from the chunk every key that changed while the chunk's window was
open, so in topic order it is a correct upsert: it is replayed like any read and counted apart
(`incremental_reads`), not as another snapshot run. (Run verify after such a snapshot has completed:
with the snapshot cut, a chunk read after verify's PostgreSQL snapshot carries no txId to leave it out.)
"""
from __future__ import annotations

import json
from collections import Counter

from .values import NOT_CAPTURED, is_placeholder, show

OPS = ("r", "c", "u", "d", "t")


def unwrap(obj):
    """Strips the {schema, payload} envelope of a JsonConverter with schemas.enable=true."""
    if isinstance(obj, dict) and "payload" in obj and "schema" in obj:
        return obj["payload"]
    return obj


class TableReplay:
    def __init__(self, table, snapshot=None):
        self.table = table
        self.snapshot = snapshot  # None: every event counts (cut 'end')
        self.state = {}
        self.ops = Counter()
        self.tombstones = 0
        self.duplicates = 0
        self.after_cut = 0
        self.seen = set()
        self.before_checked = 0
        self.before_missing = 0       # UPDATE/DELETE without a full before-image
        self.before_mismatch = []     # before-image differs from the replayed previous state: a lost or wrong change
        self.before_mismatch_count = 0
        self.latencies = []           # ms from commit (source.ts_ms) to the Kafka record timestamp
        self.first_ts = None
        self.last_ts = None
        self.undecodable = []
        self.placeholders = Counter()  # column -> events whose after image carried the unavailable-value placeholder
        self.snapshot_lsns = set()    # one LSN per snapshot run of the connector
        self.incremental_reads = 0    # read events of incremental snapshots (execute-snapshot signals)
        names = [c.name for c in table.columns]
        self._names = names
        self._key_names = table.key
        self._convs = [c.from_kafka for c in table.columns]
        self._key_convs = [c.from_kafka for c in table.key_columns]
        # columns added to the table while it was captured (schema-change): older events lack their field
        self._name_keys = frozenset(names)
        self.absent = {}              # key -> names of columns absent from the image its state came from
        self.late = {}                # column -> newest source.ts_ms of an event without its field
        self.first_with = {}          # such a column -> oldest source.ts_ms of an event carrying it
        # set once the topic is read: {partition: (first offset, its timestamp ms)} when retention trimmed it,
        # and whether the broker compacts it (cleanup.policy compact)
        self.trimmed = {}
        self.compacted = False

    def _row(self, image):
        return tuple(f(image.get(n)) for f, n in zip(self._convs, self._names))

    def _after_row(self, image, count=True):
        """The row of an image; a column holding Debezium's unavailable-value placeholder (an unchanged
        TOASTed value the replica identity did not log) becomes NOT_CAPTURED, counted per column."""
        row = []
        for f, n in zip(self._convs, self._names):
            raw = image.get(n)
            if is_placeholder(raw):
                if count:
                    self.placeholders[n] += 1
                row.append(NOT_CAPTURED)
            else:
                row.append(f(raw))
        return tuple(row)

    def _key(self, key_obj, image):
        src = key_obj if isinstance(key_obj, dict) and key_obj else image
        return tuple(f(src.get(n)) for f, n in zip(self._key_convs, self._key_names))

    def apply(self, key_bytes, value_bytes, timestamp_ms, lsn_marker):
        """Applies one Kafka record. Returns the event's LSN if it is a streamed change, else None."""
        if value_bytes is None:
            self.tombstones += 1
            return None
        try:
            value = unwrap(json.loads(value_bytes))
            key_obj = unwrap(json.loads(key_bytes)) if key_bytes else None
        except ValueError as err:
            if len(self.undecodable) < 3:
                self.undecodable.append(f"not JSON: {err}")
            return None
        if not isinstance(value, dict) or "op" not in value:
            if len(self.undecodable) < 3:
                self.undecodable.append("not a Debezium change event (no 'op'); is an SMT unwrapping events?")
            return None
        op = value["op"]
        source = value.get("source") or {}
        lsn = source.get("lsn")
        txid = source.get("txId")
        streamed = op != "r"
        incremental = not streamed and source.get("snapshot") == "incremental"
        if incremental:
            self.incremental_reads += 1
        elif not streamed and lsn is not None:
            self.snapshot_lsns.add(lsn)
        if streamed and op in ("c", "u", "d") and timestamp_ms is not None and source.get("ts_ms") is not None:
            self.latencies.append(timestamp_ms - source["ts_ms"])
            self.first_ts = source["ts_ms"] if self.first_ts is None else min(self.first_ts, source["ts_ms"])
            self.last_ts = source["ts_ms"] if self.last_ts is None else max(self.last_ts, source["ts_ms"])
        if op == "t":
            if self._in_cut(op, txid):
                self.ops[op] += 1
                self.state.clear()
            return lsn if streamed else None
        before, after = value.get("before"), value.get("after")
        image = after if op != "d" else before
        if image is None:
            if len(self.undecodable) < 3:
                self.undecodable.append(f"op {op} event without {'after' if op != 'd' else 'before'} image")
            return None
        try:
            key = self._key(key_obj, image)
        except (TypeError, ValueError, AttributeError) as err:
            if len(self.undecodable) < 3:
                self.undecodable.append(f"undecodable key: {err}")
            return None
        if not self._in_cut(op, txid):
            self.after_cut += 1
            return lsn if streamed else None
        fingerprint = hash((op, lsn, txid, key))
        duplicate = fingerprint in self.seen
        if duplicate:
            self.duplicates += 1
        else:
            self.seen.add(fingerprint)
        self.ops[op] += 1
        try:
            # the usual event carries every column; only one without some field takes the slow path
            gone = None if image.keys() >= self._name_keys else self._lacking(image, source.get("ts_ms"))
            if self.late:
                self._carrying(image, source.get("ts_ms"))
            if op in ("u", "d"):
                self._check_before(key, before, duplicate, after)
            if op == "d":
                self.state.pop(key, None)
                self.absent.pop(key, None)
            else:
                self.state[key] = self._after_row(after)
                if gone:
                    self.absent[key] = gone
                elif self.absent:
                    self.absent.pop(key, None)
        except (TypeError, ValueError, AttributeError) as err:
            if len(self.undecodable) < 3:
                self.undecodable.append(f"undecodable value in {op} event for key {key}: {err}")
        return lsn if streamed else None

    def _in_cut(self, op, txid):
        if self.snapshot is None or op == "r" or txid is None:
            return True
        return self.snapshot.visible(int(txid))

    def _lacking(self, image, ts):
        """The columns whose field `image` lacks (added to the table after the event was written), noted."""
        gone = frozenset(n for n in self._names if n not in image)
        for n in gone:
            if n not in self.late or (ts is not None and (self.late[n] is None or ts > self.late[n])):
                self.late[n] = ts
        return gone

    def _carrying(self, image, ts):
        for n in self.late:
            if ts is not None and n in image and (n not in self.first_with or ts < self.first_with[n]):
                self.first_with[n] = ts

    def _predates(self, name, before, after):
        """A field absent from a before-image because the event predates the column (its after-image, if
        any, lacks it too), not because the before-image is partial."""
        return name in self.late and (after is None or name not in after)

    def _check_before(self, key, before, duplicate, after=None):
        self.before_checked += 1
        if before is None or any(n not in before and not self._predates(n, before, after) for n in self._names):
            self.before_missing += 1
            return
        previous = self.state.get(key)
        if duplicate or previous is None:
            return
        row = self._after_row(before, count=False)
        # a value not captured on either side is unknown, not different
        differing = [i for i, (a, b) in enumerate(zip(row, previous))
                     if a != b and a is not NOT_CAPTURED and b is not NOT_CAPTURED]
        if differing and (key in self.absent or self.late):
            # a column the previous state's event lacked (or this one's) is not part of the row's history
            skip = self.absent.get(key, frozenset()) | {n for n in self.late if n not in before}
            if all(self._names[i] in skip for i in differing):
                return
        if differing:
            self.before_mismatch_count += 1
            if len(self.before_mismatch) < 5:
                cols = [self.table.columns[i] for i, (a, b) in enumerate(zip(row, previous))
                        if a != b and a is not NOT_CAPTURED and b is not NOT_CAPTURED]
                self.before_mismatch.append(
                    (key, [(c.name, show(c, row[self.table.columns.index(c)]),
                            show(c, previous[self.table.columns.index(c)])) for c in cols]))


def compare(replay, pg_rows, examples=5):
    """Rows matched, missing from Kafka, extra in Kafka, different; with a few examples of each.

    On a topic trimmed by retention (replay.trimmed) a row of PostgreSQL that the replay lacks is not
    evidence of a lost change: its events may be among those deleted. It is counted as `not_checkable`,
    not as missing. Extra and different rows are still differences: trimming removes a row's older
    events, never its newest one while newer events of the topic are kept."""
    state = replay.state
    table = replay.table
    matched = 0
    missing, extra, different = [], [], []
    n_missing = n_extra = n_different = n_unknown = 0
    trimmed = bool(replay.trimmed)
    not_captured = Counter()    # column -> rows whose replayed value is NOT_CAPTURED: unknown, so not compared
    absent = replay.absent
    late = LateColumns(replay)
    for key, row in pg_rows.items():
        got = state.get(key)
        if got is None and trimmed:
            n_unknown += 1
        elif got is None:
            n_missing += 1
            if len(missing) < examples:
                missing.append(key)
        elif got == row:
            matched += 1
            if absent and key in absent:
                late.count_null(absent[key])
        elif absent and key in absent and late.unstreamed(absent[key], got, row):
            matched += 1
        else:
            unknown = [i for i, v in enumerate(got) if v is NOT_CAPTURED]
            for i in unknown:
                not_captured[table.columns[i].name] += 1
            differing = [i for i, c in enumerate(table.columns) if got[i] != row[i] and got[i] is not NOT_CAPTURED]
            if not differing:
                matched += 1        # equal in every column the topic holds a value of
                continue
            n_different += 1
            if len(different) < examples:
                cols = [(table.columns[i].name, show(table.columns[i], got[i]), show(table.columns[i], row[i]))
                        for i in differing]
                different.append((key, cols))
    for key in state:
        if key not in pg_rows:
            n_extra += 1
            if len(extra) < examples:
                extra.append(key)
    return {
        "rows_postgres": len(pg_rows), "rows_kafka": len(state), "matched": matched,
        "missing": n_missing, "extra": n_extra, "different": n_different, "not_checkable": n_unknown,
        "missing_examples": missing, "extra_examples": extra, "different_examples": different,
        "not_captured": dict(not_captured),
        **late.summary(),
    }


class LateColumns:
    """Columns added to a table while it was captured, in the comparison (schema-change). A row whose state
    comes from an event older than the column lacks its field: PostgreSQL wrote no change for the row when
    the column was added. Added without a default (or NULL), the row holds NULL there, and so does the
    replay: equal, counted in `absent_as_null`. Added with a DEFAULT, PostgreSQL shows the default for the
    row without having written WAL for it (pg_attribute.atthasmissing, or a table rewrite): that value was
    never in the change stream, so it is counted in `not_in_stream` per column (with the commit time of
    the first event that carried the column) rather than as a difference. A column without a default
    whose value differs stays a difference: then a change was lost."""

    def __init__(self, replay):
        self.replay = replay
        self.columns = replay.table.columns
        self.defaulted = getattr(replay.table, "defaulted", frozenset())
        self.nulls = Counter()
        self.unstreamed_rows = Counter()

    def count_null(self, names):
        for n in names:
            self.nulls[n] += 1

    def unstreamed(self, names, got, row):
        """Whether the row differs only in columns absent from its event that have a default; counted."""
        differing = {c.name for c, a, b in zip(self.columns, got, row) if a != b}
        if not differing <= (names & self.defaulted):
            return False
        for n in differing:
            self.unstreamed_rows[n] += 1
        self.count_null(names - differing)
        return True

    def summary(self):
        if not self.nulls and not self.unstreamed_rows:
            return {}
        r = self.replay
        out = {}
        for n, rows in sorted(self.unstreamed_rows.items()):
            since = r.first_with.get(n)
            if since is None and r.late.get(n) is not None:
                since = r.late[n] + 1           # no event carries it yet: after the newest one without it
            out[n] = {"rows": rows, "before_ms": since, "before": iso_ms(since)}
        return {"absent_as_null": dict(sorted(self.nulls.items())), "not_in_stream": out}


def iso_ms(ms):
    """Epoch milliseconds as ISO-8601 UTC, or None."""
    import datetime as dt
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")
