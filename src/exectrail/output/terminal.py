"""Text from logs made safe for a terminal: the one escaping function of every table and text output.

Log data is written by whoever ran the program: an executable named ``ESC [2K ESC [1A`` would
erase lines of a table, ``\\r`` would overwrite one, a right-to-left override would reverse it.
:func:`terminal_text` shows every such character as a visible escape instead, so what is printed
is what is in the log, and nothing can move the cursor.
"""

from __future__ import annotations

import errno

from rich.console import Console

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\"}


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0x7F:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def terminal_text(text: str, double_backslash: bool = True) -> str:
    """``text`` with control and other invisible characters as escapes (``\\x1b``, ``\\r``, ``\\u202e``).

    Escaped: C0 controls and DEL as ``\\xNN`` (``\\n``, ``\\t``, ``\\r`` by name), bytes that were
    not UTF-8 as ``\\xNN`` too; C1 controls, format characters (bidirectional overrides, zero-width
    spaces), line and paragraph separators, spaces other than U+0020, unassigned and private-use
    code points as ``\\uNNNN``. A backslash is doubled, so the data cannot fake an escape (not
    with ``double_backslash=False``: for messages whose values are already ``repr()``-quoted).
    Printable text, including non-ASCII letters, is unchanged.
    """
    keep_backslash = not double_backslash
    if text.isprintable() and (keep_backslash or "\\" not in text):
        return text
    return "".join(
        char if char == " " or (char.isprintable() and (keep_backslash or char != "\\")) else _escape(char)
        for char in text
    )


class _StdoutConsole(Console):
    """A rich console that lets a closed pipe end the command like any other output does.

    rich's own handling exits with status 1 on EPIPE; here the :class:`BrokenPipeError` goes up
    to the command's error boundary, which ends quietly with the same status for every format.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, "broken pipe")


def stdout_console() -> Console:
    """The console tables are printed on (stdout; no markup guessing, no soft wrapping)."""
    return _StdoutConsole(highlight=False, soft_wrap=False)


__all__ = ["stdout_console", "terminal_text"]
