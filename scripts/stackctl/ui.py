"""Progress lines on stderr (stdout is reserved for `env` exports and `status`)."""
import sys


def say(message):
    sys.stderr.write(f"[stack] {message}\n")
    sys.stderr.flush()
