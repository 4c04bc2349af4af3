"""The metrics side of the local stack: the Prometheus server's configuration, the JMX exporter agent's
command-line flag, the PostgreSQL exporter's command, and Debian's packages of both.

observability/ in the repository holds the one copy of every config file; compose.yaml mounts them as they
are. Here the scrape configuration is rewritten for local processes: compose's `service:port` targets
become 127.0.0.1 and the ports of this instance (so two instances run side by side).
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from . import artifacts
from .settings import ROOT, StackError
from .ui import say

CONFIG = ROOT / "observability"
SCRAPE_CONFIG = CONFIG / "prometheus" / "prometheus.yml"
CLUSTER_SCRAPE_CONFIG = CONFIG / "prometheus" / "prometheus.cluster.yml"   # every node of `up --cluster`
FLINK_METRICS = CONFIG / "flink" / "metrics.yaml"   # appended to the Flink processes' config.yaml
# compose service name in a scrape target -> the name of its port in settings.PORT_VARS
TARGET_PORTS = {
    "prometheus": "prometheus", "generator": "generator_metrics", "postgres-exporter": "pg_exporter",
    "kafka": "kafka_metrics", "connect": "connect_metrics", "jobmanager": "jobmanager_metrics",
    "taskmanager": "taskmanager_metrics",
    "kafka-2": "kafka_2_metrics", "kafka-3": "kafka_3_metrics", "connect-2": "connect_2_metrics",
    "taskmanager-2": "taskmanager_2_metrics",
}
# Debian's packages (the versions .env pins for compose's images are bookworm's). Installing them on a
# host with systemd enables and starts distro services on :9090 and :9187; `up` never uses those and
# disables them right after installing them itself (see install_debian_packages).
PROMETHEUS = "/usr/bin/prometheus"
POSTGRES_EXPORTER = "/usr/bin/prometheus-postgres-exporter"
DISTRO_UNITS = ("prometheus.service", "prometheus-postgres-exporter.service")


def local_scrape_config(ports, rules_dir=CONFIG / "prometheus", source=SCRAPE_CONFIG):
    """The scrape configuration of observability/prometheus/prometheus.yml (or the cluster's) with local targets."""
    config = yaml.safe_load(source.read_text())
    config["rule_files"] = [str(rules_dir / Path(f).name) for f in config.get("rule_files", [])]
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            targets = []
            for target in static["targets"]:
                host = target.rsplit(":", 1)[0]
                if host not in TARGET_PORTS:
                    raise StackError(f"{source} scrapes {target}, a service the local stack does not know")
                targets.append(f"127.0.0.1:{ports[TARGET_PORTS[host]]}")
            static["targets"] = targets
    return config


def write_prometheus_config(data, ports, cluster=False):
    target = data / "prometheus" / "prometheus.yml"
    (data / "prometheus" / "data").mkdir(parents=True, exist_ok=True)
    source = CLUSTER_SCRAPE_CONFIG if cluster else SCRAPE_CONFIG
    header = (f"# Written by scripts/stack up from {source} (edit that file, not this one):\n"
              "# the same targets with this instance's ports on 127.0.0.1.\n")
    target.write_text(header + yaml.safe_dump(local_scrape_config(ports, source=source), sort_keys=False))
    return target


def prometheus_command(data, ports, pins):
    return [PROMETHEUS, f"--config.file={data / 'prometheus' / 'prometheus.yml'}",
            f"--storage.tsdb.path={data / 'prometheus' / 'data'}",
            f"--storage.tsdb.retention.time={pins['PROMETHEUS_RETENTION_TIME']}",
            f"--storage.tsdb.retention.size={pins['PROMETHEUS_RETENTION_SIZE']}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            # Debian's default console folders are not needed; keep the UI's own assets only
            "--web.page-title=theLook CDC stack"]


def postgres_exporter_command(ports):
    return [POSTGRES_EXPORTER, f"--web.listen-address=127.0.0.1:{ports['pg_exporter']}",
            f"--extend.query-path={CONFIG / 'postgres-exporter' / 'queries.yaml'}",
            # the pinned exporter's bgwriter collector reads pg_stat_bgwriter columns that PostgreSQL 17 moved to
            # pg_stat_checkpointer: it would fail at every scrape
            "--no-collector.bgwriter"]


def postgres_exporter_env(pg_env):
    """The connection without the password in it: lib/pq reads PGPASSWORD from the environment."""
    return {"DATA_SOURCE_NAME": (f"host=127.0.0.1 port={pg_env['PGPORT']} user={pg_env['PGUSER']} "
                                 f"dbname={pg_env['PGDATABASE']} sslmode=disable"),
            "PGPASSWORD": pg_env["PGPASSWORD"]}


def jmx_agent_flag(jars, pins, service, port):
    """-javaagent for the Kafka broker or the Connect worker: metrics on 127.0.0.1:port, rules from
    observability/jmx-exporter/<service>.yml; the agent jar is in the Maven-assembled jars (metrics module)."""
    agent = jars / "metrics" / "jmx-exporter" / f"jmx_prometheus_javaagent-{pins['JMX_EXPORTER_VERSION']}.jar"
    return f"-javaagent:{agent}=127.0.0.1:{port}:{CONFIG / 'jmx-exporter' / (service + '.yml')}"


def install_debian_packages():
    """Debian's prometheus and prometheus-postgres-exporter, installed with apt if missing. When `up`
    installs them itself on a host with systemd, it disables the distro services that the packages
    enable (they would take :9090 and :9187); packages installed before are left as they are, and a
    port taken by their service is reported by the free-port check with the way out."""
    missing = [pkg for pkg, binary in (("prometheus", PROMETHEUS), ("prometheus-postgres-exporter", POSTGRES_EXPORTER))
               if not Path(binary).exists()]
    if not missing:
        return
    artifacts.apt_install(*missing)
    for binary in (PROMETHEUS, POSTGRES_EXPORTER):
        if not Path(binary).exists():
            raise StackError(f"{binary} missing after apt-get install {' '.join(missing)}")
    if Path("/run/systemd/system").exists() and shutil.which("systemctl"):
        say("disabling the distro services the packages started (" + ", ".join(DISTRO_UNITS) + "): the stack "
            "runs its own Prometheus and exporter")
        subprocess.run(["systemctl", "disable", "--now", *DISTRO_UNITS], capture_output=True)


def check_versions(pins):
    """Says so (does not fail) when Debian's binaries are not the versions compose's images are pinned to."""
    for binary, pin in ((PROMETHEUS, "PROMETHEUS_VERSION"), (POSTGRES_EXPORTER, "POSTGRES_EXPORTER_VERSION")):
        out = subprocess.run([binary, "--version"], capture_output=True, text=True)
        found = re.search(r"version (\d+(?:\.\d+)+)", out.stdout + out.stderr)
        want = pins[pin].lstrip("v")
        if not found or found.group(1) != want:
            say(f"note: {binary} is version {found.group(1) if found else 'unknown'}, compose runs {want} "
                f"({pin} in .env)")


def distro_service_hint(port_name):
    """For a port that is taken: the distro service that may hold it."""
    unit = {"prometheus": "prometheus", "pg_exporter": "prometheus-postgres-exporter"}.get(port_name)
    if unit and os.path.exists(f"/lib/systemd/system/{unit}.service"):
        return f"; if it is Debian's {unit} service: `sudo systemctl disable --now {unit}`"
    return ""
