"""scripts/scenario without a stack: options (defaults, variables, one-line errors), --list, scenarios not
built yet, the connector-outage projection and refusal, and one-line errors when Kafka Connect is unreachable
or the connector is not there (a fake Connect), and every option documented in the README."""
import io
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from testkit import free_port, one_line_error

from thelook_datagen import options
from thelook_datagen.errors import UserError
from thelook_datagen.scenarios import CATALOGUE, NAMES, ScenarioError, cli, list_lines, lookup
from thelook_datagen.scenarios.common import Timeline
from thelook_datagen.scenarios.connector_outage import check_projection, percentile, project

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scripts" / "scenario"
README = ROOT / "README.md"
MIB = 2 ** 20
ISSUE_NAMES = ("schema-change", "incremental-snapshot", "connector-outage", "slot-invalidated", "big-transaction",
               "replica-identity", "restart-storm", "node-failure")   # issue 13's seven, then the cluster's (14)


def scenario(*args, env=None):
    return subprocess.run([sys.executable, str(SCENARIO), *map(str, args)], capture_output=True, text=True,
                          timeout=60, env=env)


# ---------------------------------------------------------------- options

def test_defaults_and_environment():
    s = options.parse_scenario_settings(["connector-outage"], environ={})
    assert (s.scenario, s.connector, s.seed, s.rate, s.outage, s.mode) == (
        "connector-outage", "thelook-postgres", 1, 20.0, 60.0, "stop")
    assert (s.schema, s.topic_prefix, s.no_generator, s.json) == (None, None, False, False), \
        "schema and topic prefix come from the connector's config unless given"
    assert (s.connect_url, s.prometheus_url, s.bootstrap_servers) == ("http://127.0.0.1:8083", None, "127.0.0.1:9092")
    env = {"THELOOK_SCENARIO": "connector-outage", "THELOOK_CONNECTOR": "c2", "THELOOK_OUTAGE_SECONDS": "30",
           "THELOOK_OUTAGE_MODE": "pause", "THELOOK_SCENARIO_RATE": "50", "THELOOK_SCENARIO_SEED": "9",
           "THELOOK_SCENARIO_NO_GENERATOR": "true", "THELOOK_SCENARIO_JSON": "yes", "CONNECT_URL": "http://c:1",
           "PROMETHEUS_URL": "http://p:2", "PGPORT": "6543", "KAFKA_BOOTSTRAP_SERVERS": "k:1",
           "THELOOK_SCHEMA": "ignored", "THELOOK_TOPIC_PREFIX": "ignored"}
    s = options.parse_scenario_settings(["--outage", "20"], environ=env)
    assert s.outage == 20.0, "the command line wins over the environment"
    assert (s.scenario, s.connector, s.mode, s.rate, s.seed, s.no_generator, s.json) == (
        "connector-outage", "c2", "pause", 50.0, 9, True, True)
    assert (s.connect_url, s.prometheus_url, s.port, s.bootstrap_servers) == ("http://c:1", "http://p:2", 6543, "k:1")
    assert (s.schema, s.topic_prefix) == (None, None), "the generator's variables do not pick another connector's schema"
    assert s.conn_kw["application_name"] == "thelook-scenario"


def test_shares_the_postgres_kafka_and_connect_options():
    mine = {o.dest: o for o in options.SCENARIO.options()}
    for o in options.POSTGRES + options.KAFKA + (options.CONNECT_URL,):
        if o.dest in ("schema", "topic_prefix"):
            assert (mine[o.dest].flags, mine[o.dest].type) == (o.flags, o.type)
        else:
            assert mine[o.dest] is o, o.dest


@pytest.mark.parametrize("argv, fragment", [
    (["connector-outage", "--outage", "0"], "must be >= 1"),
    (["connector-outage", "--rate", "0"], "must be > 0"),
    (["connector-outage", "--mode", "halt"], "invalid choice"),
    (["connector-outage", "--outge", "3"], "did you mean --outage?"),
    (["connector-outage", "--seed", "x"], "invalid int value"),
])
def test_bad_values_one_line_exit_2(argv, fragment):
    res = scenario(*argv)
    assert res.returncode == 2
    line = one_line_error(res, "scenario: error: ")
    assert fragment in line


def test_bad_environment_value_is_one_line():
    res = scenario("connector-outage", env={**_clean_env(), "THELOOK_OUTAGE_SECONDS": "long"})
    assert res.returncode == 2
    assert "THELOOK_OUTAGE_SECONDS" in one_line_error(res, "scenario: error: ")


def _clean_env():
    import os
    return {k: v for k, v in os.environ.items() if not k.startswith("THELOOK_")}


# ---------------------------------------------------------------- the catalogue

def test_list_names_the_scenarios_one_line_each():
    res = scenario("--list")
    assert res.returncode == 0 and not res.stderr
    lines = res.stdout.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(ISSUE_NAMES) == list(NAMES)
    assert lines == list_lines() and len(CATALOGUE) == 8
    assert all(callable(lookup(name)) for name in NAMES)     # every scenario of the list has its module


def test_unknown_or_missing_name():
    assert "did you mean connector-outage?" in one_line_error(scenario("connector-outtage"))
    assert "no scenario given" in one_line_error(scenario())
    with pytest.raises(ScenarioError):
        lookup("nope")
    assert callable(lookup("connector-outage"))


# ---------------------------------------------------------------- connector-outage: projection and refusal

def test_projection_is_what_the_slot_holds_plus_rate_times_outage():
    assert project(100_000, 60, 5 * MIB) == 5 * MIB + 6_000_000
    assert project(0, 60, 123) == 123
    assert project(-5, 60, 123) == 123, "a WAL position that moved back (never) does not lower the projection"


def test_refusal_names_both_figures():
    limit = 1024 * MIB
    retained, rate, outage = 10 * MIB, 2 * MIB, 600
    projected = project(rate, outage, retained)
    assert projected > limit
    with pytest.raises(ScenarioError) as e:
        check_projection(projected, limit, retained, rate, outage)
    text = e.value.render(options.SCENARIO.flags())
    assert f"{projected / MIB:.1f} MiB" in text and "max_slot_wal_keep_size 1024.0 MiB" in text
    assert "now 10.0 MiB + 2.00 MiB/s x 600 s" in text and "--outage" in text and "--rate" in text
    assert e.value.exit_status == 2


@pytest.mark.parametrize("projected, limit", [(1024 * MIB, 1024 * MIB), (10 * MIB, 1024 * MIB),
                                              (10 ** 15, None)])
def test_within_the_limit_or_unlimited_is_accepted(projected, limit):
    check_projection(projected, limit, 0, 1, 1)


def test_percentile_nearest_rank():
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile([7], 99) == 7 and percentile([], 50) is None
    assert percentile(list(range(1, 101)), 99) == 99


# ---------------------------------------------------------------- the timeline

def test_timeline_lines_and_entries():
    ticks = iter([100.0, 112.34, 113.0])
    said = []
    t = Timeline(said.append, clock=lambda: next(ticks))
    t.note("connector STOPPED", retained_bytes=5)
    t.note("resumed")
    assert said == ["[scenario +12.3s] connector STOPPED", "[scenario +13.0s] resumed"]
    assert t.entries[0] == {"t": 12.3, "text": "connector STOPPED", "retained_bytes": 5}


# ---------------------------------------------------------------- one-line errors before anything is done

def test_connect_unreachable_is_one_line_exit_2():
    port = free_port()
    res = scenario("connector-outage", "--connect-url", f"http://127.0.0.1:{port}", "--json")
    assert res.returncode == 2 and not res.stdout
    line = one_line_error(res, "scenario: error: ")
    assert f"Kafka Connect is not reachable at http://127.0.0.1:{port}" in line and "--connect-url" in line


class FakeConnect(BaseHTTPRequestHandler):
    """/connectors/paused-one is PAUSED; every other connector is not registered."""
    calls = []

    def do_GET(self):
        FakeConnect.calls.append(("GET", self.path))
        if self.path == "/connectors/paused-one/config":
            return self._json(200, {"slot.name": "s", "topic.prefix": "p", "table.include.list": "demo.users"})
        if self.path == "/connectors/paused-one/status":
            return self._json(200, {"name": "paused-one", "connector": {"state": "PAUSED"},
                                    "tasks": [{"id": 0, "state": "PAUSED"}]})
        return self._json(404, {"error_code": 404, "message": "Connector nope not found"})

    def do_PUT(self):
        FakeConnect.calls.append(("PUT", self.path))
        return self._json(500, {"message": "must not be called"})

    def _json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_connect():
    server = HTTPServer(("127.0.0.1", 0), FakeConnect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeConnect.calls = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("connector, fragment", [
    ("nope", "connector nope is not registered on Kafka Connect at"),
    ("paused-one", "connector paused-one is not RUNNING (PAUSED/PAUSED)"),
])
def test_connector_missing_or_not_running_is_one_line_exit_2(fake_connect, connector, fragment, capsys):
    out = io.StringIO()
    status = cli.main(["connector-outage", "--connector", connector, "--connect-url", fake_connect,
                       "--port", str(free_port())], out=out)
    err = capsys.readouterr().err
    assert status == 2 and not out.getvalue()
    assert err.count("\n") == 1 and err.startswith("scenario: error: ") and fragment in err, err
    assert not [c for c in FakeConnect.calls if c[0] == "PUT"], "nothing is changed before the checks pass"


def test_schema_given_must_be_the_connectors():
    from thelook_datagen.scenarios.common import target_connector
    from thelook_datagen.ops.connector import client

    class Running(FakeConnect):
        def do_GET(self):
            if self.path.endswith("/status"):
                return self._json(200, {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]})
            return self._json(200, {"slot.name": "s1", "topic.prefix": "p1",
                                    "table.include.list": "shop.users,shop.orders"})
    server = HTTPServer(("127.0.0.1", 0), Running)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        connect = client(f"http://127.0.0.1:{server.server_address[1]}")
        t = target_connector(connect, "x")
        assert (t.slot, t.schema, t.topic_prefix) == ("s1", "shop", "p1")
        with pytest.raises(UserError, match="captures schema shop, not demo"):
            target_connector(connect, "x", schema="demo")
        with pytest.raises(UserError, match=r"writes topics p1\.\*, not ecomm\.\*"):
            target_connector(connect, "x", topic_prefix="ecomm")
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- documented

def test_every_option_and_variable_is_documented_in_the_scenarios_section():
    text = README.read_text()
    match = re.search(r"^## Scenarios\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "README.md has no '## Scenarios' section"
    section = match.group(1)
    missing = []
    for o in options.SCENARIO.options():
        if isinstance(o, options.Positional):
            continue
        for flag in o.flags:
            if f"`{flag}" not in section:
                missing.append(flag)
        for var in (o.env, o.env_prefix):
            if var and var not in section:
                missing.append(var)
    assert not missing, f"not in README.md's Scenarios section: {missing}"
    for name in ISSUE_NAMES:
        assert name in section, name
