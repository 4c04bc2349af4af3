"""compose.yaml is accepted by Debian's docker-compose and by the compose-spec JSON schema.

Both validators run without network (in a network namespace of their own where the machine allows
it), and each is first shown to reject a broken copy, so that a validator that accepts anything
cannot make these tests pass.
"""
import shutil
import subprocess

import pytest
import yaml


def _project_copy(tmp_path, tools, mutate=None, env_text=None):
    """compose.yaml and .env copied to tmp_path, the compose data changed by `mutate` if given."""
    data = yaml.safe_load(tools.COMPOSE_FILE.read_text())
    if mutate:
        mutate(data)
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (tmp_path / ".env").write_text(env_text if env_text is not None else tools.ENV_FILE.read_text())
    return tmp_path


def _drop_pin(env_text, key):
    return "".join(l for l in env_text.splitlines(keepends=True) if not l.startswith(key + "="))


def test_docker_compose_config_accepts_compose_file(docker_compose, tools):
    problems = tools.docker_compose_problems(tools.ROOT)
    assert problems == [], "docker-compose -f compose.yaml config -q reported:\n" + "\n".join(problems)


@pytest.mark.parametrize("breakage", ["unknown service key", "bad depends_on condition", "pin missing from .env"])
def test_docker_compose_check_catches_broken_files(docker_compose, tools, tmp_path, breakage):
    env_text = tools.ENV_FILE.read_text()
    mutate = None
    if breakage == "unknown service key":
        def mutate(data):
            data["services"]["postgres"]["imagee"] = data["services"]["postgres"].pop("image")
    elif breakage == "bad depends_on condition":
        def mutate(data):
            data["services"]["connect"]["depends_on"]["kafka"]["condition"] = "service_ready"
    else:
        env_text = _drop_pin(env_text, "KAFKA_VERSION")
    project = _project_copy(tmp_path, tools, mutate, env_text)
    assert tools.docker_compose_problems(project), f"docker-compose accepted a compose file with {breakage}"


def _check_jsonschema():
    binary = shutil.which("check-jsonschema")
    if not binary:
        pytest.fail("check-jsonschema is not installed: source scripts/bootstrap (tests/requirements.txt pins it)")
    return binary


def _schema_check(tools, path):
    cmd = tools.offline_prefix() + [_check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(cmd, env=tools.clean_env(), capture_output=True, text=True, timeout=120)


def test_compose_spec_schema_accepts_compose_file(tools):
    out = _schema_check(tools, tools.COMPOSE_FILE)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_spec_schema_catches_broken_file(tools, tmp_path):
    def mutate(data):
        data["services"]["kafka"]["healthcheck"]["test_cmd"] = data["services"]["kafka"]["healthcheck"].pop("test")
    project = _project_copy(tmp_path, tools, mutate)
    assert _schema_check(tools, project / "compose.yaml").returncode != 0


def test_resolved_images_are_the_pinned_ones(resolved, env_pins):
    """After interpolation each image is the one .env pins (the tag forms the issue asks for)."""
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
