"""Removing a benchmark's throwaway pipeline (its Flink jobs, connector, slot, publication, schema and
topics), best effort: whatever is already gone is skipped, the figures already printed stand."""
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
from confluent_kafka.admin import AdminClient

ROOT = Path(__file__).resolve().parents[1]


def remove_pipeline(env, *, connector, schema, prefix, slot, submit=None):
    """`submit`: the submit-flink-jobs command of the benchmark's prefix (its jobs are cancelled first).
    The slot is dropped once the deleted connector has let go of it (a minute at most); the publication
    is `{slot}_pub`, as register-connector names it."""
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if submit:
        subprocess.run([str(a) for a in submit] + ["--cancel"], **quiet)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "register-connector"), "--name", connector, "--delete"],
                   **quiet)
    conn = psycopg2.connect(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"],
                            password=env["PGPASSWORD"], dbname=env["PGDATABASE"])
    conn.autocommit = True
    cur = conn.cursor()
    for _ in range(60):
        cur.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        row = cur.fetchone()
        if row is None:
            break
        if not row[0]:
            cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            break
        time.sleep(1)
    cur.execute(f"DROP PUBLICATION IF EXISTS {slot}_pub")
    cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    conn.close()
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"]})
    topics = [t for t in admin.list_topics(timeout=30).topics
              if t.startswith(prefix + ".") or t == f"__debezium-heartbeat.{prefix}"]
    for fut in (admin.delete_topics(topics, operation_timeout=30).values() if topics else ()):
        try:
            fut.result()
        except Exception:  # noqa: BLE001 - best effort: a topic already gone
            pass
