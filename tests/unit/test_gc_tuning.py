"""The CLI runs the garbage collector less often than Python's default (hotpath.tune_garbage_collector):
checked in a fresh interpreter that runs the real entry point."""

from __future__ import annotations

import subprocess
import sys

from exectrail.hotpath import GC_THRESHOLD

PROBE = """
import gc, sys
from exectrail.cli.main import main
before = gc.get_threshold()
sys.argv = ["exectrail", "--version"]
try:
    main()
except SystemExit:
    pass
print(before[0], gc.get_threshold()[0], gc.get_threshold()[1:] == before[1:], gc.get_freeze_count() > 0)
"""


def test_the_command_collects_less_often_and_leaves_its_imports_out() -> None:
    probe = [sys.executable, "-c", PROBE]
    done = subprocess.run(probe, capture_output=True, text=True, check=True, timeout=60)
    default, tuned, older_kept, frozen = done.stdout.split()[-4:]
    assert int(default) == 700 and int(tuned) == GC_THRESHOLD > 700
    assert older_kept == "True" and frozen == "True"
