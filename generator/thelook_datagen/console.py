"""What every command of the project prints and how it exits: one convention for all tools.

- Progress: `[tool] message` lines (stdout or stderr, as the tool chooses).
- Errors: ONE line on stderr, `tool: error: what went wrong (what to do)`, never a traceback.
- Exit status: 0 success; 1 the command ran and the outcome is wrong (verify found differences, a
  job failed, the stack is not healthy); 2 it could not run (bad input, a component unreachable).
- Command-line errors (unknown option, bad value) are the same one line, with "did you mean" when
  an unknown option is close to a known one.

Library code raises `errors.UserError` (and its subclasses) and never prints; only this layer
turns them into lines and exit codes. Used by thelook-datagen, verify, register-connector,
submit-flink-jobs and scripts/stack.
"""
import argparse
import difflib
import sys

from .errors import UserError

EXIT_OK = 0
EXIT_WRONG = 1        # the check ran and found differences, or the outcome was wrong
EXIT_CANNOT_RUN = 2   # bad input, a component unreachable: nothing was decided


def error_line(tool, message):
    """`tool: error: message` as one line (inner newlines joined)."""
    text = " ".join(str(message).split())
    return f"{tool}: error: {text}"


def print_error(tool, err, flags=None, stream=None):
    """Prints a UserError (option placeholders rendered as command-line flags) or a message."""
    text = err.render(flags) if isinstance(err, UserError) else str(err)
    (stream or sys.stderr).write(error_line(tool, text) + "\n")
    (stream or sys.stderr).flush()


def say(tool, message, stream=None):
    """A progress line `[tool] message`."""
    out = stream or sys.stdout
    out.write(f"[{tool}] {message}\n")
    out.flush()


def suggest(word, candidates):
    """` (did you mean --x?)` for a mistyped option, or ''."""
    flag = word.split("=", 1)[0].lstrip("-")
    bare = {c.lstrip("-"): c for c in candidates}
    close = difflib.get_close_matches(flag, sorted(bare), n=2, cutoff=0.75)
    if not close:
        return ""
    return " (did you mean " + " or ".join(bare[c] for c in close) + "?)"


class ToolParser(argparse.ArgumentParser):
    """argparse with the project's error convention: one line on stderr, exit status 2, and
    suggestions for mistyped options (from the chosen subcommand's options, if any). Options must be
    spelled in full: argparse's prefix matching would take `down --wip` for `down --wipe` or
    `--del` for `--delete`."""
    tool = None   # the name in error lines, when it differs from prog (scripts/stack -> stack)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        sys.stderr.write(error_line(self.tool or self.prog, f"{message} (see {self.prog} --help)") + "\n")
        sys.exit(EXIT_CANNOT_RUN)

    def parse_args(self, args=None, namespace=None):
        ns, extras = self.parse_known_args(args, namespace)
        if extras:
            known = {s for s in self._chosen(ns)._option_string_actions if s.startswith("--")}
            hints = "".join(suggest(x, known) for x in extras if x.startswith("-"))
            self.error(f"unrecognized arguments: {' '.join(extras)}{hints}")
        return ns

    def _chosen(self, ns):
        """The subcommand's parser that parsed the arguments, or this one."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                sub = action.choices.get(getattr(ns, action.dest, None))
                if sub is not None:
                    return sub._chosen(ns) if isinstance(sub, ToolParser) else sub
        return self
