"""CDC scenarios: the situations that break real pipelines, each run on demand against the live stack
and proven by `thelook-datagen verify` (issue 13). `scripts/scenario NAME` runs one; `--list` lists them.

Like ops/, the library raises `errors.UserError` subclasses and never prints: progress goes through a
`Timeline` (common.py) whose lines the command-line layer (cli.py) prints or, with --json, keeps for the
summary. `ScenarioError` = could not run (exit 2: stack down, connector not registered, an outage the slot
cannot hold); a scenario that ran returns a result whose `ok` says whether the outcome was the expected one
(exit 0) or not (exit 1).
"""
from ..console import EXIT_CANNOT_RUN
from ..errors import UserError


class ScenarioError(UserError):
    """The scenario could not run (exit status 2)."""
    exit_status = EXIT_CANNOT_RUN


# (name, one line): the seven scenarios of issue 13, in its order, then the cluster's
CATALOGUE = (
    ("schema-change", "ADD COLUMN (with and without a DEFAULT), a wider type and DROP COLUMN on users while the "
     "generator writes; Debezium, Flink and verify follow the new shape"),
    ("incremental-snapshot", "an execute-snapshot signal (signalling table) of products and users while "
     "streaming: its duration, read events per table, verify OK, nothing double-counted"),
    ("connector-outage", "the connector stopped (or paused) under load for --outage seconds: the slot's retained "
     "WAL growing, the drain time, the peak commit->Kafka latency, verify OK"),
    ("slot-invalidated", "a slot invalidated by max_slot_wal_keep_size on a PostgreSQL of its own; verify FAILS, "
     "then the scripted recovery and verify OK"),
    ("big-transaction", "one transaction of 500,000 row changes plus a catalogue-wide UPDATE under load; Connect's "
     "heap, the time until its last event is in Kafka, the visits' latency meanwhile"),
    ("replica-identity", "REPLICA IDENTITY DEFAULT and a TOASTed column: Debezium's unavailable-value placeholder "
     "reported per column by verify; FULL avoids it"),
    ("restart-storm", "Connect, Kafka, PostgreSQL and the Flink TaskManager restarted one after another under "
     "load, pauses from the seed; verify OK and the Flink results equal"),
    # issue 14: needs the cluster mode (scripts/stack up --cluster)
    ("node-failure", "one node of a cluster (a broker, a Connect worker or a TaskManager) killed with SIGKILL "
     "under load: recovery without an operator, duplicates, peak latency; the node back; verify OK"),
)
NAMES = tuple(name for name, _ in CATALOGUE)


def list_lines():
    """One line per scenario: its name and what it does."""
    width = max(len(n) for n in NAMES)
    return [f"{name:<{width}}  {line}" for name, line in CATALOGUE]


def lookup(name):
    """The scenario's runner function; ScenarioError for an unknown name."""
    import difflib
    if name not in NAMES:
        close = difflib.get_close_matches(name or "", NAMES, n=1)
        raise ScenarioError(f"no scenario {name!r}" + (f" (did you mean {close[0]}?)" if close else ""),
                            "see scripts/scenario --list")
    # each scenario is the module of its name (dashes as underscores) with a run(settings, connect, timeline)
    import importlib
    return importlib.import_module("." + name.replace("-", "_"), __name__).run
