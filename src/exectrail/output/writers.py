"""Output formats shared by every command that prints events: jsonl, csv, a rich table, and jsonl in
the Elastic Common Schema (ecs) or OCSF (ocsf).

Each writer takes events one at a time (so live capture can stream) and is closed at the end.
"""

from __future__ import annotations

import csv
import io
import sys
from typing import IO, Any, Protocol

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from exectrail.jsonform import alarm_to_dict, clean_text, event_to_dict, format_time, object_text
from exectrail.model import Alarm, ExecEvent
from exectrail.output.commandline import command_line, display_command_line
from exectrail.output.ecs import HostInfo
from exectrail.output.mapped import MAPPINGS, local_host
from exectrail.output.terminal import stdout_console, terminal_text
from exectrail.schema import EVENT_FIELDS, LIST, OBJECT
from exectrail.schema import JSON_COLUMNS as COLUMNS

FORMATS = ("table", "jsonl", "csv", "ecs", "ocsf")
#: The formats a file gets (``watch --output``): every one but the table.
FILE_FORMATS = tuple(f for f in FORMATS if f != "table")
#: The formats of listings that are not exec events (tree, sessions, report).
TABULAR_FORMATS = ("table", "jsonl", "csv")


class EventWriter(Protocol):
    """Something that renders exec events."""

    def write(self, event: ExecEvent) -> None: ...

    def write_alarm(self, alarm: Alarm) -> None: ...

    def close(self) -> None: ...


class JsonlWriter:
    """One JSON object per line (see docs/schema.md for the schema)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._buffer: list[bytes] = []

    def write(self, event: ExecEvent) -> None:
        self._buffer.append(orjson.dumps(self.event_object(event), option=orjson.OPT_APPEND_NEWLINE))
        if len(self._buffer) >= 512:
            self.flush()

    def write_alarm(self, alarm: Alarm) -> None:
        self._buffer.append(orjson.dumps(self.alarm_object(alarm), option=orjson.OPT_APPEND_NEWLINE))
        self.flush()  # alarms are never held back

    def event_object(self, event: ExecEvent) -> dict[str, Any]:
        """The JSON object written for one exec event."""
        return event_to_dict(event)

    def alarm_object(self, alarm: Alarm) -> dict[str, Any]:
        """The JSON object written for one alarm."""
        return alarm_to_dict(alarm)

    def flush(self) -> None:
        self._stream.write(b"".join(self._buffer))
        self._buffer.clear()
        self._stream.flush()

    def close(self) -> None:
        self.flush()


class MappedWriter(JsonlWriter):
    """One JSON object per line in another schema: ``ecs`` or ``ocsf`` (see docs/formats.md)."""

    def __init__(self, stream: IO[bytes], schema: str, host: HostInfo | None = None) -> None:
        super().__init__(stream)
        self._map_event, self._map_alarm = MAPPINGS[schema]
        self.host = host if host is not None else local_host()

    def event_object(self, event: ExecEvent) -> dict[str, Any]:
        return self._map_event(event_to_dict(event), self.host)

    def alarm_object(self, alarm: Alarm) -> dict[str, Any]:
        return self._map_alarm(alarm_to_dict(alarm), self.host)


_LISTS = tuple(f.name for f in EVENT_FIELDS if f.kind == LIST)
_OBJECTS = tuple(f.name for f in EVENT_FIELDS if f.kind == OBJECT)


class CsvWriter:
    """The JSON columns; argv as a shell-quoted command line, argv_hex space-separated, a list of
    names (``fileless``) comma-joined as the store keeps it."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._csv = csv.writer(stream, lineterminator="\n")
        self._csv.writerow(COLUMNS)

    def write(self, event: ExecEvent) -> None:
        row = event_to_dict(event)
        if row["argv"] is not None:
            row["argv"] = command_line(event)
        if "argv_hex" in row:
            row["argv_hex"] = " ".join(row["argv_hex"])
        for name in _LISTS:
            row[name] = ",".join(row[name])
        for name in _OBJECTS:
            if row[name] is not None:
                row[name] = object_text(row[name])
        self._csv.writerow(["" if row.get(c) is None else row[c] for c in COLUMNS])

    def write_alarm(self, alarm: Alarm) -> None:
        """Alarms share the columns: type=alarm, time, key=kind, proctitle=summary."""
        row = dict.fromkeys(COLUMNS, "")
        as_json = alarm_to_dict(alarm)
        row.update(type="alarm", time=as_json["time"], key=alarm.kind, proctitle=as_json["summary"])
        self._csv.writerow([row[c] for c in COLUMNS])
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()
        if isinstance(self._stream, io.TextIOWrapper):
            self._stream.detach()  # leave the caller's binary stream open


def _number(value: int | None) -> str:
    """A table cell for a number that may be unknown (``-``)."""
    return "-" if value is None else str(value)


class TableWriter:
    """A rich table sized to the terminal, printed row by row so live capture can stream."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._header_done = False
        self._alarms = 0

    def _table(self, header: bool) -> Table:
        table = Table(show_header=header, box=None, pad_edge=False, expand=True)
        table.add_column("time (UTC)", width=23, no_wrap=True)
        table.add_column("pid", width=7, justify="right", no_wrap=True)
        table.add_column("ppid", width=7, justify="right", no_wrap=True)
        table.add_column("uid", width=5, justify="right", no_wrap=True)
        table.add_column("auid", width=5, justify="right", no_wrap=True)
        table.add_column("exit", width=4, justify="right", no_wrap=True)
        table.add_column("command", ratio=1, overflow="fold")
        return table

    def write(self, event: ExecEvent) -> None:
        table = self._table(header=not self._header_done)
        self._header_done = True
        cmd = Text(display_command_line(event))
        if event.success is False:
            cmd.stylize("red")
        table.add_row(
            format_time(event)[:-1].replace("T", " "),
            _number(event.pid),
            _number(event.ppid),
            _number(event.uid),
            _number(event.auid),
            "ok" if event.success else _number(event.exit),
            cmd,
        )
        self._console.print(table)

    def write_alarm(self, alarm: Alarm) -> None:
        label = "ALARM" if alarm.certainty == "certain" else "SUSPICIOUS"
        text = Text(terminal_text(f"{label} {alarm.kind}: {alarm.summary}"), style="bold white on red")
        self._console.print(Text(alarm_to_dict(alarm)["time"][:-1].replace("T", " ") + "  "), text, sep="")
        self._alarms += 1

    def close(self) -> None:
        if not self._header_done and not self._alarms:
            self._console.print("(no exec events)", style="dim")


class HiddenWriter:
    """``watch --no-show`` without ``--output``: events and alarms are not written (stderr, the store
    and the sinks still get the alarms)."""

    def write(self, event: object) -> None:
        pass

    def write_alarm(self, alarm: object) -> None:
        pass

    def close(self) -> None:
        pass


def make_writer(fmt: str, stream: IO[bytes] | None = None, host: HostInfo | None = None) -> EventWriter:
    """A writer for ``fmt`` on stdout (or ``stream``); ``host`` is the host ecs and ocsf name when an
    event does not (default: this host)."""
    out = stream if stream is not None else sys.stdout.buffer
    if fmt == "jsonl":
        return JsonlWriter(out)
    if fmt in MAPPINGS:
        return MappedWriter(out, fmt, host)
    if fmt == "csv":
        return CsvWriter(io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True))
    return TableWriter(stdout_console())


def default_format() -> str:
    """``table`` on a terminal, ``jsonl`` when stdout is a pipe or file."""
    return "table" if sys.stdout.isatty() else "jsonl"


__all__ = [
    "FILE_FORMATS", "FORMATS", "TABULAR_FORMATS", "CsvWriter", "EventWriter", "HiddenWriter", "JsonlWriter",
    "MappedWriter", "TableWriter", "clean_text", "make_writer",
]  # fmt: skip
