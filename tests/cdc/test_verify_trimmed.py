"""verify on a change topic that retention trimmed, with the real broker, connector and verify.

Retention (cleanup.policy delete) removes a topic's oldest records by moving its log start offset; Kafka's
DeleteRecords request moves it the same way, at once, instead of after retention.bytes or retention.ms
(and the next retention check, minutes later). Then the topic no longer holds the events of rows that last
changed before its first offset: verify must name the topic and what it cannot check, in one line, and must
not call those rows missing; everything the topic still holds is checked as before.
"""
import re

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient


def test_a_trimmed_topic_is_named_and_its_older_rows_are_not_called_missing(pipeline):
    pipeline.generator("--if_exists", "replace", "--seed", "7", "--avg-qps", "50", "--max_iter", "300")
    pipeline.register("--wait-snapshot")    # verify right after: the snapshot must be in Kafka
    res, report = pipeline.verify()
    assert res.returncode == 0 and report["ok"], res.stdout + res.stderr
    users = next(t for t in report["tables"] if t["table"] == "users")
    assert users["trimmed"] == {} and users["not_checkable"] == 0 and "was trimmed" not in res.stdout

    # trim the users topic to its last half: the snapshot reads of the older users are gone
    topic = f"{pipeline.prefix}.{pipeline.schema}.users"
    admin = AdminClient({"bootstrap.servers": pipeline.stack_env["KAFKA_BOOTSTRAP_SERVERS"]})
    cut = users["events"] // 2
    admin.delete_records([TopicPartition(topic, 0, cut)])[TopicPartition(topic, 0, cut)].result(timeout=30)

    res, report = pipeline.verify()
    assert res.returncode == 0 and report["ok"], res.stdout + res.stderr
    trimmed = next(t for t in report["tables"] if t["table"] == "users")
    assert trimmed["trimmed"]["first_offsets"] == {"0": cut}
    assert trimmed["missing"] == 0 and trimmed["not_checkable"] > 0, trimmed
    assert trimmed["matched"] + trimmed["not_checkable"] == trimmed["rows_postgres"]
    assert trimmed["events"] < users["events"]
    line = [ln for ln in res.stdout.splitlines() if ln.startswith(f"note: topic {topic} was trimmed")]
    assert len(line) == 1, res.stdout
    assert re.search(rf"its first offset is {cut}, its oldest event is from \d{{4}}-\d\d-\d\dT", line[0]), line[0]
    assert f"{trimmed['not_checkable']} rows of users are not in the replay (not counted as missing)" in line[0]
    assert "rows not checkable: their changes were trimmed from " + topic in report["verdict"]
    untouched = next(t for t in report["tables"] if t["table"] == "orders")
    assert untouched["trimmed"] == {} and untouched["matched"] == untouched["rows_postgres"] > 0
