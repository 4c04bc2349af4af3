"""The workshop controls (--controls): each one performs the real operation through the component's
own API (or, for local restarts, the launcher), one at a time.

  generator.rate             the generator's control endpoint (thelook-datagen --control): POST /control/rate
  connector.pause / resume   Kafka Connect: PUT /connectors/NAME/pause | resume
  connector.restart-task     Kafka Connect: POST /connectors/NAME/tasks/0/restart
  flink.cancel               the JobManager: cancel this prefix's jobs (thelook_datagen.ops.flink_jobs)
  flink.resubmit             the SQL gateway: submit this prefix's jobs that are not running (same module
                             as scripts/submit-flink-jobs)
  stack.restart-connect      local stack only (--stack-command): `scripts/stack restart connect`
  stack.restart-taskmanager  local stack only: `scripts/stack restart taskmanager`

Compose gets no Docker socket, so there only the controls through the components' APIs exist.
Who may use them is decided in app.py (loopback clients, or the per-start token).
"""
import math
import subprocess
import threading
import time
from pathlib import Path

import requests

from thelook_datagen.errors import UserError
from thelook_datagen.ops import connector as connect_ops
from thelook_datagen.ops import flink_jobs
from thelook_datagen.ops.rest import RestError, short_reason

MAX_RATE = 2000.0
ACTIONS = ("generator.rate", "connector.pause", "connector.resume", "connector.restart-task", "flink.cancel",
           "flink.resubmit", "stack.restart-connect", "stack.restart-taskmanager")


class ActionError(Exception):
    """An action refused or failed: `status` is the HTTP status the page gets, the message one line."""

    def __init__(self, message, status=400):
        super().__init__(" ".join(str(message).split()))
        self.status = status


def _from_user_error(err):
    status = 503 if isinstance(err, RestError) and err.unreachable else 502
    return ActionError(err.render({}) if hasattr(err, "render") else str(err), status)


def default_sql_dir():
    """The repository's flink/ when the package runs from a checkout (editable install), else None."""
    here = Path(__file__).resolve().parents[2] / "flink"
    return str(here) if (here / "common.sql").is_file() else None


class Controls:
    def __init__(self, settings, token=None, on_change=None):
        self.s = settings
        self.token = token
        self.on_change = on_change or (lambda: None)
        self.lock = threading.Lock()
        self.busy = None
        self.last = None
        self.http = requests.Session()
        self.sql_dir = settings.flink_sql_dir or default_sql_dir()

    def available(self):
        if not self.s.controls:
            return []
        out = [a for a in ACTIONS if not a.startswith("stack.")]
        if not self.sql_dir:
            out.remove("flink.resubmit")
        if self.s.stack_command:
            out += ["stack.restart-connect", "stack.restart-taskmanager"]
        return out

    def view(self):
        return {"enabled": bool(self.s.controls), "available": self.available(), "busy": self.busy,
                "last": self.last}

    # ---------------------------------------------------------------- running one

    def check(self, action, body):
        """Validates an action and its body before it runs; returns the argument. Raises ActionError."""
        if not self.s.controls:
            raise ActionError("the controls are off (start the dashboard with --controls)", 403)
        if action not in ACTIONS:
            raise ActionError(f"no such control: {action}", 404)
        if action not in self.available():
            raise ActionError(f"{action} is not available here"
                              + (" (local stack only: --stack-command)" if action.startswith("stack.") else ""), 404)
        if action == "generator.rate":
            value = (body or {}).get("visits_per_second") if isinstance(body, dict) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
                    or math.isinf(value) or value < 0 or value > MAX_RATE:
                raise ActionError(f"visits_per_second must be a number from 0 (flat out) to {MAX_RATE:g}, "
                                  f"got {value!r}")
            return float(value)
        return None

    def run(self, action, arg=None):
        """Runs a checked action (blocking; call it from a worker thread). Returns its message; raises
        ActionError (409 when another action runs)."""
        if not self.lock.acquire(blocking=False):
            raise ActionError(f"another control is running: {self.busy}", 409)
        self.busy = action
        self.on_change()
        try:
            message = getattr(self, "_" + action.replace(".", "_").replace("-", "_"))(arg)
            self.last = {"action": action, "ok": True, "message": message, "time": time.time()}
            return message
        except ActionError as e:
            self.last = {"action": action, "ok": False, "message": str(e), "time": time.time()}
            raise
        except UserError as e:
            err = _from_user_error(e)
            self.last = {"action": action, "ok": False, "message": str(err), "time": time.time()}
            raise err from None
        finally:
            self.busy = None
            self.lock.release()
            self.on_change()

    # ---------------------------------------------------------------- the actions

    def _generator_rate(self, rate):
        url = self.s.generator_url.rstrip("/") + "/control/rate"
        headers = {"X-Thelook-Token": self.token} if self.token else {}
        try:
            r = self.http.post(url, json={"visits_per_second": rate}, headers=headers, timeout=5)
        except requests.RequestException as exc:
            raise ActionError(f"the generator's control endpoint is not reachable at {url}: "
                              f"{short_reason(exc, 5)} (is a generator running with --control?)", 503) from None
        try:
            body = r.json()
        except ValueError:
            body = {}
        if r.status_code >= 400:
            raise ActionError(f"the generator refused: {body.get('error') or f'HTTP {r.status_code}'}",
                              502 if r.status_code != 400 else 400)
        got = body.get("visits_per_second", rate)
        return "generator: flat out" if got == 0 else f"generator: {got:g} visits/s"

    def _connect(self):
        return connect_ops.client(self.s.connect_url, timeout=10)

    def _connector_pause(self, _):
        connect = self._connect()
        connect.call("PUT", f"/connectors/{self.s.connector}/pause")
        return f"connector {self.s.connector}: pause requested"

    def _connector_resume(self, _):
        connect = self._connect()
        connect.call("PUT", f"/connectors/{self.s.connector}/resume")
        return f"connector {self.s.connector}: resume requested"

    def _connector_restart_task(self, _):
        connect = self._connect()
        connect.call("POST", f"/connectors/{self.s.connector}/tasks/0/restart")
        return f"connector {self.s.connector}: task 0 restarted"

    def _flink_cancel(self, _):
        jm = flink_jobs.jobmanager_client(self.s.flink_url, timeout=10)
        cancelled = flink_jobs.cancel_jobs(jm, self.s.topic_prefix, wait=60)
        return f"cancelled {len(cancelled)} Flink job(s)" if cancelled else "no running Flink jobs of this prefix"

    def _flink_resubmit(self, _):
        jm = flink_jobs.jobmanager_client(self.s.flink_url, timeout=10)
        gw = flink_jobs.gateway_client(self.s.sql_gateway_url, timeout=30)
        result = flink_jobs.submit_jobs(gw, jm, self.sql_dir, topic_prefix=self.s.topic_prefix, schema=self.s.schema,
                                        bootstrap_servers=self.s.flink_bootstrap_servers,
                                        kafka_config=self.s.kafka_config, wait=90)
        if result.issues:
            raise ActionError("; ".join(i.line() for i in result.issues), 502)
        return (f"submitted {len(result.submitted)} Flink job(s), {len(result.skipped)} already running")

    def _stack(self, service):
        cmd = [self.s.stack_command, "restart", service]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        except subprocess.TimeoutExpired:
            raise ActionError(f"scripts/stack restart {service} did not finish within 240 s", 504) from None
        except OSError as e:
            raise ActionError(f"cannot run {self.s.stack_command}: {e}", 500) from None
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
            raise ActionError(f"scripts/stack restart {service} failed: {lines[-1] if lines else proc.returncode}",
                              502)
        return f"{service} restarted and healthy"

    def _stack_restart_connect(self, _):
        return self._stack("connect")

    def _stack_restart_taskmanager(self, _):
        return self._stack("taskmanager")
