"""Every change of a seeded generator run arrives in Kafka: verify finds zero differences."""
import json
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

from testkit import pg_servers

pytestmark = pytest.mark.stack


def read_topic(env, topic):
    c = Consumer({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"], "group.id": f"cdct-{uuid.uuid4().hex[:6]}",
                  "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        highs = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        pos = {p: 0 for p in parts}
        out = []
        while any(pos[p] < highs[p] for p in parts):
            for m in c.consume(1000, 1.0):
                if m.error():
                    continue
                pos[m.partition()] = m.offset() + 1
                out.append((m.key(), m.value()))
        return out
    finally:
        c.close()


# on the stack's PostgreSQL and on the second major (tests/cdc/conftest.py)
@pytest.mark.parametrize("pg_server", pg_servers(), indirect=True)
def test_seeded_run_replays_exactly_with_all_ops_and_full_before_images(pipeline):
    # Writes go on while the connector snapshots and then streams: r for what was there, c/u/d after.
    gen = pipeline.generator("--if_exists", "replace", "--seed", "42", "--avg-qps", "50", "--max_iter", "1500",
                             background=True)
    pipeline.wait_for_tables()
    pipeline.register()
    pipeline.wait(gen, timeout=240)

    res, report = pipeline.verify("--require-full-before-images")
    assert res.returncode == 0, res.stdout + res.stderr
    assert report["ok"] and "OK: all" in res.stdout

    by_table = {t["table"]: t for t in report["tables"]}
    ops = {op: sum(t["ops"].get(op, 0) for t in report["tables"]) for op in "rcud"}
    assert all(ops[op] > 0 for op in "rcud"), f"every op type must occur: {ops}"
    for t in report["tables"]:
        assert t["missing"] == t["extra"] == t["different"] == 0, t
        assert t["replica_identity"] == "full", t
    assert by_table["orders"]["ops"].get("u", 0) > 0, "order lifecycles must produce UPDATEs"
    assert report["before_images"]["checked"] > 0
    assert report["before_images"]["missing"] == 0 and report["before_images"]["mismatch"] == 0
    deletes = sum(t["ops"].get("d", 0) for t in report["tables"])
    assert sum(t["tombstones"] for t in report["tables"]) >= deletes > 0
    assert report["latency"]["events"] > 0 and report["latency"]["p50_ms"] is not None

    # Independently of verify: UPDATE and DELETE events carry every column in their before-image.
    columns = {r[0] for r in pipeline.sql(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = 'orders'",
        (pipeline.schema,))}
    events = [json.loads(v) for _, v in read_topic(pipeline.stack_env, f"{pipeline.prefix}.{pipeline.schema}.orders") if v]
    updates = [e for e in events if e["op"] == "u"]
    assert updates and all(set(e["before"]) == columns and e["before"]["order_id"] == e["after"]["order_id"]
                           for e in updates)
    assert any(e["before"]["status"] != e["after"]["status"] for e in updates)
    delete_tables = [t["table"] for t in report["tables"] if t["ops"].get("d")]
    for table in delete_tables:
        cols = {r[0] for r in pipeline.sql(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (pipeline.schema, table))}
        records = read_topic(pipeline.stack_env, f"{pipeline.prefix}.{pipeline.schema}.{table}")
        dels = [(k, json.loads(v)) for k, v in records if v and json.loads(v)["op"] == "d"]
        assert dels and all(e["after"] is None and set(e["before"]) == cols for _, e in dels)
        tomb_keys = {k for k, v in records if v is None}
        assert all(k in tomb_keys for k, _ in dels), f"{table}: each DELETE is followed by a tombstone"


    # Registering again is an idempotent update of the running connector.
    again = pipeline.register()
    assert "updated" in again.stdout and "RUNNING" in again.stdout

    # verify is no rubber stamp: rows changed behind the connector's back (slot gone, so the change
    # can never reach Kafka) show up as different and extra, with exit status 1.
    pipeline.register("--delete")
    for _ in range(60):
        if not pipeline.sql("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s AND active", (pipeline.slot,)):
            break
        time.sleep(1)
    pipeline.sql("SELECT pg_drop_replication_slot(%s)", (pipeline.slot,))
    key = pipeline.sql(f'SELECT min(id) FROM "{pipeline.schema}".products')[0][0]
    pipeline.sql(f'UPDATE "{pipeline.schema}".products SET name = name || \' (changed)\' WHERE id = %s', (key,))
    victim = pipeline.sql(f'SELECT max(id) FROM "{pipeline.schema}".events')[0][0]
    pipeline.sql(f'DELETE FROM "{pipeline.schema}".events WHERE id = %s', (victim,))
    res, report = pipeline.verify("--cut", "end", "--idle", "2")
    assert res.returncode == 1, res.stdout + res.stderr
    by_table = {t["table"]: t for t in report["tables"]}
    assert by_table["products"]["different"] == 1 and by_table["events"]["extra"] == 1
    assert "(changed)" in res.stdout and "DIFFERENCES" in res.stdout
