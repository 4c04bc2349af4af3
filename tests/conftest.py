"""Shared fixtures: where the stack under test lives.

End-to-end tests never hard-code endpoints. They take them from the `stack_env` fixture, which is
the output of `scripts/stack env` for the local stack (default), or the published ports of
compose.yaml when run with `--stack=compose` on a machine with a Docker engine (pytest-docker).
"""
import os
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "scripts" / "stack"
ENV_KEYS = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE",
            "KAFKA_BOOTSTRAP_SERVERS", "CONNECT_URL", "FLINK_URL", "FLINK_SQL_GATEWAY_URL", "PROMETHEUS_URL",
            "DASHBOARD_URL")


def pytest_addoption(parser):
    parser.addoption("--stack", choices=("local", "compose"), default="local",
                     help="run end-to-end tests against the local stack (scripts/stack) "
                          "or against compose.yaml through pytest-docker")


def pytest_collection_modifyitems(config, items):
    """A test that needs the stack (the stack_env fixture, directly or through another fixture) is
    marked `stack`, so `-m "not stack"` (scripts/test --fast) is exactly the tier that needs none."""
    for item in items:
        if "stack_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)


def parse_exports(text):
    """Turns `export K=V` lines (as printed by `scripts/stack env`) into a dict."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


def _local_stack_env():
    status = subprocess.run([str(STACK), "status", "--quiet"], capture_output=True, text=True)
    started = status.returncode != 0
    if started:
        subprocess.run([str(STACK), "up"], check=True)
    out = subprocess.run([str(STACK), "env"], check=True, capture_output=True, text=True).stdout
    return parse_exports(out), started


@pytest.fixture(scope="session")
def stack_env(request):
    """Endpoints of the running stack as a dict of the `scripts/stack env` variables."""
    if request.config.getoption("--stack") == "compose":
        services = request.getfixturevalue("docker_services")
        env = {
            "PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "thelook",
            "PGPASSWORD": "thelook", "PGDATABASE": "thelook",
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
            "CONNECT_URL": "http://127.0.0.1:8083", "FLINK_URL": "http://127.0.0.1:8081",
            "FLINK_SQL_GATEWAY_URL": "http://127.0.0.1:8084", "PROMETHEUS_URL": "http://127.0.0.1:9090",
            "DASHBOARD_URL": "http://127.0.0.1:8088/",
            # the broker as Flink's containers see it (compose network), for SQL jobs under test
            "FLINK_KAFKA_BOOTSTRAP_SERVERS": "kafka:19092",
        }
        services.wait_until_responsive(timeout=300, pause=2,
                                       check=lambda: _http_ok(env["CONNECT_URL"]) and _http_ok(env["FLINK_URL"]))
        yield env
        return
    if all(os.environ.get(k) for k in ENV_KEYS[:6]):
        yield {k: os.environ[k] for k in ENV_KEYS if k in os.environ}
        return
    env, started = _local_stack_env()
    yield env
    if started:
        subprocess.run([str(STACK), "down"], check=False)


def _http_ok(url):
    import requests
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def docker_compose_file():
    return str(ROOT / "compose.yaml")


@pytest.fixture
def pg_env(stack_env):
    """A copy of os.environ pointing libpq tools and the generator at the stack's PostgreSQL."""
    env = dict(os.environ)
    env.update({k: v for k, v in stack_env.items()})
    return env
