"""The subcommands: up, down, status, logs, env, restart."""
import fcntl
import os
import shlex
import shutil
import signal
import time
import xmlrpc.client
from contextlib import contextmanager
from pathlib import Path

from . import artifacts, cds, probes, services, supervise
from .settings import (PORT_VARS, SERVICE_PORTS, SERVICES, State, StackError, cache_dir, data_dir,
                       ports_from_env, read_pins)
from .ui import say

STOP_ORDER = ("sql-gateway", "connect", "taskmanager", "jobmanager", "kafka", "postgres")


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


def _layout(data, pins):
    java = artifacts.java_home(pins["JAVA_MAJOR"])
    pg_bin = artifacts.postgres_bin(pins["POSTGRES_DEBIAN_MAJOR"])
    jars = artifacts.maven_jars(pins, java)
    flink = artifacts.flink_dist(pins, jars)
    return services.Layout(data=data, java=java, pg_bin=pg_bin, jars=jars, flink=flink)


def _layout_from_state(state):
    p = state.paths
    return services.Layout(data=state.dir, java=Path(p["java"]), pg_bin=Path(p["pg_bin"]),
                           jars=Path(p["jars"]), flink=Path(p["flink"]))


def _base_path(lay):
    return f"{lay.java}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _pg_env(ports):
    return State(Path("."), ports).env_exports()


def _explicit_port_mismatch(state):
    wanted = ports_from_env()
    return [f"{var}={wanted[name]} (running: {state.ports[name]})"
            for name, (var, _) in PORT_VARS.items()
            if os.environ.get(var) and wanted[name] != state.ports.get(name)]


def up(args):
    t0 = time.monotonic()
    data = data_dir()
    with instance_lock(data):
        pins = read_pins()
        state = State.load(data)
        server = supervise.proxy(data)
        if server and state:
            mismatch = _explicit_port_mismatch(state)
            if mismatch:
                raise StackError(f"the stack in {data} is running with other ports: {', '.join(mismatch)}; "
                                 "run `scripts/stack down` first")
            ports = state.ports
        else:
            ports = ports_from_env()
        lay = _layout(data, pins)
        defs = services.definitions(lay, ports, _pg_env(ports))
        state = State(data, ports, {"java": str(lay.java), "pg_bin": str(lay.pg_bin), "jars": str(lay.jars),
                                    "flink": str(lay.flink), "cache": str(cache_dir())})
        if not server:
            _check_ports_free(ports)
            for d in ("logs", "run"):
                (data / d).mkdir(parents=True, exist_ok=True)
            services.init_postgres(lay)
            services.init_kafka(lay, ports)
            services.init_connect(lay, ports)
            services.init_flink(lay, ports)
            supervise.write_conf(data, defs, _base_path(lay))
            state.save()
            say(f"starting supervisord for {data}")
            server = supervise.start_supervisord(data, _base_path(lay))
        state.save()
        _start_and_wait(server, defs, lay, ports, t0)
        state.save()
        say(f"all {len(defs)} services healthy after {time.monotonic() - t0:.0f}s "
            f"(data {data}); point tools at it with: eval \"$(scripts/stack env)\"")
    return 0


def _check_ports_free(ports):
    for svc in SERVICES:
        for name in SERVICE_PORTS[svc]:
            if not probes.port_free(ports[name]):
                var = PORT_VARS[name][0]
                raise StackError(f"{svc} cannot start: port {ports[name]} on 127.0.0.1 is already in use "
                                 f"by another process (choose another with {var})")


def _start_and_wait(server, defs, lay, ports, t0):
    started, ready = {}, set()
    last_report = time.monotonic()
    while len(ready) < len(defs):
        info = {p["name"]: p for p in server.getAllProcessInfo()}
        now = time.monotonic()
        for svc in defs:
            if svc.name in started or not all(dep in ready for dep in svc.after):
                continue
            if info[svc.name]["statename"] not in ("RUNNING", "STARTING"):
                say(f"starting {svc.name}")
                try:
                    server.startProcess(svc.name, False)
                except xmlrpc.client.Fault as fault:
                    _fail(lay, svc.name, f"supervisord could not start it ({fault.faultString})")
            started[svc.name] = now
        info = {p["name"]: p for p in server.getAllProcessInfo()}
        for svc in defs:
            if svc.name not in started or svc.name in ready:
                continue
            proc = info[svc.name]
            if proc["statename"] in supervise.FAILED_STATES:
                _fail(lay, svc.name, f"the process ended ({proc['statename']}: {proc['description']})")
            reason = probes.check(svc.name, ports, lay.pg_bin) if proc["statename"] == "RUNNING" else "starting"
            if reason is None:
                if svc.name == "postgres":
                    services.bootstrap_database(lay, ports["pg"])
                ready.add(svc.name)
                say(f"{svc.name} ready (pid {proc['pid']}) after {now - t0:.0f}s")
            elif now - started[svc.name] > svc.timeout:
                _fail(lay, svc.name, f"not ready after {svc.timeout}s: {reason}")
        if time.monotonic() - last_report >= 5 and len(ready) < len(defs):
            waiting = [f"{s.name} {time.monotonic() - started[s.name]:.0f}s" for s in defs
                       if s.name in started and s.name not in ready]
            say(f"waiting ({time.monotonic() - t0:.0f}s): " + ", ".join(waiting))
            last_report = time.monotonic()
        if len(ready) < len(defs):
            time.sleep(0.5)


def _fail(lay, name, reason):
    raise StackError(f"{name} failed: {reason}", log=lay.logs / f"{name}.log")


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
        procs = supervise.tree(sup) if ours else {}
        if server:
            info = {p["name"]: p for p in server.getAllProcessInfo()}
            for name in STOP_ORDER:
                if name in info and info[name]["statename"] in ("RUNNING", "STARTING", "BACKOFF"):
                    say(f"stopping {name} (pid {info[name]['pid']})")
                    try:
                        server.stopProcess(name, True)
                    except xmlrpc.client.Fault as fault:
                        say(f"  {name}: {fault.faultString}")
                    if server.getProcessInfo(name)["exitstatus"] not in (0, 143):
                        cds.discard(data, name)  # killed: an archive it was writing may be cut short
            server.shutdown()
        elif ours:
            os.kill(sup, signal.SIGTERM)
        if procs:
            _wait_gone(procs, 60)
        cds.publish(data)
        for f in ("supervisor.sock", "supervisord.pid"):
            (data / "run" / f).unlink(missing_ok=True)
        if not state and not server:
            say(f"no stack in {data}")
        elif state:
            busy = [str(state.ports[n]) for n in state.ports if probes.port_in_use(state.ports[n])]
            if busy:
                say(f"warning: ports still in use after down: {', '.join(busy)}")
            say(f"stopped; data kept in {data}" if not args.wipe else "stopped")
        if args.wipe:
            _wipe(data, state)
    return 0


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


def status(args):
    data = data_dir()
    state = State.load(data)
    if not state or not state.paths:
        if not args.quiet:
            print(f"no stack in {data} (run scripts/stack up)")
        return 3
    server = supervise.proxy(data)
    info = {p["name"]: p for p in server.getAllProcessInfo()} if server else {}
    lay = _layout_from_state(state)
    healthy = True
    rows = []
    for name in SERVICES:
        proc = info.get(name, {})
        st = proc.get("statename", "STOPPED")
        health = "-"
        if st == "RUNNING":
            health = probes.check(name, state.ports, lay.pg_bin) or "healthy"
        healthy &= health == "healthy"
        port = ",".join(str(state.ports[p]) for p in SERVICE_PORTS[name]) or "-"
        rows.append((name, st.lower(), str(proc.get("pid") or "-"), port, health))
    if not args.quiet:
        print(f"stack in {data}" + ("" if server else " (supervisord not running)"))
        print(f"{'SERVICE':12} {'STATE':9} {'PID':>8} {'PORT':11} HEALTH")
        for row in rows:
            print(f"{row[0]:12} {row[1]:9} {row[2]:>8} {row[3]:11} {row[4]}")
    return 0 if healthy else 1


def logs(args):
    state = State.load(data_dir())
    if args.service not in SERVICES + ("supervisord",):
        raise StackError(f"unknown service {args.service!r} (one of: {', '.join(SERVICES)})")
    log = data_dir() / "logs" / f"{args.service}.log"
    if not state or not log.exists():
        raise StackError(f"no log for {args.service} in {data_dir() / 'logs'}")
    cmd = ["tail", "-n", str(args.lines)] + (["-F"] if args.follow else []) + [str(log)]
    os.execvp("tail", cmd)


def env(args):
    state = State.load(data_dir())
    if not state or not state.ports:
        raise StackError(f"no stack in {data_dir()}: run scripts/stack up")
    for key, value in state.env_exports().items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def restart(args):
    data = data_dir()
    with instance_lock(data):
        state = State.load(data)
        server = supervise.proxy(data)
        if not state or not server:
            raise StackError(f"no running stack in {data}")
        if args.service not in SERVICES:
            raise StackError(f"unknown service {args.service!r} (one of: {', '.join(SERVICES)})")
        lay = _layout_from_state(state)
        t0 = time.monotonic()
        info = {p["name"]: p for p in server.getAllProcessInfo()}
        if info[args.service]["statename"] in ("RUNNING", "STARTING"):
            say(f"stopping {args.service} (pid {info[args.service]['pid']})")
            server.stopProcess(args.service, True)
        defs = [s for s in services.definitions(lay, state.ports, _pg_env(state.ports)) if s.name == args.service]
        defs[0].after = ()
        _start_and_wait(server, defs, lay, state.ports, t0)
    return 0
