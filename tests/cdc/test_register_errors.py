"""Bad connector input: register-connector fails with one clear line, no traceback, no password, and
the exit status of the convention (console.py): 2 could not run (bad config, Connect unreachable), 1
the connector ran and FAILED or never got RUNNING."""
import json
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.stack

ROOT_FILE = "connectors/thelook-postgres.json"


def register(pipeline, *args, timeout=30):
    res = pipeline.register(*args, timeout=timeout, check=False)
    lines = [l for l in res.stderr.strip().splitlines() if l.startswith("register-connector: error:")]
    return res, lines


def edited_file(tmp_path, edit):
    doc = json.loads((pipeline_root() / ROOT_FILE).read_text())
    edit(doc["config"])
    path = tmp_path / "connector.json"
    path.write_text(json.dumps(doc))
    return str(path)


def pipeline_root():
    from pathlib import Path
    return Path(__file__).resolve().parents[2]


def assert_clean_failure(res, lines, *words, status=None):
    assert res.returncode != 0
    if status is not None:
        assert res.returncode == status, f"exit status {res.returncode}, expected {status}:\n{res.stderr}"
    assert len(lines) == 1, f"expected one error line:\n{res.stdout}\n{res.stderr}"
    assert "Traceback" not in res.stderr + res.stdout
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]


def test_wrong_password_fails_clearly_without_showing_it(pipeline, tmp_path):
    secret = "not-the-password-4711"
    path = edited_file(tmp_path, lambda c: c.__setitem__("database.password", secret))
    res, lines = register(pipeline, "--file", path)
    assert_clean_failure(res, lines, "password authentication failed", status=2)
    assert secret not in res.stdout + res.stderr


def test_missing_table_list_is_refused(pipeline, tmp_path):
    path = edited_file(tmp_path, lambda c: c.pop("table.include.list"))
    res = subprocess.run([sys.executable, str(pipeline_root() / "scripts" / "register-connector"),
                          "--file", path, "--name", pipeline.name, "--timeout", "20"],
                         env=pipeline.env, capture_output=True, text=True, timeout=60)
    lines = [l for l in res.stderr.splitlines() if l.startswith("register-connector: error:")]
    assert_clean_failure(res, lines, "table.include.list", status=2)
    # checked before contacting Connect: the same answer at once when Connect is not there
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = subprocess.run([sys.executable, str(pipeline_root() / "scripts" / "register-connector"),
                          "--file", path, "--connect-url", f"http://127.0.0.1:{port}", "--timeout", "60"],
                         env=pipeline.env, capture_output=True, text=True, timeout=30)
    lines = [l for l in res.stderr.splitlines() if l.startswith("register-connector: error:")]
    assert_clean_failure(res, lines, "table.include.list", status=2)


def test_invalid_config_reports_connects_validation_error(pipeline, tmp_path):
    path = edited_file(tmp_path, lambda c: c.__setitem__("snapshot.mode", "sometimes"))
    res, lines = register(pipeline, "--file", path)
    assert_clean_failure(res, lines, "snapshot.mode", status=2)


def test_tables_that_never_appear_fail_after_the_timeout(pipeline):
    res, lines = register(pipeline, timeout=8)  # schema has no tables: nothing created it
    assert_clean_failure(res, lines, "none of the tables", pipeline.schema, status=1)


def test_connect_down_fails_clearly(pipeline):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res, lines = register(pipeline, "--connect-url", f"http://127.0.0.1:{port}", timeout=3)
    assert_clean_failure(res, lines, "not reachable", str(port), status=2)
