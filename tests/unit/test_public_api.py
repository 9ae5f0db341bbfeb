"""The public API (``import exectrail``): the README's three-line example runs, ``read_events`` gives
exactly what ``review --format jsonl`` prints, every exported name resolves, and importing the
package stays cheap."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import exectrail
from tests.support.cli import run_cli
from tests.support.paths import CAPTURED_LOGS, README


def readme_library_example() -> str:
    """The ```python block of the README that uses ``exectrail.read_events``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    (example,) = [block for block in blocks if "exectrail.read_events" in block]
    return str(example)


def test_the_readme_example_is_three_lines_and_runs() -> None:
    example = readme_library_example()
    assert len([line for line in example.splitlines() if line.strip()]) == 3
    log = CAPTURED_LOGS[0]
    code = example.replace("/var/log/audit/audit.log", str(log))
    assert code != example, "the example reads /var/log/audit/audit.log"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "README.md", "exec"), {})
    events = list(exectrail.read_events([log]))
    lines = printed.getvalue().splitlines()
    assert len(lines) == len(events) > 100
    assert lines[0] == f"{events[0].time} {events[0].pid} {events[0].exe} {events[0].argv}"


@pytest.mark.parametrize("log", CAPTURED_LOGS, ids=lambda p: Path(p).name)
def test_read_events_to_dict_is_what_review_prints(log: Path) -> None:
    review = run_cli(["review", str(log), "--format", "jsonl"])
    printed = [orjson.loads(line) for line in review.stdout.splitlines() if line.startswith("{")]
    printed = [body for body in printed if body["type"] == "exec"]  # the alarms come after the events
    assert printed and [event.to_dict() for event in exectrail.read_events([str(log)])] == printed


def test_events_have_the_json_fields_as_attributes_and_read_back() -> None:
    event = next(iter(exectrail.read_events([CAPTURED_LOGS[0]])))
    assert isinstance(event, exectrail.ExecEvent)
    body = event.to_dict()
    for name, value in body.items():
        if name == "fileless":  # a tuple on the event (frozen, hashable), a list in the JSON
            assert list(event.fileless) == value
        elif name not in ("time", "argv"):  # a datetime and bytes on the event, text in the JSON
            assert getattr(event, name) == value, name
    assert [arg.decode() for arg in event.argv or ()] == body["argv"]
    assert exectrail.ExecEvent.from_dict(orjson.loads(orjson.dumps(body))) == event


def test_every_exported_name_resolves_and_errors_form_one_tree() -> None:
    for name in exectrail.__all__:
        assert getattr(exectrail, name) is not None, name
    errors = [getattr(exectrail, n) for n in exectrail.__all__ if n.endswith("Error")]
    assert len(errors) == 8 and all(issubclass(e, exectrail.ExectrailError) for e in errors)
    assert issubclass(exectrail.StoreFullError, exectrail.StoreError)
    with pytest.raises(AttributeError):
        _ = exectrail.no_such_name


def test_importing_the_package_loads_no_pipeline_store_or_sinks() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, exectrail; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    ours = [name for name in loaded if name.startswith("exectrail")]
    # hotpath: the standard library only; it puts the source finder in place under EXECTRAIL_PURE
    assert ours == ["exectrail", "exectrail.errors", "exectrail.hotpath"]
