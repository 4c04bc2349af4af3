"""The dashboard's web app (Starlette on uvicorn).

  GET  /                 the page (static/index.html); /static/* its script, styles and vendored uPlot
  GET  /events           server-sent events: a `snapshot` event every second (SNAPSHOT.md)
  GET  /api/snapshot     the current snapshot as JSON
  GET  /healthz          200 "ok" while the server runs
  POST /api/verify       start a verify run (409 while one runs)
  POST /api/controls/<component>/<action>   the workshop controls (controls.py), with --controls

One snapshot is built per second by one task and its JSON encoded once; every open page gets the
same bytes. Three tabs cost what one does, apart from writing the bytes to three sockets.

Who may act: every POST is accepted from loopback clients (127.0.0.0/8, ::1) and from clients that
send this start's token (header X-Dashboard-Token; the page takes it from its URL, `?token=...`,
which the server prints at start). Anything else gets 403. In compose the browser reaches the
container through Docker's bridge, not loopback: there the printed URL with the token is the way in.
"""
import asyncio
import contextlib
import hmac
import ipaddress
import json
import threading
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import stages
from .analytics import ResultStore, default_centres
from .controls import ActionError, Controls
from .results import ResultReader
from .sources import Health, KafkaWatch, Poller
from .verify_run import Busy, VerifyRunner

STATIC = Path(__file__).resolve().parent / "static"
SNAPSHOT_EVERY = 1.0
SNAPSHOT_VERSION = 1


def is_loopback(host):
    try:
        return ipaddress.ip_address((host or "").split("%")[0]).is_loopback
    except ValueError:
        return False


class Hub:
    """The server's state: the sources, the result store, verify, the controls, and the snapshot."""

    def __init__(self, settings, token):
        self.s = settings
        self.token = token
        self.started = time.time()
        self.health = Health()
        self.store_lock = threading.Lock()
        self.store = ResultStore(default_centres())
        self.results = ResultReader(settings, self.store, self.store_lock)
        self.kafka = KafkaWatch(settings, self.health)
        self.poller = Poller(settings, self.health, token)
        self.verify = VerifyRunner(settings, on_change=self.changed, slot=lambda: self.poller.slot)
        self.controls = Controls(settings, token, on_change=self.changed)
        self.snapshot_bytes = b""
        self.snapshots = 0
        self.tick = None             # asyncio.Event, replaced at every snapshot
        self.wake = None             # asyncio.Event: build a snapshot now
        self.loop = None
        self._stop = threading.Event()
        self._kafka_thread = threading.Thread(target=self._kafka_loop, name="kafka-health", daemon=True)

    # ---------------------------------------------------------------- life cycle

    async def startup(self):
        self.loop = asyncio.get_running_loop()
        self.tick = asyncio.Event()
        self.wake = asyncio.Event()
        self.results.start()
        self.poller.start()
        self._kafka_thread.start()
        self.build()
        self._task = asyncio.create_task(self._snapshots())

    async def shutdown(self):
        self._stop.set()
        self._task.cancel()
        self.verify.stop()
        await run_in_threadpool(self._stop_threads)
        self.tick.set()

    def _stop_threads(self):
        self.poller.stop()
        self.results.stop()

    def _kafka_loop(self):
        while not self._stop.is_set():
            self.kafka.check()
            self._stop.wait(3.0)

    def changed(self):
        """Something the page shows changed (an action, verify): poll and push a snapshot soon."""
        self.poller.poke()
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.wake.set)

    async def _snapshots(self):
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), SNAPSHOT_EVERY)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()
            try:
                self.build()
            except Exception as e:    # a snapshot that fails to build must not stop the stream
                self.health.down("kafka", f"snapshot failed: {type(e).__name__}: {e}")
            tick, self.tick = self.tick, asyncio.Event()
            tick.set()

    # ---------------------------------------------------------------- the snapshot

    def snapshot(self):
        now = time.time()
        latest = self.poller.latest()
        with self.store_lock:
            analytics = self.store.view()
        sources = self.health.view()
        connector = latest.get("connector")
        values = dict(latest.get("values") or {})
        strip = stages.build(values, latest.get("alerts"), connector, latest.get("flink_jobs"), analytics, now,
                             bool(sources["prometheus"]["ok"]), bool(sources["kafka"]["ok"]))
        return {
            "version": SNAPSHOT_VERSION, "time": now, "started": self.started,
            "prefix": self.s.topic_prefix, "schema": self.s.schema,
            "sources": sources, "stages": strip, "analytics": analytics,
            "connector": connector, "flink": {"jobs": latest.get("flink_jobs") or []},
            "generator": latest.get("generator"), "verify": self.verify.view(), "controls": self.controls.view(),
        }

    def build(self):
        self.snapshot_bytes = json.dumps(self.snapshot(), separators=(",", ":"), allow_nan=False,
                                         default=str).encode()
        self.snapshots += 1

    # ---------------------------------------------------------------- access

    def allowed(self, request):
        if is_loopback(request.client.host if request.client else None):
            return True
        given = request.headers.get("x-dashboard-token", "")
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())


def create_app(settings, token):
    hub = Hub(settings, token)

    async def index(request):
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def healthz(request):
        return PlainTextResponse("ok")

    async def snapshot(request):
        return JSONResponse(json.loads(hub.snapshot_bytes))

    async def events(request):
        async def stream():
            yield b"retry: 2000\n\n"
            last = None
            while True:
                if hub._stop.is_set() or await request.is_disconnected():
                    return
                if hub.snapshot_bytes is not last:
                    last = hub.snapshot_bytes
                    yield b"event: snapshot\ndata: " + last + b"\n\n"
                tick = hub.tick
                try:
                    await asyncio.wait_for(tick.wait(), 15)
                except asyncio.TimeoutError:
                    yield b": keep-alive\n\n"
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def refused(request):
        return JSONResponse({"ok": False, "error": "not allowed: actions are accepted from this machine "
                             "(loopback) or with the token printed by thelook-dashboard at start"}, 403)

    async def verify(request):
        if not hub.allowed(request):
            return refused(request)
        try:
            run = hub.verify.start()
        except Busy as e:
            return JSONResponse({"ok": False, "error": str(e)}, 409)
        return JSONResponse({"ok": True, "message": f"verify run {run} started", "run": run}, 202)

    async def control(request):
        if not hub.allowed(request):
            return refused(request)
        action = f"{request.path_params['component']}.{request.path_params['action']}"
        body = None
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                return JSONResponse({"ok": False, "error": "the request body is not JSON"}, 400)
        try:
            arg = hub.controls.check(action, body)
            message = await run_in_threadpool(hub.controls.run, action, arg)
        except ActionError as e:
            return JSONResponse({"ok": False, "error": str(e)}, e.status)
        return JSONResponse({"ok": True, "message": message})

    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/events", events),
        Route("/api/snapshot", snapshot),
        Route("/api/verify", verify, methods=["POST"]),
        Route("/api/controls/{component}/{action}", control, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        await hub.startup()
        try:
            yield
        finally:
            await hub.shutdown()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.hub = hub
    return app
