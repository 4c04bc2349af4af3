"""big-transaction and replica-identity without a stack: their options (defaults, variables, bounds), the
connector's table list with the scenario's tables, the placeholder count of a topic's events, the expected
outcome of replica-identity, and the visits' latency figures of big-transaction."""
import pytest

from thelook_datagen import options
from thelook_datagen.errors import UserError
from thelook_datagen.scenarios import lookup
from thelook_datagen.scenarios.big_transaction import latency_figures
from thelook_datagen.scenarios.replica_identity import count_placeholders, expected_outcome
from thelook_datagen.scenarios.scenario_table import with_tables
from thelook_datagen.verify.values import UNAVAILABLE_PLACEHOLDER


def test_options_defaults_environment_and_bounds():
    s = options.parse_scenario_settings(["big-transaction"], environ={})
    assert (s.changes, s.price_factor, s.big_timeout, s.toast_rows, s.toast_kib) == (500000, 1.05, 600.0, 20, 16)
    env = {"THELOOK_BIG_TRANSACTION_CHANGES": "50000", "THELOOK_BIG_TRANSACTION_PRICE_FACTOR": "0.9",
           "THELOOK_BIG_TRANSACTION_TIMEOUT": "120", "THELOOK_REPLICA_IDENTITY_ROWS": "5",
           "THELOOK_REPLICA_IDENTITY_TOAST_KIB": "4"}
    s = options.parse_scenario_settings(["replica-identity", "--toast-rows", "7"], environ=env)
    assert (s.changes, s.price_factor, s.big_timeout, s.toast_rows, s.toast_kib) == (50000, 0.9, 120.0, 7, 4)
    # a value below the TOAST threshold (about 2 kB) would not be TOASTed: refused
    with pytest.raises(SystemExit):
        options.parse_scenario_settings(["replica-identity", "--toast-kib", "2"], environ={})
    with pytest.raises(UserError):
        options.parse_scenario_settings(["big-transaction"], environ={"THELOOK_BIG_TRANSACTION_CHANGES": "0"})


def test_both_are_built():
    assert callable(lookup("big-transaction")) and callable(lookup("replica-identity"))


def test_the_include_list_gains_each_table_once():
    assert with_tables("s.a,s.b", "s", ["t"]) == "s.a,s.b,s.t"
    assert with_tables("s.a, s.t", "s", ["t", "u"]) == "s.a,s.t,s.u"
    assert with_tables(None, "s", ["t"]) == "s.t"


def _u(big, before):
    return {"op": "u", "before": before, "after": {"id": 1, "n": 1, "big": big}}


def test_placeholders_and_before_images_are_counted_from_update_events_only():
    events = [{"op": "c", "after": {"id": 1, "big": "ab"}}, _u(UNAVAILABLE_PLACEHOLDER, None),
              _u(UNAVAILABLE_PLACEHOLDER, None), _u("ab", {"id": 1})]
    assert count_placeholders(events) == (3, 2, "key only/none")
    assert count_placeholders([_u("ab", {"id": 1, "n": 0, "big": "ab"})]) == (1, 0, "full")
    assert count_placeholders([]) == (0, 0, "-")


def test_expected_outcome_needs_all_default_updates_without_the_value_and_none_of_full():
    nc = {"scenario_toast_default": {"big": 5}}
    good = {"scenario_toast_default": (5, 5), "scenario_toast_full": (5, 0)}
    assert expected_outcome(5, good, nc)
    assert not expected_outcome(5, dict(good, scenario_toast_full=(5, 1)), nc)
    assert not expected_outcome(5, dict(good, scenario_toast_default=(5, 4)), nc)
    assert not expected_outcome(5, dict(good, scenario_toast_default=(4, 4)), nc), "an UPDATE event missing"
    assert not expected_outcome(5, good, {}), "verify must report the column"
    assert not expected_outcome(5, good, dict(nc, scenario_toast_full={"big": 1}))


def test_latency_figures_leave_the_transactions_own_changes_out():
    commit = 10_000
    events = [(commit, commit + 30_000), (commit + 5, commit + 9_000), (commit + 10, commit + 4_010),
              (commit + 20, commit + 1_020)]
    assert latency_figures(events, commit) == (3, 4_000, 8_995)
    assert latency_figures([], commit) == (0, None, None)
