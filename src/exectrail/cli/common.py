"""Pieces every command shares: the error boundary, filter and format options, the summary line."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from exectrail.errors import ExectrailError, UsageError
from exectrail.filters import EventFilter
from exectrail.output.writers import FORMATS, default_format
from exectrail.timeparse import parse_time

F = TypeVar("F", bound=Callable[..., Any])

INTERNAL_ERROR = 70


class ExectrailGroup(click.Group):
    """A click group whose commands report errors as one line, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except ExectrailError as exc:
            click.echo(f"exectrail: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            _silence_stdout()
            ctx.exit(0)
        except KeyboardInterrupt:
            click.echo("exectrail: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if os.environ.get("EXECTRAIL_DEBUG"):
                traceback.print_exc()
            click.echo(
                f"exectrail: internal error: {type(exc).__name__}: {exc} (EXECTRAIL_DEBUG=1 shows details)",
                err=True,
            )
            ctx.exit(INTERNAL_ERROR)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _ints(values: Sequence[str], name: str, allow_unset: bool = False) -> frozenset[Any]:
    out: set[int | None] = set()
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if allow_unset and part in ("unset", "-1", "4294967295"):
                out.add(None)
                continue
            try:
                out.add(int(part))
            except ValueError:
                raise UsageError(f"--{name} wants numbers, got {part!r}") from None
    return frozenset(out)


def filter_options(func: F) -> F:
    """Add the event filters (--pid, --ppid, --uid, --auid, --comm, --exe, --key, --success,
    --start, --end, --argv-contains) to a command; read them back with :func:`build_filter`."""
    options = [
        click.option("--pid", "pids", multiple=True, help="Process id (repeatable, or comma list)."),
        click.option("--ppid", "ppids", multiple=True, help="Parent process id."),
        click.option("--uid", "uids", multiple=True, help="Real user id."),
        click.option("--auid", "auids", multiple=True, help="Login user id ('unset' for none)."),
        click.option("--comm", "comms", multiple=True, help="Command name (exact, or a glob)."),
        click.option("--exe", "exes", multiple=True, help="Executable path (exact, or a glob)."),
        click.option("--key", "keys", multiple=True, help="Audit rule key."),
        click.option("--success", type=click.Choice(["yes", "no"]), help="Only successful / failed execs."),
        click.option("--start", help="From this time (ISO 8601, @EPOCH, today, yesterday, recent…)."),
        click.option("--end", help="Up to this time (same forms as --start)."),
        click.option("--argv-contains", "argv_contains", multiple=True, help="Text in the command line."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


FILTER_PARAMS = ("pids", "ppids", "uids", "auids", "comms", "exes", "keys", "success", "start", "end",
                 "argv_contains")  # fmt: skip


def build_filter(params: dict[str, Any]) -> EventFilter:
    """An :class:`EventFilter` from the options of :func:`filter_options` (popped from ``params``)."""
    p = {name: params.pop(name, None) for name in FILTER_PARAMS}
    start = parse_time(p["start"]) if p["start"] else None
    end = parse_time(p["end"]) if p["end"] else None
    if start and end and end < start:
        raise UsageError("--end is before --start")
    success = None if p["success"] is None else p["success"] == "yes"
    return EventFilter(
        pids=_ints(p["pids"] or (), "pid"),
        ppids=_ints(p["ppids"] or (), "ppid"),
        uids=_ints(p["uids"] or (), "uid"),
        auids=_ints(p["auids"] or (), "auid", allow_unset=True),
        comms=tuple(p["comms"] or ()),
        exes=tuple(p["exes"] or ()),
        keys=tuple(p["keys"] or ()),
        success=success,
        start=start,
        end=end,
        argv_contains=tuple(p["argv_contains"] or ()),
    )


def format_option(func: F) -> F:
    """``--format table|jsonl|csv`` (default: table on a terminal, jsonl otherwise)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=None,
        help="Output format [default: table on a terminal, jsonl otherwise].",
    )(func)


def resolve_format(fmt: str | None) -> str:
    return fmt if fmt is not None else default_format()


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def echo_err(message: str) -> None:
    click.echo(message, err=True)
