"""Options: original names, dashed spellings, environment variables, one-line errors."""
import pytest

from thelook_datagen.errors import UserError
from thelook_datagen.options import parse_settings


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
