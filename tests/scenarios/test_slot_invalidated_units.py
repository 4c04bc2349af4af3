"""slot-invalidated without a stack: its options, its one-line refusals before anything is started (Connect or
Kafka unreachable), the instance settings it hands to scripts/stack (THELOOK_PG_MAX_SLOT_WAL_KEEP_SIZE, checked by
stackctl), the lines it reads the tools' verdicts from, and the slot check of register-connector when the
database cannot be reached from here (best effort: no verdict)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import free_port, one_line_error

from thelook_datagen import options
from thelook_datagen.ops import connector as connector_ops
from thelook_datagen.scenarios import lookup
from thelook_datagen.scenarios.own_postgres import OwnPostgres, socket_dir
from thelook_datagen.scenarios.slot_invalidated import last_line, mentions, slot_detail

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scripts" / "scenario"


def scenario(*args):
    return subprocess.run([sys.executable, str(SCENARIO), *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def test_defaults_and_variables():
    s = options.parse_scenario_settings(["slot-invalidated"], environ={})
    assert (s.slot_limit, s.stall_writes, s.lost_timeout, s.observe) == (32, 5.0, 60.0, 10.0)
    s = options.parse_scenario_settings(["slot-invalidated"], environ={
        "THELOOK_SLOTINV_LIMIT_MB": "64", "THELOOK_SLOTINV_STALL_WRITES": "0", "THELOOK_SLOTINV_LOST_TIMEOUT": "5",
        "THELOOK_SLOTINV_OBSERVE": "2"})
    assert (s.slot_limit, s.stall_writes, s.lost_timeout, s.observe) == (64, 0.0, 5.0, 2.0)
    assert callable(lookup("slot-invalidated"))


@pytest.mark.parametrize("argv, fragment", [(["--slot-limit", "0"], "--slot-limit"),
                                            (["--slot-limit", "1.5"], "--slot-limit"),
                                            (["--stall-writes", "-1"], "--stall-writes"),
                                            (["--observe", "0"], "--observe")])
def test_bad_values_one_line_exit_2(argv, fragment):
    res = scenario("slot-invalidated", *argv)
    assert res.returncode == 2 and not res.stdout
    assert fragment in one_line_error(res, "scenario: error: ")


def test_connect_unreachable_one_line_exit_2_and_nothing_started():
    port = free_port()
    before = set(Path("/tmp").glob("thelook-slotinv-*"))
    res = scenario("slot-invalidated", "--connect-url", f"http://127.0.0.1:{port}", "--json")
    assert res.returncode == 2 and not res.stdout
    line = one_line_error(res, "scenario: error: ")
    assert f"Kafka Connect is not reachable at http://127.0.0.1:{port}" in line
    assert set(Path("/tmp").glob("thelook-slotinv-*")) == before, "no instance is started when Connect is missing"


def test_own_instance_settings_for_scripts_stack(monkeypatch):
    monkeypatch.setenv("THELOOK_STACK_DIR", "/somewhere/else")
    monkeypatch.setenv("THELOOK_PG_PORT", "5432")
    monkeypatch.setenv("THELOOK_CACHE_DIR", "/cache")
    inst = OwnPostgres(32)
    try:
        assert inst.env["THELOOK_STACK_DIR"] == str(inst.data) and inst.data.parent == Path("/tmp")
        assert oct(inst.data.stat().st_mode & 0o777) == "0o755", "the postgres OS user must enter it"
        assert inst.env["THELOOK_PG_PORT"] == str(inst.port) != "5432"
        assert inst.env["THELOOK_PG_MAX_SLOT_WAL_KEEP_SIZE"] == "32MB"
        assert inst.env["THELOOK_CACHE_DIR"] == "/cache", "the cached binaries are shared"
        assert socket_dir(inst.data) == inst.data / "run" / "pg"
    finally:
        assert inst.wipe() is None and not inst.data.exists()


@pytest.mark.parametrize("value, ok", [("32MB", True), ("2GB", True), ("-1", True), ("512kB", True),
                                       ("32", False), ("32 MB", False), ("lots", False), ("1.5GB", False)])
def test_stackctl_max_slot_wal_keep_size(monkeypatch, value, ok):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from stackctl.settings import StackError, pg_max_slot_wal_keep_size
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    monkeypatch.setenv("THELOOK_PG_MAX_SLOT_WAL_KEEP_SIZE", value)
    if ok:
        assert pg_max_slot_wal_keep_size() == value
    else:
        with pytest.raises(StackError, match="THELOOK_PG_MAX_SLOT_WAL_KEEP_SIZE"):
            pg_max_slot_wal_keep_size()
    monkeypatch.delenv("THELOOK_PG_MAX_SLOT_WAL_KEEP_SIZE")
    assert pg_max_slot_wal_keep_size() == "2GB"


def test_verdict_lines():
    assert slot_detail(("lost", "wal_removed")) == "wal_status lost, wal_removed"
    assert slot_detail(("lost", None)) == "wal_status lost"
    assert mentions("replication slot s1 is INVALIDATED", "s1", "invalidated")
    assert not mentions("replication slot s1 is fine", "s1", "invalidated")
    assert not mentions("", "s1")
    assert last_line("a\n\nb\n\n") == "b" and last_line("") == ""


def test_slot_check_is_best_effort_when_the_database_is_not_reachable_from_here():
    config = {"database.hostname": "127.0.0.1", "database.port": str(free_port()), "database.user": "${env:PGUSER}",
              "database.password": "${env:PGPASSWORD}", "database.dbname": "thelook", "slot.name": "s"}
    env = {"PGUSER": "u", "PGPASSWORD": "p"}
    assert connector_ops.slot_state(config, env, timeout=1) is None
    connector_ops.check_slot("c", config, env)          # no verdict, no error
    # a config provider this process cannot read: not even tried
    assert connector_ops.slot_state({**config, "database.password": "${file:/x:pw}"}, env) is None
    assert connector_ops._from_env("${env:PGUSER}", env) == "u" and connector_ops._from_env("${env:NOPE}", env) is None


def test_a_lost_slot_task_trace_gets_the_runbook_hint():
    trace = ("org.apache.kafka.connect.errors.ConnectException: Unable to obtain valid replication slot. Make sure "
             "there are no long-running transactions running in parallel")
    text = connector_ops.hint(trace, {"slot.name": "s1"})
    assert "s1" in text and "invalidated" in text and connector_ops.RUNBOOK in text
