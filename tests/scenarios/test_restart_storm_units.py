"""restart-storm without a stack: the --services list, the pauses drawn from the seed, one-line errors."""
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import one_line_error
from thelook_datagen.scenarios import ScenarioError
from thelook_datagen.scenarios.restart_storm import SERVICES, parse_services, pauses

ROOT = Path(__file__).resolve().parents[2]


def test_services_in_the_given_order():
    assert parse_services("kafka, connect") == ["kafka", "connect"]
    assert parse_services(",".join(SERVICES)) == list(SERVICES)


@pytest.mark.parametrize("text, words", [("zookeeper", "unknown zookeeper"), ("", "empty"),
                                         ("kafka,kafka", "twice")])
def test_bad_services_are_refused(text, words):
    with pytest.raises(ScenarioError, match=words):
        parse_services(text)


def test_pauses_repeat_with_the_seed_and_stay_in_range():
    a, b, c = pauses(7, 4, 2.0, 9.0), pauses(7, 4, 2.0, 9.0), pauses(8, 4, 2.0, 9.0)
    assert a == b and a != c
    assert all(2.0 <= p <= 9.0 for p in a + c) and len(a) == 4
    assert pauses(1, 3, 5.0, 5.0) == [5.0, 5.0, 5.0]
    with pytest.raises(ScenarioError, match="below"):
        pauses(1, 2, 5.0, 1.0)


@pytest.mark.parametrize("args, words", [(["--services", "kafka,zk"], "unknown zk"),
                                         (["--pause-min", "9", "--pause-max", "3"], "below --pause-min"),
                                         (["--pause-min", "-1"], "--pause-min")])
def test_command_line_errors_are_one_line(args, words):
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "scenario"), "restart-storm", *args],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert words in one_line_error(res, "scenario: error:")
