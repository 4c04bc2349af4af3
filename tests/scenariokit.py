"""Helpers of the scenario tests (importable as `scenariokit`, like testkit); their shared pipeline fixture is
tests/scenarios/conftest.py."""
import contextlib
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scripts" / "scenario"


def log(msg):
    print(f"[scenario-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _cdc():
    """tests/cdc's Pipeline, loaded from its conftest under a name of its own."""
    spec = importlib.util.spec_from_file_location("cdc_pipeline_for_scenarios", ROOT / "tests" / "cdc" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def loaded_pipeline(stack_env, tmp, seed, snapshot_timeout, flink=True, what="pipeline"):
    """One pipeline of its own on the running stack, as the scenario and failover tests use it: tests/cdc's
    Pipeline (own schema, topic prefix, connector, slot and publication), its tables loaded by the real
    generator, one unsold unit in 8 of the initial stock kept (the other ~64,000 rows would only make the
    snapshot and each verify, which reads every change topic, about twice as long), the connector registered
    with its snapshot done, and the five Flink jobs of flink/ submitted on its prefix (flink=False: none).
    Everything is removed at the end: jobs cancelled, connector, slot, publication, schema and topics."""
    submit = ROOT / "scripts" / "submit-flink-jobs"
    p = _cdc().Pipeline(stack_env, tmp)
    log(f"{what} schema={p.schema} prefix={p.prefix} connector={p.name} slot={p.slot}")
    t0 = time.monotonic()
    try:
        p.generator("--if_exists", "replace", "--seed", seed, "--max_iter", 20, "--avg-qps", 0, timeout=180)
        removed = p.sql(f'WITH gone AS (DELETE FROM "{p.schema}".inventory_items ii WHERE sold_at IS NULL AND '
                        f'id % 8 <> 0 AND NOT EXISTS (SELECT 1 FROM "{p.schema}".order_items oi WHERE '
                        f'oi.inventory_item_id = ii.id) RETURNING 1) SELECT count(*) FROM gone')[0][0]
        log(f"{removed} units of the initial stock removed before the snapshot")
        p.register("--wait-snapshot", timeout=snapshot_timeout)
        if flink:
            res = subprocess.run([sys.executable, str(submit), "--topic-prefix", p.prefix, "--schema", p.schema],
                                 env=p.env, capture_output=True, text=True, timeout=400)
            assert res.returncode == 0, f"submit-flink-jobs failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
        log(f"{what} ready (connector snapshot done{', Flink jobs running' if flink else ''}) in "
            f"{time.monotonic() - t0:.1f}s")
        yield p
    finally:
        if flink:
            subprocess.run([sys.executable, str(submit), "--topic-prefix", p.prefix, "--cancel"], env=p.env,
                           capture_output=True, timeout=240)
        p.cleanup()
        p.delete_topics()


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
