"""The command line's plumbing: the group and its error boundary, exit statuses, the standard streams,
messages on stderr. (Options shared by several commands are in :mod:`exectrail.cli.options`.)"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import io
import os
import signal
import sys
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click

from exectrail.errors import ExectrailError
from exectrail.model import Diagnostics
from exectrail.output.terminal import terminal_text

F = TypeVar("F", bound=Callable[..., Any])

INTERNAL_ERROR = 70
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell shows for a program stopped by a closed pipe
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM
EXIT_ERROR = 2  # an ExectrailError (or a bad option, as click has it): the command could not do its work
EXIT_INPUT_PROBLEMS = 1  # review, import, alarms, check-procs: an input not read whole, forwarding failed
EXIT_LOST = 1  # watch: the kernel (or the socket) dropped events, or storing or forwarding failed
EXIT_NOT_FOUND = 1  # tree: no exec of that pid
EXIT_TAMPERED = 1  # verify: the store is not intact
EXIT_ALARMS = 3  # alarms, check-procs: alarms found

#: The exit status of each kind of :class:`ExectrailError` (the nearest listed class in its MRO wins).
#: Exit statuses belong to the command line: the library's exceptions carry only their meaning (type)
#: and message. Every exectrail error exits 2 today; a kind that needs its own status is listed here.
EXIT_CODES: dict[type[ExectrailError], int] = {ExectrailError: EXIT_ERROR}


def exit_code_for(exc: ExectrailError) -> int:
    """The exit status a command ends with when ``exc`` reaches the error boundary."""
    for cls in type(exc).__mro__:
        code = EXIT_CODES.get(cls)
        if code is not None:
            return code
    return EXIT_ERROR


#: click (8.2+) raises this for a group given no command: its message is the whole help text
NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    cls for cls in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if isinstance(cls, type)
)


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C (``finally`` blocks run), reported as ``terminated``."""


class ExectrailGroup(click.Group):
    """A click group whose commands report errors as one line, never a traceback."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """As click's, but a bad option or argument is one ``exectrail: …`` line (exit 2), and a
        closed pipe or Ctrl-C while parsing ends like one during the command."""
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.exceptions.ClickException as exc:
            if isinstance(exc, NO_ARGS_IS_HELP):  # 'exectrail' or 'exectrail rules' alone: the help
                exc.show()
            else:
                echo_err(f"exectrail: {usage_message(exc)}")
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            echo_err("exectrail: interrupted")
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        sys.exit(code if isinstance(code, int) else 0)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        """As click's; ``--help``/``--version`` into a closed pipe end like any other output (141)."""
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            silence_stdout()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except ExectrailError as exc:
            echo_err(f"exectrail: {exc}")
            ctx.exit(exit_code_for(exc))
        except BrokenPipeError:
            silence_stdout()
            ctx.exit(EXIT_BROKEN_PIPE)
        except KeyboardInterrupt:
            echo_err("exectrail: interrupted")
            ctx.exit(EXIT_INTERRUPTED)
        except Terminated:
            echo_err("exectrail: terminated")
            ctx.exit(EXIT_TERMINATED)
        except OSError as exc:
            reason = environment_error(exc)
            if reason is None:
                internal_error(ctx, exc)
            echo_err(f"exectrail: {reason}")
            ctx.exit(2)
        except Exception as exc:
            internal_error(ctx, exc)


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


#: errors of the host, not of exectrail: a path that cannot be read or written, a full disk
ENVIRONMENT_ERRNOS = frozenset({
    errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.ENAMETOOLONG,
    errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EMFILE, errno.ENFILE, errno.EIO, errno.EEXIST, errno.EFBIG,
    errno.ETXTBSY, errno.ENXIO, errno.ENODEV,
})  # fmt: skip


def environment_error(exc: OSError) -> str | None:
    """``PATH: permission denied`` for an error of the host (see :data:`ENVIRONMENT_ERRNOS`), else None."""
    if exc.errno not in ENVIRONMENT_ERRNOS:
        return None
    reason = (exc.strerror or os.strerror(exc.errno or 0)).lower()
    if exc.filename is None:
        return reason
    return f"{os.fsdecode(exc.filename)}: {reason}"


def internal_error(ctx: click.Context, exc: BaseException) -> NoReturn:
    """A bug: one line naming the exception (the traceback with ``EXECTRAIL_DEBUG=1``), exit 70."""
    if os.environ.get("EXECTRAIL_DEBUG"):
        traceback.print_exception(exc)
    echo_err(f"exectrail: internal error: {type(exc).__name__}: {exc} (EXECTRAIL_DEBUG=1 shows details)")
    ctx.exit(INTERNAL_ERROR)


def usage_message(exc: click.exceptions.ClickException) -> str:
    """click's message on one line, with where to find help for a bad option or argument."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    context = getattr(exc, "ctx", None)
    if isinstance(exc, click.exceptions.UsageError) and context is not None:
        message += f" (see '{context.command_path} -h')"
    return message


def silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so that nothing more is written, and the
    interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def open_standard_streams() -> None:
    """Reopen a closed stdin, stdout or stderr so that no file exectrail opens takes its place
    (output meant for the terminal would be written into a store or a spool file).

    A closed stdout (``exectrail … >&-``) becomes a pipe nobody reads: the first output ends the
    command exactly as a closed pipe does (quietly, status 141), and commands that print nothing
    on stdout (``import``, ``watch --output``) run as usual. stdin and stderr get /dev/null.
    """
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if _usable(fd):
            continue
        if fd == 1:
            read_end, write_end = os.pipe()
            os.close(read_end)
            replacement = write_end
        else:
            replacement = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
        if replacement != fd:
            os.dup2(replacement, fd)
            os.close(replacement)
        setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False))  # noqa: SIM115


def tolerate_unencodable_text() -> None:
    """On a terminal whose encoding is not UTF-8 (ASCII, Latin-1), show what it cannot encode as
    ``\\u2026`` escapes instead of failing on the first such character of the data."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(OSError, ValueError):  # a broken stream: nothing to print anyway
                stream.reconfigure(errors="backslashreplace")


def _usable(fd: int) -> bool:
    """``fd`` is open, and open for writing if it is stdout or stderr."""
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        return False
    return fd == 0 or flags & os.O_ACCMODE != os.O_RDONLY


def raise_on_sigterm() -> None:
    """From now on SIGTERM raises :class:`Terminated` in the main thread."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)


def echo_err(message: str) -> None:
    """One message on stderr, control characters from the data escaped (see :func:`terminal_text`;
    backslashes kept, as the messages quote their values with ``repr()``)."""
    click.echo(terminal_text(message, double_backslash=False), err=True)


def note(text: str) -> None:
    """One ``exectrail: TEXT`` line on stderr (see :func:`echo_err`): where the library's notices go."""
    echo_err(f"exectrail: {text}")


def report_diagnostics(diagnostics: Diagnostics, verbose: bool) -> None:
    """With ``-v``: the first bad lines of the input, ``file:line: kind: reason`` on stderr."""
    if verbose:
        for diag in diagnostics.samples:
            where = f"{diag.origin}: " if diag.origin else ""
            echo_err(f"  {where}{diag.kind}: {diag.reason}")


def echo_lines(text: str) -> None:
    """Lines of text on stdout, each line's control characters escaped."""
    click.echo("\n".join(terminal_text(line) for line in text.split("\n")))
