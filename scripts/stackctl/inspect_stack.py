"""`status`, `logs` and `env`: read-only views of a stack instance."""
import os
import shlex

from thelook_datagen.console import EXIT_OK, EXIT_WRONG

from . import probes, supervise
from .instance import layout_from_state
from .settings import CLUSTER_SERVICES, DB, SERVICE_PORTS, State, StackError, bootstrap_servers, data_dir

RUNBOOK = "README.md#recovering-from-an-invalidated-slot"


def slot_lines(ports):
    """One line per replication slot PostgreSQL has invalidated (wal_status lost) or will at its next checkpoint
    (unreserved): no connector can stream from a lost slot again. One query, 2 s at most; nothing when
    PostgreSQL does not answer (its own row says so)."""
    import psycopg2
    try:
        conn = psycopg2.connect(host="127.0.0.1", port=ports["pg"], user=DB["user"], password=DB["password"],
                                dbname=DB["database"], connect_timeout=2, application_name="stack-status")
    except psycopg2.Error:
        return []
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT slot_name, database, wal_status, to_jsonb(s) ->> 'invalidation_reason' "
                        "FROM pg_replication_slots s WHERE wal_status IN ('lost', 'unreserved') ORDER BY slot_name")
            rows = cur.fetchall()
    except psycopg2.Error:
        return []
    finally:
        conn.close()
    return [f"slot {name} (database {db}): INVALIDATED (wal_status lost{', ' + reason if reason else ''}): its "
            f"connector can never stream from it again; recover: {RUNBOOK}" if status == "lost" else
            f"slot {name} (database {db}): wal_status unreserved: beyond max_slot_wal_keep_size, invalidated at "
            f"the next checkpoint unless its connector catches up" for name, db, status, reason in rows]


def status(args):
    """Exit status 0 when every service is healthy, 1 otherwise (also when there is no stack)."""
    data = data_dir()
    state = State.load(data)
    if not state or not state.paths:
        if not args.quiet:
            print(f"no stack in {data} (run scripts/stack up)")
        return EXIT_WRONG
    server = supervise.proxy(data)
    info = {p["name"]: p for p in server.getAllProcessInfo()} if server else {}
    lay = layout_from_state(state)
    healthy = True
    rows = []
    for name in state.services:
        proc = info.get(name, {})
        st = proc.get("statename", "STOPPED")
        health = "-"
        if st == "RUNNING":
            health = probes.check(name, state.ports, lay.pg_bin) or "healthy"
        healthy &= health == "healthy"
        port = ",".join(str(state.ports[p]) for p in SERVICE_PORTS[name]) or "-"
        rows.append((name, st.lower(), str(proc.get("pid") or "-"), port, health))
    if not args.quiet:
        note = ""
        if not server:
            left = supervise.orphans(data)
            note = (f" (supervisord not running; {len(left)} processes of it left: scripts/stack down)" if left
                    else " (supervisord not running)")
        print(f"stack in {data}{note}")
        print(f"{'SERVICE':17} {'STATE':9} {'PID':>8} {'PORT':17} HEALTH")
        for row in rows:
            print(f"{row[0]:17} {row[1]:9} {row[2]:>8} {row[3]:17} {row[4]}")
        if "postgres" in state.services and dict((r[0], r[4]) for r in rows).get("postgres") == "healthy":
            for line in slot_lines(state.ports):
                print(line)
    return EXIT_OK if healthy else EXIT_WRONG


def logs(args):
    state = State.load(data_dir())
    if args.service not in CLUSTER_SERVICES + ("supervisord",):
        raise StackError(f"unknown service {args.service!r} (one of: {', '.join(CLUSTER_SERVICES)})")
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




def consume(args):
    """Kafka's console consumer against this stack's broker: the Maven artifacts ship no bin/ scripts."""
    state = State.load(data_dir())
    if not state or not state.paths:
        raise StackError(f"no stack in {data_dir()}: run scripts/stack up")
    lay = layout_from_state(state)
    cmd = [str(lay.java / "bin" / "java"), "-Xmx256m", "-cp", str(lay.jars / "kafka" / "*"),
           "org.apache.kafka.tools.consumer.ConsoleConsumer",
           "--bootstrap-server", bootstrap_servers(state.ports, state.services), "--topic", args.topic,
           "--formatter-property", "print.key=true", *args.consumer_args]
    os.execv(cmd[0], cmd)
