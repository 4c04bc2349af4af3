"""The Flink SQL analytics jobs (the repository's flink/ folder) on a Flink session cluster, through
the SQL gateway: submit, plan (EXPLAIN) and cancel them.

    jobmanager, gateway = jobmanager_client(flink_url), gateway_client(sql_gateway_url)
    result = submit_jobs(gateway, jobmanager, "flink", topic_prefix="ecomm", schema="demo",
                         bootstrap_servers="127.0.0.1:9092", say=print)      # SubmitResult
    for plan in plan_jobs(gateway, "flink", ...): print(plan.text)          # EXPLAIN only
    cancel_jobs(jobmanager, "ecomm", say=print)

Each file of SQL_DIR/jobs/ is one streaming job. For each, a SQL gateway session runs
SQL_DIR/common.sql (settings and CDC source tables) and the job file, with ${TOPIC_PREFIX},
${SCHEMA}, ${KAFKA_BOOTSTRAP_SERVERS}, ${JOB_NAME} and ${TOP_PRODUCTS_WINDOW_MINUTES} replaced; the
job is named `{prefix}.analytics.{file name}` (pipeline.name), like its result topic. A job of that
name that is already running is left alone, so submitting is idempotent.

Errors: OpsError (bad input, Flink unreachable or refusing a request), Failed (a statement failed,
a job did not cancel in time). Jobs that fail after submission are reported in the SubmitResult.
Settings are named as {opt:NAME}: topic_prefix, schema, bootstrap_servers, top_products_window,
sql_dir, job, flink_url, sql_gateway_url.
"""
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import Failed, OpsError, quiet
from .rest import Rest, RestError

ACTIVE = {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING", "FAILING", "CANCELLING"}
TERMINAL = {"FINISHED", "FAILED", "CANCELED", "SUSPENDED"}
PLACEHOLDER = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
PLACEHOLDERS = ("TOPIC_PREFIX", "SCHEMA", "KAFKA_BOOTSTRAP_SERVERS", "JOB_NAME", "TOP_PRODUCTS_WINDOW_MINUTES")
FALLBACK_BOOTSTRAP_SERVERS = "localhost:9092"   # planning and cancelling need no broker address


# ---------------------------------------------------------------- SQL files (pure)

def split_statements(text):
    """Splits SQL text at semicolons outside strings, quoted identifiers and comments.

    Returns [(line number of the statement's first line, statement text without comments)]. A query hint
    (`/*+ ... */`, e.g. STATE_TTL) is SQL, not a comment: it stays in the statement."""
    statements, buf = [], []
    i, n, line, start_line = 0, len(text), 1, None
    while i < n:
        ch = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            chunk = text[i:] if end < 0 else text[i:end + 2]
            hint = text.startswith("/*+", i) and end >= 0
            if hint and start_line is None:
                start_line = line
            line += chunk.count("\n")
            buf.append(chunk if hint else " ")
            i += len(chunk)
            continue
        if ch in "'`\"":
            j = i + 1
            while j < n:
                if text[j] == ch:
                    if j + 1 < n and text[j + 1] == ch:  # doubled quote is an escaped quote
                        j += 2
                        continue
                    break
                j += 1
            chunk = text[i:j + 1]
            if start_line is None:
                start_line = line
            buf.append(chunk)
            line += chunk.count("\n")
            i = j + 1
            continue
        if ch == ";":
            stmt = "".join(buf).strip()
            if stmt:
                statements.append((start_line, stmt))
            buf, start_line = [], None
            i += 1
            continue
        if ch == "\n":
            line += 1
        elif not ch.isspace() and start_line is None:
            start_line = line
        buf.append(ch)
        i += 1
    stmt = "".join(buf).strip()
    if stmt:
        statements.append((start_line, stmt))
    return statements


def substitute(text, values, source):
    """`text` with each ${NAME} replaced by values[NAME]; an unknown NAME is an OpsError naming `source`."""
    def repl(match):
        name = match.group(1)
        if name not in values:
            raise OpsError(f"{source}: unknown placeholder ${{{name}}} (known: {', '.join(sorted(values))})")
        return values[name]
    return PLACEHOLDER.sub(repl, text)


def load_job_files(sql_dir, only=None):
    """(common.sql, {job name: job file}) of a Flink SQL folder; `only`: these job names."""
    sql_dir = Path(sql_dir)
    common = sql_dir / "common.sql"
    jobs_dir = sql_dir / "jobs"
    if not common.is_file() or not jobs_dir.is_dir():
        raise OpsError(f"{sql_dir} is not a Flink SQL folder (needs common.sql and jobs/*.sql)", "set {opt:sql_dir}")
    jobs = {p.stem: p for p in sorted(jobs_dir.glob("*.sql"))}
    if not jobs:
        raise OpsError(f"no job files in {jobs_dir}")
    if only:
        unknown = sorted(set(only) - set(jobs))
        if unknown:
            raise OpsError(f"unknown job(s) {', '.join(unknown)}; known: {', '.join(jobs)}", "fix {opt:job}")
        jobs = {k: v for k, v in jobs.items() if k in only}
    return common, jobs


def job_name(prefix, job):
    """The Flink job name (and result topic) of a job file: PREFIX.analytics.JOB."""
    return f"{prefix}.analytics.{job}"


def check_values(topic_prefix, schema, bootstrap_servers, top_products_window=60, need_servers=True):
    """Refuses values that cannot go into the SQL text (OpsError naming the setting)."""
    if need_servers and not bootstrap_servers:
        raise OpsError("no Kafka bootstrap servers", "set {opt:bootstrap_servers} to the brokers as the Flink "
                       "TaskManager reaches them")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", topic_prefix or ""):
        raise OpsError(f"{{opt:topic_prefix}} {topic_prefix!r}: use letters, digits, '.', '_' or '-'")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", schema or ""):
        raise OpsError(f"{{opt:schema}} {schema!r}: not a plain identifier")
    if bootstrap_servers and "'" in bootstrap_servers:
        raise OpsError("{opt:bootstrap_servers} must not contain quotes")
    if not isinstance(top_products_window, int) or top_products_window < 1:
        raise OpsError("{opt:top_products_window} must be at least 1")


def root_cause(errors):
    """The informative lines of a Flink error trace: the SQL-level message and the root cause."""
    text = "\n".join(e for e in errors if isinstance(e, str))
    lines = [ln.strip() for ln in text.splitlines()]
    exc = re.compile(r"^(?:Caused by: )?([\w.$]+(?:Exception|Error)): (.+)$")
    found = [m for m in (exc.match(ln) for ln in lines) if m]
    if not found:
        return [ln for ln in lines if ln][:2] or ["(no message)"]
    picks = []
    sql_level = [m for m in found if m.group(1).startswith("org.apache.flink.table.api.")]
    if sql_level:
        picks.append(f"{sql_level[-1].group(1).rsplit('.', 1)[-1]}: {sql_level[-1].group(2)}")
    last = found[-1]
    cause = f"{last.group(1).rsplit('.', 1)[-1]}: {last.group(2)}"
    if not picks or last.group(2) not in picks[0]:
        picks.append(("root cause: " if picks else "") + cause)
    return [p if len(p) <= 600 else p[:600] + " ..." for p in picks]


# ---------------------------------------------------------------- Flink REST

class FlinkRest(Rest):
    """Flink's REST APIs answer errors as {"errors": [trace, ...]}: reported by their root cause."""

    def error_lines(self, body):
        if isinstance(body, dict) and "errors" in body:
            return root_cause(body.get("errors") or [])
        return super().error_lines(body)


def jobmanager_client(url, timeout=30.0):
    return FlinkRest(url, "Flink JobManager", timeout=timeout,
                     fix="is it running? see scripts/stack status, or set {opt:flink_url}")


def gateway_client(url, timeout=30.0):
    return FlinkRest(url, "Flink SQL gateway", timeout=timeout,
                     fix="is it running? see scripts/stack status, or set {opt:sql_gateway_url}")


def list_jobs(jobmanager):
    """Every job the JobManager knows (/jobs/overview): dicts with jid, name, state, start-time..."""
    return (jobmanager.call("GET", "/jobs/overview") or {}).get("jobs", [])


def running_jobs(jobmanager):
    """The active jobs, by name."""
    return sorted((j for j in list_jobs(jobmanager) if j["state"] in ACTIVE), key=lambda j: j["name"])


def job_exception(jobmanager, jid):
    """The root cause of a job's latest failure as lines, or None."""
    try:
        info = jobmanager.call("GET", f"/jobs/{jid}/exceptions?maxExceptions=1") or {}
    except RestError:
        return None
    trace = info.get("root-exception") or ""
    history = info.get("exceptionHistory", {}).get("entries", [])
    if not trace and history:
        trace = history[0].get("stacktrace", "")
    return root_cause([trace]) if trace else None


class GatewaySession:
    """One SQL gateway session; every statement runs to completion before the next."""

    def __init__(self, gateway, name):
        self.gateway = gateway
        self.handle = gateway.call("POST", "/v1/sessions", {"sessionName": name})["sessionHandle"]

    def execute(self, statement, timeout):
        """Runs a statement; returns its result rows (lists of fields). RestError if Flink refuses it."""
        op = self.gateway.call("POST", f"/v1/sessions/{self.handle}/statements",
                               {"statement": statement})["operationHandle"]
        base = f"/v1/sessions/{self.handle}/operations/{op}"
        deadline = time.monotonic() + timeout
        token, rows, pause = 0, [], 0.02
        while True:
            result = self.gateway.call("GET", f"{base}/result/{token}") or {}
            kind = result.get("resultType")
            if kind == "PAYLOAD":
                rows.extend(r.get("fields", []) for r in result.get("results", {}).get("data", []))
            if kind == "EOS" or (kind == "PAYLOAD" and not result.get("nextResultUri")):
                return rows
            if kind == "PAYLOAD":
                token = int(result["nextResultUri"].rstrip("/").rsplit("/", 1)[-1].split("?")[0])
                continue
            if time.monotonic() > deadline:
                raise Failed(f"statement did not finish within {timeout:g} s")
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def close(self):
        try:
            self.gateway.send("DELETE", f"/v1/sessions/{self.handle}")
        except RestError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- operations

@dataclass
class JobIssue:
    """A submitted job that did not come up: it ended (FAILED, ...) or was still not RUNNING."""
    name: str
    jid: str
    state: str
    why: list

    def line(self):
        head = f"{self.name}: job {self.jid} {self.state}"
        return head + ("\n  " + "\n  ".join(self.why) if self.why else "")


@dataclass
class SubmitResult:
    submitted: list = field(default_factory=list)   # [(job name, jid)]
    skipped: list = field(default_factory=list)     # [(job name, jid, state)]: already active
    issues: list = field(default_factory=list)      # [JobIssue]: submitted but not RUNNING

    @property
    def ok(self):
        return not self.issues


@dataclass
class Plan:
    name: str
    statements: int
    text: str                                      # the optimized execution plan


def _where(source, line, root):
    source = Path(source)
    if root is not None and source.is_relative_to(root):
        source = source.relative_to(root)
    return f"{source}:{line}"


def _statements(common, path, values):
    statements = [(common, ln, substitute(s, values, f"{common}:{ln}"))
                  for ln, s in split_statements(Path(common).read_text())]
    statements.append((path, 0, f"SET 'pipeline.name' = '{values['JOB_NAME']}'"))
    statements += [(path, ln, substitute(s, values, f"{path}:{ln}")) for ln, s in split_statements(Path(path).read_text())]
    return statements


def _run_job(gateway, name, statements, timeout, explain, root):
    """Runs one job's statements in a fresh session; returns the INSERT's rows (job ids, or the plan)."""
    out = []
    with GatewaySession(gateway, name) as session:
        for source, ln, stmt in statements:
            is_insert = stmt.upper().startswith("INSERT")
            if explain and is_insert:
                stmt = "EXPLAIN " + stmt
            first = stmt.splitlines()[0][:100]
            try:
                rows = session.execute(stmt, timeout)
            except Failed as err:
                raise Failed(f"{name}: statement at {_where(source, ln, root)} ({first} ...): {err.what}") from None
            except RestError as err:
                if err.unreachable:
                    raise
                lines = gateway.error_lines(err.body)
                raise Failed(f"{name}: statement at {_where(source, ln, root)} failed ({first} ...): "
                             + "; ".join(lines)) from None
            if is_insert:
                out += [r for r in rows if r]
    return out


def _values(topic_prefix, schema, bootstrap_servers, top_products_window, name):
    return {"TOPIC_PREFIX": topic_prefix, "SCHEMA": schema, "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            "JOB_NAME": name, "TOP_PRODUCTS_WINDOW_MINUTES": str(top_products_window)}


def submit_jobs(gateway, jobmanager, sql_dir, *, topic_prefix, schema, bootstrap_servers, top_products_window=60,
                only=None, timeout=120.0, wait=90.0, root=None, kafka_config=None, say=quiet):
    """Submits the jobs of `sql_dir` (`only`: these names) that are not already active, then waits up
    to `wait` seconds until each new one RUNs. Their result topics are created compacted first
    (result_topics.py; `bootstrap_servers` must then also reach Kafka from here, as it does in both
    ways of running the stack). `timeout`: seconds per statement; `root`: paths in messages are shown
    relative to it. Returns a SubmitResult; raises OpsError / Failed."""
    check_values(topic_prefix, schema, bootstrap_servers, top_products_window)
    common, jobs = load_job_files(sql_dir, only)
    active = {j["name"]: j for j in list_jobs(jobmanager) if j["state"] in ACTIVE}
    new = [job_name(topic_prefix, job) for job in jobs if job_name(topic_prefix, job) not in active]
    if new:
        from . import result_topics
        result_topics.ensure(bootstrap_servers, new, kafka_config, say=say)
    result = SubmitResult()
    for job, path in jobs.items():
        name = job_name(topic_prefix, job)
        if name in active:
            say(f"{name}: already {active[name]['state']} ({active[name]['jid']}), not submitted again")
            result.skipped.append((name, active[name]["jid"], active[name]["state"]))
            continue
        statements = _statements(common, path, _values(topic_prefix, schema, bootstrap_servers,
                                                       top_products_window, name))
        job_ids = [r[0] for r in _run_job(gateway, name, statements, timeout, False, root)]
        say(f"{name}: submitted as job {', '.join(job_ids) or '?'}")
        result.submitted += [(name, jid) for jid in job_ids]
    result.issues = wait_running(jobmanager, result.submitted, wait, say)
    return result


def plan_jobs(gateway, sql_dir, *, topic_prefix, schema, bootstrap_servers=None, top_products_window=60,
              only=None, timeout=120.0, root=None):
    """Plans each job (EXPLAIN of its INSERT) without submitting any; yields a Plan per job as soon
    as it is planned."""
    check_values(topic_prefix, schema, bootstrap_servers, top_products_window, need_servers=False)
    common, jobs = load_job_files(sql_dir, only)
    for job, path in jobs.items():
        name = job_name(topic_prefix, job)
        statements = _statements(common, path, _values(topic_prefix, schema,
                                                       bootstrap_servers or FALLBACK_BOOTSTRAP_SERVERS,
                                                       top_products_window, name))
        rows = _run_job(gateway, name, statements, timeout, True, root)
        plan = "".join(str(r[0]) for r in rows)
        yield Plan(name, len(statements), plan.split("== Optimized Execution Plan ==")[-1].strip())


def wait_running(jobmanager, submitted, timeout, say=quiet):
    """Waits up to `timeout` seconds until each (name, jid) RUNs; returns [JobIssue] for the jobs that
    ended or were still not RUNNING (each also said)."""
    deadline = time.monotonic() + timeout
    pending = {jid: name for name, jid in submitted}
    issues = []
    while pending:
        for jid, name in list(pending.items()):
            state = (jobmanager.call("GET", f"/jobs/{jid}") or {}).get("state")
            if state == "RUNNING":
                del pending[jid]
            elif state in TERMINAL:
                issue = JobIssue(name, jid, state, job_exception(jobmanager, jid) or [f"job ended {state}"])
                say(issue.line())
                issues.append(issue)
                del pending[jid]
        if pending and time.monotonic() > deadline:
            for jid, name in pending.items():
                state = (jobmanager.call("GET", f"/jobs/{jid}") or {}).get("state")
                why = job_exception(jobmanager, jid)
                issue = JobIssue(name, jid, f"still {state} after {timeout:g} s", why or [])
                say(f"{name}: job {jid} still {state} after {timeout:g} s"
                    + ("; latest failure:\n  " + "\n  ".join(why) if why else ""))
                issues.append(issue)
            break
        if pending:
            time.sleep(1)
    return issues


def cancel_jobs(jobmanager, topic_prefix, wait=90.0, say=quiet):
    """Cancels this prefix's active jobs and waits up to `wait` seconds until they ended; returns the
    cancelled jobs (dicts of /jobs/overview). Raises Failed when some did not end in time."""
    pattern = re.compile(rf"^{re.escape(topic_prefix)}\.analytics\.[\w-]+$")
    targets = [j for j in list_jobs(jobmanager) if pattern.match(j["name"]) and j["state"] not in TERMINAL]
    if not targets:
        say(f"no running jobs of prefix {topic_prefix!r}")
        return []
    for j in targets:
        jobmanager.call("PATCH", f"/jobs/{j['jid']}?mode=cancel")
        say(f"{j['name']}: cancelling job {j['jid']}")
    deadline = time.monotonic() + wait
    states = {}
    while True:
        states = {j["jid"]: (jobmanager.call("GET", f"/jobs/{j['jid']}") or {}).get("state") for j in targets}
        if all(s in TERMINAL for s in states.values()):
            say(f"cancelled {len(targets)} job(s)")
            return targets
        if time.monotonic() >= deadline:
            break
        time.sleep(1)
    raise Failed(f"jobs not cancelled within {wait:g} s: "
                 + ", ".join(jid for jid, s in states.items() if s not in TERMINAL))


def job_lines(jobs, ui_url):
    """The closing listing of the CLI: the active jobs and the web UI address."""
    lines = [f"Running Flink jobs ({len(jobs)}):"]
    for j in jobs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(j.get("start-time", 0) / 1000))
        lines.append(f"  {j['state']:<11} {j['jid']}  {j['name']}  (since {started} UTC)")
    lines.append(f"Flink web UI: {ui_url}")
    return lines
