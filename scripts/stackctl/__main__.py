"""scripts/stack COMMAND: the local CDC stack as supervised processes (see `scripts/stack --help`).

Output follows the project's convention (thelook_datagen/console.py): progress as `[stack] ...` lines
on stderr, an error as ONE line `stack: error: ...` (then, for a service that failed, `[stack] log:`
with the end of its log), exit status 0 success, 1 the outcome is wrong (`status`: not healthy, or no
stack), 2 could not run (bad input, a service that would not start).
"""
import argparse
import sys

from thelook_datagen.console import EXIT_CANNOT_RUN, ToolParser, print_error

from . import inspect_stack, lifecycle, teardown
from .settings import TOOL, StackError

EXIT_INTERRUPTED = 130


class Parser(ToolParser):
    """scripts/stack's usage, the tool's error line: `stack: error: ... (see scripts/stack --help)`."""
    tool = TOOL


def main(argv=None):
    parser = Parser(prog="scripts/stack", description=(
        "Runs PostgreSQL, Kafka (KRaft), Kafka Connect with Debezium, a Flink session cluster with its "
        "SQL gateway, and Prometheus with a PostgreSQL exporter as local processes. Data in THELOOK_STACK_DIR (default .stack/), artifacts cached in "
        "THELOOK_CACHE_DIR (default ~/.cache/thelook-cdc); versions from the repo's .env."),
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=(
        "environment:\n"
        "  THELOOK_STACK_DIR   data, logs and state of this instance (default <repo>/.stack)\n"
        "  THELOOK_PG_PORT 5432, THELOOK_KAFKA_PORT 9092, THELOOK_KAFKA_CONTROLLER_PORT 9093,\n"
        "  THELOOK_CONNECT_PORT 8083, THELOOK_FLINK_PORT 8081, THELOOK_FLINK_RPC_PORT 6123,\n"
        "  THELOOK_SQL_GATEWAY_PORT 8084, THELOOK_PROMETHEUS_PORT 9090, THELOOK_PG_EXPORTER_PORT 9187,\n"
        "  THELOOK_KAFKA_METRICS_PORT 9404, THELOOK_CONNECT_METRICS_PORT 9405,\n"
        "  THELOOK_JOBMANAGER_METRICS_PORT 9249, THELOOK_TASKMANAGER_METRICS_PORT 9250\n"
        "  cluster nodes (up --cluster): THELOOK_KAFKA_2_PORT 9094, THELOOK_KAFKA_2_CONTROLLER_PORT 9095,\n"
        "  THELOOK_KAFKA_2_METRICS_PORT 9406, THELOOK_KAFKA_3_PORT 9096, THELOOK_KAFKA_3_CONTROLLER_PORT 9097,\n"
        "  THELOOK_KAFKA_3_METRICS_PORT 9407, THELOOK_CONNECT_2_PORT 8085, THELOOK_CONNECT_2_METRICS_PORT 9408,\n"
        "  THELOOK_TASKMANAGER_2_METRICS_PORT 9251\n"
        "                      ports on 127.0.0.1 (read by `up`; later commands use the saved ones)\n"
        "  THELOOK_METRICS_PORT where Prometheus scrapes thelook-datagen --metrics-port (default 9464)\n"
        "  THELOOK_PG_VERSION  the PostgreSQL release MAJOR.MINOR this instance runs (default: .env's\n"
        "                      POSTGRES_VERSION; binaries from Maven Central, read by `up`)\n"
        "  THELOOK_PG_MAX_SLOT_WAL_KEEP_SIZE  PostgreSQL's max_slot_wal_keep_size (default 2GB; e.g. 32MB for a\n"
        "                      throw-away instance whose slots are to be invalidated; read by `up` and `restart`)\n"
        "  THELOOK_CACHE_DIR   assembled jars, PostgreSQL, Flink and JVM class archives (default ~/.cache/thelook-cdc)\n"
        "  THELOOK_MAVEN_REPO  Maven's local repository (default ~/.m2/repository)\n"
        "  THELOOK_JAVA_HOME   a Java of JAVA_MAJOR from .env (default: found under /usr/lib/jvm)"))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    p = sub.add_parser("up", help="start every service (idempotent) and wait until all are healthy")
    p.add_argument("--cluster", action="store_true",
                   help="cluster mode: three Kafka nodes (kafka, kafka-2, kafka-3; KRaft, replication 3, "
                        "min.insync.replicas 2), two Connect workers (connect, connect-2) and two TaskManagers "
                        "(taskmanager, taskmanager-2); use its own THELOOK_STACK_DIR (README \"Cluster mode\")")
    p.add_argument("--only", action="append", choices=["postgres"],
                   help="start only this service: `--only postgres` runs a lone PostgreSQL (e.g. of another "
                        "major, with THELOOK_PG_VERSION, next to a full stack)")
    p = sub.add_parser("down", help="stop what `up` started; data is kept unless --wipe")
    p.add_argument("--wipe", action="store_true", help="also delete the data dir")
    p = sub.add_parser("status", help="each service's state, pid, port and health; exit 0 iff all healthy, "
                                      "1 otherwise (or no stack)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing, only set the exit code")
    p = sub.add_parser("logs", help="show a service's log")
    p.add_argument("service")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--lines", type=int, default=100)
    sub.add_parser("env", help="print shell exports for the stack: eval \"$(scripts/stack env)\"")
    p = sub.add_parser("restart", help="restart one service (a cluster: one node, e.g. kafka-2) and wait until it "
                                       "is healthy again")
    p.add_argument("service")
    p = sub.add_parser("consume", help="print a topic's records with Kafka's console consumer "
                                       "(key and value; e.g. consume ecomm.demo.orders --from-beginning)")
    p.add_argument("topic")
    p.add_argument("consumer_args", nargs=argparse.REMAINDER,
                   help="more ConsoleConsumer options, e.g. --from-beginning --max-messages 10")
    args = parser.parse_args(argv)
    try:
        command = {"up": lifecycle.up, "restart": lifecycle.restart, "down": teardown.down,
                   "status": inspect_stack.status, "logs": inspect_stack.logs, "env": inspect_stack.env,
                   "consume": inspect_stack.consume}
        return command[args.command](args)
    except StackError as exc:
        print_error(TOOL, exc)
        if exc.log:
            sys.stderr.write(f"[{TOOL}] log: {exc.log}\n")
            _tail(exc.log)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        print_error(TOOL, "interrupted")
        return EXIT_INTERRUPTED


def _tail(path, lines=15):
    try:
        text = open(path, errors="replace").read().splitlines()[-lines:]
    except OSError:
        return
    for line in text:
        sys.stderr.write(f"    | {line}\n")


if __name__ == "__main__":
    sys.exit(main())
