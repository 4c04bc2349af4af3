"""connector-outage: the connector taken out under load for a while, then back; the slot's retained WAL, the
drain time, the peak commit->Kafka latency, and verify.

1. The target connector (RUNNING) and its slot (from its config `slot.name`); the scenario's own seeded
   generator starts on its schema (unless --no-generator).
2. The WAL rate is measured over --wal-sample seconds. The projected WAL the slot will hold at the end of
   the outage (what it holds now + rate x outage) is compared with max_slot_wal_keep_size: beyond it,
   PostgreSQL would invalidate the slot, so the scenario refuses to run (exit 2) before touching the
   connector. (-1, unlimited: accepted.)
3. The connector is taken out through Kafka Connect's REST API for --outage seconds: by default STOPPED
   (PUT /connectors/NAME/stop, Kafka Connect 3.5+): its task ends and closes its replication connection
   (the slot inactive), as in a real outage. PAUSED (--mode pause) keeps the task and its connection:
   Debezium goes on reading the WAL into its in-memory queue (max.queue.size events) but sends nothing. In
   both the slot confirms nothing, so its restart_lsn stays and it holds back the WAL written from the first
   second (measured: 0.8 MiB after 5 s stopped, 0.5 MiB after 5 s paused, at 20 visits/s). Every
   --report-interval seconds the slot's retained WAL (pg_current_wal_lsn() - restart_lsn) is reported.
4. Resumed (PUT .../resume), the backlog drains. Drained = the slot has confirmed every change committed
   before the resume (confirmed_flush_lsn >= the WAL position at the resume: Debezium confirms only what
   Kafka has acknowledged), it retains at most --drain-wal MiB again, and the newest change read from the
   topics reached Kafka within --drain-lag ms of its commit. Debezium's milliseconds behind source from
   Prometheus is reported beside it when --prometheus-url answers.
5. The commit->Kafka latency of the changes committed during the outage is read back from the change topics
   (Kafka record timestamp - source.ts_ms, as verify's latency): its peak and p50.
6. The generator stops; `thelook-datagen verify --slot SLOT` must be OK.
The connector is always resumed, whatever happens, and the generator stopped.
"""
import time

from . import ScenarioError
from ..ops import connector as connector_ops
from .common import (MIB, ChangeTail, Generator, Postgres, child_env, finish, mib, newest_event_id,
                     prometheus_value, require_slot, target_connector, wait_state)

NAME = "connector-outage"
WHY_STOP = ("stop: the task ends and closes its replication connection, the slot goes inactive, as in a real "
            "outage; on the resume a new task reads on from the slot's confirmed position")
WHY_PAUSE = ("pause: the task keeps its replication connection and reads WAL into Debezium's queue "
             "(max.queue.size events) while sending nothing; the slot confirms nothing either way")
GENERATOR_WARMUP_S = 3.0
NO_LIVE_CHANGE_S = 5.0       # caught up, and no change newer than the resume this long: nothing writes


def project(rate_bytes_per_s, outage_s, retained_bytes):
    """The WAL the slot holds at the end of the outage: what it holds now plus what is written meanwhile."""
    return int(retained_bytes + max(0.0, rate_bytes_per_s) * outage_s)


def check_projection(projected, limit, retained, rate, outage):
    """Raises ScenarioError when the projected WAL exceeds max_slot_wal_keep_size (`limit` bytes; None =
    unlimited, always accepted)."""
    if limit is None or projected <= limit:
        return
    raise ScenarioError(
        f"refusing an outage of {outage:g} s: the slot would hold about {mib(projected)} of WAL (now "
        f"{mib(retained)} + {rate / MIB:.2f} MiB/s x {outage:g} s), more than max_slot_wal_keep_size "
        f"{mib(limit)}, and PostgreSQL would invalidate the slot",
        "choose a shorter {opt:outage} or a lower {opt:rate}")


def percentile(values, q):
    values = sorted(values)
    return values[max(0, min(len(values) - 1, int(-(-q * len(values) // 100)) - 1))] if values else None


def run(settings, connect, timeline):
    """Runs the scenario; returns its summary (a dict whose "ok" is the expected outcome). Raises
    ScenarioError (or another UserError) when it cannot run."""
    target = target_connector(connect, settings.connector, settings.schema, settings.topic_prefix)
    pg = Postgres(settings.conn_kw)
    gen = tail = None
    out = {"mode": None, "resumed": True}
    result = {"scenario": NAME, "connector": target.name, "slot": target.slot, "schema": target.schema,
              "topic_prefix": target.topic_prefix, "mode": settings.mode, "outage_s": settings.outage,
              "rate": None if settings.no_generator else settings.rate, "seed": settings.seed}
    try:
        slot = require_slot(pg, target.slot, target.name)
        if not pg.tables_exist(target.schema):
            raise ScenarioError(f"schema {target.schema} has no theLook tables",
                                "create them first: thelook-datagen --schema ... --max_iter 0")
        limit = pg.slot_limit()
        timeline.note(f"connector {target.name} RUNNING: slot {target.slot} ({slot['wal_status']}, holds "
                      f"{mib(slot['retained'])}), schema {target.schema}, topics {target.topic_prefix}.*; "
                      f"max_slot_wal_keep_size {'unlimited' if limit is None else mib(limit)}")
        env = child_env(settings)
        if not settings.no_generator:
            since = newest_event_id(pg, target.schema)
            gen = Generator(settings, target, env)
            timeline.note(f"generator started: {settings.rate:g} visits/s, seed {settings.seed} (pid {gen.proc.pid})")
            waited = gen.wait_writing(pg, target.schema, since)
            # its first seconds write full-page images after a checkpoint: more WAL than its steady rate
            time.sleep(GENERATOR_WARMUP_S)
            timeline.note(f"generator writing ({waited:.1f} s after its start)")
        t_lsn, lsn0 = time.monotonic(), pg.wal_lsn()
        time.sleep(settings.wal_sample)
        if gen:
            gen.check()
        rate = (pg.wal_lsn() - lsn0) / (time.monotonic() - t_lsn)
        slot = require_slot(pg, target.slot, target.name)
        projected = project(rate, settings.outage, slot["retained"])
        result.update(wal_rate_bytes_per_s=round(rate), limit_bytes=limit, projected_bytes=projected)
        timeline.note(f"WAL written at {rate / 1024:.1f} KiB/s over {settings.wal_sample:g} s: an outage of "
                      f"{settings.outage:g} s projects {mib(projected)} held by the slot (limit "
                      f"{'unlimited' if limit is None else mib(limit)})")
        check_projection(projected, limit, slot["retained"], rate, settings.outage)

        tail = ChangeTail(settings, target)
        # ---- the outage
        verb = settings.mode
        path = f"/connectors/{target.name}/{verb}"
        reply = connect.send("PUT", path)
        if reply.status in (404, 405) and verb == "stop" and connect.send("GET", f"/connectors/{target.name}").status == 200:
            raise ScenarioError(f"this Kafka Connect has no {path} (Kafka Connect 3.5+)", "use {opt:mode} pause")
        if reply.status >= 400:
            raise connect.refused("PUT", path, reply)
        out["mode"] = verb
        out["resumed"] = False
        t_out = time.monotonic()
        out_ms = int(time.time() * 1000)
        waited = wait_state(connect, target.name, "STOPPED" if verb == "stop" else "PAUSED", 60,
                            tasks=() if verb == "stop" else "PAUSED")
        slot = require_slot(pg, target.slot, target.name)
        start_retained = slot["retained"]
        samples = [{"t": round(time.monotonic() - t_out, 1), "retained": start_retained}]
        timeline.note(f"connector {'STOPPED' if verb == 'stop' else 'PAUSED'} ({waited:.1f} s; "
                      f"{WHY_STOP if verb == 'stop' else WHY_PAUSE}); slot holds {mib(start_retained)}, "
                      f"active {slot['active']}", retained_bytes=start_retained)
        next_report = t_out + settings.report_interval
        while True:
            now = time.monotonic()
            if now >= t_out + settings.outage:
                break
            time.sleep(max(0.0, min(next_report, t_out + settings.outage) - now))
            if time.monotonic() >= next_report:
                next_report += settings.report_interval
                slot = require_slot(pg, target.slot, target.name)
                samples.append({"t": round(time.monotonic() - t_out, 1), "retained": slot["retained"]})
                timeline.note(f"outage +{time.monotonic() - t_out:.0f} s: slot holds {mib(slot['retained'])} "
                              f"(+{mib(slot['retained'] - start_retained)}), {slot['wal_status']}, active "
                              f"{slot['active']}", retained_bytes=slot["retained"])
                if gen:
                    gen.check()
        # ---- the resume
        slot = require_slot(pg, target.slot, target.name)
        samples.append({"t": round(time.monotonic() - t_out, 1), "retained": slot["retained"]})
        lsn_resume = pg.wal_lsn()
        resume_ms = int(time.time() * 1000)
        reply = connect.send("PUT", f"/connectors/{target.name}/resume")
        if reply.status >= 400:
            raise connect.refused("PUT", f"/connectors/{target.name}/resume", reply)
        out["resumed"] = True
        t_resume = time.monotonic()
        peak = max(s["retained"] for s in samples)
        timeline.note(f"connector resumed after {t_resume - t_out:.1f} s: the slot holds {mib(slot['retained'])} "
                      f"(peak {mib(peak)}, {mib(peak - start_retained)} more than at the start)",
                      retained_bytes=slot["retained"])
        connector_ops.wait_running(connect, target.name, target.config, t_resume + settings.drain_timeout,
                                   settle=0, say=lambda m: None)
        timeline.note(f"connector and task RUNNING again ({time.monotonic() - t_resume:.1f} s after the resume)")
        # ---- the drain
        drained_s = caught_up_s = released_s = None
        next_report = t_resume + settings.report_interval
        prom_query = f'debezium_streaming_milliseconds_behind_source{{name="{target.topic_prefix}"}}'
        behind = None
        while time.monotonic() - t_resume <= settings.drain_timeout:
            slot = require_slot(pg, target.slot, target.name)
            now = time.monotonic()
            if caught_up_s is None and slot["confirmed_flush"] is not None and slot["confirmed_flush"] >= lsn_resume:
                caught_up_s = now - t_resume
                timeline.note(f"backlog in Kafka: the slot confirmed every change written before the resume "
                              f"({caught_up_s:.1f} s after it)")
            if released_s is None and slot["retained"] <= settings.drain_wal * MIB:
                released_s = now - t_resume
            newest = tail.newest()
            live = newest is not None and newest[0] >= resume_ms
            lag_ms = (newest[1] - newest[0]) if newest else None
            lag_ok = (live and lag_ms <= settings.drain_lag) or (
                caught_up_s is not None and not live and now - t_resume - caught_up_s >= NO_LIVE_CHANGE_S)
            if caught_up_s is not None and released_s is not None and lag_ok:
                drained_s = now - t_resume
                break
            if now >= next_report:
                next_report += settings.report_interval
                behind = prometheus_value(settings.prometheus_url, prom_query)
                timeline.note(f"draining +{now - t_resume:.0f} s: slot holds {mib(slot['retained'])}, "
                              f"{mib(slot['confirmed_lag'])} not confirmed; newest change in Kafka "
                              f"{'-' if lag_ms is None else f'{lag_ms} ms'} after its commit"
                              + ("" if behind is None else f"; Prometheus, last scrape: {behind:.0f} ms behind source"),
                              retained_bytes=slot["retained"])
            time.sleep(0.5)
        behind = prometheus_value(settings.prometheus_url, prom_query)
        if drained_s is None:
            timeline.note(f"NOT drained within {settings.drain_timeout:g} s: slot holds {mib(slot['retained'])}, "
                          f"{mib(slot['confirmed_lag'])} not confirmed")
        else:
            timeline.note(f"drained {drained_s:.1f} s after the resume: slot holds {mib(slot['retained'])}, newest "
                          f"change {lag_ms if lag_ms is not None else '-'} ms after its commit"
                          + ("" if behind is None else f"; Prometheus, last scrape: {behind:.0f} ms behind source"),
                          retained_bytes=slot["retained"])
        # ---- the outage's changes, read back
        tail.read_up_to_now()
        changes = tail.between(out_ms, resume_ms)
        lat = [k - s for s, k in changes]
        last_in_kafka = (max(k for _, k in changes) - resume_ms) / 1000 if changes else None
        timeline.note(f"{len(changes)} changes committed during the outage: commit->Kafka peak "
                      f"{'-' if not lat else f'{max(lat) / 1000:.1f} s'}, p50 "
                      f"{'-' if not lat else f'{percentile(lat, 50) / 1000:.1f} s'}; the last of them in Kafka "
                      f"{'-' if last_in_kafka is None else f'{last_in_kafka:.1f} s'} after the resume")
        result.update(
            start_retained_bytes=start_retained, peak_retained_bytes=peak, retained_samples=samples,
            outage_seconds_measured=round(t_resume - t_out, 1), caught_up_s=_r(caught_up_s),
            wal_released_s=_r(released_s), drain_s=_r(drained_s), drained=drained_s is not None,
            outage_changes=len(changes), peak_latency_ms=max(lat) if lat else None,
            p50_latency_ms=percentile(lat, 50), last_outage_change_in_kafka_s=_r(last_in_kafka),
            prometheus_ms_behind_source=behind)
        # ---- the end: generator stopped, verify
        if gen:
            result["generator"] = gen.stopped_summary(timeline)
        finished = finish(settings, target, env, timeline, result)
        result["ok"] = bool(drained_s is not None and finished)
        return result
    finally:
        if out["mode"] and not out["resumed"]:
            try:
                connect.send("PUT", f"/connectors/{target.name}/resume")
                timeline.note(f"cleanup: connector {target.name} resumed")
            except Exception as err:        # the one thing that must not be left undone: say so
                timeline.note(f"cleanup: resuming connector {target.name} FAILED ({err}): resume it with "
                              f"curl -X PUT {connect.url}/connectors/{target.name}/resume")
        if gen:
            gen.cleanup(timeline)
        if tail:
            tail.close()
        pg.close()


def _r(x):
    return None if x is None else round(x, 1)
