"""Cluster mode's configuration as scripts/stack writes it (no service started): node names and ports, the
brokers' KRaft quorum and replication settings, the Connect workers' group and producer settings, the clients'
bootstrap list, the mode checks. The cluster itself runs in tests/cluster (scripts/test's cluster phase)."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def stackctl(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    for name in [m for m in sys.modules if m == "stackctl" or m.startswith("stackctl.")]:
        monkeypatch.delitem(sys.modules, name)
    from stackctl import services, settings
    return settings, services


def _ports(settings):
    return {name: default for name, (_, default) in settings.PORT_VARS.items()}


def test_cluster_nodes_names_and_ports(stackctl):
    settings, _ = stackctl
    assert settings.CLUSTER_SERVICES == ("postgres", "kafka", "kafka-2", "kafka-3", "connect", "connect-2",
                                         "jobmanager", "taskmanager", "taskmanager-2", "sql-gateway",
                                         "postgres-exporter", "prometheus", "dashboard")
    ports = _ports(settings)
    used = [ports[p] for svc in settings.CLUSTER_SERVICES for p in settings.SERVICE_PORTS[svc]]
    assert len(used) == len(set(used)), "two nodes of the cluster share a port"
    # the first node keeps the single node's ports (tools and alert rules name `kafka`, `connect`)
    assert settings.SERVICE_PORTS["kafka-2"] == ("kafka_2", "kafka_2_controller", "kafka_2_metrics")
    assert (settings.kind("kafka-3"), settings.node_number("kafka-3")) == ("kafka", 3)
    assert (settings.kind("sql-gateway"), settings.node_number("sql-gateway")) == ("sql-gateway", 1)
    state = settings.State(ROOT, ports, services=settings.CLUSTER_SERVICES, cluster=True)
    env = state.env_exports()
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert env["CONNECT_URL"] == "http://127.0.0.1:8083,http://127.0.0.1:8085"
    single = settings.State(ROOT, ports).env_exports()
    assert single["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092" and single["CONNECT_URL"] == "http://127.0.0.1:8083"


def test_cluster_ports_are_configurable(stackctl, monkeypatch):
    settings, _ = stackctl
    monkeypatch.setenv("THELOOK_KAFKA_3_PORT", "19096")
    assert settings.ports_from_env()["kafka_3"] == 19096
    monkeypatch.setenv("THELOOK_CONNECT_2_PORT", "9092")
    with pytest.raises(settings.StackError, match="same port"):
        settings.ports_from_env()


def test_three_combined_kraft_nodes_replicate_three_times(stackctl, tmp_path):
    settings, services = stackctl
    lay = services.Layout(data=tmp_path, java=Path("/j"), pg_bin=Path("/p"), jars=Path("/jars"), flink=Path("/f"))
    nodes = ("kafka", "kafka-2", "kafka-3")
    props = {n: services.kafka_props(lay, _ports(settings), nodes, n) for n in nodes}
    assert [props[n]["node.id"] for n in nodes] == ["1", "2", "3"]
    voters = {p["controller.quorum.voters"] for p in props.values()}
    assert voters == {"1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"}
    assert len({p["log.dirs"] for p in props.values()}) == 3
    for p in props.values():
        assert p["process.roles"] == "broker,controller"
        assert (p["default.replication.factor"], p["min.insync.replicas"]) == ("3", "2")
        assert p["offsets.topic.replication.factor"] == "3" and p["transaction.state.log.min.isr"] == "2"
        assert p["unclean.leader.election.enable"] == "false" and p["auto.leader.rebalance.enable"] == "true"
        assert int(p["broker.session.timeout.ms"]) > 9000   # Kafka's default fences nodes of a busy machine
        assert p["listeners"].count("127.0.0.1") == 2
    single = services.kafka_props(lay, _ports(settings), ("kafka",), "kafka")
    assert single["controller.quorum.voters"] == "1@127.0.0.1:9093" and "min.insync.replicas" not in single
    assert single["log.dirs"] == str(tmp_path / "kafka" / "data")   # where a single-node stack always kept it


def test_two_connect_workers_in_one_group(stackctl, tmp_path):
    settings, services = stackctl
    lay = services.Layout(data=tmp_path, java=Path("/j"), pg_bin=Path("/p"), jars=Path("/jars"), flink=Path("/f"))
    services.init_connect(lay, _ports(settings), ("connect", "connect-2"), ("kafka", "kafka-2", "kafka-3"))
    conf = {}
    for worker in ("connect", "connect-2"):
        lines = (tmp_path / worker / "connect.properties").read_text().splitlines()
        conf[worker] = dict(line.split("=", 1) for line in lines)
    assert conf["connect"]["group.id"] == conf["connect-2"]["group.id"]
    assert (conf["connect"]["listeners"], conf["connect-2"]["listeners"]) == ("http://127.0.0.1:8083",
                                                                            "http://127.0.0.1:8085")
    for c in conf.values():
        assert c["bootstrap.servers"] == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
        assert (c["producer.acks"], c["producer.enable.idempotence"]) == ("all", "true")
        assert c["offset.storage.replication.factor"] == "3" and c["config.storage.replication.factor"] == "3"
        assert int(c["scheduled.rebalance.max.delay.ms"]) > 0 and int(c["session.timeout.ms"]) > 10000


def test_a_data_dir_keeps_its_mode(stackctl, tmp_path):
    _, services = stackctl
    (tmp_path / "kafka" / "data").mkdir(parents=True)
    (tmp_path / "kafka" / "data" / "meta.properties").write_text("")
    services.check_kafka_mode(tmp_path, cluster=False)
    with pytest.raises(services.StackError, match="single-node stack's"):
        services.check_kafka_mode(tmp_path, cluster=True)
    (tmp_path / "kafka-2" / "data").mkdir(parents=True)
    (tmp_path / "kafka-2" / "data" / "meta.properties").write_text("")
    services.check_kafka_mode(tmp_path, cluster=True)
    with pytest.raises(services.StackError, match="a cluster's"):
        services.check_kafka_mode(tmp_path, cluster=False)
