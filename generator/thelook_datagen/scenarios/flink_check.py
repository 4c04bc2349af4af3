"""The end of every scenario, after verify: where Flink jobs of the target's topic prefix run, their results
must equal the same computation on PostgreSQL (ops/flink_results.py, the comparison tests/flink makes).

The scenario has stopped its generator by then, so PostgreSQL holds still: first the jobs must have consumed
every change written up to now (their consumer groups committed the change topics' end offsets, which happens
on a completed checkpoint, every 10 s), then every result topic must equal PostgreSQL's table; both within
--flink-settle seconds. The top products job's window is the one the jobs were submitted with
(--top-products-window, THELOOK_TOP_PRODUCTS_WINDOW, as for submit-flink-jobs)."""
import time
from pathlib import Path

from ..errors import UserError
from ..ops import flink_jobs, flink_results

SQL_DIR = Path(__file__).resolve().parents[3] / "flink"


def kafka_conf(settings):
    return {"bootstrap.servers": settings.bootstrap_servers, **(settings.kafka_config or {})}


def prefix_jobs(settings, prefix):
    """The names (file stems) of the result jobs of `prefix` running on the JobManager; None when it cannot
    be reached."""
    jobmanager = flink_jobs.jobmanager_client(settings.flink_url, timeout=10)
    try:
        jobs = flink_jobs.running_jobs(jobmanager)
    except UserError:
        return None
    head = f"{prefix}.analytics."
    return sorted(j["name"][len(head):] for j in jobs
                  if j["name"].startswith(head) and j["name"][len(head):] in flink_results.RESULTS)


def compare_if_running(settings, target, timeline):
    """None when nothing is compared (--no-flink-compare, no job of the prefix, Flink unreachable); else
    {"equal": bool, "jobs": [...], "rows": {job: rows}, "seconds": s, "problems": {job: [...]}}."""
    if settings.no_flink_compare:
        timeline.note("Flink: results not compared (--no-flink-compare)")
        return None
    jobs = prefix_jobs(settings, target.topic_prefix)
    if jobs is None:
        timeline.note(f"Flink: JobManager at {settings.flink_url} not reachable: results not compared")
        return None
    if not jobs:
        timeline.note(f"Flink: no job of prefix {target.topic_prefix} runs on {settings.flink_url}: nothing to "
                      "compare")
        return None
    import psycopg2
    t0 = time.monotonic()
    deadline = t0 + settings.flink_settle
    conf = kafka_conf(settings)
    sql_dir = SQL_DIR if SQL_DIR.is_dir() else None
    behind = {}
    if sql_dir:
        ends = flink_results.end_offsets(conf, set().union(*flink_results.source_topics(
            sql_dir, target.topic_prefix, target.schema).values()))
        while True:
            behind = {j: n for j, n in flink_results.jobs_behind(conf, target.topic_prefix, target.schema, sql_dir,
                                                                 ends).items() if j in jobs}
            if not behind or time.monotonic() > deadline:
                break
            time.sleep(2)
        timeline.note(f"Flink: {len(jobs)} jobs " + (f"consumed every change written so far ({time.monotonic() - t0:.1f} s)"
                      if not behind else f"still behind after {settings.flink_settle:g} s: {behind}"))
    conn = psycopg2.connect(**settings.conn_kw)
    conn.autocommit = True
    try:
        while True:
            problems, rows = flink_results.compare(conn, conf, target.topic_prefix, target.schema, jobs,
                                                   settings.top_products_window)
            bad = {j: p for j, p in problems.items() if p}
            if not bad or time.monotonic() > deadline:
                break
            time.sleep(3)
    finally:
        conn.close()
    seconds = round(time.monotonic() - t0, 1)
    if bad:
        first = next(iter(bad.items()))
        timeline.note(f"Flink: {len(bad)} of {len(jobs)} results differ from PostgreSQL after {seconds:g} s, e.g. "
                      f"{first[0]}: {'; '.join(first[1][:3])}")
    else:
        timeline.note(f"Flink: all {len(jobs)} results equal PostgreSQL ("
                      + ", ".join(f"{j} {rows[j]} rows" for j in jobs) + f"; {seconds:g} s)")
    return {"equal": not bad, "jobs": jobs, "rows": rows, "seconds": seconds, "problems": bad,
            "behind": behind}
