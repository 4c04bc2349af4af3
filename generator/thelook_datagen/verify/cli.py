"""`thelook-datagen verify`: replay the CDC topics and compare them with PostgreSQL.

Exit status: 0 when every compared row is equal, 1 when any row is missing, extra or different
(or a change is missing from a row's history), 2 when the check could not be made.
"""
from __future__ import annotations

import json
import sys
import time

from .. import options
from ..console import EXIT_CANNOT_RUN, EXIT_OK, EXIT_WRONG, print_error
from ..errors import UserError
from ..tables import TABLES, HEARTBEAT, topic_name
from . import database, kafka_reader, report
from .database import DatabaseError, int_to_lsn
from .replay import TableReplay, compare, unwrap

LATENCY_EXCLUDED = {HEARTBEAT}  # written by the connector itself, not by the workload
TOOL = "thelook-datagen verify"


class Stream:
    """Dispatches records to the table replays and tracks how far the connector has got."""

    def __init__(self, replays_by_topic, marker_topics):
        self.replays = replays_by_topic
        self.marker_topics = marker_topics
        self.max_lsn = -1
        self.last_commit_ms = None
        self.timestamp_types = set()

    def handle(self, msg):
        ts_type, ts = msg.timestamp()
        self.timestamp_types.add(ts_type)
        replay = self.replays.get(msg.topic())
        if replay is not None:
            lsn = replay.apply(msg.key(), msg.value(), ts if ts_type else None, None)
        else:
            lsn = self._lsn_only(msg.value())
        if lsn is not None and lsn > self.max_lsn:
            self.max_lsn = lsn

    def _lsn_only(self, value):
        if value is None:
            return None
        try:
            event = unwrap(json.loads(value))
            if event.get("op") in ("c", "u", "d"):
                return (event.get("source") or {}).get("lsn")
        except (ValueError, AttributeError):
            pass
        return None

    def describe_last(self):
        return ("no streamed change read yet" if self.max_lsn < 0
                else f"latest change read at LSN {int_to_lsn(self.max_lsn)}")


class SlotInvalidated(DatabaseError):
    """The connector's slot is invalidated (wal_status lost): the changes PostgreSQL removed with its WAL can
    never reach Kafka through it, so the topics cannot equal the tables: FAILED (exit 1), not "could not
    verify"."""
    exit_status = EXIT_WRONG


def check_slot(conn, slot):
    """Raises SlotInvalidated when `slot` is lost; returns its wal_status otherwise (None: no such slot)."""
    state = database.slot_status(conn, slot)
    if state and state[0] == "lost":
        raise SlotInvalidated(
            f"FAILED: replication slot {slot} is invalidated (wal_status lost" + (f", {state[1]}" if state[1] else "")
            + "): PostgreSQL removed WAL the connector had not read, so changes are missing from Kafka for good",
            "recover with a new slot and snapshot into recreated topics: README.md#recovering-from-an-invalidated-slot")
    return state[0] if state else None


class SlotWatch:
    """The slot's confirmed_flush_lsn, asked for at most twice a second."""

    def __init__(self, conn, slot):
        self.conn, self.slot = conn, slot
        self.value, self.asked = -1, 0.0

    def lsn(self):
        if time.monotonic() - self.asked >= 0.5:
            self.asked = time.monotonic()
            check_slot(self.conn, self.slot)       # invalidated while verify waits: no use waiting on
            found = database.slot_confirmed_lsn(self.conn, self.slot)
            if found is None:
                raise DatabaseError(f"replication slot {self.slot!r} does not exist (any more)",
                                    "pass the connector's slot with {opt:slot}")
            self.value = found
        return self.value

    def describe(self):
        return (f"slot {self.slot} confirmed up to LSN {int_to_lsn(self.value)}" if self.value >= 0
                else f"slot {self.slot}")


def run(args, out=sys.stdout, err=sys.stderr):
    """Verifies with the given VerifySettings; prints the report to `out`. Returns EXIT_OK when
    everything is equal, EXIT_WRONG on any difference; raises UserError when it cannot verify."""
    progress = None if args.quiet else (lambda m: print(f"[verify] {m}", file=err, flush=True))
    conn = database.connect(args.conn_kw)
    try:
        wanted = [t.strip() for t in args.tables.split(",") if t.strip()] if args.tables else None
        names = wanted or database.existing_tables(conn, args.schema, TABLES)
        # tables beyond theLook's (a scenario's own table): described from PostgreSQL's catalog like the others
        extra = [t.strip() for t in (args.extra_tables or "").split(",") if t.strip()]
        names = names + [t for t in extra if t not in names]
        if not names:
            raise DatabaseError(f"no theLook tables in schema {args.schema!r} of database {conn.info.dbname}; "
                                "use {opt:schema} or {opt:tables}")
        tables = database.describe(conn, args.schema, names)
        database.defaulted_columns(conn, tables)
        if args.slot:       # a lost slot fails at once, before Kafka is asked anything, whatever the cut
            check_slot(conn, args.slot)

        consumer = kafka_reader.make_consumer(args.bootstrap_servers, args.kafka_config)
        try:
            topic_of = {t.name: topic_name(args.topic_prefix, args.schema, t.name) for t in tables}
            marker_topic = topic_name(args.topic_prefix, args.schema, HEARTBEAT)
            partitions = kafka_reader.topic_partitions(consumer, list(topic_of.values()) + [marker_topic],
                                                       args.bootstrap_servers, args.kafka_timeout)
            if not any(topic_of[t.name] in partitions for t in tables):
                raise kafka_reader.KafkaError(
                    f"none of the topics {args.topic_prefix}.{args.schema}.<table> exists on {args.bootstrap_servers}",
                    "check {opt:topic_prefix} and {opt:schema}, and that the connector is registered")
            snapshot = lsn = rows = None
            slot = None
            if args.cut == "snapshot":
                slot = args.slot or database.only_slot(conn)
                if not args.slot:
                    check_slot(conn, slot)
                snapshot, lsn, rows = database.read_consistent(conn, tables, progress)
                if progress:
                    progress(f"PostgreSQL read at LSN {int_to_lsn(lsn)} (snapshot {snapshot.text})")
            replays = {topic_of[t.name]: TableReplay(t, snapshot) for t in tables}
            stream = Stream(replays, {marker_topic})
            reader = kafka_reader.TopicReader(consumer, partitions, progress)
            confirmed = SlotWatch(conn, slot) if slot else None
            seconds = reader.read(stream.handle, args.cut, lsn or 0, args.timeout, args.idle,
                                  (lambda: confirmed.lsn() >= lsn) if confirmed else (lambda: True),
                                  confirmed.describe if confirmed else stream.describe_last)
            if args.cut == "end":
                snapshot, lsn, rows = database.read_consistent(conn, tables, progress)
            note_trimmed_and_compacted(replays, reader, kafka_reader.topic_policies(
                args.bootstrap_servers, args.kafka_config, list(replays), args.kafka_timeout))
        finally:
            consumer.close()
    finally:
        conn.close()

    result = build_result(args, slot, tables, replays, rows, topic_of, partitions, stream, reader, lsn, snapshot,
                          seconds)
    report.render(result, out)
    if args.json:
        report.write_json(result, args.json)
    return EXIT_OK if result["ok"] else EXIT_WRONG


def note_trimmed_and_compacted(replays, reader, policies):
    """Tells each table's replay whether its topic was trimmed by retention or is compacted."""
    for (topic, partition), first in reader.trimmed().items():
        if topic in replays:
            replays[topic].trimmed[partition] = first
    for topic, policy in policies.items():
        if topic in replays and "compact" in policy.split(","):
            replays[topic].compacted = True


def build_result(args, slot, tables, replays, rows, topic_of, partitions, stream, reader, lsn, snapshot, seconds):
    results = []
    latencies = []
    totals = {"checked": 0, "missing": 0, "mismatch": 0}
    ok = True
    for t in tables:
        rp = replays[topic_of[t.name]]
        cmp = compare(rp, rows[t.name], args.examples)
        missing_topic = topic_of[t.name] not in partitions
        entry = {
            "table": t.name, "topic": topic_of[t.name], "topic_missing": missing_topic and bool(rows[t.name]),
            "events": sum(rp.ops.values()), "ops": dict(rp.ops), "tombstones": rp.tombstones,
            "duplicates": rp.duplicates, "after_cut": rp.after_cut,
            "replica_identity": {"f": "full", "d": "default", "n": "nothing", "i": "index"}.get(t.replica_identity, t.replica_identity),
            "before_checked": rp.before_checked, "before_missing": rp.before_missing,
            "before_mismatch": rp.before_mismatch_count, "before_mismatch_examples": rp.before_mismatch,
            "undecodable": rp.undecodable, "latency": report.latency_summary(rp.latencies),
            "snapshots": len(rp.snapshot_lsns), "incremental_reads": rp.incremental_reads,
            "placeholder_events": dict(rp.placeholders),
            "trimmed": report.trimmed_summary(rp.trimmed), "compacted": rp.compacted,
            **cmp,
        }
        if rp.compacted:
            # a compacted topic keeps a key's newest event, not its history: an UPDATE whose before-image differs
            # from the previous event the topic still holds is a gap the cleaner made, not a lost change
            entry["before_mismatch_on_compacted"] = rp.before_mismatch_count
        results.append(entry)
        if t.name not in LATENCY_EXCLUDED:
            latencies.extend(rp.latencies)
        totals["checked"] += rp.before_checked
        totals["missing"] += rp.before_missing
        totals["mismatch"] += rp.before_mismatch_count
        history_gaps = 0 if rp.compacted else rp.before_mismatch_count
        bad = (cmp["missing"] or cmp["extra"] or cmp["different"] or history_gaps
               or rp.undecodable or entry["topic_missing"]
               or (args.require_full_before_images and rp.before_missing))
        ok = ok and not bad
    n_events = sum(r["events"] for r in results)
    n_rows = sum(r["rows_postgres"] for r in results)
    n_unknown = sum(r["not_checkable"] for r in results)
    if args.cut == "snapshot":
        cut = (f"PostgreSQL snapshot {snapshot.text} at LSN {int_to_lsn(lsn)}; Kafka read once slot {slot} "
               f"had confirmed it ({seconds:.1f} s, {reader.records} records)")
    else:
        cut = (f"Kafka read to its end until idle for {args.idle:g} s ({seconds:.1f} s, {reader.records} records), "
               f"then PostgreSQL at LSN {int_to_lsn(lsn)}")
    types = {1: "create-time", 2: "log-append-time"}
    verdict = (f"OK: all {n_rows - n_unknown} {'checkable ' if n_unknown else ''}rows of {len(results)} tables "
               f"in PostgreSQL equal their replay from {n_events} change events in Kafka" if ok else
               "DIFFERENCES: the change topics do not replay to the rows in PostgreSQL (see above)")
    verdict += report.trimmed_verdict(results)
    not_captured = report.not_captured_lines(results)
    if not_captured and ok:
        verdict += " (in every captured value; " + "; ".join(not_captured) + ")"
    verdict += report.late_columns_verdict(results)
    return {
        "ok": ok, "verdict": verdict,
        "source": f"PostgreSQL schema {args.schema} vs Kafka topics {args.topic_prefix}.{args.schema}.* "
                  f"on {args.bootstrap_servers}",
        "cut": args.cut, "cut_description": cut, "cut_lsn": int_to_lsn(lsn) if lsn is not None else None,
        "seconds_waited": round(seconds, 3), "records_read": reader.records,
        "events": n_events, "rows": n_rows,
        "timestamp_type": "/".join(types.get(t, str(t)) for t in sorted(stream.timestamp_types) if t) or "none",
        "tables": results, "latency": report.latency_summary(latencies),
        "before_images": totals,
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return run(options.parse_verify_settings(argv))
    except UserError as err:
        print_error(TOOL, err, options.VERIFY.flags())
        return getattr(err, "exit_status", EXIT_CANNOT_RUN)
    except KeyboardInterrupt:
        print_error(TOOL, "interrupted")
        return EXIT_CANNOT_RUN


if __name__ == "__main__":
    sys.exit(main())
