"""scripts/submit-flink-jobs without a stack: statement splitting, placeholders, bad input.
(The logic is thelook_datagen.ops.flink_jobs; more unit tests in tests/ops/test_flink_jobs_units.py.)"""
import subprocess
import sys
from pathlib import Path

import pytest

from thelook_datagen.errors import UserError
from thelook_datagen.ops import flink_jobs as sfj

ROOT = Path(__file__).resolve().parents[2]
SUBMIT = ROOT / "scripts" / "submit-flink-jobs"


def test_split_keeps_semicolons_in_strings_and_drops_comments():
    text = ("-- a comment; with a semicolon\n"
            "SET 'a' = 'x;y';\n"
            "/* block; */ CREATE TABLE t (`we;ird` INT) WITH ('k' = 'it''s;');\n\n"
            "INSERT INTO t SELECT 1\n")
    stmts = sfj.split_statements(text)
    assert [s for _, s in stmts] == ["SET 'a' = 'x;y'",
                                     "CREATE TABLE t (`we;ird` INT) WITH ('k' = 'it''s;')",
                                     "INSERT INTO t SELECT 1"]
    assert [ln for ln, _ in stmts] == [2, 3, 5]


def test_every_shipped_file_splits_and_has_only_known_placeholders():
    values = {k: "v" for k in ("TOPIC_PREFIX", "SCHEMA", "KAFKA_BOOTSTRAP_SERVERS", "JOB_NAME",
                               "TOP_PRODUCTS_WINDOW_MINUTES")}
    common, jobs = sfj.load_job_files(ROOT / "flink", None)
    assert set(jobs) == {"revenue_per_minute", "status_counts", "funnel_per_minute",
                         "top_products_last_hour", "stock_per_dc"}
    for path in [common, *jobs.values()]:
        for line, stmt in sfj.split_statements(path.read_text()):
            assert "${" not in sfj.substitute(stmt, values, f"{path}:{line}")
    for path in jobs.values():
        inserts = [s for _, s in sfj.split_statements(path.read_text()) if s.upper().startswith("INSERT")]
        assert len(inserts) == 1, f"{path.name}: one job per file"


def test_unknown_placeholder_is_a_clear_error():
    with pytest.raises(UserError, match=r"unknown placeholder \$\{NOPE\}"):
        sfj.substitute("SELECT '${NOPE}'", {"A": "1"}, "f.sql:1")


def test_root_cause_picks_sql_message_and_cause():
    trace = ["Internal server error.",
             "org.apache.flink.table.gateway.service.utils.SqlExecutionException: Failed to execute\n"
             "\tat org.apache.flink.X.y(X.java:1)\n"
             "Caused by: org.apache.flink.table.api.ValidationException: SQL validation failed. "
             "From line 1, column 8 to line 1, column 9: Column 'x' not found in any table\n"
             "\tat org.apache.flink.X.y(X.java:2)\n"
             "Caused by: org.apache.calcite.sql.validate.SqlValidatorException: Column 'x' not found in any table\n"]
    lines = sfj.root_cause(trace)
    assert lines == ["ValidationException: SQL validation failed. From line 1, column 8 to line 1, "
                     "column 9: Column 'x' not found in any table"]


@pytest.mark.parametrize("args, message", [
    (["--topic-prefix", "bad prefix", "--bootstrap-servers", "k:9092"], "--topic-prefix"),
    (["--schema", "1x;drop", "--bootstrap-servers", "k:9092"], "--schema"),
    (["--top-products-window", "0", "--bootstrap-servers", "k:9092"], "--top-products-window"),
])
def test_bad_options_one_line_no_traceback(args, message):
    res = subprocess.run([sys.executable, str(SUBMIT), *args], capture_output=True, text=True, timeout=30)
    assert res.returncode == 2
    assert res.stderr.startswith("submit-flink-jobs: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr


def test_unreachable_gateway_is_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "FLINK_URL": "http://127.0.0.1:9", "FLINK_SQL_GATEWAY_URL": "http://127.0.0.1:9"}
    res = subprocess.run([sys.executable, str(SUBMIT), "--bootstrap-servers", "k:9092", "--wait", "1"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 2, "unreachable: could not run"
    assert res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith("submit-flink-jobs: error: Flink JobManager is not reachable at http://127.0.0.1:9")
