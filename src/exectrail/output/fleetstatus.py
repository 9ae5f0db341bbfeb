"""``fleet status`` printed: one row per host (table, jsonl or csv), then the ``host-silent`` alarms
the way ``alarms`` prints them (table and jsonl; in csv the ``silent_for_s`` column says it)."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
from rich.table import Table
from rich.text import Text

from exectrail.output.alarmlist import emit_alarms
from exectrail.output.terminal import stdout_console, terminal_text
from exectrail.query.fleetstatus import SHOWN_COUNTERS, FleetStatus, HostStatus
from exectrail.timefmt import iso

#: The columns of jsonl and csv, in order (``counters`` is an object in jsonl, absent from csv,
#: whose ``events``/``lost``/``alarms`` of the last heartbeat are ``hb_events``…).
FIELDS = ("host", "state", "last_heartbeat", "interval", "mode", "pid", "heartbeats", "unreadable", "events",
          "alarms", "first_event", "last_event", "silent", "silent_for_s")  # fmt: skip
CSV_FIELDS = (*FIELDS, *(f"hb_{name}" for name in SHOWN_COUNTERS))


def _iso(when: datetime | None) -> str | None:
    return None if when is None else iso(when)


def host_object(host: HostStatus) -> dict[str, Any]:
    """The jsonl object of one host: ``{"type": "fleet-host", "host": …}``."""
    return {
        "type": "fleet-host", "host": host.name, "state": host.state,
        "last_heartbeat": _iso(host.last_heartbeat), "interval": host.interval, "mode": host.mode,
        "pid": host.pid, "heartbeats": host.heartbeats, "unreadable": host.unreadable, "events": host.events,
        "alarms": host.alarms, "first_event": _iso(host.first_event), "last_event": _iso(host.last_event),
        "silent": host.silent, "silent_for_s": host.silent_for_s, "counters": host.counters,
    }  # fmt: skip


def _csv_rows(status: FleetStatus) -> Iterator[list[Any]]:
    for host in status.hosts:
        data = host_object(host)
        yield [*(data[name] for name in FIELDS), *(host.counters.get(name) for name in SHOWN_COUNTERS)]


def render_fleet_status(status: FleetStatus, fmt: str) -> None:
    """Print ``status`` in ``fmt`` (table, jsonl, csv) on stdout."""
    out = sys.stdout.buffer
    if fmt == "jsonl":
        for host in status.hosts:
            out.write(orjson.dumps(host_object(host), option=orjson.OPT_APPEND_NEWLINE))
        out.flush()
        if status.alarms:
            emit_alarms(status.alarms, fmt, verbose=False)
        return
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for row in _csv_rows(status):
            writer.writerow(["" if v is None else str(v).lower() if isinstance(v, bool) else v for v in row])
        text.flush()
        text.detach()
        return
    stdout_console().print(status_table(status))
    if status.alarms:
        emit_alarms(status.alarms, fmt, verbose=False)


def _cell(value: object) -> Text:
    return Text("-" if value is None else terminal_text(str(value)))


def _when(when: datetime | None) -> Text:
    return _cell(None if when is None else when.strftime("%Y-%m-%d %H:%M:%S"))


#: The table's columns (right-aligned: numbers), to fit 80 columns; the mode, the first and last event
#: and the heartbeat rows (unreadable ones) are in jsonl and csv.
COLUMNS = ("host", "state", "last heartbeat", "every", "pid", "events", "lost", "alarms")
NUMBERS = ("every", "pid", "events", "lost", "alarms")


def status_table(status: FleetStatus) -> Table | Text:
    """The table of hosts (or a dim ``(no host …)``); times in UTC, to the second."""
    if not status.hosts:
        return Text("(no host in the fleet table)", style="dim")
    title = f"fleet at {status.now.strftime('%Y-%m-%d %H:%M:%S')} UTC"
    table = Table(box=None, pad_edge=False, title=title, title_justify="left")
    for name in COLUMNS:
        table.add_column(name, justify="right" if name in NUMBERS else "left", overflow="fold")
    for host in status.hosts:
        state = Text(host.state, style="bold red" if host.silent or host.state == "unreadable" else "")
        if host.silent:
            state = Text("SILENT", style="bold white on red")
        lost = host.counters.get("lost")
        table.add_row(
            _cell(host.name), state, _when(host.last_heartbeat),
            _cell(None if host.interval is None else f"{host.interval:g}s"), _cell(host.pid),
            _cell(host.events), _cell(lost) if not lost else Text(str(lost), style="bold red"),
            _cell(host.alarms),
        )  # fmt: skip
    return table


__all__ = ["CSV_FIELDS", "FIELDS", "host_object", "render_fleet_status", "status_table"]
