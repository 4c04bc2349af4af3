"""Readiness checks: each returns None when the service answers as it should, else why not.
HTTP probes use the project's REST client (thelook_datagen.ops.rest) with a short timeout."""
import shutil
import socket
import struct
import subprocess

import requests

from thelook_datagen.ops.rest import Rest, RestError, short_reason

from .settings import kind, port_name

DEBEZIUM_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
PROBE_TIMEOUT = 3.0


def _get_json(port, path, service):
    return Rest(f"http://127.0.0.1:{port}", service, timeout=PROBE_TIMEOUT).call("GET", path)


def _http(check):
    try:
        return check()
    except RestError as exc:
        return f"no answer ({exc.reason})" if exc.unreachable else f"HTTP {exc.status}"
    except (AttributeError, TypeError, ValueError) as exc:   # an answer of an unexpected shape
        return f"unexpected answer ({exc})"


def postgres(ports, pg_bin):
    """pg_isready of Debian's postgresql-client (the server's archive has none; `up` installs the client)."""
    out = subprocess.run([shutil.which("pg_isready") or "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(ports["pg"]),
                          "-t", "2"], capture_output=True)
    return None if out.returncode == 0 else "not accepting connections"


def kafka(ports, node="kafka"):
    """An ApiVersions request: answered only once the broker has started serving clients."""
    client = b"thelook-stack"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
    try:
        with socket.create_connection(("127.0.0.1", ports[port_name(node, "kafka")]), timeout=3) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            head = sock.recv(10)
    except OSError as exc:
        return f"no answer ({exc})"
    if len(head) < 10:
        return "connection closed"
    _, correlation, error = struct.unpack(">iih", head)
    return None if correlation == 1 and error == 0 else f"ApiVersions error {error}"


def connect(ports, node="connect"):
    def check():
        plugins = _get_json(ports[port_name(node, "connect")], "/connector-plugins", "Kafka Connect")
        if any(p.get("class") == DEBEZIUM_CLASS for p in plugins):
            return None
        return "Debezium PostgresConnector not among the connector plugins"
    return _http(check)


def jobmanager(ports):
    return _http(lambda: None if "taskmanagers" in _get_json(ports["flink"], "/overview", "Flink JobManager")
                 else "unexpected /overview")


def taskmanager(ports, node="taskmanager"):
    def check():
        tms = _get_json(ports["flink"], "/taskmanagers", "Flink JobManager").get("taskmanagers", [])
        # each TaskManager registers under its service name (taskmanager.resource-id, services.py)
        if any(tm.get("id") == node for tm in tms):
            return None
        return f"not registered with the JobManager (registered: {', '.join(tm.get('id', '?') for tm in tms) or 'none'})"
    return _http(check)


def sql_gateway(ports):
    return _http(lambda: None if "productName" in _get_json(ports["sql_gateway"], "/v1/info", "Flink SQL gateway")
                 else "unexpected /v1/info")


def _get_text(port, path):
    """A plain-text GET; returns (None, body) or (why not, None)."""
    try:
        resp = requests.get(f"http://127.0.0.1:{port}{path}", timeout=PROBE_TIMEOUT)
    except requests.RequestException as exc:
        return f"no answer ({short_reason(exc, PROBE_TIMEOUT)})", None
    return (None, resp.text) if resp.status_code == 200 else (f"HTTP {resp.status_code}", None)


def postgres_exporter(ports):
    """The exporter answers /metrics even without a database: pg_up says whether it reached PostgreSQL."""
    why, text = _get_text(ports["pg_exporter"], "/metrics")
    if why:
        return why
    return None if "\npg_up 1" in text else "no connection to PostgreSQL (pg_up is not 1)"


def prometheus(ports):
    return _get_text(ports["prometheus"], "/-/ready")[0]


def dashboard(ports):
    return _get_text(ports["dashboard"], "/healthz")[0]


def port_free(port):
    """True if a server could bind 127.0.0.1:port now (no listener, no client socket holding it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_in_use(port):
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def check(name, ports, pg_bin):
    if name == "postgres":
        return postgres(ports, pg_bin)
    if kind(name) in ("kafka", "connect", "taskmanager"):
        return {"kafka": kafka, "connect": connect, "taskmanager": taskmanager}[kind(name)](ports, name)
    return {"jobmanager": jobmanager, "sql-gateway": sql_gateway, "postgres-exporter": postgres_exporter,
            "prometheus": prometheus, "dashboard": dashboard}[name](ports)
