"""incremental-snapshot without a stack: its options and their one-line errors, the connector config it needs
(signalling table, channels), the signal rows, Debezium's notifications as they arrive (3.6.1's format), and
the check of each table's read events."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import free_port, one_line_error

from thelook_datagen import options
from thelook_datagen.ops import connector
from thelook_datagen.scenarios import ScenarioError, lookup
from thelook_datagen.scenarios.incremental_snapshot import (notification, rate, read_problems, signal_config,
                                                            signal_row)

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scripts" / "scenario"


def scenario(*args, env=None):
    return subprocess.run([sys.executable, str(SCENARIO), *map(str, args)], capture_output=True, text=True,
                          timeout=60, env=env)


def test_options_defaults_environment_and_lookup():
    s = options.parse_scenario_settings(["incremental-snapshot"], environ={})
    assert (s.snapshot_tables, s.snapshot_timeout) == (("products", "users"), 300.0)
    s = options.parse_scenario_settings(["incremental-snapshot", "--tables", "users, orders,users"],
                                        environ={"THELOOK_SNAPSHOT_TIMEOUT": "45", "THELOOK_SNAPSHOT_TABLES": "events"})
    assert (s.snapshot_tables, s.snapshot_timeout) == (("users", "orders"), 45.0), "command line first, no repeats"
    assert callable(lookup("incremental-snapshot"))


@pytest.mark.parametrize("args, env, fragment", [
    (["--tables", "products,heartbeat"], {}, "argument --tables: not a theLook table: heartbeat (choose from "),
    (["--tables", " , "], {}, "argument --tables: no table given"),
    ([], {"THELOOK_SNAPSHOT_TABLES": "debezium_signal"}, "environment variable THELOOK_SNAPSHOT_TABLES: not a "
                                                         "theLook table: debezium_signal"),
    (["--snapshot-timeout", "0"], {}, "argument --snapshot-timeout: must be >= 1, got 0"),
])
def test_bad_values_are_one_line_exit_2_before_anything_is_contacted(args, env, fragment):
    import os
    res = scenario("incremental-snapshot", "--connect-url", f"http://127.0.0.1:{free_port()}", *args,
                   env={**os.environ, **env})
    assert res.returncode == 2 and not res.stdout
    assert fragment in one_line_error(res, "scenario: error: ")


def _config(**changes):
    doc = connector.load_document(ROOT / "connectors" / "thelook-postgres.json")
    _, config = connector.apply_overrides(doc, schema="shop", topic_prefix="p1", publication="pub1")
    config.update(changes)
    return {k: v for k, v in config.items() if v is not None}


def test_signal_config_of_the_projects_connector():
    assert signal_config(_config(), "shop") == ("shop.debezium_signal", "pub1", "p1.debezium_notifications")
    # without the sink channel: no notification topic (completion then told by the read events)
    assert signal_config(_config(**{"notification.enabled.channels": "log"}), "shop")[2] is None
    assert signal_config(_config(**{"signal.enabled.channels": None}), "shop")[0] == "shop.debezium_signal", \
        "source is Debezium's default channel"


@pytest.mark.parametrize("changes, fragment", [
    ({"signal.data.collection": None}, "the connector has no signal.data.collection"),
    ({"signal.enabled.channels": "kafka"}, "signal.enabled.channels (kafka) lacks source"),
    ({"table.include.list": "shop.products,shop.users"}, "is not in the connector's table.include.list"),
    ({"signal.data.collection": "db.shop.debezium_signal"}, "is not schema.table"),
])
def test_signal_config_refusals_are_scenario_errors(changes, fragment):
    with pytest.raises(ScenarioError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        signal_config(_config(**changes), "shop")


def test_signal_rows():
    sid, kind, data = signal_row("s1", "shop", ["products", "users"])
    assert (sid, kind) == ("s1", "execute-snapshot")
    assert json.loads(data) == {"data-collections": ["shop.products", "shop.users"], "type": "incremental"}
    assert signal_row("s2", "shop", ["users"], kind="stop-snapshot")[1] == "stop-snapshot"
    assert len(data) <= 2048, "fits the signalling table's data column"


def _note(**fields):
    # as Debezium 3.6.1 writes them (JsonConverter without schemas)
    return json.dumps({"id": "s1", "aggregate_type": "Incremental Snapshot", "timestamp": 1796008700945,
                       "additional_data": {"connector_name": "c"}, **fields}).encode()


def test_notifications_of_this_signal_only():
    scanned = notification(_note(type="TABLE_SCAN_COMPLETED", additional_data={
        "scanned_collection": "shop.products", "total_rows_scanned": "29120", "status": "SUCCEEDED",
        "data_collections": "shop.products,shop.users"}), "s1")
    assert scanned == {"type": "TABLE_SCAN_COMPLETED", "table": "products", "scanned": 29120, "status": "SUCCEEDED",
                       "key": None, "max_key": None, "ts_ms": 1796008700945}
    progress = notification(_note(type="IN_PROGRESS", additional_data={
        "current_collection_in_progress": "shop.products", "maximum_key": "29120", "last_processed_key": "1024"}), "s1")
    assert (progress["table"], progress["key"], progress["max_key"]) == ("products", "1024", "29120")
    assert notification(_note(type="COMPLETED"), "s1")["type"] == "COMPLETED"
    assert notification(_note(type="COMPLETED"), "another") is None, "another signal's snapshot"
    initial = json.dumps({"id": "s1", "aggregate_type": "Initial Snapshot", "type": "COMPLETED"}).encode()
    assert notification(initial, "s1") is None
    assert notification(b"not json", "s1") is None and notification(None, "s1") is None


def test_read_problems_bounds():
    # Debezium's count known: reads between scanned - streamed changes (keys dropped from their chunk) and scanned
    assert read_problems("users", 76, 76, 86, scanned=78) == []
    assert read_problems("products", 29120, 29120, 0, scanned=29120) == []
    assert read_problems("products", 29121, 29121, 0, scanned=29120) == [
        "products: 29121 read events, more than the 29120 rows Debezium scanned"]
    assert read_problems("users", 70, 70, 5, scanned=78) == [
        "users: 70 read events, fewer than the 78 rows scanned minus 5 streamed changes"]
    assert read_problems("users", 10, 9, 0, scanned=10) == ["users: 1 keys read more than once"]
    # no notifications: only the lower bound, from the rows at the signal (a later scan finds more rows)
    assert read_problems("users", 76, 76, 0, rows_at_signal=1) == []
    assert read_problems("users", 0, 0, 0, rows_at_signal=5)[0].endswith("fewer than the 5 rows at the signal "
                                                                          "minus 0 streamed changes")


def test_rate():
    assert rate(29196, 24.1) == 1211.5 and rate(5, 0) is None and rate(5, None) is None


def test_a_connector_without_signalling_table_is_one_line_exit_2_before_anything_is_done(capsys):
    """A RUNNING connector registered from an older JSON (no signal.data.collection): refused before PostgreSQL
    or Kafka is contacted (the port given is closed), nothing PUT to Connect."""
    import io
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from thelook_datagen.scenarios import cli
    calls = []

    class OldConnector(BaseHTTPRequestHandler):
        def do_GET(self):
            calls.append(("GET", self.path))
            body = ({"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]}
                    if self.path.endswith("/status") else
                    {"slot.name": "s", "topic.prefix": "p", "table.include.list": "shop.products,shop.users"})
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self):
            calls.append(("PUT", self.path))
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), OldConnector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = io.StringIO()
        status = cli.main(["incremental-snapshot", "--connector", "old", "--connect-url",
                           f"http://127.0.0.1:{server.server_address[1]}", "--port", str(free_port())], out=out)
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert status == 2 and not out.getvalue()
    assert err.count("\n") == 1 and err.startswith("scenario: error: the connector has no signal.data.collection "
                                                   "(Debezium's signalling table)"), err
    assert "scripts/register-connector" in err and not [c for c in calls if c[0] == "PUT"]
