"""The store queries' results (process trees, session lists, reports) as table, jsonl or csv."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import datetime
from typing import IO, Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from exectrail.jsonform import clean_text, event_to_dict, raw_hex
from exectrail.model import ExecEvent
from exectrail.output.commandline import command_line, display_command_line
from exectrail.output.terminal import stdout_console, terminal_text
from exectrail.query.report import Report, errno_name, user_name
from exectrail.query.timeline import SessionSummary
from exectrail.query.tree import ProcessNode, ProcessTree
from exectrail.schema import JSON_COLUMNS as COLUMNS
from exectrail.timefmt import iso, utc_text


def _iso(time: datetime | None) -> str | None:
    return None if time is None else iso(time)


def _user(uid: int | None) -> str:
    if uid is None:
        return "unset"
    name = user_name(uid)
    return f"{uid}({terminal_text(name)})" if name else str(uid)


def _jsonl(objects: Iterable[dict[str, Any]], stream: IO[bytes] | None = None) -> None:
    out = stream if stream is not None else sys.stdout.buffer
    for obj in objects:
        out.write(orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE))
    out.flush()


def _csv(header: list[str], rows: Iterable[list[Any]], stream: IO[bytes] | None = None) -> None:
    out = io.TextIOWrapper(stream if stream is not None else sys.stdout.buffer, encoding="utf-8", newline="",
                           write_through=True)  # fmt: skip
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    out.flush()
    out.detach()


def _console() -> Console:
    return stdout_console()


# ---- process trees -------------------------------------------------------------------------------


def _walk(tree: ProcessTree) -> Iterator[tuple[str, int, ProcessNode]]:
    """(role, depth, node) from the oldest ancestor down to the target, then its descendants."""
    depth = 0
    for node in reversed(tree.ancestors):
        yield "ancestor", depth, node
        depth += 1

    def below(node: ProcessNode, d: int, role: str) -> Iterator[tuple[str, int, ProcessNode]]:
        yield role, d, node
        for child in node.children:
            yield from below(child, d + 1, "descendant")

    yield from below(tree.target, depth, "target")


def _exec_line(event: ExecEvent) -> Text:
    line = Text(f"{utc_text(event.time)}  {_user(event.uid)}  ", style="dim")
    if event.auid is not None and event.auid != event.uid:
        line.append(f"(login {_user(event.auid)})  ", style="dim")
    if event.success:
        line.append(display_command_line(event))
    else:
        line.append(f"{display_command_line(event)}  failed: {errno_name(event.exit)}", style="red")
    return line


def _runs(execs: list[ExecEvent]) -> Iterator[list[ExecEvent]]:
    """Execs grouped: a run of failures with the same error (a PATH search) is one group."""
    group: list[ExecEvent] = []
    for event in execs:
        if group and not event.success and not group[-1].success and event.exit == group[-1].exit:
            group.append(event)
            continue
        if group:
            yield group
        group = [event]
    if group:
        yield group


def _failed_run(run: list[ExecEvent]) -> Text:
    first, last = run[0], run[-1]
    line = Text(f"{utc_text(first.time)}  {_user(first.uid)}  ", style="dim")
    paths = f"{terminal_text(clean_text(first.path) or '')} … {terminal_text(clean_text(last.path) or '')}"
    line.append(f"{len(run)} failed attempts ({errno_name(first.exit)}): {paths}", style="red")
    return line


def _node_label(node: ProcessNode, role: str) -> Text:
    label = Text()
    label.append(f"pid {node.pid}", style="bold reverse" if role == "target" else "bold")
    if not node.recorded:
        label.append("  (no exec recorded)", style="dim italic")
    if node.uncertain:
        label.append("  (uncertain: this pid may have been reused since)", style="yellow")
    if node.hidden:
        plural = "s" if node.hidden != 1 else ""
        label.append(f"  ({node.hidden} exec{plural} not matching the filters)", style="dim italic")
    runs = list(_runs(node.execs))
    for run in runs:
        label.append("\n" if len(runs) > 1 or node.hidden else "  ")
        label.append_text(_exec_line(run[0]) if len(run) < 3 else _failed_run(run))
        if 1 < len(run) < 3:
            label.append("\n")
            label.append_text(_exec_line(run[1]))
    return label


def render_tree(tree: ProcessTree, fmt: str, stream: IO[bytes] | None = None) -> None:
    """Ancestry and descendants as a rich tree, one JSON object per process, or one CSV row per exec."""
    if fmt == "jsonl":
        _jsonl(
            {"type": "process", "role": role, "depth": depth, "pid": node.pid, "ppid": node.ppid,
             "recorded": node.recorded, "hidden": node.hidden, "uncertain": node.uncertain,
             "execs": [event_to_dict(e) for e in node.execs]}
            for role, depth, node in _walk(tree)
        )  # fmt: skip
        return
    if fmt == "csv":
        rows: list[list[Any]] = []
        for role, depth, node in _walk(tree):
            if not node.execs:
                rows.append([role, depth, *(node.pid if c == "pid" else None for c in COLUMNS)])
            for event in node.execs:
                data = event_to_dict(event)
                if data["argv"] is not None:
                    data["argv"] = command_line(event)
                if "argv_hex" in data:
                    data["argv_hex"] = " ".join(data["argv_hex"])
                rows.append([role, depth, *(data.get(c) for c in COLUMNS)])
        _csv(["role", "depth", *COLUMNS], rows, stream)
        return
    console = _console()
    branch: Tree | None = None
    root: Tree | None = None
    for role, _depth, node in _walk(tree):
        if role == "descendant":
            break
        label = _node_label(node, role)
        branch = Tree(label) if branch is None else branch.add(label)
        root = root or branch
    assert branch is not None and root is not None
    _add_children(branch, tree.target)
    console.print(root)
    if tree.truncated:
        console.print(
            f"(stopped after {tree.nodes} processes; raise --max-nodes to see more)", style="yellow"
        )


def _add_children(branch: Tree, node: ProcessNode) -> None:
    for child in node.children:
        _add_children(branch.add(_node_label(child, "descendant")), child)


# ---- sessions ------------------------------------------------------------------------------------


def render_sessions(items: list[SessionSummary], fmt: str) -> None:
    """The session list of ``timeline`` without a selector (with a ``host`` column for the fleet's)."""
    hosts = any(s.host is not None for s in items)
    header = ["ses", "auid", "user", "ttys", "first", "last", "events", "failed"]
    header = ["host", *header] if hosts else header
    rows: list[list[Any]] = [
        [*([s.host] if hosts else []), s.ses, s.auid, user_name(s.auid),
         " ".join(clean_text(t) or "" for t in s.ttys), _iso(s.first), _iso(s.last), s.events, s.failed]
        for s in items
    ]  # fmt: skip
    if fmt == "jsonl":
        _jsonl({"type": "session", **dict(zip(header, row, strict=True))} for row in rows)
        return
    if fmt == "csv":
        _csv(header, rows)
        return
    table = Table(
        box=None, pad_edge=False, title="sessions (pick one with --session SES)", title_justify="left"
    )
    for name in header:
        table.add_column(name, justify="right" if name in ("ses", "auid", "events", "failed") else "left")
    for s, row in zip(items, rows, strict=True):
        first = [Text(terminal_text(s.host or ""))] if hosts else []
        table.add_row(*first, "unset" if s.ses is None else str(s.ses), Text(_user(s.auid)),
                      Text(terminal_text(row[-6] or "")), Text(terminal_text(row[-5])),
                      utc_text(s.first), utc_text(s.last), str(s.events), str(s.failed))  # fmt: skip
    _console().print(table if items else Text("(no sessions)", style="dim"))


# ---- reports -------------------------------------------------------------------------------------

_SECTIONS: dict[str, tuple[str, list[str]]] = {
    "top_exes": ("Top executables", ["exe", "count", "users"]),
    "top_users": ("Top users (uid)", ["uid", "name", "count"]),
    "top_login_users": ("Top login users (auid)", ["uid", "name", "count"]),
    "failures": ("Failed execs by path and error", ["path", "errno", "exit", "count"]),
    "first_seen": ("First seen executables", ["exe", "first", "count"]),
    "writable": ("Executed from writable or hidden places", ["program", "place", "count", "first", "last"]),
    "per_hour": ("Execs per hour (UTC)", ["hour", "count", "failed"]),
}


def _report_rows(report: Report) -> Iterator[tuple[str, dict[str, Any]]]:
    for section in _SECTIONS:
        for item in getattr(report, section):
            data: dict[str, Any] = {}
            for key, value in asdict(item).items():
                if isinstance(value, datetime):
                    data[key] = _iso(value)
                elif isinstance(value, str):
                    data[key] = clean_text(value)
                    if (hex_text := raw_hex(value)) is not None:  # not UTF-8: the bytes, as events have
                        data[f"{key}_hex"] = hex_text
                else:
                    data[key] = value
            yield section, data


def render_report(report: Report, fmt: str) -> None:
    """The report's sections as titled tables, or one JSON object / CSV row per item."""
    if fmt == "jsonl":
        summary = {"type": "report", "section": "summary", "total": report.total, "failed": report.failed,
                   "first": _iso(report.first), "last": _iso(report.last)}  # fmt: skip
        _jsonl([summary, *({"type": "report", "section": s, **d} for s, d in _report_rows(report))])
        return
    if fmt == "csv":
        keys = ["exe", "path", "program", "uid", "name", "errno", "exit", "place", "hour", "first", "last",
                "count", "failed", "users"]  # fmt: skip
        _csv(["section", *keys], ([s, *(d.get(k) for k in keys)] for s, d in _report_rows(report)))
        return
    console = _console()
    span = (
        f"{utc_text(report.first)} – {utc_text(report.last)} UTC"
        if report.first and report.last
        else "no events"
    )
    console.print(Text(f"{report.total} execs ({report.failed} failed), {span}", style="bold"))
    by_section: dict[str, list[dict[str, Any]]] = {s: [] for s in _SECTIONS}
    for section, data in _report_rows(report):
        by_section[section].append(data)
    for section, (title, columns) in _SECTIONS.items():
        table = Table(title=title, title_justify="left", box=None, pad_edge=False)
        for column in columns:
            right = column in ("count", "users", "failed", "exit", "uid")
            table.add_column(column, justify="right" if right else "left", overflow="fold")
        for data in by_section[section]:
            table.add_row(
                *(Text("-" if data.get(c) is None else terminal_text(str(data[c]))) for c in columns)
            )
        console.print()
        console.print(table if by_section[section] else Text(f"{title}: none", style="dim"))
