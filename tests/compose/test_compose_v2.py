"""compose.yaml as Docker Compose v2 resolves it (compose-go, tests/compose/composemodel): what the
resolved model must say, and the fixes from a review of the file against the images' sources.

Each rule is a function that returns the problems it finds in a resolved model. Every test runs it on
the real file (no problem) and on copies broken on purpose (at least one problem), so that a rule
that finds nothing cannot pass for a rule that holds.
"""
import copy
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# The Debezium Connect image declares these paths VOLUMEs and its entrypoint edits the files there
# from the environment (debezium/container-images, connect-base/<version>/Dockerfile and
# docker-entrypoint.sh: `cp -rn config.orig/* config`, then one property per CONNECT_* variable).
IMAGE_CONFIG_VOLUMES = {"connect": "/kafka/config"}
# The oldest Maven image release still maintained when MAVEN_IMAGE_TAG was last raised
# (docker-library/official-images, library/maven, August 2026: 3.9.16 for eclipse-temurin-17).
MAVEN_MINIMUM = (3, 9, 16)
SENTINEL = re.compile(r"pin([A-Z][A-Z0-9_]*)pin")
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")


def drop_pin(env_text, key):
    return "".join(l for l in env_text.splitlines(keepends=True) if not l.startswith(key + "="))


def set_pin(env_text, key, value):
    return "".join(f"{key}={value}\n" if l.startswith(key + "=") else l for l in env_text.splitlines(keepends=True))


def sentinel_env(env_text):
    """.env with every value replaced by pin<KEY>pin: in a model loaded with it, a value that came
    from .env shows where it came from, and one that did not shows as itself."""
    lines = []
    for line in env_text.splitlines(keepends=True):
        key, sep, _ = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            line = f"{key}=pin{key.strip()}pin\n"
        lines.append(line)
    return "".join(lines)


def one_shot(svc):
    return svc.get("restart", "") in ("", "no")


def has_healthcheck(svc):
    check = svc.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable") and check.get("test") != ["NONE"]


def load_ok(composemodel, tools, *args, **kwargs):
    load = tools.load_model(composemodel, *args, **kwargs)
    assert load.returncode == 0, f"compose-go rejected the project: {load.error}"
    return load.model


# ------------------------------------------------------------------ image tags come from .env

def image_tag_problems(model, env_keys):
    """`model` loaded with sentinel_env: every pulled image's tag (and the generator's base-image
    build argument) must be made of .env values only."""
    problems = []
    for name, svc in sorted(model["services"].items()):
        refs = {f"build argument {arg}": value for arg, value in ((svc.get("build") or {}).get("args") or {}).items()
                if arg.endswith("_TAG")}
        if "build" not in svc:
            image = svc.get("image", "")
            repo, sep, tag = image.rpartition(":")
            if not sep or "/" in tag:
                problems.append(f"{name}: image {image} has no tag (it would pull :latest)")
                continue
            refs[f"image {repo}"] = tag
        for what, value in refs.items():
            keys = SENTINEL.findall(value)
            rest = SENTINEL.sub("", value)
            if not keys or rest.strip("-._"):
                problems.append(f"{name}: {what} tag {value!r} is not made of .env pins only")
            problems += [f"{name}: {what} uses {key}, which .env does not set" for key in keys if key not in env_keys]
    return problems


def _pinned_model(composemodel, tools, tmp_path, mutate=None, env_text=None):
    env_text = tools.ENV_FILE.read_text() if env_text is None else env_text
    compose_file, env_file = tools.project_copy(tmp_path, mutate, sentinel_env(env_text))
    return load_ok(composemodel, tools, compose_file, env_file)


def test_every_image_tag_comes_from_env(composemodel, tools, tmp_path, env_pins):
    model = _pinned_model(composemodel, tools, tmp_path)
    assert image_tag_problems(model, set(env_pins)) == []
    pulled = [svc for svc in model["services"].values() if "build" not in svc]
    assert len(pulled) >= 5, "the rule looked at too few images"


def _hard_coded_tag(data):
    data["services"]["kafka"]["image"] = "apache/kafka:4.3.1"


def _tag_with_default(data):
    data["services"]["kafka"]["image"] = "apache/kafka:${KAFKA_VERSION:-4.3.1}"


def _latest(data):
    data["services"]["kafka"]["image"] = "apache/kafka"


def _base_image_literal(data):
    data["services"]["generator"]["build"]["args"]["PYTHON_IMAGE_TAG"] = "3.11-slim"


@pytest.mark.parametrize("mutate, drop", [
    (_hard_coded_tag, None), (_tag_with_default, "KAFKA_VERSION"), (_latest, None),
    (_base_image_literal, None), (None, "MAVEN_IMAGE_TAG"),
], ids=["hard-coded tag", "default used when the pin is missing", "no tag", "base image tag literal",
        "pin missing from .env"])
def test_image_tag_rule_catches(composemodel, tools, tmp_path, env_pins, mutate, drop):
    env_text = tools.ENV_FILE.read_text()
    if drop:
        env_text = drop_pin(env_text, drop)
    model = _pinned_model(composemodel, tools, tmp_path, mutate, env_text)
    keys = set(env_pins) - {drop}
    assert image_tag_problems(model, keys), "the image tag rule accepted a broken file"


# ------------------------------------------------------------------ depends_on

def depends_on_problems(model):
    problems = []
    services = model["services"]
    for name, svc in sorted(services.items()):
        for dep, spec in sorted((svc.get("depends_on") or {}).items()):
            condition = (spec or {}).get("condition", "service_started")
            if dep not in services:
                problems.append(f"{name} depends on {dep}, which does not exist")
                continue
            target = services[dep]
            if condition not in CONDITIONS:
                problems.append(f"{name} -> {dep}: unknown condition {condition!r}")
            elif condition == "service_completed_successfully" and not one_shot(target):
                problems.append(f"{name} waits for {dep} to complete, but {dep} restarts "
                                f"(restart: {target.get('restart')}): it never completes")
            elif condition == "service_healthy" and not has_healthcheck(target):
                problems.append(f"{name} waits for {dep} to be healthy, but {dep} has no health check")
    return problems


def test_every_dependency_exists_with_a_satisfiable_condition(resolved):
    assert depends_on_problems(resolved) == []
    assert sum(len(s.get("depends_on") or {}) for s in resolved["services"].values()) >= 10


def _healthy_one_shot(data):
    data["services"]["generator"]["depends_on"]["init-schema"]["condition"] = "service_healthy"


def _completion_of_a_server(data):
    data["services"]["submit-flink-jobs"]["depends_on"]["taskmanager"]["condition"] = "service_completed_successfully"


def _health_check_removed(data):
    del data["services"]["connect"]["healthcheck"]


@pytest.mark.parametrize("mutate", [_healthy_one_shot, _completion_of_a_server, _health_check_removed],
                         ids=["healthy on a one-shot", "completed on a long-running service",
                              "healthy on a service whose health check is gone"])
def test_dependency_rule_catches(composemodel, tools, tmp_path, mutate):
    compose_file, env_file = tools.project_copy(tmp_path, mutate)
    assert depends_on_problems(load_ok(composemodel, tools, compose_file, env_file))


# ------------------------------------------------------------------ published ports

def port_problems(model):
    problems = []
    for name, svc in sorted(model["services"].items()):
        for port in svc.get("ports") or []:
            if port.get("host_ip") != "127.0.0.1":
                problems.append(f"{name}: container port {port.get('target')} is published on "
                                f"{port.get('host_ip') or 'every address'}, not 127.0.0.1")
    return problems


def test_every_published_port_is_bound_to_loopback(resolved, composemodel, tools):
    assert port_problems(resolved) == []
    assert sum(len(s.get("ports") or []) for s in resolved["services"].values()) >= 5
    # the host ports move with the launcher's variables, and stay on the loopback address
    moved = load_ok(composemodel, tools, env={"THELOOK_CONNECT_PORT": "18083", "THELOOK_PG_PORT": "15432"})
    assert port_problems(moved) == []
    assert moved["services"]["connect"]["ports"][0]["published"] == "18083"


def test_port_rule_catches_a_port_on_every_address(composemodel, tools, tmp_path):
    def mutate(data):
        data["services"]["connect"]["ports"] = ["${THELOOK_CONNECT_PORT:-8083}:8083"]
    compose_file, env_file = tools.project_copy(tmp_path, mutate)
    assert port_problems(load_ok(composemodel, tools, compose_file, env_file))


# ------------------------------------------------------------------ review fixes

def config_volume_problems(model):
    """A worker config the entrypoint writes from the environment must not outlive the container."""
    problems = []
    for name, path in IMAGE_CONFIG_VOLUMES.items():
        svc = model["services"][name]
        mounts = [v for v in svc.get("volumes") or [] if v.get("target") == path]
        if not any(v.get("type") == "tmpfs" for v in mounts):
            problems.append(f"{name}: {path} is kept in a volume, so a {name.upper()}_* setting removed from "
                            f"compose.yaml stays in effect after a recreate; mount a tmpfs there "
                            f"(a `volumes:` entry of type tmpfs)")
        if path in [t.split(":")[0] for t in svc.get("tmpfs") or []]:
            problems.append(f"{name}: {path} under `tmpfs:`; on the first recreate Compose v2 re-attaches the old "
                            f"anonymous volume there too (only a `volumes:` entry for the path replaces it)")
    return problems


def test_connect_config_does_not_outlive_the_container(resolved):
    assert config_volume_problems(resolved) == []


def _config_volume_removed(data):
    data["services"]["connect"].pop("volumes")


def _config_in_named_volume(data):
    data["services"]["connect"]["volumes"] = ["connect-config:/kafka/config"]
    data["volumes"]["connect-config"] = None


def _short_tmpfs(data):
    data["services"]["connect"].pop("volumes")
    data["services"]["connect"]["tmpfs"] = ["/kafka/config"]


@pytest.mark.parametrize("mutate", [_config_volume_removed, _config_in_named_volume, _short_tmpfs],
                         ids=["image volume", "named volume", "tmpfs key"])
def test_config_volume_rule_catches(composemodel, tools, tmp_path, mutate):
    compose_file, env_file = tools.project_copy(tmp_path, mutate)
    assert config_volume_problems(load_ok(composemodel, tools, compose_file, env_file))


def classpath_problems(model):
    """Every service that mounts the volume flink-jars fills restarts when flink-jars is recreated."""
    services = model["services"]
    jars = services["flink-jars"]
    jars_dir = (jars.get("environment") or {}).get("JARS_DIR")
    sources = {v["source"] for v in jars.get("volumes") or [] if v.get("target") == jars_dir and v.get("type") == "volume"}
    if not sources:
        return [f"flink-jars writes its jars to {jars_dir}, which is no named volume"]
    problems, readers = [], 0
    for name, svc in sorted(services.items()):
        if name == "flink-jars" or not any(v.get("source") in sources for v in svc.get("volumes") or []):
            continue
        readers += 1
        dep = (svc.get("depends_on") or {}).get("flink-jars") or {}
        if dep.get("condition") != "service_completed_successfully":
            problems.append(f"{name} mounts the connector jars but does not wait for flink-jars to complete")
        if not dep.get("restart"):
            problems.append(f"{name} keeps the old connector on its classpath when flink-jars replaces the jar "
                            f"(depends_on: flink-jars: restart: true)")
    if not readers:
        problems.append(f"no service mounts the volume {sorted(sources)} flink-jars fills")
    return problems


def test_flink_restarts_with_a_new_connector_jar(resolved):
    assert classpath_problems(resolved) == []
    readers = [n for n, s in resolved["services"].items() if (s.get("depends_on") or {}).get("flink-jars", {}).get("restart")]
    assert sorted(readers) == ["jobmanager", "sql-gateway", "taskmanager"]


def _no_restart(data):
    data["services"]["sql-gateway"]["depends_on"]["flink-jars"].pop("restart")


def _no_dependency(data):
    data["services"]["taskmanager"]["depends_on"].pop("flink-jars")


@pytest.mark.parametrize("mutate", [_no_restart, _no_dependency], ids=["restart dropped", "dependency dropped"])
def test_classpath_rule_catches(composemodel, tools, tmp_path, mutate):
    compose_file, env_file = tools.project_copy(tmp_path, mutate)
    assert classpath_problems(load_ok(composemodel, tools, compose_file, env_file))


def host_address_problems(model):
    """Addresses given to the host's user (the web UI link submit-flink-jobs prints) name the address
    and port compose publishes: 127.0.0.1 only, where `localhost` may mean ::1."""
    published = {(p.get("host_ip"), str(p.get("published"))): (name, p.get("target"))
                 for name, svc in model["services"].items() for p in svc.get("ports") or []}
    problems = []
    for name, svc in sorted(model["services"].items()):
        for key, value in sorted((svc.get("environment") or {}).items()):
            if not isinstance(value, str) or "://" not in value:
                continue
            url = urlsplit(value)
            if url.hostname == "localhost":
                problems.append(f"{name}: {key}={value} says localhost; only 127.0.0.1 is published")
            elif url.hostname == "127.0.0.1" and ("127.0.0.1", str(url.port)) not in published:
                problems.append(f"{name}: {key}={value} is no published address")
    ui = urlsplit((model["services"]["submit-flink-jobs"].get("environment") or {}).get("FLINK_UI_URL", ""))
    if published.get((ui.hostname, str(ui.port))) != ("jobmanager", 8081):
        problems.append(f"FLINK_UI_URL does not name the JobManager's published web UI port")
    return problems


def test_printed_addresses_are_the_published_ones(resolved, composemodel, tools):
    assert host_address_problems(resolved) == []
    moved = load_ok(composemodel, tools, env={"THELOOK_FLINK_PORT": "18081"})
    assert host_address_problems(moved) == []
    assert moved["services"]["submit-flink-jobs"]["environment"]["FLINK_UI_URL"] == "http://127.0.0.1:18081"


@pytest.mark.parametrize("value, env", [
    ("http://localhost:${THELOOK_FLINK_PORT:-8081}", {}),
    ("http://127.0.0.1:8081", {"THELOOK_FLINK_PORT": "18081"}),
    ("http://127.0.0.1:${THELOOK_CONNECT_PORT:-8083}", {}),
], ids=["localhost", "port not following THELOOK_FLINK_PORT", "another service's port"])
def test_host_address_rule_catches(composemodel, tools, tmp_path, value, env):
    def mutate(data):
        data["services"]["submit-flink-jobs"]["environment"]["FLINK_UI_URL"] = value
    compose_file, env_file = tools.project_copy(tmp_path, mutate)
    assert host_address_problems(load_ok(composemodel, tools, compose_file, env_file, env=env))


def generator_image_problems(models):
    """`models`: the project loaded under two names. The services built from ./generator share one
    image (built once), and two projects never share it (one checkout's build would replace the
    other's)."""
    problems, images = [], {}
    for project, model in models.items():
        built = {n: s.get("image") for n, s in model["services"].items()
                 if (s.get("build") or {}).get("context", "").endswith("/generator")}
        if len(built) < 4:
            problems.append(f"{project}: only {sorted(built)} are built from ./generator")
        if len(set(built.values())) != 1:
            problems.append(f"{project}: the services built from ./generator use several images: {built}")
        images[project] = set(built.values())
    first, second = images.values()
    if first & second:
        problems.append(f"projects {' and '.join(images)} share the generator image {sorted(first & second)}")
    return problems


def _two_projects(composemodel, tools, compose_file=None, env_file=None):
    return {name: load_ok(composemodel, tools, compose_file, env_file, name=name) for name in ("alpha", "beta")}


def test_generator_image_is_the_projects_own(composemodel, tools):
    models = _two_projects(composemodel, tools)
    assert generator_image_problems(models) == []
    assert models["alpha"]["services"]["generator"]["image"] == "alpha-generator"


@pytest.mark.parametrize("image", ["thelook-datagen:local", None], ids=["fixed name", "own name per service"])
def test_generator_image_rule_catches(composemodel, tools, tmp_path, image):
    def mutate(data):
        for name in ("init-schema", "register-connector", "generator", "submit-flink-jobs"):
            if image:
                data["services"][name]["image"] = image
            elif name != "generator":
                data["services"][name].pop("image")
    compose_file, env_file = tools.project_copy(tmp_path, mutate)
    assert generator_image_problems(_two_projects(composemodel, tools, compose_file, env_file))


def maven_image_problems(model, env_pins):
    image = model["services"]["flink-jars"].get("image", "")
    m = re.fullmatch(r"maven:(\d+)\.(\d+)\.(\d+)-eclipse-temurin-(\d+)", image)
    if not m:
        return [f"flink-jars runs {image}, not a maven:<x.y.z>-eclipse-temurin-<java> release tag"]
    problems = []
    if tuple(map(int, m.groups()[:3])) < MAVEN_MINIMUM:
        problems.append(f"{image} is older than Maven {'.'.join(map(str, MAVEN_MINIMUM))}, the oldest maintained tag")
    if m.group(4) != env_pins.get("JAVA_MAJOR"):
        problems.append(f"{image} runs Java {m.group(4)}; the stack pins Java {env_pins.get('JAVA_MAJOR')}")
    return problems


def test_maven_image_is_a_maintained_release(resolved, env_pins):
    assert maven_image_problems(resolved, env_pins) == []


@pytest.mark.parametrize("tag", ["3.9.11-eclipse-temurin-17", "3.9.16-eclipse-temurin-21", "3-eclipse-temurin-17"],
                         ids=["old patch release", "other Java", "floating tag"])
def test_maven_image_rule_catches(composemodel, tools, tmp_path, env_pins, tag):
    env_text = set_pin(tools.ENV_FILE.read_text(), "MAVEN_IMAGE_TAG", tag)
    compose_file, env_file = tools.project_copy(tmp_path, env_text=env_text)
    assert maven_image_problems(load_ok(composemodel, tools, compose_file, env_file), env_pins)


# ------------------------------------------------------------------ memory budget

# The long-running services' limits add up to at most this (README, "Memory"): 4096 MiB for the pipeline
# (a 4 GB Docker Desktop VM) and 768 for the dashboard, mostly room for a verify run from its page (543 MiB
# measured for 185,000 rows; about 60 MiB at rest). A new service stays inside it or raises it with measured
# figures.
MEMORY_BUDGET_MIB = 4864
# The cluster mode (compose.yaml + compose.cluster.yaml, README "Memory"): the same services plus kafka-2 and
# kafka-3 (640 MiB each), connect-2 (768) and taskmanager-2 (1216), each with its first node's limit, and
# Prometheus at 192 MiB for its four more targets: 8192 MiB with the dashboard, an 8 GB Docker VM.
CLUSTER_MEMORY_BUDGET_MIB = 8192
# Below a JVM's -Xmx the container keeps at least this much for metaspace, code cache, thread stacks
# and direct buffers (the measured non-heap of these JVMs is 100 to 200 MiB).
JVM_NON_HEAP_MIN_MIB = 128
# Where each JVM service configures its size: (environment variable, Flink property or None).
# A Flink process size is the whole JVM (heap, metaspace, off-heap, overhead): it may equal the limit.
JVM_SIZES = {
    "kafka": ("KAFKA_HEAP_OPTS", None),
    "connect": ("HEAP_OPTS", None),
    "flink-jars": ("MAVEN_OPTS", None),
    "metrics-jars": ("MAVEN_OPTS", None),
    "jobmanager": ("FLINK_PROPERTIES", "jobmanager.memory.process.size"),
    "taskmanager": ("FLINK_PROPERTIES", "taskmanager.memory.process.size"),
    "sql-gateway": ("FLINK_PROPERTIES", "env.java.opts.sql-gateway"),
}
# The cluster's extra nodes size their JVMs where their first node does.
CLUSTER_JVM_SIZES = dict(JVM_SIZES, **{"kafka-2": JVM_SIZES["kafka"], "kafka-3": JVM_SIZES["kafka"],
                                      "connect-2": JVM_SIZES["connect"], "taskmanager-2": JVM_SIZES["taskmanager"]})
UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30}


def size_bytes(text):
    m = re.fullmatch(r"\s*(\d+)\s*([kmg]?b?)\s*", str(text), re.I)
    return int(m.group(1)) * UNITS[m.group(2).lower()] if m else None


def memory_limit(svc):
    """The container's memory limit in bytes as Compose v2 applies it (mem_limit, or the deploy limit,
    which Compose v2 applies without swarm); the smaller one when both are set; None when unlimited."""
    limits = [svc.get("mem_limit"), ((svc.get("deploy") or {}).get("resources") or {}).get("limits", {}).get("memory")]
    limits = [size_bytes(v) for v in limits if v]
    return min(limits) if limits else None


def flink_property(svc, key):
    for line in str((svc.get("environment") or {}).get("FLINK_PROPERTIES") or "").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == key:
            return value.strip()
    return None


def jvm_size(svc, variable, flink_key):
    """(bytes, what) of a JVM's configured size: its -Xmx, or a Flink process size."""
    text = flink_property(svc, flink_key) if variable == "FLINK_PROPERTIES" else (svc.get("environment") or {}).get(variable)
    if flink_key and flink_key.endswith("process.size"):
        return size_bytes(text) if text else None, flink_key
    xmx = re.findall(r"-Xmx(\d+[kKmMgG]?)\b", text or "")
    return (size_bytes(xmx[-1]) if xmx else None), f"-Xmx in {flink_key or variable}"


def memory_problems(model, budget_mib=MEMORY_BUDGET_MIB, jvm_sizes=JVM_SIZES):
    problems, total = [], 0
    mib = 1 << 20
    for name, svc in sorted(model["services"].items()):
        limit = memory_limit(svc)
        if limit is None:
            problems.append(f"{name}: no memory limit (mem_limit)")
            continue
        if not one_shot(svc) and not svc.get("profiles"):   # an optional profile adds its own memory
            total += limit
        if name in jvm_sizes:
            size, what = jvm_size(svc, *jvm_sizes[name])
            if size is None:
                problems.append(f"{name}: no {what}: the JVM would size itself (Kafka's and Connect's scripts "
                                f"default to 1 and 2 GB)")
            elif what.endswith("process.size") and size > limit:
                problems.append(f"{name}: {what} {size // mib} MiB exceeds its limit of {limit // mib} MiB")
            elif not what.endswith("process.size") and size + JVM_NON_HEAP_MIN_MIB * mib > limit:
                problems.append(f"{name}: {what} {size // mib} MiB leaves less than {JVM_NON_HEAP_MIN_MIB} MiB "
                                f"of its {limit // mib} MiB limit to the rest of the JVM")
    if total > budget_mib * mib:
        problems.append(f"the long-running services' limits add up to {total // mib} MiB, over the budget of "
                        f"{budget_mib} MiB (README, Memory: raise it with measured figures)")
    return problems


def test_memory_budget(resolved):
    assert memory_problems(resolved) == []
    long_running = [s for s in resolved["services"].values() if not one_shot(s) and not s.get("profiles")]
    assert len(long_running) >= 7, "the rule looked at too few services"
    assert sum(memory_limit(s) for s in long_running) <= MEMORY_BUDGET_MIB << 20


def _limit_removed(data):
    data["services"]["register-connector"].pop("mem_limit")


def _over_budget(data):
    data["services"]["taskmanager"]["mem_limit"] = "2048m"
    data["services"]["taskmanager"]["environment"]["FLINK_PROPERTIES"] = data["services"]["taskmanager"][
        "environment"]["FLINK_PROPERTIES"].replace("process.size: 1216m", "process.size: 2048m")


def _heap_over_limit(data):
    data["services"]["connect"]["environment"]["HEAP_OPTS"] = "-Xms256m -Xmx1g"


def _heap_missing(data):
    data["services"]["kafka"]["environment"].pop("KAFKA_HEAP_OPTS")


def _flink_process_over_limit(data):
    data["services"]["jobmanager"]["mem_limit"] = "512m"


def _deploy_limit_over_budget(data):
    data["services"]["generator"].pop("mem_limit")
    data["services"]["generator"]["deploy"] = {"resources": {"limits": {"memory": "1g"}}}


@pytest.mark.parametrize("mutate", [_limit_removed, _over_budget, _heap_over_limit, _heap_missing,
                                    _flink_process_over_limit, _deploy_limit_over_budget],
                         ids=["one-shot without limit", "over 4 GB", "heap above the limit", "heap not set",
                              "Flink process above the limit", "deploy limit counted"])
def test_memory_rule_catches(composemodel, tools, tmp_path, mutate):
    compose_file, env_file = tools.project_copy(tmp_path, mutate)
    assert memory_problems(load_ok(composemodel, tools, compose_file, env_file))


# ------------------------------------------------------------------ memory budget of the cluster mode

JVM_IMAGES = ("apache/kafka:", "quay.io/debezium/connect:", "flink:", "maven:")


def test_cluster_memory_budget(cluster_resolved, resolved):
    """compose.yaml + compose.cluster.yaml: every service limited, each JVM inside its limit, the long-running
    services inside the cluster budget; every JVM service the overlay adds has its size checked."""
    assert memory_problems(cluster_resolved, CLUSTER_MEMORY_BUDGET_MIB, CLUSTER_JVM_SIZES) == []
    services = cluster_resolved["services"]
    added = {n for n, s in services.items() if n not in resolved["services"]
             and str(s.get("image", "")).startswith(JVM_IMAGES)}
    assert added and added - set(CLUSTER_JVM_SIZES) == set(), f"JVM services whose size the rule does not check: {added}"
    long_running = {n for n, s in services.items() if not one_shot(s) and not s.get("profiles")}
    assert {"kafka-2", "kafka-3", "connect-2", "taskmanager-2"} <= long_running, "the rule missed the extra nodes"
    assert sum(memory_limit(services[n]) for n in long_running) <= CLUSTER_MEMORY_BUDGET_MIB << 20


def _cluster_heap_over_limit(data):
    data["services"]["connect-2"]["environment"]["HEAP_OPTS"] = "-Xms256m -Xmx1g"


def _cluster_node_bigger(data):
    data["services"]["taskmanager-2"]["mem_limit"] = "1536m"


def _cluster_prometheus_bigger(data):
    data["services"]["prometheus"]["mem_limit"] = "256m"


@pytest.mark.parametrize("mutate", [_cluster_heap_over_limit, _cluster_node_bigger, _cluster_prometheus_bigger],
                         ids=["extra node's heap above its limit", "extra node over the budget",
                              "Prometheus over the budget"])
def test_cluster_memory_rule_catches(composemodel, tools, tmp_path, mutate):
    files, env_file = tools.cluster_copy(tmp_path, mutate)
    assert memory_problems(load_ok(composemodel, tools, files, env_file), CLUSTER_MEMORY_BUDGET_MIB,
                           CLUSTER_JVM_SIZES)


# ---------------------------------------------------------------- Flink state: one setting for both paths

def _local_state_settings(monkeypatch):
    """scripts/stack's FLINK_STATE_SETTINGS (what init_flink writes into the local Flink config)."""
    root = Path(__file__).resolve().parents[2]
    monkeypatch.syspath_prepend(str(root / "scripts"))
    for name in [m for m in sys.modules if m == "stackctl" or m.startswith("stackctl.")]:
        monkeypatch.delitem(sys.modules, name)
    from stackctl import services
    return services.FLINK_STATE_SETTINGS


def state_setting_problems(model, expected):
    """Lines naming each Flink service of compose whose state settings differ from the local stack's."""
    problems = []
    for name in ("jobmanager", "taskmanager", "sql-gateway"):
        for key, value in expected.items():
            got = flink_property(model["services"][name], key)
            if got != value:
                problems.append(f"{name}: {key} is {got!r}, the local stack's is {value!r}")
    return problems


def test_flink_state_settings_match_the_local_stack(resolved, monkeypatch):
    """RocksDB, incremental checkpoints and the bounded RocksDB info log on every Flink service of compose, as
    scripts/stack sets them: a job takes its settings from the session that submits it (the SQL gateway)."""
    expected = _local_state_settings(monkeypatch)
    assert expected["state.backend.type"] == "rocksdb"
    assert state_setting_problems(resolved, expected) == []


def test_flink_state_rule_catches(resolved, monkeypatch):
    expected = _local_state_settings(monkeypatch)
    data = copy.deepcopy(resolved)
    env = data["services"]["sql-gateway"]["environment"]
    env["FLINK_PROPERTIES"] = env["FLINK_PROPERTIES"].replace("state.backend.rocksdb.log.file-num: 2",
                                                              "state.backend.rocksdb.log.file-num: 4")
    assert state_setting_problems(data, expected) == [
        "sql-gateway: state.backend.rocksdb.log.file-num is '4', the local stack's is '2'"]
