"""The alert rules of observability/prometheus/alerts.yml, without any service (fast tier): promtool accepts
the rules file and the scrape configurations that load it (compose's, the cluster mode's and the one
scripts/stack generates), the promtool unit tests of observability/prometheus/tests/ pass, every alert has a
unit test in which it fires
and one in which it stays quiet or clears, and every alert names its runbook, a paragraph of README.md that
exists. That the alerts fire and clear on the real stack is test_alerts_fire.py's job (stack tier).

promtool is Debian's (package prometheus, the same 2.42 the local stack runs): scripts/install-system-deps
installs it, as `scripts/stack up` does.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "observability" / "prometheus"
RULES_FILE = PROMETHEUS_DIR / "alerts.yml"
SCRAPE_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
UNIT_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
README = ROOT / "README.md"
RUNBOOK_SECTION = "### Alerts and what to do"
SEVERITIES = {"warning", "critical"}


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if not path:
        pytest.fail("promtool is missing: install Debian's prometheus package (`scripts/install-system-deps`, "
                    "or `sudo apt-get install prometheus`), which brings it", pytrace=False)
    return path


def run(cmd, cwd=None):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, cwd=cwd)


def alerting_rules():
    doc = yaml.safe_load(RULES_FILE.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def test_rules_file_passes_promtool_check(promtool):
    res = run([promtool, "check", "rules", RULES_FILE])
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.search(r"SUCCESS: \d+ rules found", res.stdout), res.stdout


def test_rule_unit_tests_pass(promtool):
    assert UNIT_TESTS, "no promtool unit tests in observability/prometheus/tests"
    res = run([promtool, "test", "rules", *UNIT_TESTS])
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("SUCCESS") == len(UNIT_TESTS), res.stdout


def test_every_unit_test_file_loads_the_repository_rules():
    for path in UNIT_TESTS:
        doc = yaml.safe_load(path.read_text())
        assert [(path.parent / f).resolve() for f in doc["rule_files"]] == [RULES_FILE], path
        # the stack evaluates every 5 s: the tests must too, or `for:` would mean something else
        assert doc["evaluation_interval"] == "5s", path


def test_every_alert_fires_in_a_unit_test_and_stays_quiet_in_another():
    fired, quiet = set(), set()
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerting_rules()}
    assert names, "no alert in the rules file"
    assert names - fired == set(), f"alerts no unit test makes fire: {sorted(names - fired)}"
    assert names - quiet == set(), f"alerts no unit test expects quiet or cleared: {sorted(names - quiet)}"
    unknown = (fired | quiet) - names
    assert unknown == set(), f"unit tests of alerts that do not exist: {sorted(unknown)}"


def test_every_alert_has_severity_summary_description_and_runbook():
    for rule in alerting_rules():
        name = rule["alert"]
        severity = rule.get("labels", {}).get("severity", "")
        # a template may choose the severity by label (warning / critical): both branches must be known ones
        choices = set(re.findall(r"\}\}([a-z]+)\{\{", severity)) or {severity}
        assert choices <= SEVERITIES, f"{name}: severity {severity!r}"
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook"):
            assert annotations.get(key, "").strip(), f"{name} has no {key} annotation"
        assert "$labels" in annotations["summary"] + annotations["description"] or "$value" in \
            annotations["summary"] + annotations["description"], f"{name}: the annotations name nothing of the alert"


def test_every_runbook_is_a_paragraph_of_the_readme_section():
    text = README.read_text()
    assert RUNBOOK_SECTION in text, f"README.md has no section {RUNBOOK_SECTION!r}"
    section = text.split(RUNBOOK_SECTION, 1)[1]
    section = re.split(r"\n#{1,3} ", section, maxsplit=1)[0]
    for rule in alerting_rules():
        runbook = rule["annotations"]["runbook"]
        m = re.fullmatch(r"README\.md#(alert-[a-z0-9-]+)", runbook)
        assert m, f"{rule['alert']}: runbook {runbook!r} is not README.md#alert-..."
        anchor = m.group(1)
        assert anchor == "alert-" + rule["alert"].lower(), f"{rule['alert']}: anchor {anchor!r}"
        para = re.search(rf'<a id="{anchor}"></a>(.*?)(?:\n\n|\Z)', section, re.S)
        assert para, f"README.md's {RUNBOOK_SECTION!r} has no <a id=\"{anchor}\"></a> paragraph"
        assert rule["alert"] in para.group(1), f"the paragraph of {anchor} does not name {rule['alert']}"


def test_every_for_is_a_whole_number_of_evaluations():
    interval = 5
    for rule in alerting_rules():
        duration = rule.get("for", "0s")
        m = re.fullmatch(r"(\d+)([sm])", duration)
        assert m, f"{rule['alert']}: for {duration!r}"
        seconds = int(m.group(1)) * (60 if m.group(2) == "m" else 1)
        assert seconds % interval == 0, f"{rule['alert']}: for {duration} is not a multiple of {interval}s"


def _check_config(promtool, config, tmp_path):
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    res = run([promtool, "check", "config", path])
    assert res.returncode == 0, res.stdout + res.stderr
    # promtool also checks the rule files the configuration loads
    assert f"Checking {RULES_FILE}" in res.stdout and "SUCCESS" in res.stdout, res.stdout


def test_compose_scrape_config_with_the_rules_passes_promtool_check(promtool, tmp_path):
    """compose mounts observability/prometheus at /etc/prometheus: the copy points rule_files at the repository."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    config["rule_files"] = [str(PROMETHEUS_DIR / Path(f).relative_to("/etc/prometheus")) for f in config["rule_files"]]
    _check_config(promtool, config, tmp_path)


def test_compose_cluster_scrape_config_with_the_rules_passes_promtool_check(promtool, tmp_path):
    """compose.cluster.yaml loads prometheus.cluster.yml from the same mount: the same check, on the cluster's."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.cluster.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    config["rule_files"] = [str(PROMETHEUS_DIR / Path(f).relative_to("/etc/prometheus")) for f in config["rule_files"]]
    _check_config(promtool, config, tmp_path)


def test_local_scrape_config_passes_promtool_check(promtool, tmp_path, monkeypatch):
    """The configuration scripts/stack writes (stackctl.observability.local_scrape_config), default ports."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    for name in [m for m in sys.modules if m == "stackctl" or m.startswith("stackctl.")]:
        monkeypatch.delitem(sys.modules, name)
    from stackctl import observability, settings
    ports = {name: default for name, (_, default) in settings.PORT_VARS.items()}
    config = observability.local_scrape_config(ports)
    assert config["rule_files"] == [str(RULES_FILE)]
    _check_config(promtool, config, tmp_path)


def test_local_cluster_scrape_config_scrapes_every_node(promtool, tmp_path, monkeypatch):
    """`up --cluster`: observability/prometheus/prometheus.cluster.yml with every node's own port, labelled by node."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    for name in [m for m in sys.modules if m == "stackctl" or m.startswith("stackctl.")]:
        monkeypatch.delitem(sys.modules, name)
    from stackctl import observability, settings
    ports = {name: default for name, (_, default) in settings.PORT_VARS.items()}
    config = observability.local_scrape_config(ports, source=observability.CLUSTER_SCRAPE_CONFIG)
    scraped = {static["labels"]["instance"]: static["targets"] for job in config["scrape_configs"]
               for static in job["static_configs"]}
    for node in ("kafka", "kafka-2", "kafka-3", "connect", "connect-2", "taskmanager", "taskmanager-2"):
        metrics_port = settings.port_name(node, settings.kind(node) + "_metrics")
        assert scraped[node] == [f"127.0.0.1:{ports[metrics_port]}"], node
    _check_config(promtool, config, tmp_path)
