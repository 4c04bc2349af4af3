"""The Grafana files of observability/grafana, without Grafana (fast tier): the provisioned data source,
the dashboard provider and the "CDC pipeline" dashboard JSON. Whether every expression of the dashboard
returns data is test_promql.py's job (stack tier); here: the JSON is a dashboard Grafana loads as it is,
every panel queries the provisioned Prometheus by its uid, nothing comes from outside the repository, and
the provider reads the folder that holds the JSON. Also the rule that turns an alert into the expressions
test_promql.py runs (series_checks), on examples, since the rules file may hold none yet.
"""
import json
import re

import pytest
import yaml

import promql_exprs as px   # registered by conftest.py

# Where the grafana service of compose.yaml mounts the repository's folders (test_compose_mounts_match_the_
# provisioning checks compose.yaml once it has the service): the provider's path is the dashboards' mount point.
CONTAINER_MOUNTS = {"/etc/grafana/provisioning": px.GRAFANA / "provisioning",
                    "/etc/grafana/dashboards": px.DASHBOARDS_DIR}
# The last dashboard JSON schema of Grafana's v1 dashboard API (Grafana 12 and 13: "schema version 42 is the
# FINAL version for the v1 dashboard API"); GRAFANA_VERSION in .env pins a release that reads it.
SCHEMA_VERSION = 42
# Panel types built into Grafana (no plugin to install)
CORE_PANELS = {"row", "timeseries", "stat", "gauge", "bargauge", "table", "state-timeline", "status-history",
               "barchart", "piechart", "heatmap", "histogram", "text"}


@pytest.fixture(scope="module")
def datasource():
    doc = yaml.safe_load(px.DATASOURCES_FILE.read_text())
    assert doc["apiVersion"] == 1
    assert len(doc["datasources"]) == 1, "one data source: the stack's Prometheus"
    return doc["datasources"][0]


@pytest.fixture(scope="module")
def dashboard():
    return json.loads(px.DASHBOARD_FILE.read_text())


def test_datasource_is_the_stacks_prometheus_with_a_fixed_uid(datasource):
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert datasource["access"] == "proxy"
    assert datasource["isDefault"] is True
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", datasource["uid"]), datasource["uid"]
    # the scrape interval of the Prometheus configuration, so that $__rate_interval covers four scrapes
    scrape = yaml.safe_load(px.SCRAPE_CONFIG.read_text())["global"]["scrape_interval"]
    assert datasource["jsonData"]["timeInterval"] == scrape


def test_no_password_in_the_provisioning():
    for path in (px.GRAFANA / "provisioning").rglob("*"):
        if path.is_file():
            assert not re.search(r"(?i)password|secureJsonData|basicAuth", path.read_text()), path


def test_dashboard_provider_reads_the_folder_that_holds_the_dashboard():
    doc = yaml.safe_load(px.PROVIDERS_FILE.read_text())
    assert doc["apiVersion"] == 1
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    assert provider["allowUiUpdates"] is False, "the repository's JSON is the dashboard"
    folder = CONTAINER_MOUNTS.get(provider["options"]["path"].rstrip("/"))
    assert folder == px.DASHBOARDS_DIR, f"{provider['options']['path']} is not where compose mounts the dashboards"
    assert px.DASHBOARD_FILE.parent == folder and px.DASHBOARD_FILE.exists()
    # the provisioning folder's layout is Grafana's: datasources/ and dashboards/ below the mount point
    assert px.DATASOURCES_FILE.parent == CONTAINER_MOUNTS["/etc/grafana/provisioning"] / "datasources"
    assert px.PROVIDERS_FILE.parent == CONTAINER_MOUNTS["/etc/grafana/provisioning"] / "dashboards"


def test_compose_mounts_match_the_provisioning():
    """Once compose.yaml has the grafana service: it mounts the two folders where the files expect them."""
    compose = yaml.safe_load((px.ROOT / "compose.yaml").read_text())
    service = (compose.get("services") or {}).get("grafana")
    if service is None:
        pytest.skip("compose.yaml has no grafana service yet")
    assert service.get("profiles") == ["observability"]
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":") if isinstance(volume, str) else (volume["source"], volume["target"])
        mounts[target] = source
    for target, folder in CONTAINER_MOUNTS.items():
        assert target in mounts, f"grafana does not mount {target}"
        assert (px.ROOT / mounts[target]).resolve() == folder.resolve(), (target, mounts[target])
    assert all(port.startswith("127.0.0.1:") for port in service.get("ports", [])), service.get("ports")
    assert not any("PASSWORD" in str(k) and v and "${" not in str(v)
                   for k, v in (service.get("environment") or {}).items()), "a literal password"


def test_dashboard_is_a_grafana_dashboard_without_variables(dashboard):
    assert dashboard["title"] == "CDC pipeline"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"])
    assert dashboard["schemaVersion"] == SCHEMA_VERSION
    assert dashboard.get("id") is None, "a provisioned dashboard carries no database id"
    assert dashboard["templating"]["list"] == [], "no template variables: the tests run every query as it is"
    ids = [p["id"] for p in px.panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids are unique"


def test_every_panel_queries_the_provisioned_prometheus(dashboard, datasource):
    uid = datasource["uid"]
    queried = 0
    for panel in px.panels(dashboard):
        assert panel["type"] in CORE_PANELS, f"panel {panel['title']!r}: {panel['type']} is not built into Grafana"
        if panel["type"] == "row":
            assert not panel.get("targets"), f"row {panel['title']!r} has queries"
            continue
        where = f"panel {panel['title']!r}"
        assert panel.get("datasource") == {"type": "prometheus", "uid": uid}, where
        assert panel.get("targets"), f"{where} has no query"
        assert panel.get("description"), f"{where} has no description"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{where}: refIds repeat"
        for target in panel["targets"]:
            assert target.get("datasource") == {"type": "prometheus", "uid": uid}, f"{where} target {target['refId']}"
            assert target.get("expr", "").strip(), f"{where} target {target['refId']} has no expr"
            px.substitute(target["expr"])   # no variable but Grafana's intervals
            queried += 1
    assert queried >= 40, "the dashboard lost its panels?"
    assert len(px.dashboard_queries([px.DASHBOARD_FILE])) == queried, "test_promql.py would not run them all"


def test_dashboard_loads_nothing_from_outside(dashboard):
    text = px.DASHBOARD_FILE.read_text()
    assert not re.search(r"(?i)\b(?:https?:)?//[a-z0-9.-]+", text), "a URL in the dashboard"
    assert not dashboard.get("links")
    assert not any(p.get("links") for p in px.panels(dashboard))
    assert "gnetId" not in dashboard and "__inputs" not in dashboard and "__requires" not in dashboard


def test_panels_tile_the_grid(dashboard):
    """Within Grafana's 24 columns, none on top of another (Grafana would move them)."""
    cells = {}
    for panel in px.panels(dashboard):
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_the_data_path_in_order(dashboard):
    rows = [p["title"].split(" (")[0] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Generator", "PostgreSQL", "Debezium on Kafka Connect", "Kafka", "Flink", "JVM heap",
                    "Prometheus"]


# ------------------------------------------------------------------ alert rule -> expressions to run

@pytest.mark.parametrize("expr, checks", [
    ("up == 0", ["up"]),
    ("rate(x[5m]) > 0.9", ["rate(x[5m])"]),
    ("a >= 5 * 60", ["a"]),
    ("a <= -1", ["a"]),
    ("a != 1", ["a"]),
    ("a < 1e3", ["a"]),
    ("(a - b) / b > 0.5", ["(a - b) / b"]),
    ("0.5 < a", ["a"]),
    ("a > bool 1", ["a"]),
    ("a > on(slot) group_left(x) b", ["a", "b"]),
    ("a and b > 1", ["a", "b"]),
    ("a unless on(job) b == 0", ["a", "b"]),
    ("a or b and c == 1", ["a", "b", "c"]),
    ("a > b > c", ["a", "b", "c"]),
    ('absent(up{job="kafka"})', ['up{job="kafka"}']),
    ("absent_over_time(x[5m])", ["last_over_time(x[5m])"]),
    ("((x > 1))", ["x"]),
    ("count(up == 0) > 0", ["count(up)"]),
    ("topk(3, x > 1)", ["topk(3, x)"]),
    ('sum by (job) (rate(a{s=~"a|b>c", t!="x and y"}[5m]) > bool 0) > 1  # more than one > 3',
     ['sum by (job) (rate(a{s=~"a|b>c", t!="x and y"}[5m]))']),
    ("(sum(rate(x[5m])) or vector(0)) > 1", ["sum(rate(x[5m]))", "vector(0)"]),
    ("max_over_time(x[10m:1m]) >= 2e3", ["max_over_time(x[10m:1m])"]),
    ('x{status!="running"} == 1', ['x{status!="running"}']),
    ("time() - x > 300", ["time() - x"]),
    ("histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m]))) > 0.5",
     ["histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))"]),
    ("max by (slot_name) (pg_replication_slot_retained_wal_bytes)\n  > 1073741824",
     ["max by (slot_name) (pg_replication_slot_retained_wal_bytes)"]),
    ("a_and_b > 1", ["a_and_b"]),
    ("sum(x) by (orx) < 1", ["sum(x) by (orx)"]),
])
def test_alert_expression_without_its_condition(expr, checks):
    assert [re.sub(r"\s+", " ", c).replace("( ", "(").replace(" )", ")").strip() for c in px.series_checks(expr)] == \
        [re.sub(r"\s+", " ", c) for c in checks]


@pytest.mark.parametrize("expr", ["1 > 0", "", "  # only a comment"])
def test_expression_without_series_is_refused(expr):
    with pytest.raises(ValueError):
        px.series_checks(expr)


def test_rules_file_parses_and_every_rule_has_something_to_check():
    for label, expr, checks in px.rule_checks():
        assert checks, label
        assert all(c.strip() for c in checks), label


def test_grafana_variables_are_replaced_and_others_refused():
    assert px.substitute("rate(x[$__rate_interval])") == "rate(x[1m])"
    assert px.substitute("rate(x[${__rate_interval}])") == "rate(x[1m])"
    with pytest.raises(ValueError, match=r"\$job"):
        px.substitute('up{job="$job"}')
