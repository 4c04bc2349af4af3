"""--control: the rate control served next to /metrics, in process (a Stats object, no database):
GET/POST and their JSON, 400 for bad bodies, 403 for other hosts without the token, the hand-over
to the run loop, the options and their one-line error."""
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from testkit import free_port, one_line_error

from thelook_datagen.control import MAX_VISITS_PER_SECOND, RateControl, is_loopback, parse_rate
from thelook_datagen.metrics import MetricsServer, StatsCollector
from thelook_datagen.options import GENERATOR, parse_settings
from thelook_datagen.stats import Log, Stats

CLEAN = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "KAFKA", "THELOOK_"))}
STATE = {"visits_per_second", "changes", "max_visits_per_second"}


def call(url, method="GET", body=None, headers=None):
    """(status, JSON answer) of a request; an HTTP error status is an answer like any other."""
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            status, raw, kind = r.status, r.read(), r.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        status, raw, kind = e.code, e.read(), e.headers["Content-Type"]
    assert kind == "application/json", kind
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1, raw
    return status, json.loads(raw)


class Server:
    """The metrics server with --control on an ephemeral port, its Stats, RateControl and log."""

    def __init__(self, address="127.0.0.1", token_file=None, qps=5.0):
        self.stats = Stats(qps)
        self.out = io.StringIO()
        self.control = RateControl(self.stats, Log("text", stream=self.out))
        self.metrics = MetricsServer(StatsCollector(self.stats), 0, address, self.control, token_file)

    def url(self, path, host="127.0.0.1"):
        return f"http://{host}:{self.metrics.port}{path}"

    def close(self):
        self.metrics.close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()                 # waits up to 0.5 s for the serve loop


@pytest.fixture(scope="module")
def untouched():
    """One server for the tests of requests that must change nothing (they check it did not)."""
    s = Server()
    yield s
    s.close()


def test_get_shows_the_target_and_post_changes_it(server):
    assert call(server.url("/control")) == (200, {"visits_per_second": 5.0, "changes": 0,
                                                  "max_visits_per_second": MAX_VISITS_PER_SECOND})
    assert server.control.take() is None
    status, state = call(server.url("/control/rate"), "POST", {"visits_per_second": 25})
    assert (status, state) == (200, {"visits_per_second": 25.0, "changes": 1, "max_visits_per_second": 2000.0})
    assert call(server.url("/control"))[1] == state
    assert server.control.take() == 25.0 and server.control.take() is None, "handed over once"
    assert server.out.getvalue() == "[thelook-datagen] rate changed to 25 visits/s (control request from 127.0.0.1)\n"

    # the rate already set: accepted, nothing changes, nothing counted or printed
    assert call(server.url("/control/rate"), "POST", {"visits_per_second": 25.0})[1]["changes"] == 1
    assert server.control.take() is None and server.out.getvalue().count("\n") == 1
    # 0 = flat out; fractions are fine; the latest request before the loop looks is the one it takes
    assert call(server.url("/control/rate"), "POST", {"visits_per_second": 0.5})[1]["changes"] == 2
    assert call(server.url("/control/rate"), "POST", {"visits_per_second": 0})[1] == {
        "visits_per_second": 0.0, "changes": 3, "max_visits_per_second": 2000.0}
    assert server.control.take() == 0.0
    assert "rate changed to flat out (control request from 127.0.0.1)" in server.out.getvalue()

    metrics = urllib.request.urlopen(server.metrics.url, timeout=5).read().decode()
    assert "thelook_rate_changes_total 3.0" in metrics
    assert "# HELP thelook_rate_changes_total Changes of the target visit rate accepted" in metrics
    assert server.stats.snapshot(final=True)["rate_changes"] == 3


@pytest.mark.parametrize("body, needle", [
    (b"fast please", "not JSON"),
    (b"", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[40]", "no visits_per_second"),
    (b'{"rate": 40}', "no visits_per_second"),
    (b'{"visits_per_second": "40"}', 'must be a number, got "40"'),
    (b'{"visits_per_second": null}', "must be a number, got null"),
    (b'{"visits_per_second": true}', "must be a number, got true"),
    (b'{"visits_per_second": [1, 2]}', "must be a number"),
    (b'{"visits_per_second": NaN}', "NaN"),
    (b'{"visits_per_second": -1}', "must be >= 0"),
    (b'{"visits_per_second": -Infinity}', "must be >= 0"),
    (b'{"visits_per_second": 2000.5}', "at most 2000"),
    (b'{"visits_per_second": 1e400}', "at most 2000"),
    (b'{"visits_per_second": 1' + b"0" * 400 + b"}", "at most 2000"),
    (b'{"visits_per_second": 1}' + b" " * 5000, "too large"),
])
def test_bad_bodies_get_400_with_one_line_and_change_nothing(untouched, body, needle):
    server = untouched
    status, answer = call(server.url("/control/rate"), "POST", body, {"Content-Type": "application/json"})
    assert status == 400 and set(answer) == {"error"}, answer
    assert needle in answer["error"] and "\n" not in answer["error"], answer
    assert call(server.url("/control"))[1]["visits_per_second"] == 5.0
    assert server.control.take() is None and server.stats.rate_changes == 0 and server.out.getvalue() == ""


def test_the_limits_are_inclusive():
    assert parse_rate(b'{"visits_per_second": 0}') == 0.0
    assert parse_rate(b'{"visits_per_second": -0.0}') == 0.0
    assert parse_rate(b'{"visits_per_second": 2000}') == 2000.0
    assert parse_rate(b'{"visits_per_second": 12.5, "note": "extra keys are ignored"}') == 12.5


def test_wrong_method_or_path(untouched):
    server = untouched
    status, answer = call(server.url("/control/rate"))
    assert status == 405 and "use POST" in answer["error"]
    assert call(server.url("/control"), "POST", {"visits_per_second": 3})[0] == 405
    assert call(server.url("/control/speed"))[0] == 404
    assert server.stats.rate_changes == 0


def test_metrics_are_served_as_before(server):
    """/metrics (and, as prometheus_client's app does, any other path) is the Prometheus text."""
    server.stats.visit_done("browse", 0.0, 0.001)
    for path in ("/metrics", "/", "/controls"):
        with urllib.request.urlopen(server.url(path), timeout=5) as r:
            assert r.headers["Content-Type"].startswith("text/plain"), path
            text = r.read().decode()
        assert 'thelook_visits_total{kind="browse"} 1.0' in text and "thelook_target_visits_per_second 5.0" in text


def test_after_the_run_a_change_is_refused(server):
    server.metrics.run_finished()
    status, answer = call(server.url("/control/rate"), "POST", {"visits_per_second": 9})
    assert status == 409 and "run is over" in answer["error"]
    assert call(server.url("/control")) == (200, {"visits_per_second": 5.0, "changes": 0,
                                                  "max_visits_per_second": 2000.0})
    assert server.metrics.collector.finished


def test_a_request_cuts_the_loops_wait_short():
    control = RateControl(Stats(0.2))
    threading.Timer(0.1, control.request, (40.0, "127.0.0.1")).start()
    started = time.monotonic()
    control.pause(5.0)                   # the run loop waiting for a visit due in 5 s
    assert time.monotonic() - started < 2.0
    assert control.take() == 40.0
    started = time.monotonic()
    control.pause(0.05)                  # taken: the next pause is a plain sleep again
    assert time.monotonic() - started >= 0.04


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1", True), ("127.3.4.5", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("10.0.0.1", False), ("192.0.2.2", False), ("::ffff:10.0.0.1", False), ("fd00::2", False),
    ("", False), ("localhost", False),
])
def test_loopback_addresses(address, loopback):
    assert is_loopback(address) is loopback


def own_ipv4():
    """A non-loopback IPv4 address of this machine: the source address a UDP socket 'connected' to
    an outside address would use (no packet is sent), else `hostname -I`; None when there is none."""
    for target in ("10.255.255.255", "192.0.2.1", "198.51.100.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect((target, 9))
            except OSError:
                continue
            ip = s.getsockname()[0]
            if ip != "0.0.0.0" and not is_loopback(ip):
                return ip
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return next((a for a in out.split() if "." in a and not is_loopback(a)), None)


def test_other_hosts_need_the_token_from_the_file(tmp_path):
    ip = own_ipv4()
    if ip is None:
        pytest.skip("this machine has no non-loopback IPv4 address to call from")
    token_file = tmp_path / "control-token"
    s = Server("0.0.0.0", token_file=str(token_file))
    try:
        rate, state = s.url("/control/rate", ip), s.url("/control", ip)
        secret = "s3cret-Token_42"
        # no file yet: only loopback clients
        for headers in ({}, {"X-Thelook-Token": secret}, {"X-Thelook-Token": ""}):
            status, answer = call(rate, "POST", {"visits_per_second": 30}, headers)
            assert status == 403 and set(answer) == {"error"} and "X-Thelook-Token" in answer["error"], answer
        assert call(state)[0] == 403, "reading the rate from another host needs the token too"
        assert call(s.url("/control/rate"), "POST", {"visits_per_second": 30})[0] == 200, "loopback needs none"

        # the file appears while the server runs (with a newline, as `echo` writes it)
        token_file.write_text(secret + "\n")
        for wrong in ("nope", secret[:-1], secret + "x", secret.upper(), ""):
            assert call(rate, "POST", {"visits_per_second": 31}, {"X-Thelook-Token": wrong})[0] == 403, wrong
        assert call(rate, "POST", {"visits_per_second": 31})[0] == 403
        status, answer = call(rate, "POST", {"visits_per_second": 31}, {"X-Thelook-Token": secret})
        assert (status, answer["visits_per_second"], answer["changes"]) == (200, 31.0, 2)
        assert call(state, headers={"X-Thelook-Token": secret})[0] == 200
        assert f"rate changed to 31 visits/s (control request from {ip})" in s.out.getvalue()

        # rotated: the old token no longer works; an empty file means loopback only again
        token_file.write_text("another-one")
        assert call(rate, "POST", {"visits_per_second": 32}, {"X-Thelook-Token": secret})[0] == 403
        assert call(rate, "POST", {"visits_per_second": 32}, {"X-Thelook-Token": "another-one"})[0] == 200
        token_file.write_text("  \n")
        assert call(rate, "POST", {"visits_per_second": 33}, {"X-Thelook-Token": ""})[0] == 403
        token_file.unlink()
        assert call(rate, "POST", {"visits_per_second": 33}, {"X-Thelook-Token": "another-one"})[0] == 403

        # /metrics stays open to every host, as before
        with urllib.request.urlopen(s.url("/metrics", ip), timeout=5) as r:
            assert r.status == 200 and b"thelook_rate_changes_total 3.0" in r.read()
        assert secret not in s.out.getvalue() and "another-one" not in s.out.getvalue(), "never log a token"
    finally:
        s.close()


# -- the options -----------------------------------------------------------------------------------
def test_options_off_by_default_and_set_by_option_or_variable(tmp_path):
    s = parse_settings([], environ={})
    assert (s.control, s.control_token_file) == (False, None)
    s = parse_settings([], environ={"THELOOK_CONTROL": "true", "THELOOK_CONTROL_TOKEN_FILE": "/run/tok"})
    assert (s.control, s.control_token_file) == (True, "/run/tok")
    s = parse_settings(["--control", "--control-token-file", "/etc/tok"], environ={"THELOOK_CONTROL": "false"})
    assert (s.control, s.control_token_file) == (True, "/etc/tok")
    helps = {o.dest: o.help_text() for o in GENERATOR.options()}
    assert "THELOOK_CONTROL]" in helps["control"] and "--metrics-port" in helps["control"]
    token_help = helps["control_token_file"]
    assert "X-Thelook-Token" in token_help and "THELOOK_CONTROL_TOKEN_FILE" in token_help


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "thelook_datagen", *args], env={**CLEAN, **(env or {})},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, env", [(["--control"], {}), ([], {"THELOOK_CONTROL": "1"})])
def test_control_without_a_metrics_port_is_one_line_exit_2_before_anything_connects(args, env):
    # PostgreSQL would be unreachable (nothing listens on PGPORT): the options are checked first
    proc = run(*args, "--no-create-topic",
               env={"PGHOST": "127.0.0.1", "PGPORT": str(free_port()), "PGCONNECT_TIMEOUT": "1", **env})
    line = one_line_error(proc, "thelook-datagen: error: ")
    assert proc.returncode == 2
    assert "--control needs --metrics-port" in line and "THELOOK_METRICS_PORT" in line, line
