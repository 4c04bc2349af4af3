"""`up` and `restart`: start services in dependency order and wait until each answers."""
import os
import time
import xmlrpc.client

from . import cds, observability, probes, services, supervise
from .instance import base_path, instance_lock, layout, layout_from_state, pg_env
from .settings import (CLUSTER_SERVICES, PORT_VARS, SERVICE_PORTS, SERVICES, State, StackError,
                       cache_dir, data_dir, kind, pg_version, ports_from_env, read_pins)
from .ui import say


def _explicit_port_mismatch(state):
    wanted = ports_from_env()
    return [f"{var}={wanted[name]} (running: {state.ports[name]})"
            for name, (var, _) in PORT_VARS.items()
            if os.environ.get(var) and wanted[name] != state.ports.get(name)]


def up(args):
    t0 = time.monotonic()
    data = data_dir()
    cluster = bool(getattr(args, "cluster", False))
    if cluster and args.only:
        raise StackError("--cluster and --only exclude each other (--only postgres runs a lone PostgreSQL)")
    only = tuple(dict.fromkeys(args.only or ())) or (CLUSTER_SERVICES if cluster else SERVICES)
    with instance_lock(data):
        pins = read_pins()
        version = pg_version(pins)
        # before anything is fetched or started: data of another major would only make the server exit
        services.check_data_major(data, version)
        state = State.load(data)
        server = supervise.proxy(data)
        if server and state:
            mismatch = _explicit_port_mismatch(state)
            if mismatch:
                raise StackError(f"the stack in {data} is running with other ports: {', '.join(mismatch)}; "
                                 "run `scripts/stack down` first")
            if (args.only or cluster or state.cluster) and only != state.services:
                mode = "a cluster" if state.cluster else ", ".join(state.services)
                raise StackError(f"the stack in {data} is running {mode}; run `scripts/stack down` first")
            ports = state.ports
            only = state.services
        else:
            ports = ports_from_env()
            if only != ("postgres",):
                services.check_kafka_mode(data, cluster)
        # a running server keeps the binaries it started from (another release's are removed only when stopped)
        lay = layout(data, pins, version, only_postgres=only == ("postgres",), prune=not server)
        defs = services.definitions(lay, ports, pg_env(ports), pins, only)
        state = State(data, ports, {"java": str(lay.java), "pg_bin": str(lay.pg_bin), "pg_version": version,
                                    "jars": str(lay.jars), "flink": str(lay.flink), "cache": str(cache_dir())},
                      only, cluster)
        if not server:
            if supervise.orphans(data):
                raise StackError(f"services of an earlier `up` in {data} still run without their supervisord: "
                                 "run `scripts/stack down` first")
            _check_ports_free(ports, only)
            for d in ("logs", "run"):
                (data / d).mkdir(parents=True, exist_ok=True)
            services.init_postgres(lay)
            if only != ("postgres",):
                brokers = tuple(n for n in only if kind(n) == "kafka")
                services.init_kafka(lay, ports, brokers)
                services.init_connect(lay, ports, tuple(n for n in only if kind(n) == "connect"), brokers)
                services.init_flink(lay, ports, cluster)
                observability.write_prometheus_config(data, ports, cluster)
            supervise.write_conf(data, defs, base_path(lay))
            state.save()
            say(f"starting supervisord for {data}")
            server = supervise.start_supervisord(data, base_path(lay))
        state.save()
        _start_and_wait(server, defs, lay, ports, t0)
        state.save()
        say(f"all {len(defs)} {'nodes' if cluster else 'services'} healthy after {time.monotonic() - t0:.0f}s "
            f"(data {data}, PostgreSQL {version}); point tools at it with: eval \"$(scripts/stack env)\"")
    return 0


def _check_ports_free(ports, only=SERVICES):
    for svc in only:
        for name in SERVICE_PORTS[svc]:
            if not probes.port_free(ports[name]):
                var = PORT_VARS[name][0]
                raise StackError(f"{svc} cannot start: port {ports[name]} on 127.0.0.1 is already in use "
                                 f"by another process (choose another with {var}"
                                 f"{observability.distro_service_hint(name)})")


def _start_and_wait(server, defs, lay, ports, t0):
    started, ready, tries = {}, set(), {}
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
                tries[svc.name] = tries.get(svc.name, 1) + 1
                if tries[svc.name] > svc.attempts:
                    _fail(lay, svc.name, f"the process ended ({proc['statename']}: {proc['description']})")
                say(f"{svc.name} ended while starting ({proc['description']}): starting it again (attempt "
                    f"{tries[svc.name]} of {svc.attempts})")
                try:
                    server.startProcess(svc.name, False)
                except xmlrpc.client.Fault as fault:
                    _fail(lay, svc.name, f"supervisord could not start it ({fault.faultString})")
                started[svc.name] = time.monotonic()
                continue
            reason = probes.check(svc.name, ports, lay.pg_bin) if proc["statename"] == "RUNNING" else "starting"
            if reason is None:
                if svc.name == "postgres":
                    services.bootstrap_database(lay, ports["pg"])
                ready.add(svc.name)
                say(f"{svc.name} ready (pid {proc['pid']}) after {now - t0:.0f}s")
            elif now - started[svc.name] > svc.timeout and _silent(lay, svc.name, 60):
                _fail(lay, svc.name, f"not ready after {now - started[svc.name]:.0f}s and its log has been "
                                     f"silent for a minute: {reason}")
            elif now - started[svc.name] > HARD_TIMEOUT:
                _fail(lay, svc.name, f"not ready after {HARD_TIMEOUT}s: {reason}")
        if time.monotonic() - last_report >= 5 and len(ready) < len(defs):
            waiting = [f"{s.name} {time.monotonic() - started[s.name]:.0f}s" for s in defs
                       if s.name in started and s.name not in ready]
            say(f"waiting ({time.monotonic() - t0:.0f}s): " + ", ".join(waiting))
            last_report = time.monotonic()
        if len(ready) < len(defs):
            time.sleep(0.5)


# a service past its timeout whose log still grows is slow (a busy machine), not stuck: wait up to this
HARD_TIMEOUT = 900


def _silent(lay, name, seconds):
    try:
        return time.time() - (lay.logs / f"{name}.log").stat().st_mtime > seconds
    except OSError:
        return True


def _fail(lay, name, reason):
    raise StackError(f"{name} failed: {reason}", log=lay.logs / f"{name}.log")


def restart(args):
    """Restarts one service; in a cluster one node (`restart kafka-2`; `restart kafka` is the node named kafka)."""
    data = data_dir()
    with instance_lock(data):
        state = State.load(data)
        server = supervise.proxy(data)
        if not state or not server:
            raise StackError(f"no running stack in {data}")
        known = CLUSTER_SERVICES if state.cluster else SERVICES
        if args.service not in known:
            hint = " (a node of `up --cluster`; this stack is a single node)" if args.service in CLUSTER_SERVICES else ""
            raise StackError(f"unknown service {args.service!r}{hint} (one of: {', '.join(known)})")
        if args.service not in state.services:
            raise StackError(f"the stack in {data} runs only {', '.join(state.services)}")
        lay = layout_from_state(state)
        t0 = time.monotonic()
        info = {p["name"]: p for p in server.getAllProcessInfo()}
        if info[args.service]["statename"] in ("RUNNING", "STARTING"):
            say(f"stopping {args.service} (pid {info[args.service]['pid']})")
            server.stopProcess(args.service, True)
            if server.getProcessInfo(args.service)["exitstatus"] not in (0, 143):
                cds.discard(data, kind(args.service))
        defs = [s for s in services.definitions(lay, state.ports, pg_env(state.ports), read_pins(), state.services)
                if s.name == args.service]
        defs[0].after = ()
        _start_and_wait(server, defs, lay, state.ports, t0)
    return 0
