"""Bad inputs: one clear line on stderr, non-zero exit, no traceback."""
import socket

import pytest

pytestmark = pytest.mark.stack


def one_line_error(proc):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


@pytest.mark.parametrize("args, env, needle", [
    (["--avg-qps", "-5"], {}, "--avg-qps"),
    (["--ghost_ratio", "2"], {}, "--ghost_ratio"),
    (["--if_exists", "merge"], {}, "--if_exists"),
    (["--max_iter", "ten"], {}, "--max_iter"),
    (["--port", "0"], {}, "--port"),
    ([], {"THELOOK_AVG_QPS": "fast"}, "THELOOK_AVG_QPS"),
    ([], {"THELOOK_IF_EXISTS": "merge"}, "THELOOK_IF_EXISTS"),
])
def test_bad_values(run_gen, schema, args, env, needle):
    line = one_line_error(run_gen("--schema", schema, "--no-create-topic", *args, env=env, check=False))
    assert needle in line
