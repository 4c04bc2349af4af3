"""The Debezium PostgreSQL connector on Kafka Connect: create or update it and wait until it runs,
or delete it (optionally erasing the offsets Connect keeps under its name).

    doc = load_document("connectors/thelook-postgres.json")
    name, config = apply_overrides(doc, name="shop2", schema="shop2", topic_prefix="t2", slot="shop2")
    connect = client("http://127.0.0.1:8083")
    status = register(connect, name, config, timeout=120, say=print)   # RUNNING, or raises
    delete(connect, name, reset_offsets=True, say=print)

`register` checks the config first (no Kafka Connect needed), then waits (within `timeout`) for
Connect, checks the plugin and Connect's own validation, PUTs the config (create or update), and
waits until the connector and all its tasks are RUNNING. A task that fails because the captured
tables do not exist yet (the generator creates them on its first start) or because PostgreSQL is
(re)starting is restarted until the timeout; any other failure raises `Failed` with the task's
trace in `details`. Literal secrets of the config never appear in messages (`scrub`).

Errors name the caller's settings as {opt:NAME}: connect_url, file, name, schema, slot, delete,
reset_offsets (see errors.py).
"""
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from . import Failed, OpsError, quiet
from .rest import Rest, RestError

SECRET_KEY = re.compile(r"password|secret|sasl\.jaas\.config|ssl\.key", re.I)
# Task failures worth a restart: the tables are not created yet, or the database is (re)starting.
RETRYABLE = re.compile(
    r"No table filters found|relation .* does not exist|Connection refused|I/O error|"
    r"the database system is (starting up|shutting down|in recovery mode)|terminating connection|"
    r"Connection to .* refused|connection attempt failed|could not connect|replication slot .* is active",
    re.I)
# Failures no retry can fix: tell the user at once.
FATAL = re.compile(
    r"password authentication failed|no pg_hba\.conf entry|role \".*\" does not exist|"
    r"database \".*\" does not exist|must be superuser or replication role|permission denied|"
    r"logical decoding requires wal_level|wal_level",
    re.I)
# A task that starts on an invalidated slot: Debezium (3.x) retries a slot whose restart_lsn is NULL for
# 30 minutes ("Cannot obtain valid replication slot ... concurrent tx probably blocks taking snapshot"), then
# fails with the first of these; PostgreSQL's own refusal is the second.
SLOT_LOST_TRACE = re.compile(r"Unable to obtain valid replication slot|can no longer get changes from replication slot|"
                             r"has been invalidated", re.I)
RUNBOOK = "README.md#recovering-from-an-invalidated-slot"
CONNECT_FIX = "is it running? see scripts/stack status, or set {opt:connect_url}"
UNASSIGNED_NOTE = ("; UNASSIGNED: the Connect worker rejoined its group and holds the work of its old membership "
                   "for scheduled.rebalance.max.delay.ms (default 5 min; 0 suits one worker)")


def client(url, timeout=30.0):
    """The REST client for Kafka Connect at `url`."""
    return Rest(url, "Kafka Connect", fix=CONNECT_FIX, timeout=timeout)


# ---------------------------------------------------------------- the config (no Connect needed)

def _literal_secret(key, value):
    return bool(SECRET_KEY.search(key)) and isinstance(value, str) and bool(value) and not value.startswith("${")


def mask(config):
    """The config as printable: literal secrets hidden, config-provider references (${...}) kept."""
    return {key: "******" if _literal_secret(key, value) else value for key, value in config.items()}


def scrub(text, config):
    """`text` (a message, a trace) with the config's literal secret values replaced by ******."""
    for key, value in config.items():
        if _literal_secret(key, value):
            text = text.replace(value, "******")
    return text


def load_document(path):
    """The connector JSON in Connect's REST format {"name": ..., "config": {...}}."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise OpsError(f"connector file not found: {path}", "set {opt:file}") from None
    except (OSError, ValueError) as err:
        raise OpsError(f"connector file {path} is not valid JSON: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise OpsError(f"connector file {path} must be {{\"name\": ..., \"config\": {{...}}}} "
                       "(Kafka Connect REST format)")
    if not doc.get("name"):
        raise OpsError(f"connector file {path} has no \"name\"")
    return doc


def schema_of(table_list):
    """The one schema all entries of a table.include.list name, or None (none, or several)."""
    schemas = {t.strip().split(".", 1)[0] for t in (table_list or "").split(",") if "." in t}
    return schemas.pop() if len(schemas) == 1 else None


def apply_overrides(doc, name=None, topic_prefix=None, schema=None, slot=None, publication=None):
    """(name, config) of a connector document with name, topic prefix, schema, slot and publication
    replaced where given, so that runs can be isolated. The schema rewrites table.include.list, the
    heartbeat query, schema.include.list and signal.data.collection; the topic prefix also renames the
    notification topic PREFIX.x. The document is not changed."""
    config = dict(doc["config"])
    name = name or doc["name"]
    if topic_prefix:
        old_prefix = config.get("topic.prefix")
        config["topic.prefix"] = topic_prefix
        # the notification topic is named after the prefix, so that each connector has its own
        notify = config.get("notification.sink.topic.name")
        if notify and old_prefix and notify.startswith(old_prefix + "."):
            config["notification.sink.topic.name"] = topic_prefix + notify[len(old_prefix):]
    if slot:
        config["slot.name"] = slot
    if publication:
        config["publication.name"] = publication
    if schema:
        tables = config.get("table.include.list", "")
        old = schema_of(tables)
        if old is None:
            raise OpsError("{opt:schema} needs a table.include.list whose entries all name one schema "
                           "(schema.table,...)")
        config["table.include.list"] = ",".join(
            schema + "." + t.strip().split(".", 1)[1] for t in tables.split(",") if t.strip())
        query = config.get("heartbeat.action.query")
        if query:
            config["heartbeat.action.query"] = re.sub(rf"\b{re.escape(old)}\.", schema + ".", query)
        if "schema.include.list" in config:
            config["schema.include.list"] = schema
        # the signal table (incremental snapshots) lives in the captured schema
        signal = config.get("signal.data.collection")
        if signal and "." in signal:
            config["signal.data.collection"] = schema + "." + signal.split(".", 1)[1]
    return name, config


def check_config(config):
    """Refuses a config that cannot be right (OpsError); returns warnings (a list of lines)."""
    if not config.get("connector.class"):
        raise OpsError("connector config has no connector.class")
    if not (config.get("table.include.list") or "").strip():
        raise OpsError("connector config has no table.include.list: it would capture every table of the "
                       "database", "list the tables to capture (schema.table,...)")
    warnings = []
    if config.get("slot.name") is None:
        warnings.append("warning: no slot.name; Debezium's default slot 'debezium' may collide with other "
                        "connectors")
    return warnings


# ---------------------------------------------------------------- reading Connect's answers

def summarize_trace(trace):
    """The most telling line of a Java trace: the deepest 'Caused by', else the first line."""
    lines = [ln.strip() for ln in (trace or "").splitlines() if ln.strip()]
    if not lines:
        return "no trace"
    causes = [ln for ln in lines if ln.startswith("Caused by:")]
    return causes[-1][len("Caused by:"):].strip() if causes else lines[0]


def hint(text, config):
    """What the user most likely has to do about a known failure (': ...'), or ''."""
    if SLOT_LOST_TRACE.search(text):
        return (f": replication slot {config.get('slot.name')} is probably invalidated (wal_status lost in "
                f"pg_replication_slots); the connector cannot stream from it again: see {RUNBOOK}")
    if re.search(r"No table filters found", text):
        return (f": none of the tables in table.include.list ({config.get('table.include.list')}) exists; "
                "create them first (the generator does on its first start) or fix {opt:schema}")
    if re.search(r"password authentication failed", text):
        return ": wrong database password (the Connect worker supplies it, e.g. ${env:PGPASSWORD})"
    if re.search(r"no longer available on the server", text):
        return (": Connect holds offsets under this connector name from an earlier run whose replication slot "
                "is gone; use another {opt:name}, or remove this one with {opt:delete} {opt:reset_offsets} first")
    if re.search(r"Connection refused|could not connect|connection attempt failed", text):
        return (": PostgreSQL is not reachable from the Connect worker at "
                f"{config.get('database.hostname')}:{config.get('database.port')}")
    return ""


def state_lines(status):
    """A connector's status (GET /connectors/NAME/status) as lines: the connector, then each task."""
    c = status.get("connector", {})
    lines = [f"connector {status.get('name')}: {c.get('state')} on {c.get('worker_id')}"]
    for t in status.get("tasks", []):
        lines.append(f"  task {t.get('id')}: {t.get('state')} on {t.get('worker_id')}")
    return lines


def snapshot_done(offset):
    """Whether a committed Debezium offset is past the initial snapshot: a streaming offset, or the
    snapshot's last one."""
    return ("snapshot" not in offset or offset.get("snapshot_completed") is True
            or str(offset.get("snapshot")).lower() == "false")


def is_running(status):
    """The connector and all of its (at least one) tasks are RUNNING."""
    tasks = status.get("tasks", [])
    return (status.get("connector", {}).get("state") == "RUNNING" and bool(tasks)
            and all(t.get("state") == "RUNNING" for t in tasks))


def _path(name):
    return f"/connectors/{quote(name, safe='')}"


def _message(body):
    return (body or {}).get("message", body) if isinstance(body, dict) else body


# ---------------------------------------------------------------- the replication slot, asked directly

def _from_env(value, environ):
    """A config value, a ${env:NAME} reference resolved from `environ` (None when unset)."""
    match = re.fullmatch(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", str(value)) if value is not None else None
    return environ.get(match.group(1)) if match else value


def slot_state(config, environ, timeout=3):
    """(wal_status, invalidation_reason) of the config's replication slot, asked of its database directly;
    None when the slot does not exist, or when the database cannot be reached from here (Connect reaches it,
    not necessarily this host: a compose network), or named through a config provider this process cannot
    read. Best effort: it is asked only to say clearly what Connect does not."""
    kw = {key: _from_env(config.get(prop), environ) for key, prop in (
        ("host", "database.hostname"), ("port", "database.port"), ("user", "database.user"),
        ("password", "database.password"), ("dbname", "database.dbname"))}
    if any(v is None or str(v).startswith("${") for v in kw.values()):
        return None
    import psycopg2
    try:
        conn = psycopg2.connect(**kw, connect_timeout=timeout, application_name="register-connector")
    except psycopg2.Error:
        return None
    try:
        with conn.cursor() as cur:
            # invalidation_reason exists from PostgreSQL 17 on: read through to_jsonb to work on older ones
            cur.execute("SELECT wal_status, to_jsonb(s) ->> 'invalidation_reason' FROM pg_replication_slots s "
                        "WHERE slot_name = %s", (config.get("slot.name") or "debezium",))
            row = cur.fetchone()
        return tuple(row) if row else None
    except psycopg2.Error:
        return None
    finally:
        conn.close()


def check_slot(name, config, environ):
    """Raises Failed (one line) when the config's slot is invalidated (wal_status lost): PostgreSQL removed WAL
    the slot still needed, and no connector can stream from it again. Connect would not say so: Debezium
    retries such a slot for 30 minutes with no task status and a misleading warning in Connect's log."""
    state = slot_state(config, environ)
    if not state or state[0] != "lost":
        return
    slot = config.get("slot.name") or "debezium"
    where = (f"{_from_env(config.get('database.hostname'), environ)}:{_from_env(config.get('database.port'), environ)}"
             f"/{_from_env(config.get('database.dbname'), environ)}")
    raise Failed(f"replication slot {slot} at {where} is invalidated (wal_status lost"
                 + (f", {state[1]}" if state[1] else "") + f"): PostgreSQL removed WAL it still needed "
                 f"(max_slot_wal_keep_size), so connector {name} can never stream from it again",
                 f"recover: delete the connector with {{opt:delete}} {{opt:reset_offsets}}, drop the slot, recreate "
                 f"the topics and register again for a new snapshot; see {RUNBOOK}")


# ---------------------------------------------------------------- talking to Connect

def wait_for_connect(connect, timeout, say=quiet):
    """Waits up to `timeout` seconds until Kafka Connect answers; returns its GET / (version...)."""
    info = connect.wait_ready("/", timeout)
    say(f"Kafka Connect {(info or {}).get('version', '?')} is up at {connect.url}")
    return info


def check_plugin(connect, connector_class):
    """Raises OpsError unless Connect has the connector's plugin."""
    reply = connect.send("GET", "/connector-plugins")
    if reply.status != 200:
        raise connect.refused("GET", "/connector-plugins", reply, "Kafka Connect could not list its connector plugins")
    classes = {p.get("class") for p in reply.body or []}
    if connector_class not in classes:
        raise OpsError(f"Kafka Connect at {connect.url} has no plugin {connector_class} on its plugin.path "
                       f"(it has: {', '.join(sorted(c for c in classes if c)) or 'none'})")


def validation_problems(connect, name, config):
    """Connect's own validation (the connector checks its settings and connects to the database):
    the problems as 'setting: message' lines, secrets scrubbed; [] when valid."""
    cls = config["connector.class"].rsplit(".", 1)[-1]
    reply = connect.send("PUT", f"/connector-plugins/{cls}/config/validate", {"name": name, **config}, timeout=90)
    if reply.status != 200:
        raise OpsError(f"Kafka Connect rejected the config (HTTP {reply.status}): "
                       f"{scrub(str(_message(reply.body)), config)}")
    problems = []
    for item in (reply.body or {}).get("configs", []):
        value = item.get("value") or {}
        for error in value.get("errors") or []:
            problems.append(f"{value.get('name')}: {scrub(error, config)}")
    return problems


def put_config(connect, name, config, deadline):
    """Creates or updates the connector (PUT /connectors/NAME/config); True if it was created."""
    while True:
        reply = connect.send("PUT", _path(name) + "/config", config, timeout=90)
        if reply.status in (200, 201):
            return reply.status == 201
        # 409: a rebalance is in progress; Connect asks to retry.
        if reply.status == 409 and time.monotonic() < deadline:
            time.sleep(1)
            continue
        message = scrub(str(_message(reply.body)), config)
        raise OpsError(f"Kafka Connect refused connector {name} (HTTP {reply.status}): "
                       f"{message.splitlines()[0] if message else ''}")


def get_status(connect, name):
    """The connector's status (GET /connectors/NAME/status), or None when it is not registered."""
    reply = connect.send("GET", _path(name) + "/status")
    if reply.status == 404:
        return None
    if reply.status != 200:
        raise connect.refused("GET", _path(name) + "/status", reply)
    return reply.body


def wait_running(connect, name, config, deadline, settle=3.0, say=quiet):
    """Waits until the connector and all its tasks have been RUNNING for `settle` seconds (a task turns
    RUNNING before its snapshot starts: stay a moment to catch an early failure); returns the status.
    Restarts tasks that failed for a retryable reason until the deadline; raises Failed otherwise."""
    path = _path(name)
    shown, status, code = None, None, None
    running_since = None
    restarts = 0
    while True:
        try:
            code, status = connect.send("GET", path + "/status")
        except RestError as err:
            code, status = None, {"message": str(err)}
        if code == 200:
            lines = state_lines(status)
            if lines != shown:
                for line in lines:
                    say(line)
                shown = lines
            failed = [t for t in status.get("tasks", []) if t.get("state") == "FAILED"]
            if status.get("connector", {}).get("state") == "FAILED":
                failed.append(status["connector"])
            if failed:
                trace = scrub(failed[0].get("trace", ""), config)
                reason = summarize_trace(trace)
                if RETRYABLE.search(trace) and not FATAL.search(trace) and time.monotonic() < deadline:
                    restarts += 1
                    say(f"task failed ({reason}); restarting it (attempt {restarts}), waiting for the tables "
                        "or the database")
                    connect.send("POST", path + "/restart?includeTasks=true&onlyFailed=true")
                    time.sleep(min(5, 1 + restarts))
                    running_since = None
                    continue
                raise Failed(f"connector {name} FAILED: {reason}{hint(trace, config)}",
                             "left registered for inspection; remove it with {opt:delete}", details=[trace])
            if is_running(status):
                running_since = running_since or time.monotonic()
                if time.monotonic() - running_since >= settle:
                    return status
            else:
                running_since = None
        if time.monotonic() >= deadline:
            where = "; ".join(shown or [str((status or {}).get("message", code))])
            unassigned = code == 200 and "UNASSIGNED" in json.dumps(status)
            raise Failed(f"connector {name} not RUNNING after the timeout ({where})"
                         + (UNASSIGNED_NOTE if unassigned else ""))
        time.sleep(0.5)


def wait_snapshot(connect, name, config, deadline, say=quiet):
    """Waits until Connect has committed an offset past the initial snapshot (GET
    /connectors/NAME/offsets); before that, a task that fails starts the snapshot over. Returns
    False when this Connect has no offsets endpoint (nothing waited for), else True."""
    path = _path(name)
    t0 = time.monotonic()
    noted = t0
    while True:
        code, body = connect.send("GET", path + "/offsets")
        if code in (404, 405):
            say("this Kafka Connect has no offsets endpoint; not waiting for the snapshot")
            return False
        offsets = ((body or {}).get("offsets") or []) if code == 200 else []
        if offsets and all(snapshot_done(o.get("offset") or {}) for o in offsets):
            say(f"initial snapshot committed ({time.monotonic() - t0:.0f} s); streaming changes")
            return True
        _, status = connect.send("GET", path + "/status")
        failed = [t for t in (status or {}).get("tasks", []) if t.get("state") == "FAILED"]
        if failed:
            trace = scrub(failed[0].get("trace", ""), config)
            raise Failed(f"connector {name} FAILED during its snapshot: {summarize_trace(trace)}", details=[trace])
        if time.monotonic() >= deadline:
            raise Failed(f"connector {name} did not commit its initial snapshot before the timeout "
                         f"({time.monotonic() - t0:.0f} s); it is still running: see {connect.url}{path}/status")
        if time.monotonic() - noted >= 10:
            noted = time.monotonic()
            say(f"initial snapshot in progress ({noted - t0:.0f} s)")
        time.sleep(1)


def register(connect, name, config, *, timeout=120.0, settle=3.0, validate=True, snapshot=False, say=quiet,
             environ=None):
    """Creates or updates connector `name` with `config` and waits until it and its tasks are
    RUNNING (and, with `snapshot`, until its initial snapshot is committed), all within `timeout`
    seconds. Returns the connector's status. Raises OpsError (bad config, Connect unreachable or
    refusing) or Failed (the connector FAILED or is not RUNNING in time, or its replication slot is
    invalidated: asked of the database directly, ${env:...} references resolved from `environ`,
    default os.environ)."""
    for warning in check_config(config):          # before contacting Connect
        say(warning)
    check_slot(name, config, os.environ if environ is None else environ)
    deadline = time.monotonic() + timeout
    wait_for_connect(connect, timeout, say)
    check_plugin(connect, config["connector.class"])
    if validate:
        problems = validation_problems(connect, name, config)
        # The database may still be starting (compose, restarts): validation connects to it.
        while problems and time.monotonic() < deadline and all(
                RETRYABLE.search(p) and not FATAL.search(p) for p in problems):
            say(f"validation: {problems[0]}; retrying")
            time.sleep(2)
            problems = validation_problems(connect, name, config)
        if problems:
            raise OpsError(f"invalid connector config: {problems[0]}{hint(problems[0], config)}"
                           + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                           details=[f"  invalid: {p}" for p in problems])
    created = put_config(connect, name, config, deadline)
    say(f"connector {name} {'created' if created else 'updated'}: topics {config.get('topic.prefix')}.<schema>.<table>, "
        f"slot {config.get('slot.name')}, tables {config.get('table.include.list')}")
    status = wait_running(connect, name, config, deadline, settle, say)
    say(f"connector {name} and its tasks are RUNNING")
    if snapshot:
        wait_snapshot(connect, name, config, deadline, say)
    return status


def reset_offsets(connect, name, deadline, say=quiet):
    """Stops the connector and erases its committed offsets (Connect keeps them under the connector's
    name even after a delete, so a new connector of the same name would resume from them)."""
    path = _path(name)
    reply = connect.send("PUT", path + "/stop")
    if reply.status not in (200, 202, 204):
        raise connect.refused("PUT", path + "/stop", reply, f"stopping connector {name} failed")
    while True:
        code, status = connect.send("GET", path + "/status")
        if code == 200 and status.get("connector", {}).get("state") == "STOPPED":
            break
        if time.monotonic() >= deadline:
            raise Failed(f"connector {name} did not stop before the timeout")
        time.sleep(0.5)
    reply = connect.send("DELETE", path + "/offsets")
    if reply.status not in (200, 204):
        raise connect.refused("DELETE", path + "/offsets", reply, f"erasing the offsets of {name} failed")
    say(f"connector {name} stopped and its offsets erased")


@dataclass
class Deleted:
    """What `delete` did. The replication slot and publication stay in PostgreSQL (the slot keeps
    WAL until dropped): `drop_sql` drops them."""
    name: str
    existed: bool
    offsets_erased: bool
    slot: str
    publication: str

    @property
    def drop_sql(self):
        return (f"SELECT pg_drop_replication_slot('{self.slot}'); "
                f"DROP PUBLICATION IF EXISTS {self.publication};")


def delete(connect, name, config=None, *, reset=False, timeout=120.0, say=quiet):
    """Removes connector `name` (waiting up to `timeout` for Connect); with `reset` also erases its
    offsets first (if that fails, e.g. an UNASSIGNED connector cannot stop, it still deletes). The
    slot and publication named are those of the registered config, else of `config`."""
    deadline = time.monotonic() + timeout
    wait_for_connect(connect, timeout, say)
    config = dict(config or {})
    path = _path(name)
    erased = False
    code, registered = connect.send("GET", path + "/config")
    if code == 200 and isinstance(registered, dict):
        config = registered  # name the slot the connector really used
        if reset:
            try:
                reset_offsets(connect, name, deadline, say)
                erased = True
            except OpsError as err:
                say(f"warning: offsets not erased ({err}); deleting the connector anyway")
    result = Deleted(name, True, erased, config.get("slot.name", "debezium"),
                     config.get("publication.name", "dbz_publication"))
    reply = connect.send("DELETE", path)
    if reply.status == 404:
        say(f"connector {name} is not registered; nothing to delete")
        result.existed = False
        return result
    if reply.status not in (200, 204):
        raise connect.refused("DELETE", path, reply, f"deleting connector {name} failed")
    say(f"connector {name} deleted")
    say(f"the replication slot '{result.slot}' and publication '{result.publication}' stay in PostgreSQL, and "
        f"the slot keeps WAL until dropped: {result.drop_sql}")
    return result
