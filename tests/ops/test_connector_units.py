"""thelook_datagen.ops.connector without Kafka Connect: the config helpers, reading Connect's answers,
the order of checks, and the command line's lines and exit statuses. No service, no network."""
import json
from pathlib import Path

import pytest
import requests

from thelook_datagen import options
from thelook_datagen.errors import UserError
from thelook_datagen.ops import Failed, OpsError, cli, connector, exit_status
from thelook_datagen.ops.rest import Rest, RestError

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR_FILE = ROOT / "connectors" / "thelook-postgres.json"
FLAGS = options.REGISTER_CONNECTOR.flags()

CONFIG = {
    "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
    "database.hostname": "db", "database.port": "5432",
    "database.password": "hunter2",
    "sasl.jaas.config": "${file:/secrets:jaas}",
    "table.include.list": "demo.users,demo.orders,demo.heartbeat",
    "heartbeat.action.query": "INSERT INTO demo.heartbeat (id, ts) VALUES (1, now()) ON CONFLICT (id) DO UPDATE "
                              "SET ts = EXCLUDED.ts; -- not mydemo.x",
    "schema.include.list": "demo",
    "slot.name": "thelook_slot", "topic.prefix": "ecomm",
}
DOC = {"name": "thelook-postgres", "config": CONFIG}


class NoConnect(Rest):
    """A Kafka Connect client that fails the test if anything contacts it."""

    def __init__(self):
        super().__init__("http://connect.invalid", "Kafka Connect")

    def send(self, *args, **kwargs):
        raise AssertionError(f"Kafka Connect contacted: {args}")


# ---------------------------------------------------------------- secrets

def test_mask_hides_literal_secrets_and_keeps_provider_references():
    masked = connector.mask(CONFIG)
    assert masked["database.password"] == "******"
    assert masked["sasl.jaas.config"] == "${file:/secrets:jaas}"
    assert masked["database.hostname"] == "db"
    assert CONFIG["database.password"] == "hunter2", "the config itself is not changed"
    assert connector.mask({"database.password": ""}) == {"database.password": ""}


def test_scrub_removes_literal_secret_values_from_text():
    text = "FATAL: password authentication failed for user thelook (password hunter2) at db:5432"
    assert connector.scrub(text, CONFIG) == ("FATAL: password authentication failed for user thelook "
                                              "(password ******) at db:5432")
    assert connector.scrub("${file:/secrets:jaas}", CONFIG) == "${file:/secrets:jaas}"


# ---------------------------------------------------------------- overrides

@pytest.mark.parametrize("tables, schema", [
    ("demo.users,demo.orders", "demo"),
    (" demo.users , demo.orders ", "demo"),
    ("a.x,b.y", None),
    ("users", None),
    ("", None),
    (None, None),
])
def test_schema_of(tables, schema):
    assert connector.schema_of(tables) == schema


def test_apply_overrides_rewrites_schema_everywhere_and_leaves_the_document_alone():
    before = json.dumps(DOC, sort_keys=True)
    name, config = connector.apply_overrides(DOC, name="iso", topic_prefix="t2", schema="shop2", slot="s2",
                                             publication="p2")
    assert name == "iso"
    assert config["topic.prefix"] == "t2" and config["slot.name"] == "s2" and config["publication.name"] == "p2"
    assert config["table.include.list"] == "shop2.users,shop2.orders,shop2.heartbeat"
    assert config["heartbeat.action.query"].startswith("INSERT INTO shop2.heartbeat ")
    assert "mydemo.x" in config["heartbeat.action.query"], "only whole schema names are replaced"
    assert config["schema.include.list"] == "shop2"
    assert json.dumps(DOC, sort_keys=True) == before


def test_apply_overrides_without_overrides_is_the_file():
    assert connector.apply_overrides(DOC) == ("thelook-postgres", CONFIG)


def test_schema_override_needs_one_schema_in_the_table_list():
    doc = {"name": "x", "config": dict(CONFIG, **{"table.include.list": "a.x,b.y"})}
    with pytest.raises(OpsError) as e:
        connector.apply_overrides(doc, schema="s")
    assert e.value.render(FLAGS).startswith("--schema needs a table.include.list")
    assert str(e.value).startswith("schema needs"), "library messages name the setting, not the flag"


# ---------------------------------------------------------------- the config

def test_check_config_accepts_the_shipped_connector():
    doc = connector.load_document(CONNECTOR_FILE)
    assert connector.check_config(doc["config"]) == []


@pytest.mark.parametrize("drop, word", [("connector.class", "connector.class"),
                                        ("table.include.list", "table.include.list")])
def test_check_config_refuses(drop, word):
    config = {k: v for k, v in CONFIG.items() if k != drop}
    with pytest.raises(OpsError, match=word) as e:
        connector.check_config(config)
    assert exit_status(e.value) == 2


def test_check_config_refuses_a_blank_table_list_and_warns_without_slot():
    with pytest.raises(OpsError, match="every table"):
        connector.check_config(dict(CONFIG, **{"table.include.list": "  "}))
    config = {k: v for k, v in CONFIG.items() if k != "slot.name"}
    warnings = connector.check_config(config)
    assert len(warnings) == 1 and "slot.name" in warnings[0]


@pytest.mark.parametrize("content, word", [
    (None, "not found"), ("{nope", "not valid JSON"), ('{"name": "x"}', "Kafka Connect REST format"),
    ('{"config": {}}', 'no "name"'), ('[1]', "Kafka Connect REST format"),
])
def test_load_document_errors(tmp_path, content, word):
    path = tmp_path / "c.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(OpsError, match=word):
        connector.load_document(path)


def test_register_checks_the_config_before_contacting_connect():
    config = {k: v for k, v in CONFIG.items() if k != "table.include.list"}
    with pytest.raises(OpsError, match="table.include.list"):
        connector.register(NoConnect(), "x", config, timeout=60)


# ---------------------------------------------------------------- Connect's answers

TRACE = """org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer
\tat io.debezium.Foo.bar(Foo.java:1)
Caused by: org.postgresql.util.PSQLException: The connection attempt failed.
\tat org.postgresql.Baz(Baz.java:2)
Caused by: java.net.ConnectException: Connection refused
\tat java.base/sun.nio.ch.Net.connect0(Native Method)
"""


@pytest.mark.parametrize("trace, line", [
    (TRACE, "java.net.ConnectException: Connection refused"),
    ("java.lang.IllegalStateException: boom\n\tat x.y(Z.java:1)\n", "java.lang.IllegalStateException: boom"),
    ("\n  \n", "no trace"),
    ("", "no trace"),
    (None, "no trace"),
])
def test_summarize_trace(trace, line):
    assert connector.summarize_trace(trace) == line


@pytest.mark.parametrize("text, words", [
    ("io.debezium.DebeziumException: No table filters found for filtered publication",
     ["none of the tables", "demo.users,demo.orders,demo.heartbeat", "--schema"]),
    ("FATAL: password authentication failed for user", ["wrong database password", "${env:PGPASSWORD}"]),
    ("Saved offset LSN is no longer available on the server", ["--name", "--delete --reset-offsets"]),
    (TRACE, ["not reachable from the Connect worker at db:5432"]),
    ("something else entirely", []),
])
def test_hint(text, words):
    hint = connector.hint(text, CONFIG)
    rendered = UserError("failed" + hint).render(FLAGS)
    if not words:
        assert hint == ""
    for word in words:
        assert word in rendered, rendered


def test_retryable_and_fatal_failures():
    assert connector.RETRYABLE.search(TRACE) and not connector.FATAL.search(TRACE)
    wrong = "FATAL: password authentication failed for user \"thelook\""
    assert connector.FATAL.search(wrong)


@pytest.mark.parametrize("offset, done", [
    ({"lsn": 123, "txId": 5}, True),                                  # streaming
    ({"lsn": 123, "snapshot": "INITIAL", "snapshot_completed": False}, False),
    ({"lsn": 123, "snapshot": "INITIAL", "snapshot_completed": True}, True),
    ({"lsn": 123, "snapshot": True, "last_snapshot_record": False}, False),
    ({"lsn": 123, "snapshot": "false"}, True),
    ({"lsn": 123, "snapshot": False}, True),
    ({}, True),
])
def test_snapshot_done(offset, done):
    assert connector.snapshot_done(offset) is done


STATUS = {"name": "c1", "connector": {"state": "RUNNING", "worker_id": "w:8083"},
          "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "w:8083"},
                    {"id": 1, "state": "FAILED", "worker_id": "w:8083", "trace": "x"}]}


def test_state_lines():
    assert connector.state_lines(STATUS) == ["connector c1: RUNNING on w:8083", "  task 0: RUNNING on w:8083",
                                             "  task 1: FAILED on w:8083"]
    assert connector.state_lines({}) == ["connector None: None on None"]


def test_is_running_needs_the_connector_and_every_task():
    assert not connector.is_running(STATUS)
    assert connector.is_running(dict(STATUS, tasks=STATUS["tasks"][:1]))
    assert not connector.is_running(dict(STATUS, tasks=[])), "no task yet is not running"


def test_deleted_names_what_to_drop():
    d = connector.Deleted("c1", True, False, "s1", "p1")
    assert d.drop_sql == "SELECT pg_drop_replication_slot('s1'); DROP PUBLICATION IF EXISTS p1;"


# ---------------------------------------------------------------- the REST client and errors

class DeadSession:
    def request(self, method, url, **kwargs):
        raise requests.ConnectionError("HTTPConnectionPool(host='x', port=1): Max retries exceeded (Caused by "
                                       "NewConnectionError('...: Failed to establish a new connection: "
                                       "[Errno 111] Connection refused'))")


def test_unreachable_connect_is_a_user_error_with_a_short_reason():
    connect = Rest("http://127.0.0.1:1/", "Kafka Connect", fix=connector.CONNECT_FIX, session=DeadSession())
    with pytest.raises(RestError) as e:
        connect.send("GET", "/")
    err = e.value
    assert isinstance(err, UserError) and err.unreachable and exit_status(err) == 2
    assert err.render(FLAGS) == ("Kafka Connect is not reachable at http://127.0.0.1:1: Connection refused "
                                 "(is it running? see scripts/stack status, or set --connect-url)")


def test_failed_means_exit_status_1():
    assert exit_status(Failed("connector x FAILED")) == 1
    assert exit_status(OpsError("bad")) == 2 and exit_status(UserError("bad")) == 2


# ---------------------------------------------------------------- the command line (in process)

def test_print_config_masks_and_needs_no_connect(capsys):
    rc = cli.register_connector(["--print-config", "--name", "n2", "--schema", "s2", "--connect-url",
                                 "http://connect.invalid"], default_file=CONNECTOR_FILE)
    out = capsys.readouterr()
    assert rc == 0 and out.err == ""
    doc = json.loads(out.out)
    assert doc["name"] == "n2" and doc["config"]["table.include.list"].startswith("s2.")


def test_bad_config_is_one_line_and_exit_status_2_without_connect(tmp_path, capsys, monkeypatch):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"name": "x", "config": {"connector.class": "C"}}))
    monkeypatch.setattr(connector, "client", lambda url, timeout=30.0: NoConnect())
    rc = cli.register_connector(["--file", str(path)], default_file=CONNECTOR_FILE)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("register-connector: error: connector config has no "
                                                   "table.include.list"), err


@pytest.mark.parametrize("argv, flag", [(["--rest-offsets"], "--reset-offsets"),
                                        (["--del"], None), (["--delete", "--reset-offset"], "--reset-offsets")])
def test_mistyped_or_abbreviated_option_is_refused(argv, flag, capsys, monkeypatch):
    """Spelled in full only: an abbreviation of --delete must not delete."""
    monkeypatch.setattr(connector, "client", lambda url, timeout=30.0: NoConnect())
    with pytest.raises(SystemExit) as e:
        cli.register_connector(argv, default_file=CONNECTOR_FILE)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("register-connector: error: unrecognized arguments"), err
    if flag:
        assert f"did you mean {flag}?" in err


def test_settings_defaults_and_environment():
    s = options.parse_connector_settings([], environ={}, default_file="/repo/connectors/c.json")
    assert (s.file, s.connect_url, s.timeout, s.settle) == ("/repo/connectors/c.json", "http://127.0.0.1:8083",
                                                            120.0, 3.0)
    assert (s.name, s.topic_prefix, s.schema, s.slot, s.publication) == (None,) * 5, "overrides default to the file"
    env = {"CONNECT_URL": "http://c:8083", "THELOOK_TOPIC_PREFIX": "t9", "THELOOK_SCHEMA": "s9",
           "THELOOK_REGISTER_TIMEOUT": "600", "THELOOK_WAIT_SNAPSHOT": "true"}
    s = options.parse_connector_settings([], environ=env)
    assert (s.connect_url, s.timeout, s.wait_snapshot) == ("http://c:8083", 600.0, True)
    assert (s.topic_prefix, s.schema) == (None, None), "the file's prefix and schema change only on the command line"


def test_apply_overrides_moves_the_signal_table_and_the_notification_topic_with_schema_and_prefix():
    doc = connector.load_document(CONNECTOR_FILE)
    _, config = connector.apply_overrides(doc, schema="shop2", topic_prefix="t2")
    assert config["signal.data.collection"] == "shop2.debezium_signal"
    assert "shop2.debezium_signal" in config["table.include.list"].split(","), "signals are read from the stream"
    assert config["notification.sink.topic.name"] == "t2.debezium_notifications"
    _, same = connector.apply_overrides(doc)
    assert same["signal.data.collection"] == doc["config"]["signal.data.collection"]
    assert same["notification.sink.topic.name"] == doc["config"]["notification.sink.topic.name"]
