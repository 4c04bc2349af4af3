"""schema-change: the captured `users` table changes shape while the generator writes, and the change stream,
the Flink jobs and verify follow (issue 13, scenario 1).

Steps (each DDL in a transaction of its own, its commit time in the timeline):
1. The connector (`--connector`, RUNNING) gives the schema, topic prefix and slot; `users` must not have the
   scenario's columns yet. The scenario's seeded generator starts; it writes `--phase` seconds, and on until
   users has 40 rows (at most 60 s more): on a small shop it soon moves or closes nearly every user.
2. ADD COLUMN loyalty_points integer (no default: existing rows hold NULL), then ADD COLUMN loyalty_tier text
   DEFAULT 'bronze'. PostgreSQL writes no WAL for the existing rows in either case (the default is kept in
   pg_attribute.attmissingval), so the events already in Kafka never get the fields. Debezium (pgoutput)
   needs no restart: PostgreSQL sends a Relation message before the next change of the table, and Debezium
   rebuilds the table's schema from it; the scenario waits for the first `users` event carrying each field.
3. The generator learns the extra columns of `users` it has fillers for (db/statements.py USER_FILLERS) when it
   connects, not live, so the scenario RESTARTS its own generator (next seed) and waits for a `users` event
   with loyalty_points filled. The generator's statement is unchanged while users has no such column.
4. ALTER COLUMN loyalty_points TYPE bigint (widened; PostgreSQL rewrites the table, again without logical
   changes). The running generator goes on (its prepared statement is replanned). The scenario sets one
   user's points to 5,000,000,000, beyond integer, in a transaction of its own and waits for that value in
   Kafka: Debezium's field became int64 (the JSON carries the number; schemas are off in the converter).
5. verify, while both columns exist and the generator writes: it compares loyalty_points and loyalty_tier
   too. Rows whose last event predates the columns lack the fields: loyalty_points (no default) counts as
   NULL (the "absent_as_null" figure), loyalty_tier (default) is reported "not in the change stream for rows
   written before <time>" and not as a difference. Expected: OK with both figures above zero.
6. The generator stops (its statement names loyalty_tier), DROP COLUMN loyalty_tier, a new generator starts
   (it fills loyalty_points only), and the scenario waits for a `users` event without loyalty_tier.
7. The generator stops, DROP COLUMN loyalty_points (users back to its original shape), then verify (which
   ignores fields of dropped columns in older events) and the Flink comparison (finish()).
Whatever happens, the generator is stopped and the columns the scenario added are dropped.

The Flink jobs (flink/common.sql) declare no `users` table at all, and their debezium-json sources read only
the fields they declare, ignoring others: nothing added, widened or dropped here reaches them, and the
comparison at the end shows they stayed equal to PostgreSQL. With --no-generator the user's generator keeps
the shape it connected with (its new users get NULL and 'bronze'); one that connected while loyalty_tier
existed fails its visits once it is dropped, until it reconnects.
"""
import dataclasses
import datetime as dt
import json
import threading
import time

from . import ScenarioError
from .common import Generator, Postgres, child_env, finish, require_slot, run_verify, target_connector
from ..tables import topic_name

NAME = "schema-change"
TABLE = "users"
POINTS, TIER = "loyalty_points", "loyalty_tier"
BIG_POINTS = 5_000_000_000           # beyond integer's 2,147,483,647: only a bigint column holds it
DDL_LOCK_TIMEOUT = "10s"             # ALTER TABLE waits for the generator's visits to release the table
GENERATOR_WARMUP_S = 3.0
MIN_USERS = 40                       # users rows written before the first DDL, when the scenario's generator runs
MIN_USERS_WAIT_S = 60.0


def utc(ms):
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


class UsersWatch:
    """Tails the users topic from its end at start, keeping per change event (op c/u/d) its commit time
    (source.ts_ms), Kafka timestamp and row image (after, or before for a delete), to see the shape the
    events have after each DDL."""

    def __init__(self, settings, target):
        from confluent_kafka import Consumer, KafkaException, TopicPartition
        from ..kafka_client import quiet_logger, reason
        self.topic = topic_name(target.topic_prefix, target.schema, TABLE)
        conf = {"bootstrap.servers": settings.bootstrap_servers, "group.id": f"thelook-scenario-schema-{id(self)}",
                "enable.auto.commit": False, "enable.partition.eof": False, "fetch.wait.max.ms": 100,
                "logger": quiet_logger(), **(settings.kafka_config or {})}
        self.consumer = Consumer(conf)
        try:
            meta = self.consumer.list_topics(self.topic, timeout=settings.kafka_timeout)
            parts = [TopicPartition(self.topic, p) for p in (meta.topics[self.topic].partitions or {})]
            if not parts or meta.topics[self.topic].error is not None:
                raise ScenarioError(f"topic {self.topic} does not exist on {settings.bootstrap_servers}",
                                    "is the connector streaming the users table?")
            for tp in parts:
                tp.offset = self.consumer.get_watermark_offsets(tp, timeout=settings.kafka_timeout)[1]
        except KafkaException as err:
            self.consumer.close()
            raise ScenarioError(f"cannot reach Kafka at {settings.bootstrap_servers}: {reason(err)}",
                                "start the broker or fix {opt:bootstrap_servers}") from None
        except ScenarioError:
            self.consumer.close()
            raise
        self.consumer.assign(parts)
        self.events = []            # (source_ts_ms, kafka_ts_ms, image)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="scenario-users-watch", daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                batch = self.consumer.consume(500, 0.2)
            except Exception:
                time.sleep(0.5)
                continue
            found = []
            for m in batch:
                if m.error() or m.value() is None:
                    continue
                try:
                    event = json.loads(m.value())
                except ValueError:
                    continue
                event = event.get("payload", event) if isinstance(event, dict) and "schema" in event else event
                if not isinstance(event, dict) or event.get("op") not in ("c", "u", "d"):
                    continue
                image = event.get("after") if event["op"] != "d" else event.get("before")
                ts = (event.get("source") or {}).get("ts_ms")
                if isinstance(image, dict) and ts is not None:
                    found.append((int(ts), m.timestamp()[1], image))
            if found:
                with self.lock:
                    self.events.extend(found)

    def wait_for(self, since_ms, test, timeout):
        """The first event committed at or after `since_ms` whose image passes `test`: (source_ts_ms,
        kafka_ts_ms, image), or None after `timeout` seconds. Also returns how many events since then did not."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                later = [e for e in self.events if e[0] >= since_ms]
            for n, e in enumerate(later):
                if test(e[2]):
                    return e, n
            if time.monotonic() >= deadline:
                return None, len(later)
            time.sleep(0.2)

    def close(self):
        self._stop.set()
        self.thread.join(5)
        try:
            self.consumer.close()
        except Exception:
            pass


class Ddl:
    """The scenario's DDL on users, each statement one transaction, its commit time taken from PostgreSQL."""

    def __init__(self, pg, schema):
        self.pg = pg
        self.table = f'"{schema}"."{TABLE}"'
        pg.one(f"SELECT set_config('lock_timeout', '{DDL_LOCK_TIMEOUT}', false)")

    def run(self, clause):
        """ALTER TABLE users <clause>, autocommitted; returns the step's record: PostgreSQL's clock (the one of
        source.ts_ms) in epoch ms just before the statement and just after its commit."""
        import psycopg2
        started = self.ms()
        try:
            with self.pg.conn.cursor() as cur:
                cur.execute(f"ALTER TABLE {self.table} {clause}")
        except psycopg2.Error as err:
            raise ScenarioError(f"ALTER TABLE {self.table} {clause} failed: "
                                f"{(str(err).strip().splitlines() or ['?'])[0]}") from None
        at = self.ms()
        return {"ddl": f"ALTER TABLE {self.table} {clause}", "started_ms": started, "committed": utc(at),
                "committed_ms": at}

    def ms(self):
        return int(self.pg.one("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")[0])

    def columns(self):
        return [r for r in self._rows(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid) "
            "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY(%s) "
            "ORDER BY a.attnum", (self.table, [POINTS, TIER]))]

    def _rows(self, sql, params):
        with self.pg.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()


def run(settings, connect, timeline):
    """Runs the scenario; returns its summary (a dict whose "ok" is the expected outcome). Raises
    ScenarioError (or another UserError) when it cannot run."""
    target = target_connector(connect, settings.connector, settings.schema, settings.topic_prefix)
    pg = Postgres(settings.conn_kw)
    env = child_env(settings)
    state = {"gen": None, "watch": None, "added": [], "seed": settings.seed}
    result = {"scenario": NAME, "connector": target.name, "slot": target.slot, "schema": target.schema,
              "topic_prefix": target.topic_prefix, "table": TABLE, "phase_s": settings.phase,
              "rate": None if settings.no_generator else settings.rate, "seed": settings.seed,
              "generator_restarts": 0, "steps": {}}
    steps = result["steps"]
    checks = {}
    try:
        require_slot(pg, target.slot, target.name)
        ddl = Ddl(pg, target.schema)
        if not pg.one("SELECT to_regclass(%s) IS NOT NULL", (ddl.table,))[0]:
            raise ScenarioError(f"table {target.schema}.{TABLE} does not exist",
                                "create the tables first: thelook-datagen --schema ... --max_iter 0")
        present = [c[0] for c in ddl.columns()]
        if present:
            raise ScenarioError(f"{target.schema}.{TABLE} already has column(s) {', '.join(present)}, left by an "
                                "interrupted run or someone else's", "drop them first if they are the "
                                f"scenario's: ALTER TABLE {ddl.table} DROP COLUMN ...")
        watch = state["watch"] = UsersWatch(settings, target)
        timeline.note(f"connector {target.name} RUNNING: schema {target.schema}, topic {watch.topic}, slot "
                      f"{target.slot}")

        def start_generator(why):
            if settings.no_generator:
                return
            s = dataclasses.replace(settings, seed=state["seed"])
            state["gen"] = Generator(s, target, env)
            timeline.note(f"generator started{why}: {settings.rate:g} visits/s, seed {state['seed']} "
                          f"(pid {state['gen'].proc.pid})")
            state["seed"] += 1

        def stop_generator(why):
            gen = state["gen"]
            if gen is None:
                return
            gen.check()
            summary = gen.stop()
            gen.remove_log()
            state["gen"] = None
            timeline.note(f"generator stopped ({why})" + (f": {summary['visits']} visits, {summary['rows']} rows"
                                                         if summary else ""))

        def phase():
            time.sleep(settings.phase)
            if state["gen"]:
                state["gen"].check()

        def observe(step, since, test, what, since_what="the ALTER began"):
            """Waits for the first users event committed since `since` (ms) that passes `test`."""
            found, before = watch.wait_for(since, test, settings.shape_timeout)
            if found is None:
                timeline.note(f"NO users event {what} within {settings.shape_timeout:g} s "
                              f"({before} users events committed since)")
                steps[step]["observed"] = False
                return None
            ts, kafka_ts, image = found
            steps[step].update(observed=True, first_event_commit=utc(ts), first_event_after_ddl_s=round(
                (ts - since) / 1000, 1), first_event_kafka_lag_ms=kafka_ts - ts)
            timeline.note(f"first users event {what}: committed {(ts - since) / 1000:.1f} s after {since_what}, in "
                          f"Kafka {kafka_ts - ts} ms after its commit ({before} users events in between did not)")
            return image

        start_generator("")
        time.sleep(GENERATOR_WARMUP_S)
        phase()
        # rows written before the columns are what verify's two behaviours are about: on a small shop the
        # generator soon moves (UPDATE, the new shape) or closes nearly every user, so it writes a few first
        users, deadline = 0, time.monotonic() + MIN_USERS_WAIT_S
        while not settings.no_generator:
            users = int(pg.one(f"SELECT count(*) FROM {ddl.table}")[0])
            if users >= MIN_USERS or time.monotonic() >= deadline:
                break
            state["gen"].check()
            time.sleep(0.5)
        result["users_before"] = users = int(pg.one(f"SELECT count(*) FROM {ddl.table}")[0])
        timeline.note(f"{TABLE} holds {users} rows before the first DDL")

        # ---- 2. two columns added, one without and one with a default
        for step, clause, what in (
                ("add_points", f"ADD COLUMN {POINTS} integer", f"carrying {POINTS}"),
                ("add_tier", f"ADD COLUMN {TIER} text DEFAULT 'bronze'", f"carrying {TIER}")):
            steps[step] = ddl.run(clause)
            state["added"].append(POINTS if step == "add_points" else TIER)
            timeline.note(f"DDL committed at {steps[step]['committed']}: ALTER TABLE {TABLE} {clause} (no WAL for "
                          "the existing rows)")
            col = POINTS if step == "add_points" else TIER
            image = observe(step, steps[step]["started_ms"], lambda img, c=col: c in img, what)
            if image is not None:
                steps[step]["first_value"] = image.get(col)
        # ---- 3. the generator restarted: it fills the new columns from its next connection
        if not settings.no_generator:
            stop_generator("restarted to learn the new columns: the generator reads users' shape when it connects")
            result["generator_restarts"] += 1
            t_fill = ddl.ms()
            start_generator(" again")
            steps["filled"] = {}
            image = observe("filled", t_fill, lambda img: img.get(POINTS) is not None and POINTS in img,
                            f"with {POINTS} filled by the generator", "the restart")
            if image is not None:
                steps["filled"].update(points=image.get(POINTS), tier=image.get(TIER))
        phase()

        # ---- 4. widened: integer -> bigint, and a value only bigint holds
        steps["widen"] = ddl.run(f"ALTER COLUMN {POINTS} TYPE bigint")
        timeline.note(f"DDL committed at {steps['widen']['committed']}: ALTER TABLE {TABLE} ALTER COLUMN {POINTS} "
                      "TYPE bigint (the table rewritten; the generator's prepared statement is replanned)")
        row = pg.one(f"UPDATE {ddl.table} SET {POINTS} = %s WHERE id = (SELECT max(id) FROM {ddl.table}) "
                     "RETURNING id", (BIG_POINTS,))
        if row is None:
            raise ScenarioError(f"{target.schema}.{TABLE} has no row to set {POINTS} on")
        steps["widen"]["big_value_user"] = row[0]
        timeline.note(f"user {row[0]}: {POINTS} = {BIG_POINTS:,} (beyond integer) in a transaction of its own")
        image = observe("widen", steps["widen"]["started_ms"],
                        lambda img: img.get(POINTS) == BIG_POINTS and img.get("id") == row[0],
                        f"with {POINTS} = {BIG_POINTS:,}")
        checks["big_value_in_kafka"] = image is not None
        phase()

        # ---- 5. verify while both columns exist
        timeline.note("verify while both added columns exist (and the generator writes)")
        during = run_verify(settings, target, env, settings.verify_timeout)
        users = next((t for t in during.report.get("tables", []) if t.get("table") == TABLE), {})
        nulls = (users.get("absent_as_null") or {}).get(POINTS, 0)
        unstreamed = (users.get("not_in_stream") or {}).get(TIER) or {}
        result["verify_during"] = {**during.summary(), "absent_as_null": users.get("absent_as_null") or {},
                                   "not_in_stream": users.get("not_in_stream") or {}}
        timeline.note(f"verify exit {during.status} in {during.seconds:.1f} s: {during.line()}")
        timeline.note(f"  {POINTS}: {nulls} rows whose last event predates the column compared as NULL; {TIER}: "
                      f"not in the change stream for {unstreamed.get('rows', 0)} rows written before "
                      f"{unstreamed.get('before') or '-'} (the DDL committed at {steps['add_tier']['committed']})")
        checks["verify_during_ok"] = during.ok
        checks["absent_as_null"] = nulls > 0
        checks["not_in_stream"] = unstreamed.get("rows", 0) > 0
        if not during.ok:
            result["verify_during_output"] = during.output[-4000:]

        # ---- 6. a column the scenario added dropped; the generator goes on in the narrower shape
        stop_generator(f"its statement names {TIER}")
        steps["drop_tier"] = ddl.run(f"DROP COLUMN {TIER}")
        state["added"].remove(TIER)
        timeline.note(f"DDL committed at {steps['drop_tier']['committed']}: ALTER TABLE {TABLE} DROP COLUMN {TIER}")
        if not settings.no_generator:
            result["generator_restarts"] += 1
            start_generator(f" again (it fills {POINTS} only)")
        checks["drop_seen"] = observe("drop_tier", steps["drop_tier"]["started_ms"],
                                      lambda img: TIER not in img and POINTS in img, f"without {TIER}") is not None
        phase()
        stop_generator("the end")
        filled = pg.one(f"SELECT count(*) FILTER (WHERE {POINTS} IS NOT NULL), count(*) FROM {ddl.table}")
        result["users_with_points"], result["users"] = int(filled[0]), int(filled[1])
        # ---- 7. users back to its shape, then verify and the Flink comparison
        steps["drop_points"] = ddl.run(f"DROP COLUMN {POINTS}")
        state["added"].remove(POINTS)
        timeline.note(f"DDL committed at {steps['drop_points']['committed']}: ALTER TABLE {TABLE} DROP COLUMN "
                      f"{POINTS} ({TABLE} has its original columns again; {filled[0]} of {filled[1]} users had points)")
        checks["shape_seen"] = all(steps[s].get("observed") for s in ("add_points", "add_tier", "drop_tier"))
        if not settings.no_generator:
            checks["generator_filled"] = bool(steps.get("filled", {}).get("points") is not None and filled[0] > 1)
        finished = finish(settings, target, env, timeline, result)
        result["checks"] = checks
        result["ok"] = bool(finished and all(checks.values()))
        return result
    finally:
        if state["gen"] is not None:
            if state["gen"].alive():
                state["gen"].stop()
                timeline.note("cleanup: generator stopped")
            state["gen"].remove_log()
        for col in reversed(state["added"]):
            try:
                with pg.conn.cursor() as cur:
                    cur.execute(f'ALTER TABLE "{target.schema}"."{TABLE}" DROP COLUMN IF EXISTS {col}')
                timeline.note(f"cleanup: column {col} dropped")
            except Exception as err:        # say so: the table keeps a column of the scenario
                timeline.note(f"cleanup: dropping column {col} FAILED ({err}): ALTER TABLE "
                              f"{target.schema}.{TABLE} DROP COLUMN {col}")
        if state["watch"]:
            state["watch"].close()
        pg.close()
