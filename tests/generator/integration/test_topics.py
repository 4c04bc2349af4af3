"""Topic creation against the real Kafka broker of the stack (KAFKA_BOOTSTRAP_SERVERS)."""
import socket
import threading
import time
import uuid

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from thelook_datagen.tables import CAPTURED_TABLES

pytestmark = pytest.mark.stack



@pytest.fixture
def admin(stack_env):
    return AdminClient({"bootstrap.servers": stack_env["KAFKA_BOOTSTRAP_SERVERS"]})


@pytest.fixture
def prefix(admin):
    name = "gt" + uuid.uuid4().hex[:8]
    yield name
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(name + ".")]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            future.result(timeout=60)


def test_creates_topics_with_partitions_and_configs(run_gen, schema, prefix, admin):
    proc = run_gen("--schema", schema, "--topic-prefix", prefix, "--topic-partitions", "3",
                   "--topic-config", "retention.ms=3600000", "--topic-config", "cleanup.policy=delete",
                   "--max_iter", "1")
    assert f"{len(CAPTURED_TABLES)} created" in proc.stderr
    metadata = admin.list_topics(timeout=10)
    names = [f"{prefix}.{schema}.{t}" for t in CAPTURED_TABLES]
    for name in names:
        assert name in metadata.topics, name
        assert len(metadata.topics[name].partitions) == 3
    configs = admin.describe_configs([ConfigResource("topic", names[2])])
    entries = list(configs.values())[0].result(timeout=30)
    assert entries["retention.ms"].value == "3600000"
    assert entries["cleanup.policy"].value == "delete"
    # existing topics are fine
    again = run_gen("--schema", schema, "--topic-prefix", prefix, "--max_iter", "1")
    assert f"0 created, {len(CAPTURED_TABLES)} already there" in again.stderr


def test_kafka_client_settings_from_options_and_env(run_gen, schema, prefix):
    proc = run_gen("--schema", schema, "--topic-prefix", prefix, "--kafka-config", "no.such.setting=1",
                   "--max_iter", "1", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "no.such.setting" in proc.stderr
    proc = run_gen("--schema", schema, "--topic-prefix", prefix, "--max_iter", "1", check=False,
                   env={"THELOOK_KAFKA_CONFIG_NO_SUCH_THING": "1"})
    assert proc.returncode != 0 and "no.such.thing" in proc.stderr
    # a real client setting passes through to the broker connection
    run_gen("--schema", schema, "--topic-prefix", prefix, "--kafka-config", "client.id=thelook-test",
            "--max_iter", "1", env={"THELOOK_KAFKA_CONFIG_SOCKET_KEEPALIVE_ENABLE": "true"})


class Listener:
    """A TCP port that records every connection made to it (a stand-in for 'no broker here')."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.running = False
        self.thread.join(timeout=2)
        self.sock.close()


def test_unreachable_broker_fails_clearly_within_the_bound(run_gen, schema, db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    servers = f"127.0.0.1:{port}"
    start = time.time()
    proc = run_gen("--schema", schema, "--bootstrap-servers", servers, "--kafka-timeout", "4",
                   "--max_iter", "1", check=False)
    took = time.time() - start
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and servers in line and "cannot reach Kafka" in line
    assert took < 20
    assert db.scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", schema) == 0


def test_no_create_topic_never_contacts_kafka(run_gen, schema):
    listener = Listener()
    try:
        run_gen("--schema", schema, "--no-create-topic", "--bootstrap-servers", f"127.0.0.1:{listener.port}",
                "--max_iter", "5")
        run_gen("--schema", schema, "--bootstrap-servers", f"127.0.0.1:{listener.port}", "--max_iter", "5",
                env={"THELOOK_CREATE_TOPIC": "false"})
        time.sleep(0.5)
        assert listener.accepted == 0
    finally:
        listener.close()
    # the listener does count connections: a run that creates topics does connect to it
    listener = Listener()
    try:
        run_gen("--schema", schema, "--bootstrap-servers", f"127.0.0.1:{listener.port}", "--kafka-timeout", "2",
                "--max_iter", "1", check=False)
        assert listener.accepted > 0
    finally:
        listener.close()
