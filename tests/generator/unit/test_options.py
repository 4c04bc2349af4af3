"""Options: original names, dashed spellings, environment variables, one-line errors, one set of
shared options for every command, each documented."""
import re
from pathlib import Path

import pytest

from thelook_datagen import options
from thelook_datagen.errors import UserError
from thelook_datagen.options import GENERATOR, VERIFY, parse_settings, parse_verify_settings

README = Path(__file__).resolve().parents[3] / "generator" / "README.md"


def test_defaults():
    s = parse_settings([], environ={})
    assert (s.schema, s.topic_prefix, s.avg_qps, s.max_iter, s.if_exists) == ("demo", "ecomm", 0.0, -1, "append")
    assert s.create_topic is True and s.quiet is False and s.log_format == "text"


@pytest.mark.parametrize("argv", [
    ["--if_exists", "replace", "--max_iter", "5", "--ghost_ratio", "0.4"],
    ["--if-exists", "replace", "--max-iter", "5", "--ghost-ratio", "0.4"],
    ["--if-exists", "replace", "--max-iter", "5", "-g", "0.4"],
])
def test_original_and_dashed_spellings(argv):
    s = parse_settings(argv, environ={})
    assert (s.if_exists, s.max_iter, s.ghost_ratio) == ("replace", 5, 0.4)


def test_environment_and_precedence():
    env = {"PGHOST": "db", "PGPORT": "6543", "PGUSER": "u", "PGPASSWORD": "p", "PGDATABASE": "d",
           "KAFKA_BOOTSTRAP_SERVERS": "k:9092", "THELOOK_AVG_QPS": "12.5", "THELOOK_SCHEMA": "s1",
           "THELOOK_TOPIC_PREFIX": "tp", "THELOOK_CREATE_TOPIC": "false", "THELOOK_SEED": "42",
           "THELOOK_IF_EXISTS": "fail", "THELOOK_TOPIC_CONFIG": "retention.ms=1000,cleanup.policy=delete",
           "THELOOK_KAFKA_CONFIG_SECURITY_PROTOCOL": "SASL_SSL", "THELOOK_KAFKA_CONFIG_SASL_MECHANISM": "PLAIN",
           "THELOOK_QUIET": "yes", "THELOOK_LOG_FORMAT": "json", "THELOOK_TIME_SCALE": "100"}
    s = parse_settings(["--avg-qps", "3", "--kafka-config", "sasl.username=alice"], environ=env)
    assert (s.host, s.port, s.user, s.password, s.db) == ("db", 6543, "u", "p", "d")
    assert s.avg_qps == 3.0, "the command line wins over the environment"
    assert (s.schema, s.topic_prefix, s.bootstrap_servers, s.seed, s.if_exists) == ("s1", "tp", "k:9092", 42, "fail")
    assert s.create_topic is False and s.quiet is True and s.log_format == "json" and s.time_scale == 100
    assert s.topic_config == {"retention.ms": "1000", "cleanup.policy": "delete"}
    assert s.kafka_config == {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "alice"}
    assert parse_settings(["--create-topic"], environ=env).create_topic is True


@pytest.mark.parametrize("argv", [
    ["--avg-qps", "-1"], ["--avg-qps", "fast"], ["--ghost_ratio", "1.5"], ["--if_exists", "merge"],
    ["--max_iter", "-2"], ["--port", "70000"], ["--time-scale", "0"], ["--kafka-config", "novalue"],
    ["--create-topic", "--no-create-topic"], ["--schema", ""], ["--avg-qps", "nan"],
])
def test_bad_values_one_line(argv, capsys):
    with pytest.raises(SystemExit) as e:
        parse_settings(argv, environ={})
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("thelook-datagen: error:")


@pytest.mark.parametrize("env", [{"THELOOK_AVG_QPS": "abc"}, {"THELOOK_IF_EXISTS": "merge"},
                                 {"PGPORT": "x"}, {"THELOOK_CREATE_TOPIC": "maybe"}])
def test_bad_environment_values(env):
    with pytest.raises(UserError) as e:
        parse_settings([], environ=env)
    assert next(iter(env)) in str(e.value)


def test_shared_options_have_one_definition_and_one_default():
    """The generator and verify share PostgreSQL and Kafka options: same flags, variable, default."""
    gen = {o.dest: o for o in GENERATOR.options()}
    ver = {o.dest: o for o in VERIFY.options()}
    shared = [o.dest for o in options.POSTGRES + options.KAFKA]
    for dest in shared:
        assert gen[dest] is ver[dest], dest
    g, v = parse_settings([], environ={}), parse_verify_settings([], environ={})
    for dest in shared + ["quiet"]:
        assert getattr(g, dest) == getattr(v, dest), dest
    assert g.bootstrap_servers == "127.0.0.1:9092", "localhost may resolve to ::1 where only IPv4 listens"
    assert g.kafka_timeout == v.kafka_timeout == 30.0


def test_verify_reads_the_kafka_client_variables():
    env = {"THELOOK_KAFKA_CONFIG_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_BOOTSTRAP_SERVERS": "k:1",
           "THELOOK_KAFKA_TIMEOUT": "7", "PGPORT": "6543"}
    v = parse_verify_settings(["--kafka-config", "sasl.mechanism=PLAIN"], environ=env)
    assert v.kafka_config == {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"}
    assert (v.bootstrap_servers, v.kafka_timeout, v.port) == ("k:1", 7.0, 6543)
    assert v.conn_kw["application_name"] == "thelook-verify" and v.conn_kw["port"] == 6543


def test_secrets_stay_out_of_the_settings_repr():
    s = parse_settings(["--password", "hunter2", "--kafka-config", "sasl.password=s3cret"], environ={})
    assert s.password == "hunter2" and "hunter2" not in repr(s) and "s3cret" not in repr(s)


@pytest.mark.parametrize("parse, prog", [(parse_settings, "thelook-datagen"),
                                         (parse_verify_settings, "thelook-datagen verify")])
@pytest.mark.parametrize("argv, hint", [
    (["--avg-qsp", "3"], "did you mean --avg-qps?"),
    (["--bootstrap-sevrers", "x"], "did you mean --bootstrap-servers?"),
    (["--schmea", "x"], "did you mean --schema?"),
    (["--bogus"], None),
])
def test_mistyped_options_one_line_with_suggestion(parse, prog, argv, hint, capsys):
    if parse is parse_verify_settings and argv[0] == "--avg-qsp":
        argv, hint = ["--tabels", "users"], "did you mean --tables?"
    with pytest.raises(SystemExit) as e:
        parse(argv, environ={})
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{prog}: error: unrecognized arguments"), err
    if hint:
        assert hint in err
    else:
        assert "did you mean" not in err


def test_library_errors_name_settings_and_the_cli_shows_flags():
    err = UserError("{opt:if_exists} fail: tables exist", "use {opt:if_exists} append or {opt:no_create_topic}")
    assert str(err) == "if_exists fail: tables exist (use if_exists append or no_create_topic)"
    assert err.render(GENERATOR.flags()) == ("--if_exists fail: tables exist "
                                             "(use --if_exists append or --no-create-topic)")


def _documented(text):
    return set(re.findall(r"`(-[-\w]+)", text)) | set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", text))


@pytest.mark.parametrize("command", [GENERATOR, VERIFY], ids=lambda c: c.prog)
def test_every_option_and_variable_is_documented(command):
    """generator/README.md lists every flag and environment variable of the generator and verify."""
    text = README.read_text()
    flags = _documented(text)
    missing = []
    for o in command.options():
        for flag in o.flags + ((o.off_flag,) if o.off_flag else ()):
            if flag not in flags:
                missing.append(flag)
        for var in (o.env, o.env_prefix):
            if var and var not in text:
                missing.append(var)
    assert not missing, f"not in {README.name}: {missing}"
