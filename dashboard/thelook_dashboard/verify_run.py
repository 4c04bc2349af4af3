"""Runs `thelook-datagen verify` for the Verify button: one run at a time, with a time limit.

verify is the project's proof that Kafka holds exactly what PostgreSQL holds; the dashboard runs the
real command (the same Python, `-m thelook_datagen verify`, with the same Kafka settings and the
PostgreSQL variables of its own environment) and shows its progress lines ("[verify] ..." on stderr),
then its per-table result (its --json file) and verdict. Exit status 0 = OK, 1 = differences,
2 = could not verify; a run past the time limit is stopped (TIMEOUT).
"""
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

PROGRESS_LINES = 8


class Busy(Exception):
    """A verify run is already running."""


class VerifyRunner:
    def __init__(self, settings, on_change=None, slot=lambda: None):
        self.s = settings
        self.slot = slot          # the connector's replication slot (from its config), when known
        self.on_change = on_change or (lambda: None)
        self.lock = threading.Lock()
        self.runs = 0
        self.state = {"state": "idle", "run": 0, "started": None, "finished": None, "elapsed": None,
                      "timeout": settings.verify_timeout, "progress": [], "verdict": None, "message": None,
                      "tables": []}
        self._progress = collections.deque(maxlen=PROGRESS_LINES)
        self.proc = None

    def command(self, json_path):
        cmd = [sys.executable, "-m", "thelook_datagen", "verify", "--bootstrap-servers", self.s.bootstrap_servers,
               "--topic-prefix", self.s.topic_prefix, "--schema", self.s.schema, "--json", json_path]
        if self.slot():
            # verify waits until this slot has confirmed its cut; with several slots it must be named
            cmd += ["--slot", self.slot()]
        for key, value in (self.s.kafka_config or {}).items():
            cmd += ["--kafka-config", f"{key}={value}"]
        return cmd

    def view(self):
        with self.lock:
            out = dict(self.state)
            out["progress"] = list(self._progress)
            if out["state"] == "running":
                out["elapsed"] = round(time.time() - out["started"], 1)
            return out

    def start(self):
        """Starts a run in a thread; raises Busy when one runs. Returns the run's number."""
        with self.lock:
            if self.state["state"] == "running":
                started = time.strftime("%H:%M:%S", time.localtime(self.state["started"]))
                raise Busy(f"a verify run is already running (run {self.state['run']}, started {started}); "
                           "wait for its result")
            self.runs += 1
            self._progress.clear()
            self.state.update(state="running", run=self.runs, started=time.time(), finished=None, elapsed=0.0,
                              verdict=None, message="verify is running", tables=[])
        threading.Thread(target=self._run, name=f"verify-{self.runs}", daemon=True).start()
        self.on_change()
        return self.runs

    def _line(self, text):
        with self.lock:
            self._progress.append(text.rstrip()[:300])

    def _run(self):
        fd, path = tempfile.mkstemp(prefix="thelook-verify-", suffix=".json")
        os.close(fd)
        verdict, message, tables, last_error = "FAILED", None, [], None
        try:
            try:
                proc = subprocess.Popen(self.command(path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True, bufsize=1, env=dict(os.environ, PYTHONUNBUFFERED="1"))
            except OSError as e:
                message = f"could not start verify: {e}"
                return
            self.proc = proc
            killed = threading.Event()

            def kill():
                killed.set()
                proc.kill()
            timer = threading.Timer(self.s.verify_timeout, kill)
            timer.start()
            try:
                for line in proc.stderr:
                    if line.strip():
                        self._line(line)
                        if ": error: " in line:
                            last_error = line.split(": error: ", 1)[1].strip()
                code = proc.wait()
            finally:
                timer.cancel()
            if killed.is_set():
                verdict = "TIMEOUT"
                message = f"verify did not finish within {self.s.verify_timeout:g} s and was stopped"
            elif code in (0, 1):
                result = self._read(path)
                tables = [{k: t.get(k) for k in ("table", "events", "rows_postgres", "matched", "missing",
                                                 "extra", "different")} for t in result.get("tables", [])]
                rows = sum(t.get("rows_postgres") or 0 for t in tables)
                if code == 0:
                    verdict, message = "OK", f"OK: all {rows:,} rows equal"
                else:
                    missing = sum(t.get("missing") or 0 for t in tables)
                    extra = sum(t.get("extra") or 0 for t in tables)
                    diff = sum(t.get("different") or 0 for t in tables)
                    verdict = "DIFFERENCES"
                    message = (f"DIFFERENCES: {missing:,} missing, {extra:,} extra, {diff:,} different "
                               f"of {rows:,} rows")
            else:
                message = f"verify could not run: {last_error or f'exit status {code}'}"
        except Exception as e:    # never leave the button stuck in "running"
            message = f"verify failed: {type(e).__name__}: {e}"
        finally:
            self.proc = None
            try:
                os.unlink(path)
            except OSError:
                pass
            with self.lock:
                now = time.time()
                self.state.update(state="done", finished=now, elapsed=round(now - self.state["started"], 1),
                                  verdict=verdict, message=message or "verify failed", tables=tables)
            self.on_change()

    @staticmethod
    def _read(path):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def stop(self):
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
