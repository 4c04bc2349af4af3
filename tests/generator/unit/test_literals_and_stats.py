import io
import json

from thelook_datagen.db.literals import float_array, int_array, lit, str_array
from thelook_datagen.stats import Log, Stats, format_text


def test_literals():
    assert lit("O'Brien") == "'O''Brien'"
    assert lit("back\\slash") == "'back\\slash'"      # standard_conforming_strings = on
    assert lit(None) == "NULL" and lit(True) == "true" and lit(3) == "3" and lit(1.5) == "1.5"
    assert str_array(["a'b", "c"]) == "ARRAY['a''b','c']" and str_array([]) == "'{}'"
    assert float_array([1.25]) == "ARRAY[1.25]" and int_array(None) == "'{}'"


def test_status_and_summary_json():
    stats = Stats(10.0)
    stats.add("orders", "insert", 3)
    stats.add("orders", "update", 2)
    stats.visit_done("purchase", 0.25)
    out = io.StringIO()
    log = Log("json", stream=out)
    log.status(stats.snapshot())
    log.summary(stats.snapshot(final=True))
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["event"] for x in lines] == ["status", "summary"]
    assert lines[1]["tables"]["orders"] == {"insert": 3, "update": 2}
    assert lines[1]["lag_s"] == 0.25 and lines[1]["target_visits_per_s"] == 10.0
    text = format_text(lines[1])
    assert "orders(+3 ~2 -0)" in text and "target 10/s" in text and "lag 0.250s" in text


def test_quiet_keeps_summary():
    out = io.StringIO()
    log = Log("text", quiet=True, stream=out)
    stats = Stats(0)
    log.status(stats.snapshot())
    log.info("hello")
    log.summary(stats.snapshot(final=True))
    assert out.getvalue().count("\n") == 1 and "summary" in out.getvalue()


def test_status_says_when_behind_schedule():
    stats = Stats(500.0)
    stats.visit_done("ghost", 2.5)
    assert "BEHIND SCHEDULE by 2.5s" in format_text(stats.snapshot())
    stats.visit_done("ghost", 0.01)
    assert "BEHIND" not in format_text(stats.snapshot())
