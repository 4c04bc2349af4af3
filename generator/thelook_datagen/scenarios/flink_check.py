"""The Flink results of the target's topic prefix compared with PostgreSQL at the end of a scenario.
(Filled in by the Flink comparison work of issue 13; until then nothing is compared.)"""


def compare_if_running(settings, target, timeline):
    """None when no Flink job of the target's prefix runs (nothing to compare); else {"equal": bool, ...}."""
    return None
