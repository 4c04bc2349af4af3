"""The pipeline strip (pure): six stages, each with its rates, lags and a state coloured by the alerts.

The figures are PromQL over the exporters' own metrics (observability/, README "Watching the
pipeline"); nothing is computed here that an exporter already exposes. The queries are instant
queries run every poll; rates use a 20 s window (four 5 s scrapes), so a change shows within seconds.

A stage's colour: red when one of its alerts fires with severity critical or its component's own
state (Connect, Flink) is failed; amber when one of its alerts is pending or firing (warning), or the
component is not running (paused, restarting); green when it has data and nothing of that; unknown
(grey) when there is no data at all (Prometheus unreachable and no REST state).
"""
import re

RATE = "20s"

# query id -> PromQL. `{change_topics}` / `{result_topics}` are filled with the topic regexes.
QUERIES = {
    "gen_up": 'max(up{job="generator"})',
    "gen_visits": f"sum(rate(thelook_visits_total[{RATE}]))",
    "gen_target": "max(thelook_target_visits_per_second)",
    "gen_lag": "max(thelook_schedule_lag_seconds)",
    "gen_finished": "max(thelook_run_finished)",
    "pg_up": "max(pg_up)",
    "pg_ops": " or ".join(
        f'label_replace(sum(rate(pg_table_{col}_rows{{schema="{{schema}}"}}[{RATE}])), "op", "{op}", "", "")'
        for op, col in (("insert", "inserted"), ("update", "updated"), ("delete", "deleted"))),
    "pg_retained": "max(pg_replication_slot_retained_wal_bytes{slot})",
    "pg_confirm_lag": "max(pg_replication_slot_confirmed_flush_lag_bytes{slot})",
    "dbz_events": f'sum(rate(debezium_streaming_events_seen_total{{op="",name="{{prefix}}"}}[{RATE}]))',
    "dbz_behind": 'max(debezium_streaming_milliseconds_behind_source{name="{prefix}"})',
    "dbz_connected": 'min(debezium_streaming_connected{name="{prefix}"})',
    "connect_written": f'sum(rate(kafka_connect_source_task_records_write_total{{connector="{{connector}}"}}[{RATE}]))',
    "kafka_change_in": f'sum(rate(kafka_server_topic_messages_in_total{{topic=~"{{change_topics}}"}}[{RATE}]))',
    "kafka_bytes_in": f"sum(rate(kafka_server_all_topics_bytes_in_total[{RATE}]))",
    "kafka_up": 'max(up{job="kafka"})',
    "flink_in": f'sum(rate(flink_taskmanager_job_task_operator_numRecordsIn{{operator_name=~"Source:.*",'
                f'job_name=~"{{flink_jobs}}"}}[{RATE}]))',
    # a source's event-time lag is the value for its latest record, so it stays where it was on a source that
    # reads nothing (distribution centres change once a day): only sources that read in the window count
    "flink_lag": 'max(flink_taskmanager_job_task_operator_currentEmitEventTimeLag{job_name=~"{flink_jobs}"} '
                 'and on (job_id, operator_name, subtask_index) (rate(flink_taskmanager_job_task_operator_'
                 f'numRecordsIn{{operator_name=~"Source:.*",job_name=~"{{flink_jobs}}"}}[{RATE}]) > 0))',
    "flink_restarts": 'sum(flink_jobmanager_job_numRestarts{job_name=~"{flink_jobs}"})',
    "results_in": f'sum(rate(kafka_server_topic_messages_in_total{{topic=~"{{result_topics}}"}}[{RATE}]))',
    # every scraped node of the JVM stages, by its `instance` label (several per kind in cluster mode)
    "nodes": 'up{job=~"kafka|connect|flink"}',
}
# the stage a node's figures belong to, and what its kind is called on the page (cluster mode: kafka-2 ...)
NODE_KINDS = (("kafka", "kafka", "brokers"), ("debezium", "connect", "Connect workers"),
              ("flink", "taskmanager", "TaskManagers"))

STAGES = (
    ("generator", "Generator"),
    ("postgres", "PostgreSQL"),
    ("debezium", "Debezium"),
    ("kafka", "Kafka"),
    ("flink", "Flink"),
    ("results", "Results"),
)

# alert name -> stage; JvmHeapAfterGcHigh goes by its `instance` label (below)
ALERT_STAGE = {
    "GeneratorBehindSchedule": "generator",
    "PostgresSlotRetainedWalHigh": "postgres",
    "PostgresSlotNotConfirming": "postgres",
    "PostgresSlotWalNotReserved": "postgres",
    "KafkaConnectNotRunning": "debezium",
    "DebeziumBehindSource": "debezium",
    "DebeziumNoChangeEvents": "debezium",
    "FlinkJobNotRunning": "flink",
    "FlinkJobRestarting": "flink",
}
INSTANCE_STAGE = {"kafka": "kafka", "connect": "debezium", "jobmanager": "flink", "taskmanager": "flink",
                  "postgres": "postgres", "generator": "generator"}


def _quote(text):
    """A value inside a PromQL double-quoted string (Go escapes: backslash and quote)."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def queries(prefix, schema, connector="thelook-postgres", slot=None):
    """The PromQL of QUERIES for this pipeline: its topic prefix (Debezium's metrics are named after it,
    result topics and Flink jobs start with it), schema, connector and replication slot (None: any slot;
    the slot is read from the connector's config once Connect answers)."""
    change = re.escape(f"{prefix}.{schema}.") + ".*"
    result = re.escape(f"{prefix}.analytics.") + ".*"
    # Flink's reporter writes label values with every character but [A-Za-z0-9_:] replaced by "_"
    jobs = re.sub(r"[^A-Za-z0-9_:]", "_", f"{prefix}.analytics.") + ".*"
    fill = {"{flink_jobs}": _quote(jobs), "{change_topics}": _quote(change), "{result_topics}": _quote(result),
            "{schema}": _quote(schema),
            "{prefix}": _quote(prefix), "{connector}": _quote(connector),
            "{slot}": f'{{slot_name="{_quote(slot)}"}}' if slot else ""}
    out = {}
    for key, expr in QUERIES.items():
        for k, v in fill.items():
            expr = expr.replace(k, v)
        out[key] = expr
    return out


def node_kind(instance):
    """kafka-2 -> kafka: the nodes of a cluster carry their kind's name with a number."""
    base, _, number = (instance or "").rpartition("-")
    return base if base and number.isdigit() else instance


def stage_of(alert):
    name = alert.get("labels", {}).get("alertname")
    if name in ALERT_STAGE:
        return ALERT_STAGE[name]
    return INSTANCE_STAGE.get(node_kind(alert.get("labels", {}).get("instance")))


def nodes_line(nodes, kind, noun):
    """'3/3 brokers up' (cluster mode: more than one node of the kind scraped), with the names of those down;
    (line, any down) or (None, False) for a single node."""
    mine = {i: up for i, up in (nodes or {}).items() if node_kind(i) == kind}
    if len(mine) < 2:
        return None, False
    down = sorted(i for i, up in mine.items() if up != 1)
    return f"{len(mine) - len(down)}/{len(mine)} {noun} up" + (f" ({', '.join(down)} down)" if down else ""), \
        bool(down)


def _alert_entry(a):
    labels, ann = a.get("labels", {}), a.get("annotations", {})
    return {"name": labels.get("alertname"), "state": a.get("state"), "severity": labels.get("severity"),
            "summary": ann.get("summary") or labels.get("alertname"), "runbook": ann.get("runbook")}


def _rate(label, value, unit="/s"):
    return {"label": label, "value": None if value is None else round(value, 3), "unit": unit}


def build(values, alerts, connector, flink_jobs, analytics, now, prometheus_ok, results_kafka_ok):
    """The six stages. values: {query id: number, or {label: number} for pg_ops, or None};
    alerts: Prometheus /api/v1/alerts entries; connector: SNAPSHOT "connector" or None; flink_jobs: list
    or None; analytics: the analytics view (for the results stage's age)."""
    v = values if prometheus_ok else {}
    by_stage = {sid: [] for sid, _ in STAGES}
    for a in alerts or ():
        sid = stage_of(a)
        if sid and a.get("state") in ("pending", "firing"):
            by_stage[sid].append(_alert_entry(a))

    ops = v.get("pg_ops") or {}
    stages = {
        "generator": {
            "rates": [_rate("visits/s", v.get("gen_visits"))],
            "lags": [_rate("behind schedule", v.get("gen_lag"), "s")],
        },
        "postgres": {
            "rates": [_rate("inserts/s", ops.get("insert")), _rate("updates/s", ops.get("update")),
                      _rate("deletes/s", ops.get("delete"))],
            "lags": [_rate("slot retained WAL", v.get("pg_retained"), "B"),
                     _rate("not yet confirmed", v.get("pg_confirm_lag"), "B")],
        },
        "debezium": {
            "rates": [_rate("events/s", v.get("dbz_events")), _rate("written/s", v.get("connect_written"))],
            "lags": [_rate("behind source", v.get("dbz_behind"), "ms")],
        },
        "kafka": {
            "rates": [_rate("change events in/s", v.get("kafka_change_in")),
                      _rate("bytes in/s", v.get("kafka_bytes_in"), "B/s")],
            "lags": [],
        },
        "flink": {
            "rates": [_rate("records in/s", v.get("flink_in"))],
            "lags": [_rate("source event-time lag", v.get("flink_lag"), "ms")],   # of the sources reading now
        },
        "results": {
            "rates": [_rate("result updates/s", v.get("results_in"))],
            "lags": [],
        },
    }

    # details and the components' own states
    own = {sid: None for sid in stages}       # None | "amber" | "red"
    detail = {sid: "" for sid in stages}
    if prometheus_ok:
        target, up = v.get("gen_target"), v.get("gen_up")
        if up == 0 or up is None:
            detail["generator"] = "no generator running"
        elif v.get("gen_finished") == 1:
            detail["generator"] = "run finished"
        elif target == 0:
            detail["generator"] = "flat out"
        elif target is not None:
            detail["generator"] = f"{target:g} visits/s asked"
        if v.get("pg_up") == 0:
            own["postgres"], detail["postgres"] = "red", "exporter cannot reach PostgreSQL"
    if connector:
        tasks = connector.get("tasks") or []
        states = [connector.get("state")] + [t.get("state") for t in tasks]
        detail["debezium"] = f"{connector.get('name')}: {connector.get('state')}" + (
            "" if not tasks else " / task " + ", ".join(str(t.get("state")) for t in tasks))
        if "FAILED" in states or connector.get("state") == "NOT REGISTERED":
            own["debezium"] = "red"
        elif any(s != "RUNNING" for s in states) or not tasks:
            own["debezium"] = "amber"
    if flink_jobs is not None:
        running = sum(1 for j in flink_jobs if j.get("state") == "RUNNING")
        detail["flink"] = f"{running}/{len(flink_jobs)} jobs running" if flink_jobs else "no jobs submitted"
        if any(j.get("state") in ("FAILED",) for j in flink_jobs):
            own["flink"] = "red"
        elif not flink_jobs or running < len(flink_jobs):
            own["flink"] = "amber"
        restarts = v.get("flink_restarts")
        if restarts:
            detail["flink"] += f", {restarts:g} restarts"
    for sid, kind, noun in NODE_KINDS:
        line, down = nodes_line(v.get("nodes"), kind, noun)
        if line:
            detail[sid] = f"{detail[sid]}; {line}" if detail[sid] else line
            if down and own[sid] is None:
                own[sid] = "amber"
    newest = max((p.get("updated") or 0 for p in (analytics or {}).values()), default=0)
    if newest:
        age = max(0.0, now - newest)
        stages["results"]["lags"].append(_rate("newest result", round(age, 1), "s ago"))
        detail["results"] = f"{sum(p.get('keys', 0) for p in analytics.values()):,} result rows"
    elif results_kafka_ok:
        detail["results"] = "no results yet"

    if not prometheus_ok:
        for sid in detail:
            detail[sid] = detail[sid] or "no figures: Prometheus unreachable"
    out = []
    for sid, name in STAGES:
        alerts_here = by_stage[sid]
        has_data = any(r["value"] is not None for r in stages[sid]["rates"] + stages[sid]["lags"]) or bool(
            detail[sid] and prometheus_ok) or own[sid] is not None
        if any(a["state"] == "firing" and a["severity"] == "critical" for a in alerts_here) or own[sid] == "red":
            state = "red"
        elif alerts_here or own[sid] == "amber":
            state = "amber"
        elif has_data:
            state = "green"
        else:
            state = "unknown"
        out.append({"id": sid, "name": name, "state": state, "detail": detail[sid], "alerts": alerts_here,
                    **stages[sid]})
    return out
