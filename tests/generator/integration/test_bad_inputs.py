"""Bad inputs that need the database: one clear line on stderr, exit 2, no traceback.
(Bad option values need no service: tests/generator/unit/test_cli_errors.py.)"""
import pytest
from testkit import free_port, one_line_error

pytestmark = pytest.mark.stack


def test_wrong_password(run_gen, schema):
    line = one_line_error(run_gen("--schema", schema, "--no-create-topic", "--password", "not-the-password",
                                  check=False))
    assert "cannot connect to PostgreSQL" in line and "password authentication failed" in line
    assert "not-the-password" not in line


def test_unknown_host(run_gen, schema):
    line = one_line_error(run_gen("--schema", schema, "--no-create-topic", "--host", "no-such-host.invalid",
                                  check=False))
    assert "no-such-host.invalid" in line and "cannot connect" in line


def test_nothing_listening(run_gen, schema):
    port = free_port()
    line = one_line_error(run_gen("--schema", schema, "--no-create-topic", "--host", "127.0.0.1",
                                  "--port", str(port), "--connect-timeout", "3", check=False))
    assert str(port) in line and "cannot connect" in line


def test_missing_privilege(run_gen):
    # information_schema belongs to the bootstrap superuser; the demo user may not create tables there
    line = one_line_error(run_gen("--schema", "information_schema", "--no-create-topic", "--max_iter", "1",
                                  check=False))
    assert "missing privilege" in line and "permission denied" in line
