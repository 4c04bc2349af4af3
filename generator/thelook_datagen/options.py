"""Every command's options, declared once: flags, environment variable, type, default, help.

Like locust's argument parser: an option is declared ONCE with its variable, and groups of options
(PostgreSQL, Kafka) are shared by the generator, `verify` and every later command, so that the same
option has the same spelling, default, variable and validation everywhere.

Precedence: command line, then the environment variable, then the default. The database options
use libpq's own variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE), Kafka's servers
KAFKA_BOOTSTRAP_SERVERS, everything else THELOOK_<OPTION>. Kafka client settings (security.protocol,
sasl.*, ssl.*) come from repeated --kafka-config KEY=VALUE or from variables
THELOOK_KAFKA_CONFIG_<KEY> with dots written as underscores (THELOOK_KAFKA_CONFIG_SASL_MECHANISM).

The result of parsing is a plain dataclass (`Settings`, `VerifySettings`): library code reads
settings, never flags (see errors.py for how it names them in messages).
"""
import argparse
import os
from dataclasses import dataclass, field, make_dataclass
from typing import Any, Callable, Optional

from .console import ToolParser
from .control import MAX_VISITS_PER_SECOND
from .errors import UserError
from .sim.lifecycle import DEFAULT_TIME_SCALE

KAFKA_ENV_PREFIX = "THELOOK_KAFKA_CONFIG_"
DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092"   # not localhost: it may resolve to ::1 where only IPv4 listens
DEFAULT_KAFKA_TIMEOUT = 30.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


# ------------------------------------------------------------------ value types

def number(kind, lo=None, hi=None, lo_open=False):
    """A parser of int/float values within bounds (NaN and infinities refused)."""
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


def key_value(text):
    """KEY=VALUE (the value may be empty or contain '=')."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def nonempty(text):
    if not text or not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def shop_tables(text):
    """A comma-separated list of theLook's tables (tables.SHOP_TABLES), as a tuple without repeats."""
    from .tables import SHOP_TABLES
    names = [t.strip() for t in (text or "").split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no table given")
    unknown = [t for t in names if t not in SHOP_TABLES]
    if unknown:
        raise argparse.ArgumentTypeError(f"not a theLook table: {', '.join(unknown)} (choose from "
                                         f"{', '.join(SHOP_TABLES)})")
    return tuple(dict.fromkeys(names))


def duration(text):
    """A --horizon: seconds, or a number with s, m, h or d ('8h'); 0 or 'off' -> None (no horizon)."""
    from .sim.archive import parse_duration
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


duration.__name__ = "duration"


def boolean(text):
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# ------------------------------------------------------------------ the option model

@dataclass(frozen=True)
class Option:
    """One option. kind: "value" (takes a value), "flag" (on when given; env true/false),
    "switch" (--X / --no-X pair; env true/false). `pairs`: repeatable KEY=VALUE collected into a
    dict (env: comma-separated, or one variable per key under `env_prefix`)."""
    dest: str
    flags: tuple
    help: str
    env: Optional[str] = None
    type: Callable = str
    default: Any = None
    choices: Optional[tuple] = None
    kind: str = "value"
    pairs: bool = False
    env_prefix: Optional[str] = None
    metavar: Optional[str] = None
    off_flag: Optional[str] = None      # kind "switch": the flag that turns it off
    off_help: str = ""
    secret: bool = False                # never shown in a settings object's repr

    @property
    def flag(self):
        return self.flags[0]

    def help_text(self):
        text = self.help
        if "default" not in text:
            if self.kind == "switch":
                text += " (default)" if self.default else ""
            elif isinstance(self.default, float):
                text += f" (default: {self.default:g})"
            elif self.default not in (None, False):
                text += f" (default: {self.default})"
        if self.env:
            text += f" [{self.env}]"
        if self.env_prefix:
            text += f" [{self.env_prefix}<KEY>, dots as underscores]"
        return text

    def add_to(self, group):
        # parsed defaults stay None, so the environment can fill the gaps afterwards
        if self.kind == "flag":
            group.add_argument(*self.flags, dest=self.dest, action="store_const", const=True, default=None,
                               help=self.help_text())
        elif self.kind == "switch":
            pair = group.add_mutually_exclusive_group()
            pair.add_argument(*self.flags, dest=self.dest, action="store_const", const=True, default=None,
                              help=self.help_text())
            pair.add_argument(self.off_flag, dest=self.dest, action="store_const", const=False,
                              help=self.off_help)
        else:
            extra = {"choices": self.choices} if self.choices else {}
            if self.pairs:
                extra.update(action="append", metavar=self.metavar or "KEY=VALUE")
            elif self.metavar:
                extra["metavar"] = self.metavar
            group.add_argument(*self.flags, dest=self.dest, type=key_value if self.pairs else self.type,
                               default=None, help=self.help_text(), **extra)

    def from_env(self, environ):
        """The value from the environment, or None when unset."""
        if self.env_prefix:
            found = {}
            for key, value in environ.items():
                if key.startswith(self.env_prefix) and len(key) > len(self.env_prefix):
                    found[key[len(self.env_prefix):].lower().replace("_", ".")] = value
            return found or None
        raw = environ.get(self.env) if self.env else None
        if raw is None or raw == "":
            return None
        parse = boolean if self.kind in ("flag", "switch") else (key_value if self.pairs else self.type)
        try:
            if self.pairs:
                return dict(parse(part) for part in raw.split(",") if part.strip())
            value = parse(raw)
        except argparse.ArgumentTypeError as e:
            raise UserError(f"environment variable {self.env}: {e}") from None
        if self.choices and value not in self.choices:
            raise UserError(f"environment variable {self.env}: invalid choice {raw!r} "
                            f"(choose from {', '.join(self.choices)})")
        return value

    def resolve(self, given, environ):
        """Command line, then environment, then default."""
        if self.pairs:
            merged = dict(self.from_env(environ) or {}) if self.env or self.env_prefix else {}
            merged.update(dict(given or []))
            return merged
        if given is not None:
            return given
        value = self.from_env(environ)
        return self.default if value is None else value


@dataclass(frozen=True)
class Command:
    """A command's parser built from option groups; parse() returns {dest: value}."""
    prog: str
    description: str
    groups: tuple                  # ((title, (Option, ...)), ...)
    epilog: str = "Every option can also be set by the environment variable shown in brackets."
    raw_description: bool = False

    def options(self):
        return [o for _, opts in self.groups for o in opts]

    def flags(self):
        """{setting name: its first flag}, to render `{opt:NAME}` in error messages (a switch's off
        flag as `no_NAME`)."""
        names = {o.dest: o.flag for o in self.options()}
        names.update({f"no_{o.dest}": o.off_flag for o in self.options() if o.off_flag})
        return names

    def parser(self):
        kw = {"formatter_class": argparse.RawDescriptionHelpFormatter} if self.raw_description else {}
        p = ToolParser(prog=self.prog, description=self.description, epilog=self.epilog, **kw)
        for title, opts in self.groups:
            group = p.add_argument_group(title)
            for option in opts:
                option.add_to(group)
        return p

    def parse(self, argv, environ=None):
        environ = os.environ if environ is None else environ
        args = self.parser().parse_args(argv)
        return {o.dest: o.resolve(getattr(args, o.dest), environ) for o in self.options()}


def reuse(option, **changes):
    """A shared option with another default or help (same flags and variable)."""
    from dataclasses import replace
    return replace(option, **changes)


# ------------------------------------------------------------------ shared groups

HOST = Option("host", ("--host",), "PostgreSQL host", "PGHOST", nonempty)
PORT = Option("port", ("--port",), "PostgreSQL port", "PGPORT", number(int, 1, 65535))
USER = Option("user", ("--user",), "PostgreSQL user", "PGUSER", nonempty)
PASSWORD = Option("password", ("--password",), "PostgreSQL password (better: PGPASSWORD)", "PGPASSWORD",
                  secret=True)
DB = Option("db", ("--db", "--dbname"), "PostgreSQL database", "PGDATABASE", nonempty)
SCHEMA = Option("schema", ("--schema",), "schema of the shop's tables", "THELOOK_SCHEMA", nonempty, "demo")
CONNECT_TIMEOUT = Option("connect_timeout", ("--connect-timeout",),
                         "seconds to wait for each PostgreSQL connection attempt", "THELOOK_CONNECT_TIMEOUT",
                         number(int, 1), 10)
POSTGRES = (HOST, PORT, USER, PASSWORD, DB, SCHEMA, CONNECT_TIMEOUT)

BOOTSTRAP_SERVERS = Option("bootstrap_servers", ("--bootstrap-servers",), "Kafka bootstrap servers",
                           "KAFKA_BOOTSTRAP_SERVERS", nonempty, DEFAULT_BOOTSTRAP_SERVERS)
KAFKA_CONFIG = Option("kafka_config", ("--kafka-config",),
                      "Kafka client setting KEY=VALUE (security.protocol, sasl.mechanism, ssl.ca.location, "
                      "...), repeatable", pairs=True, env_prefix=KAFKA_ENV_PREFIX, secret=True)
KAFKA_TIMEOUT = Option("kafka_timeout", ("--kafka-timeout",), "seconds to wait for the Kafka broker before "
                       "giving up", "THELOOK_KAFKA_TIMEOUT", number(float, 0, lo_open=True), DEFAULT_KAFKA_TIMEOUT)
TOPIC_PREFIX = Option("topic_prefix", ("--topic-prefix",), "Debezium's topic.prefix: change topics are "
                      "PREFIX.SCHEMA.TABLE", "THELOOK_TOPIC_PREFIX", nonempty, "ecomm")
KAFKA = (BOOTSTRAP_SERVERS, KAFKA_CONFIG, KAFKA_TIMEOUT, TOPIC_PREFIX)

QUIET = Option("quiet", ("--quiet", "-q"), "no status or progress lines, only errors and the result",
               "THELOOK_QUIET", kind="flag", default=False)


# ------------------------------------------------------------------ thelook-datagen

GENERATOR_WORKLOAD = (
    Option("avg_qps", ("--avg-qps",), "mean visits started per second, Poisson arrivals against the clock; "
           "0 = flat out", "THELOOK_AVG_QPS", number(float, 0), 0.0),
    Option("if_exists", ("--if_exists", "--if-exists"), "if the tables exist: fail (refuse to start), replace "
           "(drop and recreate once), append (keep them and their rows)", "THELOOK_IF_EXISTS", str, "append",
           choices=("fail", "replace", "append")),
    Option("max_iter", ("--max_iter", "--max-iter"), "number of visits, -1 = until stopped", "THELOOK_MAX_ITER",
           number(int, -1), -1),
    Option("ghost_ratio", ("--ghost_ratio", "--ghost-ratio", "-g"), "share of visits that are anonymous ghost "
           "sessions (user_id NULL)", "THELOOK_GHOST_RATIO", number(float, 0.0, 1.0), 0.2),
    Option("seed", ("--seed",), "random seed: the same options give the same users, sessions, orders, products "
           "and, at a set --avg-qps, statuses (flat out, lifecycle timing follows the database's speed)",
           "THELOOK_SEED", number(int)),
    Option("time_scale", ("--time-scale",), "shop seconds per real second for lifecycle delays (shipping after "
           "1 shop day, delivery 2 days later, ...); default 8640 = a shop day lasts 10 s; 1 = real time",
           "THELOOK_TIME_SCALE", number(float, 0, lo_open=True), DEFAULT_TIME_SCALE),
    Option("arrivals", ("--arrivals",), "arrival process for --avg-qps: poisson (independent exponential gaps) "
           "or stratified (Poisson arrivals with the count fixed per ~1 s window, so the achieved rate is "
           "exact over a minute)", "THELOOK_ARRIVALS", str, "stratified", choices=("stratified", "poisson")),
    Option("synchronous_commit", ("--synchronous-commit",), "PostgreSQL synchronous_commit for the generator's "
           "sessions: off lets a visit's commit return before its WAL is flushed (several times faster on "
           "slow disks; Debezium still only sees flushed changes; a server crash may lose the last fraction "
           "of a second of visits)", "THELOOK_SYNCHRONOUS_COMMIT", str, "on",
           choices=("on", "off", "local", "remote_write", "remote_apply")),
    Option("reconnect_timeout", ("--reconnect-timeout",), "give up after PostgreSQL has been unreachable this "
           "many seconds mid-run; 0 = keep trying", "THELOOK_RECONNECT_TIMEOUT", number(float, 0), 0.0),
    Option("backfill_days", ("--backfill-days",), "before streaming, write this many days of past activity "
           "with COPY (bulk history); 0 = none", "THELOOK_BACKFILL_DAYS", number(float, 0), 0.0),
    Option("backfill_rate", ("--backfill-rate",), "visits/s of the backfilled history (default: --avg-qps, or "
           "10 when that is 0)", "THELOOK_BACKFILL_RATE", number(float, 0, lo_open=True)),
    Option("horizon", ("--horizon",), "keep the shop's size stable on long runs: while streaming, archive what "
           "lies further back than DURATION (e.g. 90s, 30m, 8h, 1d) as DELETEs that Debezium captures: sessions "
           "(their events) that started before it, and orders in a final state (Cancelled, Returned, Complete "
           "and not to be returned) created before it, with their order items and the stock they sold; users, "
           "products, unsold stock and open orders are kept; 0 or off = keep everything (default: off)",
           "THELOOK_HORIZON", duration, None, metavar="DURATION"),
)
GENERATOR_TOPICS = (
    Option("create_topic", ("--create-topic",), "create the CDC topics in Kafka before streaming",
           "THELOOK_CREATE_TOPIC", kind="switch", default=True, off_flag="--no-create-topic",
           off_help="never contact Kafka"),
    Option("topic_partitions", ("--topic-partitions",), "partitions of each created topic",
           "THELOOK_TOPIC_PARTITIONS", number(int, 1), 1),
    Option("topic_replication_factor", ("--topic-replication-factor",), "replication factor of each created "
           "topic (default: the broker's default.replication.factor: 1 on the single-node stack, 3 in cluster mode)",
           "THELOOK_TOPIC_REPLICATION_FACTOR", number(int, 1), None),
    Option("topic_config", ("--topic-config",), "topic config KEY=VALUE for created topics, repeatable "
           "(env: comma-separated)", "THELOOK_TOPIC_CONFIG", pairs=True),
)
GENERATOR_OUTPUT = (
    Option("status_interval", ("--status-interval",), "seconds between status lines", "THELOOK_STATUS_INTERVAL",
           number(float, 0, lo_open=True), 5.0),
    Option("log_format", ("--log-format",), "status and messages as text or JSON lines", "THELOOK_LOG_FORMAT",
           str, "text", choices=("text", "json")),
    QUIET,
)

DEFAULT_METRICS_PORT = 9464     # the port the scrape configuration expects (none is opened unless asked for)
GENERATOR_METRICS = (
    Option("metrics_port", ("--metrics-port",), "serve Prometheus metrics (thelook_*: visits, rows written per "
           f"table and operation, errors, retries, lag, write latency) at http://ADDRESS:PORT/metrics; "
           f"{DEFAULT_METRICS_PORT} is the port the scrape configuration expects (default: none, no server)",
           "THELOOK_METRICS_PORT", number(int, 1, 65535), metavar="PORT"),
    Option("metrics_address", ("--metrics-address",), "address the metrics server listens on (0.0.0.0 in a "
           "container that Prometheus scrapes from another one)", "THELOOK_METRICS_ADDRESS", nonempty,
           "127.0.0.1", metavar="ADDRESS"),
    Option("metrics_linger", ("--metrics-linger",), "after the summary, keep serving the final counts this many "
           "seconds before exiting (a scrape interval, e.g. 5, lets Prometheus see a short run's end); "
           "Ctrl-C/SIGTERM ends it early", "THELOOK_METRICS_LINGER", number(float, 0), 0.0, metavar="SECONDS"),
)
# Served by the metrics server (one port to open and to protect); the limits live in control.py.
GENERATOR_CONTROL = (
    Option("control", ("--control",), "also serve a live rate control next to /metrics (needs --metrics-port): "
           "GET /control shows the target visits/s, POST /control/rate {\"visits_per_second\": X} sets it "
           f"(0 = flat out, at most {MAX_VISITS_PER_SECOND:g}); only loopback clients, others with "
           "--control-token-file (default: off)",
           "THELOOK_CONTROL", kind="flag", default=False),
    Option("control_token_file", ("--control-token-file",), "file holding the token that clients other than "
           "loopback must send in the X-Thelook-Token header to use --control; read at every request, so it may "
           "appear later (default: none, loopback clients only)", "THELOOK_CONTROL_TOKEN_FILE", nonempty,
           metavar="PATH"),
)

GENERATOR = Command(
    prog="thelook-datagen",
    description="Live theLook eCommerce workload for PostgreSQL CDC: visits (sessions, sign-ups, orders) and "
                "the shop's lifecycle (shipping, returns, restocking, write-offs, closed accounts). "
                "Subcommand: `thelook-datagen verify --help`.",
    groups=(("workload", GENERATOR_WORKLOAD), ("PostgreSQL", POSTGRES),
            ("Kafka (only to create the change topics)", KAFKA), ("topics", GENERATOR_TOPICS),
            ("output", GENERATOR_OUTPUT), ("Prometheus metrics", GENERATOR_METRICS),
            ("live rate control (on the metrics server)", GENERATOR_CONTROL)),
)


def _conn_kw(self):
    """psycopg2.connect keyword arguments from the PostgreSQL settings."""
    from .db.writer import connect_kwargs
    return connect_kwargs(self.host, self.port, self.user, self.password, self.db, self.connect_timeout)


def settings_class(name, command, doc, **namespace):
    """A dataclass with one field per option of `command` (its default), so an option is declared
    once and its setting cannot be forgotten."""
    def default(o):
        if o.pairs:
            return field(default_factory=dict, repr=not o.secret)
        return field(default=o.default, repr=not o.secret)
    cls = make_dataclass(name, [(o.dest, Any, default(o)) for o in command.options()], namespace=namespace)
    cls.__doc__ = doc
    return cls


Settings = settings_class("Settings", GENERATOR, "thelook-datagen's settings: one field per option.",
                          conn_kw=property(_conn_kw))


def parse_into(cls, command, argv, environ=None, **fallbacks):
    """`command`'s command line and environment -> a `cls` settings object; settings still unset
    take `fallbacks` (defaults only the caller knows, such as a path next to a script)."""
    settings = cls(**command.parse(argv, environ))
    for name, value in fallbacks.items():
        if getattr(settings, name) is None and value is not None:
            setattr(settings, name, str(value))
    return settings


def parse_settings(argv, environ=None):
    """thelook-datagen's command line and environment -> Settings. Bad command-line values exit 2
    with one line; bad environment values raise UserError."""
    return parse_into(Settings, GENERATOR, argv, environ)


# ------------------------------------------------------------------ thelook-datagen verify

VERIFY_DESCRIPTION = """\
Reads the Debezium change topics PREFIX.SCHEMA.TABLE from the beginning, replays the events per
table by primary key (snapshot reads r, creates c, updates u, deletes d, tombstones), and compares
the result, column by column, with the rows in PostgreSQL. Prints per table the events by op, the
rows matched, missing, extra and different (with examples), checks that each UPDATE/DELETE
before-image equals the row's previous state (a gap there means a lost change), and reports
commit-to-Kafka latency (p50/p95/p99/max, from each change's source.ts_ms to its Kafka record
timestamp; both clocks must agree, as on one machine).

Which moment is compared (--cut):
  snapshot (default)  Writers may keep running. verify reads all tables in one REPEATABLE READ
                      snapshot and notes the WAL position at that moment, waits until the
                      connector's replication slot confirms that position (Debezium confirms an
                      LSN only after Kafka has acknowledged every change before it; heartbeats or
                      ongoing writes move it along), then reads the topics up to their end offsets
                      and replays only the transactions that snapshot saw. No pause is needed.
                      The slot is --slot, or the only logical slot of the database.
  end                 For pipelines without heartbeats: stop the writers first. verify reads the
                      topics until no new record arrives for --idle seconds, then reads PostgreSQL.

Debezium delivers at least once: events redelivered after a crash are counted as 'dup' and are
harmless. On a topic trimmed by retention, rows whose changes were deleted with its oldest records
cannot be checked: verify names the topic and counts them as not checkable, not as missing. Exit
status: 0 all equal, 1 differences found, 2 could not verify.

Examples:
  thelook-datagen verify                                   # local stack: eval "$(scripts/stack env)"
  thelook-datagen verify --bootstrap-servers broker:9092 --host db.example --user app --db shop \\
      --schema demo --topic-prefix ecomm
  thelook-datagen verify --kafka-config security.protocol=SASL_SSL --kafka-config sasl.mechanism=PLAIN \\
      --kafka-config sasl.username=KEY --kafka-config sasl.password=SECRET
"""

VERIFY_CUT = (
    Option("tables", ("--tables",), "comma-separated tables to compare (default: the theLook tables and "
           "heartbeat, those that exist)", "THELOOK_VERIFY_TABLES"),
    Option("extra_tables", ("--extra-tables",), "comma-separated tables of the schema to compare as well, beyond "
           "the theLook tables (e.g. a scenario's own table; any table with a primary key)",
           "THELOOK_VERIFY_EXTRA_TABLES"),
    Option("cut", ("--cut",), "which moment to compare (see above)", "THELOOK_VERIFY_CUT", str, "snapshot",
           choices=("snapshot", "end")),
    Option("slot", ("--slot",), "the connector's replication slot (default: the database's only logical slot)",
           "THELOOK_SLOT", nonempty),
    Option("timeout", ("--timeout",), "seconds to wait for the connector to catch up or the topics to go idle",
           "THELOOK_VERIFY_TIMEOUT", number(float, 0, lo_open=True), 120.0),
    Option("idle", ("--idle",), "--cut end: seconds without new records that mean the stream is done",
           "THELOOK_VERIFY_IDLE", number(float, 0, lo_open=True), 5.0),
)
VERIFY_OUTPUT = (
    Option("examples", ("--examples",), "example keys shown per kind of difference", "THELOOK_VERIFY_EXAMPLES",
           number(int, 0), 5),
    Option("json", ("--json",), "also write the full report as JSON to FILE", "THELOOK_VERIFY_JSON", nonempty,
           metavar="FILE"),
    Option("require_full_before_images", ("--require-full-before-images",), "fail when an UPDATE or DELETE "
           "event has no full before-image (REPLICA IDENTITY FULL)", "THELOOK_REQUIRE_FULL_BEFORE_IMAGES",
           kind="flag", default=False),
    QUIET,
)

VERIFY = Command(
    prog="thelook-datagen verify",
    description=VERIFY_DESCRIPTION,
    groups=(("PostgreSQL", POSTGRES), ("Kafka", KAFKA), ("cut and limits", VERIFY_CUT),
            ("output", VERIFY_OUTPUT)),
    raw_description=True,
)


def _verify_conn_kw(self):
    return {**_conn_kw(self), "application_name": "thelook-verify"}


VerifySettings = settings_class("VerifySettings", VERIFY, "verify's settings: one field per option.",
                                conn_kw=property(_verify_conn_kw))


def parse_verify_settings(argv, environ=None):
    return parse_into(VerifySettings, VERIFY, argv, environ)


# ------------------------------------------------------------------ register-connector, submit-flink-jobs
# (scripts/register-connector and scripts/submit-flink-jobs; the logic is in thelook_datagen.ops)

@dataclass(frozen=True)
class ListOption(Option):
    """A repeatable option collected into a list (env: comma-separated); None when not given."""

    def add_to(self, group):
        group.add_argument(*self.flags, dest=self.dest, action="append", type=self.type, default=None,
                           metavar=self.metavar, help=self.help_text())

    def from_env(self, environ):
        raw = environ.get(self.env) if self.env else None
        values = [part.strip() for part in (raw or "").split(",") if part.strip()]
        return values or None


SOME_VARIABLES = "An option with a variable in brackets can also be set by that environment variable."


CONNECT_URL = Option("connect_url", ("--connect-url",), "Kafka Connect REST URL (the workers of a cluster: "
                     "several, comma-separated, tried in turn)", "CONNECT_URL", nonempty,
                     "http://127.0.0.1:8083")
# the connector a command works on (scripts/scenario, thelook-dashboard); register-connector takes its name
# from the connector file instead (--name overrides it there)
CONNECTOR = Option("connector", ("--connector",), "name of the Debezium connector on Kafka Connect",
                   "THELOOK_CONNECTOR", nonempty, "thelook-postgres", metavar="NAME")
CONNECTOR_WAIT = (
    CONNECT_URL,
    Option("timeout", ("--timeout",), "seconds to wait in all for Connect, the tables and RUNNING",
           "THELOOK_REGISTER_TIMEOUT", number(float, 0), 120.0),
    Option("settle", ("--settle",), "seconds the connector must stay RUNNING before success", None,
           number(float, 0), 3.0),
    Option("wait_snapshot", ("--wait-snapshot",), "also wait until Connect has committed the end of the initial "
           "snapshot (until then a failing task snapshots again, and rows deleted meanwhile never get a DELETE "
           "event)", "THELOOK_WAIT_SNAPSHOT", kind="flag", default=False),
)
# The connector's identity comes from the file; these override it from the command line only.
CONNECTOR_CONFIG = (
    Option("file", ("--file",), "connector JSON in Connect's REST format {\"name\": ..., \"config\": {...}} "
           "(default: the repository's connectors/thelook-postgres.json)", "THELOOK_CONNECTOR_FILE", nonempty,
           metavar="FILE"),
    Option("name", ("--name",), "connector name (overrides the file's)", type=nonempty),
    reuse(TOPIC_PREFIX, default=None, env=None, help="topic.prefix: topics become PREFIX.SCHEMA.TABLE "
          "(overrides the file's)"),
    reuse(SCHEMA, default=None, env=None, help="capture this schema's tables instead (rewrites "
          "table.include.list and the heartbeat query)"),
    Option("slot", ("--slot",), "replication slot name (slot.name; overrides the file's)", type=nonempty),
    Option("publication", ("--publication",), "publication name (publication.name; overrides the file's)",
           type=nonempty),
)
CONNECTOR_ACTIONS = (
    Option("no_validate", ("--no-validate",), "skip Connect's config validation", kind="flag", default=False),
    Option("delete", ("--delete",), "remove the connector instead (its replication slot and publication stay)",
           kind="flag", default=False),
    Option("reset_offsets", ("--reset-offsets",), "with --delete: also erase the offsets Connect keeps under "
           "this name, so that a new connector of the same name starts afresh (with a new snapshot)",
           kind="flag", default=False),
    Option("print_config", ("--print-config",), "print the effective config (secrets masked) and exit without "
           "contacting Connect", kind="flag", default=False),
)

REGISTER_CONNECTOR = Command(
    prog="register-connector",
    description="Create or update the Debezium connector on Kafka Connect, wait until it and its task are "
                "RUNNING, print their state. Exit status: 0 running (or deleted); 1 the connector FAILED or "
                "is not RUNNING in time; 2 could not run (bad input or config, Connect unreachable).",
    groups=(("Kafka Connect", CONNECTOR_WAIT), ("connector", CONNECTOR_CONFIG), ("actions", CONNECTOR_ACTIONS)),
    epilog=SOME_VARIABLES,
)
ConnectorSettings = settings_class("ConnectorSettings", REGISTER_CONNECTOR,
                                   "register-connector's settings: one field per option.")


def parse_connector_settings(argv, environ=None, default_file=None):
    """register-connector's command line and environment -> ConnectorSettings; `file` defaults to
    `default_file` (the script knows where the repository's connectors/ folder is)."""
    return parse_into(ConnectorSettings, REGISTER_CONNECTOR, argv, environ, file=default_file)


FLINK_ENDPOINTS = (
    Option("flink_url", ("--flink-url",), "Flink JobManager REST URL", "FLINK_URL", nonempty,
           "http://127.0.0.1:8081"),
    Option("sql_gateway_url", ("--sql-gateway-url",), "Flink SQL gateway REST URL", "FLINK_SQL_GATEWAY_URL",
           nonempty, "http://127.0.0.1:8084"),
    Option("ui_url", ("--ui-url",), "the Flink web UI address printed at the end (default: the JobManager URL)",
           "FLINK_UI_URL", nonempty),
    Option("timeout", ("--timeout",), "seconds allowed per statement", "THELOOK_FLINK_STATEMENT_TIMEOUT",
           number(float, 0, lo_open=True), 120.0),
    Option("wait", ("--wait",), "seconds to wait for Flink to come up and for jobs to run or cancel",
           "THELOOK_FLINK_WAIT", number(float, 0), 90.0),
)
FLINK_JOB_VALUES = (
    reuse(TOPIC_PREFIX, help="Debezium topic prefix; also prefixes result topics and job names"),
    reuse(SCHEMA, help="PostgreSQL schema of the captured tables"),
    reuse(BOOTSTRAP_SERVERS, default=None, help="Kafka bootstrap servers as seen from the Flink TaskManager "
          "(needed to submit)"),
    Option("sql_dir", ("--sql-dir",), "folder with common.sql and jobs/*.sql (default: the repository's flink/)",
           "THELOOK_FLINK_SQL_DIR", nonempty, metavar="DIR"),
    ListOption("job", ("--job",), "submit only this job (file name without .sql); repeatable (env: "
               "comma-separated)", "THELOOK_FLINK_JOBS", nonempty, metavar="NAME"),
    Option("top_products_window", ("--top-products-window",), "length of the top products window in minutes "
           "(default: 60, the last hour)", "THELOOK_TOP_PRODUCTS_WINDOW", number(int, 1), 60, metavar="MINUTES"),
)
FLINK_JOB_ACTIONS = (
    Option("cancel", ("--cancel",), "cancel this prefix's jobs and exit", kind="flag", default=False),
    Option("explain", ("--explain",), "print the optimized plan of every job (EXPLAIN) and submit none",
           kind="flag", default=False),
)

SUBMIT_FLINK_JOBS = Command(
    prog="submit-flink-jobs",
    description="Submit the Flink SQL analytics jobs of flink/ through the Flink SQL gateway (a job already "
                "running is not started twice). Exit status: 0 all running; 1 a statement or job failed, or "
                "jobs did not run or cancel in time; 2 could not run (bad input, Flink unreachable).",
    groups=(("Flink", FLINK_ENDPOINTS), ("jobs", FLINK_JOB_VALUES), ("actions", FLINK_JOB_ACTIONS)),
    epilog=SOME_VARIABLES,
)
FlinkJobsSettings = settings_class("FlinkJobsSettings", SUBMIT_FLINK_JOBS,
                                   "submit-flink-jobs' settings: one field per option.")


def parse_flink_jobs_settings(argv, environ=None, default_sql_dir=None):
    """submit-flink-jobs' command line and environment -> FlinkJobsSettings; `sql_dir` defaults to
    `default_sql_dir` (the script knows where the repository's flink/ folder is)."""
    return parse_into(FlinkJobsSettings, SUBMIT_FLINK_JOBS, argv, environ, sql_dir=default_sql_dir)


# ------------------------------------------------------------------ scripts/scenario
# (the logic is in thelook_datagen.scenarios; the command line in scenarios/cli.py)

@dataclass(frozen=True)
class Positional(Option):
    """A positional argument (optional on the command line, so that --list needs none)."""

    def add_to(self, group):
        group.add_argument(self.dest, nargs="?", type=self.type, default=None, metavar=self.metavar,
                           help=self.help_text())


SCENARIO_COMMON = (
    Positional("scenario", ("NAME",), "the scenario to run (see --list)", "THELOOK_SCENARIO", nonempty,
               metavar="NAME"),
    Option("list", ("--list",), "list the scenarios, one line each, and exit", kind="flag", default=False),
    reuse(CONNECTOR, help="the Debezium connector on Kafka Connect the scenario works on (its slot, schema and "
          "topic prefix are read from its config)"),
    Option("seed", ("--seed",), "random seed of the scenario's own generator", "THELOOK_SCENARIO_SEED",
           number(int), 1),
    Option("rate", ("--rate",), "visits/s of the scenario's own generator", "THELOOK_SCENARIO_RATE",
           number(float, 0, lo_open=True), 20.0, metavar="VISITS_PER_S"),
    Option("no_generator", ("--no-generator",), "start no generator: the user runs their own (the scenario "
           "needs writes to observe)", "THELOOK_SCENARIO_NO_GENERATOR", kind="flag", default=False),
    Option("json", ("--json",), "print a machine-readable summary (JSON) at the end instead of the timeline",
           "THELOOK_SCENARIO_JSON", kind="flag", default=False),
    Option("verify_timeout", ("--verify-timeout",), "seconds verify may wait for the connector to catch up",
           "THELOOK_SCENARIO_VERIFY_TIMEOUT", number(float, 0, lo_open=True), 180.0, metavar="SECONDS"),
    Option("no_flink_compare", ("--no-flink-compare",), "do not compare the Flink jobs' results with PostgreSQL "
           "at the end (by default they are, when jobs of the connector's topic prefix run)",
           "THELOOK_SCENARIO_NO_FLINK_COMPARE", kind="flag", default=False),
    Option("flink_settle", ("--flink-settle",), "seconds the Flink results may take to equal PostgreSQL's",
           "THELOOK_SCENARIO_FLINK_SETTLE", number(float, 0, lo_open=True), 150.0, metavar="SECONDS"),
)
SCENARIO_OUTAGE = (
    Option("outage", ("--outage",), "seconds the connector is out", "THELOOK_OUTAGE_SECONDS",
           number(float, 1), 60.0, metavar="SECONDS"),
    Option("mode", ("--mode",), "how the connector is taken out: stop (PUT /connectors/NAME/stop, Kafka Connect "
           "3.5+: the task ends and closes its replication connection, as in a real outage) or pause (PUT "
           ".../pause: the task keeps its connection and reads WAL into Debezium's queue); either way the slot "
           "confirms nothing and holds WAL from the first second", "THELOOK_OUTAGE_MODE", str, "stop",
           choices=("stop", "pause")),
    Option("report_interval", ("--report-interval",), "seconds between the slot's retained WAL reports",
           "THELOOK_OUTAGE_REPORT_INTERVAL", number(float, 0.5), 5.0, metavar="SECONDS"),
    Option("wal_sample", ("--wal-sample",), "seconds over which the current WAL rate is measured before the "
           "outage (for the projection)", "THELOOK_OUTAGE_WAL_SAMPLE", number(float, 1), 5.0, metavar="SECONDS"),
    Option("drain_timeout", ("--drain-timeout",), "seconds the backlog may take to drain after the resume",
           "THELOOK_OUTAGE_DRAIN_TIMEOUT", number(float, 1), 300.0, metavar="SECONDS"),
    Option("drain_wal", ("--drain-wal",), "drained means the slot retains at most this many MiB of WAL again "
           "(and confirmed every change written before the resume)", "THELOOK_OUTAGE_DRAIN_WAL",
           number(float, 0, lo_open=True), 16.0, metavar="MIB"),
    Option("drain_lag", ("--drain-lag",), "drained also means the newest change reached Kafka within this many "
           "milliseconds of its commit", "THELOOK_OUTAGE_DRAIN_LAG", number(float, 0, lo_open=True), 2000.0,
           metavar="MS"),
)
SCENARIO_STORM = (
    Option("services", ("--services",), "the services restarted, in this order (comma-separated, of connect, kafka, "
           "postgres, taskmanager)", "THELOOK_STORM_SERVICES", nonempty, "connect,kafka,postgres,taskmanager",
           metavar="LIST"),
    Option("pause_min", ("--pause-min",), "shortest pause before each restart (drawn from --seed)",
           "THELOOK_STORM_PAUSE_MIN", number(float, 0), 5.0, metavar="SECONDS"),
    Option("pause_max", ("--pause-max",), "longest pause before each restart", "THELOOK_STORM_PAUSE_MAX",
           number(float, 0), 20.0, metavar="SECONDS"),
    Option("restart_command", ("--restart-command",), "the command that restarts one service, given its name as "
           "the last argument (default: this checkout's scripts/stack restart; on compose: 'docker compose "
           "restart')", "THELOOK_STORM_RESTART_COMMAND", nonempty, metavar="COMMAND"),
    Option("recover_timeout", ("--recover-timeout",), "seconds each restart and the recovery after it (connector "
           "RUNNING, capture resumed, Flink jobs RUNNING) may take", "THELOOK_STORM_RECOVER_TIMEOUT",
           number(float, 1), 240.0, metavar="SECONDS"),
)
SCENARIO_NODE = (
    Option("node", ("--node",), "the cluster node killed: kafka, kafka-2, kafka-3, connect, connect-2, taskmanager, "
           "taskmanager-2, or KIND:busiest (the node of that kind doing most of the connector's work: "
           "kafka:busiest, connect:busiest, taskmanager:busiest)", "THELOOK_FAILOVER_NODE", nonempty, "kafka-2",
           metavar="NODE"),
    Option("watch", ("--watch",), "seconds the changes are watched before the kill and again after the recovery "
           "(the figures include the changes of both)", "THELOOK_FAILOVER_WATCH", number(float, 0), 10.0,
           metavar="SECONDS"),
    Option("late_ms", ("--late-ms",), "a change is late when it reaches Kafka more than this many ms after its "
           "commit (\"on time again\" = no late change any more)", "THELOOK_FAILOVER_LATE_MS",
           number(float, 0, lo_open=True), 2000.0, metavar="MS"),
    Option("failover_timeout", ("--failover-timeout",), "seconds the pipeline may take to recover without the node",
           "THELOOK_FAILOVER_TIMEOUT", number(float, 1), 240.0, metavar="SECONDS"),
    Option("back_timeout", ("--back-timeout",), "seconds the node may take to be back (started, in sync, given "
           "work or slots)", "THELOOK_FAILOVER_BACK_TIMEOUT", number(float, 1), 240.0, metavar="SECONDS"),
    Option("kill_command", ("--kill-command",), "the command that kills one node, given its name as the last "
           "argument (default: SIGKILL to the local stack's process; on compose: 'docker compose -f compose.yaml "
           "-f compose.cluster.yaml kill -s KILL')", "THELOOK_FAILOVER_KILL_COMMAND", nonempty, metavar="COMMAND"),
    Option("start_command", ("--start-command",), "the command that starts the node again, given its name as the "
           "last argument (default: scripts/stack restart; on compose: 'docker compose -f compose.yaml -f "
           "compose.cluster.yaml start')", "THELOOK_FAILOVER_START_COMMAND", nonempty, metavar="COMMAND"),
)
SCENARIO_SNAPSHOT = (
    Option("snapshot_tables", ("--tables",), "theLook tables the execute-snapshot signal names, comma-separated "
           "(default products,users)", "THELOOK_SNAPSHOT_TABLES", shop_tables, ("products", "users"),
           metavar="TABLE,..."),
    Option("snapshot_timeout", ("--snapshot-timeout",), "seconds the incremental snapshot may take (beyond them "
           "a stop-snapshot signal ends it and the outcome is not the expected one)", "THELOOK_SNAPSHOT_TIMEOUT",
           number(float, 1), 300.0, metavar="SECONDS"),
)
SCENARIO_BIG_TRANSACTION = (
    Option("changes", ("--changes",), "row changes of the one big transaction (INSERTs into the scenario's own "
           "table; the CI runs 50000)", "THELOOK_BIG_TRANSACTION_CHANGES", number(int, 1), 500000, metavar="N"),
    Option("price_factor", ("--price-factor",), "the same transaction multiplies every product's retail_price "
           "by this (a price campaign; not reverted)", "THELOOK_BIG_TRANSACTION_PRICE_FACTOR",
           number(float, 0, lo_open=True), 1.05, metavar="FACTOR"),
    Option("big_timeout", ("--big-timeout",), "seconds the transaction's events may take to reach Kafka after "
           "its COMMIT", "THELOOK_BIG_TRANSACTION_TIMEOUT", number(float, 1), 600.0, metavar="SECONDS"),
)
SCENARIO_REPLICA_IDENTITY = (
    Option("toast_rows", ("--toast-rows",), "rows inserted, then updated, in each of the two tables (REPLICA "
           "IDENTITY DEFAULT and FULL)", "THELOOK_REPLICA_IDENTITY_ROWS", number(int, 1, 100000), 20, metavar="N"),
    Option("toast_kib", ("--toast-kib",), "KiB of random hex in each row's large column (stored out of line "
           "from about 2)", "THELOOK_REPLICA_IDENTITY_TOAST_KIB", number(int, 3, 1024), 16, metavar="KIB"),
)
SCENARIO_SCHEMA_CHANGE = (
    Option("phase", ("--phase",), "seconds the generator writes between two schema changes",
           "THELOOK_SCHEMA_CHANGE_PHASE", number(float, 1), 10.0, metavar="SECONDS"),
    Option("shape_timeout", ("--shape-timeout",), "seconds the first users change in the new shape may take to "
           "reach Kafka after each DDL", "THELOOK_SCHEMA_CHANGE_SHAPE_TIMEOUT", number(float, 1), 60.0,
           metavar="SECONDS"),
)
SCENARIO_SLOT = (
    Option("slot_limit", ("--slot-limit",), "max_slot_wal_keep_size of the scenario's own PostgreSQL, in MiB: the "
           "WAL a stalled slot may hold before PostgreSQL invalidates it (the stack's own server keeps 2GB)",
           "THELOOK_SLOTINV_LIMIT_MB", number(int, 1), 32, metavar="MIB"),
    Option("stall_writes", ("--stall-writes",), "seconds the generator writes while capture is stalled, before "
           "WAL segments are switched past the limit", "THELOOK_SLOTINV_STALL_WRITES", number(float, 0), 5.0,
           metavar="SECONDS"),
    Option("lost_timeout", ("--lost-timeout",), "seconds PostgreSQL may take to invalidate the slot once it holds "
           "more than the limit (a CHECKPOINT a second)", "THELOOK_SLOTINV_LOST_TIMEOUT", number(float, 1), 60.0,
           metavar="SECONDS"),
    Option("observe", ("--observe",), "seconds the connector, resumed on the invalidated slot, is watched",
           "THELOOK_SLOTINV_OBSERVE", number(float, 1), 10.0, metavar="SECONDS"),
)
SCENARIO_ENDPOINTS = (
    CONNECT_URL,
    FLINK_ENDPOINTS[0],
    reuse(FLINK_JOB_VALUES[-1], help="the top products window the jobs were submitted with, in minutes (for the "
          "comparison of their results; default: 60, as submit-flink-jobs)"),
    Option("prometheus_url", ("--prometheus-url",), "Prometheus URL: when it answers, Debezium's "
           "milliseconds behind source is reported too (default: none)", "PROMETHEUS_URL", nonempty),
)

SCENARIO = Command(
    prog="scenario",
    description="Runs a CDC scenario against the running stack (a situation that breaks real pipelines), prints "
                "a timeline of what it does and observes, ends with thelook-datagen verify and cleans up what "
                "it created. Exit status: 0 the expected outcome; 1 not; 2 could not run (stack down, connector "
                "not registered, bad input).",
    groups=(("scenario", SCENARIO_COMMON), ("connector-outage", SCENARIO_OUTAGE),
            ("incremental-snapshot", SCENARIO_SNAPSHOT), ("restart-storm", SCENARIO_STORM),
            ("big-transaction", SCENARIO_BIG_TRANSACTION), ("replica-identity", SCENARIO_REPLICA_IDENTITY),
            ("schema-change", SCENARIO_SCHEMA_CHANGE), ("slot-invalidated", SCENARIO_SLOT),
            ("node-failure", SCENARIO_NODE),
            ("PostgreSQL", tuple(reuse(SCHEMA, default=None, env=None, help="schema of the captured tables "
                                       "(default: from the connector's table.include.list)")
                                 if o is SCHEMA else o for o in POSTGRES)),
            ("Kafka", tuple(reuse(TOPIC_PREFIX, default=None, env=None, help="the connector's topic.prefix "
                                  "(default: from its config)") if o is TOPIC_PREFIX else o for o in KAFKA)),
            ("endpoints", SCENARIO_ENDPOINTS)),
    epilog=SOME_VARIABLES,
)


def _scenario_conn_kw(self):
    return {**_conn_kw(self), "application_name": "thelook-scenario"}


ScenarioSettings = settings_class("ScenarioSettings", SCENARIO, "scripts/scenario's settings: one field per "
                                  "option.", conn_kw=property(_scenario_conn_kw))


def parse_scenario_settings(argv, environ=None):
    return parse_into(ScenarioSettings, SCENARIO, argv, environ)
