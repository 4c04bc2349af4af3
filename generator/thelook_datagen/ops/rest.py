"""One small JSON-over-HTTP client (on `requests`) for Kafka Connect, the Flink JobManager and the
Flink SQL gateway, and for the local stack's health probes.

    connect = Rest("http://127.0.0.1:8083", "Kafka Connect", fix="is it running? set {opt:connect_url}")
    reply = connect.send("GET", "/connectors/x/status")     # Reply(status, body), any status
    plugins = connect.call("GET", "/connector-plugins")      # the body; RestError on HTTP >= 400

Every failure is a `RestError` (a `UserError`): `status` is None when nothing answered (refused,
timed out, no such host), else the HTTP status with the decoded `body`.

`url` may list several servers of one service, comma-separated (the Kafka Connect workers of a cluster:
any worker answers for the group): a request goes to the one that answered last and moves on to the next
when it gets no answer.
"""
import re
import time
from typing import Any, NamedTuple

import requests

from . import OpsError

DEFAULT_TIMEOUT = 30.0


class RestError(OpsError):
    """A REST call failed: no answer (`status` None, `reason` says why) or an error status (`status`,
    `body`; `details` holds the message's further lines)."""

    def __init__(self, what, fix=None, *, status=None, body=None, reason=None, details=()):
        super().__init__(what, fix, details)
        self.status = status
        self.body = body
        self.reason = reason

    @property
    def unreachable(self):
        return self.status is None


class Reply(NamedTuple):
    status: int
    body: Any          # decoded JSON; None when empty; {"message": text} when not JSON


def short_reason(exc, timeout=None):
    """Why a request got no answer, in a few words ('Connection refused', 'no answer within 3 s')."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s" if timeout else "timed out"
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    if found:
        return found[-1].strip()
    return type(exc).__name__


def _decode(resp):
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return {"message": resp.text.strip()[:1000]}


class Rest:
    """A service's REST API at `url`. `service` names it in messages; `fix` is the advice given when
    it does not answer (may name settings as {opt:NAME})."""

    def __init__(self, url, service, *, fix=None, timeout=DEFAULT_TIMEOUT, session=None):
        self.urls = [u.strip().rstrip("/") for u in url.split(",") if u.strip()] or [url.rstrip("/")]
        self.service = service
        self.fix = fix
        self.timeout = timeout
        self.http = session or requests.Session()

    def send(self, method, path, body=None, *, timeout=None):
        """One request; returns Reply(status, body) whatever the status. Raises RestError when
        nothing answers."""
        timeout = self.timeout if timeout is None else timeout
        reasons = []
        for _ in range(len(self.urls)):
            try:
                resp = self.http.request(method, self.url + path, json=body, timeout=timeout,
                                         headers={"Accept": "application/json"})
                return Reply(resp.status_code, _decode(resp))
            except requests.RequestException as exc:
                reasons.append(short_reason(exc, timeout))
                self.urls.append(self.urls.pop(0))   # the next server first from now on
        where = self.url if len(self.urls) == 1 else f"any of {', '.join(self.urls)}"
        raise RestError(f"{self.service} is not reachable at {where}: {reasons[-1]}", self.fix,
                        reason=reasons[-1])

    @property
    def url(self):
        """The server requests go to now (the first of `urls`)."""
        return self.urls[0]

    def call(self, method, path, body=None, *, timeout=None):
        """One request that must succeed; returns the decoded body. Raises RestError on no answer
        or HTTP >= 400."""
        reply = self.send(method, path, body, timeout=timeout)
        if reply.status >= 400:
            raise self.refused(method, path, reply)
        return reply.body

    def refused(self, method, path, reply, what=None):
        """The RestError for an error answer: `what` (default: the request) and the service's message."""
        lines = self.error_lines(reply.body) or ["(no message)"]
        what = what or f"{self.service} refused {method} {path.split('?')[0]}"
        return RestError(f"{what} (HTTP {reply.status}): {lines[0]}", status=reply.status, body=reply.body,
                         details=lines[1:])

    def error_lines(self, body):
        """An error answer's message as lines, the summary first (Kafka Connect: `message`; Flink:
        `errors`; subclasses may know better)."""
        if isinstance(body, dict):
            if body.get("message"):
                return [ln for ln in str(body["message"]).splitlines() if ln.strip()][:5]
            if body.get("errors"):
                return [str(e).splitlines()[0] for e in body["errors"] if str(e).strip()][:5]
        return [str(body)[:300]] if body else []

    def wait_ready(self, path, timeout, interval=1.0):
        """GETs `path` until it succeeds (no answer or HTTP 5xx: try again) for up to `timeout`
        seconds; returns the body or raises the last RestError."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.call("GET", path, timeout=max(1.0, min(self.timeout, deadline - time.monotonic())))
            except RestError as err:
                if (err.status is not None and err.status < 500) or time.monotonic() + interval > deadline:
                    raise
            time.sleep(interval)
