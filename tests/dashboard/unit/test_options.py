"""thelook-dashboard's options: defaults, environment, one-line errors, and every option documented."""
import subprocess
import sys
from pathlib import Path

import pytest

from thelook_dashboard import options

README = Path(__file__).resolve().parents[3] / "dashboard" / "README.md"


def test_defaults_and_environment():
    s = options.parse_settings([], environ={})
    assert (s.address, s.port, s.controls, s.topic_prefix, s.schema) == ("127.0.0.1", 8088, False, "ecomm", "demo")
    assert s.flink_bootstrap_servers == s.bootstrap_servers
    s = options.parse_settings(["--port", "9001"], environ={"THELOOK_DASHBOARD_PORT": "9000",
                                                            "THELOOK_DASHBOARD_CONTROLS": "true",
                                                            "PROMETHEUS_URL": "http://p:1"})
    assert (s.port, s.controls, s.prometheus_url) == (9001, True, "http://p:1")


@pytest.mark.parametrize("argv, fragment", [
    (["--port", "0"], "must be >= 1"),
    (["--port", "http"], "invalid int value"),
    (["--refresh", "0.01"], "must be >= 0.2"),
    (["--contrls"], "did you mean --controls"),
])
def test_bad_values_are_one_line_and_exit_2(argv, fragment):
    res = subprocess.run([sys.executable, "-m", "thelook_dashboard", *argv], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("thelook-dashboard: error: ") and fragment in lines[0], res.stderr


def test_port_in_use_is_one_line():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        res = subprocess.run([sys.executable, "-m", "thelook_dashboard", "--port", str(port)], capture_output=True,
                             text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert f"port {port} is already in use" in res.stderr


def test_every_option_and_variable_is_documented():
    text = README.read_text()
    missing = []
    for o in options.DASHBOARD.options():
        for flag in o.flags:
            if f"`{flag}`" not in text:
                missing.append(flag)
        if o.env and f"`{o.env}`" not in text:
            missing.append(o.env)
        if o.env_prefix and o.env_prefix not in text:
            missing.append(o.env_prefix)
    assert not missing, f"not in {README.name}: {missing}"
