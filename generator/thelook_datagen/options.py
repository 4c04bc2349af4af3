"""Command-line options; every one can also come from an environment variable.

The database options use libpq's own variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE),
Kafka's servers KAFKA_BOOTSTRAP_SERVERS, everything else THELOOK_<OPTION>. Kafka client settings
(security.protocol, sasl.*, ssl.*) come from repeated --kafka-config KEY=VALUE or from variables
THELOOK_KAFKA_CONFIG_<KEY> with dots written as underscores (THELOOK_KAFKA_CONFIG_SASL_MECHANISM).
"""
import argparse
import os
import sys
from dataclasses import dataclass, field

from .errors import UserError
from .sim.lifecycle import DEFAULT_TIME_SCALE

KAFKA_ENV_PREFIX = "THELOOK_KAFKA_CONFIG_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass
class Settings:
    avg_qps: float = 0.0
    if_exists: str = "append"
    max_iter: int = -1
    ghost_ratio: float = 0.2
    host: str = None
    port: int = None
    user: str = None
    password: str = None
    db: str = None
    schema: str = "demo"
    bootstrap_servers: str = "localhost:9092"
    topic_prefix: str = "ecomm"
    create_topic: bool = True
    topic_partitions: int = 1
    topic_replication_factor: int = 1
    topic_config: dict = field(default_factory=dict)
    kafka_config: dict = field(default_factory=dict)
    kafka_timeout: float = 30.0
    seed: int = None
    time_scale: float = DEFAULT_TIME_SCALE
    arrivals: str = "stratified"
    status_interval: float = 5.0
    quiet: bool = False
    log_format: str = "text"
    synchronous_commit: str = "on"
    connect_timeout: int = 10
    reconnect_timeout: float = 0.0
    backfill_days: float = 0.0
    backfill_rate: float = None

    @property
    def conn_kw(self):
        from .db.writer import connect_kwargs
        return connect_kwargs(self.host, self.port, self.user, self.password, self.db, self.connect_timeout)


def _number(kind, lo=None, hi=None, lo_open=False):
    def parse(text):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"invalid value: {text!r}")
        if lo is not None and (value < lo or (lo_open and value == lo)):
            raise argparse.ArgumentTypeError(f"must be {'>' if lo_open else '>='} {lo:g}, got {text}")
        if hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"must be <= {hi:g}, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _key_value(text):
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _nonempty(text):
    if not text or not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _boolean(text):
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# (flags, dest, env, type, default, help, extra argparse kwargs)
OPTIONS = [
    (("--avg-qps",), "avg_qps", "THELOOK_AVG_QPS", _number(float, 0), 0.0,
     "mean visits started per second, Poisson arrivals against the clock; 0 = flat out", {}),
    (("--if_exists", "--if-exists"), "if_exists", "THELOOK_IF_EXISTS", str, "append",
     "if the tables exist: fail (refuse to start), replace (drop and recreate once), "
     "append (keep them and their rows)", {"choices": ("fail", "replace", "append")}),
    (("--max_iter", "--max-iter"), "max_iter", "THELOOK_MAX_ITER", _number(int, -1), -1,
     "number of visits, -1 = until stopped", {}),
    (("--ghost_ratio", "--ghost-ratio", "-g"), "ghost_ratio", "THELOOK_GHOST_RATIO",
     _number(float, 0.0, 1.0), 0.2, "share of visits that are anonymous ghost sessions (user_id NULL)", {}),
    (("--host",), "host", "PGHOST", _nonempty, None, "PostgreSQL host", {}),
    (("--port",), "port", "PGPORT", _number(int, 1, 65535), None, "PostgreSQL port", {}),
    (("--user",), "user", "PGUSER", _nonempty, None, "PostgreSQL user", {}),
    (("--password",), "password", "PGPASSWORD", str, None, "PostgreSQL password (better: PGPASSWORD)", {}),
    (("--db",), "db", "PGDATABASE", _nonempty, None, "PostgreSQL database", {}),
    (("--schema",), "schema", "THELOOK_SCHEMA", _nonempty, "demo", "schema of the shop's tables", {}),
    (("--bootstrap-servers",), "bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS", _nonempty, "localhost:9092",
     "Kafka bootstrap servers (only to create topics)", {}),
    (("--topic-prefix",), "topic_prefix", "THELOOK_TOPIC_PREFIX", _nonempty, "ecomm",
     "topics are {prefix}.{schema}.{table}", {}),
    (("--topic-partitions",), "topic_partitions", "THELOOK_TOPIC_PARTITIONS", _number(int, 1), 1,
     "partitions of each created topic", {}),
    (("--topic-replication-factor",), "topic_replication_factor", "THELOOK_TOPIC_REPLICATION_FACTOR",
     _number(int, 1), 1, "replication factor of each created topic", {}),
    (("--topic-config",), "topic_config", "THELOOK_TOPIC_CONFIG", _key_value, None,
     "topic config KEY=VALUE for created topics, repeatable (env: comma-separated)",
     {"action": "append", "metavar": "KEY=VALUE"}),
    (("--kafka-config",), "kafka_config", None, _key_value, None,
     "Kafka client setting KEY=VALUE (security.protocol, sasl.mechanism, ssl.ca.location, ...), "
     f"repeatable (env: {KAFKA_ENV_PREFIX}<KEY>, dots as underscores)", {"action": "append", "metavar": "KEY=VALUE"}),
    (("--kafka-timeout",), "kafka_timeout", "THELOOK_KAFKA_TIMEOUT", _number(float, 0, lo_open=True), 30.0,
     "seconds to wait for the Kafka broker before giving up", {}),
    (("--seed",), "seed", "THELOOK_SEED", _number(int), None,
     "random seed: the same options give the same users, sessions, orders, products and, at a set "
     "--avg-qps, statuses (flat out, lifecycle timing follows the database's speed)", {}),
    (("--time-scale",), "time_scale", "THELOOK_TIME_SCALE", _number(float, 0, lo_open=True),
     DEFAULT_TIME_SCALE, "shop seconds per real second for lifecycle delays (shipping after 1 shop "
     "day, delivery 2 days later, ...); default 8640 = a shop day lasts 10 s; 1 = real time", {}),
    (("--arrivals",), "arrivals", "THELOOK_ARRIVALS", str, "stratified",
     "arrival process for --avg-qps: poisson (independent exponential gaps) or stratified (Poisson "
     "arrivals with the count fixed per ~1 s window, so the achieved rate is exact over a minute)",
     {"choices": ("stratified", "poisson")}),
    (("--status-interval",), "status_interval", "THELOOK_STATUS_INTERVAL", _number(float, 0, lo_open=True),
     5.0, "seconds between status lines", {}),
    (("--log-format",), "log_format", "THELOOK_LOG_FORMAT", str, "text", "status and messages as text or "
     "JSON lines", {"choices": ("text", "json")}),
    (("--synchronous-commit",), "synchronous_commit", "THELOOK_SYNCHRONOUS_COMMIT", str, "on",
     "PostgreSQL synchronous_commit for the generator's sessions: off lets a visit's commit return "
     "before its WAL is flushed (several times faster on slow disks; Debezium still only sees "
     "flushed changes; a server crash may lose the last fraction of a second of visits)",
     {"choices": ("on", "off", "local", "remote_write", "remote_apply")}),
    (("--connect-timeout",), "connect_timeout", "THELOOK_CONNECT_TIMEOUT", _number(int, 1), 10,
     "seconds to wait for each PostgreSQL connection attempt", {}),
    (("--reconnect-timeout",), "reconnect_timeout", "THELOOK_RECONNECT_TIMEOUT", _number(float, 0), 0.0,
     "give up after PostgreSQL has been unreachable this many seconds mid-run; 0 = keep trying", {}),
    (("--backfill-days",), "backfill_days", "THELOOK_BACKFILL_DAYS", _number(float, 0), 0.0,
     "before streaming, write this many days of past activity with COPY (bulk history); 0 = none", {}),
    (("--backfill-rate",), "backfill_rate", "THELOOK_BACKFILL_RATE", _number(float, 0, lo_open=True), None,
     "visits/s of the backfilled history (default: --avg-qps, or 10 when that is 0)", {}),
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # one clear line, not a usage dump
        sys.stderr.write(f"thelook-datagen: error: {message} (see --help)\n")
        sys.exit(2)


def build_parser():
    p = _Parser(prog="thelook-datagen",
                description="Live theLook eCommerce workload for PostgreSQL CDC: visits (sessions, "
                            "sign-ups, orders) and the shop's lifecycle (shipping, returns, restocking, "
                            "write-offs, closed accounts). Subcommand: `thelook-datagen verify --help`.",
                epilog="Every option can also be set by the environment variable shown in brackets.")
    for flags, dest, env, typ, default, help_text, extra in OPTIONS:
        env_note = f" [{env}]" if env else ""
        # defaults stay None in argparse so that environment variables can fill the gaps later
        default_note = f" (default: {default:g})" if isinstance(default, float) else (
            f" (default: {default})" if default is not None and "default" not in help_text else "")
        p.add_argument(*flags, dest=dest, type=typ, default=None,
                       help=f"{help_text}{default_note}{env_note}", **extra)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--create-topic", dest="create_topic", action="store_const", const=True, default=None,
                       help="create the CDC topics in Kafka (default) [THELOOK_CREATE_TOPIC]")
    group.add_argument("--no-create-topic", dest="create_topic", action="store_const", const=False,
                       help="never contact Kafka")
    p.add_argument("--quiet", "-q", dest="quiet", action="store_const", const=True, default=None,
                   help="no status lines, only errors and the final summary [THELOOK_QUIET]")
    return p


def _from_env(environ, env, typ, extra):
    raw = environ.get(env)
    if raw is None or raw == "":
        return None
    try:
        if extra.get("action") == "append":
            return [typ(part) for part in raw.split(",") if part.strip()]
        value = typ(raw)
    except argparse.ArgumentTypeError as e:
        raise UserError(f"environment variable {env}: {e}") from None
    if "choices" in extra and value not in extra["choices"]:
        raise UserError(f"environment variable {env}: invalid choice {raw!r} "
                        f"(choose from {', '.join(extra['choices'])})")
    return value


def parse_settings(argv, environ=None):
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    values = {}
    for flags, dest, env, typ, default, _help, extra in OPTIONS:
        value = getattr(args, dest)
        if value is None and env:
            value = _from_env(environ, env, typ, extra)
        values[dest] = default if value is None else value
    for dest, env in (("create_topic", "THELOOK_CREATE_TOPIC"), ("quiet", "THELOOK_QUIET")):
        value = getattr(args, dest)
        if value is None:
            value = _from_env(environ, env, _boolean, {})
        values[dest] = {"create_topic": True, "quiet": False}[dest] if value is None else value
    kafka = {}
    for key, value in environ.items():
        if key.startswith(KAFKA_ENV_PREFIX) and len(key) > len(KAFKA_ENV_PREFIX):
            kafka[key[len(KAFKA_ENV_PREFIX):].lower().replace("_", ".")] = value
    kafka.update(dict(values["kafka_config"] or []))
    values["kafka_config"] = kafka
    values["topic_config"] = dict(values["topic_config"] or [])
    return Settings(**values)
