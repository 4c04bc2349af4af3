"""schema-change on the real stack (stack tier), on the scenario tests' shared pipeline (conftest.py):
`scripts/scenario schema-change --phase 3 --rate 20`: exit 0; Debezium's users events carry each added column
after its ALTER and lose the dropped one; the restarted generator fills the new columns; the widened column
carries a value beyond integer; verify during the change counts fields absent from older events as NULL and
reports the defaulted column as not in the change stream (OK); verify at the end OK; users back to its
original columns and the connector RUNNING."""
import time

import pytest
from scenariokit import connector_states, log, run_scenario


@pytest.mark.timeout(360)
def test_schema_change_is_followed_by_debezium_and_verify(scenario_pipeline):
    p = scenario_pipeline
    columns_before = p.sql(f"SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = "
                           f"'{p.schema}.users'::regclass AND attnum > 0 AND NOT attisdropped")
    t0 = time.monotonic()
    res, summary = run_scenario(p, "schema-change", "--phase", 3, "--rate", 20, "--seed", 5, timeout=240)
    assert res.returncode == 0 and summary, (summary or {}).get("checks") or res.stdout[-4000:] + res.stderr
    assert summary["ok"] and all(summary["checks"].values()), summary["checks"]
    steps = summary["steps"]
    # Debezium followed every DDL without a restart: the first users event after each carries the new shape
    for step in ("add_points", "add_tier", "filled", "widen", "drop_tier"):
        assert steps[step]["observed"], (step, steps[step])
        assert steps[step]["first_event_after_ddl_s"] >= 0
    assert steps["add_tier"]["first_value"] is not None       # 'bronze' or the generator's value, never absent
    assert isinstance(steps["filled"]["points"], int) and steps["filled"]["tier"] in ("bronze", "silver", "gold",
                                                                                      "platinum")
    assert summary["generator_restarts"] == 2 and summary["users_before"] >= 40
    assert summary["users_with_points"] > 1 and summary["users"] > summary["users_with_points"]
    # verify while both columns existed: OK, with both kinds of late column reported
    during = summary["verify_during"]
    assert during["ok"] and during["exit_status"] == 0, during
    assert during["absent_as_null"]["loyalty_points"] > 0
    tier = during["not_in_stream"]["loyalty_tier"]
    assert tier["rows"] > 0 and tier["before"] and tier["before_ms"] >= steps["add_tier"]["started_ms"]
    assert "not in the change stream" in during["verdict"]
    # verify at the end (the added columns dropped again) OK; users back to its columns; connector RUNNING
    assert summary["verify"]["ok"] and summary["verify"]["exit_status"] == 0
    assert p.sql(f"SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = "
                 f"'{p.schema}.users'::regclass AND attnum > 0 AND NOT attisdropped") == columns_before
    assert connector_states(p) == ["RUNNING", "RUNNING"]
    log(f"figures: {tier['rows']} rows not in stream (loyalty_tier), {during['absent_as_null']['loyalty_points']} "
        f"absent as NULL; verify during {during['seconds']} s, at the end {summary['verify']['seconds']} s; "
        f"scenario {summary['seconds']} s; test {time.monotonic() - t0:.1f}s")
