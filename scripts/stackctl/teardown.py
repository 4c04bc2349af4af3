"""`down [--wipe]`: stop exactly the processes `up` started, then optionally delete the data dir."""
import os
import shutil
import signal
import time
import xmlrpc.client
from pathlib import Path

from thelook_datagen.ops.procs import parent

from . import cds, probes, services, supervise
from .instance import instance_lock
from .settings import SERVICE_PORTS, State, StackError, data_dir
from .ui import say

# Connect and Flink stop together (their JVMs may be writing class archives, see cds.py), then the broker
# they talk to, then the database
STOP_PHASES = (("sql-gateway", "connect", "taskmanager", "jobmanager"), ("kafka",), ("postgres",))


def down(args):
    data = data_dir()
    if not data.exists():
        say(f"no stack in {data}")
        return 0
    with instance_lock(data):
        state = State.load(data)
        server = supervise.proxy(data)
        sup = supervise.supervisord_pid(data)
        ours = supervise.pid_alive(sup) and str(data) in supervise.cmdline(sup) + _conf_of(sup)
        procs = supervise.tree(sup) if ours else supervise.orphans(data)
        if server:
            for phase in STOP_PHASES:
                _stop_phase(server, data, phase)
            server.shutdown()
        elif ours:
            os.kill(sup, signal.SIGTERM)
        elif procs:
            # supervisord is gone but its services live on: stop them directly
            say("supervisord is not running; stopping the services it left behind")
            _stop_roots(procs)
        if procs:
            _wait_gone(procs, 60)
        cds.publish(data)
        for f in ("supervisor.sock", "supervisord.pid"):
            (data / "run" / f).unlink(missing_ok=True)
        if not state and not server:
            say(f"no stack in {data}")
        elif state:
            mine = [n for svc in state.services for n in SERVICE_PORTS[svc]]
            busy = [str(state.ports[n]) for n in mine if probes.port_in_use(state.ports[n])]
            if busy:
                say(f"warning: ports still in use after down: {', '.join(busy)}")
            say(f"stopped; data kept in {data}" if not args.wipe else "stopped")
        if args.wipe:
            _wipe(data, state)
    return 0


def _stop_phase(server, data, names):
    info = {p["name"]: p for p in server.getAllProcessInfo()}
    stopping = [n for n in names if n in info and info[n]["statename"] in ("RUNNING", "STARTING", "BACKOFF")]
    for name in stopping:
        say(f"stopping {name} (pid {info[name]['pid']})")
        try:
            server.stopProcess(name, False)
        except xmlrpc.client.Fault as fault:
            say(f"  {name}: {fault.faultString}")
    while stopping:
        time.sleep(0.3)
        info = {p["name"]: p for p in server.getAllProcessInfo()}
        for name in [n for n in stopping if info[n]["statename"] not in ("STOPPING", "RUNNING", "STARTING")]:
            stopping.remove(name)
            if info[name]["exitstatus"] not in (0, 143):
                cds.discard(data, name)  # killed: an archive it was writing may be cut short


def _stop_roots(procs):
    """Signals the services' processes as supervisord would; PostgreSQL's backends follow their postmaster."""
    for pid in supervise.still_running(procs):
        if supervise.cmdline(parent(pid)).split(" ", 1)[0].endswith("/postgres"):
            continue
        postgres = supervise.cmdline(pid).split(" ", 1)[0].endswith("/postgres")
        say(f"  stopping pid {pid}")
        try:
            os.kill(pid, signal.SIGINT if postgres else signal.SIGTERM)
        except ProcessLookupError:
            pass  # it ended between the listing and the signal: nothing left to stop


def _conf_of(pid):
    return str(supervise.conf_path(data_dir())) if "supervisord" in supervise.cmdline(pid) else ""


def _wait_gone(procs, seconds):
    """Waits until every process of the tree has ended; whatever outlives `seconds` is killed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not supervise.still_running(procs):
            return
        time.sleep(0.2)
    left = supervise.still_running(procs)
    say(f"killing processes that did not stop within {seconds}s: {left}")
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    if supervise.still_running(procs):
        raise StackError(f"processes {supervise.still_running(procs)} survived SIGKILL")


def _wipe(data, state):
    ours = ((data / "stack.json").exists() or (data / "run" / "supervisord.conf").exists()
            or {p.name for p in data.iterdir()} <= {".lock"})
    if not ours:
        raise StackError(f"{data} does not look like a stack data dir; not wiping it")
    if state and state.paths:
        sock = services.Layout(data, Path(), Path(), Path(), Path()).pg_socket_dir
        if str(sock).startswith("/tmp/"):
            shutil.rmtree(sock, ignore_errors=True)
    shutil.rmtree(data)
    say(f"wiped {data}")


