"""Operating the stack from Python: the Debezium connector on Kafka Connect (connector.py), the Flink
SQL jobs (flink_jobs.py), and the small REST client both use (rest.py).

The functions take plain values, return results and raise; they never print. Progress goes through
an optional `say(message)` callback. Errors are `OpsError` (a `UserError`: could not run, e.g. bad
input, a service unreachable or refusing the request; exit status 2) or its subclass `Failed` (it
ran and the outcome is wrong: a connector or job FAILED or not running in time; exit status 1).
Both may carry `details`: lines worth showing before the one-line summary (a task's error trace,
the invalid settings), already free of secrets. The command-line entry points
(scripts/register-connector, scripts/submit-flink-jobs) turn them into the project's lines and exit
codes (console.py); a dashboard or a scenario script calls the same functions.
"""
from ..console import EXIT_CANNOT_RUN, EXIT_WRONG
from ..errors import UserError


class OpsError(UserError):
    """Could not run (exit status 2); `details` as above."""
    exit_status = EXIT_CANNOT_RUN

    def __init__(self, what, fix=None, details=()):
        super().__init__(what, fix)
        self.details = list(details)


class Failed(OpsError):
    """The operation ran and its outcome is wrong (exit status 1)."""
    exit_status = EXIT_WRONG


def exit_status(err):
    """The exit status for a UserError raised by these modules (Failed: 1, any other: 2)."""
    return getattr(err, "exit_status", EXIT_CANNOT_RUN)


def quiet(message):
    """The default progress callback: says nothing."""
