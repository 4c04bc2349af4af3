"""slot-invalidated: PostgreSQL invalidates a stalled connector's replication slot (max_slot_wal_keep_size), the
stack says so, verify FAILS, and the scripted recovery ends with verify OK.

max_slot_wal_keep_size is server-wide, so all of it happens on a PostgreSQL of the scenario's own
(own_postgres.py: `scripts/stack up --only postgres` from the stack's binaries, a free port, --slot-limit MiB),
with its own schema, connector (on the stack's Kafka Connect), slot, publication and topic prefix: the main
pipeline is never at risk. Steps:
1. The instance starts; the generator creates the tables (reference data) there, of whose initial stock one
   unsold unit in 8 is kept (the rest would only lengthen the recovery's snapshot and verify); the connector is registered,
   streaming only (snapshot.mode no_data: the first snapshot is not what this scenario shows, and the recovery
   deletes its topics), until its slot is active; the scenario's own seeded generator starts (unless
   --no-generator).
2. Capture stalls: the connector is STOPPED (its task ends, the slot goes inactive and confirms nothing). The
   generator writes for --stall-writes seconds; then WAL segments are switched (pg_switch_wal(), as the
   instance's superuser) until the slot holds more than the limit: writing that much at the generator's rate
   would take minutes. PostgreSQL invalidates a slot at a checkpoint (it removes the WAL then), so a CHECKPOINT
   follows; pg_replication_slots is polled until wal_status = lost.
3. What each tool says about it: the connector resumed (Debezium 3.x retries a slot whose restart_lsn is gone
   for 30 minutes with no task status: Connect's REST API does not say why nothing streams), register-connector
   (exit 1, one line), verify (FAILED, exit 1, one line), `scripts/stack status` of the instance (a line per
   invalidated slot). Prometheus does not scrape this instance: its rule PostgresSlotWalNotReserved fires for
   the stack's own PostgreSQL (critical for lost); the scenario checks that Prometheus has it.
4. The recovery of README's runbook (slot_recovery.py): connector deleted with its offsets, slot dropped, the
   prefix's topics deleted and created again empty, connector registered again (new slot, new snapshot), the
   prefix's Flink jobs resubmitted if any ran (none do on the scenario's prefix). The generator stops before
   it: the recovery runs on a quiet database.
5. Verify must be OK.
Whatever happens, the connector is deleted, its topics too, and the instance stopped and wiped.
"""
import json
import subprocess
import sys
import time
import uuid

from . import ScenarioError
from ..ops import connector as connector_ops
from .common import (MIB, Generator, Postgres, Target, child_env, datagen_command, finish, mib, run_verify,
                     wait_state)
from .own_postgres import ROOT, OwnPostgres
from .slot_recovery import delete_topics, prefix_topics, recover

NAME = "slot-invalidated"
SEGMENT = 16 * MIB            # PostgreSQL's WAL segment: it removes whole segments, so one more than the limit
ALERT = "PostgresSlotWalNotReserved"
STOCK_KEPT = 8


def slot_detail(row):
    """'wal_status lost, wal_removed' from (wal_status, invalidation_reason)."""
    return f"wal_status {row[0]}" + (f", {row[1]}" if row[1] else "")


def mentions(line, *words):
    """Whether a tool's line names all of `words` (the slot, 'invalidated'), case-insensitively."""
    return bool(line) and all(w.lower() in line.lower() for w in words)


def last_line(text):
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def prometheus_rule(url, name):
    """The expression of alerting rule `name` as Prometheus has it loaded, or None (no Prometheus, no rule)."""
    if not url:
        return None
    import requests
    try:
        groups = requests.get(url.rstrip("/") + "/api/v1/rules", params={"type": "alert"}, timeout=3).json()
        for group in groups["data"]["groups"]:
            for rule in group["rules"]:
                if rule.get("name") == name:
                    return rule.get("query")
    except Exception:
        return None
    return None


def check_kafka(settings):
    from confluent_kafka.admin import AdminClient
    from confluent_kafka import KafkaException
    from ..kafka_client import quiet_logger, reason
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, "logger": quiet_logger(),
                         "socket.connection.setup.timeout.ms": 5000, **(settings.kafka_config or {})})
    try:
        admin.list_topics(timeout=min(10.0, settings.kafka_timeout))
    except KafkaException as err:
        raise ScenarioError(f"cannot reach Kafka at {settings.bootstrap_servers}: {reason(err)}",
                            "start the broker or fix {opt:bootstrap_servers}") from None


def wait_slot_active(pg, slot, timeout):
    """Waits until the connector's task has created its slot and streams from it (the slot active)."""
    deadline = time.monotonic() + timeout
    while True:
        state = pg.slot(slot)
        if state and state["active"]:
            return
        if time.monotonic() > deadline:
            raise ScenarioError(f"slot {slot} not {'active' if state else 'created'} within {timeout:g} s of the "
                                "connector's registration")
        time.sleep(0.5)


def wait_first_visits(pg, schema, gen, timeout):
    """Waits until the generator has committed its first visits (it loads its catalogue first: seconds on a busy
    machine), so that the stall has changes to lose."""
    deadline = time.monotonic() + timeout
    while int(pg.one(f'SELECT count(*) FROM "{schema}".events')[0]) == 0:
        gen.check()
        if time.monotonic() > deadline:
            raise ScenarioError(f"the scenario's generator wrote nothing within {timeout:g} s")
        time.sleep(0.5)


def run(settings, connect, timeline):
    """Runs the scenario; returns its summary (a dict whose "ok" is the expected outcome). Raises
    ScenarioError (or another UserError) when it cannot run."""
    # what the scenario needs of the stack, asked before anything is started: one line (exit 2) if missing
    connector_ops.check_plugin(connect, "io.debezium.connector.postgresql.PostgresConnector")
    check_kafka(settings)
    suffix = uuid.uuid4().hex[:8]
    schema, prefix, name = f"slotinv_{suffix}", f"slotinv{suffix}", f"slotinv-{suffix}"
    slot, publication = f"slotinv_{suffix}_slot", f"slotinv_{suffix}_pub"
    limit = settings.slot_limit * MIB
    inst = OwnPostgres(settings.slot_limit)
    gen = pg = su = None
    registered = False
    result = {"scenario": NAME, "connector": name, "slot": slot, "schema": schema, "topic_prefix": prefix,
              "limit_bytes": limit, "rate": None if settings.no_generator else settings.rate, "seed": settings.seed,
              "detected": {}}
    try:
        # ---- 1. the scenario's own PostgreSQL, tables, connector, generator
        t = time.monotonic()
        inst.start()
        result["instance"] = {"port": inst.port, "data": str(inst.data), "start_s": round(time.monotonic() - t, 1)}
        timeline.note(f"own PostgreSQL up on port {inst.port} ({time.monotonic() - t:.1f} s; data {inst.data}) with "
                      f"max_slot_wal_keep_size {settings.slot_limit}MB: the setting is server-wide, the stack's own "
                      f"PostgreSQL keeps its 2GB")
        env = child_env(settings)
        env.update(inst.pg)
        t = time.monotonic()
        res = subprocess.run(datagen_command() + ["--schema", schema, "--topic-prefix", prefix, "--max_iter", "0",
                                                  "--no-create-topic", "--quiet"],
                             env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            raise ScenarioError(f"creating the tables on the scenario's PostgreSQL failed: "
                                f"{last_line(res.stderr + res.stdout)}")
        pg = Postgres(inst.conn_kw())
        # one unsold unit in STOCK_KEPT of the initial stock kept: its 73,000 rows would make the recovery's
        # snapshot and verify three times longer and are not what this scenario shows (the generator sells
        # what is left and restocks, as after write-offs)
        removed = pg.one(f'WITH gone AS (DELETE FROM "{schema}".inventory_items WHERE sold_at IS NULL AND '
                      f'id % {STOCK_KEPT} <> 0 RETURNING 1) SELECT count(*) FROM gone')[0]
        rows = pg.one(f'SELECT (SELECT count(*) FROM "{schema}".products) + (SELECT count(*) FROM '
                      f'"{schema}".inventory_items)')[0]
        timeline.note(f"tables of schema {schema} created with their reference data ({time.monotonic() - t:.1f} s); "
                      f"{removed} of the initial stock's units removed, {rows} product and stock rows left")
        doc = connector_ops.load_document(ROOT / "connectors" / "thelook-postgres.json")
        name, config = connector_ops.apply_overrides(doc, name, prefix, schema, slot, publication)
        # the instance listens on 127.0.0.1 at its own port; the worker's ${env:PGPORT} is the stack's
        config.update({"database.hostname": "127.0.0.1", "database.port": str(inst.port)})
        conn_file = inst.data / "connector.json"
        conn_file.write_text(json.dumps({"name": name, "config": config}))
        t = time.monotonic()
        registered = True
        # streaming only at first (snapshot.mode no_data): the first snapshot is not what this scenario shows,
        # and the recovery deletes its topics anyway; the recovery registers with the file's own mode
        connector_ops.register(connect, name, {**config, "snapshot.mode": "no_data"}, timeout=240, settle=0,
                               environ=env)
        wait_slot_active(pg, slot, 120)
        result["register_s"] = round(time.monotonic() - t, 1)
        timeline.note(f"connector {name} registered on {connect.url} (slot {slot}, topics {prefix}.*; streaming "
                      f"only, no snapshot yet): slot active after {result['register_s']:.1f} s")
        target = Target(name, config, slot, schema, prefix, "RUNNING")
        t = time.monotonic()
        if not settings.no_generator:
            gen = Generator(settings, target, env)
            timeline.note(f"generator started: {settings.rate:g} visits/s, seed {settings.seed} (pid {gen.proc.pid})")
            wait_first_visits(pg, schema, gen, 90)
            timeline.note(f"generator's first visits committed {time.monotonic() - t:.1f} s after its start")

        # ---- 2. capture stalled until PostgreSQL invalidates the slot
        reply = connect.send("PUT", f"/connectors/{name}/stop")
        if reply.status >= 400:
            raise connect.refused("PUT", f"/connectors/{name}/stop", reply)
        wait_state(connect, name, "STOPPED", 60, tasks=())
        t_stall, lsn0 = time.monotonic(), pg.wal_lsn()
        s = pg.slot(slot)
        timeline.note(f"capture stalled: connector STOPPED, slot {slot} inactive, holds {mib(s['retained'])} "
                      f"({s['wal_status']}); limit {mib(limit)}", retained_bytes=s["retained"])
        time.sleep(settings.stall_writes)
        if gen:
            gen.check()
        gen_bytes = pg.wal_lsn() - lsn0
        s = pg.slot(slot)
        timeline.note(f"{'generator' if gen else 'no generator:'} wrote {mib(gen_bytes)} of WAL in "
                      f"{settings.stall_writes:g} s; the slot holds {mib(s['retained'])} ({s['wal_status']})",
                      retained_bytes=s["retained"])
        su = su or inst.superuser()
        switches = 0
        lsn_switch = pg.wal_lsn()
        with su.cursor() as cur:
            while pg.slot(slot)["retained"] <= limit + SEGMENT:
                # pg_switch_wal() moves to the next segment only when the current one has WAL in it
                cur.execute("SELECT pg_logical_emit_message(false, 'thelook-scenario', 'segment switch')")
                cur.execute("SELECT pg_switch_wal()")
                switches += 1
                if switches > 4 * (limit // SEGMENT) + 16:
                    raise ScenarioError(f"the slot still holds {mib(pg.slot(slot)['retained'])} after {switches} "
                                        "WAL segment switches")
        switch_bytes = pg.wal_lsn() - lsn_switch
        s = pg.slot(slot)
        timeline.note(f"{switches} WAL segment switches (pg_switch_wal(), {mib(switch_bytes)}): the slot holds "
                      f"{mib(s['retained'])}, more than max_slot_wal_keep_size: wal_status {s['wal_status']}",
                      retained_bytes=s["retained"])
        state = None
        deadline = time.monotonic() + settings.lost_timeout
        with su.cursor() as cur:
            while True:
                cur.execute("CHECKPOINT")     # where PostgreSQL removes old WAL and invalidates the slots needing it
                cur.execute("SELECT wal_status, to_jsonb(s) ->> 'invalidation_reason' FROM pg_replication_slots s "
                            "WHERE slot_name = %s", (slot,))
                state = cur.fetchone()
                if state and state[0] == "lost":
                    break
                if time.monotonic() > deadline:
                    raise ScenarioError(f"slot {slot} not invalidated within {settings.lost_timeout:g} s "
                                        f"({slot_detail(state) if state else 'gone'})")
                time.sleep(1)
        lost_s = time.monotonic() - t_stall
        written = pg.wal_lsn() - lsn0
        result.update(generator_wal_bytes=gen_bytes, switches=switches, switch_wal_bytes=switch_bytes,
                      wal_written_bytes=written, lost_after_s=round(lost_s, 1), wal_status=state[0],
                      invalidation_reason=state[1])
        timeline.note(f"slot {slot} INVALIDATED ({slot_detail(state)}) {lost_s:.1f} s after the stall began, "
                      f"{mib(written)} of WAL written meanwhile")

        # ---- 3. what each tool says
        detected = result["detected"]
        reply = connect.send("PUT", f"/connectors/{name}/resume")
        if reply.status >= 400:
            raise connect.refused("PUT", f"/connectors/{name}/resume", reply)
        t = time.monotonic()
        seen = None
        while time.monotonic() - t < settings.observe:
            status = connector_ops.get_status(connect, name) or {}
            failed = [x for x in status.get("tasks", []) if x.get("state") == "FAILED"]
            if failed:
                seen = "task FAILED: " + connector_ops.summarize_trace(connector_ops.scrub(failed[0].get("trace", ""),
                                                                                          config))
                break
            seen = (f"connector {status.get('connector', {}).get('state')}, tasks "
                    f"{[x.get('state') for x in status.get('tasks', [])] or 'none with a status'}")
            time.sleep(1)
        detected["connect"] = seen
        timeline.note(f"connector resumed: after {time.monotonic() - t:.0f} s Kafka Connect says {seen}"
                      + ("" if seen.startswith("task FAILED") else
                         " (Debezium retries the invalidated slot for 30 minutes, 'Cannot obtain valid replication "
                         "slot' in Connect's log, before failing: the REST API does not say why nothing streams)"))
        res = subprocess.run([sys.executable, str(ROOT / "scripts" / "register-connector"), "--file", str(conn_file),
                              "--timeout", "60"], env=env, capture_output=True, text=True, timeout=180,
                             stdin=subprocess.DEVNULL)
        line = last_line(res.stderr)
        detected["register_connector"] = {"exit_status": res.returncode, "line": line,
                                          "ok": res.returncode == 1 and mentions(line, slot, "invalidated")}
        timeline.note(f"scripts/register-connector: exit {res.returncode}: {line}")
        verified = run_verify(settings, target, env, 30)
        detected["verify"] = {"exit_status": verified.status, "line": verified.line(),
                              "ok": verified.status == 1 and mentions(verified.line(), slot, "invalidated")}
        timeline.note(f"thelook-datagen verify --slot {slot}: exit {verified.status}: {verified.line()}")
        code, lines = inst.status()
        line = next((ln for ln in lines if slot in ln), "")
        detected["stack_status"] = {"exit_status": code, "line": line, "ok": mentions(line, slot, "invalidated")}
        timeline.note(f"scripts/stack status (THELOOK_STACK_DIR={inst.data}): {line or 'no line about the slot'}")
        expr = prometheus_rule(settings.prometheus_url, ALERT)
        detected["prometheus_rule"] = expr
        timeline.note(f"Prometheus does not scrape this instance, so no alert fires for it; for the stack's own "
                      f"PostgreSQL, rule {ALERT} "
                      + (f"({expr}, for 30 s; severity critical when wal_status is lost) is loaded at "
                         f"{settings.prometheus_url}" if expr else
                         "(observability/prometheus/alerts.yml) would: Prometheus did not answer with it"))
        detected_ok = all(detected[k]["ok"] for k in ("register_connector", "verify", "stack_status"))

        # ---- 4. the recovery, on a quiet database: the generator stops first (its writes of the stall are what
        # the slot lost; a snapshot under writes is consistent too, but slower, and tests/cdc covers it)
        if gen:
            summary = gen.stop()
            result["generator"] = {k: summary.get(k) for k in ("visits", "visits_per_s", "rows", "errors")} if summary else None
            timeline.note("generator stopped" + (f": {summary['visits']} visits, {summary['rows']} rows" if summary else ""))
        t = time.monotonic()
        result["recovery"] = recover(settings, connect, name, config, inst.conn_kw(), schema,
                                     say=lambda m: timeline.note(m), timeout=300)
        result["recovery"]["seconds"] = round(time.monotonic() - t, 1)
        s = pg.slot(slot)
        timeline.note(f"recovered in {result['recovery']['seconds']:.1f} s: slot {slot} "
                      f"{'new, ' + s['wal_status'] if s else 'missing'}")

        # ---- 5. verify
        finished = finish(settings, target, env, timeline, result)
        result["ok"] = bool(detected_ok and finished)
        return result
    finally:
        if gen:
            gen.cleanup(timeline)
        if registered:
            try:
                connector_ops.delete(connect, name, reset=True, timeout=60)
                timeline.note(f"cleanup: connector {name} deleted with its offsets")
            except Exception as err:
                timeline.note(f"cleanup: deleting connector {name} FAILED ({err}): scripts/register-connector "
                              f"--name {name} --delete --reset-offsets")
            try:
                from confluent_kafka.admin import AdminClient
                admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers, **(settings.kafka_config or {})})
                layout = prefix_topics(admin, prefix)
                delete_topics(admin, layout, time.monotonic() + 60)
                timeline.note(f"cleanup: {len(layout)} topics of prefix {prefix} deleted")
            except Exception as err:
                timeline.note(f"cleanup: deleting the topics {prefix}.* FAILED ({err})")
        for conn in (pg, su):
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    pass
        problem = inst.wipe()
        timeline.note(f"cleanup: own PostgreSQL stopped and {inst.data} wiped"
                      if not problem else f"cleanup: own PostgreSQL: {problem} (stop it with THELOOK_STACK_DIR="
                      f"{inst.data} scripts/stack down --wipe)")
