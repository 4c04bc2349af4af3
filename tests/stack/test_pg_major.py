"""Data of another PostgreSQL major (e.g. the Debian PostgreSQL 15 of earlier versions of the stack) stops
`scripts/stack up` with one line naming the major and both ways out, before anything is fetched or started.

No running stack needed (these run in the fast tier): `up` refuses before it looks at ports or artifacts.
"""
import os
import subprocess
from pathlib import Path

import pytest
from testkit import env_pins as pins, one_line_error

ROOT = Path(__file__).resolve().parents[2]
STACK = str(ROOT / "scripts" / "stack")


@pytest.fixture
def old_data(tmp_path):
    """A stack data dir whose PostgreSQL cluster says it was made by `major`; ports left at their defaults
    (possibly in use: the check comes first)."""
    def make(major):
        pgdata = tmp_path / "postgres" / "data"
        pgdata.mkdir(parents=True)
        (pgdata / "PG_VERSION").write_text(f"{major}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("THELOOK_") or k == "THELOOK_CACHE_DIR"}
        env["THELOOK_STACK_DIR"] = str(tmp_path)
        return env, pgdata
    return make


def up(env):
    return subprocess.run([STACK, "up"], capture_output=True, text=True, env=env, timeout=120)


def test_data_of_an_older_major_is_one_line_with_both_ways_out(old_data):
    env, pgdata = old_data(15)
    result = up(env)
    assert result.returncode == 2, result.stderr
    line = one_line_error(result, "stack: error: ")
    major = pins()["POSTGRES_VERSION"].split(".")[0]
    assert "initialised by PostgreSQL 15" in line and f"runs PostgreSQL {major}" in line, line
    assert str(pgdata) in line
    assert "`scripts/stack down --wipe`" in line and "pg_upgrade" in line, line
    assert "[stack]" not in result.stderr, "nothing may be fetched or started"
    assert not (pgdata.parent.parent / "run").exists() and sorted(p.name for p in pgdata.iterdir()) == ["PG_VERSION"]


def test_data_of_a_newer_major_names_the_setting_that_runs_it(old_data):
    env, _ = old_data(99)
    line = one_line_error(up(env), "stack: error: ")
    assert "initialised by PostgreSQL 99" in line and "THELOOK_PG_VERSION=99." in line and "--wipe" in line, line


def test_a_malformed_thelook_pg_version_is_one_line(old_data):
    """THELOOK_PG_VERSION overrides the pin for one instance; it is checked first."""
    env, _ = old_data(15)
    env["THELOOK_PG_VERSION"] = "15"
    assert one_line_error(up(env)) == ("stack: error: THELOOK_PG_VERSION='15' is not a PostgreSQL release of the "
                                       "form MAJOR.MINOR (e.g. 17.6)")
