"""Progress bars on stderr while long inputs are read or a large store is verified (on a terminal only)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from exectrail.parse.logfile import total_size

PROGRESS_MIN_BYTES = 4 * 1024 * 1024
PROGRESS_MIN_ROWS = 200_000


def progress_bar(paths: list[str]) -> tuple[Any, Any]:
    """A rich progress bar on stderr for long reads on a terminal, else a no-op; and its callback."""
    size = total_size(paths)
    console = Console(stderr=True)
    if not console.is_terminal or size is None or size < PROGRESS_MIN_BYTES:
        return nullcontext(), None
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("reading", total=size)
    return progress, lambda n: progress.advance(task, n)


def rows_progress(total: int) -> tuple[Any, Any]:
    """``verifying`` with a bar counting rows, on stderr for a large store on a terminal, else a
    no-op; and its callback."""
    console = Console(stderr=True)
    if not console.is_terminal or total <= PROGRESS_MIN_ROWS:
        return nullcontext(), None
    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    progress = Progress("verifying", *columns, console=console, transient=True)
    task = progress.add_task("verify", total=total)
    return progress, lambda n: progress.advance(task, n)
