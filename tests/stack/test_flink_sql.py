"""A Flink SQL job submitted through the SQL gateway's REST API reads a Kafka topic and gets the right answer."""
import json
import random
import time
import uuid

import pytest
import requests
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.stack


class Gateway:
    def __init__(self, url, properties):
        self.url = url
        resp = requests.post(f"{url}/v1/sessions", json={"properties": properties}, timeout=30)
        resp.raise_for_status()
        self.session = resp.json()["sessionHandle"]

    def execute(self, statement, timeout=120):
        """Runs one statement; returns (rows, job id)."""
        base = f"{self.url}/v1/sessions/{self.session}"
        resp = requests.post(f"{base}/statements", json={"statement": statement}, timeout=30)
        resp.raise_for_status()
        op = resp.json()["operationHandle"]
        rows, token, deadline = [], 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            resp = requests.get(f"{base}/operations/{op}/result/{token}", params={"rowFormat": "JSON"}, timeout=30)
            body = resp.json()
            assert resp.status_code == 200, body.get("errors", body)
            if body["resultType"] == "NOT_READY":
                time.sleep(0.5)
                continue
            rows += [row["fields"] for row in body["results"]["data"] if row["kind"] == "INSERT"]
            if body["resultType"] == "EOS" or not body.get("nextResultUri"):
                return rows, body.get("jobID")
            token = int(body["nextResultUri"].split("/result/")[1].split("?")[0])
        raise AssertionError(f"no result for {statement!r} within {timeout}s")

    def close(self):
        requests.delete(f"{self.url}/v1/sessions/{self.session}", timeout=30)


def test_bounded_flink_sql_job_over_kafka_finishes_with_the_right_result(stack_env):
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    # the broker as Flink's own processes reach it (differs from the host's view under compose)
    flink_bootstrap = stack_env.get("FLINK_KAFKA_BOOTSTRAP_SERVERS", bootstrap)
    topic = f"test.stack.flinksql.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(timeout=30)
    rng = random.Random()
    records = [{"dept": rng.choice(["Men", "Women"]), "price": rng.randint(1, 10_000)} for _ in range(500)]
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for rec in records:
        producer.produce(topic, json.dumps(rec).encode())
    assert producer.flush(30) == 0
    expected = {}
    for rec in records:
        count, total = expected.get(rec["dept"], (0, 0))
        expected[rec["dept"]] = (count + 1, total + rec["price"])

    gateway = Gateway(stack_env["FLINK_SQL_GATEWAY_URL"], {"execution.runtime-mode": "batch"})
    try:
        gateway.execute(f"""
            CREATE TEMPORARY TABLE sales (dept STRING, price BIGINT) WITH (
              'connector' = 'kafka', 'topic' = '{topic}',
              'properties.bootstrap.servers' = '{flink_bootstrap}',
              'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset',
              'format' = 'json')""")
        rows, job_id = gateway.execute(
            "SELECT dept, COUNT(*) AS n, SUM(price) AS revenue FROM sales GROUP BY dept")
    finally:
        gateway.close()
        admin.delete_topics([topic])
    assert {dept: (n, revenue) for dept, n, revenue in rows} == expected
    assert job_id, "the gateway ran no Flink job"
    job = requests.get(f"{stack_env['FLINK_URL']}/jobs/{job_id}", timeout=10).json()
    for _ in range(60):
        if job["state"] != "RUNNING":
            break
        time.sleep(0.5)
        job = requests.get(f"{stack_env['FLINK_URL']}/jobs/{job_id}", timeout=10).json()
    assert job["state"] == "FINISHED"
