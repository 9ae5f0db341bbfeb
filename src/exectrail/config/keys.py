"""Every key of the configuration file, declared once: its name, the ``watch`` parameter it sets,
how its value is checked, its default and a one-line doc (the shipped file is made from these).

A check takes the TOML value and returns what the ``watch`` parameter takes, or raises
:class:`Invalid` with the reason (``expected a number of seconds, got "x"``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from exectrail.capture.session import MODES
from exectrail.enrich.environ import is_env_name
from exectrail.errors import UsageError
from exectrail.kernel.rules.procmon import DEFAULT_KEY, check_key
from exectrail.kernel.rules.rule import parse_field
from exectrail.output.writers import FORMATS
from exectrail.sinks.registry import parse_sink_url
from exectrail.sinks.spec import parse_size

MAX_ID = 2**32 - 1  # pids, uids and login uids are 32-bit in the audit records
MAX_SECONDS = 1e9  # as the command line's --heartbeat

Check = Callable[[Any], Any]


class Invalid(ValueError):
    """A value of the wrong type or out of range; the message is the reason. For a list,
    ``items`` holds each bad item's number (from 1) and reason."""

    def __init__(self, reason: str, items: list[tuple[int, str]] | None = None) -> None:
        super().__init__(reason)
        self.items = items or []


def show(value: Any) -> str:
    """A value as it would be written in TOML (strings in double quotes), shortened."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "[" + ", ".join(show(v) for v in value) + "]"
    elif isinstance(value, datetime | date | time):
        text = value.isoformat()
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _usage_reason(exc: UsageError) -> str:
    """A command-line check's message without the option name it starts with."""
    text = str(exc)
    return text.removeprefix("--sink ")


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {show(value)}")
    return value


def negated(value: Any) -> bool:
    """A ``true`` that sets a ``--no-…`` flag off."""
    return not boolean(value)


def yes_or_no(value: Any) -> str:
    """``true``/``false`` for an option that takes ``yes``/``no`` (``--success``)."""
    return "yes" if boolean(value) else "no"


def choice(*choices: str) -> Check:
    def check(value: Any) -> str:
        if value not in choices or not isinstance(value, str):
            raise Invalid(f"expected one of {', '.join(choices)}, got {show(value)}")
        return value

    return check


def seconds(minimum: float, maximum: float = MAX_SECONDS) -> Check:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"expected a number of seconds, got {show(value)}")
        if not (minimum <= value <= maximum and math.isfinite(value)):
            raise Invalid(
                f"expected a number of seconds from {minimum:.0f} to {maximum:.0f}, got {show(value)}"
            )
        return float(value)

    return check


def integer(minimum: int, maximum: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"expected a whole number, got {show(value)}")
        if not minimum <= value <= maximum:
            raise Invalid(f"expected a number from {minimum} to {maximum}, got {value}")
        return value

    return check


def text(value: Any) -> str:
    """A non-empty string without control characters."""
    if not isinstance(value, str):
        raise Invalid(f"expected a string, got {show(value)}")
    if not value or not value.isprintable():
        raise Invalid(f"expected a non-empty string without control characters, got {show(value)}")
    return value


def absolute_path(value: Any) -> str:
    path = text(value)
    if not path.startswith("/"):
        raise Invalid(f"expected an absolute path, got {show(value)}")
    return path


def host_name(value: Any) -> str:
    name = text(value)
    if len(name) > 255 or " " in name or not name.isascii():
        raise Invalid(
            f"expected a host name (1 to 255 printable ASCII characters, no spaces), got {show(value)}"
        )
    return name


def env_name(value: Any) -> str:
    """An environment variable's name: letters, digits and ``_``, not starting with a digit."""
    name = text(value)
    if not is_env_name(name):
        raise Invalid(f"expected an environment variable name such as LD_PRELOAD, got {show(value)}")
    return name


def size(value: Any) -> str:
    """``"1G"``, ``"500M"`` or a number of bytes."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(f'expected a size such as "500M" or "2G", got {show(value)}')
    try:
        parse_size(str(value), "size")
    except UsageError as exc:
        raise Invalid(str(exc).removeprefix("size ")) from None
    return str(value)


def wait_seconds(value: Any) -> str:
    """The sinks' final wait: 0 or a positive number of seconds (the command line's string form)."""
    number = seconds(0, 1e6)(value)
    return str(int(number)) if number.is_integer() else repr(number)


def rule_key(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"expected a string, got {show(value)}")
    try:
        check_key(value)
    except UsageError as exc:
        raise Invalid(str(exc)) from None
    return value


def field_expr(value: Any) -> str:
    expr = text(value)
    try:
        parse_field(expr)
    except UsageError as exc:
        raise Invalid(str(exc)) from None
    return expr


def sink_url(value: Any) -> str:
    url = text(value)
    try:
        parse_sink_url(url)
    except UsageError as exc:
        raise Invalid(_usage_reason(exc)) from None
    return url


def number_id(value: Any, allow_unset: bool = False) -> str:
    if allow_unset and value == "unset":
        return "unset"
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        unset = ' or "unset"' if allow_unset else ""
        raise Invalid(f"expected numbers from 0 to {MAX_ID}{unset}, got {show(value)}")
    return str(value)


def login_id(value: Any) -> str:
    return number_id(value, allow_unset=True)


def list_of(item: Check, example: str) -> Check:
    """A TOML array, each item checked by ``item``; the parameter gets a tuple."""

    def check(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise Invalid(f"expected a list such as {example}, got {show(value)}")
        out, bad = [], []
        for number, entry in enumerate(value, 1):
            try:
                out.append(item(entry))
            except Invalid as exc:
                bad.append((number, str(exc)))
        if bad:
            raise Invalid("; ".join(f"item {n}: {reason}" for n, reason in bad), bad)
        return tuple(out)

    return check


@dataclass(frozen=True)
class Key:
    """One setting: ``name`` (``section.key``), the ``watch`` parameter it sets, its check and doc.

    ``default`` is the TOML text of the default; ``example`` a value to show when the default
    cannot be written (then the doc says what the default is).
    """

    name: str
    param: str
    check: Check
    doc: str
    default: str | None = None
    example: str | None = None

    @property
    def section(self) -> str:
        return self.name.rpartition(".")[0]

    @property
    def leaf(self) -> str:
        return self.name.rpartition(".")[2]


KEYS: tuple[Key, ...] = (
    Key("mode", "mode", choice(*MODES), "auto | daemon | multicast | plugin (auto: multicast beside a "
        "running audit daemon, else daemon).", '"auto"'),
    Key("show", "show", boolean, "Show events on stdout (false: the store, sinks and --output still "
        "get them; a service runs with false).", "true"),
    Key("host_name", "host_name", host_name, "Host name sent with each event to the sinks "
        "[default: the hostname].", example='"web1.example.org"'),
    Key("heartbeat", "heartbeat", seconds(0), "Seconds between heartbeats sent to every sink; 0: none.",
        "60"),
    Key("repair", "repair", boolean, "Reinstall the procmon rules and re-enable audit whenever someone "
        "removes them (an alarm each time).", "false"),
    Key("backlog", "backlog", integer(1, MAX_ID), "Kernel backlog limit to raise to [default: 8192 in "
        "daemon mode; unchanged otherwise].", example="8192"),
    Key("rules.install", "no_rules", negated, "Install the procmon rules when they are absent.", "true"),
    Key("rules.key", "key", rule_key, "Audit rule key of the procmon rules.", json.dumps(DEFAULT_KEY)),
    Key("rules.execveat", "no_execveat", negated, "Cover execveat too (false: execve only, which misses "
        "fexecve).", "true"),
    Key("rules.fields", "fields", list_of(field_expr, '["auid>=1000"]'), "Extra rule fields in auditctl "
        "-F syntax.", "[]", '["auid>=1000", "uid!=0"]'),
    Key("rules.exclude_exe", "exclude_exes", list_of(absolute_path, '["/usr/bin/true"]'), "Executables "
        "not to record (a 'never' rule each).", "[]", '["/usr/lib/sysstat/sadc"]'),
    Key("store.enabled", "no_store", negated, "Store every event and alarm in the event store.", "true"),
    Key("store.db", "db", absolute_path, "The event store [default: /var/lib/exectrail/events.db; env "
        "EXECTRAIL_DB wins over this key].", example='"/var/lib/exectrail/events.db"'),
    Key("output.file", "output", absolute_path, "Also append events and alarms to this file "
        "[default: none; plugin mode: /var/log/exectrail/exec.jsonl].",
        example='"/var/log/exectrail/exec.jsonl"'),
    Key("output.format", "fmt", choice(*FORMATS), f"{' | '.join(FORMATS)} (ecs: Elastic "
        "Common Schema, ocsf: OCSF; see docs/formats.md) [default: table on a terminal, jsonl otherwise; "
        "a file gets any but table].", example='"jsonl"'),
    Key("filters.pid", "pids", list_of(number_id, "[1234]"), "Show only these process ids.", "[]", "[1]"),
    Key("filters.ppid", "ppids", list_of(number_id, "[1]"), "Show only children of these process ids.",
        "[]", "[1]"),
    Key("filters.uid", "uids", list_of(number_id, "[0, 1000]"), "Show only these real user ids.", "[]",
        "[0, 1000]"),
    Key("filters.auid", "auids", list_of(login_id, '[1000, "unset"]'), 'Show only these login user ids '
        '("unset": none).', "[]", '[1000, "unset"]'),
    Key("filters.comm", "comms", list_of(text, '["curl"]'), "Show only these command names (exact, or a "
        "glob).", "[]", '["curl", "wget"]'),
    Key("filters.exe", "exes", list_of(text, '["/usr/bin/*"]'), "Show only these executables (exact, or "
        "a glob).", "[]", '["/tmp/*"]'),
    Key("filters.key", "keys", list_of(text, '["procmon"]'), "Show only events of these audit rule keys.",
        "[]", '["procmon"]'),
    Key("filters.success", "success", yes_or_no, "Show only successful (true) or failed (false) execs "
        "[default: both].", example="true"),
    Key("filters.argv_contains", "argv_contains", list_of(text, '["wget"]'), "Show only command lines "
        "that contain one of these texts.", "[]", '["base64 -d"]'),
    Key("forward.sinks", "sinks", list_of(sink_url, '["syslog+tcp://logs:514"]'), "Forward every event, "
        "alarm and heartbeat to these URLs (see the sink table in docs/forwarding.md).", "[]",
        '["syslog+tcp://logs.example.org:514"]'),
    Key("forward.spool", "spool", absolute_path, "Where events wait while a receiver is down or slow.",
        '"/var/lib/exectrail/spool"'),
    Key("forward.spool_max", "spool_max", size, "Spool size limit per sink; beyond it events are "
        "dropped and counted.", '"1G"'),
    Key("forward.wait", "sink_wait", wait_seconds, "At the end, seconds to wait for receivers before "
        "leaving events in the spool.", "10"),
    Key("context.env", "env_vars", list_of(env_name, '["LD_PRELOAD"]'), "Environment variables to record "
        "from /proc/PID/environ at each exec.", '["LD_PRELOAD", "LD_LIBRARY_PATH"]',
        '["LD_PRELOAD", "LD_AUDIT"]'),
)  # fmt: skip

BY_NAME = {key.name: key for key in KEYS}
SECTIONS: dict[str, str] = {
    "rules": "The procmon audit rules watch installs.",
    "store": "The event store (SQLite, hash-chained).",
    "output": "A file besides the screen.",
    "filters": "What is shown (stdout, --output); the store and the sinks get every event.",
    "forward": "Sinks: forwarding off the host, with a disk spool.",
    "context": "What live capture reads from /proc at each exec.",
}
#: ``watch`` options that stay on the command line (a service runs until stopped)
COMMAND_LINE_ONLY = ("--duration", "--count", "--start", "--end")


def names(keys: Sequence[Key] = KEYS) -> list[str]:
    return [key.name for key in keys]


__all__ = ["BY_NAME", "COMMAND_LINE_ONLY", "KEYS", "SECTIONS", "Invalid", "Key", "show"]
