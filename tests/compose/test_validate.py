"""compose.yaml is accepted by compose-go, the loader of Docker Compose v2 (schema validation, .env
interpolation, consistency checks), and by the compose-spec JSON schema.

Both validators run without network (in a network namespace of their own where the machine allows
it), and each is first shown to reject a broken copy, so that a validator that accepts anything
cannot make these tests pass.

Debian's docker-compose 1.29.2 (Compose v1) used to be the first validator; it rejects keys this file
needs (`depends_on: {restart: true}`), and Docker Compose v2 is what runs the file, so its loader is
the authority now.
"""
import shutil
import subprocess

import pytest


def test_compose_go_accepts_compose_file(composemodel, tools):
    load = tools.load_model(composemodel)
    assert load.returncode == 0, f"compose-go rejected compose.yaml: {load.error}"
    assert set(load.model["services"]) >= {"postgres", "kafka", "connect", "jobmanager", "generator"}


def _unknown_key(data):
    data["services"]["kafka"]["imagee"] = data["services"]["kafka"].pop("image")


def _bad_condition(data):
    data["services"]["connect"]["depends_on"]["kafka"]["condition"] = "service_ready"


def _unknown_dependency(data):
    data["services"]["connect"]["depends_on"]["broker"] = {"condition": "service_healthy"}


def _restart_not_a_boolean(data):
    data["services"]["taskmanager"]["depends_on"]["flink-jars"]["restart"] = "sometimes"


@pytest.mark.parametrize("mutate, message", [
    (_unknown_key, "imagee"),
    (_bad_condition, "depends_on.kafka.condition"),
    (_unknown_dependency, "broker"),
    (_restart_not_a_boolean, "restart"),
], ids=["unknown service key", "bad depends_on condition", "depends_on unknown service",
        "depends_on restart not a boolean"])
def test_compose_go_rejects_broken_files(composemodel, tools, tmp_path, mutate, message):
    compose_file, env_file = tools.project_copy(tmp_path, mutate)
    load = tools.load_model(composemodel, compose_file, env_file)
    assert load.returncode != 0, f"compose-go accepted a compose file with {mutate.__name__}"
    assert message in load.error, load.error
    assert load.error.startswith("composemodel: error: ") and "\n" not in load.error


def _check_jsonschema():
    binary = shutil.which("check-jsonschema")
    if not binary:
        pytest.fail("check-jsonschema is not installed: source scripts/bootstrap (tests/requirements.txt pins it)")
    return binary


def _schema_check(tools, path):
    cmd = [*tools.offline_prefix(), _check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(cmd, env=tools.clean_env(), capture_output=True, text=True, timeout=120)


def test_compose_spec_schema_accepts_compose_file(tools):
    out = _schema_check(tools, tools.COMPOSE_FILE)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_spec_schema_catches_broken_file(tools, tmp_path):
    def mutate(data):
        data["services"]["kafka"]["healthcheck"]["test_cmd"] = data["services"]["kafka"]["healthcheck"].pop("test")
    compose_file, _ = tools.project_copy(tmp_path, mutate)
    assert _schema_check(tools, compose_file).returncode != 0


def test_resolved_images_are_the_pinned_ones(resolved, env_pins):
    """After interpolation (compose-go) each image is the one .env pins (the tag forms the issue asks for)."""
    images = {name: svc.get("image") for name, svc in resolved["services"].items()}
    expected = {
        "postgres": f"postgres:{env_pins['POSTGRES_VERSION']}",
        "kafka": f"apache/kafka:{env_pins['KAFKA_VERSION']}",
        "connect": f"quay.io/debezium/connect:{env_pins['DEBEZIUM_VERSION']}",
        "jobmanager": f"flink:{env_pins['FLINK_VERSION']}-{env_pins['FLINK_SCALA_JAVA_TAG']}",
        "taskmanager": f"flink:{env_pins['FLINK_VERSION']}-{env_pins['FLINK_SCALA_JAVA_TAG']}",
        "sql-gateway": f"flink:{env_pins['FLINK_VERSION']}-{env_pins['FLINK_SCALA_JAVA_TAG']}",
        "flink-jars": f"maven:{env_pins['MAVEN_IMAGE_TAG']}",
    }
    assert {k: images.get(k) for k in expected} == expected
