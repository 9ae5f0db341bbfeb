"""Shared by the commands that talk to the kernel (rules, status, watch): error boundary, options."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from exectrail.cli.common import echo_err, exit_code_for
from exectrail.errors import ExectrailError
from exectrail.kernel.rules.model import parse_field
from exectrail.kernel.rules.procmon import DEFAULT_KEY, ProcmonSpec

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Turn :class:`ExectrailError` into one ``exectrail: …`` line on stderr and its kind's exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ExectrailError as exc:
            echo_err(f"exectrail: {exc}")
            click.get_current_context().exit(exit_code_for(exc))

    return wrapper  # type: ignore[return-value]


def key_option(func: F, flag: str = "--key") -> F:
    option = click.option(
        flag, "key", default=DEFAULT_KEY, show_default=True, help="Audit rule key of the procmon rules."
    )
    return option(func)


def spec_options(key_flag: str = "--key") -> Callable[[F], F]:
    """``--key`` (or ``key_flag``), ``--no-execveat``, ``-F/--field EXPR``, ``--exclude-exe PATH``."""
    return functools.partial(_spec_options, key_flag=key_flag)


def _spec_options(func: F, key_flag: str) -> F:
    options: list[Callable[[F], F]] = [
        click.option("--no-execveat", is_flag=True, help="Cover execve only (misses fexecve and friends)."),
        click.option(
            "-F",
            "--field",
            "fields",
            multiple=True,
            metavar="EXPR",
            help="Extra rule field in auditctl -F syntax, e.g. 'auid>=1000', 'uid=0', 'exe!=/usr/bin/x'.",
        ),
        click.option(
            "--exclude-exe",
            "exclude_exes",
            multiple=True,
            metavar="PATH",
            help="Do not record execs of this executable (a 'never' rule; repeatable).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return key_option(func, key_flag)


def build_spec(
    key: str, no_execveat: bool, fields: tuple[str, ...], exclude_exes: tuple[str, ...]
) -> ProcmonSpec:
    return ProcmonSpec(
        key=key,
        execveat=not no_execveat,
        fields=tuple(parse_field(expr) for expr in fields),
        exclude_exes=tuple(exclude_exes),
    )
