#!/usr/bin/env python3
"""Soak benchmark: the demo pipeline at an accelerated rate, equivalent to a long demo day, with the memory and
disk of every part of the stack sampled throughout and their trends checked against the all-day goals.

On the local stack of THELOOK_STACK_DIR (started with `scripts/stack up`; when none runs, the bench starts it
and stops it at the end) it sets up the demo pipeline as `scripts/demo` does (the theLook schema and topics,
the connector of connectors/thelook-postgres.json with scripts/register-connector, the five Flink jobs with
scripts/submit-flink-jobs; each leaves what already runs alone), then runs the seeded generator
`thelook-datagen --avg-qps RATE` for the run's length. The default is the equivalent of 8 hours of the demo
(10 visits/s): --rate 100 for 48 minutes. A "simulated hour" is 36,000 visits written (an hour of the demo),
counted from the generator's own counter; the generator's lifecycle clock is sped up by the same factor
(--time-scale 8640 x RATE/10), so shipping, returns, closures and write-offs keep their pace per visit.

Every --sample-interval seconds it samples, and prints one line:

  RSS          of every supervised program of the stack (its process tree: PostgreSQL's backends, a Flink
               script and its JVM) and of the generator, from /proc (VmRSS), and their total; for the processes
               that are not JVMs also their private memory: the anonymous pages (heap, stacks, private mappings;
               "Anonymous" of /proc/PID/smaps_rollup), without shared memory and mapped files
  heap         of every JVM (Kafka, Connect, Flink's JobManager, TaskManager and SQL gateway) after garbage
               collection. At every sample, without disturbing it: old generation + survivors, i.e. what the
               last young collection kept plus old garbage not collected yet (the JMX exporter's
               jvm_memory_pool_used_bytes for Kafka and Connect, from Prometheus; `jstat -gc` of the stack's
               Java for Flink's JVMs, which export only Status.JVM.Memory.Heap.Used, young generation
               included). At --full-gcs samples (default 5, evenly from the end of the warm-up to the end):
               the live heap, the bytes of the objects that survive a full collection, which `jcmd PID
               GC.class_histogram` forces (stop the world: 1.3 to 6.6 s per JVM at load 78 on 2 cores, hence
               not at every sample) and counts. The live heap is what the goal judges: the estimate can be far
               above it (Connect: 96 MB old+survivor, 26 MB alive), and Prometheus has nothing closer:
               jvm_memory_pool_collection_used_bytes is updated for "G1 Old Gen" by Java 17 only after a mixed
               or full collection (it read 0 with 170 MB in Kafka's old generation)
  Flink state  the state size of each job's last completed checkpoint (REST /jobs/<id>/checkpoints)
  disk         Kafka's log dirs (the brokers' log.dirs), the PostgreSQL database (pg_database_size),
               the Flink folder (checkpoints and local working dirs), Prometheus' TSDB, the logs, the data
               dir in all (allocated blocks, as du)
  slot WAL     the WAL the connector's replication slot retains (pg_current_wal_lsn() - restart_lsn)
  health       the connector's state, the jobs RUNNING, their restarts (numRestarts of each job)

At the end it stops the generator, runs `thelook-datagen verify` (its duration, peak RSS and verdict), prints
per series the start and end (after the warm-up) and the least-squares trend per simulated and per real
hour, what a demo day costs in disk, and checks the goals:

  memory flat    every JVM's live heap (heap after full GC; with --full-gcs under 3, old+survivor) and every
                 other process's private memory (RSS where smaps cannot be read) grows by less than 5% per
                 simulated hour (of its level at the end of the warm-up; growth under 1 MiB per simulated hour
                 is noise). Private memory, not RSS or PSS: PostgreSQL's shared_buffers (128 MB, allocated at
                 start) count in both more and more as the database outgrows them, without any memory added
  disk linear    Kafka's log dirs, the PostgreSQL database and the Flink state do not grow faster in the
                 second half of the measured window than in the first (at most 1.5 times, plus 1 MiB per
                 simulated hour of noise): growth is linear (or levels off) and its cost per day is printed
  slot bounded   the slot's retained WAL, projected over 8 more simulated hours, stays under
                 max_slot_wal_keep_size (past it PostgreSQL would invalidate the slot)
  pipeline ran   the connector and every job RUNNING at every sample, no job restarted
  verify OK      `thelook-datagen verify` ends OK

The warm-up (the first simulated hour, at most a third of the run; --warmup-minutes) is left out of the
trends. A time-based bound (a Flink state TTL, a topic's retention) is not accelerated by a higher rate: the
bench names the ones it finds and whether the run lasted twice as long as each.

    scripts/stack up; python bench/soak.py                  # 8 simulated hours: 48 minutes at 100 visits/s
    python bench/soak.py --rate 100 --minutes 30            # 5 simulated hours
    python bench/soak.py --horizon 1h                       # 8 simulated hours, the shop kept at a demo hour
    python bench/soak.py --rate 100 --minutes 3 --sample-interval 15   # a smoke run

Exit status: 0 every goal met, 1 a goal missed (named), 2 bad input or could not run (no stack, setup failed,
interrupted).
"""
import argparse
import glob
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(HERE))
from stack_memory import children_map, service_pids, tree, tree_memory  # noqa: E402  (the stack's process trees)

MIB = 2 ** 20
DEMO_RATE = 10.0               # visits/s of the demo (scripts/demo): a simulated hour is an hour of it
VISITS_PER_SIM_HOUR = DEMO_RATE * 3600
DEFAULT_SIM_HOURS = 8.0        # a workshop day
DEFAULT_RATE = 100.0
MEMORY_LIMIT = 0.05            # goal: memory grows by less than 5% per simulated hour
NOISE_FLOOR = 1 * MIB          # growth per simulated hour below this is noise, memory or disk
DISK_ACCELERATION = 1.5        # the second half of the window may grow at most this much faster than the first
PROJECTION_SIM_HOURS = 8.0     # the slot's retained WAL is projected over this much more of the demo
# verify's --timeout bounds its whole read of the change topics, not only the wait for the connector: a million
# change events took more than 600 s on the loaded 2-core machine (and verify then blamed the connector)
VERIFY_TIMEOUT = 3600
DEFAULT_CONNECTOR = ROOT / "connectors" / "thelook-postgres.json"
ENV_NEEDED = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "KAFKA_BOOTSTRAP_SERVERS", "CONNECT_URL",
              "FLINK_URL", "PROMETHEUS_URL")
# the heap pools that hold what survived a collection (G1, Parallel, Serial): not Eden
SURVIVOR_POOLS = ".*(Old Gen|Tenured Gen|Survivor Space).*"


class CannotRun(Exception):
    """The bench could not run (bad input, no stack, setup failed): one line, exit 2."""


# ---------------------------------------------------------------- pure logic (tests/bench/test_soak.py)

def demo_horizon(text):
    """--horizon: a duration of the demo (argparse type); 0/off -> None."""
    from thelook_datagen.sim.archive import parse_duration as horizon_duration
    try:
        return horizon_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def real_horizon(demo_seconds, rate):
    """The generator's --horizon (real seconds) for a horizon of `demo_seconds` of the demo at `rate` visits/s:
    the run writes a demo hour in 10/rate real hours, so the shop keeps the same number of visits."""
    return demo_seconds * DEMO_RATE / rate


def plan(rate, minutes=None, simulated_hours=None):
    """(minutes, simulated hours) of a run at `rate` visits/s given one of the two (default 8 simulated hours)."""
    if rate is None or not rate > 0 or math.isinf(rate):
        raise ValueError("--rate must be a positive number of visits/s")
    if minutes is not None and simulated_hours is not None:
        raise ValueError("give --minutes or --simulated-hours, not both")
    if minutes is not None:
        if not minutes > 0 or math.isinf(minutes):
            raise ValueError("--minutes must be positive")
        return minutes, minutes * 60 * rate / VISITS_PER_SIM_HOUR
    hours = DEFAULT_SIM_HOURS if simulated_hours is None else simulated_hours
    if not hours > 0 or math.isinf(hours):
        raise ValueError("--simulated-hours must be positive")
    return hours * VISITS_PER_SIM_HOUR / rate / 60, hours


def default_warmup_minutes(rate, minutes):
    """The first simulated hour of the run, but at most a third of it (a short run keeps samples to fit)."""
    return min(VISITS_PER_SIM_HOUR / rate / 60, minutes / 3)


def least_squares(points):
    """(slope, intercept) of the least-squares line through [(x, y)]; None with fewer than 2 distinct x."""
    n = len(points)
    if n < 2:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return slope, my - slope * mx


@dataclass
class Trend:
    """A series after the warm-up: first and last value, least-squares growth per simulated and per real hour,
    and its level at the start of the window (the fitted line there: the base of the relative growth)."""
    n: int
    start: float
    end: float
    per_sim_hour: float
    per_real_hour: float
    base: float

    @property
    def relative(self):
        """Growth per simulated hour as a fraction of the base (None when the base is not positive)."""
        return self.per_sim_hour / self.base if self.base > 0 else None


def trend(samples, key, warmup_s):
    """The Trend of series `key` over the samples taken at or after warmup_s real seconds ([{"t": seconds,
    "sim_h": simulated hours, "values": {key: value}}]); None with fewer than 3 such samples holding it."""
    pts = [(s["t"], s["sim_h"], s["values"][key]) for s in samples
           if s["t"] >= warmup_s and s["values"].get(key) is not None]
    if len(pts) < 3:
        return None
    sim = least_squares([(h, v) for _, h, v in pts])
    real = least_squares([(t / 3600, v) for t, _, v in pts])
    if sim is None or real is None:
        return None
    return Trend(len(pts), pts[0][2], pts[-1][2], sim[0], real[0], sim[1] + sim[0] * pts[0][1])


def memory_flat(tr, limit=MEMORY_LIMIT, floor=NOISE_FLOOR):
    """True when the series grows by less than `limit` of its base per simulated hour (or by less than `floor`
    bytes); None without a trend."""
    if tr is None:
        return None
    return tr.per_sim_hour <= floor or (tr.base > 0 and tr.per_sim_hour < limit * tr.base)


def halves(samples, key, warmup_s):
    """(slope of the first half, slope of the second half) per simulated hour of the measured window; None
    when a half has fewer than 2 samples."""
    pts = [(s["sim_h"], s["values"][key]) for s in samples
           if s["t"] >= warmup_s and s["values"].get(key) is not None]
    mid = len(pts) // 2
    first, second = least_squares(pts[:mid + 1]), least_squares(pts[mid:])   # the middle sample in both
    if first is None or second is None:
        return None
    return first[0], second[0]


def disk_linear(split, acceleration=DISK_ACCELERATION, floor=NOISE_FLOOR):
    """True when the second half grew at most `acceleration` times as fast as the first (plus `floor` bytes per
    simulated hour): linear growth, or growth that levels off. None without both halves."""
    if split is None:
        return None
    first, second = split
    return second <= acceleration * max(first, 0.0) + floor


def wal_bounded(tr, end, limit, hours=PROJECTION_SIM_HOURS):
    """(ok, projected bytes): the retained WAL `hours` simulated hours after the end at the measured growth,
    against max_slot_wal_keep_size (`limit` bytes; None = unlimited, then only reported)."""
    if end is None:
        return None, None
    growth = max(tr.per_sim_hour, 0.0) if tr else 0.0
    projected = end + hours * growth
    return (None if limit is None else projected < limit), projected


DURATION_UNITS = {"ms": 0.001, "milli": 0.001, "millis": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
                  "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "mins": 60,
                  "minute": 60, "minutes": 60, "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400,
                  "days": 86400}


def parse_duration(text):
    """Seconds of a Flink duration ('1 h', '90 min', '3600000': milliseconds without a unit); None if not one."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text or "")
    if not m:
        return None
    unit = m.group(2).lower() or "ms"
    return float(m.group(1)) * DURATION_UNITS[unit] if unit in DURATION_UNITS else None


TTL_SET = re.compile(r"'table\.exec\.state\.ttl'\s*=\s*'([^']*)'", re.I)
TTL_HINT = re.compile(r"STATE_TTL\s*\(([^)]*)\)", re.I)


def sql_ttls(name, text):
    """[(where, seconds)] of the state TTLs a Flink SQL file sets: table.exec.state.ttl and STATE_TTL hints
    ('t' = '1 h'); a TTL of 0 (no TTL) is left out."""
    found = [(f"{name}: table.exec.state.ttl", parse_duration(v)) for v in TTL_SET.findall(text)]
    for hint in TTL_HINT.findall(text):
        for alias, value in re.findall(r"'?([\w.]+)'?\s*=\s*'([^']*)'", hint):
            found.append((f"{name}: STATE_TTL {alias}", parse_duration(value)))
    return [(w, s) for w, s in found if s]


def goals(results):
    """[(goal, met, detail)] from the run's results (see Soak.results); met is True, False or None (unknown,
    counted as missed: a goal that could not be checked is not met)."""
    out = []
    mem = results["memory"]
    bad = [f"{name} +{pct:.1f}%/sim h" for name, (ok, pct) in mem.items() if ok is False]
    unknown = [name for name, (ok, _) in mem.items() if ok is None]
    out.append(("memory flat after the warm-up (live heap of each JVM, private memory of each other process: "
                f"< {MEMORY_LIMIT * 100:g}% per simulated hour)",
                None if not mem or (unknown and not bad) else not bad,
                ", ".join(bad) if bad else (f"no trend for {', '.join(unknown)}" if unknown else
                                            f"{len(mem)} series flat")))
    disk = results["disk"]
    bad = [name for name, ok in disk.items() if ok is False]
    unknown = [name for name, ok in disk.items() if ok is None]
    out.append((f"disk growth linear (second half at most {DISK_ACCELERATION:g}x the first)",
                None if not disk or (unknown and not bad) else not bad,
                f"faster in the second half: {', '.join(bad)}" if bad else
                (f"no trend for {', '.join(unknown)}" if unknown else f"{', '.join(disk)} linear or slower")))
    ok, detail = results["wal"]
    out.append((f"slot's retained WAL bounded ({PROJECTION_SIM_HOURS:g} more simulated hours under "
                "max_slot_wal_keep_size)", ok, detail))
    ok, detail = results["pipeline"]
    out.append(("pipeline kept running (connector and jobs RUNNING at every sample, no job restart)", ok, detail))
    ok, detail = results["verify"]
    out.append(("thelook-datagen verify OK at the end", ok, detail))
    return out


def exit_status(goal_rows):
    return 0 if all(met is True for _, met, _ in goal_rows) else 1


# ---------------------------------------------------------------- formatting

def mib(v, spec=".1f"):
    return "-" if v is None else format(v / MIB, spec)


def signed_mib(v):
    return "-" if v is None else f"{v / MIB:+.1f}"


def pct(v):
    return "-" if v is None else f"{v * 100:+.1f}%"


# ---------------------------------------------------------------- the stack (I/O)

def run_quiet(cmd, env, timeout=60):
    return subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=timeout)


def stack_status_ok(env):
    return run_quiet([ROOT / "scripts" / "stack", "status"], env, timeout=120).returncode == 0


def stack_exports(env):
    """The endpoints of THELOOK_STACK_DIR's stack (`scripts/stack env`), so that what is measured (its processes,
    its folders) and what is talked to are the same instance."""
    out = run_quiet([ROOT / "scripts" / "stack", "env"], env)
    found = {}
    for line in out.stdout.splitlines():
        if line.startswith("export "):
            k, _, v = line[7:].partition("=")
            found[k] = v.strip("'\"")
    missing = [k for k in ENV_NEEDED if not found.get(k)]
    if missing:
        raise CannotRun(f"`scripts/stack env` gives no {', '.join(missing)} (is THELOOK_STACK_DIR a full stack, "
                        "not `up --only postgres`?)")
    return found


def stack_data_dir():
    value = os.environ.get("THELOOK_STACK_DIR")
    return Path(value).expanduser().resolve() if value else ROOT / ".stack"


def stack_java(data):
    """The stack's Java home (stack.json), else JAVA_HOME, for jstat."""
    try:
        java = json.loads((data / "stack.json").read_text()).get("paths", {}).get("java")
    except (OSError, ValueError):
        java = None
    return Path(java or os.environ.get("JAVA_HOME") or "/nonexistent")


def http_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def prom_by_instance(url, query):
    """{instance label: value} of an instant query; {} when Prometheus does not answer."""
    try:
        res = http_json(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}")["data"]["result"]
    except Exception:
        return {}
    return {r["metric"].get("instance", ""): float(r["value"][1]) for r in res}


def du(path):
    """Allocated bytes under `path` (st_blocks, as du; hard links once); 0 when it does not exist."""
    total, seen = 0, set()
    for dirpath, dirnames, filenames in os.walk(path, onerror=lambda e: None):
        for name in filenames + dirnames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue           # a segment or WAL file removed meanwhile
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def kafka_log_dirs(data):
    """The log.dirs of every broker's server.properties in the data dir."""
    dirs = []
    for props in sorted(glob.glob(str(data / "kafka*" / "server.properties"))):
        for line in Path(props).read_text().splitlines():
            if line.startswith(("log.dirs=", "log.dir=")):
                dirs += [d for d in line.split("=", 1)[1].split(",") if d]
    return dirs


def tree_anonymous(pid, kids):
    """KiB of anonymous memory (smaps_rollup "Anonymous") of a process tree; None when a process's smaps cannot be
    read (another user's, without root)."""
    total = 0
    for p in tree(pid, kids):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("Anonymous:")), 0)
        except FileNotFoundError:
            continue                  # ended meanwhile (a backend)
        except OSError:
            return None
    return total


def jvm_pid(root, kids):
    """The java process of a service's process tree (the largest, if several), or None."""
    best = None
    for p in tree(root, kids):
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() != "java":
                    continue
            with open(f"/proc/{p}/statm") as f:
                rss = int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if best is None or rss > best[1]:
            best = (p, rss)
    return best and best[0]


def jstat_old_survivor(text):
    """Survivors + old generation (bytes) from `jstat -gc` output (KiB columns S0U, S1U, OU), or None."""
    lines = text.strip().split("\n")
    if len(lines) < 2:
        return None
    row = dict(zip(lines[0].split(), lines[-1].split()))
    try:
        return sum(float(row[k]) for k in ("S0U", "S1U", "OU")) * 1024
    except (KeyError, ValueError):
        return None


def histogram_total(text):
    """Bytes of the last line `Total <instances> <bytes>` of a class histogram (jcmd GC.class_histogram), or None."""
    for line in reversed(text.strip().split("\n")):
        parts = line.split()
        if len(parts) == 3 and parts[0] == "Total" and parts[2].isdigit():
            return float(parts[2])
    return None


def java_tool(java, tool, *args, timeout=120):
    """stdout of a JDK tool of the stack's Java, or None when it fails."""
    try:
        out = subprocess.run([str(java / "bin" / tool), *map(str, args)], capture_output=True, text=True,
                             timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def live_heap(java, pid):
    """Bytes of the objects alive in a JVM's heap: `jcmd PID GC.class_histogram` runs a full collection first (a
    stop-the-world one, even with -XX:+ExplicitGCInvokesConcurrent) and counts what survived it."""
    text = java_tool(java, "jcmd", pid, "GC.class_histogram")
    return None if text is None else histogram_total(text)


def old_survivor_heap(java, pid):
    text = java_tool(java, "jstat", "-gc", pid, timeout=30)
    return None if text is None else jstat_old_survivor(text)


class Soak:
    def __init__(self, args, minutes, sim_hours, warmup_min, out):
        self.args, self.minutes, self.sim_hours, self.warmup_min = args, minutes, sim_hours, warmup_min
        self.out = out                    # where progress goes (stderr under --json)
        self.data = stack_data_dir()
        # the demo pipeline's schema and prefix (the connector JSON's), whatever a shell may have set
        self.base_env = {k: v for k, v in os.environ.items() if k not in ("THELOOK_SCHEMA", "THELOOK_TOPIC_PREFIX")}
        self.started_stack = False
        self.generator = None
        self.gen_log = None
        self.samples = []
        self.series = {}                  # key -> (group, label)
        self.jvms = {}                    # service -> "prometheus" | "jstat" | None
        self.health = []                  # per sample: (connector state, jobs running, jobs expected, restarts)
        self.restarts0 = None
        self.job_restarts = {}
        # real seconds at which a sample also forces a full GC in every JVM: evenly from the warm-up's end to the end
        k = args.full_gcs
        span = (minutes - warmup_min) * 60
        self.full_gc_due = [warmup_min * 60 + span * (i / (k - 1) if k > 1 else 1) for i in range(k)]
        self._pids = {}
        self.notes = []

    def say(self, msg):
        print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=self.out, flush=True)

    # -- setup
    def connector_doc(self):
        try:
            doc = json.loads(DEFAULT_CONNECTOR.read_text())
            cfg = doc["config"]
        except (OSError, ValueError, KeyError) as e:
            raise CannotRun(f"cannot read the connector JSON {DEFAULT_CONNECTOR}: {e}")
        schemas = {t.strip().split(".", 1)[0] for t in cfg.get("table.include.list", "").split(",") if "." in t}
        return doc["name"], cfg.get("slot.name", "debezium"), cfg["topic.prefix"], schemas.pop()

    def ensure_stack(self):
        if stack_status_ok(self.base_env):
            self.say(f"stack of {self.data} running")
        else:
            # a stack this bench starts, it stops at the end, also when `up` fails half-way
            self.started_stack = not service_pids()
            self.say(f"no healthy stack in {self.data}: scripts/stack up")
            res = subprocess.run([str(ROOT / "scripts" / "stack"), "up"], env=self.base_env, stdout=self.out,
                                 stderr=subprocess.STDOUT, text=True)
            if res.returncode != 0:
                raise CannotRun(f"scripts/stack up failed (exit {res.returncode}; its log is above)")
        self.env = {**self.base_env, **stack_exports(self.base_env)}

    def setup(self):
        self.connector, self.slot, self.prefix, self.schema = self.connector_doc()
        datagen = BIN / "thelook-datagen"
        if not datagen.exists():
            raise CannotRun(f"{datagen} not found: run the bench with the project's Python (source scripts/bootstrap)")
        port = int(self.env["GENERATOR_URL"].rsplit(":", 1)[1].strip("/"))
        try:
            urllib.request.urlopen(self.env["GENERATOR_URL"] + "/metrics", timeout=2).close()
            raise CannotRun(f"a generator already serves {self.env['GENERATOR_URL']}/metrics: stop it first "
                            "(the soak runs its own, the only writer)")
        except OSError:
            pass
        self.gen_port = port
        steps = [("creating the theLook schema and topics (if missing)",
                  [datagen, "--if_exists", "append", "--max_iter", "0", "--quiet"]),
                 ("registering the connector and waiting for its snapshot",
                  [sys.executable, ROOT / "scripts" / "register-connector", "--wait-snapshot", "--timeout", "900"]),
                 ("submitting the Flink jobs", [sys.executable, ROOT / "scripts" / "submit-flink-jobs"])]
        for what, cmd in steps:
            self.say(what)
            res = run_quiet(cmd, self.env, timeout=1800)
            if res.returncode != 0:
                err = (res.stderr.strip() or res.stdout.strip()).splitlines()
                raise CannotRun(f"{Path(str(cmd[1] if cmd[0] == sys.executable else cmd[0])).name} failed: "
                                f"{err[-1] if err else res.returncode}")
        import psycopg2
        self.pg = psycopg2.connect(host=self.env["PGHOST"], port=self.env["PGPORT"], user=self.env["PGUSER"],
                                   password=self.env["PGPASSWORD"], dbname=self.env["PGDATABASE"],
                                   application_name="thelook-soak")
        self.pg.autocommit = True
        setting, unit = self.sql_one("SELECT setting, unit FROM pg_settings WHERE name = 'max_slot_wal_keep_size'")
        self.wal_limit = None if int(setting) < 0 else int(setting) * {"kB": 1024, "MB": MIB}.get(unit, MIB)
        self.java = stack_java(self.data)
        self.expected_jobs = sorted(p.stem for p in (ROOT / "flink" / "jobs").glob("*.sql"))

    def time_bounds(self):
        """Lines naming the time-based bounds the pipeline has (Flink state TTLs, the change topics' retention) and
        whether the run lasts twice each."""
        found = []
        for path in [ROOT / "flink" / "common.sql", *sorted((ROOT / "flink" / "jobs").glob("*.sql"))]:
            found += sql_ttls(path.relative_to(ROOT), path.read_text())
        try:
            from confluent_kafka.admin import AdminClient, ConfigResource
            admin = AdminClient({"bootstrap.servers": self.env["KAFKA_BOOTSTRAP_SERVERS"]})
            topics = [t for t in admin.list_topics(timeout=15).topics if t.startswith(self.prefix + ".")]
            res = admin.describe_configs([ConfigResource("topic", t) for t in topics])
            retention = {}
            for r, fut in res.items():
                ms = int(fut.result(timeout=15)["retention.ms"].value)
                if ms > 0:
                    retention.setdefault(ms, []).append(r.name)
            for ms, names in sorted(retention.items()):
                found.append((f"retention.ms of {len(names)} topic(s) {self.prefix}.*", ms / 1000))
        except Exception as e:
            self.notes.append(f"topic retention not read: {e}")
        run_s = self.minutes * 60
        return [f"{where} = {s / 3600:g} h: " + (
            f"the run ({self.minutes:g} min) lasts at least twice it, its effect is in the trends" if run_s >= 2 * s
            else f"the run ({self.minutes:g} min) is shorter than twice it: the trends do not show what it bounds "
                 f"(that takes a run of {2 * s / 60:g} min)") for where, s in found]

    # -- the generator
    def start_generator(self):
        from thelook_datagen.sim.lifecycle import DEFAULT_TIME_SCALE
        scale = DEFAULT_TIME_SCALE * self.args.rate / DEMO_RATE
        self.gen_log = tempfile.NamedTemporaryFile("w+", prefix="thelook-soak-gen-", suffix=".log", delete=False)
        cmd = [str(BIN / "thelook-datagen"), "--if_exists", "append", "--avg-qps", f"{self.args.rate:g}",
               "--seed", str(self.args.seed), "--time-scale", f"{scale:g}", "--no-create-topic",
               "--metrics-port", str(self.gen_port), "--log-format", "json", "--status-interval", "5"]
        if self.args.horizon:
            # the demo's horizon, in the run's real time: at RATE visits/s a demo hour passes RATE/10 times faster
            cmd += ["--horizon", f"{real_horizon(self.args.horizon, self.args.rate):g}s"]
        self.say(f"generator: {' '.join(cmd[1:])}")
        self.generator = subprocess.Popen(cmd, env=self.env, stdout=self.gen_log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)

    def gen_records(self):
        out = []
        for line in Path(self.gen_log.name).read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": "text", "message": line})
        return out

    def gen_visits(self):
        """Visits written so far: the generator's counter (its /metrics), else its last status line."""
        try:
            with urllib.request.urlopen(self.env["GENERATOR_URL"] + "/metrics", timeout=3) as r:
                text = r.read().decode()
            return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("thelook_visits_total"))
        except (OSError, ValueError, IndexError):
            status = [r for r in self.gen_records() if r.get("event") in ("status", "summary")]
            return float(status[-1]["visits"]) if status else 0.0

    def check_generator(self):
        if self.generator.poll() is not None:
            err = next((r.get("message") for r in reversed(self.gen_records())
                        if r.get("event") in ("error", "text")), None)
            raise CannotRun(f"the generator exited ({self.generator.returncode}): {err or 'see above'}")

    def stop_generator(self):
        if self.generator is None or self.generator.poll() is not None:
            return None
        self.generator.send_signal(signal.SIGTERM)
        try:
            self.generator.wait(60)
        except subprocess.TimeoutExpired:
            self.generator.kill()
            self.generator.wait(10)
        return next((r for r in reversed(self.gen_records()) if r.get("event") == "summary"), None)

    # -- one sample
    def sql_one(self, query, params=None):
        with self.pg.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchone()

    def put(self, values, key, group, label, value):
        self.series.setdefault(key, (group, label))
        values[key] = value

    def stack_pids(self):
        """{service: pid} of the stack's programs, read again (`scripts/stack status`, seconds) only when one of
        them is gone (restarted)."""
        if not self._pids or not all(os.path.exists(f"/proc/{pid}") for pid in self._pids.values()):
            self._pids = service_pids()
        return self._pids

    def sample(self, t0):
        values = {}
        t = time.monotonic() - t0
        visits = self.gen_visits()
        # RSS per supervised program (its tree) and the generator's
        pids = self.stack_pids()
        kids = children_map()
        roots = {**pids, "generator": self.generator.pid}
        total = 0
        jvm_pids = {name: jvm_pid(pid, kids) for name, pid in pids.items()}
        for name, pid in roots.items():
            rss, _ = tree_memory(pid, kids)
            self.put(values, f"rss:{name}", "rss", f"RSS {name}", rss * 1024)
            total += rss * 1024
            if not jvm_pids.get(name):
                anon = tree_anonymous(pid, kids)
                self.put(values, f"anon:{name}", "anon", f"private {name}", None if anon is None else anon * 1024)
        self.put(values, "rss:total", "rss", "RSS total", total)
        # heap per JVM: old generation + survivors at every sample (the JMX exporter's pools where a JVM has them,
        # else jstat); live objects after a forced full collection (jcmd) at the few planned samples only
        pool = prom_by_instance(self.env["PROMETHEUS_URL"],
                                f'sum by (instance) (jvm_memory_pool_used_bytes{{pool=~"{SURVIVOR_POOLS}"}})')
        force = bool(self.full_gc_due) and t >= self.full_gc_due[0]
        while self.full_gc_due and t >= self.full_gc_due[0]:
            self.full_gc_due.pop(0)
        # each tool starts a JVM (seconds on a busy machine): all at once; the estimate before the forced collection
        with ThreadPoolExecutor(max_workers=5) as ex:
            estimates = {name: ex.submit(old_survivor_heap, self.java, jpid) for name, jpid in jvm_pids.items()
                         if jpid is not None and name not in pool}
        with ThreadPoolExecutor(max_workers=5) as ex:
            live = {name: ex.submit(live_heap, self.java, jpid) for name, jpid in jvm_pids.items()
                    if jpid is not None and force}
        for name, jpid in jvm_pids.items():
            if jpid is None:
                continue
            if name in pool:
                value, how = pool[name], "JMX exporter pools (Prometheus)"
            else:
                value, how = estimates[name].result(), "jstat -gc"
            self.jvms[name] = self.jvms.get(name) or (how if value is not None else None)
            self.put(values, f"heap:{name}", "heap", f"heap old+survivor {name}", value)
            if force:
                self.put(values, f"live:{name}", "live", f"heap after full GC {name}", live[name].result())
        # Flink: jobs, their last checkpoint's state size, restarts
        jobs_running, restarts, state = 0, 0, 0
        try:
            overview = http_json(self.env["FLINK_URL"] + "/jobs/overview")["jobs"]
        except Exception:
            overview = []
        mine = {j["name"].split(".analytics.", 1)[1]: j for j in overview
                if j["name"].startswith(self.prefix + ".analytics.") and j["state"] not in ("CANCELED", "FINISHED")}
        for short, job in sorted(mine.items()):
            jobs_running += job["state"] == "RUNNING"
            try:
                cp = http_json(f"{self.env['FLINK_URL']}/jobs/{job['jid']}/checkpoints")
                size = ((cp.get("latest") or {}).get("completed") or {}).get("state_size")
            except Exception:
                size = None
            # the job's numRestarts (since its submission), kept at its highest: it may read 0 while restarting
            try:
                got = http_json(f"{self.env['FLINK_URL']}/jobs/{job['jid']}/metrics?get=numRestarts")
                n = int(float(got[0]["value"])) if got else 0
            except Exception:
                n = 0
            self.job_restarts[job["jid"]] = max(n, self.job_restarts.get(job["jid"], 0))
            restarts += self.job_restarts[job["jid"]]
            self.put(values, f"state:{short}", "state", f"Flink state {short}", size)
            state += size or 0
        self.put(values, "state:total", "state", "Flink state, all jobs", state if mine else None)
        # disk
        self.put(values, "disk:kafka", "disk", "Kafka log dirs", sum(du(d) for d in kafka_log_dirs(self.data)))
        self.put(values, "disk:postgres", "disk", "PostgreSQL database",
                 float(self.sql_one("SELECT pg_database_size(current_database())")[0]))
        self.put(values, "disk:flink", "disk", "Flink folder (checkpoints, tmp)", du(self.data / "flink"))
        self.put(values, "disk:prometheus", "disk", "Prometheus TSDB", du(self.data / "prometheus"))
        self.put(values, "disk:logs", "disk", "logs", du(self.data / "logs"))
        self.put(values, "disk:all", "disk", "data dir in all", du(self.data))
        row = self.sql_one("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint FROM "
                           "pg_replication_slots WHERE slot_name = %s", (self.slot,))
        self.put(values, "wal:slot", "wal", f"slot {self.slot} retained WAL",
                 float(row[0]) if row and row[0] is not None else None)
        # the connector
        try:
            status = http_json(f"{self.env['CONNECT_URL']}/connectors/{urllib.parse.quote(self.connector)}/status")
            states = [status["connector"]["state"]] + [tk["state"] for tk in status.get("tasks", [])]
            conn_state = "RUNNING" if all(s == "RUNNING" for s in states) and len(states) > 1 else "/".join(states)
        except Exception as e:
            conn_state = f"unreachable ({type(e).__name__})"
        if self.restarts0 is None:
            self.restarts0 = restarts
        self.health.append((conn_state, jobs_running, len(self.expected_jobs), restarts - self.restarts0))
        s = {"t": round(t, 1), "visits": visits, "sim_h": visits / VISITS_PER_SIM_HOUR, "values": values}
        self.samples.append(s)
        return s

    def line(self, s, n):
        v = s["values"]
        conn, jobs, want, restarts = self.health[-1]
        heaps = " ".join(f"{k[5:]} {mib(x, '.0f')}" for k, x in v.items() if k.startswith("heap:"))
        live = " ".join(f"{k[5:]} {mib(x, '.0f')}" for k, x in v.items() if k.startswith("live:"))
        rate = s["visits"] / s["t"] if s["t"] > 0 else 0
        return (f"#{n} t {s['t'] / 60:5.1f} min, sim {s['sim_h']:.2f} h, {s['visits']:,.0f} visits ({rate:.1f}/s) | "
                f"RSS total {mib(v['rss:total'], '.0f')} MiB | heap old+survivor {heaps} MiB"
                + (f" | heap after full GC {live} MiB" if live else "") + " | Flink state "
                f"{mib(v.get('state:total'))} MiB | Kafka {mib(v['disk:kafka'])} MiB, PostgreSQL "
                f"{mib(v['disk:postgres'])} MiB, slot WAL {mib(v.get('wal:slot'))} MiB | connector {conn}, jobs "
                f"{jobs}/{want} RUNNING, restarts {restarts}")

    # -- verify
    def verify(self):
        from proc_watch import WatchedProcess
        with tempfile.TemporaryDirectory(prefix="thelook-soak-verify-") as tmp:
            report = Path(tmp) / "verify.json"
            cmd = [str(BIN / "thelook-datagen"), "verify", "--slot", self.slot, "--timeout", str(VERIFY_TIMEOUT),
                   "--json", str(report), "--quiet"]
            self.say(f"verify: {' '.join(cmd[1:4])} ...")
            t0 = time.monotonic()
            w = WatchedProcess(cmd, env=self.env, interval=1.0, stdout_path=Path(tmp) / "verify.out")
            rc = w.wait(timeout=2 * VERIFY_TIMEOUT)
            took = time.monotonic() - t0
            out = (Path(tmp) / "verify.out").read_text(errors="replace")
            try:
                data = json.loads(report.read_text())
            except (OSError, ValueError):
                data = {}
        peak = max((k for _, k in w.samples), default=None)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        verdict = data.get("verdict") or (lines[-1] if lines else f"exit status {rc}")
        return {"exit_status": rc, "ok": rc == 0 and bool(data.get("ok")), "seconds": round(took, 1),
                "peak_rss_bytes": peak * 1024 if peak else None, "verdict": verdict,
                "rows": data.get("rows"), "events": data.get("events")}

    # -- results
    def results(self, verify):
        warm = self.warmup_min * 60
        trends = {k: trend(self.samples, k, warm) for k in self.series}
        memory = {}
        for key, (group, label) in self.series.items():
            name = key.split(":", 1)[1]
            # a JVM by its heap after GC; another process by its private memory (PostgreSQL's shared_buffers,
            # fixed in size, count in the RSS and PSS of its tree more and more as the database outgrows them and
            # the backends touch them all), by its RSS where smaps cannot be read (another user's process, not root)
            pss_known = self.samples and self.samples[-1]["values"].get(f"anon:{name}") is not None
            judged_heap = "live" if self.args.full_gcs >= 3 else "heap"
            if group == judged_heap or group == "anon" and pss_known or group == "rss" and name != "total" \
                    and name not in self.jvms and not pss_known:
                tr = trends[key]
                memory[label] = (memory_flat(tr), tr.relative * 100 if tr and tr.relative is not None else 0.0)
        disk = {self.series[k][1]: disk_linear(halves(self.samples, k, warm))
                for k in ("disk:kafka", "disk:postgres", "state:total") if k in self.series}
        wal_tr = trends.get("wal:slot")
        end = self.samples[-1]["values"].get("wal:slot") if self.samples else None
        ok, projected = wal_bounded(wal_tr, end, self.wal_limit)
        limit = "unlimited" if self.wal_limit is None else f"{mib(self.wal_limit, '.0f')} MiB"
        wal = (ok, f"{mib(end)} MiB at the end, {mib(projected)} MiB projected (max_slot_wal_keep_size {limit})")
        bad = [(i, h) for i, h in enumerate(self.health, 1) if h[0] != "RUNNING" or h[1] != h[2]]
        restarts = self.health[-1][3] if self.health else None
        pipe_ok = bool(self.health) and not bad and not restarts
        detail = (f"{len(self.health)} samples" + (f"; not all RUNNING at {len(bad)} (first: #{bad[0][0]}, simulated "
                                                   f"hour {self.samples[bad[0][0] - 1]['sim_h']:.2f}: "
                                                   f"connector {bad[0][1][0]}, jobs {bad[0][1][1]}/{bad[0][1][2]})"
                                                   if bad else "") + f"; job restarts {restarts}")
        ver = (verify["ok"], f"{verify['verdict']} in {verify['seconds']:.0f} s, peak RSS "
                             f"{mib(verify['peak_rss_bytes'], '.0f')} MiB") if verify else (None, "not run")
        return {"trends": trends, "memory": memory, "disk": disk, "wal": wal, "pipeline": (pipe_ok, detail),
                "verify": ver}


def print_report(soak, res, goal_rows, gen_summary, verify, bounds, out):
    warm = soak.warmup_min
    last = soak.samples[-1]
    print(file=out)
    after = next((s for s in soak.samples if s["t"] >= warm * 60), last)
    achieved = last["visits"] / last["t"] if last["t"] > 0 else 0.0
    print(f"Soak: {soak.args.rate:g} visits/s asked ({achieved:.1f} achieved) for {last['t'] / 60:.1f} min = "
          f"{last['sim_h']:.2f} simulated hours ({last['visits']:,.0f} visits; a simulated hour = "
          f"{VISITS_PER_SIM_HOUR:,.0f} visits, an hour of the demo at {DEMO_RATE:g}/s), seed {soak.args.seed}, "
          f"{len(soak.samples)} samples every {soak.args.sample_interval:g} s; trends (least squares) after a "
          f"warm-up of {warm:.1f} min ({after['sim_h']:.2f} simulated h)", file=out)
    if gen_summary:
        print(f"generator: {gen_summary.get('visits'):,} visits, {gen_summary.get('rows'):,} rows, "
              f"{gen_summary.get('visits_per_s'):.1f} visits/s achieved, errors {gen_summary.get('errors')}", file=out)
    hows = {}
    for name, how in soak.jvms.items():
        hows.setdefault(how or "not available", []).append(name)
    print("heap old+survivor (every sample) from " + "; ".join(f"{how}: {', '.join(names)}" for how, names in
                                                              hows.items())
          + (f"; heap after full GC (jcmd GC.class_histogram) at {soak.args.full_gcs} samples" if soak.args.full_gcs
             else ""), file=out)
    print(file=out)
    print(f"{'series (MiB)':42} {'start':>9} {'end':>9} {'/sim h':>8} {'/real h':>9} {'%/sim h':>8}", file=out)
    order = ("rss", "anon", "heap", "live", "state", "disk", "wal")
    for key, (group, label) in sorted(soak.series.items(), key=lambda kv: order.index(kv[1][0])):
        tr = res["trends"].get(key)
        if tr is None:
            print(f"{label:42} {'(too few samples after the warm-up)':>46}", file=out)
            continue
        jvm = " (JVM)" if group == "rss" and key.split(":", 1)[1] in soak.jvms else ""
        print(f"{(label + jvm)[:42]:42} {mib(tr.start):>9} {mib(tr.end):>9} {signed_mib(tr.per_sim_hour):>8} "
              f"{signed_mib(tr.per_real_hour):>9} {pct(tr.relative):>8}", file=out)
    print(f"judged: {'heap after full GC' if soak.args.full_gcs >= 3 else 'heap old+survivor'} of the JVMs (JVM: "
          "their RSS grows towards the configured heap and stays there), private memory of the other processes",
          file=out)
    print(file=out)
    print(f"disk per demo day at {DEMO_RATE:g} visits/s (measured growth per simulated hour):", file=out)
    for key in ("disk:kafka", "disk:postgres", "state:total", "disk:flink", "disk:prometheus", "disk:logs",
                "disk:all"):
        tr = res["trends"].get(key)
        if tr is not None:
            print(f"  {soak.series[key][1]:34} {signed_mib(tr.per_sim_hour):>8} MiB/h -> 8 h "
                  f"{signed_mib(8 * tr.per_sim_hour):>9} MiB, 24 h {signed_mib(24 * tr.per_sim_hour):>9} MiB", file=out)
    if bounds:
        print("time-based bounds (not accelerated by the rate):", file=out)
        for b in bounds:
            print(f"  {b}", file=out)
    for n in soak.notes:
        print(f"note: {n}", file=out)
    if verify:
        print(f"verify: exit {verify['exit_status']} in {verify['seconds']:.0f} s, peak RSS "
              f"{mib(verify['peak_rss_bytes'], '.0f')} MiB: {verify['verdict']}", file=out)
    print(f"RSS of the stack's processes and the generator at the end: {mib(last['values']['rss:total'], '.0f')} MiB",
          file=out)
    print(file=out)
    for goal, met, detail in goal_rows:
        word = "met" if met is True else ("NOT met" if met is False else "NOT checked")
        print(f"goal {word:11} {goal}: {detail}", file=out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=DEFAULT_RATE, help=f"visits/s (default {DEFAULT_RATE:g})")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="real minutes to run")
    length.add_argument("--simulated-hours", type=float,
                        help=f"hours of the demo at {DEMO_RATE:g} visits/s to write (default {DEFAULT_SIM_HOURS:g})")
    p.add_argument("--seed", type=int, default=1, help="the generator's seed (default 1)")
    p.add_argument("--sample-interval", type=float, default=60.0, help="seconds between samples (default 60)")
    p.add_argument("--warmup-minutes", type=float,
                   help="real minutes left out of the trends (default: the first simulated hour, at most a third)")
    p.add_argument("--full-gcs", type=int, default=5,
                   help="samples that also force a full GC in every JVM to measure its live heap, evenly from the "
                        "end of the warm-up to the end (default 5; 0: none, the goal then uses old generation + "
                        "survivors, which includes garbage not collected yet)")
    p.add_argument("--horizon", type=demo_horizon, metavar="DURATION",
                   help="keep the shop's size stable: the generator's --horizon, in demo time at "
                        f"{DEMO_RATE:g} visits/s (1h: the shop holds about the last demo hour; the generator is "
                        "given DURATION x 10/RATE of real time); default off")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout (progress on stderr)")
    p.add_argument("--keep-stack", action="store_true", help="leave a stack the bench started running")
    args = p.parse_args(argv)
    try:
        minutes, sim_hours = plan(args.rate, args.minutes, args.simulated_hours)
    except ValueError as e:
        p.error(str(e))
    if not 5 <= args.sample_interval <= minutes * 60 / 4:
        p.error(f"--sample-interval must be between 5 s (Prometheus scrapes every 5 s) and a quarter of the run "
                f"({minutes * 15:g} s)")
    warmup = default_warmup_minutes(args.rate, minutes) if args.warmup_minutes is None else args.warmup_minutes
    if not 0 <= warmup or (minutes - warmup) * 60 / args.sample_interval < 3:
        p.error(f"the run leaves fewer than 3 samples after a warm-up of {warmup:g} min: run longer, sample more "
                "often or shorten --warmup-minutes")
    if args.full_gcs < 0 or args.full_gcs > (minutes - warmup) * 60 / args.sample_interval + 1:
        p.error("--full-gcs must be between 0 and the number of samples after the warm-up")
    out = sys.stderr if args.json else sys.stdout
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    soak = Soak(args, minutes, sim_hours, warmup, out)
    verify = gen_summary = None
    bounds = []
    interrupted = False
    try:
        soak.ensure_stack()
        soak.setup()
        bounds = soak.time_bounds()
        load = os.getloadavg()
        soak.say(f"{args.rate:g} visits/s for {minutes:g} min = {sim_hours:g} simulated hours of the demo, samples "
                 f"every {args.sample_interval:g} s, warm-up {warmup:.1f} min; {os.cpu_count()} cores, load "
                 f"{load[0]:.1f}" + (f"; horizon {args.horizon / 3600:g} demo hours = "
                                     f"{real_horizon(args.horizon, args.rate):g} s of this run" if args.horizon else ""))
        soak.start_generator()
        t0 = time.monotonic()
        end = t0 + minutes * 60
        n = 0
        while True:
            soak.check_generator()
            s = soak.sample(t0)
            n += 1
            soak.say(soak.line(s, n))
            if t0 + s["t"] >= end - 1:
                break
            # on the interval's clock, the last sample at the end; a sample that took longer than the interval
            # (a busy machine) is followed by the next at once, never by a longer run
            nxt = min(t0 + n * args.sample_interval, end)
            while time.monotonic() < nxt:
                soak.check_generator()
                time.sleep(min(1.0, max(0.0, nxt - time.monotonic())))
        gen_summary = soak.stop_generator()
        verify = soak.verify()
    except CannotRun as e:
        soak.stop_generator()
        print(f"soak: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        interrupted = True
        soak.say("interrupted: stopping the generator (goals not judged)")
        gen_summary = soak.stop_generator()
    finally:
        if soak.gen_log is not None:
            soak.gen_log.close()
            os.unlink(soak.gen_log.name)
        if soak.started_stack and not args.keep_stack:
            soak.say("stopping the stack this bench started (scripts/stack down)")
            subprocess.run([str(ROOT / "scripts" / "stack"), "down"], env=soak.base_env, stdout=out,
                           stderr=subprocess.STDOUT)
    if not soak.samples:
        return 2
    res = soak.results(verify)
    goal_rows = goals(res)
    print_report(soak, res, goal_rows, gen_summary, verify, bounds, out)
    if args.json:
        doc = {"rate": args.rate, "minutes": minutes, "horizon_demo_s": args.horizon, "simulated_hours": soak.samples[-1]["sim_h"],
               "seed": args.seed, "sample_interval_s": args.sample_interval, "warmup_minutes": warmup,
               "heap_source": soak.jvms, "generator": gen_summary, "verify": verify,
               "series": {k: {"group": g, "label": lab, "trend": (vars(res["trends"][k]) if res["trends"][k] else None)}
                          for k, (g, lab) in soak.series.items()},
               "goals": [{"goal": g, "met": m, "detail": d} for g, m, d in goal_rows],
               "samples": soak.samples}
        print(json.dumps(doc, indent=1))
    if interrupted:
        return 2
    return exit_status(goal_rows)


if __name__ == "__main__":
    sys.exit(main())
