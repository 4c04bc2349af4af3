"""The live dashboard in a real browser (Debian's Chromium driven by Playwright), against the real stack.

One module-wide pipeline: a throwaway schema, topic prefix, connector, slot and publication (tests/cdc's
Pipeline), the five Flink jobs for that prefix, a seeded generator with metrics and the control endpoint on
the port the stack's Prometheus scrapes, and a dashboard process watching that prefix (controls on). The
tests run in file order and share it:

  1. the page loads with no console error, every panel fills, and values change over time;
  2. pausing the connector from the page: Connect reports PAUSED and the slot's WAL on the page grows;
     resuming brings the connector back to RUNNING and the page's lag back down;
  3. the generator's rate changed from the page changes the generator's target;
  4. Verify: a second click while one runs is refused with a message; the run ends in OK;
  5. once the generator has stopped and the results settled, the stock, status and top-10 numbers on the
     page equal the same queries on PostgreSQL;
  6. a malformed result message does not crash the server (counted, page still renders);
  7. a dashboard whose sources are all unreachable stays up and names each of them;
  8. actions from a non-loopback address are refused without the token and accepted with it.

Every wait is on page or component state, bounded; screenshots go to $THELOOK_TEST_ARTIFACTS (default
build/test-artifacts/dashboard). The browser is /usr/bin/chromium (scripts/install-system-deps); Playwright
never downloads one.
"""
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("THELOOK_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts")) / "dashboard"
STEP_TIMEOUT_S = 240
pytestmark = [pytest.mark.timeout(420)]

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing: run scripts/install-system-deps (Debian's chromium)",
                allow_module_level=True)


def log(msg):
    print(f"[dashboard-test {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _cdc_module():
    spec = importlib.util.spec_from_file_location("cdc_pipeline_for_dashboard_tests",
                                                  ROOT / "tests" / "cdc" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def own_address():
    """This machine's non-loopback IPv4 address, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))     # no packet is sent: only the route is chosen
            addr = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


def wait_for(what, condition, timeout=STEP_TIMEOUT_S, every=0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except (requests.RequestException, KeyError, ValueError, TypeError) as e:
            last = None
            err = e
        else:
            err = None
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout} s" + (f" (last error: {err})" if err else ""))


class Dashboard:
    """A thelook-dashboard process of the test's own."""

    def __init__(self, env, args, log_path, address="127.0.0.1"):
        self.port = free_port()
        self.address = address
        self.url = f"http://{address}:{self.port}/"
        cmd = [sys.executable, "-m", "thelook_dashboard", "--address", address, "--port", str(self.port), *args]
        self.log_path = log_path
        self.proc = subprocess.Popen(cmd, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT, text=True)
        wait_for("the dashboard answers /healthz", self.healthy, timeout=60)

    def healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"the dashboard exited {self.proc.returncode}:\n{Path(self.log_path).read_text()}")
        try:
            return requests.get(self.url + "healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def snapshot(self):
        return requests.get(self.url + "api/snapshot", timeout=5).json()

    def token(self):
        for line in Path(self.log_path).read_text().splitlines():
            if "?token=" in line:
                return line.split("?token=", 1)[1].split()[0]
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        assert self.proc.returncode in (0, -signal.SIGTERM), \
            f"dashboard exited {self.proc.returncode}:\n{Path(self.log_path).read_text()[-3000:]}"


class Setup:
    def __init__(self, stack_env, tmp):
        self.cdc = _cdc_module()
        self.p = self.cdc.Pipeline(stack_env, tmp)
        self.env = self.p.env
        self.tmp = tmp
        self.metrics_port = int(os.environ.get("THELOOK_METRICS_PORT") or 9464)
        self.gen = None
        self.dash = None
        self.console = []

    def start(self):
        p = self.p
        log(f"schema {p.schema}, prefix {p.prefix}")
        p.generator("--if_exists", "fail", "--max_iter", "0")
        p.register()
        res = subprocess.run([sys.executable, str(ROOT / "scripts" / "submit-flink-jobs"), "--topic-prefix", p.prefix,
                              "--schema", p.schema], env=self.env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, f"submit-flink-jobs failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
        log("jobs running; starting the generator and the dashboard")
        self.start_generator(20)
        self.dash = Dashboard(self.env, ["--topic-prefix", p.prefix, "--schema", p.schema, "--connector", p.name,
                                         "--controls", "--generator-url", f"http://127.0.0.1:{self.metrics_port}",
                                         "--refresh", "1", "--verify-timeout", "240"],
                              self.tmp / "dashboard.log")

    def start_generator(self, qps):
        self.gen = self.p.generator("--if_exists", "append", "--seed", "11", "--avg-qps", qps, "--max_iter", -1,
                                    "--no-create-topic", "--metrics-port", self.metrics_port, "--control",
                                    background=True)

    def stop_generator(self):
        if self.gen is not None and self.gen.poll() is None:
            self.gen.send_signal(signal.SIGTERM)
            self.gen.wait(60)

    def connector_state(self):
        r = requests.get(f"{self.env['CONNECT_URL']}/connectors/{self.p.name}/status", timeout=10).json()
        return r["connector"]["state"], [t["state"] for t in r["tasks"]]

    def cleanup(self):
        self.stop_generator()
        if self.dash:
            self.dash.stop()
        self.p.cleanup()
        # the result topics and the jobs' consumer groups of this prefix
        subprocess.run([sys.executable, str(ROOT / "scripts" / "submit-flink-jobs"), "--topic-prefix", self.p.prefix,
                        "--cancel"], env=self.env, capture_output=True, timeout=180)
        self.p.delete_topics()


@pytest.fixture(scope="module")
def setup(stack_env, tmp_path_factory):
    s = Setup(stack_env, tmp_path_factory.mktemp("dashboard"))
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def page(setup, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg = browser.new_page(viewport={"width": 1440, "height": 900})
    pg.on("console", lambda m: setup.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: setup.console.append(f"pageerror: {e}"))
    pg.goto(setup.dash.url)
    yield pg
    pg.close()


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def value(page, testid, attr="data-value"):
    el = page.query_selector(f'[data-testid="{testid}"]')
    if el is None:
        return None
    raw = el.get_attribute(attr)
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


PANELS = ("revenue_per_minute", "status_counts", "funnel_per_minute", "top_products_last_hour", "stock_per_dc")


# ---------------------------------------------------------------- 1. loads, fills, changes

def test_page_loads_fills_every_panel_and_changes_without_console_errors(setup, page):
    for panel in PANELS:
        page.wait_for_selector(f'[data-testid="panel-{panel}"][data-empty="false"]', timeout=STEP_TIMEOUT_S * 1000)
    for stage in ("generator", "postgres", "debezium", "kafka", "flink", "results"):
        wait_for(f"stage {stage} has a figure", lambda: value(page, f"stage-{stage}-rate-0") is not None)
        page.wait_for_selector(f'[data-testid="stage-{stage}"][data-state="green"]', timeout=STEP_TIMEOUT_S * 1000)
    rendered = page.evaluate("window.dashboardStats.snapshots")
    first = {i: value(page, f"stock-{i}", "data-in-stock") for i in range(1, 11)}
    wait_for("stock numbers change on the page",
             lambda: {i: value(page, f"stock-{i}", "data-in-stock") for i in range(1, 11)} != first)
    wait_for("the page renders further snapshots", lambda: page.evaluate("window.dashboardStats.snapshots") > rendered)
    shot(page, "01-live")
    assert not setup.console, f"console errors or warnings: {setup.console}"


def test_every_query_of_the_strip_returns_a_series_from_the_real_prometheus(setup):
    """The strip's PromQL, for this pipeline, against the stack's Prometheus while the generator writes: an
    expression that errors or matches nothing would show as a dash on the page."""
    from thelook_dashboard import stages
    exprs = stages.queries(setup.p.prefix, setup.p.schema, setup.p.name, setup.p.slot)

    def empty():
        out = []
        for key, expr in exprs.items():
            body = requests.get(f"{setup.env['PROMETHEUS_URL']}/api/v1/query", params={"query": expr},
                                timeout=10).json()
            assert body["status"] == "success", (key, expr, body)
            if not body["data"]["result"]:
                out.append(key)
        return out
    deadline = time.monotonic() + 60
    while True:
        missing = empty()
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AssertionError("no series within 60 s for: " + "; ".join(f"{k}: {exprs[k]}" for k in missing))
        time.sleep(5)


# ---------------------------------------------------------------- 2. pause and resume capture

def test_pause_from_the_page_grows_the_slot_lag_and_resume_drains_it(setup, page):
    before = value(page, "stage-postgres-lag-0")
    assert before is not None
    page.click('[data-testid="control-connector.pause"]')
    wait_for("Connect reports the connector PAUSED", lambda: setup.connector_state() == ("PAUSED", ["PAUSED"]))
    page.wait_for_selector('[data-testid="stage-debezium"]:not([data-state="green"])', timeout=60_000)
    # More writes grow the slot's WAL faster (measured from the minimum seen while paused: a slot right after
    # its snapshot may still release old WAL for a while).
    page.click('[data-testid="control-generator.rate-50"]')
    low = [value(page, "stage-postgres-lag-0")]

    def grown_by_a_mib():
        v = value(page, "stage-postgres-lag-0")
        if v is None:
            return None
        low[0] = min(low[0] if low[0] is not None else v, v)
        return v > low[0] + 1048576 and v
    grown = wait_for("the slot's retained WAL on the page grows by 1 MiB while paused", grown_by_a_mib)
    log(f"slot retained WAL on the page: {before:.0f} B before the pause, from {low[0]:.0f} to {grown:.0f} B "
        "while paused")
    shot(page, "02-paused")
    page.click('[data-testid="control-generator.rate-20"]')
    page.click('[data-testid="control-connector.resume"]')
    wait_for("Connect reports the connector RUNNING", lambda: setup.connector_state() == ("RUNNING", ["RUNNING"]))
    drained = wait_for("the slot's retained WAL on the page drains below its peak",
                       lambda: (v := value(page, "stage-postgres-lag-0")) is not None and v < grown / 2 and str(v))
    log(f"after resume: {drained} B")
    page.wait_for_selector('[data-testid="stage-debezium"][data-state="green"]', timeout=STEP_TIMEOUT_S * 1000)
    shot(page, "03-resumed")


# ---------------------------------------------------------------- 3. the generator's rate

def test_rate_set_on_the_page_changes_the_generators_target(setup, page):
    ctl = f"http://127.0.0.1:{setup.metrics_port}/control"
    assert requests.get(ctl, timeout=5).json()["visits_per_second"] == 20
    page.click('[data-testid="control-generator.rate-5"]')
    wait_for("the generator's target becomes 5 visits/s", lambda: requests.get(ctl, timeout=5).json()[
        "visits_per_second"] == 5)
    page.click('[data-testid="control-generator.rate-20"]')
    wait_for("the generator's target is back at 20 visits/s", lambda: requests.get(ctl, timeout=5).json()[
        "visits_per_second"] == 20)


# ---------------------------------------------------------------- restarting the task, the Flink jobs

def test_restart_task_from_the_page_restarts_the_connectors_task(setup, page):
    page.click('[data-testid="control-connector.restart-task"]')
    page.wait_for_selector('[data-testid="control-last"][data-ok="true"][data-action="connector.restart-task"]',
                           timeout=60_000)
    wait_for("the task is RUNNING again", lambda: setup.connector_state() == ("RUNNING", ["RUNNING"]))


def test_cancel_and_resubmit_the_flink_jobs_from_the_page(setup, page):
    def jobs():
        """{job id: state} of this prefix's jobs (cancelled ones stay listed under the same names)"""
        return {j["jid"]: j["state"] for j in requests.get(
            f"{setup.env['FLINK_URL']}/jobs/overview", timeout=10).json()["jobs"]
            if j["name"].startswith(setup.p.prefix + ".analytics.")}
    running = [jid for jid, st in jobs().items() if st == "RUNNING"]
    assert len(running) == 5, jobs()
    page.click('[data-testid="control-flink.cancel"]')
    wait_for("Flink reports this prefix's jobs CANCELED", lambda: all(jobs()[jid] == "CANCELED" for jid in running))
    page.wait_for_selector('[data-testid="stage-flink"]:not([data-state="green"])', timeout=60_000)
    # one control at a time: the cancel ends when its own poll has seen every job end
    page.wait_for_selector('[data-testid="control-last"][data-ok="true"][data-action="flink.cancel"]',
                           timeout=90_000)
    page.click('[data-testid="control-flink.resubmit"]')
    page.wait_for_selector('[data-testid="control-last"][data-action="flink.resubmit"]', timeout=STEP_TIMEOUT_S * 1000)
    assert page.get_attribute('[data-testid="control-last"]', "data-ok") == "true", \
        page.inner_text('[data-testid="control-last"]')
    wait_for("five new jobs RUNNING",
             lambda: sum(1 for jid, st in jobs().items() if st == "RUNNING" and jid not in running) == 5)
    page.wait_for_selector('[data-testid="stage-flink"][data-state="green"]', timeout=STEP_TIMEOUT_S * 1000)


def test_result_topics_are_compacted(setup):
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
    admin = AdminClient({"bootstrap.servers": setup.env["KAFKA_BOOTSTRAP_SERVERS"]})
    res = [ConfigResource(ResourceType.TOPIC, f"{setup.p.prefix}.analytics.{job}") for job in PANELS]
    for r, fut in admin.describe_configs(res).items():
        assert fut.result(30)["cleanup.policy"].value == "compact", r.name


# ---------------------------------------------------------------- 4. Verify

def test_verify_button_refuses_a_second_run_and_ends_ok(setup, page):
    page.click('[data-testid="verify-button"]')
    wait_for("verify runs", lambda: setup.dash.snapshot()["verify"]["state"] == "running", timeout=30)
    r = requests.post(setup.dash.url + "api/verify", timeout=10)
    assert r.status_code == 409 and "already running" in r.json()["error"], r.text
    page.wait_for_selector('[data-testid="verify-state"][data-state="done"]', timeout=STEP_TIMEOUT_S * 1000)
    message = page.inner_text('[data-testid="verify-message"]')
    verdict = page.get_attribute('[data-testid="verify-verdict"]', "data-verdict")
    assert verdict == "OK", (verdict, message, setup.dash.snapshot()["verify"])
    assert message.startswith("OK: all ") and message.endswith(" rows equal"), message
    shot(page, "04-verified")


# ---------------------------------------------------------------- 5. the numbers equal PostgreSQL

def test_page_numbers_equal_postgresql_once_settled(setup, page):
    setup.stop_generator()
    p = setup.p
    stock = {dc: (int(a), int(b)) for dc, a, b in p.sql(
        f'SELECT product_distribution_center_id, count(*) FILTER (WHERE sold_at IS NULL), '
        f'count(*) FILTER (WHERE sold_at IS NOT NULL) FROM "{p.schema}".inventory_items GROUP BY 1')}
    statuses = {(e, s): int(n) for e, s, n in p.sql(
        f'SELECT \'orders\', status, count(*) FROM "{p.schema}".orders GROUP BY 2 '
        f'UNION ALL SELECT \'order_items\', status, count(*) FROM "{p.schema}".order_items GROUP BY 2')}
    top = [int(r[0]) for r in p.sql(
        f'''WITH clock AS (SELECT date_trunc('minute', max(created_at)) AS m FROM "{p.schema}".order_items)
            SELECT product_id FROM "{p.schema}".order_items, clock
             WHERE status NOT IN ('Cancelled', 'Returned')
               AND created_at >= clock.m - interval '59 minutes' AND created_at < clock.m + interval '1 minute'
             GROUP BY product_id ORDER BY sum(sale_price) DESC, product_id LIMIT 10''')]

    def page_stock():
        return {dc: (int(value(page, f"stock-{dc}", "data-in-stock") or -1),
                     int(value(page, f"stock-{dc}", "data-sold") or -1)) for dc in stock}

    def page_statuses():
        return {(e, s): int(value(page, f"status-{e}-{s}") or -1) for e, s in statuses}

    def page_top():
        return [int(page.get_attribute(f'[data-testid="top-{rank}"]', "data-product-id") or -1)
                for rank in range(1, len(top) + 1)]

    wait_for("stock per centre on the page equals PostgreSQL", lambda: page_stock() == stock)
    wait_for("orders and order items by status on the page equal PostgreSQL", lambda: page_statuses() == statuses)
    wait_for("the top 10 on the page equals PostgreSQL", lambda: page_top() == top)
    shot(page, "05-settled")
    assert not setup.console, f"console errors or warnings: {setup.console}"


# ---------------------------------------------------------------- 6. malformed result messages

def test_a_malformed_result_message_is_counted_not_fatal(setup, page):
    from confluent_kafka import Producer
    topic = f"{setup.p.prefix}.analytics.status_counts"
    before = setup.dash.snapshot()["analytics"]["status_counts"]["malformed"]
    prod = Producer({"bootstrap.servers": setup.env["KAFKA_BOOTSTRAP_SERVERS"]})
    prod.produce(topic, key=b"not json", value=b"{")
    prod.produce(topic, key=json.dumps({"entity": "orders", "status": "Shipped"}).encode(), value=b'{"cnt": "x"}')
    prod.flush(30)
    wait_for("the server counts both messages as malformed",
             lambda: setup.dash.snapshot()["analytics"]["status_counts"]["malformed"] >= before + 2, timeout=60)
    assert setup.dash.healthy()
    page.wait_for_selector('[data-testid="panel-status_counts"][data-empty="false"]', timeout=30_000)
    assert not setup.console, f"console errors or warnings: {setup.console}"


# ---------------------------------------------------------------- 7. unreachable sources

def test_unreachable_sources_are_named_and_the_page_stays_up(setup, browser, tmp_path):
    dead = free_port()   # nothing listens there
    dash = Dashboard(setup.env, ["--bootstrap-servers", f"127.0.0.1:{dead}",
                                 "--prometheus-url", f"http://127.0.0.1:{dead}",
                                 "--connect-url", f"http://127.0.0.1:{dead}", "--flink-url", f"http://127.0.0.1:{dead}",
                                 "--generator-url", f"http://127.0.0.1:{dead}"], tmp_path / "dead.log")
    pg = browser.new_page(viewport={"width": 1440, "height": 900})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        pg.goto(dash.url)
        for source in ("kafka", "prometheus", "connect", "flink"):
            pg.wait_for_selector(f'[data-testid="source-{source}"]', timeout=60_000)
            assert "unreachable" in pg.inner_text(f'[data-testid="source-{source}"]').lower()
        assert pg.query_selector('[data-testid="stage-generator"]') is not None
        pg.screenshot(path=str(ARTIFACTS / "06-sources-down.png"))
        assert dash.healthy() and not errors, errors
    finally:
        pg.close()
        dash.stop()


# ---------------------------------------------------------------- 8. who may act

def test_actions_from_other_addresses_need_the_token(setup, tmp_path):
    addr = own_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address to come from")
    dash = Dashboard(setup.env, ["--topic-prefix", setup.p.prefix, "--schema", setup.p.schema, "--controls",
                                 "--generator-url", f"http://127.0.0.1:{free_port()}"], tmp_path / "lan.log",
                     address=addr)
    try:
        token = dash.token()
        assert token, "the dashboard printed no URL with a token for other addresses"
        bad = {"visits_per_second": -1}   # a refused value: nothing changes even when allowed
        for path in ("api/verify", "api/controls/generator/rate", "api/controls/connector/pause"):
            r = requests.post(dash.url + path, json=bad, timeout=10)
            assert r.status_code == 403, (path, r.status_code, r.text)
        r = requests.post(dash.url + "api/controls/generator/rate", json=bad,
                          headers={"X-Dashboard-Token": token}, timeout=10)
        assert r.status_code == 400 and "visits_per_second" in r.json()["error"], r.text
        r = requests.post(dash.url + "api/controls/generator/rate", json=bad,
                          headers={"X-Dashboard-Token": token + "x"}, timeout=10)
        assert r.status_code == 403
    finally:
        dash.stop()
