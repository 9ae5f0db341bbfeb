"""Session-wide test settings and the fixtures every folder shares.

``EXECTRAIL_CONFIG=''``: no configuration file for any exectrail the tests run (in process or as a
subprocess), so a ``/etc/exectrail/exectrail.toml`` installed on the machine (the package tests
install one) changes nothing. Tests of the configuration pass ``--config`` or set the variable.

Shared fixtures (their code lives in tests/support, with the harnesses: paths, captures, cli, the
kernel and server harnesses): ``data_dir``, ``interference_data``, ``captured_logs``,
``real_events`` and ``cli_runner``. Folder conftests add their own (``kernel`` in tests/kernel, the
servers in tests/sinks, stores in tests/store).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import pytest

os.environ["EXECTRAIL_CONFIG"] = ""


@pytest.fixture(scope="session", autouse=True)
def _signals_unwind() -> Iterator[None]:
    """SIGTERM/SIGHUP to pytest unwind like Ctrl-C, so fixtures still restore the kernel audit state,
    stop their servers and unmount and delete their fresh roots."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    saved = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


if TYPE_CHECKING:
    from click.testing import Result

    from exectrail.model import ExecEvent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/data: the real logs captured with auditd, their manifests, an old store."""
    from tests.support.paths import DATA

    return DATA


@pytest.fixture(scope="session")
def interference_data() -> Path:
    """tests/interference/data: the real logs of configuration interference."""
    from tests.support.paths import INTERFERENCE_DATA

    return INTERFERENCE_DATA


@pytest.fixture(scope="session")
def captured_logs() -> list[Path]:
    """The three committed captures (ENRICHED, RAW with node, interleaved), in this order."""
    from tests.support.paths import CAPTURED_LOGS

    return list(CAPTURED_LOGS)


@pytest.fixture(scope="session")
def real_events(captured_logs: list[Path]) -> list[ExecEvent]:
    """Every exec event of the three committed captures (ENRICHED, RAW with node, interleaved)."""
    from tests.support.captures import read_events

    return read_events(*captured_logs)


@pytest.fixture(scope="session")
def cli_runner() -> Callable[..., Result]:
    """:func:`tests.support.cli.run_cli`: ``cli_runner(["review", LOG], input=...)``."""
    from tests.support.cli import run_cli

    return run_cli
