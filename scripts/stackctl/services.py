"""The six processes of the stack: their config files, one-time initialisation and command lines."""
import base64
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import artifacts, cds, observability
from .settings import (DB, ROOT, StackError, bootstrap_servers, connect_urls, kind, node_number,
                       pg_max_slot_wal_keep_size, port_name)
from .ui import say

# Heaps sized for the test suite on a 2-core, 24 GB machine that may run several stack instances at
# once (a second PostgreSQL and connector, test jobs next to the demo's): about 3.5 GB resident under
# the demo load (README, "Memory"; bench/stack_memory.py). compose.yaml runs the same services with
# smaller JVM sizes inside a 4 GB budget for laptops; tests/compose/test_compose_v2.py checks that one.
KAFKA_HEAP = "-Xms256m -Xmx512m"
CONNECT_HEAP = "-Xms256m -Xmx768m"
# `up --cluster` runs 3 brokers, 2 workers and 2 TaskManagers: smaller sizes keep it within 8 GB resident
# (README "Cluster mode"); each broker carries a third of the leaderships, each worker half of the tasks.
CLUSTER_KAFKA_HEAP = "-Xms192m -Xmx384m"
CLUSTER_CONNECT_HEAP = "-Xms192m -Xmx640m"
CLUSTER_TASKMANAGER_MEMORY = "1280m"
# How the Flink jobs keep their state (flink/README.md, "State"), the same in compose.yaml's jobmanager,
# taskmanager and sql-gateway (a job takes its settings from the session that submits it; tests/compose checks
# that they agree). RocksDB writes an INFO log per stateful operator, a few lines per checkpoint (every 10 s,
# however quiet the shop) and per flush or compaction; Flink's default rolling (4 files of 25 MB) lets the
# twenty-odd instances of the five jobs take up to 2 GB of disk over a long day: 2 files of 1 MB each.
FLINK_STATE_SETTINGS = {
    "state.backend.type": "rocksdb", "execution.checkpointing.incremental": "true",
    "state.backend.rocksdb.log.max-file-size": "1mb", "state.backend.rocksdb.log.file-num": "2",
}
# A Flink process whose RPC actor system does not start within Pekko's remoting startup timeout (10 s; Flink's
# pekko.startup-timeout, tried, does not reach it) exits: seen on a 2-core machine under a load of 60. Started again,
# it comes up; the launcher tries this many times before it reports the failure.
FLINK_START_ATTEMPTS = 3
JVM_COMMON = ("-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 "
              "-XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true")
# JobManager and SQL gateway move no data: the quick JIT and the serial collector spare the two cores
CONTROL_PLANE_JVM = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
"""

FLINK_LOG4J = """\
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
logger.pekko.name = org.apache.pekko
logger.pekko.level = INFO
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.netty.name = org.jboss.netty.channel.DefaultChannelPipeline
logger.netty.level = OFF
appender.console.name = ConsoleAppender
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
"""


@dataclass
class Service:
    name: str
    command: list
    env: dict = field(default_factory=dict)
    user: str = ""
    stopsignal: str = "TERM"
    after: tuple = ()          # services that must be ready before this one starts
    timeout: int = 240         # seconds to become ready (generous: the machine may be busy)
    attempts: int = 1          # starts tried before a process that ends while starting is a failure


@dataclass
class Layout:
    """Paths of one stack instance and of the shared artifacts it runs."""
    data: Path
    java: Path
    pg_bin: Path
    jars: Path
    flink: Path

    @property
    def logs(self):
        return self.data / "logs"

    @property
    def run(self):
        return self.data / "run"

    @property
    def pgdata(self):
        return self.data / "postgres" / "data"

    @property
    def pg_socket_dir(self):
        sock = self.run / "pg"
        # a unix socket path may not exceed 107 bytes
        return sock if len(str(sock)) < 80 else Path("/tmp") / f"thelook-pg-{hashlib.sha1(bytes(self.data)).hexdigest()[:10]}"


def _postgres_owner():
    """As root, PostgreSQL (which refuses to run as root) runs as the `postgres` OS user; else as the caller."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        pass
    # Debian's postgresql-common would create it; the server from Maven Central comes without one
    say("creating the system user `postgres` to run PostgreSQL (it refuses to run as root)")
    out = subprocess.run(["useradd", "--system", "--user-group", "--home-dir", "/nonexistent", "--no-create-home",
                          "--shell", "/usr/sbin/nologin", "postgres"], capture_output=True, text=True)
    if out.returncode not in (0, 9):   # 9: created meanwhile by another `up`
        raise StackError(f"could not create the postgres OS user: {(out.stderr or out.stdout).strip()}")
    return pwd.getpwnam("postgres")


def postgres_runtime(data, dist, prune=True):
    """The bin/ folder the server runs from. As root it runs as `postgres`, which may not be able to enter
    the cache (e.g. under /root): the instance then gets its own hard-linked (or copied) tree of the
    distribution inside the data dir, which that user can enter."""
    if os.geteuid() != 0:
        return dist / "bin"
    target = data / "postgres" / f"dist-{dist.name}"
    if not (target / ".complete").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        for old in target.parent.glob("dist-*") if prune else ():
            shutil.rmtree(old, ignore_errors=True)

        def link_or_copy(src, dst):
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
        shutil.copytree(dist, target, symlinks=True, copy_function=link_or_copy)
        (target / ".complete").write_text("")
    return target / "bin"


def pg_major(version):
    return version.split(".", 1)[0]


def check_data_major(data, version):
    """Data initialised by another PostgreSQL major cannot be opened: say so, with the two ways out, before
    anything starts (never a server that dies at every start)."""
    marker = data / "postgres" / "data" / "PG_VERSION"
    try:
        found = marker.read_text().strip()
    except OSError:
        return
    want = pg_major(version)
    if found == want:
        return
    if found.isdigit() and int(found) > int(want):
        keep = f"or keep it: run a PostgreSQL {found} release with THELOOK_PG_VERSION={found}.<minor>"
    else:
        keep = f"or keep it: upgrade it to PostgreSQL {want} with pg_upgrade first"
    raise StackError(f"the PostgreSQL data in {marker.parent} was initialised by PostgreSQL {found}, and this stack "
                     f"runs PostgreSQL {want} ({version}), which cannot open it",
                     fix=f"start afresh with `scripts/stack down --wipe`, which deletes the stack's data, {keep}")


def _as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] + cmd) if _postgres_owner() else cmd


def _chown_postgres(path):
    owner = _postgres_owner()
    if owner:
        os.chown(path, owner.pw_uid, owner.pw_gid)


def init_postgres(lay):
    """initdb once; the socket dir is private to the postgres user, so local connections may trust."""
    sock = lay.pg_socket_dir
    sock.mkdir(parents=True, exist_ok=True)
    sock.chmod(0o700)
    _chown_postgres(sock)
    if (lay.pgdata / "PG_VERSION").exists():
        return
    lay.pgdata.parent.mkdir(parents=True, exist_ok=True)
    _chown_postgres(lay.pgdata.parent)
    if _postgres_owner() and subprocess.run(_as_postgres(["test", "-w", str(lay.pgdata.parent)])).returncode:
        raise StackError(f"the postgres OS user cannot enter {lay.pgdata.parent} (choose a "
                         "THELOOK_STACK_DIR whose parent folders others may enter, e.g. not under a 0700 dir)")
    say(f"initialising a PostgreSQL cluster in {lay.pgdata}")
    out = subprocess.run(_as_postgres([str(lay.pg_bin / "initdb"), "-D", str(lay.pgdata), "-U", "postgres",
                                       "-E", "UTF8", "--locale=C.UTF-8", "--auth-local=trust",
                                       "--auth-host=scram-sha-256"]),
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise StackError(f"initdb failed: {(out.stderr or out.stdout).strip().splitlines()[-1]}")


def bootstrap_database(lay, port):
    """The demo role and database (idempotent; runs at every `up`)."""
    sql = f"""
SELECT format('CREATE ROLE %I LOGIN REPLICATION PASSWORD %L', '{DB['user']}', '{DB['password']}')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{DB['user']}')\\gexec
SELECT format('CREATE DATABASE %I OWNER %I', '{DB['database']}', '{DB['user']}')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DB['database']}')\\gexec
"""
    out = subprocess.run(_as_postgres([artifacts.pg_client("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                                       "-h", str(lay.pg_socket_dir), "-p", str(port), "-U", "postgres",
                                       "-d", "postgres"]),
                         input=sql, capture_output=True, text=True)
    if out.returncode != 0:
        raise StackError(f"creating the thelook role and database failed: {out.stderr.strip()}",
                         log=lay.logs / "postgres.log")


def kafka_cluster_id():
    """A random base64url UUID that does not start with '-', which kafka-storage would parse as an
    option (Kafka's own Uuid.randomUuid() avoids it the same way)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def kafka_dir(lay, node):
    """`kafka` keeps the single node's folder, so a single-node stack's data stays where it was."""
    return lay.data / node


# A broker of the cluster (README "Cluster mode"). Replication 3 with min.insync.replicas 2: a write
# acknowledged by all in-sync replicas survives losing any one node, and the cluster still accepts writes
# with one node down. The timeouts are longer than Kafka's defaults so that a healthy node on a busy 2-core
# machine (a GC pause, a starved thread) is not fenced from the cluster or the quorum.
CLUSTER_BROKER = {
    "default.replication.factor": "3", "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3", "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2", "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2", "unclean.leader.election.enable": "false",
    # a node that comes back takes its preferred leaderships back within half a minute
    "auto.leader.rebalance.enable": "true", "leader.imbalance.check.interval.seconds": "30",
    "broker.session.timeout.ms": "18000", "broker.heartbeat.interval.ms": "3000",
    "controller.quorum.fetch.timeout.ms": "6000", "controller.quorum.election.timeout.ms": "3000",
}
SINGLE_BROKER = {
    "offsets.topic.replication.factor": "1", "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1", "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
}


def kafka_props(lay, ports, nodes, node):
    """server.properties of one node of the instance's `nodes` (all combined broker+controller nodes)."""
    voters = ",".join(f"{node_number(n)}@127.0.0.1:{ports[port_name(n, 'kafka_controller')]}" for n in nodes)
    client, controller = ports[port_name(node, "kafka")], ports[port_name(node, "kafka_controller")]
    return {
        "process.roles": "broker,controller", "node.id": str(node_number(node)),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{client}",
        "controller.listener.names": "CONTROLLER", "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(kafka_dir(lay, node) / "data"), "num.partitions": "1",
        **(CLUSTER_BROKER if len(nodes) > 1 else SINGLE_BROKER),
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2", "num.io.threads": "4",
        # a long demo at a high rate must not fill the disk: a partition keeps at most 2 GiB (about two weeks of
        # demo days in the largest topic), whatever its age; no time limit, which would also empty the topics of
        # tables written once, e.g. products (README.md, "Topics and retention")
        "log.retention.ms": "-1", "log.retention.bytes": str(2 << 30), "log.segment.bytes": str(256 << 20),
    }


def init_kafka(lay, ports, nodes=("kafka",)):
    """server.properties of every node at every `up` (ports may change); storage formatted once per node, all
    with the instance's one saved cluster id. Several nodes are combined broker+controller nodes: three
    voters keep a quorum when one is lost, without three more JVMs for separate controllers."""
    id_file = lay.data / "kafka" / "cluster.id"
    id_file.parent.mkdir(parents=True, exist_ok=True)
    _write(lay.data / "conf" / "log4j2.properties", LOG4J2)
    for node in nodes:
        kdir = kafka_dir(lay, node)
        (kdir / "data").mkdir(parents=True, exist_ok=True)
        props = kafka_props(lay, ports, nodes, node)
        _write_props(kdir / "server.properties", props)
        if (kdir / "data" / "meta.properties").exists():
            continue
        # storage is not formatted yet, so an id the tool would read as an option can still be replaced
        if not id_file.exists() or id_file.read_text().startswith("-"):
            id_file.write_text(kafka_cluster_id() + "\n")
        say(f"formatting Kafka's KRaft storage ({node})")
        out = subprocess.run([str(lay.java / "bin" / "java"), "-Xmx256m", f"-Dlog4j2.configurationFile={lay.data / 'conf' / 'log4j2.properties'}",
                              "-cp", str(lay.jars / "kafka" / "*"), "kafka.tools.StorageTool", "format",
                              "-t", id_file.read_text().strip(), "-c", str(kdir / "server.properties")],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise StackError(f"formatting Kafka storage of {node} failed: {(out.stderr or out.stdout).strip()[-400:]}")


def check_kafka_mode(data, cluster):
    """A broker formatted for one node cannot join a three-node quorum (nor the reverse): say so before starting."""
    single = (data / "kafka" / "data" / "meta.properties").exists()
    nodes = (data / "kafka-2" / "data" / "meta.properties").exists()
    if single and cluster and not nodes:
        raise StackError(f"the data in {data} is a single-node stack's; a cluster needs its own",
                         fix="use another THELOOK_STACK_DIR for the cluster, or `scripts/stack down --wipe` first")
    if nodes and not cluster:
        raise StackError(f"the data in {data} is a cluster's (scripts/stack up --cluster)",
                         fix="run `scripts/stack up --cluster`, use another THELOOK_STACK_DIR, or "
                             "`scripts/stack down --wipe` first")


def connect_conf(lay, worker):
    return lay.data / worker / "connect.properties"


def init_connect(lay, ports, workers=("connect",), brokers=("kafka",)):
    """One properties file per worker; several workers share the group (and so the connectors and tasks)."""
    cluster = len(brokers) > 1
    rf = "3" if cluster else "1"
    for worker in workers:
        port = ports[port_name(worker, "connect")]
        props = {
            "bootstrap.servers": ",".join(f"127.0.0.1:{ports[port_name(b, 'kafka')]}" for b in brokers),
            "group.id": "thelook-connect",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "config.storage.topic": "_connect-configs", "offset.storage.topic": "_connect-offsets",
            "status.storage.topic": "_connect-status", "config.storage.replication.factor": rf,
            "offset.storage.replication.factor": rf, "status.storage.replication.factor": rf,
            "offset.storage.partitions": "5", "offset.flush.interval.ms": "1000",
            # one worker: after a rejoin (e.g. a broker restart on a busy machine) reassign its connector at
            # once instead of holding it UNASSIGNED for the default 5 minutes. Two workers: a worker that left
            # gets 10 s to come back before its tasks move to the other one.
            "scheduled.rebalance.max.delay.ms": "10000" if len(workers) > 1 else "0",
            "listeners": f"http://127.0.0.1:{port}", "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": str(port),
            "plugin.path": str(lay.jars / "connect-plugins"),
            # every plugin here ships ServiceLoader manifests: skip the slow reflective scan
            "plugin.discovery": "service_load",
            "config.providers": "env,file",
            "config.providers.env.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
            "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
        }
        if cluster:
            props.update({
                # every record on all in-sync replicas, written once even when a send is retried
                "producer.acks": "all", "producer.enable.idempotence": "true",
                # a worker of a busy machine is not dropped from the group for a late heartbeat
                "session.timeout.ms": "20000", "heartbeat.interval.ms": "3000",
            })
        _write_props(connect_conf(lay, worker), props)


def init_flink(lay, ports, cluster=False):
    conf = lay.data / "flink" / "conf"
    for sub in ("tmp", "web", "checkpoints"):
        (lay.data / "flink" / sub).mkdir(parents=True, exist_ok=True)
    java_opts = _dist_java_opts(lay.flink / "conf" / "config.yaml")
    settings = {
        "env.java.opts.all": java_opts,
        "env.java.opts.jobmanager": " ".join([*CONTROL_PLANE_JVM,
                                              *cds.jvm_flags(lay, "jobmanager", CONTROL_PLANE_JVM)]),
        "env.java.opts.taskmanager": " ".join(cds.jvm_flags(lay, "taskmanager")),
        "env.java.opts.sql-gateway": " ".join(["-Xms128m", "-Xmx384m", *CONTROL_PLANE_JVM,
                                               *cds.jvm_flags(lay, "sql-gateway", CONTROL_PLANE_JVM)]),
        "jobmanager.rpc.address": "127.0.0.1", "jobmanager.rpc.port": ports["flink_rpc"],
        "jobmanager.bind-host": "127.0.0.1", "jobmanager.memory.process.size": "1024m",
        "jobmanager.execution.failover-strategy": "region",
        # RPC answers (and a slot's activation, which falls back to it) may take longer than the default 10 s
        # on a busy 2-core machine; a timed-out deployment fails over tasks still initialising their RocksDB
        # state, and cancelling a mini-batch join there hits a Flink bug that stops the TaskManager
        "pekko.ask.timeout": "60 s",
        "taskmanager.bind-host": "127.0.0.1", "taskmanager.host": "127.0.0.1",
        # in a cluster each TaskManager alone has the slots for every job: one may be lost
        "taskmanager.numberOfTaskSlots": 8,
        "taskmanager.memory.process.size": CLUSTER_TASKMANAGER_MEMORY if cluster else "1600m",
        # RocksDB keeps the jobs' state on disk and caches it in managed memory (capped per slot), so the
        # managed share is the larger one; the task heap holds records in flight only (flink/README.md,
        # "State"). A cluster's smaller TaskManagers keep 0.3, as compose's: about 240m of task heap
        "taskmanager.memory.managed.fraction": 0.3 if cluster else 0.4, "parallelism.default": 1,
        "rest.address": "127.0.0.1", "rest.bind-address": "127.0.0.1", "rest.port": ports["flink"],
        "sql-gateway.endpoint.rest.address": "127.0.0.1",
        "sql-gateway.endpoint.rest.bind-address": "127.0.0.1",
        "sql-gateway.endpoint.rest.port": ports["sql_gateway"],
        "io.tmp.dirs": str(lay.data / "flink" / "tmp"), "web.tmpdir": str(lay.data / "flink" / "web"),
        **FLINK_STATE_SETTINGS, "table.local-time-zone": "UTC",
        "execution.checkpointing.dir": f"file://{lay.data / 'flink' / 'checkpoints'}",
        # Prometheus reporter (observability/flink/metrics.yaml; the reporter is the distribution's
        # plugins/metrics-prometheus); each process gets its own port with -D at start. The reporter has no
        # bind-address setting: it listens on every interface of the machine.
        "metrics.reporter.prom.port": ports["jobmanager_metrics"],
    }
    if cluster:
        # the jobs' slots spread over both TaskManagers, so that losing either one shows a recovery
        settings["cluster.evenly-spread-out-slots"] = "true"
    text = "".join(f"{k}: {_yaml_scalar(v)}\n" for k, v in settings.items())
    _write(conf / "config.yaml", text + "\n" + observability.FLINK_METRICS.read_text())
    _write(conf / "log4j-console.properties", FLINK_LOG4J)
    for name in ("log4j-cli.properties", "log4j-session.properties", "logback-console.xml"):
        if (lay.flink / "conf" / name).exists():
            shutil.copy2(lay.flink / "conf" / name, conf / name)


def _dist_java_opts(config_yaml):
    """The --add-opens list that Flink's own config.yaml carries (needed on Java 17)."""
    for line in config_yaml.read_text().splitlines():
        if line.strip().startswith("all:") and "--add-" in line:
            return line.split(":", 1)[1].strip()
    return ""


def _yaml_scalar(value):
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _write_props(path, props):
    _write(path, "".join(f"{k}={v}\n" for k, v in props.items()))


def definitions(lay, ports, pg_env, pins, nodes):
    """The supervised programs, in start order (`pins`: the .env pins; `nodes`: the instance's services, e.g.
    settings.CLUSTER_SERVICES)."""
    cluster = "kafka-2" in nodes
    java = str(lay.java / "bin" / "java")
    log4j = f"-Dlog4j2.configurationFile={lay.data / 'conf' / 'log4j2.properties'}"
    classpath = str(lay.jars / "kafka" / "*")

    def kafka_jvm(heap, name, metrics_port):
        # the class archive is keyed by the agent jar (not its port): the agent's classes are in it. The nodes
        # of a cluster share their kind's archive (the first node to stop writes it).
        agent = observability.jmx_agent_flag(lay.jars, pins, kind(name), metrics_port)
        archive_key = [*JVM_COMMON.split(), agent.split("=", 1)[0]]
        archive = cds.jvm_flags(lay, kind(name), archive_key, java_agent=True) if node_number(name) == 1 else \
            cds.jvm_flags(lay, kind(name), archive_key, java_agent=True, record=False)
        return [java, *heap.split(), *JVM_COMMON.split(), *archive, agent, log4j, "-cp", classpath]
    flink_env = {"JAVA_HOME": str(lay.java), "FLINK_CONF_DIR": str(lay.data / "flink" / "conf"),
                 "FLINK_LOG_DIR": str(lay.logs / "flink"), "FLINK_PID_DIR": str(lay.run),
                 "FLINK_IDENT_STRING": "thelook"}
    pg_settings = {
        "port": ports["pg"], "listen_addresses": "127.0.0.1",
        "unix_socket_directories": lay.pg_socket_dir, "wal_level": "logical",
        "max_replication_slots": 20, "max_wal_senders": 20, "max_slot_wal_keep_size": pg_max_slot_wal_keep_size(),
        "max_connections": 200, "shared_buffers": "128MB", "logging_collector": "off",
        "timezone": "UTC", "log_timezone": "UTC",
    }
    postgres = [str(lay.pg_bin / "postgres"), "-D", str(lay.pgdata)]
    for key, value in pg_settings.items():
        postgres += ["-c", f"{key}={value}"]
    brokers = [n for n in nodes if kind(n) == "kafka"]
    # a cluster's Flink starts once its brokers answer: nine JVMs starting at once on two cores left the
    # JobManager without a line of output for four minutes (measured under load)
    flink_after = tuple(brokers) if cluster else ()
    # ... and may still be slow to say its first line when the brokers and workers start beside it
    flink_timeout = 480 if cluster else 240

    def broker(name):
        return Service(name, [*kafka_jvm(CLUSTER_KAFKA_HEAP if cluster else KAFKA_HEAP, name,
                                         ports[port_name(name, "kafka_metrics")]),
                              "kafka.Kafka", str(kafka_dir(lay, name) / "server.properties")], timeout=180)

    def taskmanager(name):
        # the resource id names the TaskManager in Flink's REST API (and so in `status`)
        return Service(name, [str(lay.flink / "bin" / "taskmanager.sh"), "start-foreground",
                              "-D", f"metrics.reporter.prom.port={ports[port_name(name, 'taskmanager_metrics')]}",
                              "-D", f"taskmanager.resource-id={name}"], env=flink_env, after=flink_after,
                       timeout=flink_timeout, attempts=FLINK_START_ATTEMPTS)

    def worker(name):
        # a worker starts once every broker answers: its group and internal topics need the full cluster
        return Service(name, [*kafka_jvm(CLUSTER_CONNECT_HEAP if cluster else CONNECT_HEAP, name,
                                         ports[port_name(name, "connect_metrics")]),
                              "org.apache.kafka.connect.cli.ConnectDistributed", str(connect_conf(lay, name))],
                       env=pg_env, after=tuple(brokers))
    defined = [
        # SIGINT is PostgreSQL's fast shutdown: it does not wait for Debezium's connections to end
        Service("postgres", postgres, user="postgres" if _postgres_owner() else "", stopsignal="INT",
                timeout=60),
        *(broker(n) for n in brokers),
        Service("jobmanager", [str(lay.flink / "bin" / "jobmanager.sh"), "start-foreground",
                               "-D", f"metrics.reporter.prom.port={ports['jobmanager_metrics']}"], env=flink_env,
                after=flink_after, timeout=flink_timeout, attempts=FLINK_START_ATTEMPTS),
        *(taskmanager(n) for n in nodes if kind(n) == "taskmanager"),
        *(worker(n) for n in nodes if kind(n) == "connect"),
        Service("sql-gateway", [str(lay.flink / "bin" / "sql-gateway.sh"), "start-foreground"],
                env=flink_env, after=("jobmanager",)),
        Service("postgres-exporter", observability.postgres_exporter_command(ports),
                env=observability.postgres_exporter_env(pg_env), after=("postgres",), timeout=60),
        Service("prometheus", observability.prometheus_command(lay.data, ports, pins), timeout=60),
        # The live web page (dashboard/), run by the launcher's own Python (the project's venv, where
        # scripts/bootstrap installed it). It copes with any source being down, so it waits for none. Its
        # controls are on: it listens on 127.0.0.1 only, and only loopback clients may act; the restart
        # controls call this launcher, for this instance (THELOOK_STACK_DIR).
        Service("dashboard", [sys.executable, "-m", "thelook_dashboard"],
                env=dashboard_env(lay, ports, pg_env, nodes), timeout=60),
    ]
    return [svc for svc in defined if svc.name in nodes]


def dashboard_env(lay, ports, pg_env, nodes):
    """The dashboard's settings as its environment variables (the names every tool of the project reads)."""
    env = {
        **pg_env, "PGHOST": "127.0.0.1", "PGPORT": str(ports["pg"]),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers(ports, nodes),
        "CONNECT_URL": connect_urls(ports, nodes), "FLINK_URL": f"http://127.0.0.1:{ports['flink']}",
        "FLINK_SQL_GATEWAY_URL": f"http://127.0.0.1:{ports['sql_gateway']}",
        "PROMETHEUS_URL": f"http://127.0.0.1:{ports['prometheus']}",
        "GENERATOR_URL": f"http://127.0.0.1:{ports['generator_metrics']}",
        "THELOOK_DASHBOARD_ADDRESS": "127.0.0.1", "THELOOK_DASHBOARD_PORT": str(ports["dashboard"]),
        "THELOOK_DASHBOARD_CONTROLS": os.environ.get("THELOOK_DASHBOARD_CONTROLS", "true"),
        "THELOOK_DASHBOARD_STACK_COMMAND": str(ROOT / "scripts" / "stack"),
        "THELOOK_STACK_DIR": str(lay.data),
        "PYTHONUNBUFFERED": "1",
    }
    for key in ("THELOOK_TOPIC_PREFIX", "THELOOK_SCHEMA"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env
