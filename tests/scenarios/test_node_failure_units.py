"""node-failure's pure parts (no services): the --node names and the figures of a failure."""
import pytest

from thelook_datagen.scenarios import ScenarioError
from thelook_datagen.scenarios.node_failure import failure_figures, node_id, parse_node


def test_node_names():
    assert parse_node("kafka-2") == ("kafka", "kafka-2")
    assert parse_node("connect") == ("connect", "connect")
    assert parse_node("taskmanager:busiest") == ("taskmanager", None)
    assert (node_id("kafka"), node_id("kafka-3")) == (1, 3)
    for bad in ("kafka-1", "postgres", "kafka:most", "", "jobmanager-2"):
        with pytest.raises(ScenarioError, match="not a node of the cluster"):
            parse_node(bad)


def test_failure_figures():
    kill = 100_000
    events = [(kill - 9000, kill - 8990),          # before the window: not counted
              (kill - 1000, kill + 20_000),        # in flight at the kill, delivered 21 s after its commit
              (kill + 500, kill + 19_000),         # the first change committed after the kill: in Kafka at +19 s
              (kill + 25_000, kill + 25_040)]      # on time again
    f = failure_figures(events, kill, late_ms=2000)
    assert f == {"resumed_s": 19.0, "on_time_again_s": 20.0, "peak_latency_ms": 21_000, "late_changes": 2}
    assert failure_figures([(kill + 10, kill + 30)], kill, 2000)["on_time_again_s"] == 0.0
    assert failure_figures([], kill, 2000)["resumed_s"] is None
