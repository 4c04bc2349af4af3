"""The dashboard's stages in cluster mode (no services): every scraped node counted per kind, a node down makes
its stage amber and is named, alerts of kafka-2 land on the Kafka stage; a single node changes nothing."""
from thelook_dashboard import stages


def _stage(out, sid):
    return next(s for s in out if s["id"] == sid)


def test_nodes_of_a_cluster_are_shown_per_stage():
    nodes = {"kafka": 1, "kafka-2": 0, "kafka-3": 1, "connect": 1, "connect-2": 1, "jobmanager": 1,
             "taskmanager": 1, "taskmanager-2": 1}
    out = stages.build({"nodes": nodes}, [], None, None, {}, now=0, prometheus_ok=True, results_kafka_ok=True)
    assert _stage(out, "kafka")["detail"] == "2/3 brokers up (kafka-2 down)"
    assert _stage(out, "kafka")["state"] == "amber"
    assert _stage(out, "debezium")["detail"] == "2/2 Connect workers up"
    assert _stage(out, "flink")["detail"] == "2/2 TaskManagers up"
    alert = {"labels": {"alertname": "JvmHeapAfterGcHigh", "instance": "taskmanager-2"}}
    assert stages.stage_of(alert) == "flink"


def test_a_single_node_adds_nothing():
    nodes = {"kafka": 1, "connect": 1, "jobmanager": 1, "taskmanager": 1}
    out = stages.build({"nodes": nodes}, [], None, None, {}, now=0, prometheus_ok=True, results_kafka_ok=True)
    assert _stage(out, "kafka")["detail"] == "" and _stage(out, "flink")["detail"] == ""
