"""thelook_datagen.ops.flink_jobs without Flink: SQL splitting and placeholders, job files and names,
Flink's error traces, input checks, and how a failing statement is reported. No service, no network."""
from pathlib import Path

import pytest

from thelook_datagen import options
from thelook_datagen.errors import UserError
from thelook_datagen.ops import Failed, OpsError, cli, exit_status, flink_jobs
from thelook_datagen.ops.rest import Reply, RestError

ROOT = Path(__file__).resolve().parents[2]
FLAGS = options.SUBMIT_FLINK_JOBS.flags()


# ---------------------------------------------------------------- split_statements

def test_split_statements_lines_strings_and_comments():
    text = ("-- header; with a semicolon\n"
            "\n"
            "SET 'a' = 'x;y';   -- trailing comment\n"
            "/* a block\n   comment; */ CREATE TABLE t (\n"
            "  `we;ird` INT, \"q\"\"x\" STRING\n"
            ") WITH ('k' = 'it''s;');\n"
            "INSERT INTO t\nSELECT 1")
    assert flink_jobs.split_statements(text) == [
        (3, "SET 'a' = 'x;y'"),
        (5, "CREATE TABLE t (\n  `we;ird` INT, \"q\"\"x\" STRING\n) WITH ('k' = 'it''s;')"),
        (8, "INSERT INTO t\nSELECT 1"),
    ]


def test_split_statements_keeps_query_hints():
    """A hint looks like a comment but is SQL: dropped, the STATE_TTL of flink/jobs/stock_per_dc.sql is lost
    without an error (the job runs without its TTL)."""
    text = ("SELECT /*+ STATE_TTL('t' = '1 d') */ a, /* no hint; */ COUNT(*)\nFROM t /*+ OPTIONS('k'='v') */\n"
            "GROUP BY a;\n/*+ open hint")
    assert flink_jobs.split_statements(text) == [
        (1, "SELECT /*+ STATE_TTL('t' = '1 d') */ a,   COUNT(*)\nFROM t /*+ OPTIONS('k'='v') */\nGROUP BY a"),
    ]


@pytest.mark.parametrize("text", ["", "  \n", "-- only a comment", ";;", "/* open comment"])
def test_split_statements_nothing(text):
    assert flink_jobs.split_statements(text) == []


def test_split_statements_multiline_string_counts_its_lines():
    stmts = flink_jobs.split_statements("SELECT 'a\nb';\nSELECT 2;")
    assert stmts == [(1, "SELECT 'a\nb'"), (3, "SELECT 2")]


# ---------------------------------------------------------------- substitute

def test_substitute_replaces_known_placeholders_only():
    values = {"TOPIC_PREFIX": "ecomm", "SCHEMA": "demo"}
    assert flink_jobs.substitute("'${TOPIC_PREFIX}.${SCHEMA}.orders' $x ${lower}", values, "f:1") == \
        "'ecomm.demo.orders' $x ${lower}"


def test_substitute_unknown_placeholder_names_the_place_and_the_known_ones():
    with pytest.raises(OpsError) as e:
        flink_jobs.substitute("SELECT '${NOPE}'", {"B": "1", "A": "2"}, "jobs/x.sql:7")
    assert str(e.value) == "jobs/x.sql:7: unknown placeholder ${NOPE} (known: A, B)"
    assert isinstance(e.value, UserError) and exit_status(e.value) == 2


# ---------------------------------------------------------------- job files and names

def _sql_dir(tmp_path, jobs=("a", "b")):
    (tmp_path / "jobs").mkdir(parents=True)
    (tmp_path / "common.sql").write_text("SET 'x' = '1';\n")
    for job in jobs:
        (tmp_path / "jobs" / f"{job}.sql").write_text(f"INSERT INTO {job} SELECT 1;\n")
    return tmp_path


def test_load_job_files_sorted_and_filtered(tmp_path):
    sql = _sql_dir(tmp_path, ("b", "a", "c"))
    common, jobs = flink_jobs.load_job_files(sql)
    assert common == sql / "common.sql" and list(jobs) == ["a", "b", "c"]
    assert jobs["a"] == sql / "jobs" / "a.sql"
    _, jobs = flink_jobs.load_job_files(str(sql), ["c", "a"])
    assert list(jobs) == ["a", "c"]


def test_load_job_files_errors(tmp_path):
    with pytest.raises(OpsError, match="not a Flink SQL folder"):
        flink_jobs.load_job_files(tmp_path)
    sql = _sql_dir(tmp_path, ())
    with pytest.raises(OpsError, match="no job files"):
        flink_jobs.load_job_files(sql)
    (sql / "jobs" / "a.sql").write_text("INSERT INTO a SELECT 1;")
    with pytest.raises(OpsError) as e:
        flink_jobs.load_job_files(sql, ["a", "zz", "yy"])
    assert e.value.render(FLAGS) == "unknown job(s) yy, zz; known: a (fix --job)"


def test_the_shipped_jobs_load():
    common, jobs = flink_jobs.load_job_files(ROOT / "flink")
    assert common.name == "common.sql" and len(jobs) >= 5


def test_job_name():
    assert flink_jobs.job_name("ecomm", "status_counts") == "ecomm.analytics.status_counts"
    assert flink_jobs.job_name("t-1.x", "a") == "t-1.x.analytics.a"


# ---------------------------------------------------------------- root_cause

def test_root_cause_sql_message_and_a_different_root_cause():
    trace = ("org.apache.flink.table.gateway.api.utils.SqlGatewayException: failed\n"
             "Caused by: org.apache.flink.table.api.TableException: Could not execute INSERT\n"
             "\tat x.Y(Y.java:1)\n"
             "Caused by: java.net.UnknownHostException: kafka: Name or service not known\n")
    assert flink_jobs.root_cause([trace]) == ["TableException: Could not execute INSERT",
                                              "root cause: UnknownHostException: kafka: Name or service not known"]


def test_root_cause_without_exceptions_and_without_text():
    assert flink_jobs.root_cause(["Internal server error.", "", "second", "third"]) == \
        ["Internal server error.", "second"]
    assert flink_jobs.root_cause([]) == ["(no message)"]
    assert flink_jobs.root_cause([None, 3]) == ["(no message)"]


def test_root_cause_single_exception_and_long_messages():
    assert flink_jobs.root_cause(["java.lang.IllegalStateException: boom"]) == ["IllegalStateException: boom"]
    long = flink_jobs.root_cause(["java.lang.RuntimeException: " + "x" * 1000])[0]
    assert len(long) == 604 and long.endswith(" ...")


def test_flink_error_answers_read_by_root_cause():
    gateway = flink_jobs.gateway_client("http://gw.invalid")
    body = {"errors": ["Internal server error.", "Caused by: org.apache.flink.table.api.ValidationException: bad"]}
    assert gateway.error_lines(body) == ["ValidationException: bad"]
    assert gateway.error_lines({"message": "plain"}) == ["plain"]


# ---------------------------------------------------------------- input checks

@pytest.mark.parametrize("kwargs, flag", [
    (dict(topic_prefix="bad prefix"), "--topic-prefix"),
    (dict(topic_prefix=""), "--topic-prefix"),
    (dict(schema="1x;drop"), "--schema"),
    (dict(bootstrap_servers="k:9092'"), "--bootstrap-servers"),
    (dict(bootstrap_servers=None), "--bootstrap-servers"),
    (dict(top_products_window=0), "--top-products-window"),
])
def test_check_values_names_the_setting(kwargs, flag):
    good = dict(topic_prefix="t-1.x_y", schema="demo", bootstrap_servers="k:9092,k2:9092", top_products_window=60)
    flink_jobs.check_values(**good)
    with pytest.raises(OpsError) as e:
        flink_jobs.check_values(**{**good, **kwargs})
    assert flag in e.value.render(FLAGS)


def test_check_values_servers_only_needed_to_submit():
    flink_jobs.check_values("ecomm", "demo", None, 60, need_servers=False)


# ---------------------------------------------------------------- a failing statement (fake gateway)

class FakeGateway(flink_jobs.FlinkRest):
    """A SQL gateway that accepts every statement but refuses INSERTs with a validation error."""

    def __init__(self):
        super().__init__("http://gw.invalid", "Flink SQL gateway")
        self.statements = []

    def send(self, method, path, body=None, *, timeout=None):
        if path == "/v1/sessions":
            return Reply(200, {"sessionHandle": "s"})
        if path.endswith("/statements"):
            self.statements.append(body["statement"])
            if "INSERT" in body["statement"]:
                return Reply(500, {"errors": ["Internal server error.",
                                              "org.apache.flink.table.gateway.service.utils.SqlExecutionException: "
                                              "x\nCaused by: org.apache.flink.table.api.ValidationException: "
                                              "Column 'no_such_column' not found in any table\n\tat a.B(B.java:1)"]})
            return Reply(200, {"operationHandle": "o"})
        if "/result/" in path:
            return Reply(200, {"resultType": "EOS"})
        return Reply(200, None)


def test_failing_statement_is_one_failure_with_place_and_cause(tmp_path):
    sql = _sql_dir(tmp_path / "flink", ("a",))
    gateway = FakeGateway()
    with pytest.raises(Failed) as e:
        list(flink_jobs.plan_jobs(gateway, sql, topic_prefix="p", schema="demo", root=tmp_path))
    text = str(e.value)
    assert text.startswith("p.analytics.a: statement at flink/jobs/a.sql:1 failed (EXPLAIN INSERT INTO a SELECT 1 ...)")
    assert "ValidationException: Column 'no_such_column' not found in any table" in text and "\tat" not in text
    assert exit_status(e.value) == 1
    assert gateway.statements == ["SET 'x' = '1'", "SET 'pipeline.name' = 'p.analytics.a'",
                                  "EXPLAIN INSERT INTO a SELECT 1"]


def test_unreachable_flink_is_exit_status_2():
    err = RestError("Flink JobManager is not reachable at http://x: Connection refused")
    assert err.unreachable and exit_status(err) == 2


def test_job_lines():
    jobs = [{"state": "RUNNING", "jid": "abc", "name": "ecomm.analytics.a", "start-time": 0}]
    assert flink_jobs.job_lines(jobs, "http://ui") == [
        "Running Flink jobs (1):", "  RUNNING     abc  ecomm.analytics.a  (since 1970-01-01 00:00:00 UTC)",
        "Flink web UI: http://ui"]


# ---------------------------------------------------------------- settings and command line

def test_settings_share_the_generators_options():
    s = options.parse_flink_jobs_settings([], environ={}, default_sql_dir="/repo/flink")
    assert (s.topic_prefix, s.schema, s.sql_dir, s.bootstrap_servers) == ("ecomm", "demo", "/repo/flink", None)
    assert (s.flink_url, s.sql_gateway_url, s.timeout, s.wait, s.job) == \
        ("http://127.0.0.1:8081", "http://127.0.0.1:8084", 120.0, 90.0, None)
    env = {"THELOOK_TOPIC_PREFIX": "t2", "THELOOK_SCHEMA": "s2", "KAFKA_BOOTSTRAP_SERVERS": "k:1",
           "FLINK_URL": "http://jm:8081", "FLINK_SQL_GATEWAY_URL": "http://gw:8084", "THELOOK_FLINK_JOBS": "a, b"}
    s = options.parse_flink_jobs_settings(["--job", "c"], environ=env)
    assert (s.topic_prefix, s.schema, s.bootstrap_servers, s.flink_url, s.sql_gateway_url) == \
        ("t2", "s2", "k:1", "http://jm:8081", "http://gw:8084")
    assert s.job == ["c"], "the command line wins over the environment"
    assert options.parse_flink_jobs_settings([], environ=env).job == ["a", "b"]


def test_bad_values_are_one_line_before_contacting_flink(capsys):
    rc = cli.submit_flink_jobs(["--schema", "1x;drop", "--bootstrap-servers", "k:9092",
                                "--flink-url", "http://jm.invalid"], default_sql_dir=ROOT / "flink")
    err = capsys.readouterr().err
    assert rc == 2 and err == "submit-flink-jobs: error: --schema '1x;drop': not a plain identifier\n"
    with pytest.raises(SystemExit) as e:
        cli.submit_flink_jobs(["--top-products-window", "0"])
    assert e.value.code == 2 and "--top-products-window" in capsys.readouterr().err


def test_abbreviated_options_are_refused(capsys):
    """Spelled in full only: `--canc` must not cancel anything."""
    with pytest.raises(SystemExit) as e:
        cli.submit_flink_jobs(["--canc", "--flink-url", "http://jm.invalid"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "unrecognized arguments: --canc" in err and "did you mean --cancel?" in err
