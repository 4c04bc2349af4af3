"""restart-storm: Kafka Connect, the Kafka broker, PostgreSQL and the Flink TaskManager restarted one after
another under load, with pauses drawn from the seed; then verify and the Flink results.

The fault tests (tests/cdc/test_faults.py) restart one service per run. Real outages chain: a broker restart
while Connect is still rebalancing after its own, a database restart while Debezium is still draining. This
scenario chains them, each by the real launcher (`scripts/stack restart SERVICE`, which stops the process and
waits until it is healthy again; on compose `--restart-command "docker compose restart"`), in --services order
(default connect, kafka, postgres, taskmanager) with a pause of --pause-min..--pause-max seconds before each,
drawn from random.Random(--seed) so a run can be repeated.

1. The target connector RUNNING; the scenario's own seeded generator writing (it reconnects to PostgreSQL by
   itself; its count of reconnects is reported at the end).
2. For each service: pause, restart (timed), then wait until the connector and its task are RUNNING (a task
   FAILED for a retryable reason — PostgreSQL restarting — is restarted through Connect's REST API, as
   register-connector does, and counted: Debezium does not restart a task that Connect marked FAILED), and
   until capture has caught up: a change committed after the restart has reached Kafka (so the backlog the
   generator wrote meanwhile is through; its commit->Kafka latency reported). After the TaskManager, the Flink jobs of the connector's prefix must be RUNNING again
   (restored from their last checkpoint).
3. The generator stops; verify must be OK (duplicates from at-least-once delivery are fine); where Flink jobs
   of the prefix run, their results must equal PostgreSQL's.
"""
import random
import shlex
import subprocess
import time
from pathlib import Path

from . import ScenarioError
from ..errors import UserError
from ..ops import connector as connector_ops
from ..ops import flink_jobs
from .common import ChangeTail, Generator, Postgres, child_env, finish, target_connector

NAME = "restart-storm"
SERVICES = ("connect", "kafka", "postgres", "taskmanager")
STACK = Path(__file__).resolve().parents[3] / "scripts" / "stack"


def parse_services(text):
    """The --services list: known names, each once, at least one."""
    names = [s.strip() for s in (text or "").split(",") if s.strip()]
    unknown = [s for s in names if s not in SERVICES]
    if unknown or not names:
        raise ScenarioError(f"--services {text!r}: {'unknown ' + ', '.join(unknown) if unknown else 'empty'}; "
                            f"choose from {','.join(SERVICES)}")
    if len(set(names)) != len(names):
        raise ScenarioError(f"--services {text!r} names a service twice")
    return names


def pauses(seed, count, low, high):
    """The pause before each restart, seconds: uniform in [low, high] from the seed (repeatable)."""
    if high < low:
        raise ScenarioError(f"--pause-max {high:g} is below --pause-min {low:g}")
    rng = random.Random(f"restart-storm-{seed}")
    return [round(rng.uniform(low, high), 1) for _ in range(count)]


def restart_command(settings):
    """The command prefix that restarts one service; checks that the local stack runs when it is the default."""
    if settings.restart_command:
        return shlex.split(settings.restart_command)
    status = subprocess.run([str(STACK), "status", "--quiet"], capture_output=True, text=True)
    if status.returncode != 0:
        raise ScenarioError("no local stack runs here (scripts/stack status)",
                            "start it with scripts/stack up; on compose pass "
                            "{opt:restart_command} 'docker compose restart'")
    return [str(STACK), "restart"]


def restart(cmd, service, env, timeout):
    """Runs `cmd service`; returns the seconds it took. ScenarioError when it fails."""
    t0 = time.monotonic()
    try:
        res = subprocess.run(cmd + [service], env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ScenarioError(f"restarting {service} did not finish within {timeout:g} s") from None
    if res.returncode != 0:
        last = [ln for ln in (res.stderr + res.stdout).splitlines() if ln.strip()][-1:] or [f"exit {res.returncode}"]
        raise ScenarioError(f"restarting {service} failed: {last[0]}")
    return time.monotonic() - t0


def wait_connector(connect, target, deadline):
    """Waits until the connector and its task are RUNNING (Connect's REST API may be restarting itself);
    returns how many FAILED tasks had to be restarted."""
    restarts = []

    def say(line):
        if "restarting it" in line:
            restarts.append(line)
    while True:
        try:
            connector_ops.wait_running(connect, target.name, target.config, deadline, settle=2.0, say=say)
            return len(restarts)
        except UserError as err:
            if time.monotonic() >= deadline:
                raise ScenarioError(f"connector {target.name} not RUNNING again: {err}") from None
            time.sleep(1)


def wait_capture(tail, after_ms, deadline):
    """Waits until a change committed after `after_ms` is in Kafka; returns (seconds, its latency ms)."""
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        newest = tail.newest()
        if newest and newest[0] >= after_ms:
            return time.monotonic() - t0, newest[1] - newest[0]
        time.sleep(0.25)
    return None, None


def wait_jobs(settings, prefix, deadline):
    """Waits until the prefix's Flink jobs are all RUNNING; returns (count, seconds) or (0, 0) without jobs."""
    jobmanager = flink_jobs.jobmanager_client(settings.flink_url, timeout=10)
    t0 = time.monotonic()
    head = f"{prefix}.analytics."
    states = {}
    while True:
        try:
            jobs = [j for j in flink_jobs.running_jobs(jobmanager) if j["name"].startswith(head)]
            states = {j["name"][len(head):]: j["state"] for j in jobs}
        except UserError:
            states = {"?": "JobManager unreachable"}
        if not states:
            return 0, 0.0
        if all(s == "RUNNING" for s in states.values()):
            return len(states), time.monotonic() - t0
        if time.monotonic() >= deadline:
            raise ScenarioError(f"the Flink jobs of prefix {prefix} are not RUNNING again: {states}")
        time.sleep(1)


def run(settings, connect, timeline):
    services = parse_services(settings.services)
    waits = pauses(settings.seed, len(services), settings.pause_min, settings.pause_max)
    cmd = restart_command(settings)
    target = target_connector(connect, settings.connector, settings.schema, settings.topic_prefix)
    pg = Postgres(settings.conn_kw)
    gen = tail = None
    result = {"scenario": NAME, "connector": target.name, "slot": target.slot, "schema": target.schema,
              "topic_prefix": target.topic_prefix, "services": services, "pauses_s": waits,
              "rate": None if settings.no_generator else settings.rate, "seed": settings.seed, "restarts": []}
    try:
        env = child_env(settings)
        timeline.note(f"connector {target.name} RUNNING (slot {target.slot}); restarts: "
                      + ", ".join(f"{s} after {w:g} s" for s, w in zip(services, waits))
                      + f"; by: {' '.join(cmd)} SERVICE")
        gen = Generator.start_writing(settings, target, env, pg, timeline)
        pg.close()
        pg = None
        tail = ChangeTail(settings, target)
        caught_up = True
        for service, wait in zip(services, waits):
            time.sleep(wait)
            if gen:
                gen.check()
            took = restart(cmd, service, env, settings.recover_timeout)
            after_ms = int(time.time() * 1000)
            t_back = time.monotonic()
            deadline = t_back + settings.recover_timeout
            task_restarts = wait_connector(connect, target, deadline)
            running_s = time.monotonic() - t_back
            capture_s, latency = wait_capture(tail, after_ms, deadline) if gen else (None, None)
            jobs, jobs_s = wait_jobs(settings, target.topic_prefix, deadline) if service == "taskmanager" else (None, None)
            entry = {"service": service, "pause_s": wait, "restart_s": round(took, 1),
                     "connector_running_s": round(running_s, 1), "failed_tasks_restarted": task_restarts,
                     "capture_resumed_s": None if capture_s is None else round(capture_s, 1),
                     "first_change_latency_ms": latency, "flink_jobs_running": jobs,
                     "flink_jobs_running_s": None if jobs_s is None else round(jobs_s, 1)}
            result["restarts"].append(entry)
            timeline.note(
                f"{service} restarted in {took:.1f} s; connector and task RUNNING {running_s:.1f} s later"
                + (f" ({task_restarts} FAILED task restarted through Connect)" if task_restarts else "")
                + ("" if not gen else ("; capture NOT caught up" if capture_s is None else
                                       f"; caught up {capture_s:.1f} s later: a change committed after the "
                                       f"restart in Kafka, {latency} ms after its commit"))
                + ("" if not jobs else f"; {jobs} Flink jobs RUNNING again {jobs_s:.1f} s later"),
                **{k: v for k, v in entry.items() if k != "service"})
            if gen:
                gen.check()
                # not caught up in time: not the expected outcome (exit 1), but the storm goes on and verify
                # still says what reached Kafka
                caught_up = caught_up and capture_s is not None
        if gen:
            summary = gen.stop()
            result["generator"] = ({k: summary.get(k) for k in ("visits", "visits_per_s", "rows", "errors",
                                                                "reconnects")} if summary else None)
            timeline.note("generator stopped" + (f": {summary['visits']} visits, {summary['rows']} rows, "
                                                 f"{summary.get('reconnects', 0)} reconnects to PostgreSQL"
                                                 if summary else ""))
        finished = finish(settings, target, env, timeline, result)
        result["ok"] = caught_up and finished
        return result
    finally:
        if gen:
            gen.cleanup(timeline)
        if tail:
            tail.close()
        if pg:
            pg.close()
