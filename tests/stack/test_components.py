"""Each component of the stack is real and wired: broker round trip, Debezium on Connect, Flink, PostgreSQL."""
import json
import time
import uuid

import psycopg2
import pytest
import requests
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.stack


@pytest.fixture
def topic(stack_env):
    admin = AdminClient({"bootstrap.servers": stack_env["KAFKA_BOOTSTRAP_SERVERS"]})
    name = f"test.stack.roundtrip.{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(timeout=30)
    yield name
    admin.delete_topics([name])[name].result(timeout=30)


def test_kafka_produce_consume_round_trip(stack_env, topic):
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    sent = {f"key-{i}": json.dumps({"i": i, "nonce": uuid.uuid4().hex}) for i in range(200)}
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for key, value in sent.items():
        producer.produce(topic, key=key.encode(), value=value.encode())
    assert producer.flush(30) == 0

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    received = {}
    try:
        deadline = time.monotonic() + 60
        while len(received) < len(sent) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            received[msg.key().decode()] = msg.value().decode()
    finally:
        consumer.close()
    assert received == sent


def test_a_new_topic_is_bounded_by_size_not_by_age(stack_env, topic):
    """The broker's retention, which every change topic gets (Connect and the generator create them with the
    broker's defaults): 2 GiB per partition and no time limit (README.md, "Topics and retention")."""
    from confluent_kafka.admin import ConfigResource, ResourceType
    admin = AdminClient({"bootstrap.servers": stack_env["KAFKA_BOOTSTRAP_SERVERS"]})
    res = ConfigResource(ResourceType.TOPIC, topic)
    config = admin.describe_configs([res])[res].result(timeout=30)
    assert {k: config[k].value for k in ("cleanup.policy", "retention.ms", "retention.bytes", "segment.bytes")} == {
        "cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": str(2 << 30),
        "segment.bytes": str(256 << 20)}


def test_connect_lists_the_debezium_postgres_connector(stack_env):
    plugins = requests.get(f"{stack_env['CONNECT_URL']}/connector-plugins", timeout=10).json()
    classes = {p["class"]: p for p in plugins}
    assert "io.debezium.connector.postgresql.PostgresConnector" in classes
    assert classes["io.debezium.connector.postgresql.PostgresConnector"]["type"] == "source"


def _validate(stack_env, **overrides):
    config = {
        "name": f"test-stack-validate-{uuid.uuid4().hex[:8]}",
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": "${env:PGHOST}", "database.port": "${env:PGPORT}",
        "database.user": "${env:PGUSER}", "database.password": "${env:PGPASSWORD}",
        "database.dbname": "${env:PGDATABASE}", "topic.prefix": "test_stack_validate",
        "plugin.name": "pgoutput", **overrides,
    }
    url = f"{stack_env['CONNECT_URL']}/connector-plugins/PostgresConnector/config/validate"
    result = requests.put(url, json=config, timeout=60).json()
    return {c["value"]["name"]: c["value"]["errors"] for c in result["configs"]
            if c.get("value") and c["value"]["errors"]}


def test_connect_worker_resolves_env_secrets_for_debezium(stack_env):
    """Debezium's validation logs in to PostgreSQL with ${env:...} values resolved by the worker."""
    assert _validate(stack_env) == {}
    # the check is real: a wrong password (given literally) is refused by the database
    assert _validate(stack_env, **{"database.password": "not-the-password"})


def test_flink_rest_shows_a_taskmanager(stack_env):
    tms = requests.get(f"{stack_env['FLINK_URL']}/taskmanagers", timeout=10).json()["taskmanagers"]
    assert len(tms) >= 1
    overview = requests.get(f"{stack_env['FLINK_URL']}/overview", timeout=10).json()
    assert overview["taskmanagers"] >= 1 and overview["slots-total"] >= 1
    assert overview["flink-version"].startswith("2.")


def test_postgres_is_ready_for_logical_replication(stack_env):
    conn = psycopg2.connect(host=stack_env["PGHOST"], port=stack_env["PGPORT"], user=stack_env["PGUSER"],
                            password=stack_env["PGPASSWORD"], dbname=stack_env["PGDATABASE"])
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW wal_level")
            assert cur.fetchone()[0] == "logical"
            cur.execute("SELECT rolreplication, rolcanlogin FROM pg_roles WHERE rolname = current_user")
            assert cur.fetchone() == (True, True)
            cur.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")
            assert cur.fetchone()[0] == stack_env["PGUSER"]
            cur.execute("SHOW max_replication_slots")
            assert int(cur.fetchone()[0]) >= 10
    finally:
        conn.close()
