"""The dashboard's cost: its server's CPU and memory with no page open (the baseline) and with N pages open,
and the browser's work per update (Chromium, the page's own render time and the Long Tasks API).

Runs against the running local stack with the connector and the Flink jobs of the watched prefix (what
`scripts/demo` sets up), starts a generator at --rate visits/s (with its metrics, so every stage has
figures) and a dashboard process of its own, then measures two windows of --seconds each, in this order:

  baseline   the server alone (no page open): it still polls Prometheus, Connect, Flink, the generator
             every --refresh s, follows the result topics and builds a snapshot every second
  N tabs     N pages of one headless Chromium (Debian's /usr/bin/chromium) on the same server

and prints per window: the server's CPU (% of one core, from /proc utime+stime), its peak and final RSS,
and for the pages the snapshots rendered, the mean and longest render (performance.now() around the
page's update) and the longest main-thread task Chromium reported (PerformanceObserver 'longtask': only
tasks over 50 ms are reported, so "none" means every task stayed under 50 ms).

    eval "$(scripts/stack env)"
    python bench/dashboard.py --rate 100 --tabs 3 --seconds 60
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proc_watch import cpu_seconds, vm_rss_kib  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
LONGTASKS = """
window.__longtasks = [];
new PerformanceObserver(function (list) {
  list.getEntries().forEach(function (e) { window.__longtasks.push(e.duration); });
}).observe({type: 'longtask', buffered: true});
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def window(pid, seconds, pages=()):
    """CPU % of one core and RSS (peak, end; MiB) of `pid` over `seconds`, sampling RSS every second."""
    for p in pages:
        p.evaluate("window.__longtasks = []; window.dashboardStats && (window.dashboardStats.maxRenderMs = 0)")
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    rss = []
    while time.monotonic() - t0 < seconds:
        rss.append(vm_rss_kib(pid) / 1024)
        time.sleep(1)
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100
    return cpu, max(rss), rss[-1]


def load(url):
    """The pipeline's rates as the dashboard shows them (what the window ran under)."""
    stages = {s["id"]: s for s in requests.get(url + "api/snapshot", timeout=5).json()["stages"]}
    visits = stages["generator"]["rates"][0]["value"] or 0
    events = stages["debezium"]["rates"][0]["value"] or 0
    return f"(generator {visits:.0f} visits/s, Debezium {events:.0f} events/s)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=100.0, help="generator visits per second (0: no generator)")
    ap.add_argument("--tabs", type=int, default=3, help="pages open in the second window")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each window")
    ap.add_argument("--warmup", type=float, default=20.0, help="seconds before the first window")
    ap.add_argument("--topic-prefix", default="ecomm")
    ap.add_argument("--schema", default="demo")
    args = ap.parse_args()
    env = dict(os.environ)
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "PROMETHEUS_URL", "CONNECT_URL", "FLINK_URL"):
        if key not in env:
            sys.exit(f"bench/dashboard.py: {key} is not set: eval \"$(scripts/stack env)\" first")
    metrics_port = env.get("THELOOK_METRICS_PORT") or "9464"
    procs = []
    try:
        if args.rate:
            gen = subprocess.Popen([sys.executable, "-m", "thelook_datagen", "--schema", args.schema, "--topic-prefix",
                                    args.topic_prefix, "--if_exists", "append", "--avg-qps", str(args.rate),
                                    "--max_iter", "-1", "--metrics-port", metrics_port, "--control", "--quiet"],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(gen)
        port = free_port()
        dash = subprocess.Popen([sys.executable, "-m", "thelook_dashboard", "--port", str(port), "--topic-prefix",
                                 args.topic_prefix, "--schema", args.schema,
                                 "--generator-url", f"http://127.0.0.1:{metrics_port}"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(dash)
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or dash.poll() is not None:
                sys.exit("bench/dashboard.py: the dashboard did not start")
            time.sleep(0.5)
        print(f"[bench] dashboard pid {dash.pid} at {url}, generator at {args.rate:g} visits/s; "
              f"warming up {args.warmup:g} s", flush=True)
        time.sleep(args.warmup)
        snap = requests.get(url + "api/snapshot", timeout=5).json()
        keys = sum(p.get("keys", 0) for p in snap["analytics"].values())
        down = [k for k, v in snap["sources"].items() if not v["ok"]]
        print(f"[bench] {keys} result rows held; sources down: {', '.join(down) or 'none'}", flush=True)

        cpu, peak, end = window(dash.pid, args.seconds)
        print(f"baseline (no page):   server CPU {cpu:5.1f}% of one core, RSS peak {peak:6.1f} MiB, end {end:6.1f} MiB "
              f"{load(url)}", flush=True)

        from playwright.sync_api import sync_playwright
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            pages = []
            for _ in range(args.tabs):
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.add_init_script(LONGTASKS)
                page.goto(url)
                pages.append(page)
            time.sleep(5)   # first snapshots and chart set-up are not part of the steady state
            cpu, peak, end = window(dash.pid, args.seconds, pages)
            print(f"{args.tabs} pages open:         server CPU {cpu:5.1f}% of one core, RSS peak {peak:6.1f} MiB, "
                  f"end {end:6.1f} MiB {load(url)}", flush=True)
            for i, page in enumerate(pages, 1):
                stats = page.evaluate("window.dashboardStats")
                longest = page.evaluate("Math.max.apply(null, [0].concat(window.__longtasks))")
                count = page.evaluate("window.__longtasks.length")
                print(f"  page {i}: {stats['snapshots']} snapshots rendered, last render "
                      f"{stats['lastRenderMs']:.1f} ms, longest render in the window "
                      f"{stats['maxRenderMs']:.1f} ms; long tasks (> 50 ms): {count}, longest "
                      f"{'none' if not count else f'{longest:.0f} ms'}", flush=True)
            browser.close()
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    main()
