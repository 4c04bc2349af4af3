"""node-failure: one node of a cluster (`scripts/stack up --cluster`, or compose.cluster.yaml) killed with
SIGKILL under load; the pipeline carries on without an operator; then the node comes back, and verify and the
Flink results prove that nothing was lost.

--node names the node: `kafka-2`, `connect`, `taskmanager-2`, ... or KIND:busiest, the node of that kind doing
the most of this connector's work at that moment (kafka: the broker leading the most partitions of the change
topics; connect: the worker running the connector's task; taskmanager: the one running the most tasks of the
prefix's Flink jobs), which is what a workshop wants to kill.

1. The target connector RUNNING (its initial snapshot done); the scenario's own seeded generator writing; the
   change topics tailed from their end (each change's commit time and its Kafka timestamp; a change delivered
   twice is counted as a duplicate, by its topic, LSN and key).
2. The node is killed (SIGKILL to its process tree, as a crash or an OOM kill would; --kill-command for compose:
   `docker compose -f compose.yaml -f compose.cluster.yaml kill -s KILL`). Then, without any operator action:
   kafka: every change-topic partition has a live leader again (the controller fences the dead broker after
   broker.session.timeout.ms); connect: the connector's task RUNNING on the surviving worker (the group evicts
   the dead worker after session.timeout.ms, its work is reassigned after scheduled.rebalance.max.delay.ms);
   taskmanager: the jobs that had tasks on it RUNNING again on the remaining TaskManager, restored from their
   last checkpoint. In every case a change committed after that has reached Kafka.
3. --watch seconds later the figures: the seconds until the first change committed after the kill was in Kafka,
   the seconds until every change was on time again (commit->Kafka under --late-ms), the peak commit->Kafka
   latency, the duplicates delivered.
4. The node is started again (`scripts/stack restart NODE`, or --start-command) and what "back" means is
   checked per kind: a broker rejoins the ISR of every partition it replicates and takes its preferred
   leaderships back (the cluster's scheduled preferred leader election, leader.imbalance.check.interval.seconds
   30; run explicitly when it has not happened within a minute); a worker rejoins the group and Connect
   reassigns it a share of the work (the connector or its task); a TaskManager registers and offers its slots
   (Flink does not move running jobs back: the slots stay free until a job restarts).
5. The generator stops; verify must be OK (duplicates are at-least-once delivery, which verify accepts); where
   Flink jobs of the prefix run, their results must equal PostgreSQL's.
"""
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from . import ScenarioError
from ..errors import UserError
from ..ops import connector as connector_ops
from ..ops import flink_jobs, procs
from ..tables import TABLES, topic_name
from .common import ChangeTail, Generator, Postgres, child_env, finish, target_connector
from .restart_storm import wait_capture

NAME = "node-failure"
KINDS = ("kafka", "connect", "taskmanager")
STACK = Path(__file__).resolve().parents[3] / "scripts" / "stack"
PREFERRED_WAIT = 60.0   # the scheduled election runs every 30 s; beyond this the scenario runs it itself


def parse_node(text):
    """(kind, node or None): `kafka-2` -> ("kafka", "kafka-2"); `connect:busiest` -> ("connect", None)."""
    text = (text or "").strip()
    if text.endswith(":busiest"):
        kind = text[:-len(":busiest")]
        if kind in KINDS:
            return kind, None
    else:
        base, _, number = text.rpartition("-")
        if text in KINDS:
            return text, text
        if base in KINDS and number.isdigit() and int(number) >= 2:
            return base, text
    raise ScenarioError(f"--node {text!r} is not a node of the cluster",
                        "name one like kafka-2, connect, taskmanager-2, or KIND:busiest (kafka, connect or "
                        "taskmanager)")


def node_id(node):
    """The broker's node.id: kafka -> 1, kafka-2 -> 2 (the same in both paths)."""
    _, _, number = node.rpartition("-")
    return int(number) if number.isdigit() else 1


def broker_node(broker_id):
    return "kafka" if broker_id == 1 else f"kafka-{broker_id}"


# ---------------------------------------------------------------- the nodes (local stack or a command)

def stack_nodes(env):
    """{node: {"state", "pid", "ports"}} from `scripts/stack status` of this checkout."""
    res = subprocess.run([str(STACK), "status"], env=env, capture_output=True, text=True)
    nodes = {}
    for line in res.stdout.splitlines()[2:]:   # after the `stack in DIR` line and the header
        parts = line.split()
        if len(parts) >= 5 and (parts[2].isdigit() or parts[2] == "-"):
            nodes[parts[0]] = {"state": parts[1], "pid": int(parts[2]) if parts[2].isdigit() else None,
                               "ports": [int(p) for p in parts[3].split(",") if p.isdigit()]}
    return nodes


class Nodes:
    """Kills and starts nodes: the local stack's (by pid, then `scripts/stack restart`) or by the user's
    commands (compose)."""

    def __init__(self, settings, env):
        self.env = env
        self.kill_cmd = shlex.split(settings.kill_command) if settings.kill_command else None
        self.start_cmd = shlex.split(settings.start_command) if settings.start_command else None
        self.local = {} if self.kill_cmd and self.start_cmd else stack_nodes(env)
        if not (self.kill_cmd and self.start_cmd):
            if not self.local:
                raise ScenarioError("no local stack runs here (scripts/stack status)",
                                    "start one with scripts/stack up --cluster; on compose pass {opt:kill_command} "
                                    "and {opt:start_command}")
            if "kafka-2" not in self.local:
                raise ScenarioError("the local stack is not a cluster: it runs one node of each kind",
                                    "start a cluster with scripts/stack up --cluster (its own THELOOK_STACK_DIR)")

    def of_kind(self, kind):
        if self.local:
            return [n for n in self.local if n == kind or n.startswith(kind + "-")]
        return [kind, f"{kind}-2"] + ([f"{kind}-3"] if kind == "kafka" else [])

    def check(self, node):
        if self.local and node not in self.local:
            raise ScenarioError(f"the cluster has no node {node} (its nodes: {', '.join(self.local)})")
        if self.local and self.local[node]["state"] != "running":
            raise ScenarioError(f"{node} is not running ({self.local[node]['state']}): start it first with "
                                f"scripts/stack restart {node}")

    def port(self, node):
        return self.local[node]["ports"][0] if self.local.get(node, {}).get("ports") else None

    def kill(self, node):
        if self.kill_cmd:
            _run(self.kill_cmd + [node], self.env, f"killing {node}")
            return None
        pid = stack_nodes(self.env)[node]["pid"]
        for p in procs.tree(pid):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pid

    def start(self, node, timeout):
        t0 = time.monotonic()
        _run((self.start_cmd or [str(STACK), "restart"]) + [node], self.env, f"starting {node}", timeout)
        return time.monotonic() - t0


def _run(cmd, env, what, timeout=300):
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ScenarioError(f"{what} did not finish within {timeout:g} s ({shlex.join(cmd)})") from None
    if res.returncode != 0:
        last = [ln for ln in (res.stderr + res.stdout).splitlines() if ln.strip()][-1:] or [f"exit {res.returncode}"]
        raise ScenarioError(f"{what} failed: {last[0]}")


# ---------------------------------------------------------------- Kafka: leaders and replicas

class Brokers:
    """Partition leaders and in-sync replicas of the change topics, from the cluster's metadata."""

    def __init__(self, settings, target):
        from confluent_kafka.admin import AdminClient
        from ..kafka_client import quiet_logger
        self.admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, **(settings.kafka_config or {})},
                                 logger=quiet_logger())
        self.topics = [topic_name(target.topic_prefix, target.schema, t) for t in TABLES]
        self.timeout = settings.kafka_timeout

    def partitions(self):
        """[(topic, partition, leader, replicas, isrs)] of the change topics that exist."""
        meta = self.admin.list_topics(timeout=self.timeout)
        return [(t, p.id, p.leader, list(p.replicas), list(p.isrs))
                for t in self.topics if t in meta.topics for p in meta.topics[t].partitions.values()]

    def leaders(self):
        counts = {}
        for _, _, leader, _, _ in self.partitions():
            counts[leader] = counts.get(leader, 0) + 1
        return counts

    def elect_preferred(self):
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import ElectionType
        parts = [TopicPartition(t, p) for t, p, *_ in self.partitions()]
        self.admin.elect_leaders(ElectionType.PREFERRED, parts).result(self.timeout)


# ---------------------------------------------------------------- Flink: where the jobs' tasks run

def job_tasks(jobmanager, prefix):
    """{job name: {taskmanager id: subtasks}} of the prefix's jobs (running or restarting)."""
    head = f"{prefix}.analytics."
    out = {}
    for job in flink_jobs.running_jobs(jobmanager):
        if not job["name"].startswith(head):
            continue
        jid = job.get("jid") or job.get("id")
        detail = jobmanager.call("GET", f"/jobs/{jid}")
        per_tm = {}
        for vertex in detail.get("vertices", []):
            tms = jobmanager.call("GET", f"/jobs/{jid}/vertices/{vertex['id']}/taskmanagers")
            for tm in tms.get("taskmanagers", []):
                tm_id = tm.get("taskmanager-id") or tm.get("resource-id") or "?"
                per_tm[tm_id] = per_tm.get(tm_id, 0) + 1
        out[job["name"][len(head):]] = {"jid": jid, "state": job["state"], "taskmanagers": per_tm}
    return out


def restored(jobmanager, jid):
    """(checkpoint id, restore timestamp ms) the job last restored from, or None."""
    stats = jobmanager.call("GET", f"/jobs/{jid}/checkpoints")
    last = (stats.get("latest") or {}).get("restored")
    return (last.get("id"), last.get("restore_timestamp")) if last else None


# ---------------------------------------------------------------- the figures of a failure

def failure_figures(events, kill_ms, late_ms):
    """From [(commit ms, Kafka ms)] of first deliveries: seconds from the kill until the first change committed
    after it was in Kafka; seconds until the last late change (commit->Kafka over late_ms, committed from 5 s
    before the kill on) arrived, i.e. until every change was on time again (0.0: none was late); the peak
    commit->Kafka latency in ms over the same changes."""
    window = [(c, k) for c, k in events if c >= kill_ms - 5000]
    after = [k for c, k in window if c >= kill_ms]
    late = [k for c, k in window if k - c > late_ms]
    return {
        "resumed_s": round((min(after) - kill_ms) / 1000, 1) if after else None,
        "on_time_again_s": round(max(0, max(late) - kill_ms) / 1000, 1) if late else 0.0,
        "peak_latency_ms": max((k - c for c, k in window), default=None),
        "late_changes": len(late),
    }


# ---------------------------------------------------------------- recovery and return, per kind

def wait_recovered(kind, node, settings, connect, target, brokers, jobmanager, before, deadline):
    """Waits until the pipeline works around the dead node; returns the figures of that (kind-specific)."""
    t0 = time.monotonic()
    last = "?"
    while time.monotonic() < deadline:
        try:
            if kind == "kafka":
                dead = node_id(node)
                parts = brokers.partitions()
                leaderless = [f"{t}[{p}]" for t, p, leader, _, _ in parts if leader in (-1, dead)]
                if not leaderless and connector_ops.is_running(connector_ops.get_status(connect, target.name) or {}):
                    moved = sum(1 for t, p, *_ in parts if before.get((t, p)) == dead)
                    return {"leaders_moved": moved, "recovered_s": round(time.monotonic() - t0, 1)}
                last = f"partitions without a live leader: {', '.join(leaderless[:5]) or 'none'}"
            elif kind == "connect":
                status = connector_ops.get_status(connect, target.name) or {}
                tasks = status.get("tasks", [])
                workers = [t.get("worker_id") for t in tasks]
                if tasks and all(t.get("state") == "RUNNING" for t in tasks) and before not in workers:
                    return {"task_worker": workers[0], "recovered_s": round(time.monotonic() - t0, 1)}
                last = f"tasks {[(t.get('state'), t.get('worker_id')) for t in tasks]}"
            else:
                jobs = job_tasks(jobmanager, target.topic_prefix)
                hit = {name: j for name, j in jobs.items() if name in before}
                if hit and all(j["state"] == "RUNNING" and node not in j["taskmanagers"] and j["taskmanagers"]
                               for j in hit.values()):
                    restores = {name: restored(jobmanager, j["jid"]) for name, j in hit.items()}
                    if all(restores.values()):
                        return {"jobs_restarted": sorted(hit),
                                "restored_checkpoints": {n: r[0] for n, r in restores.items()},
                                "recovered_s": round(time.monotonic() - t0, 1)}
                last = f"jobs {({n: (j['state'], sorted(j['taskmanagers'])) for n, j in hit.items()})}"
        except UserError as err:
            last = str(err)
        except Exception as err:   # a metadata request while the cluster elects leaders
            last = f"{type(err).__name__}: {err}"
        time.sleep(1)
    raise ScenarioError(f"the pipeline did not recover from losing {node} within {settings.failover_timeout:g} s "
                        f"({last})")


def wait_back(kind, node, nodes, settings, connect, target, brokers, jobmanager, worker_port, timeline, deadline):
    """After the node is started again: what "back" means for its kind; returns its figures."""
    t0 = time.monotonic()
    last = "?"
    figures = {}
    elected = False
    while time.monotonic() < deadline:
        try:
            if kind == "kafka":
                me = node_id(node)
                parts = brokers.partitions()
                out_of_isr = [f"{t}[{p}]" for t, p, _, replicas, isrs in parts if me in replicas and me not in isrs]
                if out_of_isr:
                    last = f"not yet in the ISR of {', '.join(out_of_isr[:5])}"
                else:
                    figures.setdefault("in_sync_s", round(time.monotonic() - t0, 1))
                    not_led = [f"{t}[{p}]" for t, p, leader, replicas, _ in parts if replicas and replicas[0] == me
                               and leader != me]
                    if not not_led:
                        figures["preferred_leader_s"] = round(time.monotonic() - t0, 1)
                        figures["preferred_partitions"] = sum(1 for *_, replicas, _ in parts
                                                              if replicas and replicas[0] == me)
                        figures["election"] = "run by the scenario" if elected else "scheduled (by the cluster)"
                        return figures
                    last = f"preferred leader again of none of {', '.join(not_led[:5])}"
                    if not elected and time.monotonic() - t0 - figures["in_sync_s"] > PREFERRED_WAIT:
                        timeline.note(f"{node} in sync but not leader of its preferred partitions after "
                                      f"{PREFERRED_WAIT:g} s: running a preferred leader election")
                        brokers.elect_preferred()
                        elected = True
            elif kind == "connect":
                # Back = a member of the group's current generation again: its rebalance epoch equals the other
                # worker's and it is not rebalancing (the workers' JMX metrics). Connect's assignor balances
                # connectors and tasks each on its own, so with one connector and one task nothing needs to
                # move back: the assignment is reported, not required to change.
                epochs = worker_epochs(nodes, settings)
                mine, others = epochs.get(node), [e for n, e in epochs.items() if n != node]
                status = connector_ops.get_status(connect, target.name) or {}
                owners = [status.get("connector", {}).get("worker_id")] + [t.get("worker_id")
                                                                           for t in status.get("tasks", [])]
                states = [t.get("state") for t in status.get("tasks", [])]
                if mine and others and mine[1] == 0 and mine[0] >= max(e[0] for e in others) and states and \
                        all(st == "RUNNING" for st in states):
                    on_it = [o for o in owners if o and (o.split(":")[0] == node or o.endswith(f":{worker_port}"))]
                    return {"rejoined_s": round(time.monotonic() - t0, 1), "epoch": int(mine[0]),
                            "work_on_it": len(on_it),
                            "assignment": {"connector": owners[0], "tasks": owners[1:]}}
                last = f"rebalance epochs {epochs}; connector on {owners[0]}, tasks {list(zip(states, owners[1:]))}"
            else:
                tms = jobmanager.call("GET", "/taskmanagers").get("taskmanagers", [])
                tm = next((t for t in tms if t.get("id") == node), None)
                if tm:
                    return {"registered_s": round(time.monotonic() - t0, 1), "slots": tm.get("slotsNumber"),
                            "free_slots": tm.get("freeSlots")}
                last = f"not registered (registered: {[t.get('id') for t in tms]})"
        except UserError as err:
            last = str(err)
        except Exception as err:
            last = f"{type(err).__name__}: {err}"
        time.sleep(1)
    raise ScenarioError(f"{node} is not back within {settings.back_timeout:g} s of its start ({last})")


def worker_epochs(nodes, settings):
    """{worker: (rebalance epoch, rebalancing 0/1)} from each Connect worker's metrics: its own exporter (the local
    stack's ports) or, without them, Prometheus's last scrape (--prometheus-url)."""
    import requests
    out = {}
    if nodes.local:
        for node in nodes.of_kind("connect"):
            ports = nodes.local.get(node, {}).get("ports", [])
            try:
                text = requests.get(f"http://127.0.0.1:{ports[1]}/metrics", timeout=5).text if len(ports) > 1 else ""
            except requests.RequestException:
                continue
            values = {}
            for line in text.splitlines():
                for name in ("epoch", "rebalancing"):
                    if line.startswith(f"kafka_connect_worker_rebalance_{name} "):
                        values[name] = float(line.split()[1])
            if "epoch" in values:
                out[node] = (values["epoch"], values.get("rebalancing", 0.0))
        return out
    if settings.prometheus_url:
        from .common import prometheus_vector
        epoch = prometheus_vector(settings.prometheus_url, "kafka_connect_worker_rebalance_epoch")
        busy = prometheus_vector(settings.prometheus_url, "kafka_connect_worker_rebalance_rebalancing")
        out = {n: (v, busy.get(n, 0.0)) for n, v in epoch.items()}
    return out


def busiest(kind, nodes, connect, target, brokers, jobmanager):
    """The node of `kind` doing the most of this connector's work now."""
    if kind == "kafka":
        counts = brokers.leaders()
        return broker_node(max(counts, key=counts.get))
    if kind == "connect":
        status = connector_ops.get_status(connect, target.name) or {}
        worker = next((t.get("worker_id") for t in status.get("tasks", [])), None)
        if not worker:
            raise ScenarioError(f"connector {target.name} has no task to follow")
        for node in nodes.of_kind("connect"):
            if worker.split(":")[0] == node or worker.endswith(f":{nodes.port(node)}"):
                return node
        raise ScenarioError(f"the task runs on worker {worker}, which is no node of this cluster")
    counts = {}
    for job in job_tasks(jobmanager, target.topic_prefix).values():
        for tm, n in job["taskmanagers"].items():
            counts[tm] = counts.get(tm, 0) + n
    if not counts:
        raise ScenarioError(f"no Flink job of prefix {target.topic_prefix} runs: a TaskManager failure would show "
                            "nothing", "submit the jobs first: scripts/submit-flink-jobs")
    return max(counts, key=counts.get)


def run(settings, connect, timeline):
    kind, node = parse_node(settings.node)
    target = target_connector(connect, settings.connector, settings.schema, settings.topic_prefix)
    env = child_env(settings)
    nodes = Nodes(settings, env)
    brokers = Brokers(settings, target)
    jobmanager = flink_jobs.jobmanager_client(settings.flink_url, timeout=10)
    node = node or busiest(kind, nodes, connect, target, brokers, jobmanager)
    nodes.check(node)
    pg = Postgres(settings.conn_kw)
    gen = tail = None
    killed = False
    result = {"scenario": NAME, "connector": target.name, "slot": target.slot, "schema": target.schema,
              "topic_prefix": target.topic_prefix, "node": node, "kind": kind,
              "rate": None if settings.no_generator else settings.rate, "seed": settings.seed}
    try:
        if kind == "kafka":
            before = {(t, p): leader for t, p, leader, _, _ in brokers.partitions()}
            led = sum(1 for v in before.values() if v == node_id(node))
            timeline.note(f"{node} (node.id {node_id(node)}) leads {led} of the {len(before)} change-topic partitions")
        elif kind == "connect":
            status = connector_ops.get_status(connect, target.name) or {}
            before = next((t.get("worker_id") for t in status.get("tasks", [])), None)
            port = nodes.port(node)
            on_it = bool(before) and (before.split(":")[0] == node or before.endswith(f":{port}"))
            timeline.note(f"connector {target.name}'s task runs on worker {before}"
                          + (f" = {node}" if on_it else f"; {node} runs no task of it"))
            before = before if on_it else None
        else:
            jobs = job_tasks(jobmanager, target.topic_prefix)
            before = {name for name, j in jobs.items() if node in j["taskmanagers"]}
            timeline.note(f"{node} runs tasks of {len(before)} of the {len(jobs)} Flink jobs of prefix "
                          f"{target.topic_prefix}" + (f": {', '.join(sorted(before))}" if before else ""))
            if not before:
                raise ScenarioError(f"{node} runs no task of the Flink jobs of prefix {target.topic_prefix}: its "
                                    "failure would show nothing", "name the other TaskManager, or taskmanager:busiest")
        gen = Generator.start_writing(settings, target, env, pg, timeline)
        pg.close()
        pg = None
        tail = ChangeTail(settings, target)
        time.sleep(settings.watch)
        kill_ms = int(time.time() * 1000)
        pid = nodes.kill(node)
        killed = True
        timeline.note(f"{node} killed (SIGKILL" + (f", pid {pid} and its children)" if pid else ", by the kill command)"))
        deadline = time.monotonic() + settings.failover_timeout
        recovered = wait_recovered(kind, node, settings, connect, target, brokers, jobmanager, before, deadline)
        recovered_ms = int(time.time() * 1000)
        timeline.note({"kafka": "every change-topic partition has a live leader again ({leaders_moved} leaderships "
                                "moved), {recovered_s} s after the kill",
                       "connect": "the connector's task RUNNING on {task_worker}, {recovered_s} s after the kill",
                       "taskmanager": "Flink jobs {jobs_restarted} RUNNING on the remaining TaskManager, restored "
                                      "from checkpoints {restored_checkpoints}, {recovered_s} s after the kill"}[kind]
                      .format(**recovered), **{k: v for k, v in recovered.items() if not isinstance(v, (list, dict))})
        capture_s, latency = wait_capture(tail, recovered_ms, deadline) if gen else (None, None)
        if gen and capture_s is None:
            raise ScenarioError(f"no change committed after the recovery reached Kafka within "
                                f"{settings.failover_timeout:g} s of the kill")
        time.sleep(settings.watch)
        try:
            tail.read_up_to_now(timeout=60)
        except Exception as err:   # the figures then cover what was read: said so
            timeline.note(f"the change topics' end offsets could not be read ({err}): the figures cover the "
                          "changes read so far")
        with tail.lock:
            events = list(tail.events)
            duplicates = tail.duplicates
        figures = failure_figures(events, kill_ms, settings.late_ms)
        failure = {**recovered, **figures, "duplicates": duplicates}
        result["failure"] = failure
        timeline.note(f"while {node} was down: first change committed after the kill in Kafka after "
                      f"{figures['resumed_s']} s; every change on time again (under {settings.late_ms:g} ms) "
                      f"{figures['on_time_again_s']} s after the kill ({figures['late_changes']} late); peak "
                      f"commit->Kafka latency {figures['peak_latency_ms']} ms; {duplicates} duplicates delivered",
                      **figures, duplicates=duplicates)
        worker_port = nodes.port(node)
        took = nodes.start(node, settings.back_timeout)
        killed = False
        timeline.note(f"{node} started again ({took:.1f} s until healthy)", start_s=round(took, 1))
        back = wait_back(kind, node, nodes, settings, connect, target, brokers, jobmanager, worker_port, timeline,
                         time.monotonic() + settings.back_timeout)
        result["back"] = {"start_s": round(took, 1), **back}
        timeline.note({"kafka": "{node} back: in the ISR of all its partitions after {in_sync_s} s, leader of its "
                                "{preferred_partitions} preferred partitions after {preferred_leader_s} s "
                                "(election {election})",
                       "connect": "{node} back: a member of the group's current generation (rebalance epoch "
                                  "{epoch}) after {rejoined_s} s; connector on {a[connector]}, task on {a[tasks]} "
                                  "({work_on_it} of them on {node}: Connect balances connectors and tasks each on "
                                  "its own, so one of each needs no move)",
                       "taskmanager": "{node} back: registered after {registered_s} s, {free_slots} of {slots} "
                                      "slots free (Flink does not move running jobs back)"}[kind]
                      .format(node=node, a=back.get("assignment", {}), **back))
        if gen:
            gen.check()
            result["generator"] = gen.stopped_summary(timeline)
        result["ok"] = finish(settings, target, env, timeline, result)
        return result
    finally:
        if killed:
            try:
                nodes.start(node, settings.back_timeout)
                timeline.note(f"cleanup: {node} started again")
            except UserError as err:
                timeline.note(f"cleanup: {node} could not be started again: {err}")
        if gen:
            gen.cleanup(timeline)
        if tail:
            tail.close()
        if pg:
            pg.close()
