"""An exec event's command line for display: shell-quoted for copying, escaped for a terminal.

(The JSON form of events and alarms lives in :mod:`exectrail.jsonform`, the fields in
:mod:`exectrail.schema`.)
"""

from __future__ import annotations

import shlex

from exectrail.jsonform import clean_text, decode_argv
from exectrail.model import ExecEvent
from exectrail.output.terminal import terminal_text


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
