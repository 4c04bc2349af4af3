"""--control end to end: a seeded generator writing 5 visits/s to PostgreSQL is switched to 40
visits/s through POST /control/rate, then down to 2 visits/s, while /metrics is scraped.

Done when: the achieved rate (thelook_visits_total between two scrapes) follows each new target
from half a second after the request on, the target gauge and GET /control show it, each change is
one line naming the client, and the summary counts the changes and ends at the last target."""
import json
import signal
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from testkit import free_port, watch

pytestmark = pytest.mark.stack

FAST = ["--time-scale", "172800"]


def scrape(url):
    """(monotonic time of the scrape, committed visits, target gauge)."""
    text = urllib.request.urlopen(url, timeout=2).read().decode()
    at = time.monotonic()
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            values[s.name] = values.get(s.name, 0) + s.value if s.name == "thelook_visits_total" else s.value
    return at, values["thelook_visits_total"], values["thelook_target_visits_per_second"]


def post_rate(base, qps):
    req = urllib.request.Request(f"{base}/control/rate", data=json.dumps({"visits_per_second": qps}).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, json.loads(r.read())


def rate_over(url, seconds):
    """Visits per second achieved over the next `seconds`, from two scrapes."""
    t0, v0, _ = scrape(url)
    time.sleep(seconds)
    t1, v1, target = scrape(url)
    return (v1 - v0) / (t1 - t0), target


@pytest.mark.timeout(120)   # most of it the reference load into the fresh schema
def test_the_rate_follows_a_post_up_and_down(start_gen, schema):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    metrics = f"{base}/metrics"
    proc = start_gen("--schema", schema, "--if_exists", "replace", "--no-create-topic", "--seed", "23",
                     "--avg-qps", "5", "--log-format", "json", "--status-interval", "1", *FAST,
                     "--metrics-port", str(port), "--control")
    err = watch(proc)
    err.wait_for("streaming visits at 5 visits/s", timeout=90)      # after the reference load
    started = time.monotonic()
    assert json.loads(urllib.request.urlopen(f"{base}/control", timeout=2).read()) == {
        "visits_per_second": 5.0, "changes": 0, "max_visits_per_second": 2000.0}

    slow, target = rate_over(metrics, 2.0)
    assert target == 5 and slow < 12, slow

    assert post_rate(base, 40) == (200, {"visits_per_second": 40.0, "changes": 1, "max_visits_per_second": 2000.0})
    time.sleep(0.5)                                  # taken at once; half a second to settle the scrape window
    fast, target = rate_over(metrics, 4.5)
    assert target == 40 and 25 < fast < 55, fast

    assert post_rate(base, 2)[1]["changes"] == 2
    time.sleep(0.5)
    down, target = rate_over(metrics, 3.0)
    assert target == 2 and down < 5, down

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    out = err.finish()
    assert "Traceback" not in out
    records = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    changes = [r for r in records if r.get("message", "").startswith("rate changed")]
    assert [(r["message"], r["visits_per_second"], r["client"]) for r in changes] == [
        ("rate changed to 40 visits/s (control request from 127.0.0.1)", 40.0, "127.0.0.1"),
        ("rate changed to 2 visits/s (control request from 127.0.0.1)", 2.0, "127.0.0.1")]
    summary = [r for r in records if r["event"] == "summary"][-1]
    assert summary["rate_changes"] == 2 and summary["target_visits_per_s"] == 2.0
    assert summary["errors"] == 0
    statuses = [r["target_visits_per_s"] for r in records if r["event"] == "status"]
    assert {5.0, 40.0, 2.0} <= set(statuses), statuses
    assert time.monotonic() - started < 20, "the rate changes themselves took long"
