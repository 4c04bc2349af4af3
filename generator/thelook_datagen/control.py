"""Live rate control (`--control`): a dashboard changes the visit rate of a running generator.

Served by the metrics server (metrics.py) next to /metrics, as JSON:

  GET  /control        -> 200 {"visits_per_second": target, "changes": n, "max_visits_per_second": MAX}
  POST /control/rate   {"visits_per_second": X} -> 200, the same shape with the new target;
                       400 {"error": "..."} for a body that is not such an object with a number
                       0 <= X <= MAX (0 = flat out, like --avg-qps 0); 409 once the run is over

Who may call: loopback clients (127.0.0.0/8, ::1), and others that send the header X-Thelook-Token
equal to the stripped contents of --control-token-file. The file is read at every request, so it
may be written (or rotated) after the generator started; while it is missing, empty or unreadable,
only loopback clients get in. Everyone else gets 403 {"error": "..."}. The token never appears in
a message.

Threads: requests are answered on the server's threads, which never touch the Pacer. A new rate is
handed over through `RateControl` (a lock and an Event): the run loop `take()`s it between two
visits and restarts its schedule from that moment (pacing.Pacer.set_rate), and while it waits for
the next due visit it sleeps in `pause()`, which a request cuts short, so a change from 0.2 visits/s
(a 5 s wait) to 40 visits/s takes effect at once rather than after the pending visit.
"""
import hmac
import ipaddress
import json
import math
import threading

MAX_VISITS_PER_SECOND = 2000.0   # far above what one generator writes (~500 visits/s flat out on a laptop)
MAX_BODY = 4096                  # bytes of a POST body read at most (a rate needs about 30)
TOKEN_HEADER = "X-Thelook-Token"
_TOKEN_ENVIRON = "HTTP_" + TOKEN_HEADER.upper().replace("-", "_")
_JSON = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]


class ControlError(ValueError):
    """A request the control endpoint refuses: `status` (HTTP), a one-line message, and for 405 the
    method that path allows."""

    def __init__(self, status, message, allow=None):
        super().__init__(message)
        self.status = status
        self.allow = allow


def describe_rate(qps):
    return "flat out" if not qps else f"{qps:g} visits/s"


def parse_rate(body, maximum=MAX_VISITS_PER_SECOND):
    """The visits per second asked for by a POST /control/rate body (bytes), as a float; ControlError
    400 when the body is not {"visits_per_second": X} with a number 0 <= X <= maximum."""
    usage = 'send {"visits_per_second": X}'
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ControlError(400, f"the body is not JSON ({usage})") from None
    if not isinstance(data, dict) or "visits_per_second" not in data:
        raise ControlError(400, f"no visits_per_second in the body ({usage})")
    value = data["visits_per_second"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = json.dumps(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise ControlError(400, f"visits_per_second must be a number, got {shown}")
    try:
        value = float(value)
    except OverflowError:                 # an integer too large for a float
        value = math.inf
    if math.isnan(value):
        raise ControlError(400, "visits_per_second must be a number, got NaN")
    if value < 0:
        raise ControlError(400, f"visits_per_second must be >= 0 (0 = flat out), got {value:g}")
    if value > maximum:
        raise ControlError(400, f"visits_per_second must be at most {maximum:g}, got {value:g}")
    return value + 0.0                    # -0.0 is 0


def is_loopback(address):
    """True for 127.0.0.0/8 and ::1, also written as IPv4-mapped IPv6 (::ffff:127.0.0.1, what a
    dual-stack server sees)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def client_name(address):
    """The client address as a person writes it (without the ::ffff: of an IPv4-mapped address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    return str(getattr(ip, "ipv4_mapped", None) or ip)


class RateControl:
    """The target rate a request asked for, handed over to the run loop.

    `request(qps, client)` (server threads) records a new target, counts it in stats.rate_changes
    and wakes the loop; asking for the target already set changes nothing. `take()` (the run loop)
    returns the target asked for since its last call, or None. `pause(seconds)` (the run loop's wait
    for the next visit) returns early when a request arrives. `close()` at the end of the run:
    later requests get 409."""

    def __init__(self, stats, log=None, maximum=MAX_VISITS_PER_SECOND):
        self.stats = stats
        self.log = log
        self.maximum = maximum
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._target = float(stats.target_qps or 0.0)
        self._pending = None
        self.closed = False

    def state(self):
        with self._lock:
            return self._state()

    def _state(self):
        return {"visits_per_second": self._target, "changes": self.stats.rate_changes,
                "max_visits_per_second": self.maximum}

    def request(self, qps, client="unknown"):
        """Sets the target to `qps` (already validated, see parse_rate); returns the new state."""
        with self._lock:
            if self.closed:
                raise ControlError(409, "the run is over: its rate can no longer change")
            changed = qps != self._target
            if changed:
                self._target = qps
                self._pending = qps
                self.stats.rate_changes += 1    # only ever written here, under the lock
                self._wake.set()
            state = self._state()
        if changed and self.log is not None:
            self.log.info(f"rate changed to {describe_rate(qps)} (control request from {client})",
                          visits_per_second=qps, client=client)
        return state

    def take(self):
        """The new target for the run loop, or None when none was asked for since the last call."""
        if self._pending is None:        # the common case, once per visit: no lock
            return None
        with self._lock:
            qps, self._pending = self._pending, None
            self._wake.clear()
            return qps

    def pause(self, seconds):
        """Sleeps `seconds`, or less when a request arrives meanwhile (a drop-in for time.sleep:
        signal handlers still run, and the loop checks its stop flag after each pause)."""
        self._wake.wait(seconds)

    def close(self):
        with self._lock:
            self.closed = True


class ControlApp:
    """WSGI app: the /control paths, anything else passed on to `fallback` (the metrics app)."""

    def __init__(self, control, fallback, token_file=None):
        self.control = control
        self.fallback = fallback
        self.token_file = token_file

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path != "/control" and not path.startswith("/control/"):
            return self.fallback(environ, start_response)
        try:
            # the body first, even of a request refused below: closing a socket with unread data
            # resets the connection, and the client would see that instead of our answer
            body = self._body(environ)
            if not self._allowed(environ):
                raise ControlError(403, f"control requests from other hosts need the {TOKEN_HEADER} header "
                                        "with the generator's control token")
            status, payload = 200, self._route(environ, path, body)
        except ControlError as e:
            return _reply(start_response, e.status, {"error": str(e)}, e.allow)
        return _reply(start_response, status, payload)

    def _route(self, environ, path, body):
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/control":
            if method != "GET":
                raise ControlError(405, f"{method} /control: use GET (or POST /control/rate)", "GET")
            return self.control.state()
        if path == "/control/rate":
            if method != "POST":
                raise ControlError(405, f"{method} /control/rate: use POST with {{\"visits_per_second\": X}}",
                                   "POST")
            qps = parse_rate(body, self.control.maximum)
            return self.control.request(qps, client_name(environ.get("REMOTE_ADDR", "")))
        raise ControlError(404, f"no such control path: {path} (GET /control, POST /control/rate)")

    @staticmethod
    def _body(environ):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise ControlError(400, "bad Content-Length") from None
        if length > MAX_BODY:
            raise ControlError(400, f"the body is too large ({length} bytes; a rate needs about 30)")
        return environ["wsgi.input"].read(length) if length > 0 else b""

    def _allowed(self, environ):
        if is_loopback(environ.get("REMOTE_ADDR", "")):
            return True
        given = environ.get(_TOKEN_ENVIRON)
        token = self._token()
        if not given or not token:
            return False
        # WSGI hands headers over as latin-1 strings: back to the bytes the client sent
        return hmac.compare_digest(given.encode("latin-1", "replace"), token)

    def _token(self):
        """The token (bytes) from the token file now, or None (no file, unreadable, or empty)."""
        if not self.token_file:
            return None
        try:
            with open(self.token_file, "rb") as f:
                return f.read().strip() or None
        except OSError:
            return None


def _reply(start_response, status, payload, allow=None):
    body = (json.dumps(payload) + "\n").encode()
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
              409: "Conflict"}[status]
    headers = _JSON + [("Content-Length", str(len(body)))]
    if allow:
        headers.append(("Allow", allow))
    start_response(f"{status} {reason}", headers)
    return [body]
