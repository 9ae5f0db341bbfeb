"""The command line run in-process: one wrapper over click's ``CliRunner``.

:func:`run_cli` takes what ``CliRunner.invoke`` takes (``input``, ``env``, ``catch_exceptions``);
:func:`run` is the store tests' shorthand (arguments as ``*args``, exceptions propagate). The root
conftest offers :func:`run_cli` as the ``cli_runner`` fixture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from click.testing import CliRunner, Result

from exectrail.cli.main import cli


def run_cli(args: Sequence[str], **kwargs: Any) -> Result:
    """``exectrail ARGS...`` in this process (stdout and stderr kept apart)."""
    return CliRunner().invoke(cli, list(args), **kwargs)


def run(*args: str, input: bytes | None = None) -> Result:
    """Run the CLI in-process (stdout and stderr kept apart), exceptions not caught."""
    return run_cli(args, input=input, catch_exceptions=False)
