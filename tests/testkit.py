"""Helpers shared by test files (importable as `testkit`: tests/pytest.ini puts tests/ on the path).

Kept free of fixtures and of any service: fixtures live in the conftest files.
"""
import os
import socket
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def env_pins():
    """The repository's .env pins (KEY=VALUE lines)."""
    values = {}
    for line in (ROOT / ".env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# The two PostgreSQL releases the CDC tests run on: the stack's pin, and a second major
# (tests/cdc/conftest.py starts it next to the stack). THELOOK_PG_SECOND_VERSION overrides the second.
PINNED_PG = env_pins()["POSTGRES_VERSION"]
SECOND_PG = os.environ.get("THELOOK_PG_SECOND_VERSION") or env_pins()["POSTGRES_SECOND_VERSION"]


def pg_servers():
    """Parameters for @pytest.mark.parametrize("pg_server", pg_servers(), indirect=True): both releases."""
    import pytest
    return [pytest.param("pinned", id=f"pg{PINNED_PG}"), pytest.param("second", id=f"pg{SECOND_PG}")]


def free_port():
    """A TCP port on 127.0.0.1 with nothing listening (for 'unreachable service' tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line_error(proc, prefix=None):
    """The single stderr line of a command that failed the project's way: non-zero exit, one line,
    no traceback (see thelook_datagen/console.py). Returns the line."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("[")]
    assert len(lines) == 1, proc.stderr
    if prefix:
        assert lines[0].startswith(prefix), lines[0]
    return lines[0]


class OutputWatcher(threading.Thread):
    """Collects a running process's output lines in the background, so a test can wait for a line
    without blocking on a read (and still see everything the process printed)."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.lines = stream, []

    def run(self):
        for line in self.stream:
            self.lines.append(line)

    @property
    def text(self):
        return "".join(self.lines)

    def wait_for(self, text, timeout=60, after=0):
        """Waits until a line (from index `after` on) contains `text`; returns that line's index."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(after, len(self.lines)):
                if text in self.lines[i]:
                    return i
            if time.monotonic() >= deadline or (not self.is_alive() and not any(
                    text in ln for ln in self.lines[after:])):
                raise AssertionError(f"{text!r} not seen within {timeout} s in:\n{self.text[-3000:]}")
            time.sleep(0.05)

    def finish(self, timeout=10):
        """Waits for the stream to end (the process exited); returns all output."""
        self.join(timeout)
        return self.text


def watch(proc, stream="stderr"):
    """Starts an OutputWatcher on proc.stderr (or stdout)."""
    w = OutputWatcher(getattr(proc, stream))
    w.start()
    return w
