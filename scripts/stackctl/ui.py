"""Progress lines `[stack] ...` on stderr (stdout is reserved for `env` exports and `status`)."""
import sys

from thelook_datagen.console import say as _say

from .settings import TOOL


def say(message):
    _say(TOOL, message, stream=sys.stderr)
