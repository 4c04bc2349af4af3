"""compose.yaml and the local path share the connector JSON, the Flink SQL and the scripts; the
compose file keeps its promises: loopback ports, named volumes, a start order made of health checks
and one-shot completions."""
import ast
import json
import re
import subprocess
import sys
from pathlib import PurePosixPath

import pytest

ONE_SHOT_SCRIPTS = {"register-connector": "register-connector", "submit-flink-jobs": "submit-flink-jobs"}
# Folders of the repository that the one-shot services see, read-only, next to each other as in the repo.
SHARED_DIRS = ("scripts", "connectors", "flink")
# import name -> distribution name, for the modules a one-shot script may need from the generator's image
DISTRIBUTIONS = {"requests": "requests", "psycopg2": "psycopg2-binary", "confluent_kafka": "confluent-kafka",
                 "faker": "Faker", "yaml": "PyYAML", "thelook_datagen": "thelook-datagen"}


def bind_mounts(svc):
    """(host path relative to the repo, container path, read_only) of each bind mount of a service."""
    mounts = []
    for vol in svc.get("volumes", []):
        if isinstance(vol, dict):
            if vol.get("type") == "bind":
                mounts.append((vol["source"], vol["target"], bool(vol.get("read_only"))))
            continue
        parts = vol.split(":")
        if parts[0].startswith((".", "/")):
            mounts.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return mounts


def host_path_of(svc, container_path, root):
    """Where a container path of this service comes from on the host, through its bind mounts."""
    container_path = PurePosixPath(container_path)
    for source, target, _ro in bind_mounts(svc):
        try:
            rest = container_path.relative_to(target)
        except ValueError:
            continue
        return (root / source / rest).resolve()
    return None


def script_services(services):
    return {name: svc for name, svc in services.items() if name in ONE_SHOT_SCRIPTS}


def test_one_shots_run_the_repos_scripts_with_its_folders(services, tools):
    found = script_services(services)
    assert set(found) == set(ONE_SHOT_SCRIPTS), "compose.yaml lacks a one-shot service for a script"
    for name, svc in found.items():
        script = ONE_SHOT_SCRIPTS[name]
        entry = svc.get("entrypoint") or []
        script_in_container = next((a for a in entry if a.endswith("/scripts/" + script)), None)
        assert script_in_container, f"{name} does not run scripts/{script}: entrypoint {entry}"
        host_script = host_path_of(svc, script_in_container, tools.ROOT)
        assert host_script == tools.ROOT / "scripts" / script, f"{name}: {script_in_container} is not the repo's script"
        assert host_script.is_file(), f"compose.yaml runs scripts/{script}, which does not exist"
        assert host_script.read_text().startswith("#!/usr/bin/env python3"), \
            f"scripts/{script} is run with python3 in compose, but is not a Python script"
        # the script finds its folders next to scripts/ (ROOT = parent of scripts/), in the container too
        container_root = PurePosixPath(script_in_container).parent.parent
        for folder in SHARED_DIRS:
            assert host_path_of(svc, container_root / folder, tools.ROOT) == tools.ROOT / folder, \
                f"{name}: {container_root / folder} is not the repo's {folder}/"
        for source, target, read_only in bind_mounts(svc):
            assert read_only, f"{name} mounts {source} writable"


def test_scripts_read_the_shared_folders(tools):
    """The same files the local path uses: the scripts take connectors/ and flink/ next to scripts/."""
    reg = (tools.ROOT / "scripts" / "register-connector").read_text()
    assert re.search(r'ROOT\s*/\s*"connectors"', reg) and "parent.parent" in reg
    sub = tools.ROOT / "scripts" / "submit-flink-jobs"
    assert sub.is_file(), "scripts/submit-flink-jobs is missing"
    text = sub.read_text()
    assert re.search(r'ROOT\s*/\s*"flink"', text) and "parent.parent" in text
    # and register-connector really loads connectors/ from there (offline: it only prints the config)
    out = subprocess.run([sys.executable, str(tools.ROOT / "scripts" / "register-connector"), "--print-config"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    names = {json.loads(p.read_text())["name"] for p in (tools.ROOT / "connectors").glob("*.json")}
    assert doc["name"] in names


def test_connector_json_resolves_in_the_compose_worker(services, tools):
    """Every ${env:VAR} of the connector JSON is in the Connect container's environment, and every
    config provider it uses is configured there (the image maps CONNECT_A_B to worker property a.b)."""
    connectors = sorted((tools.ROOT / "connectors").glob("*.json"))
    assert connectors, "connectors/ has no connector JSON"
    env = services["connect"]["environment"]
    worker = {k[len("CONNECT_"):].lower().replace("_", "."): str(v) for k, v in env.items() if k.startswith("CONNECT_")}
    aliases = set(worker.get("config.providers", "").split(","))
    for path in connectors:
        text = path.read_text()
        for provider, arg in re.findall(r"\$\{(\w+):([^}]*)\}", text):
            assert provider in aliases, f"{path.name} uses ${{{provider}:...}} but the worker has no such config provider"
            if provider == "env":
                assert arg in env, f"{path.name} needs {arg} in the Connect container's environment"
        config = json.loads(text)["config"]
        for key, value in config.items():
            if re.search(r"password", key, re.I):
                assert str(value).startswith("${"), f"{path.name}: {key} is a literal, not a config-provider reference"
    assert worker.get("config.providers.env.class") == "org.apache.kafka.common.config.provider.EnvVarConfigProvider"
    assert worker.get("config.providers.file.class") == "org.apache.kafka.common.config.provider.FileConfigProvider"


def test_local_worker_has_the_same_config_providers(services, tools):
    env = services["connect"]["environment"]
    local = (tools.ROOT / "scripts" / "stackctl" / "services.py").read_text()
    for key in ("CONNECT_CONFIG_PROVIDERS", "CONNECT_CONFIG_PROVIDERS_ENV_CLASS", "CONNECT_CONFIG_PROVIDERS_FILE_CLASS"):
        prop = key[len("CONNECT_"):].lower().replace("_", ".")
        assert re.search(rf'"{re.escape(prop)}":\s*"{re.escape(env[key])}"', local), \
            f"the local Connect worker does not set {prop}={env[key]} like compose does"


def _ports(svc):
    for port in svc.get("ports", []):
        yield port


def test_host_ports_bound_to_loopback(services):
    for name, svc in services.items():
        assert svc.get("network_mode") != "host", f"{name} uses the host network"
        for port in _ports(svc):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: port {port} not bound to 127.0.0.1"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: port {port} not bound to 127.0.0.1"


def test_resolved_ports_bound_to_loopback(resolved):
    published = [(name, p) for name, svc in resolved["services"].items() for p in _ports(svc)]
    assert published, "compose.yaml publishes no port"
    for name, port in published:
        host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).rsplit(":", 2)[0]
        assert host_ip == "127.0.0.1", f"{name}: resolved port {port} not bound to 127.0.0.1"


def test_expected_endpoints_are_published(resolved):
    """The ports the tests' compose mode (tests/conftest.py) and the README use."""
    want = {"postgres": "5432", "kafka": "9092", "connect": "8083", "jobmanager": "8081", "sql-gateway": "8084"}
    for name, port in want.items():
        ports = resolved["services"][name].get("ports", [])
        published = {str(p.get("published")) if isinstance(p, dict) else str(p).split(":")[-2] for p in ports}
        assert port in published, f"{name} should publish 127.0.0.1:{port}"


def test_start_order_uses_health_checks_and_completions(services, tools):
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: short depends_on only waits for a container start"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            condition = (spec or {}).get("condition")
            target = services[dep]
            if condition == "service_healthy":
                check = target.get("healthcheck")
                assert check and not check.get("disable") and check.get("test"), \
                    f"{name} waits for {dep} to be healthy, but {dep} has no health check"
            elif condition == "service_completed_successfully":
                assert tools.one_shot(target), f"{name} waits for {dep} to complete, but {dep} restarts"
            else:
                pytest.fail(f"{name} -> {dep}: condition {condition!r} does not wait for readiness")


def test_start_order_has_no_cycle(services):
    state = {}

    def visit(name, path):
        if state.get(name) == "done":
            return
        assert state.get(name) != "visiting", f"depends_on cycle: {' -> '.join(path + [name])}"
        state[name] = "visiting"
        for dep in services[name].get("depends_on", {}):
            visit(dep, path + [name])
        state[name] = "done"

    for name in services:
        visit(name, [])


def test_schema_exists_before_connector_registration(services):
    """Debezium's filtered publication needs the tables: the schema step completes first."""
    deps = services["register-connector"]["depends_on"]
    assert deps["init-schema"]["condition"] == "service_completed_successfully"
    assert deps["connect"]["condition"] == "service_healthy"
    init = services["init-schema"]
    assert {"postgres", "kafka"} <= set(init["depends_on"])


def test_restart_policies(services, tools):
    for name, svc in services.items():
        policy = str(svc.get("restart", ""))
        assert re.fullmatch(r"no|on-failure(:\d+)?|unless-stopped|always", policy), f"{name}: restart policy {policy!r}"
        if "healthcheck" in svc:
            # postgres: a bounded on-failure, so that data of another major is a clear exit, not a crash loop
            allowed = ("unless-stopped", "always") if name != "postgres" else ("on-failure:3",)
            assert policy in allowed, f"{name} is a long-running service without restart"


def test_data_lives_in_named_volumes(compose, services):
    declared = set(compose.get("volumes", {}))
    allowed_binds = {"./scripts", "./connectors", "./flink", "./scripts/maven", "./observability/jmx-exporter",
                     "./observability/flink", "./observability/postgres-exporter", "./observability/prometheus",
                     "./observability/grafana/provisioning", "./observability/grafana/dashboards"}
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            if isinstance(vol, dict) and vol.get("type") == "tmpfs":
                continue   # in memory: nothing in it outlives the container
            source = vol["source"] if isinstance(vol, dict) else vol.split(":")[0]
            if source.startswith((".", "/")):
                assert source in allowed_binds, f"{name} bind-mounts {source}; data belongs in named volumes"
                assert str(vol).split(":")[-1] == "ro", f"{name} mounts {source} writable"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
    # postgres: /var/lib/postgresql or /var/lib/postgresql/data, by major (test_pins.py)
    for name, path in (("postgres", "/var/lib/postgresql"), ("kafka", "/var/lib/kafka/data")):
        targets = {str(v).split(":")[1] for v in services[name].get("volumes", [])}
        assert any(t == path or t.startswith(path + "/") for t in targets), f"{name} keeps its data outside a named volume"


def test_kafka_advertises_an_internal_and_a_host_listener(services):
    env = services["kafka"]["environment"]
    advertised = dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised["INTERNAL"] == "kafka:19092"
    host, _, port = advertised["EXTERNAL"].partition(":")
    assert host == "127.0.0.1", "the host listener must be advertised on the loopback address it is published on"
    published = [p for p in services["kafka"]["ports"] if str(p).endswith(":9092")]
    assert published and str(published[0]).rsplit(":", 1)[0] == f"127.0.0.1:{port}", \
        f"kafka advertises {advertised['EXTERNAL']} but publishes {services['kafka']['ports']}"
    # every container client uses the internal listener
    for name, svc in services.items():
        environment = svc.get("environment") or {}
        for key in ("KAFKA_BOOTSTRAP_SERVERS", "BOOTSTRAP_SERVERS"):
            if key in environment:
                assert environment[key] == "kafka:19092", f"{name}: {key}={environment[key]}"


def test_generator_image_has_what_the_one_shots_import(services, tools):
    """The one-shot scripts run in the generator's image: their third-party imports must be among its
    dependencies (generator/pyproject.toml)."""
    import tomllib
    project = tomllib.loads((tools.ROOT / "generator" / "pyproject.toml").read_text())["project"]
    deps = {re.split(r"[=<>!~\[ ;]", d, 1)[0].lower() for d in project["dependencies"]} | {project["name"].lower()}
    local = {p.stem for p in (tools.ROOT / "scripts").glob("*.py")} | {"stackctl"}
    for name, svc in script_services(services).items():
        assert svc.get("build") == "./generator" or (svc.get("build") or {}).get("context") == "./generator"
        path = tools.ROOT / "scripts" / ONE_SHOT_SCRIPTS[name]
        if not path.is_file():
            pytest.fail(f"scripts/{ONE_SHOT_SCRIPTS[name]} is missing")
        tree = ast.parse(path.read_text())
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
        for module in sorted(modules - set(sys.stdlib_module_names) - local):
            dist = DISTRIBUTIONS.get(module, module).lower()
            assert dist in deps, f"scripts/{path.name} imports {module}; add {dist} to generator/pyproject.toml"


def test_generator_is_built_from_its_dockerfile(services, tools):
    for name in ("generator", "init-schema"):
        build = services[name].get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context == "./generator", f"{name} is not built from generator/"
    assert (tools.ROOT / "generator" / "Dockerfile").is_file(), "generator/Dockerfile is missing"


def _interpolate_defaults(value, tools):
    """${VAR:-default} as compose resolves it with VAR unset."""
    return tools.VAR_REF.sub(lambda m: m.group(0).split(":-", 1)[1][:-1] if ":-" in m.group(0) else "", str(value))


def test_generator_services_are_configured_by_environment_the_cli_accepts(services, tools):
    """init-schema and generator are configured by environment only; thelook-datagen's own option
    parser must accept that environment and read it as meant (schema step: 0 visits, quiet)."""
    from thelook_datagen.options import parse_settings

    settings = {}
    for name in ("init-schema", "generator"):
        svc = services[name]
        assert svc.get("entrypoint") == ["thelook-datagen"] and not svc.get("command"), \
            f"{name}: configure thelook-datagen by environment, not by arguments"
        env = {k: _interpolate_defaults(v, tools) for k, v in (svc.get("environment") or {}).items()}
        settings[name] = parse_settings([], environ=env)
    init, gen = settings["init-schema"], settings["generator"]
    assert init.max_iter == 0 and init.quiet and init.create_topic and init.if_exists == "append"
    assert gen.max_iter == -1 and gen.if_exists == "append"
    assert gen.avg_qps == 10, "the compose generator should run at THELOOK_AVG_QPS, default 10 visits/s"
    for s in (init, gen):
        assert (s.host, s.port, s.user, s.db) == ("postgres", 5432, "thelook", "thelook")
        assert s.bootstrap_servers == "kafka:19092"
    # both write where the connector JSON captures: same schema and topic prefix
    config = json.loads((tools.ROOT / "connectors" / "thelook-postgres.json").read_text())["config"]
    schemas = {t.split(".", 1)[0] for t in config["table.include.list"].split(",")}
    assert schemas == {gen.schema} == {init.schema}
    assert config["topic.prefix"] == gen.topic_prefix == init.topic_prefix
