"""tests/compose/compose_project.py and scripts/test --stack=compose, driven against a stand-in
`docker` that records every command and answers from the resolved model: the order in which the
project is started and waited for, the exit statuses, the logs kept on failure, and that a project
found running is reused and left up. (No Docker engine here: the real run is the compose workflow's.)
"""
import json
import os
import subprocess
import sys

import pytest

# A POSIX shell script (many calls per test: a Python one would start an interpreter for each).
FAKE = """#!/bin/sh
state='{state}'
echo "$*" >> "$state/calls"
if [ "$1" != compose ] || [ "$2" != --project-directory ] || [ "$3" != '{root}' ]; then
  echo "unexpected docker command: $*" >&2; exit 99
fi
shift 3
answer() {{ if [ -f "$state/$1" ]; then cat "$state/$1"; else echo "$2"; fi; }}
case "$1" in
  version) exit "$(answer version_rc 0)" ;;
  config) cat "$state/model" ;;
  ps) if [ "$3" = --format ]; then answer ps ""; else echo "NAME  STATE"; fi ;;
  wait) exit "$(answer "wait_$2" 0)" ;;
  logs) for last; do :; done; echo "log of $last" ;;
  up) exit "$(answer up_rc 0)" ;;
esac
"""


class FakeDocker:
    def __init__(self, tmp_path, model, root):
        self.state = tmp_path / "docker-state"
        self.state.mkdir()
        (self.state / "model").write_text(json.dumps(model))
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "docker").write_text(FAKE.format(state=self.state, root=root))
        (bin_dir / "docker").chmod(0o755)
        self.env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def set(self, name, value):
        (self.state / name).write_text(value)

    def ps(self, states):
        self.set("ps", "\n".join(json.dumps({"Service": s, "State": st}) for s, st in states.items()))

    def calls(self):
        """Each `docker compose` command as its arguments after `--project-directory ROOT`."""
        path = self.state / "calls"
        return [line.split()[3:] for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def docker(tmp_path, resolved, tools):
    return FakeDocker(tmp_path, resolved, tools.ROOT)


def project_cmd(tools, docker, *args):
    return subprocess.run([sys.executable, str(tools.HERE / "compose_project.py"), *args], env=docker.env,
                          capture_output=True, text=True, timeout=120)


def test_services_split_by_restart_policy(resolved, tools):
    long_running, one_shots, unawaited = tools.compose_project.split_services(resolved)
    assert long_running == ["connect", "dashboard", "generator", "jobmanager", "kafka", "postgres", "postgres-exporter", "prometheus",
                            "sql-gateway", "taskmanager"]
    assert one_shots == ["flink-jars", "flink-storage", "init-schema", "metrics-jars", "register-connector",
                         "submit-flink-jobs"]
    assert unawaited == ["submit-flink-jobs"]


def test_up_waits_for_the_long_running_services_then_for_each_one_shot(docker, resolved, tools):
    out = project_cmd(tools, docker, "up")
    assert out.returncode == 0, out.stderr
    long_running, one_shots, unawaited = tools.compose_project.split_services(resolved)
    calls = [c for c in docker.calls() if c[0] not in ("version", "config")]
    assert calls[0] == ["up", "--detach", "--build", "--wait", "--wait-timeout", "900", *long_running]
    assert calls[1] == ["up", "--detach", "--no-deps", *unawaited]
    assert calls[2:] == [["wait", name] for name in one_shots]


def test_up_fails_when_a_one_shot_fails(docker, tools):
    docker.set("wait_register-connector", "1")
    out = project_cmd(tools, docker, "up")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == ("compose_project: error: one-shot services failed: register-connector "
                                                   "(their logs: docker compose logs register-connector)")


def test_running_and_missing_compose(docker, tools):
    docker.ps({"kafka": "running", "init-schema": "exited"})
    assert project_cmd(tools, docker, "running").returncode == 0
    docker.ps({"init-schema": "exited"})
    assert project_cmd(tools, docker, "running").returncode == 1
    docker.set("version_rc", "1")
    out = project_cmd(tools, docker, "running")
    assert out.returncode == 2 and out.stderr.startswith("compose_project: error: `docker compose`")


def test_logs_keeps_every_services_log(docker, resolved, tools, tmp_path):
    out = project_cmd(tools, docker, "logs", str(tmp_path / "logs"))
    assert out.returncode == 0, out.stderr
    for name in resolved["services"]:
        assert (tmp_path / "logs" / f"{name}.log").read_text() == f"log of {name}\n"
    assert (tmp_path / "logs" / "ps.txt").exists()


PLUGIN_USER = """
def test_the_running_project(docker_services, docker_compose_project_name):
    assert docker_compose_project_name == "thelook"
    assert type(docker_services).__name__ == "Services"
    assert docker_services._docker_compose._compose_project_name == "thelook"
"""


def test_plugin_gives_pytest_docker_users_the_running_project(docker, tools, tmp_path):
    """compose_plugin: `docker_services` is the project scripts/test runs, not a second one started
    under pytest-docker's own name; with the project down it fails saying how to start it."""
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "test_user.py").write_text(PLUGIN_USER)
    env = dict(docker.env, PYTHONPATH=str(tools.HERE))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:docker", "-p", "compose_plugin", "-p", "no:cacheprovider",
           str(tmp_path / "user")]
    docker.ps({"kafka": "running"})
    out = subprocess.run(cmd, cwd=tmp_path / "user", env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:]
    assert not [c for c in docker.calls() if c[0] in ("up", "down")]
    docker.ps({})
    out = subprocess.run(cmd, cwd=tmp_path / "user", env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "start the tests with scripts/test --stack=compose" in out.stdout


def _scripts_test(tools, docker, tmp_path):
    """scripts/test --stack=compose with a -k that selects nothing (pytest exits 5: a failure, so the
    logs are kept too): what happens around the tests."""
    env = dict(docker.env, THELOOK_COMPOSE_LOG_DIR=str(tmp_path / "logs"))
    env.pop("THELOOK_COMPOSE_KEEP", None)
    return subprocess.run([str(tools.ROOT / "scripts" / "test"), "--stack=compose", "-k", "no_test_has_this_name",
                           "-p", "no:cacheprovider"], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow   # scripts/test bootstraps and collects the whole suite: a few seconds
def test_scripts_test_starts_a_stopped_project_and_takes_it_down(docker, tools, tmp_path):
    docker.ps({})
    out = _scripts_test(tools, docker, tmp_path)
    assert out.returncode == 5, out.stdout[-2000:] + out.stderr[-2000:]
    assert "deselected" in out.stdout
    calls = [c[0] for c in docker.calls() if c[0] in ("up", "wait", "logs", "down")]
    assert calls[0] == "up" and "wait" in calls and "logs" in calls and calls[-1] == "down"
    assert (tmp_path / "logs" / "connect.log").exists()


@pytest.mark.slow   # scripts/test bootstraps and collects the whole suite: a few seconds
def test_scripts_test_reuses_a_running_project_and_leaves_it_up(docker, tools, tmp_path):
    docker.ps({"kafka": "running"})
    out = _scripts_test(tools, docker, tmp_path)
    assert out.returncode == 5, out.stdout[-2000:] + out.stderr[-2000:]
    assert "reusing the running compose project" in out.stderr
    assert not [c for c in docker.calls() if c[0] in ("up", "down")]
