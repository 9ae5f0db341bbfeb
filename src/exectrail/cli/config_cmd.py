"""``exectrail config check|show|example``: the configuration file of ``watch`` (its ``--config``
option is :func:`exectrail.cli.options.config_option`)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import click

from exectrail.cli.common import echo_err
from exectrail.cli.options import CONFIG_HELP
from exectrail.config import DEFAULT_PATH, ENV_VAR, KEYS, choose_path, load, shipped_text
from exectrail.config.keys import Key, negated
from exectrail.errors import UsageError
from exectrail.output.terminal import terminal_text


def _chosen(path: str | None, option: str | None) -> str | None:
    if path is not None and option is not None:
        raise UsageError("give the file as PATH or --config, not both")
    return choose_path(path if path is not None else option)


def _no_file(given: bool) -> str:
    if given:
        reason = "an empty name was given"
    else:
        reason = f"{ENV_VAR} is empty" if ENV_VAR in os.environ else f"{DEFAULT_PATH} does not exist"
    return f"exectrail: no configuration file ({reason}): watch runs with its built-in defaults"


@click.group("config")
def config_group() -> None:
    """The configuration file of watch (TOML): check it, show its effect, print an example."""


@config_group.command("check")
@click.argument("path", required=False)
@click.option("--config", "option", metavar="PATH", help="The file to check (same as PATH).")
def check(path: str | None, option: str | None) -> None:
    """Check a configuration file (exit 2 on any problem).

    Every problem is one line, 'exectrail: PATH: KEY: reason'; a good file gives
    'exectrail: PATH: ok (N settings)' on stdout. Without PATH: the file watch would read
    ($EXECTRAIL_CONFIG, else /etc/exectrail/exectrail.toml).
    """
    chosen = _chosen(path, option)
    if chosen is None:
        click.echo(_no_file(path is not None or option is not None))
        return
    config = load(chosen)
    for line in config.lines():
        echo_err(f"exectrail: {line}")
    if config.problems:
        raise click.exceptions.Exit(2)
    count = len(config.settings)
    click.echo(terminal_text(f"exectrail: {chosen}: ok ({count} setting{'s' if count != 1 else ''})", False))


@config_group.command("example")
def example() -> None:
    """Print the shipped file (every key commented out, with its default)."""
    click.echo(shipped_text(), nl=False)


@config_group.command("show")
@click.option("--config", "option", metavar="PATH", help=CONFIG_HELP)
def show(option: str | None) -> None:
    """Print the settings watch would use, and where each comes from.

    Sources: file, environment (EXECTRAIL_DB) or default; flags given to watch win over all.
    """
    args = ["--config", option] if option is not None else []
    with _watch().make_context("watch", args, resilient_parsing=False) as ctx:
        path = ctx.meta.get("exectrail.config")
        click.echo(terminal_text(f"# settings of exectrail watch; file: {path or 'none'}", False))
        section = ""
        for key in KEYS:
            if key.section != section:
                section = key.section
                click.echo(f"\n[{section}]")
            value = ctx.params.get(key.param)
            source = ctx.get_parameter_source(key.param)
            origin = {
                click.core.ParameterSource.DEFAULT_MAP: "file",
                click.core.ParameterSource.ENVIRONMENT: "environment",
            }.get(source, "default") if source is not None else "default"  # fmt: skip
            if key.check is negated:
                value = not value
            shown = _toml(value, _sample(key))
            line = f"{key.leaf} = {shown}" if shown is not None else f"# {key.leaf}: not set"
            click.echo(f"{line:<50} # {origin}")


def _watch() -> click.Command:
    """``watch``, the command whose defaults the file sets, as registered beside this group."""
    root = click.get_current_context().find_root()
    assert isinstance(root.command, click.Group)
    watch = root.command.get_command(root, "watch")
    assert watch is not None
    return watch


def _sample(key: Key) -> Any:
    """The key's default (or example) as TOML reads it: the type to write its value as."""
    return tomllib.loads(f"v = {key.example or key.default}")["v"]


def _toml(value: Any, sample: Any) -> str | None:
    """A parameter's value written in TOML like ``sample`` (None when unset)."""
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(sample, bool) and value in ("yes", "no")):
        return "true" if value in (True, "yes") else "false"
    if isinstance(value, tuple | list):
        item = sample[0] if isinstance(sample, list) and sample else ""
        return "[" + ", ".join(_toml(v, item) or '""' for v in value) + "]"
    if isinstance(sample, int | float) and not isinstance(sample, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None  # "unset" among login ids
        if number is not None:
            return str(int(number)) if number.is_integer() else repr(number)
    return json.dumps(str(value) if isinstance(value, Path) else value, ensure_ascii=False)
