"""incremental-snapshot: Debezium re-reads products and users (an execute-snapshot signal) while the generator
writes; how long it takes, how many read events arrive per table, and verify (and Flink) unaffected.

1. The target connector (RUNNING) must have a signalling table (signal.data.collection, the `source` channel):
   connectors/thelook-postgres.json names <schema>.debezium_signal, which the generator creates with the schema.
   Debezium reads signals (and the watermarks it writes itself) from the replication stream, so the table must
   also be in the connector's publication; otherwise the scenario cannot run (exit 2, one line).
2. The scenario's own seeded generator starts on the schema (unless --no-generator); each table's row count and
   highest key are taken as the signal is sent.
3. One row `execute-snapshot` with {"data-collections": ["<schema>.products", "<schema>.users"], "type":
   "incremental"} is inserted into the signalling table (--tables chooses the tables). Debezium reads the
   tables in chunks of incremental.snapshot.chunk.size rows by primary key, each between an open and a close
   watermark it writes into the signalling table, and emits read events (op r, source.snapshot
   "incremental") on the tables' own topics, interleaved with the streamed changes. A key changed while its
   chunk's window is open is dropped from the chunk: the streamed change is newer.
4. Completion is Debezium's own word: with notification.enabled.channels=sink the connector writes
   notifications to notification.sink.topic.name (PREFIX.debezium_notifications); those of this signal carry
   its id: STARTED, IN_PROGRESS per chunk, TABLE_SCAN_COMPLETED per table (total_rows_scanned), COMPLETED or
   ABORTED. (A connector without the sink channel: complete once every table's reads reach their lower bound
   and no read arrived for a while.) The read events of each table are counted from its topic: each key once
   (a key read twice would be a duplicate), and between total_rows_scanned minus the streamed changes of that
   table meanwhile (keys dropped from their chunk) and total_rows_scanned. The streamed changes of those tables
   during the snapshot and their peak commit->Kafka latency show that streaming went on.
5. Beyond --snapshot-timeout a stop-snapshot signal ends the snapshot, and the outcome is not the expected one.
6. The generator stops; `thelook-datagen verify` must be OK: it replays the re-read rows as upserts by key in
   topic order (a re-read row is the row's committed value when its chunk was read), so the row count does not
   change. The Flink comparison (finish) then shows the jobs' results equal PostgreSQL's: not double counted.

Why Flink does not double count a re-read row: its CDC sources are declared with PRIMARY KEY and
table.exec.source.cdc-events-duplicate=true (flink/common.sql), so Flink puts a ChangelogNormalize keyed by the
primary key after each source. A read event of a key it already holds becomes an update of that key (-U old row,
+U re-read row), not a second +I; the joins and aggregates downstream (revenue_per_minute, the top products'
join with products) retract the old row before adding the new one. users is no Flink source at all. The
lead's integration run, with the Flink jobs on the scenario tests' pipeline, compares their results.

Cleanup: the signal's row and the watermark rows Debezium wrote during the run are deleted from the signalling
table; a snapshot still running at an error or Ctrl-C gets a stop-snapshot signal; the generator is stopped.
"""
import json
import time
import uuid

from . import ScenarioError
from .common import Generator, Postgres, child_env, finish, target_connector
from ..tables import topic_name

NAME = "incremental-snapshot"
GENERATOR_WARMUP_S = 3.0
REPORT_INTERVAL_S = 5.0
QUIET_S = 10.0           # without notifications: no read event this long after the reads reached their bound
WINDOW_TYPES = ("snapshot-window-open", "snapshot-window-close")
# the primary key of each theLook table (verify reads it from PostgreSQL; here a name is enough)
KEY = {"orders": "order_id"}


# ---------------------------------------------------------------- pure logic (tested without a stack)

def signal_config(config, schema):
    """(signal table as schema.table, its publication, notification topic or None) from the connector's config;
    ScenarioError when the connector has no usable signalling table."""
    table = (config.get("signal.data.collection") or "").strip()
    if not table:
        raise ScenarioError("the connector has no signal.data.collection (Debezium's signalling table)",
                            "re-register it with scripts/register-connector: connectors/thelook-postgres.json "
                            "names one")
    channels = [c.strip() for c in (config.get("signal.enabled.channels") or "source").split(",")]
    if "source" not in channels:
        raise ScenarioError(f"the connector's signal.enabled.channels ({','.join(channels)}) lacks source: it "
                            f"does not read the signalling table {table}", "add source to signal.enabled.channels")
    if table.count(".") != 1:
        raise ScenarioError(f"signal.data.collection {table!r} is not schema.table")
    included = [t.strip() for t in (config.get("table.include.list") or "").split(",")]
    if table not in included:
        raise ScenarioError(f"the signalling table {table} is not in the connector's table.include.list: Debezium "
                            "reads signals from the replication stream", "add it and re-register the connector")
    notify = [c.strip() for c in (config.get("notification.enabled.channels") or "").split(",")]
    topic = config.get("notification.sink.topic.name") if "sink" in notify else None
    return table, config.get("publication.name") or "dbz_publication", topic or None


def signal_row(signal_id, schema, tables, kind="execute-snapshot"):
    """The signalling table's row (id, type, data) of an execute-snapshot (or stop-snapshot) of `tables`."""
    data = {"data-collections": [f"{schema}.{t}" for t in tables], "type": "incremental"}
    return signal_id, kind, json.dumps(data)


def notification(value, signal_id):
    """The notification of this signal's incremental snapshot in a record of the notification topic, as
    {type, table, scanned, status, key, max_key, ts_ms}; None for any other record."""
    try:
        event = json.loads(value) if value else None
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    event = event.get("payload", event)
    if event.get("id") != signal_id or event.get("aggregate_type") != "Incremental Snapshot":
        return None
    data = event.get("additional_data") or {}
    scanned = data.get("total_rows_scanned")
    table = data.get("scanned_collection") or data.get("current_collection_in_progress")
    return {"type": event.get("type"), "table": table.split(".", 1)[-1] if table else None,
            "scanned": int(scanned) if scanned not in (None, "") else None, "status": data.get("status"),
            "key": data.get("last_processed_key"), "max_key": data.get("maximum_key"),
            "ts_ms": int(event["timestamp"]) if str(event.get("timestamp", "")).isdigit() else None}


def read_problems(table, reads, distinct, changes, scanned=None, rows_at_signal=None):
    """What is wrong with a table's read events ([] when right): `reads` events of `distinct` keys, while
    `changes` streamed changes of the table arrived (each can drop at most one key from its chunk). With
    Debezium's `scanned` (total_rows_scanned) the reads lie between scanned - changes and scanned. Without it
    (no notifications) only the lower bound holds, from the rows at the signal: the table's scan may start
    later and find more rows."""
    problems = []
    if distinct != reads:
        problems.append(f"{table}: {reads - distinct} keys read more than once")
    if scanned is not None and reads > scanned:
        problems.append(f"{table}: {reads} read events, more than the {scanned} rows Debezium scanned")
    base, what = (scanned, "rows scanned") if scanned is not None else (rows_at_signal, "rows at the signal")
    if base is not None and reads < base - changes:
        problems.append(f"{table}: {reads} read events, fewer than the {base} {what} minus {changes} "
                        "streamed changes")
    return problems


def rate(rows, seconds):
    return round(rows / seconds, 1) if seconds and seconds > 0 else None


# ---------------------------------------------------------------- the topics

class SnapshotWatch:
    """Reads the snapshot tables' topics (from their end offsets at start) and the notification topic (from its
    end, or its beginning once it appears): read events of incremental snapshots per table with their keys,
    streamed changes per table with their commit->Kafka latency, and this signal's notifications."""

    def __init__(self, settings, target, tables, notify_topic):
        from confluent_kafka import Consumer, KafkaException, TopicPartition
        from ..kafka_client import quiet_logger, reason
        self.TopicPartition = TopicPartition
        conf = {"bootstrap.servers": settings.bootstrap_servers, "group.id": f"thelook-scenario-snap-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False, "enable.partition.eof": False, "fetch.wait.max.ms": 100,
                "socket.connection.setup.timeout.ms": 10000, "logger": quiet_logger(),
                **(settings.kafka_config or {})}
        self.consumer = Consumer(conf)
        self.probe = Consumer(dict(conf, **{"group.id": conf["group.id"] + "-probe"}))
        self.timeout = settings.kafka_timeout
        self.topic_of = {topic_name(target.topic_prefix, target.schema, t): t for t in tables}
        self.notify_topic = notify_topic
        try:
            meta = self.consumer.list_topics(timeout=settings.kafka_timeout)
        except KafkaException as err:
            self.close()
            raise ScenarioError(f"cannot reach Kafka at {settings.bootstrap_servers}: {reason(err)}",
                                "start the broker or fix {opt:bootstrap_servers}") from None
        missing = [t for t in self.topic_of if t not in meta.topics]
        if missing:
            self.close()
            raise ScenarioError(f"topic {missing[0]} does not exist on {settings.bootstrap_servers}",
                                "is the connector streaming this schema?")
        self.parts = []
        for t in self.topic_of:
            self.parts += self._at_end(t, meta)
        self.notify_assigned = False
        if notify_topic and notify_topic in meta.topics:
            self.parts += self._at_end(notify_topic, meta)
            self.notify_assigned = True
        self.consumer.assign(self.parts)
        # next offset to read per partition of the tables' topics (the consumer's own position is unknown for
        # a partition it has read nothing from)
        self.positions = {(tp.topic, tp.partition): tp.offset for tp in self.parts if tp.topic in self.topic_of}
        self.reads = {t: 0 for t in tables}
        self.keys = {t: set() for t in tables}
        self.changes = {t: 0 for t in tables}
        self.latencies = []
        self.notes = []                 # this signal's notifications, in order
        self.last_read = None           # monotonic time of the last read event

    def _at_end(self, topic, meta):
        parts = []
        for p in meta.topics[topic].partitions:
            tp = self.TopicPartition(topic, p)
            tp.offset = self.probe.get_watermark_offsets(tp, timeout=self.timeout)[1]
            parts.append(tp)
        return parts

    def _assign_notify_topic(self):
        """The notification topic appears with Debezium's first notification: read it from its beginning."""
        meta = self.consumer.list_topics(self.notify_topic, timeout=self.timeout)
        t = meta.topics.get(self.notify_topic)
        if t is None or t.error is not None or not t.partitions:
            return
        self.parts += [self.TopicPartition(self.notify_topic, p, 0) for p in t.partitions]
        self.consumer.assign(self.parts)
        self.notify_assigned = True

    def poll(self, signal_id, seconds=0.5):
        """Reads for up to `seconds`; returns this signal's new notifications."""
        if self.notify_topic and not self.notify_assigned:
            self._assign_notify_topic()
        new = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch = self.consumer.consume(2000, max(0.05, min(0.2, deadline - time.monotonic())))
            for m in batch:
                if m.error():
                    continue
                if m.topic() in self.topic_of:
                    self.positions[(m.topic(), m.partition())] = m.offset() + 1
                if m.value() is None:
                    continue
                if m.topic() == self.notify_topic:
                    note = notification(m.value(), signal_id)
                    if note:
                        new.append(note)
                    continue
                table = self.topic_of.get(m.topic())
                try:
                    event = json.loads(m.value())
                except ValueError:
                    continue
                event = event.get("payload", event) if isinstance(event, dict) else {}
                source = event.get("source") or {}
                op = event.get("op")
                if op == "r" and source.get("snapshot") == "incremental":
                    self.reads[table] += 1
                    self.keys[table].add(hash(m.key()))     # (a hash: a large users table stays small)
                    self.last_read = time.monotonic()
                elif op in ("c", "u", "d"):
                    self.changes[table] += 1
                    ts_type, ts = m.timestamp()
                    if ts_type and source.get("ts_ms") is not None:
                        self.latencies.append(ts - int(source["ts_ms"]))
            if not batch:
                break
        self.notes += new
        return new

    def read_to_end(self, signal_id, timeout=30.0):
        """Reads the tables' topics up to their end offsets of this moment (the read events may arrive after the
        notification that the snapshot completed: another topic)."""
        ends = {k: self.probe.get_watermark_offsets(self.TopicPartition(*k), timeout=10, cached=False)[1]
                for k in self.positions}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.positions[k] >= v for k, v in ends.items()):
                return True
            self.poll(signal_id, 0.5)
        return False

    def close(self):
        for client in (self.consumer, self.probe):
            try:
                client.close()
            except Exception:
                pass


# ---------------------------------------------------------------- PostgreSQL

def count_rows(pg, schema, table):
    """(rows, highest key) of a table: the rows an incremental snapshot started now would scan."""
    key = KEY.get(table, "id")
    rows, top = pg.one(f'SELECT count(*), max("{key}") FROM "{schema}"."{table}"')
    return int(rows), top


def check_signal_table(pg, table, publication):
    """ScenarioError unless the signalling table exists and is in the connector's publication."""
    schema, name = table.split(".", 1)
    if pg.one("SELECT to_regclass(%s)", (f'"{schema}"."{name}"',))[0] is None:
        raise ScenarioError(f"the signalling table {table} does not exist",
                            "start the generator once on the schema (it creates it), then re-register the connector "
                            "with scripts/register-connector")
    row = pg.one("SELECT p.puballtables OR EXISTS (SELECT 1 FROM pg_publication_tables t WHERE t.pubname = "
                 "p.pubname AND t.schemaname = %s AND t.tablename = %s) FROM pg_publication p WHERE p.pubname = %s",
                 (schema, name, publication))
    if not row or not row[0]:
        raise ScenarioError(f"the signalling table {table} is not in publication {publication}: Debezium would "
                            "never see the signal", "restart the connector (its filtered publication takes the "
                            "table on start): scripts/register-connector")


def send_signal(pg, table, row):
    schema, name = table.split(".", 1)
    pg.one(f'INSERT INTO "{schema}"."{name}" (id, type, data) VALUES (%s, %s, %s) RETURNING id', row)


def delete_signal_rows(pg, table, signal_ids, since_ms):
    """Deletes this run's signals and the watermark rows Debezium wrote since `since_ms` (their data holds
    openWindowTimestamp); returns the number of rows deleted."""
    schema, name = table.split(".", 1)
    with pg.conn.cursor() as cur:
        # (CASE: only watermark rows' data is cast; other rows' data need not be JSON)
        cur.execute(f'DELETE FROM "{schema}"."{name}" WHERE id = ANY(%s) OR CASE WHEN type = ANY(%s) THEN '
                    "(data::json->>'openWindowTimestamp')::timestamptz >= to_timestamp(%s / 1000.0) ELSE false END",
                    (list(signal_ids), list(WINDOW_TYPES), since_ms))
        return cur.rowcount


# ---------------------------------------------------------------- the scenario

def run(settings, connect, timeline):
    """Runs the scenario; returns its summary (a dict whose "ok" is the expected outcome). Raises
    ScenarioError (or another UserError) when it cannot run."""
    target = target_connector(connect, settings.connector, settings.schema, settings.topic_prefix)
    tables = list(settings.snapshot_tables)
    signal_table, publication, notify_topic = signal_config(target.config, target.schema)   # before any change
    pg = Postgres(settings.conn_kw)
    gen = watch = None
    signal_id = f"scenario-{uuid.uuid4().hex[:12]}"
    state = {"running": False, "sent": [], "since_ms": None}
    result = {"scenario": NAME, "connector": target.name, "slot": target.slot, "schema": target.schema,
              "topic_prefix": target.topic_prefix, "tables": tables, "signal_id": signal_id,
              "rate": None if settings.no_generator else settings.rate, "seed": settings.seed}
    try:
        if not pg.tables_exist(target.schema):
            raise ScenarioError(f"schema {target.schema} has no theLook tables",
                                "create them first: thelook-datagen --schema ... --max_iter 0")
        check_signal_table(pg, signal_table, publication)
        result.update(signal_table=signal_table, notification_topic=notify_topic)
        timeline.note(f"connector {target.name} RUNNING: signalling table {signal_table} (in publication "
                      f"{publication}), notifications "
                      + (f"on topic {notify_topic}" if notify_topic else "off (completion told by the read events)"))
        env = child_env(settings)
        if not settings.no_generator:
            gen = Generator(settings, target, env)
            timeline.note(f"generator started: {settings.rate:g} visits/s, seed {settings.seed} (pid {gen.proc.pid})")
            time.sleep(GENERATOR_WARMUP_S)
            gen.check()
        watch = SnapshotWatch(settings, target, tables, notify_topic)
        start = {t: count_rows(pg, target.schema, t) for t in tables}
        row = signal_row(signal_id, target.schema, tables)
        state["since_ms"] = int(time.time() * 1000) - 1000
        send_signal(pg, signal_table, row)
        state["sent"].append(signal_id)
        state["running"] = True
        t_signal = time.monotonic()
        timeline.note(f"signal {signal_id} inserted: execute-snapshot of "
                      + ", ".join(f"{t} ({start[t][0]} rows, keys up to {start[t][1]})" for t in tables))
        # ---- until Debezium says it is done
        scanned, status, started, completed = {}, {}, None, None
        next_report = t_signal + REPORT_INTERVAL_S
        last_key = None
        while completed is None:
            for note in watch.poll(signal_id):
                at = time.monotonic() - t_signal
                if note["type"] == "STARTED":
                    started = note
                    timeline.note(f"Debezium: incremental snapshot STARTED ({at:.1f} s after the signal)")
                elif note["type"] == "IN_PROGRESS":
                    last_key = note
                elif note["type"] == "TABLE_SCAN_COMPLETED":
                    scanned[note["table"]] = note["scanned"]
                    status[note["table"]] = note["status"]
                    timeline.note(f"Debezium: {note['table']} scanned, {note['scanned']} rows, {note['status']} "
                                  f"({at:.1f} s after the signal); {watch.reads.get(note['table'], 0)} read events "
                                  "of it in Kafka so far")
                elif note["type"] in ("COMPLETED", "ABORTED"):
                    completed = note
            now = time.monotonic()
            if not notify_topic and _quiet_and_complete(watch, start, now):
                completed = {"type": "COMPLETED", "ts_ms": None, "inferred": True}
            if completed is not None:
                break
            if now >= next_report:
                next_report += REPORT_INTERVAL_S
                where = (f"; {last_key['table']} at key {last_key['key']} of {last_key['max_key']}"
                         if last_key else "")
                timeline.note(f"snapshot +{now - t_signal:.0f} s: read events " + ", ".join(
                    f"{t} {watch.reads[t]}" for t in tables) + f"; streamed changes meanwhile "
                    + ", ".join(f"{t} {watch.changes[t]}" for t in tables) + where)
                if gen:
                    gen.check()
            if now - t_signal > settings.snapshot_timeout:
                break
        seconds = time.monotonic() - t_signal
        if completed is None or completed["type"] != "COMPLETED":
            timeline.note(f"snapshot NOT completed within {settings.snapshot_timeout:g} s" if completed is None
                          else f"Debezium: incremental snapshot ABORTED after {seconds:.1f} s")
            _stop_snapshot(pg, signal_table, target.schema, tables, state, timeline)
        else:
            state["running"] = False
        watch.read_to_end(signal_id)
        debezium_s = (completed["ts_ms"] - started["ts_ms"]) / 1000 if (
            completed and started and completed.get("ts_ms") and started.get("ts_ms")) else None
        reads = dict(watch.reads)
        total = sum(reads.values())
        problems = []
        for t in tables:
            problems += (read_problems(t, reads[t], len(watch.keys[t]), watch.changes[t], scanned=scanned.get(t))
                         if notify_topic else
                         read_problems(t, reads[t], len(watch.keys[t]), watch.changes[t], rows_at_signal=start[t][0]))
            if notify_topic and completed and completed["type"] == "COMPLETED" and status.get(t) != "SUCCEEDED":
                problems.append(f"{t}: no TABLE_SCAN_COMPLETED SUCCEEDED notification ({status.get(t)})")
        lat = sorted(watch.latencies)
        done = completed is not None and completed["type"] == "COMPLETED"
        timeline.note(
            (f"incremental snapshot COMPLETED {seconds:.1f} s after the signal" if done else
             f"incremental snapshot not completed ({seconds:.1f} s)")
            + ("" if debezium_s is None else f" ({debezium_s:.1f} s from Debezium's STARTED to COMPLETED)")
            + ": read events " + ", ".join(f"{t} {reads[t]} (scanned {scanned.get(t, '-')}, {start[t][0]} rows at "
                                           f"the signal)" for t in tables)
            + f"; {total} in all, {rate(total, seconds) or '-'} rows/s; streamed changes of these tables "
            f"meanwhile {sum(watch.changes.values())}, commit->Kafka peak "
            f"{'-' if not lat else f'{lat[-1]} ms'}",
            reads=reads)
        for p in problems:
            timeline.note(f"problem: {p}")
        result.update(
            completed=done, snapshot_s=round(seconds, 1), debezium_snapshot_s=None if debezium_s is None else
            round(debezium_s, 1), reads=reads, distinct_keys={t: len(watch.keys[t]) for t in tables},
            scanned=scanned, rows_at_signal={t: start[t][0] for t in tables}, reads_total=total,
            rows_per_s=rate(total, seconds), streamed_changes=dict(watch.changes),
            peak_latency_ms=lat[-1] if lat else None, problems=problems)
        # ---- the end: generator stopped, verify (and Flink)
        if gen:
            result["generator"] = gen.stopped_summary(timeline)
        finished = finish(settings, target, env, timeline, result)
        result["ok"] = bool(done and not problems and finished)
        return result
    finally:
        if state["running"]:
            _stop_snapshot(pg, signal_table, target.schema, tables, state, timeline)
        if gen:
            gen.cleanup(timeline)
        if watch:
            watch.close()
        if state["sent"]:
            try:
                n = delete_signal_rows(pg, signal_table, state["sent"], state["since_ms"])
                timeline.note(f"cleanup: {n} rows of this run (signals, watermarks) deleted from {signal_table}")
            except Exception as err:
                timeline.note(f"cleanup: rows of this run not deleted from {signal_table}: {err}")
        pg.close()


def _quiet_and_complete(watch, start, now):
    """Without notifications: every table's reads reached its rows at the signal minus the streamed changes
    meanwhile, and no read event arrived for QUIET_S seconds."""
    return (watch.last_read is not None and now - watch.last_read >= QUIET_S
            and all(watch.reads[t] >= start[t][0] - watch.changes[t] for t in watch.reads))


def _stop_snapshot(pg, signal_table, schema, tables, state, timeline):
    """A stop-snapshot signal for the tables (the snapshot must not go on after the scenario)."""
    stop_id = f"scenario-stop-{uuid.uuid4().hex[:12]}"
    try:
        send_signal(pg, signal_table, signal_row(stop_id, schema, tables, kind="stop-snapshot"))
        state["sent"].append(stop_id)
        state["running"] = False
        timeline.note(f"stop-snapshot signal {stop_id} inserted: the incremental snapshot is ended")
    except Exception as err:          # the one thing that must not be left undone: say so
        timeline.note(f"cleanup: stop-snapshot signal FAILED ({err}): insert one into {signal_table} yourself")
