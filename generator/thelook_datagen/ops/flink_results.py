"""The Flink jobs' results (the upsert result topics PREFIX.analytics.JOB) compared with the same computation
in SQL on PostgreSQL's current rows: the proof that the analytics equal the database (tests/flink) and the
end of every scenario (scenarios/flink_check.py).

    conf = {"bootstrap.servers": "127.0.0.1:9092"}
    behind = jobs_behind(conf, "ecomm", "demo", sql_dir)     # {} once every job has committed the topic ends
    problems = compare(conn, conf, "ecomm", "demo", top_products_window=60)   # {job: [differences]}

A result topic is read from its beginning to its end offsets of that moment: the last value per key, a
tombstone removes the key. `stock_per_dc` counts the unsold items deleted (written off), which PostgreSQL no
longer has: those are read from the raw change topic of inventory_items (its DELETE events). Floats are
equal within 1e-6 absolute + 1e-9 relative (Flink sums doubles; PostgreSQL sums numerics).

Errors: OpsError (Kafka unreachable, a result topic unreadable); differences are returned, not raised.
"""
import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from . import OpsError
from ..tables import SHOP_TABLES

MINUTE = "to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


@dataclass(frozen=True)
class Result:
    """One job's result table: its key columns, the columns compared, and the SQL that computes it from
    PostgreSQL's rows (search_path = the schema, time zone UTC; %(w)s = the top products window)."""
    keys: tuple
    fields: tuple
    sql: str


RESULTS = {
    "revenue_per_minute": Result(
        ("window_start", "department", "category"), ("window_end", "revenue", "gross_revenue", "orders", "items"),
        f"""SELECT {MINUTE.format("date_trunc('minute', oi.created_at)")} AS window_start,
               {MINUTE.format("date_trunc('minute', oi.created_at) + interval '1 minute'")} AS window_end,
               p.department, p.category,
               SUM(CASE WHEN oi.status IN ('Cancelled', 'Returned') THEN 0 ELSE oi.sale_price END) AS revenue,
               SUM(oi.sale_price) AS gross_revenue,
               COUNT(DISTINCT oi.order_id) AS orders, COUNT(*) AS items
            FROM order_items oi JOIN products p ON p.id = oi.product_id
            GROUP BY 1, 2, 3, 4"""),
    "status_counts": Result(
        ("entity", "status"), ("cnt",),
        """SELECT 'orders' AS entity, status, COUNT(*) AS cnt FROM orders GROUP BY status
           UNION ALL SELECT 'order_items', status, COUNT(*) FROM order_items GROUP BY status"""),
    "funnel_per_minute": Result(
        ("window_start",), ("window_end", "sessions", "product_views", "carts", "purchases", "abandoned_carts",
                            "ghost_sessions", "conversion_rate"),
        f"""WITH s AS (
              SELECT session_id, MIN(created_at) AS started_at, MAX(user_id) AS user_id,
                     COUNT(*) FILTER (WHERE event_type = 'product') AS product_views,
                     bool_or(event_type = 'cart') AS reached_cart, bool_or(event_type = 'purchase') AS purchased
              FROM events GROUP BY session_id)
            SELECT {MINUTE.format("date_trunc('minute', started_at)")} AS window_start,
                   {MINUTE.format("date_trunc('minute', started_at) + interval '1 minute'")} AS window_end,
                   COUNT(*) AS sessions, SUM(product_views)::bigint AS product_views,
                   COUNT(*) FILTER (WHERE reached_cart) AS carts,
                   COUNT(*) FILTER (WHERE purchased) AS purchases,
                   COUNT(*) FILTER (WHERE user_id IS NOT NULL AND reached_cart AND NOT purchased) AS abandoned_carts,
                   COUNT(*) FILTER (WHERE user_id IS NULL) AS ghost_sessions,
                   (COUNT(*) FILTER (WHERE purchased))::float8 / COUNT(*) AS conversion_rate
            FROM s GROUP BY 1, 2"""),
    "top_products_last_hour": Result(
        ("rank",), ("product_id", "product_name", "brand", "department", "category", "revenue", "items",
                    "window_start", "window_end"),
        # the window ends with the minute of the newest order item (event time), as the job's does
        f"""WITH clock AS (SELECT date_trunc('minute', MAX(created_at)) AS cur FROM order_items),
            pm AS (
              SELECT oi.product_id, SUM(oi.sale_price::numeric(12, 2)) AS revenue, COUNT(*) AS items
              FROM order_items oi, clock
              WHERE oi.status NOT IN ('Cancelled', 'Returned')
                AND oi.created_at >= clock.cur - %(w)s * interval '1 minute' + interval '1 minute'
                AND oi.created_at < clock.cur + interval '1 minute'
              GROUP BY oi.product_id)
            SELECT ROW_NUMBER() OVER (ORDER BY pm.revenue DESC, pm.product_id) AS rank, pm.product_id,
                   p.name AS product_name, p.brand, p.department, p.category, pm.revenue::float8 AS revenue,
                   pm.items,
                   {MINUTE.format("clock.cur - %(w)s * interval '1 minute' + interval '1 minute'")} AS window_start,
                   {MINUTE.format("clock.cur + interval '1 minute'")} AS window_end
            FROM pm JOIN products p ON p.id = pm.product_id, clock
            ORDER BY rank LIMIT 10"""),
    "stock_per_dc": Result(
        ("dc_id",), ("dc_name", "in_stock", "sold", "written_off"),
        """SELECT dc.id AS dc_id, dc.name AS dc_name,
                  COUNT(ii.id) FILTER (WHERE ii.sold_at IS NULL) AS in_stock,
                  COUNT(ii.id) FILTER (WHERE ii.sold_at IS NOT NULL) AS sold
           FROM distribution_centers dc LEFT JOIN inventory_items ii ON ii.product_distribution_center_id = dc.id
           GROUP BY dc.id, dc.name"""),
}
JOBS = tuple(RESULTS)


def result_topic(prefix, job):
    return f"{prefix}.analytics.{job}"


# ---------------------------------------------------------------- PostgreSQL's side

def query(conn, schema, sql, params=None):
    """Rows as dicts, with search_path = schema and time zone UTC (the caller's connection)."""
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute("SELECT set_config('search_path', %s, false)", (schema,))
        cur.execute(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]


def keyed(rows, keys):
    return {tuple(r[k] for k in keys): r for r in rows}


def expected(conn, schema, job, top_products_window=60, written_off=None):
    """{key tuple: row} of one job computed on PostgreSQL. stock_per_dc needs `written_off` ({item id: centre
    id} of the unsold items deleted, from the change topic: written_off_items())."""
    spec = RESULTS[job]
    rows = query(conn, schema, spec.sql, {"w": top_products_window})
    table = keyed(rows, spec.keys)
    if job == "stock_per_dc":
        per_centre = {}
        for centre in (written_off or {}).values():
            per_centre[centre] = per_centre.get(centre, 0) + 1
        for (dc_id,), row in table.items():
            row["written_off"] = per_centre.get(dc_id, 0)
    return table


# ---------------------------------------------------------------- Kafka's side

def _consumer(kafka_conf):
    from confluent_kafka import Consumer
    from ..kafka_client import quiet_logger
    return Consumer({"group.id": f"thelook-flink-results-{uuid.uuid4().hex}", "enable.auto.commit": False,
                     "enable.partition.eof": False, "logger": quiet_logger(), **kafka_conf})


def read_topic(kafka_conf, topic, timeout=60.0):
    """Every record of `topic` from its beginning to its end offsets of this moment, as (key, value) bytes, in
    partition order; [] when the topic does not exist."""
    from confluent_kafka import KafkaException, TopicPartition
    from ..kafka_client import reason
    consumer = _consumer(kafka_conf)
    try:
        try:
            meta = consumer.list_topics(topic, timeout=timeout)
        except KafkaException as err:
            raise OpsError(f"cannot reach Kafka at {kafka_conf.get('bootstrap.servers')}: {reason(err)}") from None
        if topic not in meta.topics or meta.topics[topic].error is not None:
            return []
        ends = {}
        for p in meta.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                ends[p] = (low, high)
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in ends.items()])
        records, done = [], set()
        deadline = time.monotonic() + timeout
        while len(done) < len(ends):
            if time.monotonic() > deadline:
                raise OpsError(f"reading {topic} did not reach its end offsets within {timeout:g} s")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                raise OpsError(f"{topic}: {msg.error()}")
            records.append((msg.key(), msg.value()))
            if msg.offset() + 1 >= ends[msg.partition()][1]:
                done.add(msg.partition())
        return records
    finally:
        consumer.close()


def result_table(kafka_conf, prefix, job, timeout=60.0):
    """{key tuple: row} of a job's upsert result topic: the last value per key, tombstoned keys removed."""
    table = {}
    for key, value in read_topic(kafka_conf, result_topic(prefix, job), timeout):
        k = json.dumps(json.loads(key), sort_keys=True)
        if value is None:
            table.pop(k, None)
        else:
            table[k] = json.loads(value)
    return keyed(table.values(), RESULTS[job].keys)


def written_off_items(kafka_conf, prefix, schema, timeout=60.0):
    """{item id: distribution centre id} of the unsold inventory items deleted, from the raw change topic."""
    deleted = {}
    for _, value in read_topic(kafka_conf, f"{prefix}.{schema}.inventory_items", timeout):
        if value is None:
            continue
        event = json.loads(value)
        event = event.get("payload", event)
        before = event.get("before") or {}
        if event.get("op") == "d" and before.get("sold_at") is None and "id" in before:
            deleted[before["id"]] = before.get("product_distribution_center_id")
    return deleted


# ---------------------------------------------------------------- comparing

def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-6 + 1e-9 * abs(float(b))
    return a == b


def diff(expected_table, actual, fields, limit=15):
    """Human-readable differences between two {key: row} tables ([] when equal)."""
    problems = []
    for key in sorted(set(expected_table) - set(actual))[:5]:
        problems.append(f"missing {key}: expected {expected_table[key]}")
    for key in sorted(set(actual) - set(expected_table))[:5]:
        problems.append(f"extra {key}: {actual[key]}")
    for key in sorted(set(expected_table) & set(actual)):
        bad = [f for f in fields if not same(expected_table[key].get(f), actual[key].get(f))]
        if bad and len(problems) < limit:
            problems.append(f"{key}: " + ", ".join(
                f"{f} expected {expected_table[key].get(f)!r} got {actual[key].get(f)!r}" for f in bad))
    return ([f"{len(expected_table)} expected rows, {len(actual)} in Kafka"] + problems) if problems else []


def compare(conn, kafka_conf, prefix, schema, jobs=JOBS, top_products_window=60):
    """{job: [differences]} ([] = equal) of every job, each computed on PostgreSQL and read from Kafka now.
    Also returns the row counts compared: ({job: problems}, {job: rows})."""
    problems, rows = {}, {}
    written_off = written_off_items(kafka_conf, prefix, schema) if "stock_per_dc" in jobs else None
    for job in jobs:
        want = expected(conn, schema, job, top_products_window, written_off)
        got = result_table(kafka_conf, prefix, job)
        problems[job] = diff(want, got, RESULTS[job].fields)
        rows[job] = len(want)
    return problems, rows


# ---------------------------------------------------------------- have the jobs read everything?

def source_topics(sql_dir, prefix, schema):
    """{job: {change topics its SQL reads}} from the job files (FROM/JOIN <table>_changes or <table>)."""
    reads = {}
    for path in sorted(Path(sql_dir, "jobs").glob("*.sql")):
        names = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", path.read_text()))
        tables = {n.replace("_changes", "") for n in names} & set(SHOP_TABLES)
        reads[path.stem] = {f"{prefix}.{schema}.{t}" for t in tables}
    return reads


def jobs_behind(kafka_conf, prefix, schema, sql_dir, ends=None):
    """{job: changes not yet committed} for the jobs whose consumer group (PREFIX.analytics.JOB) has not
    committed the end offsets (`ends`, default: of this moment) of every change topic it reads. The Kafka
    source commits on a completed checkpoint, and a checkpoint completes after the upsert-kafka sink flushed,
    so a job with nothing behind has its results in the result topic."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient
    reads = source_topics(sql_dir, prefix, schema)
    if ends is None:
        ends = end_offsets(kafka_conf, set().union(*reads.values()) if reads else set())
    from ..kafka_client import quiet_logger
    admin = AdminClient({**kafka_conf, "logger": quiet_logger()})
    behind = {}
    for job, topics in reads.items():
        group = result_topic(prefix, job)
        fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
        committed = {(tp.topic, tp.partition): tp.offset for tp in fut.result(timeout=30).topic_partitions}
        lag = sum(end - max(committed.get(tp, 0), 0) for tp, end in ends.items() if tp[0] in topics)
        if lag > 0:
            behind[job] = lag
    return behind


def end_offsets(kafka_conf, topics, timeout=30.0):
    """{(topic, partition): end offset} of these topics now (missing topics left out)."""
    from confluent_kafka import TopicPartition
    consumer = _consumer(kafka_conf)
    try:
        ends = {}
        for topic in sorted(topics):
            meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
            if meta is None or meta.error is not None:
                continue
            for p in meta.partitions:
                ends[(topic, p)] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
        return ends
    finally:
        consumer.close()
