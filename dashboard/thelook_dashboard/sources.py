"""Polls the pipeline's own APIs: Prometheus (rates, lags, alerts), Kafka Connect (the connector),
the Flink JobManager (this prefix's jobs) and the generator's control endpoint (its target rate).

One thread polls them all every `refresh` seconds (and at once after an action), whatever the number
of open pages: the page never talks to these services. A source that does not answer is marked
unreachable with one line saying why; its last good values are dropped (a stale number on a
projector is worse than "unreachable"), and the other sources go on.
"""
import math
import re
import threading
import time

import requests

from thelook_datagen.ops.rest import short_reason

from . import stages

TIMEOUT = 2.0
SOURCE_NAMES = ("kafka", "prometheus", "connect", "flink", "generator")


class SourceDown(Exception):
    """A source did not answer, or answered something unusable (the message is one line)."""


def _get(session, url, params=None, headers=None, timeout=TIMEOUT):
    try:
        r = session.get(url, params=params, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise SourceDown(f"{short_reason(exc, timeout)}: {url.split('?')[0]}") from None
    return r


def _json(r, what):
    try:
        return r.json()
    except ValueError:
        raise SourceDown(f"{what} answered HTTP {r.status_code} without JSON") from None


def _number(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


class Health:
    """Reachability of each source (SNAPSHOT.md "sources")."""

    def __init__(self):
        self.state = {name: {"ok": None, "error": "not checked yet", "checked": None} for name in SOURCE_NAMES}
        self.lock = threading.Lock()

    def ok(self, name):
        with self.lock:
            self.state[name] = {"ok": True, "error": None, "checked": time.time()}

    def down(self, name, error):
        with self.lock:
            self.state[name] = {"ok": False, "error": " ".join(str(error).split())[:300], "checked": time.time()}

    def view(self):
        with self.lock:
            return {k: dict(v) for k, v in self.state.items()}

    def is_ok(self, name):
        with self.lock:
            return bool(self.state[name]["ok"])


class Poller:
    """Everything but the result topics, polled by one thread. `latest()` is the last poll's outcome."""

    def __init__(self, settings, health, token=None):
        self.s = settings
        self.health = health
        self.token = token
        self.http = requests.Session()
        self.slot = None
        self.queries = stages.queries(settings.topic_prefix, settings.schema, settings.connector)
        self.job_pattern = re.compile(rf"^{re.escape(settings.topic_prefix)}\.analytics\.[\w-]+$")
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.polls = 0
        self._latest = {"values": {}, "alerts": [], "connector": None, "flink_jobs": None, "generator": None}
        self.thread = threading.Thread(target=self._loop, name="poller", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.wake.set()
        self.thread.join(timeout=5)

    def poke(self):
        """Poll now (after an action, so the page shows its effect at once)."""
        self.wake.set()

    def latest(self):
        with self.lock:
            return dict(self._latest)

    def _loop(self):
        while not self.stopping.is_set():
            self.poll_once()
            self.wake.wait(self.s.refresh)
            self.wake.clear()

    def poll_once(self):
        out = {}
        # Connect first: the connector's config names the replication slot the queries filter on
        for name, fn in (("connect", self._connect), ("prometheus", self._prometheus), ("flink", self._flink),
                         ("generator", self._generator)):
            try:
                out.update(fn())
                self.health.ok(name)
            except SourceDown as e:
                self.health.down(name, e)
                out.update(self._empty(name))
            except Exception as e:   # a bug or an odd answer must not stop the poller
                self.health.down(name, f"{type(e).__name__}: {e}")
                out.update(self._empty(name))
        with self.lock:
            self._latest.update(out)
            self.polls += 1

    @staticmethod
    def _empty(name):
        return {"prometheus": {"values": {}, "alerts": []}, "connect": {"connector": None},
                "flink": {"flink_jobs": None}, "generator": {"generator": None}}[name]

    # ---------------------------------------------------------------- Prometheus

    def _prometheus(self):
        base = self.s.prometheus_url.rstrip("/")
        values = {}
        for key, expr in self.queries.items():
            r = _get(self.http, f"{base}/api/v1/query", {"query": expr})
            body = _json(r, "Prometheus")
            if body.get("status") != "success":
                raise SourceDown(f"Prometheus refused a query ({body.get('error', r.status_code)}): {expr[:80]}")
            result = body["data"]["result"]
            if key == "pg_ops":
                values[key] = {s["metric"].get("op"): _number(s["value"][1]) for s in result} or None
            elif key == "nodes":
                values[key] = {s["metric"].get("instance"): _number(s["value"][1]) for s in result} or None
            else:
                values[key] = _number(result[0]["value"][1]) if result else None
        r = _get(self.http, f"{base}/api/v1/alerts")
        alerts = _json(r, "Prometheus").get("data", {}).get("alerts", [])
        return {"values": values, "alerts": alerts}

    # ---------------------------------------------------------------- Kafka Connect

    def _connect(self):
        # CONNECT_URL may list several workers of one group (cluster mode): ask the first that answers
        bases = [u.strip().rstrip("/") for u in self.s.connect_url.split(",") if u.strip()]
        for base in bases:
            try:
                r = _get(self.http, f"{base}/connectors/{self.s.connector}/status")
                break
            except SourceDown:
                if base == bases[-1]:
                    raise
        if r.status_code == 404:
            return {"connector": {"name": self.s.connector, "state": "NOT REGISTERED", "tasks": []}}
        if r.status_code >= 400:
            raise SourceDown(f"Kafka Connect answered HTTP {r.status_code}")
        body = _json(r, "Kafka Connect")
        if self.slot is None:
            cfg = _get(self.http, f"{base}/connectors/{self.s.connector}/config")
            slot = _json(cfg, "Kafka Connect").get("slot.name") if cfg.status_code == 200 else None
            if slot:
                self.slot = slot
                self.queries = stages.queries(self.s.topic_prefix, self.s.schema, self.s.connector, slot)
        tasks = [{"id": t.get("id"), "state": t.get("state"), "worker": t.get("worker_id"),
                  "trace": (t.get("trace") or "").strip().splitlines()[0][:300] if t.get("trace") else None}
                 for t in body.get("tasks", [])]
        return {"connector": {"name": body.get("name", self.s.connector),
                              "state": body.get("connector", {}).get("state"), "tasks": tasks}}

    # ---------------------------------------------------------------- Flink

    def _flink(self):
        base = self.s.flink_url.rstrip("/")
        r = _get(self.http, f"{base}/jobs/overview")
        if r.status_code >= 400:
            raise SourceDown(f"Flink JobManager answered HTTP {r.status_code}")
        jobs = _json(r, "Flink JobManager").get("jobs", [])
        # the newest job of each name: cancelled jobs stay listed, and a resubmitted one is newer
        newest = {}
        for j in jobs:
            if not self.job_pattern.match(j.get("name", "")):
                continue
            if j["name"] not in newest or j.get("start-time", 0) > newest[j["name"]].get("start-time", 0):
                newest[j["name"]] = j
        return {"flink_jobs": [{"id": j.get("jid"), "name": j["name"], "state": j.get("state"),
                                "start_time": (j.get("start-time") or 0) / 1000 or None}
                               for _, j in sorted(newest.items())]}

    # ---------------------------------------------------------------- the generator

    def _generator(self):
        base = self.s.generator_url.rstrip("/")
        headers = {"X-Thelook-Token": self.token} if self.token else None
        r = _get(self.http, f"{base}/control", headers=headers, timeout=1.0)
        if r.status_code == 404:
            raise SourceDown("the generator runs without --control")
        if r.status_code >= 400:
            raise SourceDown(f"the generator's control answered HTTP {r.status_code}")
        body = _json(r, "the generator")
        return {"generator": {"visits_per_second": _number(body.get("visits_per_second")),
                              "changes": body.get("changes")}}


class KafkaWatch:
    """Whether the broker answers (the result consumer alone cannot tell 'no news' from 'no broker')."""

    def __init__(self, settings, health):
        from confluent_kafka.admin import AdminClient

        from thelook_datagen.kafka_client import quiet_logger
        conf = {"bootstrap.servers": settings.bootstrap_servers, "logger": quiet_logger(),
                "socket.connection.setup.timeout.ms": 2000}
        conf.update(settings.kafka_config or {})
        self.admin = AdminClient(conf)
        self.servers = settings.bootstrap_servers
        self.health = health
        self.prefix = f"{settings.topic_prefix}.analytics."
        self.topics = set()

    def check(self):
        from thelook_datagen.kafka_client import reason
        try:
            md = self.admin.list_topics(timeout=2.0)
        except Exception as e:
            self.health.down("kafka", f"no answer from {self.servers}: {reason(e)}")
            return
        self.topics = {t for t in md.topics if t.startswith(self.prefix)}
        self.health.ok("kafka")
