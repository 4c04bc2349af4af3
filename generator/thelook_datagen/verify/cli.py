"""`thelook-datagen verify`: replay the CDC topics and compare them with PostgreSQL.

Exit status: 0 when every compared row is equal, 1 when any row is missing, extra or different
(or a change is missing from a row's history), 2 when the check could not be made.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import database, kafka_reader, report
from .database import DatabaseError, int_to_lsn
from .kafka_reader import KafkaError
from .replay import TableReplay, compare, unwrap

THELOOK_TABLES = ("distribution_centers", "products", "users", "orders", "inventory_items",
                  "order_items", "events", "heartbeat")
LATENCY_EXCLUDED = {"heartbeat"}  # written by the connector itself, not by the workload

DESCRIPTION = """\
Reads the Debezium change topics PREFIX.SCHEMA.TABLE from the beginning, replays the events per
table by primary key (snapshot reads r, creates c, updates u, deletes d, tombstones), and compares
the result, column by column, with the rows in PostgreSQL. Prints per table the events by op, the
rows matched, missing, extra and different (with examples), checks that each UPDATE/DELETE
before-image equals the row's previous state (a gap there means a lost change), and reports
commit-to-Kafka latency (p50/p95/p99/max, from each change's source.ts_ms to its Kafka record
timestamp; both clocks must agree, as on one machine).

Which moment is compared (--cut):
  snapshot (default)  Writers may keep running. verify reads all tables in one REPEATABLE READ
                      snapshot and notes the WAL position at that moment, waits until the
                      connector's replication slot confirms that position (Debezium confirms an
                      LSN only after Kafka has acknowledged every change before it; heartbeats or
                      ongoing writes move it along), then reads the topics up to their end offsets
                      and replays only the transactions that snapshot saw. No pause is needed.
                      The slot is --slot, or the only logical slot of the database.
  end                 For pipelines without heartbeats: stop the writers first. verify reads the
                      topics until no new record arrives for --idle seconds, then reads PostgreSQL.

Debezium delivers at least once: events redelivered after a crash are counted as 'dup' and are
harmless. Topics must keep their whole history (no deletion by retention) for the replay to be
complete. Exit status: 0 all equal, 1 differences found, 2 could not verify.

Examples:
  thelook-datagen verify                                   # local stack: eval "$(scripts/stack env)"
  thelook-datagen verify --bootstrap-servers broker:9092 --host db.example --user app --db shop \\
      --schema demo --topic-prefix ecomm
  thelook-datagen verify --kafka-config security.protocol=SASL_SSL --kafka-config sasl.mechanism=PLAIN \\
      --kafka-config sasl.username=KEY --kafka-config sasl.password=SECRET
"""


def parse_args(argv):
    env = os.environ.get
    p = argparse.ArgumentParser(prog="thelook-datagen verify", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    k = p.add_argument_group("Kafka")
    k.add_argument("--bootstrap-servers", default=env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                   help="Kafka bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS; default %(default)s)")
    k.add_argument("--kafka-config", action="append", default=[], metavar="KEY=VALUE",
                   help="any librdkafka client setting, e.g. security.protocol=SASL_SSL (repeatable)")
    k.add_argument("--kafka-timeout", type=float, default=15,
                   help="seconds to wait for the Kafka broker to answer (default %(default)s)")
    k.add_argument("--topic-prefix", default=env("THELOOK_TOPIC_PREFIX", "ecomm"),
                   help="Debezium topic.prefix (env THELOOK_TOPIC_PREFIX; default %(default)s)")
    d = p.add_argument_group("PostgreSQL (unset options fall back to libpq's PG* environment variables)")
    d.add_argument("--host", help="host (env PGHOST)")
    d.add_argument("--port", help="port (env PGPORT)")
    d.add_argument("--user", help="user (env PGUSER)")
    d.add_argument("--password", help="password (env PGPASSWORD; prefer the environment)")
    d.add_argument("--db", "--dbname", dest="db", help="database (env PGDATABASE)")
    d.add_argument("--schema", default=env("THELOOK_SCHEMA", "demo"),
                   help="schema of the captured tables (env THELOOK_SCHEMA; default %(default)s)")
    d.add_argument("--tables", help="comma-separated tables to compare (default: the theLook tables "
                                    "and heartbeat, those that exist)")
    c = p.add_argument_group("cut and limits")
    c.add_argument("--cut", choices=("snapshot", "end"), default="snapshot",
                   help="which moment to compare (see above; default %(default)s)")
    c.add_argument("--slot", default=env("THELOOK_SLOT"),
                   help="the connector's replication slot (env THELOOK_SLOT; default: the database's only "
                        "logical slot)")
    c.add_argument("--timeout", type=float, default=120,
                   help="seconds to wait for the connector to catch up or the topics to go idle (default %(default)s)")
    c.add_argument("--idle", type=float, default=5,
                   help="--cut end: seconds without new records that mean the stream is done (default %(default)s)")
    o = p.add_argument_group("output")
    o.add_argument("--examples", type=int, default=5, help="example keys shown per kind of difference (default %(default)s)")
    o.add_argument("--json", metavar="FILE", help="also write the full report as JSON to FILE")
    o.add_argument("--require-full-before-images", action="store_true",
                   help="fail when an UPDATE or DELETE event has no full before-image (REPLICA IDENTITY FULL)")
    o.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p.parse_args(argv)


def kafka_settings(pairs):
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--kafka-config expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


def pg_params(args):
    return {k: v for k, v in (("host", args.host), ("port", args.port), ("user", args.user),
                              ("password", args.password), ("dbname", args.db)) if v}


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


class SlotWatch:
    """The slot's confirmed_flush_lsn, asked for at most twice a second."""

    def __init__(self, conn, slot):
        self.conn, self.slot = conn, slot
        self.value, self.asked = -1, 0.0

    def lsn(self):
        if time.monotonic() - self.asked >= 0.5:
            self.asked = time.monotonic()
            found = database.slot_confirmed_lsn(self.conn, self.slot)
            if found is None:
                raise DatabaseError(f"replication slot {self.slot!r} does not exist (any more); pass the "
                                    "connector's slot with --slot")
            self.value = found
        return self.value

    def describe(self):
        return (f"slot {self.slot} confirmed up to LSN {int_to_lsn(self.value)}" if self.value >= 0
                else f"slot {self.slot}")


def run(args, out=sys.stdout, err=sys.stderr):
    progress = None if args.quiet else (lambda m: print(f"[verify] {m}", file=err, flush=True))
    extra = kafka_settings(args.kafka_config)
    params = pg_params(args)
    conn = database.connect(params)
    try:
        wanted = [t.strip() for t in args.tables.split(",") if t.strip()] if args.tables else None
        names = wanted or database.existing_tables(conn, args.schema, THELOOK_TABLES)
        if not names:
            raise DatabaseError(f"no theLook tables in schema {args.schema!r} of database {conn.info.dbname}; "
                                "use --schema or --tables")
        tables = database.describe(conn, args.schema, names)

        consumer = kafka_reader.make_consumer(args.bootstrap_servers, extra)
        try:
            topic_of = {t.name: f"{args.topic_prefix}.{args.schema}.{t.name}" for t in tables}
            marker_topic = f"{args.topic_prefix}.{args.schema}.heartbeat"
            partitions = kafka_reader.topic_partitions(consumer, list(topic_of.values()) + [marker_topic],
                                                       args.bootstrap_servers, args.kafka_timeout)
            if not any(topic_of[t.name] in partitions for t in tables):
                raise KafkaError(f"none of the topics {args.topic_prefix}.{args.schema}.<table> exists on "
                                 f"{args.bootstrap_servers}; check --topic-prefix and --schema, and that the "
                                 "connector is registered")
            snapshot = lsn = rows = None
            slot = None
            if args.cut == "snapshot":
                slot = args.slot or database.only_slot(conn)
                snapshot, lsn, rows = database.read_consistent(conn, tables, progress)
                if progress:
                    progress(f"PostgreSQL read at LSN {int_to_lsn(lsn)} (snapshot {snapshot.text})")
            replays = {topic_of[t.name]: TableReplay(t, snapshot) for t in tables}
            stream = Stream(replays, {marker_topic})
            reader = kafka_reader.TopicReader(consumer, partitions, progress)
            confirmed = SlotWatch(conn, slot) if slot else None
            args.slot_used = slot
            seconds = reader.read(stream.handle, args.cut, lsn or 0, args.timeout, args.idle,
                                  (lambda: confirmed.lsn() >= lsn) if confirmed else (lambda: True),
                                  confirmed.describe if confirmed else stream.describe_last)
            if args.cut == "end":
                snapshot, lsn, rows = database.read_consistent(conn, tables, progress)
        finally:
            consumer.close()
    finally:
        conn.close()

    result = build_result(args, tables, replays, rows, topic_of, partitions, stream, reader, lsn, snapshot, seconds)
    report.render(result, out)
    if args.json:
        report.write_json(result, args.json)
    return 0 if result["ok"] else 1


def build_result(args, tables, replays, rows, topic_of, partitions, stream, reader, lsn, snapshot, seconds):
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
            "snapshots": len(rp.snapshot_lsns),
            **cmp,
        }
        results.append(entry)
        if t.name not in LATENCY_EXCLUDED:
            latencies.extend(rp.latencies)
        totals["checked"] += rp.before_checked
        totals["missing"] += rp.before_missing
        totals["mismatch"] += rp.before_mismatch_count
        bad = (cmp["missing"] or cmp["extra"] or cmp["different"] or rp.before_mismatch_count
               or rp.undecodable or entry["topic_missing"]
               or (args.require_full_before_images and rp.before_missing))
        ok = ok and not bad
    n_events = sum(r["events"] for r in results)
    n_rows = sum(r["rows_postgres"] for r in results)
    if args.cut == "snapshot":
        cut = (f"PostgreSQL snapshot {snapshot.text} at LSN {int_to_lsn(lsn)}; Kafka read once slot {args.slot_used} "
               f"had confirmed it ({seconds:.1f} s, {reader.records} records)")
    else:
        cut = (f"Kafka read to its end until idle for {args.idle:g} s ({seconds:.1f} s, {reader.records} records), "
               f"then PostgreSQL at LSN {int_to_lsn(lsn)}")
    types = {1: "create-time", 2: "log-append-time"}
    verdict = (f"OK: all {n_rows} rows of {len(results)} tables in PostgreSQL equal their replay from "
               f"{n_events} change events in Kafka" if ok else
               "DIFFERENCES: the change topics do not replay to the rows in PostgreSQL (see above)")
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
    args = parse_args(argv)
    try:
        return run(args)
    except (DatabaseError, KafkaError, ValueError) as err:
        print(f"thelook-datagen verify: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("thelook-datagen verify: interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
