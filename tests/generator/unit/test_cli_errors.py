"""Bad command lines, run as real processes but needing no service: one line on stderr, exit 2,
no traceback, for the generator and verify alike (values are checked before anything connects)."""
import os
import subprocess
import sys

import pytest
from testkit import one_line_error

# No PG*/KAFKA variables: nothing could be reached even if a check came too late.
CLEAN = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "KAFKA", "THELOOK_"))}


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "thelook_datagen", *args], env={**CLEAN, **(env or {})},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, env, needle", [
    (["--avg-qps", "-5"], {}, "--avg-qps"),
    (["--ghost_ratio", "2"], {}, "--ghost_ratio"),
    (["--if_exists", "merge"], {}, "--if_exists"),
    (["--max_iter", "ten"], {}, "--max_iter"),
    (["--port", "0"], {}, "--port"),
    (["--avg-qsp", "3"], {}, "did you mean --avg-qps?"),
    ([], {"THELOOK_AVG_QPS": "fast"}, "THELOOK_AVG_QPS"),
    ([], {"THELOOK_IF_EXISTS": "merge"}, "THELOOK_IF_EXISTS"),
    (["verify", "--kafka-config", "novalue"], {}, "--kafka-config: expected KEY=VALUE"),
    (["verify", "--cut", "middle"], {}, "--cut"),
    (["verify", "--tabels", "users"], {}, "did you mean --tables?"),
    (["verify"], {"THELOOK_VERIFY_TIMEOUT": "-1"}, "THELOOK_VERIFY_TIMEOUT"),
])
def test_bad_values_one_line_exit_2(args, env, needle):
    proc = run(*args, env=env)
    tool = "thelook-datagen verify" if args[:1] == ["verify"] else "thelook-datagen"
    line = one_line_error(proc, f"{tool}: error: ")
    assert proc.returncode == 2 and needle in line, line


def test_verify_bogus_option_is_one_line_not_a_usage_dump():
    proc = run("verify", "--bogus")
    assert one_line_error(proc) == ("thelook-datagen verify: error: unrecognized arguments: --bogus "
                                    "(see thelook-datagen verify --help)")
