"""Fixtures for the static checks of compose.yaml (no Docker engine, no stack, no network)."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
ENV_FILE = ROOT / ".env"
VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])[^}]*)?\}")


def read_env_file(path=ENV_FILE):
    """KEY=VALUE lines of an env file, as compose reads them (comments and blank lines skipped)."""
    values = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def clean_env():
    """An environment without the caller's variables, so that only .env feeds the interpolation."""
    return {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}


def offline_prefix():
    """`unshare -n` when this process may create a network namespace: the command then has no network."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def docker_compose_problems(project_dir, compose_name="compose.yaml", offline=True):
    """Runs Debian's docker-compose `config -q`; returns the problems it reports ([] when clean).

    Unset variables are only a warning for docker-compose (they become blank strings), so warnings
    count as problems too: an image tag that is not in .env must fail the check."""
    binary = shutil.which("docker-compose")
    cmd = (offline_prefix() if offline else []) + [binary, "-f", compose_name, "config", "-q"]
    out = subprocess.run(cmd, cwd=project_dir, env=clean_env(), capture_output=True, text=True, timeout=120)
    problems = [l for l in (out.stderr + out.stdout).splitlines() if l.strip()]
    if out.returncode != 0 and not problems:
        problems = [f"docker-compose exited with status {out.returncode}"]
    return problems


@pytest.fixture(scope="session")
def compose():
    """compose.yaml as written (no interpolation)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="session")
def services(compose):
    return compose["services"]


@pytest.fixture(scope="session")
def env_pins():
    return read_env_file()


@pytest.fixture(scope="session")
def docker_compose():
    binary = shutil.which("docker-compose")
    if not binary:
        pytest.skip("Debian's docker-compose is not installed (scripts/install-system-deps installs it)")
    return binary


@pytest.fixture(scope="session")
def resolved(docker_compose):
    """compose.yaml as docker-compose resolves it: .env interpolated, paths absolute, syntax normalised."""
    out = subprocess.run([docker_compose, "-f", "compose.yaml", "config"], cwd=ROOT, env=clean_env(),
                         capture_output=True, text=True, timeout=120, check=True)
    return yaml.safe_load(out.stdout)


def one_shot(service):
    """A service that runs once to completion (others depend on it having completed)."""
    return str(service.get("restart", "no")) == "no"


@pytest.fixture(scope="session")
def tools():
    """This module's helpers, for the test files (importlib mode gives them no import path to it)."""
    import sys
    return sys.modules[__name__]
