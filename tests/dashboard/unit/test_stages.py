"""The pipeline strip (pure): alerts colour the right stage, components' own states count, no data = grey."""
from thelook_dashboard import stages

HEALTHY = {"gen_up": 1, "gen_visits": 9.8, "gen_target": 10, "gen_lag": 0.0, "gen_finished": 0, "pg_up": 1,
           "pg_ops": {"insert": 50.0, "update": 12.0, "delete": 0.5}, "pg_retained": 1.5e6, "pg_confirm_lag": 2e5,
           "dbz_events": 62.0, "dbz_behind": 40, "connect_written": 62.0, "kafka_change_in": 62.0,
           "kafka_bytes_in": 9e4, "flink_in": 310.0, "flink_lag": 120, "flink_restarts": 0, "results_in": 20.0}
CONNECTOR = {"name": "thelook-postgres", "state": "RUNNING", "tasks": [{"id": 0, "state": "RUNNING"}]}
JOBS = [{"name": f"ecomm.analytics.j{i}", "state": "RUNNING"} for i in range(5)]
ANALYTICS = {"status_counts": {"updated": 99.0, "keys": 8}}


def states(strip):
    return {s["id"]: s["state"] for s in strip}


def test_a_healthy_pipeline_is_green_with_its_figures():
    strip = stages.build(HEALTHY, [], CONNECTOR, JOBS, ANALYTICS, 100.0, True, True)
    assert [s["id"] for s in strip] == ["generator", "postgres", "debezium", "kafka", "flink", "results"]
    assert set(states(strip).values()) == {"green"}
    by = {s["id"]: s for s in strip}
    assert by["generator"]["rates"][0]["value"] == 9.8 and by["generator"]["detail"] == "10 visits/s asked"
    assert [r["value"] for r in by["postgres"]["rates"]] == [50.0, 12.0, 0.5]
    assert by["flink"]["detail"] == "5/5 jobs running"
    assert by["results"]["lags"][0]["value"] == 1.0


def test_alerts_go_to_their_stage_and_severity_sets_the_colour():
    alerts = [
        {"labels": {"alertname": "PostgresSlotWalNotReserved", "severity": "critical"}, "state": "firing",
         "annotations": {"summary": "slot lost"}},
        {"labels": {"alertname": "DebeziumNoChangeEvents", "severity": "warning"}, "state": "pending",
         "annotations": {}},
        {"labels": {"alertname": "JvmHeapAfterGcHigh", "instance": "taskmanager", "severity": "warning"},
         "state": "firing", "annotations": {}},
        {"labels": {"alertname": "Whatever", "severity": "warning"}, "state": "inactive", "annotations": {}},
    ]
    strip = stages.build(HEALTHY, alerts, CONNECTOR, JOBS, ANALYTICS, 100.0, True, True)
    st = states(strip)
    assert st["postgres"] == "red" and st["debezium"] == "amber" and st["flink"] == "amber"
    assert st["generator"] == st["kafka"] == st["results"] == "green"
    pg = next(s for s in strip if s["id"] == "postgres")
    assert pg["alerts"][0]["summary"] == "slot lost"


def test_paused_or_failed_components_without_alerts_yet():
    paused = {"name": "c", "state": "PAUSED", "tasks": [{"id": 0, "state": "PAUSED"}]}
    failed = {"name": "c", "state": "RUNNING", "tasks": [{"id": 0, "state": "FAILED"}]}
    assert states(stages.build(HEALTHY, [], paused, JOBS, ANALYTICS, 100.0, True, True))["debezium"] == "amber"
    assert states(stages.build(HEALTHY, [], failed, JOBS, ANALYTICS, 100.0, True, True))["debezium"] == "red"
    jobs = JOBS[:4] + [{"name": "ecomm.analytics.x", "state": "RESTARTING"}]
    strip = stages.build(HEALTHY, [], CONNECTOR, jobs, ANALYTICS, 100.0, True, True)
    assert states(strip)["flink"] == "amber"
    assert next(s for s in strip if s["id"] == "flink")["detail"] == "4/5 jobs running"


def test_without_prometheus_the_figures_are_unknown_not_stale():
    strip = stages.build(HEALTHY, [], None, None, {}, 100.0, False, False)
    assert all(r["value"] is None for s in strip for r in s["rates"])
    assert set(states(strip).values()) == {"unknown"}


def test_queries_escape_the_topic_prefix():
    q = stages.queries("my.shop", "demo")
    assert 'topic=~"my\\\\.shop\\\\.demo\\\\..*"' in q["kafka_change_in"]
    assert 'schema="demo"' in q["pg_ops"]
