"""``tree`` on the committed interleaved capture (24 processes that each exec themselves 6 times)
and on synthetic pid reuse."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from exectrail.model import ExecEvent
from exectrail.query.tree import process_tree
from exectrail.store import EventStore
from tests.support.captures import manifest, read_events
from tests.support.cli import run
from tests.support.paths import DATA
from tests.support.pidreuse import FILLER
from tests.support.pidreuse import shifted as _event


@pytest.fixture(scope="module")
def interleaved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("tree") / "e.db"
    with EventStore(db) as store, store.writer() as writer:
        for event in read_events(DATA / "interleaved_concurrent.log"):
            writer.add(event)
    return db


def test_runner_and_its_children(interleaved: Path) -> None:
    info = manifest("interleaved_concurrent")
    runner = info["runner"]["pid"]
    with EventStore(interleaved, readonly=True) as store:
        tree = process_tree(store.conn, runner)
    assert tree is not None and tree.target.recorded
    assert b"run.py" in b" ".join(tree.target.execs[0].argv or ())  # the workload runner itself
    assert [a.recorded for a in tree.ancestors] == [False]  # its parent started before the capture
    children = {c.pid: c for c in tree.target.children}
    assert set(children) >= {case["pid"] for case in info["cases"]}  # (and the helpers it compiled)
    for case in info["cases"]:
        node = children[case["pid"]]
        assert [[bytes.fromhex(a) for a in e["argv_hex"]] for e in case["events"]] == [
            list(e.argv or ()) for e in node.execs
        ]
        assert node.ppid == runner and node.children == []


def test_one_child_with_its_exec_chain_and_parent(interleaved: Path) -> None:
    info = manifest("interleaved_concurrent")
    case = info["cases"][5]
    with EventStore(interleaved, readonly=True) as store:
        tree = process_tree(store.conn, case["pid"])
    assert tree is not None
    assert len(tree.target.execs) == 6
    assert [a.pid for a in tree.ancestors][:1] == [info["runner"]["pid"]] and tree.ancestors[0].recorded
    # at a time between its 2nd and 3rd exec it is the same process
    at = tree.target.execs[1].time + timedelta(microseconds=1)
    with EventStore(interleaved, readonly=True) as store:
        again = process_tree(store.conn, case["pid"], at)
    assert again is not None and again.target.execs == tree.target.execs
    with EventStore(interleaved, readonly=True) as store:
        assert process_tree(store.conn, case["pid"], tree.target.execs[0].time - timedelta(seconds=1)) is None
        assert process_tree(store.conn, 999_999) is None


def test_pid_reuse_is_told_apart_by_time(db: Path, real_events: list[ExecEvent]) -> None:
    """pid 500 is first a child of 100, later (after the pid counter came round) of 200."""
    b = real_events[0]
    events = [
        _event(b, 0, 100, 1, b"first-parent"),
        _event(b, 1, 500, 100, b"first-500"),
        _event(b, 2, 501, 500, b"grandchild-of-first"),
        *(
            _event(b, 3 + i / 100, pid, 1, b"filler") for i, pid in enumerate(FILLER)
        ),  # the counter comes round
        _event(b, 10, 200, 1, b"second-parent"),
        _event(b, 11, 500, 200, b"second-500"),
        _event(b, 12, 502, 500, b"child-of-second"),
        _event(b, 20, 500, 200, b"second-500-execs-again"),  # same parent, no wrap: same process
    ]
    with EventStore(db) as store, store.writer() as writer:
        for event in events:
            writer.add(event)
    with EventStore(db, readonly=True) as store:
        late = process_tree(store.conn, 500)
        early = process_tree(store.conn, 500, b.time + timedelta(seconds=5))
    assert late is not None and early is not None
    assert [e.argv for e in late.target.execs] == [(b"second-500",), (b"second-500-execs-again",)]
    assert [a.execs[0].argv for a in late.ancestors if a.execs] == [(b"second-parent",)]
    assert [c.execs[0].argv for c in late.target.children] == [(b"child-of-second",)]
    assert [e.argv for e in early.target.execs] == [(b"first-500",)]
    assert [c.pid for c in early.ancestors[0].children] == []  # ancestors carry no siblings
    assert [a.execs[0].argv for a in early.ancestors if a.execs] == [(b"first-parent",)]
    assert [c.execs[0].argv for c in early.target.children] == [(b"grandchild-of-first",)]


def test_pid_reused_by_the_same_parent(db: Path, real_events: list[ExecEvent]) -> None:
    b = real_events[0]
    events = [
        _event(b, 0, 200, 1, b"parent"),
        _event(b, 1, 500, 200, b"first-job"),
        *(_event(b, 3 + i / 100, pid, 1, b"filler") for i, pid in enumerate(FILLER)),
        _event(b, 30, 500, 200, b"second-job"),
    ]
    with EventStore(db) as store, store.writer() as writer:
        for event in events:
            writer.add(event)
    with EventStore(db, readonly=True) as store:
        parent = process_tree(store.conn, 200)
        job = process_tree(store.conn, 500)
    assert parent is not None and job is not None
    assert [[e.argv for e in c.execs] for c in parent.target.children] == [
        [(b"first-job",)],
        [(b"second-job",)],
    ]
    assert [e.argv for e in job.target.execs] == [(b"second-job",)]


def test_filters_prune_the_tree(filled: Path) -> None:
    """``tree --success no``: only failed execs listed, only the branches that lead to one kept."""
    from exectrail.filters import EventFilter
    from exectrail.query.tree import count, prune

    runner = manifest("workload_enriched")["runner"]["pid"]
    with EventStore(filled, readonly=True) as store:
        whole = process_tree(store.conn, runner)
    assert whole is not None
    failed = prune(whole, EventFilter(success=False))
    assert 1 < count(failed.target) < count(whole.target)

    def walk(node: Any) -> Any:
        yield node
        for child in node.children:
            yield from walk(child)

    kept = list(walk(failed.target))[1:]
    assert kept and all(not e.success for node in kept for e in node.execs)
    assert all(node.execs or node.children for node in kept)  # nothing kept without a reason
    failures = sum(not e.success for node in walk(whole.target) for e in node.execs)
    assert sum(len(node.execs) for node in walk(failed.target)) == failures
    assert failed.ancestors == whole.ancestors


def test_cli_tree_with_filters_and_collapsed_path_searches(filled: Path) -> None:
    runner = manifest("workload_enriched")["runner"]["pid"]
    table = run("tree", str(runner), "--db", str(filled), "--format", "table", "--exe", "/usr/bin/true")
    assert table.exit_code == 0 and "not matching the filters" in table.stdout
    full = run("tree", str(runner), "--db", str(filled), "--format", "table").stdout
    assert "failed attempts (ENOENT):" in full  # gcc's PATH search, one line
    nodes = [json.loads(line) for line in run("tree", str(runner), "--db", str(filled), "--format", "jsonl",
                                                "--success", "no").stdout.splitlines()]  # fmt: skip
    assert all(not e["success"] for n in nodes if n["role"] == "descendant" for e in n["execs"])


def test_ancestor_behind_a_pid_wrap_is_marked_uncertain(db: Path, real_events: list[ExecEvent]) -> None:
    """The child's parent pid last exec'd an hour earlier, and the pid counter came round since: the
    process found is probably an older owner of that pid. It is shown, marked, and the walk stops."""
    b = real_events[0]
    events = [
        _event(b, 0, 50, 1, b"grandparent"),
        _event(b, 1, 100, 50, b"old-owner-of-100"),
        *(_event(b, 5 + i / 100, pid, 1, b"filler") for i, pid in enumerate(range(36, 100))),
        _event(b, 3600, 700, 100, b"child-of-a-new-100"),
        _event(b, 3601, 701, 700, b"grandchild"),
    ]
    with EventStore(db) as store, store.writer() as writer:
        for event in events:
            writer.add(event)
    with EventStore(db, readonly=True) as store:
        tree = process_tree(store.conn, 701)
    assert tree is not None
    assert [(a.pid, a.uncertain) for a in tree.ancestors] == [(700, False), (100, True)]
    table = run("tree", "701", "--db", str(db), "--format", "table").stdout
    assert "uncertain: this pid may have been reused since" in table and "grandparent" not in table
