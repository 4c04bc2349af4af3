"""The cluster mode for Docker, compose.cluster.yaml, checked without Docker on the model `docker compose -f
compose.yaml -f compose.cluster.yaml` runs: both files merged by compose-go, the loader of Docker Compose v2
(tests/compose/composemodel), with extends applied and .env interpolated.

- compose-go and the compose-spec schema accept the overlay, and each rejects a broken copy;
- the merged model passes the rules compose.yaml's model passes (the rule functions of test_compose_v2.py,
  the checks of test_sharing.py and pinned_images.py; the memory budget is test_compose_v2.py's own);
- it is the cluster it should be: three KRaft nodes with distinct ids and one voter set, replication 3 with
  min.insync.replicas 2, two Connect workers of one group with their own REST listeners, two TaskManagers on
  one checkpoint volume, every client given the three brokers, every published port on 127.0.0.1;
- each extra node is its first node but for what makes it itself, Prometheus's cluster configuration scrapes
  every node, and the overlay writes no password.

Each rule written here is also run on a copy broken on purpose, so that a rule that finds nothing cannot pass.
"""
import json
import re
import subprocess
import shutil
from pathlib import PurePosixPath

import pytest
import yaml

# the extra nodes and the first node of their kind, which each one extends
FIRST_NODE = {"kafka-2": "kafka", "kafka-3": "kafka", "connect-2": "connect", "taskmanager-2": "taskmanager"}
BROKERS = ("kafka", "kafka-2", "kafka-3")
WORKERS = ("connect", "connect-2")
TASKMANAGERS = ("taskmanager", "taskmanager-2")
# what may differ between an extra node and its first node in the merged model: its identity
IDENTITY = {
    "kafka": {"hostname", "ports", "healthcheck.test", "env.KAFKA_NODE_ID", "env.KAFKA_ADVERTISED_LISTENERS",
              "volume:/var/lib/kafka/data"},
    "connect": {"hostname", "ports", "healthcheck.test", "env.ADVERTISED_HOST_NAME", "env.ADVERTISED_PORT",
                "env.CONNECT_LISTENERS"},
    "taskmanager": set(),
}
# the cluster mode's broker settings (compose.cluster.yaml's x-kafka-cluster, README "Cluster mode with Docker")
BROKER_SETTINGS = {
    "KAFKA_PROCESS_ROLES": "broker,controller",
    "KAFKA_DEFAULT_REPLICATION_FACTOR": "3",
    "KAFKA_MIN_INSYNC_REPLICAS": "2",
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "3",
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "3",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "2",
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "3",
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "2",
    "KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE": "false",
    "KAFKA_AUTO_LEADER_REBALANCE_ENABLE": "true",
    "KAFKA_LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS": "30",
    "KAFKA_NUM_PARTITIONS": "1",
    "KAFKA_BROKER_SESSION_TIMEOUT_MS": "18000",
    "KAFKA_BROKER_HEARTBEAT_INTERVAL_MS": "3000",
    "KAFKA_CONTROLLER_QUORUM_FETCH_TIMEOUT_MS": "6000",
    "KAFKA_CONTROLLER_QUORUM_ELECTION_TIMEOUT_MS": "3000",
}
# the cluster mode's worker settings (the image turns CONNECT_A_B into the worker property a.b)
WORKER_SETTINGS = {
    "config.storage.replication.factor": "3",
    "offset.storage.replication.factor": "3",
    "status.storage.replication.factor": "3",
    "producer.acks": "all",
    "producer.enable.idempotence": "true",
    "session.timeout.ms": "20000",
    "heartbeat.interval.ms": "3000",
    "scheduled.rebalance.max.delay.ms": "10000",
}
# host ports of the extra nodes (the THELOOK_*_PORT the local cluster mode uses too) and their defaults
EXTRA_PORTS = {"kafka-2": ("THELOOK_KAFKA_2_PORT", "9094"), "kafka-3": ("THELOOK_KAFKA_3_PORT", "9096"),
               "connect-2": ("THELOOK_CONNECT_2_PORT", "8085")}
CONNECT_REST_DEFAULT = 8083   # Connect's `listeners` default, http://:8083
CLUSTER_SCRAPE_CONFIG = "/etc/prometheus/prometheus.cluster.yml"
SECRET_KEY = re.compile(r"pass(word)?|secret|token|credential", re.I)


@pytest.fixture(scope="module")
def rules(tools):
    """The rule functions of test_compose_v2.py (each returns the problems it finds in a resolved model)."""
    return tools._load_module("compose_v2_rules", tools.HERE / "test_compose_v2.py")


@pytest.fixture(scope="module")
def pinned(tools):
    return tools._load_module("pinned_images", tools.HERE / "pinned_images.py")


def load_ok(composemodel, tools, files, env_file=None, **kwargs):
    load = tools.load_model(composemodel, files, env_file, **kwargs)
    assert load.returncode == 0, f"compose-go rejected the project: {load.error}"
    return load.model


def env_of(svc):
    return svc.get("environment") or {}


def flink_property(svc, key):
    for line in str(env_of(svc).get("FLINK_PROPERTIES") or "").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == key:
            return value.strip()
    return None


def worker_properties(svc):
    """The Connect worker properties the image's entrypoint writes from CONNECT_* variables."""
    return {k[len("CONNECT_"):].lower().replace("_", "."): str(v) for k, v in env_of(svc).items()
            if k.startswith("CONNECT_")}


def listeners(value):
    """{name: (host, port)} of a Kafka listener list such as INTERNAL://kafka:19092,EXTERNAL://:9092."""
    out = {}
    for item in str(value or "").split(","):
        name, sep, address = item.partition("://")
        if sep:
            host, _, port = address.rpartition(":")
            out[name] = (host, int(port))
    return out


# ------------------------------------------------------------------ the overlay as a file

def test_compose_go_accepts_the_merged_project(cluster_resolved, resolved):
    services = cluster_resolved["services"]
    assert set(services) == set(resolved["services"]) | set(FIRST_NODE)
    for node, first in FIRST_NODE.items():
        assert services[node]["image"] == services[first]["image"], f"{node} does not run {first}'s image"


def overlay_problems(overlay, base):
    """The overlay changes compose.yaml's services and adds the extra nodes: it copies no service (a copy would
    drift from compose.yaml), and each extra node extends its first node in compose.yaml."""
    problems = []
    for name, svc in sorted((overlay.get("services") or {}).items()):
        if name in FIRST_NODE:
            extends = svc.get("extends") or {}
            if extends != {"file": "compose.yaml", "service": FIRST_NODE[name]}:
                problems.append(f"{name} does not extend compose.yaml's {FIRST_NODE[name]} (extends: {extends})")
            if {"image", "build"} & set(svc):
                problems.append(f"{name} names its own image or build instead of its first node's")
        elif name in base["services"]:
            copied = {"image", "build", "extends"} & set(svc)
            if copied:
                problems.append(f"{name}: the overlay restates {sorted(copied)}; only the changes belong here")
        else:
            problems.append(f"{name}: a service that is neither in compose.yaml nor one of the extra nodes")
    missing = set(FIRST_NODE) - set(overlay.get("services") or {})
    problems += [f"the overlay lacks {name}" for name in sorted(missing)]
    return problems


def test_overlay_shares_compose_yaml(cluster_compose, compose):
    assert overlay_problems(cluster_compose, compose) == []
    assert set(cluster_compose) <= {"services", "volumes"} | {k for k in cluster_compose if k.startswith("x-")}


@pytest.mark.parametrize("change", ["copy", "own image", "no extends", "unknown service"])
def test_overlay_rule_catches(cluster_compose, compose, change):
    overlay = json.loads(json.dumps(cluster_compose, default=lambda tag: tag.value))
    services = overlay["services"]
    if change == "copy":
        services["connect"]["image"] = "quay.io/debezium/connect:${DEBEZIUM_VERSION}"
    elif change == "own image":
        services["kafka-3"]["image"] = "apache/kafka:${KAFKA_VERSION}"
    elif change == "no extends":
        del services["taskmanager-2"]["extends"]
    else:
        services["kafka-4"] = {"extends": {"file": "compose.yaml", "service": "kafka"}}
    assert overlay_problems(overlay, compose)


def _unknown_key(data):
    data["services"]["kafka-2"]["hostnamee"] = data["services"]["kafka-2"].pop("hostname")


def _extends_unknown_service(data):
    data["services"]["connect-2"]["extends"]["service"] = "connect-1"


def _undeclared_volume(data):
    del data["volumes"]["kafka-3-data"]


def _unknown_dependency(data):
    data["services"]["register-connector"]["depends_on"]["connect-3"] = {"condition": "service_healthy"}


@pytest.mark.parametrize("mutate, message", [
    (_unknown_key, "hostnamee"),
    (_extends_unknown_service, "connect-1"),
    (_undeclared_volume, "kafka-3-data"),
    (_unknown_dependency, "connect-3"),
], ids=["unknown service key", "extends an unknown service", "undeclared volume", "depends_on unknown service"])
def test_compose_go_rejects_broken_overlays(composemodel, tools, tmp_path, mutate, message):
    files, env_file = tools.cluster_copy(tmp_path, mutate)
    load = tools.load_model(composemodel, files, env_file)
    assert load.returncode != 0, f"compose-go accepted an overlay with {mutate.__name__}"
    assert message in load.error, load.error
    assert load.error.startswith("composemodel: error: ") and "\n" not in load.error


def _schema_check(tools, data, tmp_path):
    """check-jsonschema with the compose-spec schema, on the overlay without its merge tags (a YAML tag is not
    JSON; compose-go, which reads them, validates the tagged file)."""
    binary = shutil.which("check-jsonschema")
    if not binary:
        pytest.fail("check-jsonschema is not installed: source scripts/bootstrap (tests/requirements.txt pins it)")
    path = tmp_path / "compose.cluster.untagged.yaml"
    path.write_text(yaml.safe_dump(tools.untagged(data), sort_keys=False))
    cmd = [*tools.offline_prefix(), binary, "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(cmd, env=tools.clean_env(), capture_output=True, text=True, timeout=120)


def test_compose_spec_schema_accepts_the_overlay(tools, cluster_compose, tmp_path):
    out = _schema_check(tools, cluster_compose, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_spec_schema_catches_a_broken_overlay(tools, tmp_path):
    data = tools.load_compose_yaml(tools.CLUSTER_FILE.read_text())
    check = data["services"]["kafka-2"]["healthcheck"]
    check["test_cmd"] = check.pop("test")
    assert _schema_check(tools, data, tmp_path).returncode != 0


# ------------------------------------------------------------------ compose.yaml's rules, on the merged model

def test_cluster_image_tags_come_from_env(composemodel, tools, tmp_path, env_pins, rules):
    env_text = rules.sentinel_env(tools.ENV_FILE.read_text())
    files, env_file = tools.cluster_copy(tmp_path, env_text=env_text)
    model = load_ok(composemodel, tools, files, env_file)
    assert rules.image_tag_problems(model, set(env_pins)) == []
    assert set(FIRST_NODE) <= set(model["services"])


def test_cluster_pulls_no_other_image(pinned, cluster_resolved, resolved):
    """The extra nodes run the images compose.yaml pins (the nightly image check covers them)."""
    assert pinned.pinned_images(cluster_resolved) == pinned.pinned_images(resolved)


def test_cluster_dependencies_exist_with_satisfiable_conditions(cluster_resolved, rules, tools):
    services = cluster_resolved["services"]
    assert rules.depends_on_problems(cluster_resolved) == []
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert spec.get("condition") in ("service_healthy", "service_completed_successfully"), \
                f"{name} -> {dep}: {spec.get('condition')} does not wait for readiness"
    state = {}

    def visit(name, path):
        assert state.get(name) != "visiting", f"depends_on cycle: {' -> '.join(path + [name])}"
        if state.get(name) != "done":
            state[name] = "visiting"
            for dep in services[name].get("depends_on") or {}:
                visit(dep, path + [name])
            state[name] = "done"

    for name in services:
        visit(name, [])


def test_cluster_dependency_rule_catches(composemodel, tools, tmp_path, rules):
    def mutate(data):
        data["services"]["register-connector"]["depends_on"]["connect-2"]["condition"] = \
            "service_completed_successfully"
    files, env_file = tools.cluster_copy(tmp_path, mutate)
    assert rules.depends_on_problems(load_ok(composemodel, tools, files, env_file))


def test_cluster_ports_are_published_on_loopback_only(cluster_resolved, composemodel, tools, rules):
    services = cluster_resolved["services"]
    assert rules.port_problems(cluster_resolved) == []
    for name, (variable, default) in EXTRA_PORTS.items():
        assert [str(p["published"]) for p in services[name]["ports"]] == [default], \
            f"{name} should publish exactly 127.0.0.1:{default} (${variable})"
    # the first nodes keep their own ports only (an extended node must not take its first node's port too)
    published = [(p.get("host_ip"), str(p["published"])) for s in services.values() for p in s.get("ports") or []]
    assert len(published) == len(set(published)), f"a host port is published twice: {sorted(published)}"
    moved = load_ok(composemodel, tools, tools.CLUSTER_FILES,
                    env={variable: str(20000 + i) for i, (variable, _) in enumerate(EXTRA_PORTS.values())})
    assert rules.port_problems(moved) == []
    for i, name in enumerate(EXTRA_PORTS):
        assert [str(p["published"]) for p in moved["services"][name]["ports"]] == [str(20000 + i)]


def test_cluster_port_rule_catches(composemodel, tools, tmp_path, rules):
    def mutate(data):
        data["services"]["kafka-3"]["ports"].value = ["${THELOOK_KAFKA_3_PORT:-9096}:9092"]
    files, env_file = tools.cluster_copy(tmp_path, mutate)
    assert rules.port_problems(load_ok(composemodel, tools, files, env_file))


def test_cluster_review_fixes_hold(cluster_resolved, rules):
    """compose.yaml's fixes, on the merged model and on the extra nodes: the worker config in memory (connect-2
    too), the Flink containers restarted with a new connector jar (taskmanager-2 too), host addresses that are
    published ones."""
    services = cluster_resolved["services"]
    for worker in WORKERS:
        assert rules.config_volume_problems({"services": {"connect": services[worker]}}) == [], worker
    assert rules.classpath_problems(cluster_resolved) == []
    readers = [n for n, s in services.items() if (s.get("depends_on") or {}).get("flink-jars", {}).get("restart")]
    assert sorted(readers) == ["jobmanager", "sql-gateway", "taskmanager", "taskmanager-2"]
    assert rules.host_address_problems(cluster_resolved) == []


def test_cluster_generator_image_is_the_projects_own(composemodel, tools, rules):
    models = {name: load_ok(composemodel, tools, tools.CLUSTER_FILES, name=name) for name in ("alpha", "beta")}
    assert rules.generator_image_problems(models) == []


def test_cluster_restart_policies_and_mounts(cluster_resolved, resolved, tools):
    """Long-running nodes restart; the overlay bind-mounts nothing compose.yaml does not, and read-only."""
    base_binds = {v["source"] for s in resolved["services"].values() for v in s.get("volumes") or []
                  if v.get("type") == "bind"}
    declared = set(cluster_resolved.get("volumes") or {})
    for name, svc in cluster_resolved["services"].items():
        if svc.get("healthcheck") and name != "postgres":
            assert svc.get("restart") in ("unless-stopped", "always"), f"{name} is long-running without restart"
        for vol in svc.get("volumes") or []:
            if vol.get("type") == "bind":
                assert vol["source"] in base_binds, f"{name} bind-mounts {vol['source']}, which compose.yaml does not"
                assert vol.get("read_only"), f"{name} mounts {vol['source']} writable"
            elif vol.get("type") == "volume":
                assert vol["source"] in declared, f"{name} uses undeclared volume {vol['source']}"


def test_connector_json_resolves_in_every_worker(cluster_resolved, tools):
    """Either worker may run the connector and its task: each resolves the JSON's ${env:...} references."""
    connectors = sorted((tools.ROOT / "connectors").glob("*.json"))
    assert connectors
    for worker in WORKERS:
        env = env_of(cluster_resolved["services"][worker])
        providers = set(worker_properties(cluster_resolved["services"][worker]).get("config.providers", "").split(","))
        for path in connectors:
            for provider, arg in re.findall(r"\$\{(\w+):([^}]*)\}", path.read_text()):
                assert provider in providers, f"{worker}: no config provider {provider} for {path.name}"
                if provider == "env":
                    assert arg in env, f"{worker} lacks {arg}, which {path.name} reads from the worker's environment"


# ------------------------------------------------------------------ the cluster itself

def kafka_cluster_problems(model):
    """Three KRaft nodes in combined mode that form one quorum: distinct node ids, the same cluster id and voter
    set naming each node's controller listener, each node advertising its own addresses and keeping its own data
    and metrics agent, the replication settings of the cluster mode, and no broker waiting for another to start."""
    services = model["services"]
    problems = []
    nodes = {name: env_of(services[name]) for name in BROKERS if name in services}
    if set(nodes) != set(BROKERS):
        return [f"the cluster has the brokers {sorted(nodes)}, not {list(BROKERS)}"]
    ids = {name: env.get("KAFKA_NODE_ID") for name, env in nodes.items()}
    if len(set(ids.values())) != len(ids):
        problems.append(f"node ids are not distinct: {ids}")
    for key in ("CLUSTER_ID", "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_LISTENERS", "KAFKA_CONTROLLER_LISTENER_NAMES"):
        values = {name: env.get(key) for name, env in nodes.items()}
        if len(set(values.values())) != 1:
            problems.append(f"{key} differs between the nodes: {values}")
    voters = nodes["kafka"].get("KAFKA_CONTROLLER_QUORUM_VOTERS", "")
    controller = listeners(nodes["kafka"].get("KAFKA_LISTENERS")).get(nodes["kafka"].get("KAFKA_CONTROLLER_LISTENER_NAMES"))
    expected = ",".join(f"{ids[name]}@{name}:{controller[1] if controller else '?'}" for name in BROKERS)
    if voters != expected:
        problems.append(f"the voters {voters!r} are not the three nodes' controller listeners {expected!r}")
    data_dirs = {}
    for name, env in nodes.items():
        svc = services[name]
        for key, value in BROKER_SETTINGS.items():
            if env.get(key) != value:
                problems.append(f"{name}: {key}={env.get(key)!r}, the cluster mode wants {value!r}")
        advertised = listeners(env.get("KAFKA_ADVERTISED_LISTENERS"))
        internal = advertised.get(env.get("KAFKA_INTER_BROKER_LISTENER_NAME"))
        if not internal or internal[0] != name or svc.get("hostname") != name:
            problems.append(f"{name} advertises {internal} to the other containers and is named "
                            f"{svc.get('hostname')!r}: both should be its own name")
        external = advertised.get("EXTERNAL")
        bound = listeners(env.get("KAFKA_LISTENERS")).get("EXTERNAL")
        published = {(p.get("host_ip"), str(p["published"])): p["target"] for p in svc.get("ports") or []}
        if not external or not bound or published.get((external[0], str(external[1]))) != bound[1]:
            problems.append(f"{name} advertises EXTERNAL {external} to the host but publishes {published}")
        data = [v.get("source") for v in svc.get("volumes") or []
                if v.get("target") == env.get("KAFKA_LOG_DIRS") and v.get("type") == "volume"]
        if len(data) != 1:
            problems.append(f"{name} keeps its log dir {env.get('KAFKA_LOG_DIRS')} in no named volume of its own")
        data_dirs[name] = data[0] if data else None
        agent = re.search(r"-javaagent:\S*jmx_prometheus_javaagent-[^=]+\.jar=(\d+):\S*/kafka\.yml", env.get("KAFKA_OPTS", ""))
        if not agent:
            problems.append(f"{name} runs no JMX exporter agent with the broker rules (KAFKA_OPTS)")
        test = " ".join((svc.get("healthcheck") or {}).get("test") or [])
        if f"--bootstrap-server {name}:{internal[1] if internal else '?'}" not in test:
            problems.append(f"{name}'s health check does not ask {name} itself: {test}")
        waits = set(svc.get("depends_on") or {}) & set(BROKERS)
        if waits:
            problems.append(f"{name} waits for {sorted(waits)}: the brokers must start together (a quorum of "
                            f"three voters needs two of them up before any is healthy)")
    if len(set(data_dirs.values())) != len(data_dirs):
        problems.append(f"brokers share a data volume: {data_dirs}")
    return problems


def test_three_kafka_nodes_form_one_quorum(cluster_resolved):
    assert kafka_cluster_problems(cluster_resolved) == []
    ids = sorted(env_of(cluster_resolved["services"][n])["KAFKA_NODE_ID"] for n in BROKERS)
    assert ids == ["1", "2", "3"]
    assert env_of(cluster_resolved["services"]["kafka"])["KAFKA_CONTROLLER_QUORUM_VOTERS"] == \
        "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"


def _same_node_id(data):
    data["services"]["kafka-3"]["environment"]["KAFKA_NODE_ID"] = "2"


def _own_voters(data):
    data["services"]["kafka-2"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] = "2@kafka-2:9093"


def _shared_data(data):
    data["services"]["kafka-3"]["volumes"] = ["kafka-data:/var/lib/kafka/data"]


def _first_node_single(data):
    data["services"]["kafka"]["environment"].pop("KAFKA_MIN_INSYNC_REPLICAS")


def _advertises_the_first_node(data):
    data["services"]["kafka-2"]["environment"]["KAFKA_ADVERTISED_LISTENERS"] = \
        "INTERNAL://kafka:19092,EXTERNAL://127.0.0.1:${THELOOK_KAFKA_2_PORT:-9094}"


def _waits_for_a_broker(data):
    data["services"]["kafka-3"]["depends_on"] = {"kafka": {"condition": "service_healthy"}}


def _health_of_another_node(data):
    data["services"]["kafka-2"].pop("healthcheck")


@pytest.mark.parametrize("mutate", [_same_node_id, _own_voters, _shared_data, _first_node_single,
                                    _advertises_the_first_node, _waits_for_a_broker, _health_of_another_node],
                         ids=["node id twice", "voters differ", "data volume shared", "min.insync.replicas 1 on one node",
                              "advertises another node", "broker waits for a broker", "health check of another node"])
def test_kafka_cluster_rule_catches(composemodel, tools, tmp_path, mutate):
    files, env_file = tools.cluster_copy(tmp_path, mutate)
    assert kafka_cluster_problems(load_ok(composemodel, tools, files, env_file))


def client_problems(model):
    """Every Kafka client in the containers is given the three brokers' internal listeners (one broker down
    leaves it two to bootstrap from), and what waits for Kafka waits for the whole cluster."""
    services = model["services"]
    brokers = set()
    for name in BROKERS:
        env = env_of(services[name])
        host, port = listeners(env.get("KAFKA_ADVERTISED_LISTENERS"))[env.get("KAFKA_INTER_BROKER_LISTENER_NAME")]
        brokers.add(f"{host}:{port}")
    problems, clients = [], 0
    for name, svc in sorted(services.items()):
        for key in ("KAFKA_BOOTSTRAP_SERVERS", "BOOTSTRAP_SERVERS"):
            if key in env_of(svc):
                clients += 1
                given = set(str(env_of(svc)[key]).split(","))
                if given != brokers:
                    problems.append(f"{name}: {key}={env_of(svc)[key]}, not the three brokers {sorted(brokers)}")
        deps = svc.get("depends_on") or {}
        if "kafka" in deps and name not in BROKERS:
            missing = [b for b in BROKERS if (deps.get(b) or {}).get("condition") != "service_healthy"]
            # the dashboard only reads: one healthy broker means the quorum stands
            if missing and name != "dashboard":
                problems.append(f"{name} waits for kafka but not for {missing} to be healthy")
    if clients < 6:
        problems.append(f"only {clients} Kafka clients found")
    return problems


def test_every_client_is_given_the_three_brokers(cluster_resolved):
    assert client_problems(cluster_resolved) == []


@pytest.mark.parametrize("service, key", [("connect-2", "BOOTSTRAP_SERVERS"), ("submit-flink-jobs", "KAFKA_BOOTSTRAP_SERVERS"),
                                          ("dashboard", "KAFKA_BOOTSTRAP_SERVERS")])
def test_client_rule_catches_a_single_broker(composemodel, tools, tmp_path, service, key):
    def mutate(data):
        data["services"][service].setdefault("environment", {})[key] = "kafka:19092"
    files, env_file = tools.cluster_copy(tmp_path, mutate)
    assert client_problems(load_ok(composemodel, tools, files, env_file))


def test_client_rule_catches_a_start_before_the_cluster(composemodel, tools, tmp_path):
    def mutate(data):
        data["services"]["init-schema"]["depends_on"].pop("kafka-3")
    files, env_file = tools.cluster_copy(tmp_path, mutate)
    assert client_problems(load_ok(composemodel, tools, files, env_file))


def test_the_generator_creates_topics_replicated_on_the_three_brokers(cluster_resolved):
    """init-schema and the generator, configured by environment: thelook-datagen's own parser reads the three
    brokers and the replication factor the brokers default to."""
    from thelook_datagen.options import parse_settings

    default = int(env_of(cluster_resolved["services"]["kafka"])["KAFKA_DEFAULT_REPLICATION_FACTOR"])
    for name in ("init-schema", "generator"):
        env = {k: str(v) for k, v in env_of(cluster_resolved["services"][name]).items()}
        settings = parse_settings([], environ=env)
        assert settings.bootstrap_servers == "kafka:19092,kafka-2:19092,kafka-3:19092"
        assert settings.topic_replication_factor == default == 3, name


def rest_listener(svc):
    """(host, port) of a worker's REST listener: `listeners` (CONNECT_LISTENERS), else Connect's default 8083."""
    value = worker_properties(svc).get("listeners", f"http://:{CONNECT_REST_DEFAULT}")
    host, _, port = value.split("://", 1)[1].split(",")[0].rpartition(":")
    return host, int(port)


def connect_cluster_problems(model):
    """Two Connect workers of one group: the same group id and internal topics, the cluster mode's settings, and each
    worker its own advertised name and REST port, published on 127.0.0.1 and asked by its own health check."""
    services = model["services"]
    problems = []
    workers = {name: services[name] for name in WORKERS if name in services}
    if set(workers) != set(WORKERS):
        return [f"the Connect group has the workers {sorted(workers)}, not {list(WORKERS)}"]
    for key in ("GROUP_ID", "CONFIG_STORAGE_TOPIC", "OFFSET_STORAGE_TOPIC", "STATUS_STORAGE_TOPIC"):
        values = {name: env_of(svc).get(key) for name, svc in workers.items()}
        if len(set(values.values())) != 1 or None in values.values():
            problems.append(f"{key} differs between the workers: {values}")
    ports = {}
    for name, svc in workers.items():
        env, props = env_of(svc), worker_properties(svc)
        for key, value in WORKER_SETTINGS.items():
            if props.get(key) != value:
                problems.append(f"{name}: {key}={props.get(key)!r}, the cluster mode wants {value!r}")
        _, port = rest_listener(svc)
        ports[name] = port
        if env.get("ADVERTISED_HOST_NAME") != name or svc.get("hostname") != name:
            problems.append(f"{name} advertises {env.get('ADVERTISED_HOST_NAME')!r} to the other worker")
        if str(env.get("ADVERTISED_PORT", CONNECT_REST_DEFAULT)) != str(port):
            problems.append(f"{name} listens on {port} but advertises port {env.get('ADVERTISED_PORT', CONNECT_REST_DEFAULT)}")
        if not any(p.get("host_ip") == "127.0.0.1" and p["target"] == port for p in svc.get("ports") or []):
            problems.append(f"{name}'s REST listener :{port} is not published on 127.0.0.1")
        test = " ".join((svc.get("healthcheck") or {}).get("test") or [])
        if f"http://{name}:{port}/" not in test:
            problems.append(f"{name}'s health check does not ask its own REST listener: {test}")
    if len(set(ports.values())) != len(ports):
        problems.append(f"the workers share a REST port: {ports}")
    return problems


def test_two_connect_workers_form_one_group(cluster_resolved):
    assert connect_cluster_problems(cluster_resolved) == []
    assert env_of(cluster_resolved["services"]["connect-2"])["GROUP_ID"] == "thelook-connect"
    assert rest_listener(cluster_resolved["services"]["connect-2"])[1] == 8085


def _own_group(data):
    data["services"]["connect-2"]["environment"]["GROUP_ID"] = "thelook-connect-2"


def _same_rest_port(data):
    env = data["services"]["connect-2"]["environment"]
    env.pop("CONNECT_LISTENERS")
    env.pop("ADVERTISED_PORT")


def _advertises_the_first_worker(data):
    data["services"]["connect-2"]["environment"]["ADVERTISED_HOST_NAME"] = "connect"


def _acks_one(data):
    data["services"]["connect"]["environment"]["CONNECT_PRODUCER_ACKS"] = "1"


@pytest.mark.parametrize("mutate", [_own_group, _same_rest_port, _advertises_the_first_worker, _acks_one],
                         ids=["another group", "same REST port", "advertises the other worker", "acks=1"])
def test_connect_cluster_rule_catches(composemodel, tools, tmp_path, mutate):
    files, env_file = tools.cluster_copy(tmp_path, mutate)
    assert connect_cluster_problems(load_ok(composemodel, tools, files, env_file))


def flink_cluster_problems(model, jobs):
    """Two TaskManagers of the one JobManager, each with a slot per job (the jobs have parallelism 1: either
    runs them all alone), both writing checkpoints where the JobManager reads them: one named volume."""
    services = model["services"]
    problems = []
    jobmanager = services["jobmanager"]

    def checkpoint_volume(svc):
        folder = str(flink_property(svc, "execution.checkpointing.dir") or "").removeprefix("file://")
        return folder, {v.get("source") for v in svc.get("volumes") or []
                        if v.get("type") == "volume" and v.get("target") == folder}

    folder, volume = checkpoint_volume(jobmanager)
    if len(volume) != 1:
        return [f"the JobManager's checkpoint folder {folder!r} is in no named volume"]
    for name in TASKMANAGERS:
        svc = services.get(name)
        if svc is None:
            problems.append(f"no {name}")
            continue
        if checkpoint_volume(svc) != (folder, volume):
            problems.append(f"{name} checkpoints to {checkpoint_volume(svc)}, not the JobManager's {(folder, volume)}")
        if flink_property(svc, "jobmanager.rpc.address") != "jobmanager":
            problems.append(f"{name} registers with {flink_property(svc, 'jobmanager.rpc.address')!r}")
        slots = int(flink_property(svc, "taskmanager.numberOfTaskSlots") or 1)
        if slots < jobs:
            problems.append(f"{name} has {slots} slots: the {jobs} jobs could not all run on it alone")
    return problems


@pytest.fixture(scope="module")
def flink_jobs(tools):
    return len(list((tools.ROOT / "flink" / "jobs").glob("*.sql")))


def test_two_taskmanagers_share_the_checkpoint_volume(cluster_resolved, flink_jobs):
    assert flink_jobs >= 5
    assert flink_cluster_problems(cluster_resolved, flink_jobs) == []


def _own_checkpoints(data):
    data["services"]["taskmanager-2"]["volumes"] = ["tm2-checkpoints:/opt/flink/checkpoints"]
    data["volumes"]["tm2-checkpoints"] = None


def _few_slots(data):
    data["services"]["taskmanager-2"]["environment"] = {"FLINK_PROPERTIES": "\n".join([
        "jobmanager.rpc.address: jobmanager", "taskmanager.numberOfTaskSlots: 2",
        "execution.checkpointing.dir: file:///opt/flink/checkpoints"])}


@pytest.mark.parametrize("mutate", [_own_checkpoints, _few_slots], ids=["own checkpoint volume", "too few slots"])
def test_flink_cluster_rule_catches(composemodel, tools, tmp_path, flink_jobs, mutate):
    files, env_file = tools.cluster_copy(tmp_path, mutate)
    assert flink_cluster_problems(load_ok(composemodel, tools, files, env_file), flink_jobs)


def _flatten(svc):
    """A service as {key: value} with dotted keys for nested mappings (environment as env.<NAME>) and volumes
    keyed by their target, so that two services can be compared key by key."""
    out = {}
    for key, value in svc.items():
        if key == "environment":
            out.update({f"env.{k}": v for k, v in (value or {}).items()})
        elif key == "volumes":
            out.update({f"volume:{v['target']}": v for v in value or []})
        elif key in ("healthcheck", "depends_on") and isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def identity_problems(model):
    """Each extra node is its first node (after the overlay's changes to both) but for its identity."""
    services = model["services"]
    problems = []
    for node, first in FIRST_NODE.items():
        mine, theirs = _flatten(services[node]), _flatten(services[first])
        differ = {k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k)}
        unexpected = differ - IDENTITY[first]
        if unexpected:
            problems.append(f"{node} differs from {first} in {sorted(unexpected)}")
    return problems


def test_every_extra_node_is_its_first_node_but_for_its_identity(cluster_resolved):
    assert identity_problems(cluster_resolved) == []


def _first_node_changed_alone(data):
    data["services"]["connect"]["environment"]["OFFSET_FLUSH_INTERVAL_MS"] = "5000"


def _extra_node_smaller(data):
    data["services"]["kafka-3"]["mem_limit"] = "512m"


@pytest.mark.parametrize("mutate", [_first_node_changed_alone, _extra_node_smaller],
                         ids=["first node changed alone", "extra node's own limit"])
def test_identity_rule_catches(composemodel, tools, tmp_path, mutate):
    files, env_file = tools.cluster_copy(tmp_path, mutate)
    assert identity_problems(load_ok(composemodel, tools, files, env_file))


def test_one_shots_wait_for_the_whole_cluster(cluster_resolved):
    """The connector is registered once both workers are in the group (a worker joining later would move it in
    the middle of its snapshot), and the jobs are submitted once both TaskManagers are there."""
    services = cluster_resolved["services"]
    healthy = {name: {d for d, spec in (svc.get("depends_on") or {}).items() if spec.get("condition") == "service_healthy"}
               for name, svc in services.items()}
    assert set(WORKERS) <= healthy["register-connector"]
    assert set(TASKMANAGERS) <= healthy["submit-flink-jobs"]
    for name in ("init-schema", "generator", *WORKERS):
        assert set(BROKERS) <= healthy[name], f"{name} starts before the three brokers are healthy"


# ------------------------------------------------------------------ Prometheus

def metrics_endpoints(model):
    """{service: port} of every metrics agent or reporter in the model: the JMX exporter agent in KAFKA_OPTS
    (Kafka, Connect), Flink's Prometheus reporter port."""
    out = {}
    for name, svc in model["services"].items():
        agent = re.search(r"-javaagent:\S*jmx_prometheus_javaagent[^=]*=(\d+):", str(env_of(svc).get("KAFKA_OPTS", "")))
        if agent:
            out[name] = int(agent.group(1))
        reporter = flink_property(svc, "metrics.reporter.prom.port")
        if reporter:
            out[name] = int(reporter)
    return out


def scrape_targets(config):
    """{target: (job, instance label)} of a scrape configuration."""
    return {target: (job["job_name"], (static.get("labels") or {}).get("instance"))
            for job in config["scrape_configs"] for static in job.get("static_configs", [])
            for target in static["targets"]}


def scrape_problems(model, config):
    """Every node with a metrics endpoint is a target of its kind's job, labelled with its service name."""
    targets = scrape_targets(config)
    jobs = {"kafka": "kafka", "connect": "connect", "jobmanager": "flink", "taskmanager": "flink"}
    problems = []
    for name, port in sorted(metrics_endpoints(model).items()):
        kind = FIRST_NODE.get(name, name)
        want = (jobs.get(kind), name)
        got = targets.get(f"{name}:{port}")
        if got != want:
            problems.append(f"{name}'s metrics at {name}:{port} are scraped as {got}, not as job/instance {want}")
    return problems


def test_cluster_prometheus_scrapes_every_node(cluster_resolved, tools):
    prometheus = cluster_resolved["services"]["prometheus"]
    assert f"--config.file={CLUSTER_SCRAPE_CONFIG}" in prometheus["command"]
    mounted = {v["target"]: v["source"] for v in prometheus.get("volumes") or [] if v.get("type") == "bind"}
    folder = PurePosixPath(CLUSTER_SCRAPE_CONFIG).parent
    host_file = tools.ROOT / "observability" / "prometheus" / "prometheus.cluster.yml"
    assert mounted.get(str(folder)) == str(host_file.parent), f"{folder} is not observability/prometheus: {mounted}"
    config = yaml.safe_load(host_file.read_text())
    assert scrape_problems(cluster_resolved, config) == []
    assert set(FIRST_NODE) <= set(metrics_endpoints(cluster_resolved)), "the rule saw no extra node's metrics"


def test_cluster_prometheus_runs_compose_yamls_command_with_the_cluster_config(cluster_resolved, resolved):
    base = resolved["services"]["prometheus"]["command"]
    cluster = cluster_resolved["services"]["prometheus"]["command"]
    assert [a for a in cluster if not a.startswith("--config.file=")] == \
        [a for a in base if not a.startswith("--config.file=")]


def test_cluster_scrape_config_is_the_single_nodes_plus_the_extra_nodes(tools):
    folder = tools.ROOT / "observability" / "prometheus"
    single = yaml.safe_load((folder / "prometheus.yml").read_text())
    cluster = yaml.safe_load((folder / "prometheus.cluster.yml").read_text())
    assert {k: v for k, v in cluster.items() if k != "scrape_configs"} == \
        {k: v for k, v in single.items() if k != "scrape_configs"}
    assert [j["job_name"] for j in cluster["scrape_configs"]] == [j["job_name"] for j in single["scrape_configs"]]
    added = {t: v for t, v in scrape_targets(cluster).items() if t not in scrape_targets(single)}
    assert {t: v for t, v in scrape_targets(cluster).items() if t in scrape_targets(single)} == scrape_targets(single)
    assert added == {"kafka-2:9404": ("kafka", "kafka-2"), "kafka-3:9404": ("kafka", "kafka-3"),
                     "connect-2:9405": ("connect", "connect-2"), "taskmanager-2:9250": ("flink", "taskmanager-2")}


def test_scrape_rule_catches_a_node_left_out(cluster_resolved, tools):
    config = yaml.safe_load((tools.ROOT / "observability" / "prometheus" / "prometheus.cluster.yml").read_text())
    for job in config["scrape_configs"]:
        job["static_configs"] = [s for s in job["static_configs"] if s["targets"] != ["connect-2:9405"]]
    assert scrape_problems(cluster_resolved, config) == \
        ["connect-2's metrics at connect-2:9405 are scraped as None, not as job/instance ('connect', 'connect-2')"]
    config = yaml.safe_load((tools.ROOT / "observability" / "prometheus" / "prometheus.yml").read_text())
    assert len(scrape_problems(cluster_resolved, config)) == len(FIRST_NODE)


# ------------------------------------------------------------------ no password

def password_literals(data, path=""):
    """Values written in the file under a key that names a secret (a `${VAR}` reference is not a literal)."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if SECRET_KEY.search(str(key)) and isinstance(value, (str, int)) and str(value) \
                    and not str(value).startswith("${"):
                found.append(where)
            found += password_literals(value, where)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            if isinstance(value, str) and "=" in value:   # a list-form environment entry KEY=VALUE
                key, _, literal = value.partition("=")
                if SECRET_KEY.search(key) and literal and not literal.startswith("${"):
                    found.append(f"{path}[{i}]")
            found += password_literals(value, f"{path}[{i}]")
    return found


def test_the_overlay_writes_no_password(cluster_compose, tools):
    """The extra workers get the database password from compose.yaml's connect (extends), not from this file."""
    assert password_literals(tools.untagged(cluster_compose)) == []


@pytest.mark.parametrize("literal", [{"PGPASSWORD": "thelook"}, ["PGPASSWORD=thelook"], {"GF_SECURITY_ADMIN_PASSWORD": "admin"}],
                         ids=["mapping", "list form", "another secret"])
def test_password_rule_catches(cluster_compose, tools, literal):
    data = tools.untagged(cluster_compose)
    data["services"]["connect-2"]["environment"] = literal
    assert password_literals(data)
