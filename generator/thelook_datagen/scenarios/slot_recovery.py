"""The recovery from an invalidated replication slot, scripted: the steps of README.md's runbook "Recovering from
an invalidated slot", in its order, as the slot-invalidated scenario runs them.

A lost slot cannot be repaired: PostgreSQL removed WAL the connector had not read, so the changes in it are
gone for Kafka. Only a new snapshot through a new slot restores a pipeline whose topics equal the tables, and
it must go into EMPTY topics: a snapshot emits a read event per row that exists now and nothing for the rows
deleted meanwhile, so on top of the old topics a consumer (verify, Flink, a compacted topic) would keep those
rows forever. Hence:
  1. the connector deleted with its offsets erased (a new connector of that name would resume from them);
  2. the slot dropped (Debezium creates a new one), again if it comes back, until it stays gone (see
     SLOT_QUIET_S: a task of the deleted connector may linger and create it);
  3. the prefix's Flink jobs, if any, cancelled (they read the topics about to be deleted);
  4. the prefix's topics deleted and created again empty, with the partitions and replication they had;
  5. the connector registered again: new slot, new snapshot (waited for);
  6. the Flink jobs resubmitted (scripts/submit-flink-jobs --topic-prefix P), if step 3 cancelled any.
Verify then proves the topics equal the tables again.
"""
import subprocess
import time

from . import ScenarioError
from ..ops import connector as connector_ops
from ..ops import flink_jobs
from .own_postgres import ROOT


def prefix_topics(admin, prefix, timeout=10):
    """{topic: (partitions, replication factor)} of the prefix's change topics and Debezium's heartbeat topic."""
    meta = admin.list_topics(timeout=timeout)
    return {name: (len(t.partitions), len(next(iter(t.partitions.values())).replicas) if t.partitions else 1)
            for name, t in meta.topics.items()
            if name.startswith(prefix + ".") or name == f"__debezium-heartbeat.{prefix}"}


def delete_topics(admin, names, deadline):
    """Deletes the topics and waits until the broker no longer lists them."""
    if not names:
        return
    for future in admin.delete_topics(list(names), operation_timeout=30).values():
        try:
            future.result(30)
        except Exception:       # already gone is fine; a topic not deleted shows below as still listed
            pass
    while set(names) & set(admin.list_topics(timeout=10).topics):
        if time.monotonic() > deadline:
            raise ScenarioError(f"topics {', '.join(sorted(set(names)))} still listed after their deletion")
        time.sleep(0.5)


def create_topics(admin, layout, deadline):
    """Creates the topics (name -> (partitions, replication)) empty; retries while the broker still finishes
    deleting their namesakes."""
    from confluent_kafka.admin import NewTopic
    left = dict(layout)
    while left:
        futures = admin.create_topics([NewTopic(n, p, r) for n, (p, r) in left.items()], operation_timeout=30)
        for name, future in futures.items():
            try:
                future.result(30)
                left.pop(name)
            except Exception as err:
                # "already exists" / "marked for deletion": the broker is still deleting the old one: retry
                if time.monotonic() > deadline:
                    raise ScenarioError(f"topic {name} could not be created again: {err}") from None
        if left:
            time.sleep(1)


def recreate_prefix_topics(bootstrap_servers, prefix, kafka_config=None, timeout=120.0):
    """Step 4 of the runbook, also for an operator (README): the prefix's topics deleted and created again empty
    with the partitions and replication they had. Returns {topic: (partitions, replication)}."""
    from confluent_kafka.admin import AdminClient
    deadline = time.monotonic() + timeout
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, **(kafka_config or {})})
    layout = prefix_topics(admin, prefix)
    delete_topics(admin, layout, deadline)
    create_topics(admin, layout, deadline)
    return layout


def prefix_jobs(settings, prefix):
    """The Flink jobs reading the prefix's topics (named PREFIX.analytics.JOB), or None when Flink does not
    answer (then there is nothing this recovery can resubmit)."""
    try:
        jm = flink_jobs.jobmanager_client(settings.flink_url, timeout=5)
        return [j for j in flink_jobs.running_jobs(jm) if j["name"].startswith(prefix + ".analytics.")]
    except Exception:
        return None


# A task started on the lost slot (the connector resumed, a worker restarted) lingers in the Connect worker after
# the connector's deletion: Debezium 3.6.1 retries the slot every 2 s for 30 minutes and does not stop when
# asked. Once the slot is dropped it goes on and may create the slot again; a new connector's task creating it at
# the same moment fails with "replication slot ... already exists" (one scenario run in seven before this
# check). So the slot must stay gone for a few of those retries before the connector is registered again.
SLOT_QUIET_S = 6.0


def drop_slot_for_good(conn, slot, deadline):
    """Drops `slot` until it has stayed gone for SLOT_QUIET_S; a process holding it (a lingering task of the deleted
    connector, same role) is terminated. Returns (drops, terminated)."""
    from psycopg2.errors import ObjectInUse
    drops = terminated = 0
    gone_since = None
    with conn.cursor() as cur:
        while True:
            cur.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (slot,))
            row = cur.fetchone()
            now = time.monotonic()
            if row is None:
                gone_since = gone_since or now
                if now - gone_since >= SLOT_QUIET_S:
                    return drops, terminated
            elif row[0] is not None:
                cur.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                terminated += 1
                gone_since = None
            else:
                try:
                    cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                    drops += 1
                except ObjectInUse:         # taken between the query and the drop: next round
                    pass
                gone_since = None
            if now > deadline:
                raise ScenarioError(f"slot {slot} keeps coming back (dropped {drops} times): a task of the deleted "
                                    "connector still runs in the Connect worker; restart the worker")
            time.sleep(0.5)


def recover(settings, connect, name, config, pg_conn_kw, schema, say, timeout=180.0):
    """Runs the recovery; returns {"steps": {step: seconds}, "topics": n, "flink_jobs": n or None}. Raises
    ScenarioError (or an OpsError) when a step fails."""
    import psycopg2
    deadline = time.monotonic() + timeout
    prefix, slot = config["topic.prefix"], config.get("slot.name") or "debezium"
    steps = {}

    t = time.monotonic()
    connector_ops.delete(connect, name, config, reset=True, timeout=60)
    steps["delete_connector"] = round(time.monotonic() - t, 1)
    say(f"recovery 1/6: connector {name} deleted, its offsets erased ({steps['delete_connector']:.1f} s)")

    t = time.monotonic()
    conn = psycopg2.connect(**pg_conn_kw)
    conn.autocommit = True
    try:
        drops, terminated = drop_slot_for_good(conn, slot, deadline)
    finally:
        conn.close()
    steps["drop_slot"] = round(time.monotonic() - t, 1)
    say(f"recovery 2/6: slot {slot} dropped" + (f" {drops} times" if drops > 1 else "" if drops else
                                                  " (it was gone already)")
        + (f", {terminated} lingering process(es) holding it terminated" if terminated else "")
        + f"; it stayed gone for {SLOT_QUIET_S:g} s ({steps['drop_slot']:.1f} s)")

    jobs = prefix_jobs(settings, prefix)
    if jobs:
        flink_jobs.cancel_jobs(flink_jobs.jobmanager_client(settings.flink_url), prefix, 90)
        say(f"recovery 3/6: {len(jobs)} Flink jobs of prefix {prefix} cancelled: "
            f"{', '.join(j['name'] for j in jobs)}")
    else:
        say(f"recovery 3/6: no Flink job reads prefix {prefix}" + (" (Flink does not answer)" if jobs is None else "")
            + ": nothing to cancel or resubmit")

    t = time.monotonic()
    layout = recreate_prefix_topics(settings.bootstrap_servers, prefix, settings.kafka_config,
                                    max(30.0, deadline - time.monotonic()))
    steps["recreate_topics"] = round(time.monotonic() - t, 1)
    say(f"recovery 4/6: {len(layout)} topics of prefix {prefix} deleted and created again empty "
        f"({steps['recreate_topics']:.1f} s)")

    t = time.monotonic()
    connector_ops.register(connect, name, config, timeout=max(30.0, deadline - time.monotonic()), settle=0,
                           snapshot=True)
    steps["register_snapshot"] = round(time.monotonic() - t, 1)
    say(f"recovery 5/6: connector {name} registered again, new slot {slot}, initial snapshot committed "
        f"({steps['register_snapshot']:.1f} s)")

    if jobs:
        t = time.monotonic()
        res = subprocess.run([str(ROOT / "scripts" / "submit-flink-jobs"), "--topic-prefix", prefix, "--schema", schema],
                             capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
        if res.returncode != 0:
            last = ([ln for ln in res.stderr.splitlines() if ln.strip()] or ["no output"])[-1]
            raise ScenarioError(f"resubmitting the Flink jobs of prefix {prefix} failed: {last}")
        steps["resubmit_flink"] = round(time.monotonic() - t, 1)
        say(f"recovery 6/6: {len(jobs)} Flink jobs of prefix {prefix} resubmitted ({steps['resubmit_flink']:.1f} s)")
    else:
        say("recovery 6/6: no Flink jobs to resubmit")
    return {"steps": steps, "topics": len(layout), "flink_jobs": None if jobs is None else len(jobs)}
