"""CDC scenarios: the situations that break real pipelines, each run on demand against the live stack
and proven by `thelook-datagen verify` (issue 13). `scripts/scenario NAME` runs one; `--list` lists them.

Like ops/, the library raises `errors.UserError` subclasses and never prints: progress goes through a
`Timeline` (timeline.py) whose lines the command-line layer (cli.py) prints or, with --json, keeps for the
summary. `ScenarioError` = could not run (exit 2: stack down, connector not registered, an outage the slot
cannot hold); a scenario that ran returns a result whose `ok` says whether the outcome was the expected one
(exit 0) or not (exit 1).
"""
from ..console import EXIT_CANNOT_RUN
from ..errors import UserError


class ScenarioError(UserError):
    """The scenario could not run (exit status 2)."""
    exit_status = EXIT_CANNOT_RUN


class NotBuilt(ScenarioError):
    """A scenario of the catalogue that is not built yet."""


# (name, one line, built): the seven scenarios of issue 13, in its order
CATALOGUE = (
    ("schema-change", "ADD COLUMN, a wider type and DROP COLUMN while the generator writes; Flink and verify "
     "follow the new shape", False),
    ("incremental-snapshot", "an execute-snapshot signal (signalling table) of products and users while "
     "streaming; read events counted, nothing double-counted", False),
    ("connector-outage", "the connector stopped (or paused) under load for --outage seconds: the slot's retained "
     "WAL growing, the drain time, the peak commit->Kafka latency, verify OK", True),
    ("slot-invalidated", "a slot invalidated by max_slot_wal_keep_size on a PostgreSQL of its own; verify FAILS, "
     "then the scripted recovery and verify OK", True),
    ("big-transaction", "one transaction of 500,000 row changes plus a catalogue-wide UPDATE under load; Connect's "
     "heap and the end-to-end time", False),
    ("replica-identity", "REPLICA IDENTITY DEFAULT and a TOASTed column: Debezium's unavailable-value placeholder "
     "reported per column", False),
    ("restart-storm", "Connect, Kafka, PostgreSQL and the Flink TaskManager restarted one after another under "
     "load; verify OK", False),
)
NAMES = tuple(name for name, _, _ in CATALOGUE)


def list_lines():
    """One line per scenario: name, what it does, and whether it is built."""
    width = max(len(n) for n in NAMES)
    return [f"{name:<{width}}  {line}" + ("" if built else " (not built yet)") for name, line, built in CATALOGUE]


def lookup(name):
    """The scenario's runner function for a built scenario; ScenarioError otherwise."""
    import difflib
    if name not in NAMES:
        close = difflib.get_close_matches(name or "", NAMES, n=1)
        raise ScenarioError(f"no scenario {name!r}" + (f" (did you mean {close[0]}?)" if close else ""),
                            "see scripts/scenario --list")
    built = {n: b for n, _, b in CATALOGUE}[name]
    if not built:
        raise NotBuilt(f"scenario {name} is not built yet", "scripts/scenario --list shows the ones that are")
    # each scenario is the module of its name (dashes as underscores) with a run(settings, connect, timeline)
    import importlib
    return importlib.import_module("." + name.replace("-", "_"), __name__).run
