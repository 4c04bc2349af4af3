"""The shop's table list is defined once (thelook_datagen.tables); the connector JSON, the DDL and
the Flink SQL sources must agree with it. No services needed."""
import json
import re
from pathlib import Path

from thelook_datagen.db.ddl import COLUMNS
from thelook_datagen.tables import CAPTURED_TABLES, HEARTBEAT, SHOP_TABLES, SIGNAL, TABLES, WRITTEN_TABLES

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = ROOT / "connectors" / "thelook-postgres.json"
FLINK_COMMON = ROOT / "flink" / "common.sql"


def test_table_sets_are_consistent():
    assert TABLES == SHOP_TABLES + (HEARTBEAT,)
    assert set(COLUMNS) == set(TABLES), "every table has its DDL and nothing else does"
    assert set(WRITTEN_TABLES) == set(SHOP_TABLES) and len(WRITTEN_TABLES) == len(SHOP_TABLES)
    assert set(CAPTURED_TABLES) == set(TABLES) | {SIGNAL} and SIGNAL not in TABLES, \
        "the signalling table is captured but is no shop table (verify and the workload leave it out)"


def test_connector_captures_exactly_the_package_tables():
    config = json.loads(CONNECTOR.read_text())["config"]
    listed = [t.strip() for t in config["table.include.list"].split(",") if t.strip()]
    schemas = {t.split(".", 1)[0] for t in listed}
    assert schemas == {"demo"}, schemas
    assert sorted(t.split(".", 1)[1] for t in listed) == sorted(CAPTURED_TABLES)
    heartbeat = re.search(r"INSERT INTO (\w+)\.(\w+)", config["heartbeat.action.query"])
    assert heartbeat and heartbeat.groups() == ("demo", HEARTBEAT)
    assert config["signal.data.collection"] == f"demo.{SIGNAL}"
    assert config["notification.sink.topic.name"].startswith(config["topic.prefix"] + ".")


def _flink_sources():
    """{source table: (topic's table, declared columns)} from common.sql's CREATE TABLE statements."""
    sql = FLINK_COMMON.read_text()
    found = {}
    for m in re.finditer(r"CREATE TEMPORARY TABLE (\w+) \((.*?)\n\) WITH \((.*?)\n\);", sql, re.S):
        name, body, props = m.groups()
        topic = re.search(r"'topic' = '\$\{TOPIC_PREFIX\}\.\$\{SCHEMA\}\.(\w+)'", props)
        assert topic, f"{name}: no change topic of the form ${{TOPIC_PREFIX}}.${{SCHEMA}}.<table>"
        fmt = re.search(r"'format' = '([\w-]+)'", props).group(1)
        columns = []
        if fmt == "debezium-json":
            columns = [ln.split()[0].strip("`") for ln in body.splitlines()
                       if ln.strip() and not ln.strip().startswith(("PRIMARY KEY", "--"))]
        found[name] = (topic.group(1), columns)
    return found


def test_flink_sources_read_package_tables_with_existing_columns():
    sources = _flink_sources()
    assert len(sources) >= 6, sources
    for name, (table, columns) in sources.items():
        assert table in SHOP_TABLES, f"Flink source {name} reads topic of unknown table {table}"
        known = {c for c, _ in COLUMNS[table]}
        assert set(columns) <= known, f"Flink source {name}: columns {set(columns) - known} not in {table}"
