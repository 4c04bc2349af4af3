"""thelook-dashboard's options, declared once with their environment variables.

The option model (Option, Command, value types) and the options shared with the other commands
(Kafka, topic prefix, schema, Connect and Flink URLs) are the generator's (thelook_datagen.options),
so the same setting has the same flag, variable and default in every tool of the project.
"""
from thelook_datagen.options import (BOOTSTRAP_SERVERS, CONNECT_URL, CONNECTOR, KAFKA_CONFIG, SCHEMA, SOME_VARIABLES,
                                     TOPIC_PREFIX, Command, Option, nonempty, number, parse_into, reuse,
                                     settings_class)

DEFAULT_PORT = 8088

SERVER = (
    Option("address", ("--address",), "address to serve the page on (0.0.0.0 only inside a container: "
           "actions from other addresses then need the per-start token)", "THELOOK_DASHBOARD_ADDRESS", nonempty,
           "127.0.0.1"),
    Option("port", ("--port",), "port to serve the page on", "THELOOK_DASHBOARD_PORT", number(int, 1, 65535),
           DEFAULT_PORT),
    Option("refresh", ("--refresh",), "seconds between two polls of Prometheus, Connect, Flink and the "
           "generator (the page gets a snapshot every second whatever this is)", "THELOOK_DASHBOARD_REFRESH",
           number(float, 0.2, 60), 2.0),
    Option("controls", ("--controls",), "show and accept the workshop controls (generator rate, pause/resume "
           "capture, restart the task, cancel/resubmit the Flink jobs, local restarts)",
           "THELOOK_DASHBOARD_CONTROLS", kind="flag", default=False),
    Option("token_file", ("--token-file",), "write this start's access token to FILE (mode 600), for the "
           "generator's --control-token-file: compose shares it through a volume", "THELOOK_DASHBOARD_TOKEN_FILE",
           nonempty, metavar="FILE"),
)
SOURCES = (
    reuse(BOOTSTRAP_SERVERS, help="Kafka bootstrap servers (the result topics, and verify's change topics)"),
    KAFKA_CONFIG,
    reuse(TOPIC_PREFIX, help="Debezium's topic.prefix; result topics are PREFIX.analytics.JOB"),
    reuse(SCHEMA, help="schema of the shop's tables (verify, PostgreSQL's metrics)"),
    Option("prometheus_url", ("--prometheus-url",), "Prometheus HTTP API", "PROMETHEUS_URL", nonempty,
           "http://127.0.0.1:9090"),
    CONNECT_URL,
    reuse(CONNECTOR, help="the Debezium connector whose state, task and replication slot the page shows"),
    Option("flink_url", ("--flink-url",), "Flink JobManager REST URL", "FLINK_URL", nonempty,
           "http://127.0.0.1:8081"),
    Option("sql_gateway_url", ("--sql-gateway-url",), "Flink SQL gateway REST URL (resubmitting the jobs)",
           "FLINK_SQL_GATEWAY_URL", nonempty, "http://127.0.0.1:8084"),
    Option("flink_bootstrap_servers", ("--flink-bootstrap-servers",), "Kafka bootstrap servers as the Flink "
           "TaskManager sees them, for resubmitted jobs (default: --bootstrap-servers)",
           "THELOOK_FLINK_BOOTSTRAP_SERVERS", nonempty),
    Option("flink_sql_dir", ("--flink-sql-dir",), "folder with common.sql and jobs/*.sql, for resubmitting "
           "(default: the repository's flink/)", "THELOOK_FLINK_SQL_DIR", nonempty, metavar="DIR"),
    Option("generator_url", ("--generator-url",), "the generator's metrics and control endpoint (thelook-datagen "
           "--metrics-port ... --control)", "GENERATOR_URL", nonempty, "http://127.0.0.1:9464"),
    Option("stack_command", ("--stack-command",), "the local launcher (scripts/stack) for the restart controls "
           "(default: none; compose has none)", "THELOOK_DASHBOARD_STACK_COMMAND", nonempty, metavar="PATH"),
    Option("verify_timeout", ("--verify-timeout",), "seconds a verify run may take before it is stopped",
           "THELOOK_DASHBOARD_VERIFY_TIMEOUT", number(float, 5, 3600), 300.0),
)

DASHBOARD = Command(
    prog="thelook-dashboard",
    description="Serve a live web page of the CDC pipeline: every stage's rate, lag and alert state "
                "(Prometheus), the Flink analytics (result topics), the connector and jobs (Connect, Flink), "
                "a Verify button, and with --controls the workshop controls. Exit status: 0 stopped, "
                "2 could not start (bad input, port in use).",
    groups=(("server", SERVER), ("sources", SOURCES)),
    epilog=SOME_VARIABLES,
)
DashboardSettings = settings_class("DashboardSettings", DASHBOARD, "thelook-dashboard's settings: one field "
                                   "per option.")


def parse_settings(argv, environ=None, **fallbacks):
    """The command line and environment -> DashboardSettings (bad values: one line, exit 2)."""
    settings = parse_into(DashboardSettings, DASHBOARD, argv, environ, **fallbacks)
    if not settings.flink_bootstrap_servers:
        settings.flink_bootstrap_servers = settings.bootstrap_servers
    return settings
