"""Errors the command reports as one clear line (never a traceback)."""


class UserError(Exception):
    """A problem the user can fix: bad option, unreachable service, wrong password, missing privilege."""


class Stopped(Exception):
    """SIGINT/SIGTERM arrived while waiting (e.g. for PostgreSQL to come back)."""
