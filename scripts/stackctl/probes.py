"""Readiness checks: each returns None when the service answers as it should, else why not."""
import json
import socket
import struct
import subprocess
import urllib.error
import urllib.request

DEBEZIUM_CLASS = "io.debezium.connector.postgresql.PostgresConnector"


def _get_json(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode() or "null")


def _http(check):
    try:
        return check()
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"no answer ({getattr(exc, 'reason', exc)})"


def postgres(ports, pg_bin):
    out = subprocess.run([str(pg_bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(ports["pg"]),
                          "-t", "2"], capture_output=True)
    return None if out.returncode == 0 else "not accepting connections"


def kafka(ports):
    """An ApiVersions request: answered only once the broker has started serving clients."""
    client = b"thelook-stack"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
    try:
        with socket.create_connection(("127.0.0.1", ports["kafka"]), timeout=3) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            head = sock.recv(10)
    except OSError as exc:
        return f"no answer ({exc})"
    if len(head) < 10:
        return "connection closed"
    _, correlation, error = struct.unpack(">iih", head)
    return None if correlation == 1 and error == 0 else f"ApiVersions error {error}"


def connect(ports):
    def check():
        plugins = _get_json(f"http://127.0.0.1:{ports['connect']}/connector-plugins")
        if any(p.get("class") == DEBEZIUM_CLASS for p in plugins):
            return None
        return "Debezium PostgresConnector not among the connector plugins"
    return _http(check)


def jobmanager(ports):
    return _http(lambda: None if "taskmanagers" in _get_json(f"http://127.0.0.1:{ports['flink']}/overview")
                 else "unexpected /overview")


def taskmanager(ports):
    def check():
        tms = _get_json(f"http://127.0.0.1:{ports['flink']}/taskmanagers").get("taskmanagers", [])
        return None if tms else "no TaskManager registered with the JobManager"
    return _http(check)


def sql_gateway(ports):
    return _http(lambda: None if "productName" in _get_json(f"http://127.0.0.1:{ports['sql_gateway']}/v1/info")
                 else "unexpected /v1/info")


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
    return {"kafka": kafka, "connect": connect, "jobmanager": jobmanager, "taskmanager": taskmanager,
            "sql-gateway": sql_gateway}[name](ports)
