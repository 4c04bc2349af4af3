"""Where things live: repo pins (.env), the data dir, the artifact cache, ports, and the saved stack state."""
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from thelook_datagen.errors import UserError

TOOL = "stack"   # the name in error lines (`stack: error: ...`) and progress lines (`[stack] ...`)
ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("postgres", "kafka", "connect", "jobmanager", "taskmanager", "sql-gateway", "postgres-exporter",
            "prometheus", "dashboard")
# `up --cluster` (README "Cluster mode"): three combined KRaft nodes, two Connect workers in one group, two
# TaskManagers. The first node of each kind keeps the single node's name (and ports), so that tools, alert
# rules and `instance` labels naming `kafka`, `connect` or `taskmanager` keep working; compose.cluster.yaml
# uses the same names.
CLUSTER_NODES = {"kafka": ("kafka", "kafka-2", "kafka-3"), "connect": ("connect", "connect-2"),
                 "taskmanager": ("taskmanager", "taskmanager-2")}
CLUSTER_SERVICES = tuple(node for svc in SERVICES for node in CLUSTER_NODES.get(svc, (svc,)))


def kind(service):
    """The kind of a node: `kafka-2` -> `kafka` (probes, heaps and class archives are per kind)."""
    for name, nodes in CLUSTER_NODES.items():
        if service in nodes:
            return name
    return service


def node_number(service):
    """1 for `kafka`, 2 for `kafka-2`: the node id of a broker, the suffix of a node's files."""
    base, _, number = service.rpartition("-")
    return int(number) if base in CLUSTER_NODES and number.isdigit() else 1


def port_name(service, port):
    """The PORT_VARS name of a node's port: ("kafka-2", "kafka_metrics") -> "kafka_2_metrics"."""
    n = node_number(service)
    if n == 1:
        return port
    head, _, tail = port.partition("_")
    return f"{head}_{n}_{tail}" if tail else f"{head}_{n}"

# name of the port -> (environment variable, default)
PORT_VARS = {
    "pg": ("THELOOK_PG_PORT", 5432),
    "kafka": ("THELOOK_KAFKA_PORT", 9092),
    "kafka_controller": ("THELOOK_KAFKA_CONTROLLER_PORT", 9093),
    "connect": ("THELOOK_CONNECT_PORT", 8083),
    "flink": ("THELOOK_FLINK_PORT", 8081),
    "flink_rpc": ("THELOOK_FLINK_RPC_PORT", 6123),
    "sql_gateway": ("THELOOK_SQL_GATEWAY_PORT", 8084),
    # metrics (observability/): the exporters' ports and the Prometheus server
    "kafka_metrics": ("THELOOK_KAFKA_METRICS_PORT", 9404),
    "connect_metrics": ("THELOOK_CONNECT_METRICS_PORT", 9405),
    "jobmanager_metrics": ("THELOOK_JOBMANAGER_METRICS_PORT", 9249),
    "taskmanager_metrics": ("THELOOK_TASKMANAGER_METRICS_PORT", 9250),
    "pg_exporter": ("THELOOK_PG_EXPORTER_PORT", 9187),
    "prometheus": ("THELOOK_PROMETHEUS_PORT", 9090),
    # not a port of the stack: where Prometheus looks for the generator's metrics (thelook-datagen
    # --metrics-port reads the same variable)
    "generator_metrics": ("THELOOK_METRICS_PORT", 9464),
    # the live web page (dashboard/; thelook-dashboard --port reads the same variable)
    "dashboard": ("THELOOK_DASHBOARD_PORT", 8088),
    # the extra nodes of `up --cluster` (read in both modes, so that a cluster's ports never collide)
    "kafka_2": ("THELOOK_KAFKA_2_PORT", 9094), "kafka_2_controller": ("THELOOK_KAFKA_2_CONTROLLER_PORT", 9095),
    "kafka_2_metrics": ("THELOOK_KAFKA_2_METRICS_PORT", 9406),
    "kafka_3": ("THELOOK_KAFKA_3_PORT", 9096), "kafka_3_controller": ("THELOOK_KAFKA_3_CONTROLLER_PORT", 9097),
    "kafka_3_metrics": ("THELOOK_KAFKA_3_METRICS_PORT", 9407),
    "connect_2": ("THELOOK_CONNECT_2_PORT", 8085), "connect_2_metrics": ("THELOOK_CONNECT_2_METRICS_PORT", 9408),
    "taskmanager_2_metrics": ("THELOOK_TASKMANAGER_2_METRICS_PORT", 9251),
}
# the ports each service listens on (for the free-port check and `status`)
SERVICE_PORTS = {
    "postgres": ("pg",), "kafka": ("kafka", "kafka_controller", "kafka_metrics"),
    "connect": ("connect", "connect_metrics"), "jobmanager": ("flink", "flink_rpc", "jobmanager_metrics"),
    "taskmanager": ("taskmanager_metrics",), "sql-gateway": ("sql_gateway",),
    "postgres-exporter": ("pg_exporter",), "prometheus": ("prometheus",), "dashboard": ("dashboard",),
}
for _kind, _nodes in CLUSTER_NODES.items():
    for _node in _nodes[1:]:
        SERVICE_PORTS[_node] = tuple(port_name(_node, p) for p in SERVICE_PORTS[_kind])
DB = {"user": "thelook", "password": "thelook", "database": "thelook"}


class StackError(UserError):
    """A failure to report as one error line (plus an optional log file); exit status 2."""

    def __init__(self, message, log=None, fix=None):
        super().__init__(message, fix)
        self.log = log


def read_pins():
    """Component versions, from the repo's .env only."""
    pins = {}
    for line in (ROOT / ".env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            pins[key.strip()] = value.strip().strip('"').strip("'")
    needed = ("KAFKA_VERSION", "SCALA_BINARY_VERSION", "DEBEZIUM_VERSION", "FLINK_VERSION",
              "FLINK_KAFKA_CONNECTOR_VERSION", "POSTGRES_VERSION", "JAVA_MAJOR", "LOG4J_VERSION",
              "JMX_EXPORTER_VERSION", "PROMETHEUS_VERSION", "POSTGRES_EXPORTER_VERSION",
              "PROMETHEUS_RETENTION_TIME", "PROMETHEUS_RETENTION_SIZE")
    missing = [k for k in needed if not pins.get(k)]
    if missing:
        raise StackError(f"{ROOT / '.env'} lacks {', '.join(missing)}")
    return pins


def pg_version(pins):
    """The PostgreSQL release (MAJOR.MINOR) this instance runs: THELOOK_PG_VERSION, else .env's POSTGRES_VERSION."""
    override = os.environ.get("THELOOK_PG_VERSION", "")
    value = override or pins["POSTGRES_VERSION"]
    if not re.fullmatch(r"\d{2,}\.\d+", value):
        source = "THELOOK_PG_VERSION" if override else f"POSTGRES_VERSION in {ROOT / '.env'}"
        raise StackError(f"{source}={value!r} is not a PostgreSQL release of the form MAJOR.MINOR (e.g. 17.6)")
    return value


def pg_max_slot_wal_keep_size():
    """PostgreSQL's max_slot_wal_keep_size for this instance: THELOOK_PG_MAX_SLOT_WAL_KEEP_SIZE, else 2GB (the WAL
    a stalled slot may hold back before PostgreSQL invalidates it; the slot-invalidated scenario runs its own
    instance with a small one, since the setting is server-wide)."""
    value = os.environ.get("THELOOK_PG_MAX_SLOT_WAL_KEEP_SIZE", "").strip() or "2GB"
    if not re.fullmatch(r"-1|\d+(kB|MB|GB|TB)", value):
        raise StackError(f"THELOOK_PG_MAX_SLOT_WAL_KEEP_SIZE={value!r} is not a size of the form 32MB, 2GB (or -1: "
                         "unlimited)")
    return value


def _dir_from_env(var, default):
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def data_dir():
    return _dir_from_env("THELOOK_STACK_DIR", ROOT / ".stack")


def cache_dir():
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return _dir_from_env("THELOOK_CACHE_DIR", xdg / "thelook-cdc")


def ports_from_env():
    ports = {}
    for name, (var, default) in PORT_VARS.items():
        raw = os.environ.get(var, "")
        if raw == "":
            ports[name] = default
            continue
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise StackError(f"{var}={raw!r} is not a port number")
        ports[name] = int(raw)
    if len(set(ports.values())) != len(ports):
        raise StackError(f"two services were given the same port: {ports}")
    return ports


@dataclass
class State:
    """What `up` decided, saved in the data dir so that env/status/down need no options."""
    dir: Path
    ports: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)
    services: tuple = SERVICES   # `up --only postgres`: this instance runs only these
    cluster: bool = False        # `up --cluster`: the nodes of CLUSTER_SERVICES

    @property
    def file(self):
        return self.dir / "stack.json"

    @classmethod
    def load(cls, directory):
        path = directory / "stack.json"
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return cls(directory, raw.get("ports", {}), raw.get("paths", {}), tuple(raw.get("services", SERVICES)),
                   bool(raw.get("cluster", False)))

    def save(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"ports": self.ports, "paths": self.paths, "services": list(self.services),
                                   "cluster": self.cluster},
                                  indent=2) + "\n")
        tmp.replace(self.file)

    def env_exports(self):
        p = self.ports
        pg = {"PGHOST": "127.0.0.1", "PGPORT": str(p["pg"]), "PGUSER": DB["user"],
              "PGPASSWORD": DB["password"], "PGDATABASE": DB["database"]}
        if self.services == ("postgres",):
            return pg
        return {
            **pg,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers(p, self.services),
            "CONNECT_URL": connect_urls(p, self.services),
            "FLINK_URL": f"http://127.0.0.1:{p['flink']}",
            "FLINK_SQL_GATEWAY_URL": f"http://127.0.0.1:{p['sql_gateway']}",
            "PROMETHEUS_URL": f"http://127.0.0.1:{p['prometheus']}",
            # the generator's metrics and control endpoint (thelook-datagen --metrics-port ... --control)
            "GENERATOR_URL": f"http://127.0.0.1:{p['generator_metrics']}",
            "DASHBOARD_URL": f"http://127.0.0.1:{p['dashboard']}/",
        }


def bootstrap_servers(ports, services):
    """Every broker of the instance (a client that finds one down tries the next)."""
    return ",".join(f"127.0.0.1:{ports[port_name(n, 'kafka')]}" for n in services if kind(n) == "kafka")


def connect_urls(ports, services):
    """Every Connect worker's REST URL, comma-separated (the project's tools try each in turn)."""
    return ",".join(f"http://127.0.0.1:{ports[port_name(n, 'connect')]}" for n in services if kind(n) == "connect")


def which(name):
    return shutil.which(name)
