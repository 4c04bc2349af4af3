"""The command-line layer of scripts/scenario: options (options.py), the timeline on stdout as it happens
(or, with --json, one JSON summary at the end), one error line `scenario: error: ...` on stderr, and the
project's exit statuses: 0 the expected outcome, 1 not, 2 could not run (console.py)."""
import json
import signal
import sys

from .. import console, options
from ..console import EXIT_CANNOT_RUN, EXIT_OK, EXIT_WRONG
from ..errors import UserError
from ..ops import connector as connector_ops
from . import ScenarioError, list_lines, lookup

TOOL = "scenario"
EXIT_INTERRUPTED = 130


def main(argv=None, out=None):
    out = out or sys.stdout
    argv = sys.argv[1:] if argv is None else list(argv)
    # SIGTERM like Ctrl-C: the scenario's cleanup (its `finally`: the connector, the generator, what it created)
    # still runs
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        s = options.parse_scenario_settings(argv)
        if s.list:
            out.write("\n".join(list_lines()) + "\n")
            return EXIT_OK
        if not s.scenario:
            raise ScenarioError("no scenario given", "scripts/scenario NAME; scripts/scenario --list shows them")
        run = lookup(s.scenario)
        from .common import Timeline
        timeline = Timeline(None if s.json else (lambda line: (out.write(line + "\n"), out.flush())))
        connect = connector_ops.client(s.connect_url, timeout=15)
        result = run(s, connect, timeline)
        result["timeline"] = timeline.entries
        result["seconds"] = round(timeline.now(), 1)
        if s.json:
            out.write(json.dumps(result, indent=2) + "\n")
        else:
            if not result["ok"] and result.get("verify_output"):
                sys.stderr.write(result["verify_output"].rstrip("\n") + "\n")
            out.write(f"[scenario] {s.scenario}: {'OK' if result['ok'] else 'NOT the expected outcome'} "
                      f"({result['seconds']:.0f} s)\n")
        out.flush()
        return EXIT_OK if result["ok"] else EXIT_WRONG
    except UserError as err:
        console.print_error(TOOL, err, options.SCENARIO.flags())
        return getattr(err, "exit_status", EXIT_CANNOT_RUN)
    except KeyboardInterrupt:
        console.print_error(TOOL, "interrupted (what the scenario changed was undone: its generator stopped, the "
                            "connector running, its tables, columns, instances and topics removed)")
        return EXIT_INTERRUPTED
