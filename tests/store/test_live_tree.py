"""A known process tree captured live: a login session runs a shell whose pipeline runs a script.

A private auditd (tests/support/auditd_harness.py: kernel lock held, kernel audit state restored and
checked) records ``/bin/sh outer.sh``, started in a new login session (``/proc/self/loginuid``) on its
own pseudo-terminal, as a login user the test creates (``useradd``; a fresh root has no uid 1000).
``outer.sh`` runs the pipeline ``/bin/sh inner.sh | tr``; the script runs
``printf`` and a ``sh -c '…; exec true'`` (one process, two execs). The shells write down their own
pids and session id; ``tree`` and ``timeline`` over the imported log must give back exactly that.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import subprocess
import termios
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exectrail.filters import EventFilter
from exectrail.query.report import user_name
from exectrail.query.timeline import TimelineQuery, sessions, timeline
from exectrail.query.tree import ProcessNode, process_tree
from exectrail.store import EventStore
from tests.support.auditd_harness import HarnessError, auditd_capture, usability_problem
from tests.support.ci import skip_or_fail
from tests.support.cli import run

pytestmark = pytest.mark.kernel

OUTER = """\
read ses < /proc/$$/sessionid
echo "$ses" > "$1/ses"
echo $$ > "$1/outer.pid"
/bin/sh "$1/inner.sh" "$1" | /usr/bin/tr a-z A-Z > "$1/tr.out"
"""
INNER = """\
echo $$ > "$1/inner.pid"
/usr/bin/printf 'hello from the script\\n'
/bin/sh -c 'echo $$ > "$0/leaf.pid"; exec /usr/bin/true leaf-marker' "$1"
"""


@dataclass
class Observed:
    db: Path
    work: Path
    outer: int
    inner: int
    leaf: int
    ses: int
    tty: str
    runner: int
    auid: int


def _login_on(tty_fd: int, uid: int) -> None:
    """In the child: a new login session (auid ``uid``, ses) with ``tty_fd`` as controlling terminal."""
    with open("/proc/self/loginuid", "w") as fh:
        fh.write(str(uid))
    os.setsid()
    fcntl.ioctl(tty_fd, termios.TIOCSCTTY, 0)


@pytest.fixture(scope="module")
def login_uid() -> Iterator[int]:
    """The uid of a user made for these tests (unique name, no home), deleted after them."""
    name = f"etl{uuid.uuid4().hex[:6]}"  # short: the tree table keeps it on one line
    try:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        skip_or_fail(f"cannot create a login user with useradd: {exc}")
    user_name.cache_clear()  # the CLI runs in this process: an earlier test may have found no uid 1000
    try:
        yield pwd.getpwnam(name).pw_uid
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory, login_uid: int) -> Observed:
    problem = usability_problem()
    deadline = time.monotonic() + 600
    while problem and "another audit daemon" in problem and time.monotonic() < deadline:
        time.sleep(2)  # another test's capture holds the kernel: wait for it, do not skip
        problem = usability_problem()
    if problem:
        skip_or_fail(f"kernel: {problem}")
    base = tmp_path_factory.mktemp("live-tree")
    work = base / "w"
    work.mkdir()
    (work / "outer.sh").write_text(OUTER)
    (work / "inner.sh").write_text(INNER)
    master, slave = os.openpty()
    try:
        with auditd_capture("ENRICHED", workdir=base / "audit") as capture:
            proc = subprocess.run(
                ["/bin/sh", str(work / "outer.sh"), str(work)],
                stdin=slave, stdout=slave, stderr=slave, preexec_fn=lambda: _login_on(slave, login_uid),
                env={"PATH": "/usr/bin:/bin"}, timeout=60, check=True,
            )  # fmt: skip
            assert proc.returncode == 0
            capture.sync()
        log = capture.log_path
    except HarnessError as exc:
        skip_or_fail(f"kernel audit capture not possible: {exc}")
    finally:
        tty = os.ttyname(slave)
        os.close(slave)
        os.close(master)
    db = base / "events.db"
    result = run("import", "--db", str(db), str(log))
    assert result.exit_code == 0, result.stderr

    def read(name: str) -> int:
        return int((work / name).read_text().split()[0])

    return Observed(db, work, read("outer.pid"), read("inner.pid"), read("leaf.pid"), read("ses"),
                    tty.removeprefix("/dev/").replace("/", ""), os.getpid(), login_uid)  # fmt: skip


def _argv(node: ProcessNode) -> list[list[bytes]]:
    return [list(e.argv or ()) for e in node.execs]


def test_tree_of_the_shell(observed: Observed) -> None:
    w = str(observed.work).encode()
    with EventStore(observed.db, readonly=True) as store:
        tree = process_tree(store.conn, observed.outer)
    assert tree is not None
    assert _argv(tree.target) == [[b"/bin/sh", w + b"/outer.sh", w]]
    assert [(a.pid, a.recorded) for a in tree.ancestors] == [(observed.runner, False)]  # pytest: no exec seen
    children = {child.pid: child for child in tree.target.children}  # the pipeline's two execs race
    script = children.pop(observed.inner)
    (tr,) = children.values()
    assert _argv(script) == [[b"/bin/sh", w + b"/inner.sh", w]]
    assert _argv(tr) == [[b"/usr/bin/tr", b"a-z", b"A-Z"]] and tr.children == []
    printf, leaf = script.children
    assert _argv(printf) == [[b"/usr/bin/printf", b"hello from the script\\n"]]
    assert leaf.pid == observed.leaf and [a[0] for a in _argv(leaf)] == [b"/bin/sh", b"/usr/bin/true"]
    assert _argv(leaf)[1] == [b"/usr/bin/true", b"leaf-marker"] and leaf.children == []
    for node in (tree.target, script, tr, printf, leaf):
        assert all(
            e.auid == observed.auid and e.ses == observed.ses and e.tty == observed.tty for e in node.execs
        )


def test_tree_of_the_leaf_goes_up_to_the_shell(observed: Observed) -> None:
    with EventStore(observed.db, readonly=True) as store:
        tree = process_tree(store.conn, observed.leaf)
    assert tree is not None and len(tree.target.execs) == 2
    assert [a.pid for a in tree.ancestors] == [observed.inner, observed.outer, observed.runner]


def test_timeline_of_the_session(observed: Observed) -> None:
    with EventStore(observed.db, readonly=True) as store:
        by_session = list(timeline(store.conn, TimelineQuery(session=observed.ses)))
        by_tty = list(timeline(store.conn, TimelineQuery(tty=observed.tty)))
        by_auid = list(
            timeline(
                store.conn, TimelineQuery(EventFilter(auids=frozenset({observed.auid})), session=observed.ses)
            )
        )
        listed = [s for s in sessions(store.conn, EventFilter()) if s.ses == observed.ses]
    programs = ["/usr/bin/dash"] * 3 + ["/usr/bin/tr", "/usr/bin/printf", "/usr/bin/true"]
    assert sorted(e.exe or "" for e in by_session) == sorted(programs)
    assert by_session[0].pid == observed.outer and by_session[-1].argv == (b"/usr/bin/true", b"leaf-marker")
    assert [e.time for e in by_session] == sorted(e.time for e in by_session)
    assert by_tty == by_session == by_auid
    assert len(listed) == 1 and listed[0].auid == observed.auid and listed[0].ttys == (observed.tty,)
    assert listed[0].events == 6 and listed[0].failed == 0


def test_cli_renders_the_session(observed: Observed) -> None:
    table = run("tree", str(observed.outer), "--db", str(observed.db), "--format", "table").stdout
    name = pwd.getpwuid(observed.auid).pw_name
    assert f"pid {observed.outer}" in table and f"pid {observed.leaf}" in table
    assert f"(login {observed.auid}({name}))" in table and "leaf-marker" in table
    lines = run(
        "timeline", "--db", str(observed.db), "--session", str(observed.ses), "--format", "jsonl"
    ).stdout
    assert len(lines.splitlines()) == 6
