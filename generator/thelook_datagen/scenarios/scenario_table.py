"""A scenario's own tables, captured by the target connector for the length of the scenario and removed
afterwards (big-transaction, replica-identity).

Capturing a new table takes three things, all undone by `remove()` in reverse order:
1. the table, in the connector's schema (so its topic is PREFIX.SCHEMA.TABLE like theLook's);
2. membership in the connector's publication (`publication.name`): pgoutput only decodes changes of the
   publication's tables. With publication.autocreate.mode=filtered Debezium itself sets the publication to
   table.include.list when its task starts; adding the table explicitly first makes the scenario independent
   of that mode (with `disabled` nobody else would);
3. the table in the connector's table.include.list (PUT /connectors/NAME/config: Connect restarts the task
   with the new list). No snapshot is taken of it (snapshot.mode initial ran long ago): the scenario writes
   its rows after the task runs with the new list, so every row reaches the topic as a streamed change.
The topic is created beforehand with the broker's defaults (what Connect's topic.creation.default.* = -1
does too), so that its offsets can be watched from the first moment, and deleted at the end.
"""
import time

from . import ScenarioError
from ..ops import connector as connector_ops
from ..tables import topic_name

RESTART_TIMEOUT_S = 90.0


def qualified(schema, table):
    return f'"{schema}"."{table}"'


def with_tables(include_list, schema, tables):
    """table.include.list with schema.table appended for each table not in it yet."""
    entries = [e.strip() for e in (include_list or "").split(",") if e.strip()]
    entries += [f"{schema}.{t}" for t in tables if f"{schema}.{t}" not in entries]
    return ",".join(entries)


class ScenarioTables:
    """The scenario's tables on the target connector. `create(name, ddl_columns)` each, then `capture()`
    once; `remove()` (in a finally) undoes whatever was done, noting each step on the timeline."""

    def __init__(self, settings, connect, target, pg, timeline):
        self.settings, self.connect, self.target, self.pg, self.timeline = settings, connect, target, pg, timeline
        self.publication = target.config.get("publication.name") or "dbz_publication"
        self.original = dict(target.config)
        self.tables = []            # created by us, not dropped yet
        self.created = []           # every table created by us: their topics are deleted at the end
        self.in_publication = []    # added to the publication by us
        self.topics = []            # created by us (or by Connect for our tables)
        self.config_changed = False
        self.captured = False

    def topic(self, table):
        return topic_name(self.target.topic_prefix, self.target.schema, table)

    def exists(self, table):
        return bool(self.pg.one("SELECT to_regclass(%s) IS NOT NULL", (qualified(self.target.schema, table),))[0])

    def create(self, table, columns_sql, replica_identity="FULL"):
        """CREATE TABLE schema.table (columns_sql) with the given replica identity; refuses a table that
        exists already (a leftover of an interrupted run, or the user's own)."""
        if self.exists(table):
            raise ScenarioError(f"table {self.target.schema}.{table} exists already (left over from an interrupted "
                                "run?)", f"drop it: DROP TABLE {self.target.schema}.{table}; and run again")
        name = qualified(self.target.schema, table)
        self._sql(f"creating table {self.target.schema}.{table}",
                  f"CREATE TABLE {name} ({columns_sql}); ALTER TABLE {name} REPLICA IDENTITY {replica_identity}; "
                  "SELECT 1")
        self.tables.append(table)
        self.created.append(table)

    def capture(self):
        """Adds the created tables to the publication, creates their topics and puts them in the connector's
        table.include.list; returns once the connector's task runs with the new list (seconds it took)."""
        t0 = time.monotonic()
        pub = self.pg.one("SELECT puballtables FROM pg_publication WHERE pubname = %s", (self.publication,))
        if pub is None:
            raise ScenarioError(f"publication {self.publication} of connector {self.target.name} does not exist in "
                                "this database", "is {opt:host}/{opt:db} the connector's database?")
        for table in self.tables:
            member = self.pg.one("SELECT count(*) FROM pg_publication_tables WHERE pubname = %s AND schemaname = %s "
                                 "AND tablename = %s", (self.publication, self.target.schema, table))[0]
            if not member and not pub[0]:
                self._sql(f"adding {table} to publication {self.publication}",
                          f'ALTER PUBLICATION "{self.publication}" ADD TABLE {qualified(self.target.schema, table)}; '
                          "SELECT 1")
                self.in_publication.append(table)
        self._create_topics()
        config = dict(self.original)
        config["table.include.list"] = with_tables(config.get("table.include.list"), self.target.schema, self.tables)
        self.captured = self.config_changed = True    # (set before the PUT: a timeout may still apply it)
        self._put(config)
        self._wait_task_config(config["table.include.list"])
        return time.monotonic() - t0

    def remove(self):
        """Restores the connector's config, takes the tables out of the publication, drops them and deletes
        their topics; each step is tried whatever happened before, and noted."""
        if self.config_changed:
            try:
                self._put(self.original)
                self._wait_task_config(self.original.get("table.include.list"))
                self.config_changed = False
                self.timeline.note(f"cleanup: connector {self.target.name}'s table.include.list restored")
            except Exception as err:
                self.timeline.note(f"cleanup: restoring connector {self.target.name}'s config FAILED ({err}); "
                                   "register it again with scripts/register-connector")
        for table in list(self.in_publication):
            try:
                member = self.pg.one("SELECT count(*) FROM pg_publication_tables WHERE pubname = %s AND "
                                     "schemaname = %s AND tablename = %s",
                                     (self.publication, self.target.schema, table))[0]
                # (with publication.autocreate.mode=filtered Debezium set the publication to the restored list)
                if member:
                    self.pg.one(f'ALTER PUBLICATION "{self.publication}" DROP TABLE '
                                f"{qualified(self.target.schema, table)}; SELECT 1")
                self.in_publication.remove(table)
            except Exception as err:
                self.timeline.note(f"cleanup: taking {table} out of publication {self.publication}: {err}")
        dropped = []
        for table in list(self.tables):
            try:
                self.pg.one(f"DROP TABLE IF EXISTS {qualified(self.target.schema, table)}; SELECT 1")
                self.tables.remove(table)
                dropped.append(table)
            except Exception as err:
                self.timeline.note(f"cleanup: DROP TABLE {self.target.schema}.{table} FAILED ({err})")
        if dropped:
            self.timeline.note(f"cleanup: table{'s' if len(dropped) > 1 else ''} {', '.join(dropped)} dropped "
                               f"(and out of publication {self.publication})")
        self._delete_topics()

    # ---------------------------------------------------------------- internals

    def _sql(self, what, statement):
        """A statement whose failure (no privilege, say) is one line, not a traceback."""
        import psycopg2
        try:
            return self.pg.one(statement)
        except psycopg2.Error as err:
            raise ScenarioError(f"{what} failed: {str(err).strip().splitlines()[0]}") from None

    def _put(self, config):
        connector_ops.put_config(self.connect, self.target.name, config, time.monotonic() + RESTART_TIMEOUT_S)

    def _wait_task_config(self, include_list):
        """Waits until the connector's task runs with `include_list` (GET /tasks shows the config the tasks
        were given; the status alone is RUNNING before and after the restart)."""
        deadline = time.monotonic() + RESTART_TIMEOUT_S
        path = f"/connectors/{self.target.name}/tasks"
        while True:
            reply = self.connect.send("GET", path)
            tasks = reply.body if reply.status == 200 and isinstance(reply.body, list) else []
            if tasks and all((t.get("config") or {}).get("table.include.list") == include_list for t in tasks):
                break
            if time.monotonic() > deadline:
                raise ScenarioError(f"connector {self.target.name}'s task did not take the new table.include.list "
                                    f"within {RESTART_TIMEOUT_S:g} s")
            time.sleep(0.25)
        connector_ops.wait_running(self.connect, self.target.name, self.target.config, deadline, settle=1.0)

    def _admin(self):
        from confluent_kafka.admin import AdminClient
        from ..kafka_client import quiet_logger
        return AdminClient({"bootstrap.servers": self.settings.bootstrap_servers,
                            **(self.settings.kafka_config or {})}, logger=quiet_logger())

    def _create_topics(self):
        from confluent_kafka.admin import NewTopic
        admin = self._admin()
        existing = admin.list_topics(timeout=self.settings.kafka_timeout).topics
        stale = [self.topic(t) for t in self.tables if self.topic(t) in existing]
        if stale:
            # its events of an earlier run would be replayed with this run's (verify: extra or different rows)
            raise ScenarioError(f"topic {stale[0]} exists already (left over from an interrupted run?)",
                                f"delete it (kafka-topics.sh --delete --topic {stale[0]}) and run again")
        new = [self.topic(t) for t in self.tables]
        # -1, -1: the broker's default partitions and replication factor, as Connect's topic creation here
        futures = admin.create_topics([NewTopic(t, num_partitions=-1, replication_factor=-1) for t in new],
                                      request_timeout=self.settings.kafka_timeout)
        for topic, future in futures.items():
            try:
                future.result()
            except Exception as err:
                if "already exists" not in str(err).lower():
                    raise ScenarioError(f"cannot create topic {topic}: {err}") from None
            self.topics.append(topic)

    def _delete_topics(self):
        # ours: those created here, and (once the connector captured the tables) any Connect created for them
        topics = sorted(set(self.topics) | ({self.topic(t) for t in self.created} if self.captured else set()))
        if not topics:
            return
        try:
            admin = self._admin()       # kept referenced until the futures resolve (a freed client fails them)
            futures = admin.delete_topics(topics, operation_timeout=30, request_timeout=30)
            for topic, future in futures.items():
                try:
                    future.result()
                except Exception as err:
                    if "unknown" not in str(err).lower():
                        raise
            self.topics = []
            self.timeline.note(f"cleanup: topic{'s' if len(topics) > 1 else ''} {', '.join(topics)} deleted")
        except Exception as err:
            self.timeline.note(f"cleanup: deleting topics {', '.join(topics)} FAILED ({err})")


# ---------------------------------------------------------------- reading a scenario table's topic

def _consumer(settings, suffix):
    import os
    from confluent_kafka import Consumer
    from ..kafka_client import quiet_logger
    return Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": f"thelook-scenario-{os.getpid()}-{suffix}",
                     "enable.auto.commit": False, "enable.partition.eof": False, "fetch.wait.max.ms": 100,
                     "logger": quiet_logger(), **(settings.kafka_config or {})})


def _partitions(consumer, topic, timeout):
    from confluent_kafka import TopicPartition
    meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None:
        raise ScenarioError(f"topic {topic} does not exist")
    return [TopicPartition(topic, p) for p in sorted(meta.partitions)]


class TopicEnds:
    """The end offsets of one topic (its record count, for a topic that only grows) and the Kafka timestamps
    of its first and last records: enough to time a transaction whose events are the topic's only records,
    without consuming them all."""

    def __init__(self, settings, topic):
        self.settings, self.topic = settings, topic
        self.consumer = _consumer(settings, "ends")
        self.parts = _partitions(self.consumer, topic, settings.kafka_timeout)

    def count(self):
        return sum(self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1] for tp in self.parts)

    def record_at(self, partition, offset):
        """(kafka timestamp ms, value dict) of one record."""
        import json
        from confluent_kafka import TopicPartition
        self.consumer.assign([TopicPartition(self.topic, partition, offset)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = self.consumer.poll(1.0)
            if m is None or m.error():
                continue
            value = json.loads(m.value()) if m.value() else {}
            return m.timestamp()[1], value.get("payload", value)
        raise ScenarioError(f"cannot read record {offset} of {self.topic}[{partition}]")

    def first_last(self, since=None):
        """(first, last): (kafka ts ms, value) of the earliest and the latest record by Kafka timestamp,
        among the partitions' records from offsets `since` ({partition: offset}, default 0)."""
        firsts, lasts = [], []
        for tp in self.parts:
            low = (since or {}).get(tp.partition, 0)
            high = self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1]
            if high > low:
                firsts.append(self.record_at(tp.partition, low))
                lasts.append(self.record_at(tp.partition, high - 1))
        if not firsts:
            return None, None
        return min(firsts, key=lambda r: r[0]), max(lasts, key=lambda r: r[0])

    def ends(self):
        return {tp.partition: self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1]
                for tp in self.parts}

    def close(self):
        try:
            self.consumer.close()
        except Exception:
            pass


def read_events(settings, topic, expected, timeout):
    """The change events (payloads, in offset order per partition) of a small topic, read from its beginning
    until `expected` records are there or `timeout` seconds passed."""
    import json
    consumer = _consumer(settings, "read")
    try:
        parts = _partitions(consumer, topic, settings.kafka_timeout)
        for tp in parts:
            tp.offset = 0
        consumer.assign(parts)
        events = []
        deadline = time.monotonic() + timeout
        while len(events) < expected and time.monotonic() < deadline:
            for m in consumer.consume(500, 0.5):
                if m.error() or m.value() is None:
                    continue
                value = json.loads(m.value())
                events.append(value.get("payload", value) if isinstance(value, dict) else value)
        return events
    finally:
        consumer.close()
