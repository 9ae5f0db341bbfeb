"""Turning an :class:`ExecEvent` into plain values: the JSON schema every output shares.

The schema is declared in :mod:`exectrail.schema` and the JSON conversion lives in
:mod:`exectrail.jsonform` (below the model, so that ``ExecEvent.to_dict()`` can use it); their names
stay importable from here. What is for display only (command lines) is here.
"""

from __future__ import annotations

import shlex

from exectrail.jsonform import (
    alarm_to_dict,
    clean_text,
    decode_argv,
    details_from_json,
    details_to_json,
    event_to_dict,
    format_time,
    from_hex,
    raw_hex,
)
from exectrail.model import Alarm, ExecEvent
from exectrail.output.terminal import terminal_text
from exectrail.schema import HEX_TEXT_FIELDS
from exectrail.schema import JSON_COLUMNS as COLUMNS

#: the event or alarm of its JSON object (byte-exact): ``ExecEvent.from_dict``, ``Alarm.from_dict``
event_from_dict = ExecEvent.from_dict
alarm_from_dict = Alarm.from_dict


def command_line(event: ExecEvent) -> str:
    """argv as a shell-quoted command line (bad bytes → U+FFFD); the path for failed execs."""
    if event.argv is None:
        return clean_text(event.path) or ""
    return shlex.join(decode_argv(event.argv)[0])


def _display_arg(arg: str) -> str:
    if arg.isprintable():
        return shlex.quote(arg)
    return "$'" + terminal_text(arg).replace("'", "\\'") + "'"  # bash's $'…' reads the same escapes


def display_command_line(event: ExecEvent) -> str:
    """The command line for a terminal: shell quoting, control characters as ``$'\\n'`` escapes."""
    if event.argv is None:
        return terminal_text(clean_text(event.path) or "")
    return " ".join(_display_arg(arg) for arg in decode_argv(event.argv)[0])


__all__ = [
    "COLUMNS",
    "HEX_TEXT_FIELDS",
    "alarm_from_dict",
    "alarm_to_dict",
    "clean_text",
    "command_line",
    "decode_argv",
    "details_from_json",
    "details_to_json",
    "display_command_line",
    "event_from_dict",
    "event_to_dict",
    "format_time",
    "from_hex",
    "raw_hex",
]
