"""Errors the commands report as one clear line (never a traceback); see console.py.

Library code names the settings a user can change with the placeholder `{opt:NAME}` (NAME is the
setting's name, e.g. `{opt:if_exists}`): the command-line layer renders it as the flag
(`--if_exists`), other callers (a dashboard, a scenario) as the setting's name. Library messages
therefore never speak of flags themselves.
"""
import re

_OPTION = re.compile(r"\{opt:([a-z_]+)\}")


def render_options(text, names=None):
    """Replaces `{opt:NAME}` by names[NAME] (a flag), or by NAME when no mapping is given."""
    names = names or {}
    return _OPTION.sub(lambda m: names.get(m.group(1), m.group(1)), text)


class UserError(Exception):
    """A problem the user can fix: bad option, unreachable service, wrong password, missing privilege.

    `what` says what went wrong, `fix` (optional) what to do about it; both may name settings as
    `{opt:NAME}`. Exit status 2 (could not run)."""

    def __init__(self, what, fix=None):
        super().__init__(what)
        self.what = what
        self.fix = fix

    def render(self, names=None):
        text = self.what if not self.fix else f"{self.what} ({self.fix})"
        return render_options(text, names)

    def __str__(self):
        return self.render()


class Stopped(Exception):
    """SIGINT/SIGTERM arrived while waiting (e.g. for PostgreSQL to come back)."""
