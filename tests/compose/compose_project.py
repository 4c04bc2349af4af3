"""The compose project under test (compose.yaml of this checkout, run by Docker Compose v2).

As a command, for scripts/test --stack=compose:

  python3 tests/compose/compose_project.py running    exit 0 when the project has a running container, 1
                                                      when not, 2 without Docker Compose v2
  python3 tests/compose/compose_project.py up         starts it: `up --wait` for the long-running services,
                                                      then `wait` for each one-shot (exit 0 or it fails)
  python3 tests/compose/compose_project.py logs DIR   every service's log into DIR/<service>.log, and `ps`
  python3 tests/compose/compose_project.py down       `down -v`: containers, network and volumes

The pytest side (the `docker_services` fixture of tests/conftest.py's compose mode) is compose_plugin.py.
Standard library only, so that any python3 can run it.

The project is the one `docker compose` in the repository's folder means: the folder's name, or
COMPOSE_PROJECT_NAME. Long-running and one-shot services are told apart by the model itself (a
one-shot has restart "no"), so a service added to compose.yaml needs no change here.
"""
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ["docker", "compose", "--project-directory", str(ROOT)]
UP_TIMEOUT = 900   # seconds for the long-running services to be healthy (first pulls and builds included)


def say(msg):
    print(f"[compose-project] {msg}", file=sys.stderr, flush=True)


def compose(*args, check=True, capture=False, timeout=None):
    """Runs `docker compose <args>` for this project; output goes to the terminal unless captured."""
    proc = subprocess.run([*COMPOSE, *args], capture_output=capture, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip()[-2000:] if capture else ""
        raise RuntimeError(f"docker compose {' '.join(args)} exited {proc.returncode}" + (f":\n{detail}" if detail else ""))
    return proc


def model():
    """The project as Docker Compose v2 resolves it (`docker compose config --format json`)."""
    return json.loads(compose("config", "--format", "json", capture=True, timeout=120).stdout)


def is_one_shot(service):
    return service.get("restart", "") in ("", "no")


def split_services(project):
    """(long-running, one-shots, one-shots no service waits for), each sorted by name; the services of an
    optional profile (grafana) are not part of the default stack that `up` starts."""
    services = {n: s for n, s in project["services"].items() if not s.get("profiles")}
    long_running = sorted(n for n, s in services.items() if not is_one_shot(s))
    one_shots = sorted(n for n, s in services.items() if is_one_shot(s))
    awaited = {dep for s in services.values() for dep in (s.get("depends_on") or {})}
    return long_running, one_shots, [n for n in one_shots if n not in awaited]


def containers():
    """`docker compose ps --all` as a list of dicts (Service, State, Health, ExitCode, ...)."""
    out = compose("ps", "--all", "--format", "json", capture=True, timeout=60).stdout.strip()
    if not out:
        return []
    if out.startswith("["):   # older Compose v2 printed one JSON array
        return json.loads(out)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def running():
    return any(c.get("State") == "running" for c in containers())


def up():
    """Starts the project: the long-running services until healthy (or running, without a health
    check), then each one-shot must exit 0. `up --wait` alone cannot do it: a one-shot nothing
    depends on (submit-flink-jobs) counts as failed once it exits, so it is started on its own and
    waited for with `docker compose wait`, like every other one-shot."""
    long_running, one_shots, unawaited = split_services(model())
    say(f"starting the long-running services: {' '.join(long_running)}")
    compose("up", "--detach", "--build", "--wait", "--wait-timeout", str(UP_TIMEOUT), *long_running)
    if unawaited:
        say(f"starting the one-shots no service waits for: {' '.join(unawaited)}")
        compose("up", "--detach", "--no-deps", *unawaited)
    failed = []
    for name in one_shots:
        proc = compose("wait", name, check=False, capture=True, timeout=UP_TIMEOUT)
        say(f"one-shot {name}: exit status {proc.returncode}")
        if proc.returncode != 0:
            failed.append(name)
    if failed:
        raise RuntimeError(f"one-shot services failed: {', '.join(failed)} (their logs: docker compose logs {' '.join(failed)})")


def save_logs(folder):
    """Every service's log (with timestamps) into folder/<service>.log, and `ps --all` into ps.txt."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(model()["services"])
    for name in names:
        with open(folder / f"{name}.log", "w") as out:
            subprocess.run([*COMPOSE, "logs", "--no-color", "--timestamps", name], stdout=out,
                           stderr=subprocess.STDOUT, timeout=300)
    with open(folder / "ps.txt", "w") as out:
        subprocess.run([*COMPOSE, "ps", "--all"], stdout=out, stderr=subprocess.STDOUT, timeout=60)
    say(f"logs of {len(names)} services in {folder}")


def down():
    compose("down", "--volumes", "--remove-orphans", timeout=600)


# ---------------------------------------------------------------- command line

def main(argv):
    usage = "usage: compose_project.py running | up | logs DIR | down"
    if not argv or argv[0] not in ("running", "up", "logs", "down") or (argv[0] == "logs") != (len(argv) == 2):
        print(usage, file=sys.stderr)
        return 2
    try:
        version = subprocess.run([*COMPOSE, "version"], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        version = None
    if version is None or version.returncode != 0:
        print("compose_project: error: `docker compose` (Docker Compose v2 with a Docker engine) is not "
              "available here (scripts/test without --stack=compose runs the same tests on local processes)",
              file=sys.stderr)
        return 2
    try:
        if argv[0] == "running":
            return 0 if running() else 1
        started = time.monotonic()
        {"up": up, "down": down}.get(argv[0], lambda: save_logs(argv[1]))()
        say(f"{argv[0]} done in {time.monotonic() - started:.0f} s")
        return 0
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as err:
        print(f"compose_project: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
