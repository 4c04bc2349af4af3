"""Helpers of the scenario tests (importable as `scenariokit`, like testkit); their shared pipeline fixture is
tests/scenarios/conftest.py."""
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scripts" / "scenario"


def log(msg):
    print(f"[scenario-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_scenario(p, name, *args, timeout=300, compare_flink=False):
    """`scripts/scenario NAME --json` on the shared pipeline; returns (CompletedProcess, summary or None). The
    timeline is logged, so a failing test shows what the scenario saw."""
    cmd = [sys.executable, str(SCENARIO), name, "--connector", p.name, "--schema", p.schema, "--topic-prefix",
           p.prefix, "--json", *([] if compare_flink else ["--no-flink-compare"]), *map(str, args)]
    log("run " + " ".join(cmd[2:]))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=p.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM first: the scenario then cleans up (its generator runs in a session of its own and would
        # outlive a SIGKILL), then the test fails on its timeout
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(f"scripts/scenario {name} still running after {timeout} s (stopped):\n{out[-3000:]}\n"
                             f"{err[-3000:]}") from None
    res = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    log(f"{name}: exit {res.returncode} in {time.monotonic() - t0:.1f}s")
    try:
        summary = json.loads(res.stdout)
    except ValueError:
        summary = None
        print(res.stdout[-6000:], flush=True)
    if summary:
        for entry in summary.get("timeline", []):
            log(f"  +{entry['t']:.1f}s {entry['text']}")
    print(res.stderr[-3000:], flush=True)
    return res, summary


def connector_states(p):
    import requests
    status = requests.get(f"{p.stack_env['CONNECT_URL'].split(',')[0]}/connectors/{p.name}/status", timeout=10).json()
    return [status["connector"]["state"]] + [t["state"] for t in status["tasks"]]
