"""scripts/stack itself: idempotent `up`, clear errors, and a `down` that leaves no process or port behind.

The down test runs a SECOND, throwaway stack instance (own data dir, ports in the 45000 range) so that it
never touches the stack the other tests use.
"""
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest
import requests
from confluent_kafka import Producer

ROOT = Path(__file__).resolve().parents[2]
STACK = str(ROOT / "scripts" / "stack")
PORT_VARS = ("THELOOK_PG_PORT", "THELOOK_KAFKA_PORT", "THELOOK_KAFKA_CONTROLLER_PORT", "THELOOK_CONNECT_PORT",
             "THELOOK_FLINK_PORT", "THELOOK_FLINK_RPC_PORT", "THELOOK_SQL_GATEWAY_PORT", "THELOOK_KAFKA_METRICS_PORT",
             "THELOOK_CONNECT_METRICS_PORT", "THELOOK_JOBMANAGER_METRICS_PORT", "THELOOK_TASKMANAGER_METRICS_PORT",
             "THELOOK_PG_EXPORTER_PORT", "THELOOK_PROMETHEUS_PORT", "THELOOK_DASHBOARD_PORT")
SERVICES = ("postgres", "kafka", "connect", "jobmanager", "taskmanager", "sql-gateway", "postgres-exporter",
            "prometheus", "dashboard")

pytestmark = pytest.mark.stack


@pytest.fixture(autouse=True)
def local_only(request):
    if request.config.getoption("--stack") != "local":
        pytest.skip("launcher tests run against scripts/stack only")


def stack(*args, env=None, timeout=600):
    return subprocess.run([STACK, *args], capture_output=True, text=True, env=env, timeout=timeout)


def status_pids(env=None):
    out = stack("status", env=env).stdout
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+running\s+(\d+)", out, re.M)}


def port_listening(port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def port_bindable(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stat(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def alive(procs):
    """Processes of a descendants() snapshot still running (pids are reused quickly here: same start time)."""
    left = []
    for pid, started in procs.items():
        fields = _stat(pid)
        if fields and fields[19] == started and fields[0] != "Z":
            try:
                left.append(f"{pid} {Path(f'/proc/{pid}/cmdline').read_bytes()[:120]!r}")
            except OSError:
                pass
    return left


def descendants(root_pid):
    """{pid: start time} of root_pid and every process below it (PostgreSQL's backends, the JVMs...)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat(stat.parent.name)
        if fields:
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        fields = _stat(pid)
        if fields:
            found[pid] = fields[19]
            todo += children.get(pid, [])
    return found


def test_up_is_idempotent_on_the_running_stack(stack_env):
    before = status_pids()
    assert len(before) == len(SERVICES), before
    started = time.monotonic()
    result = stack("up")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30
    assert f"all {len(SERVICES)} services healthy" in result.stderr
    assert status_pids() == before, "a second `up` restarted services"


def test_status_and_logs_and_env(stack_env):
    result = stack("status")
    assert result.returncode == 0, result.stdout
    assert stack("status", "--quiet").stdout == ""
    for service in SERVICES:
        assert re.search(rf"^{service}\s+running\s+\d+\s+\S+\s+healthy$", result.stdout, re.M), result.stdout
    logs = stack("logs", "kafka", "-n", "5")
    assert logs.returncode == 0 and len(logs.stdout.splitlines()) == 5
    exports = stack("env").stdout
    for key in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "KAFKA_BOOTSTRAP_SERVERS",
                "CONNECT_URL", "FLINK_URL", "FLINK_SQL_GATEWAY_URL", "PROMETHEUS_URL", "GENERATOR_URL",
                "DASHBOARD_URL"):
        assert re.search(rf"^export {key}=\S+$", exports, re.M), key


def _errors(result):
    """The error lines (`stack: error: ...`, the project's convention) and any `[stack]` lines."""
    lines = [line for line in result.stderr.splitlines() if line.startswith(("[stack]", "stack: error:"))]
    assert "Traceback" not in result.stderr
    return lines


def test_bad_input_is_one_clear_line(tmp_path):
    result = stack("up", env=dict(os.environ, THELOOK_PG_PORT="not-a-port", THELOOK_STACK_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert _errors(result) == ["stack: error: THELOOK_PG_PORT='not-a-port' is not a port number"]
    result = stack("logs", "no-such-service")
    assert result.returncode == 2 and len(_errors(result)) == 1
    result = stack("frobnicate")
    assert result.returncode == 2 and len(_errors(result)) == 1
    assert _errors(result)[0].startswith("stack: error: argument command: invalid choice: 'frobnicate'")
    # options are spelled in full: `down --wip` is refused, not read as --wipe (an empty data dir here,
    # so that a launcher that did guess would wipe nothing that matters)
    result = stack("down", "--wip", env=dict(os.environ, THELOOK_STACK_DIR=str(tmp_path / "none")))
    assert result.returncode == 2
    assert _errors(result) == ["stack: error: unrecognized arguments: --wip (did you mean --wipe?) "
                               "(see scripts/stack --help)"]
    # no stack: `status` says so and exits 1 (not healthy), `env` cannot run (2)
    result = stack("status", env=dict(os.environ, THELOOK_STACK_DIR=str(tmp_path / "none")))
    assert result.returncode == 1 and "no stack in" in result.stdout
    assert stack("env", env=dict(os.environ, THELOOK_STACK_DIR=str(tmp_path / "none"))).returncode == 2


@pytest.fixture
def second_instance():
    """Env for a throwaway stack: its own data dir (enterable by the postgres user) and free 45xxx ports."""
    data = Path(tempfile.mkdtemp(prefix="thelook-stack-test-", dir="/tmp"))
    data.chmod(0o755)
    # odd ports: Linux hands out even ephemeral ports to outgoing connections first (45xxx is in that range)
    for _ in range(50):
        base = 45001 + 20 * random.randrange(0, 49)
        ports = [base + 2 * i for i in range(len(PORT_VARS))]
        if all(port_bindable(p) for p in ports):
            break
    env = {k: v for k, v in os.environ.items() if not k.startswith("THELOOK_") or k == "THELOOK_CACHE_DIR"}
    # the generator's metrics port is where its Prometheus scrapes, not a port of the stack (nothing listens)
    env.update(dict(zip(PORT_VARS, map(str, ports))), THELOOK_STACK_DIR=str(data),
               THELOOK_METRICS_PORT=str(ports[-1] + 2))
    yield env, ports, data
    stack("down", "--wipe", env=env)
    shutil.rmtree(data, ignore_errors=True)


def test_down_stops_everything_up_started_and_keeps_data(second_instance):
    env, ports, data = second_instance
    kafka_port = ports[1]

    # a busy port is named with its service, and nothing is started
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", kafka_port))
        blocker.listen()
        result = stack("up", env=env)
    assert result.returncode != 0
    assert f"kafka cannot start: port {kafka_port}" in result.stderr
    assert not (data / "run" / "supervisord.pid").exists()

    result = stack("up", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert stack("status", "--quiet", env=env).returncode == 0
    supervisord = int((data / "run" / "supervisord.pid").read_text())
    tree = descendants(supervisord)
    assert len(tree) >= 10, tree  # supervisord, nine services and PostgreSQL's own processes
    assert all(port_listening(p) for p in ports)

    # its Prometheus scrapes this instance's exporters (at its own ports): every target up, but the
    # generator's, where no generator runs
    prometheus = f"http://127.0.0.1:{ports[PORT_VARS.index('THELOOK_PROMETHEUS_PORT')]}"
    deadline = time.monotonic() + 120
    while True:
        targets = requests.get(prometheus + "/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        health = {t["labels"]["instance"]: (t["health"], t["scrapeUrl"]) for t in targets}
        if all(h == "up" for name, (h, _) in health.items() if name != "generator") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert sorted(health) == ["connect", "generator", "jobmanager", "kafka", "postgres", "prometheus", "taskmanager"]
    assert {name: h for name, (h, _) in health.items()} == {**{name: "up" for name in health}, "generator": "down"}
    assert health["generator"][1] == f"http://127.0.0.1:{ports[-1] + 2}/metrics"
    assert health["kafka"][1] == f"http://127.0.0.1:{ports[PORT_VARS.index('THELOOK_KAFKA_METRICS_PORT')]}/metrics"

    # its dashboard reads this instance's Prometheus, Connect, Flink and Kafka (its own ports)
    dashboard = f"http://127.0.0.1:{ports[PORT_VARS.index('THELOOK_DASHBOARD_PORT')]}"
    deadline = time.monotonic() + 60
    while True:
        sources = requests.get(dashboard + "/api/snapshot", timeout=5).json()["sources"]
        if all(sources[s]["ok"] for s in ("kafka", "prometheus", "connect", "flink")) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert {s: v["ok"] for s, v in sources.items()} == {"kafka": True, "prometheus": True, "connect": True,
                                                        "flink": True, "generator": False}, sources

    # a crashed service shows in status, and `up` starts it again; `restart` gives a new process
    pids = status_pids(env)
    os.kill(pids["sql-gateway"], signal.SIGKILL)
    time.sleep(1)
    assert stack("status", "--quiet", env=env).returncode == 1
    result = stack("up", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    result = stack("restart", "postgres", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    after = status_pids(env)
    assert after["sql-gateway"] != pids["sql-gateway"] and after["postgres"] != pids["postgres"]
    assert {k: v for k, v in after.items() if k not in ("sql-gateway", "postgres")} == \
        {k: v for k, v in pids.items() if k not in ("sql-gateway", "postgres")}
    tree = descendants(supervisord)

    conn = psycopg2.connect(host="127.0.0.1", port=ports[0], user="thelook", password="thelook", dbname="thelook")
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives down')")
        cur.execute("SELECT pg_relation_filepath('kept')")
        table_file = data / "postgres" / "data" / cur.fetchone()[0]
    conn.close()
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{kafka_port}"})
    producer.produce("kept.topic", b"survives down")
    assert producer.flush(30) == 0
    del producer

    result = stack("down", env=env)
    assert result.returncode == 0, result.stderr
    assert alive(tree) == []
    assert [p for p in ports if port_listening(p)] == []
    assert stack("status", "--quiet", env=env).returncode == 1
    # data kept (a restart from it is what every later `up` of the main stack does)
    assert table_file.stat().st_size > 0
    assert (data / "kafka" / "data" / "kept.topic-0").is_dir()
    assert stack("env", env=env).returncode == 0

    # a service that cannot start is named, with the reason and its log file, and `up` exits non-zero
    with open(data / "postgres" / "data" / "postgresql.conf", "a") as conf:
        conf.write("no_such_setting = on\n")
    result = stack("up", env=env)
    assert result.returncode == 2
    assert "stack: error: postgres failed: the process ended" in result.stderr
    assert f"[stack] log: {data / 'logs' / 'postgres.log'}" in result.stderr
    assert 'unrecognized configuration parameter "no_such_setting"' in result.stderr
    supervisord = int((data / "run" / "supervisord.pid").read_text())
    tree = descendants(supervisord)

    # even without its supervisord (killed here), `down` finds and stops what `up` started
    os.kill(supervisord, signal.SIGKILL)
    time.sleep(1)
    assert "processes of it left" in stack("status", env=env).stdout
    result = stack("down", "--wipe", env=env)
    assert result.returncode == 0, result.stderr
    assert alive(tree) == []
    assert not data.exists()
