"""Takes the README's screenshots of the dashboard: the workshop story on the running demo.

    scripts/demo                     # in another terminal: the stack, connector, jobs and the generator
    .venv/bin/python dashboard/screenshots/take.py [DASHBOARD_URL]

live.jpg (the shop running), paused.jpg (capture paused until the slot's WAL has grown by 4 MiB),
verified.jpg (capture resumed, the backlog drained, Verify ended). Uses the page's own buttons, in
Debian's Chromium (/usr/bin/chromium) through Playwright, and leaves capture running.
"""
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8088/"


def value(page, testid):
    raw = page.get_attribute(f'[data-testid="{testid}"]', "data-value")
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def until(what, check, timeout=300):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            sys.exit(f"take.py: {what}: not within {timeout} s")
        time.sleep(1)


def save(page, name):
    page.screenshot(path=str(HERE / name), type="jpeg", quality=70)
    print(f"[take] {HERE / name}", flush=True)


with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                 args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(URL)
    page.wait_for_selector('[data-testid="panel-stock_per_dc"][data-empty="false"]', timeout=120_000)
    time.sleep(5)
    save(page, "live.jpg")
    page.click('[data-testid="control-connector.pause"]')
    start = value(page, "stage-postgres-lag-0") or 0
    until("the slot's WAL grows by 4 MiB", lambda: (value(page, "stage-postgres-lag-0") or 0) > start + 4 * 2**20)
    time.sleep(3)
    save(page, "paused.jpg")
    page.click('[data-testid="control-connector.resume"]')
    until("the slot's WAL drains", lambda: (value(page, "stage-postgres-lag-0") or 1e12) < 8 * 2**20)
    page.click('[data-testid="verify-button"]')
    page.wait_for_selector('[data-testid="verify-state"][data-state="done"]', timeout=600_000)
    time.sleep(2)
    save(page, "verified.jpg")
    browser.close()
