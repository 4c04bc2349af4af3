"""One stack instance: its lock and the layout of paths its services run from."""
import fcntl
from contextlib import contextmanager
from pathlib import Path

from . import artifacts, observability, services
from .settings import State
from .ui import say


@contextmanager
def instance_lock(data):
    data.mkdir(parents=True, exist_ok=True)
    with open(data / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"waiting for another scripts/stack command on {data}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def layout(data, pins, pg_version, only_postgres=False, prune=True):
    java = artifacts.java_home(pins["JAVA_MAJOR"])
    pg_bin = services.postgres_runtime(data, artifacts.postgres_dist(pg_version, java), prune)
    for client in ("psql", "pg_isready"):
        artifacts.pg_client(client)
    if only_postgres:
        return services.Layout(data=data, java=java, pg_bin=pg_bin, jars=Path(), flink=Path())
    observability.install_debian_packages()
    observability.check_versions(pins)
    jars = artifacts.maven_jars(pins, java)
    flink = artifacts.flink_dist(pins, jars)
    return services.Layout(data=data, java=java, pg_bin=pg_bin, jars=jars, flink=flink)


def layout_from_state(state):
    p = state.paths
    return services.Layout(data=state.dir, java=Path(p["java"]), pg_bin=Path(p["pg_bin"]),
                           jars=Path(p["jars"]), flink=Path(p["flink"]))


def base_path(lay):
    return f"{lay.java}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def pg_env(ports):
    return State(Path("."), ports).env_exports()


