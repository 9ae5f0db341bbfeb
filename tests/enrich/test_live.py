"""live: the /proc context of real execs (copies of sleep in tmp_path, replaced, deleted, a zombie, gone,
exec'd again), read beside the reader; with a gated hasher beside them: the queue full (busy), one hash
for a storm of one file, the deadline (late), the order kept, drain and close; a planted /proc; and
the cost per event on a cache hit."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
import timeit
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from exectrail.enrich.container import read_cgroup
from exectrail.enrich.exehash import ExeHash, ExeHasher, Missing
from exectrail.enrich.live import LiveContext, LiveEnricher
from exectrail.enrich.procparent import process_start_ms
from tests.support.procwait import wait_exec

SLEEP = shutil.which("sleep") or "/bin/sleep"
Spawn = Callable[..., subprocess.Popen[bytes]]


def identity(path: str | Path) -> tuple[str, int]:
    """(dev, inode) as the audit PATH record gives them."""
    st_ = os.stat(path)
    return f"{os.major(st_.st_dev):02x}:{os.minor(st_.st_dev):02x}", st_.st_ino


@pytest.fixture
def copies(tmp_path: Path) -> list[Path]:
    """Three copies of sleep: the same bytes, three inodes (three cache keys)."""
    paths = [tmp_path / f"sleep-{name}" for name in "abc"]
    for path in paths:
        shutil.copy2(SLEEP, path)
    return paths


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    started: list[subprocess.Popen[bytes]] = []

    def run(
        argv: list[str], env: Mapping[str, str] | None = None, exe: str | None = None
    ) -> subprocess.Popen[bytes]:
        started.append(subprocess.Popen(argv, env=env))
        wait_exec(started[-1].pid, exe)
        return started[-1]

    yield run
    for proc in started:
        proc.kill()
        proc.wait()


@pytest.fixture
def enricher() -> Iterator[LiveEnricher[str]]:
    with LiveEnricher[str](ExeHasher()) as live:
        yield live


class GatedHasher(ExeHasher):
    """Hashes only when the gate opens (``started`` set when a hash begins): a slow disk, on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.started = threading.Event()
        self.computed = 0

    def compute(self, fd: int, before: os.stat_result) -> ExeHash | Missing:
        self.started.set()
        assert self.gate.wait(10)
        self.computed += 1
        return super().compute(fd, before)


def only(pairs: list[tuple[str, LiveContext]]) -> LiveContext:
    assert len(pairs) == 1
    return pairs[0][1]


def libc_path() -> str:
    """A shared library that exists and is harmless to preload: this process's libc."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        if "/libc.so" in line or "/libc-" in line:
            return line.split(maxsplit=5)[5]
    pytest.fail("no libc in /proc/self/maps")


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_real_exec_with_its_context_then_a_cache_hit_at_once(
    copies: list[Path], spawn: Spawn, enricher: LiveEnricher[str]
) -> None:
    lib = libc_path()
    proc = spawn([str(copies[0]), "60"], env={"LD_PRELOAD": lib, "LD_LIBRARY_PATH": "/opt/lib", "HOME": "/"})
    enricher.submit("first", proc.pid, os.getpid(), [identity(copies[0])], want_parent=True)
    first = enricher.drain(5)
    assert [item for item, _ in first] == ["first"]
    context = first[0][1]
    assert context.exe_hash is not None and context.exe_hash_missing is None
    assert context.exe_hash.sha256 == sha256_of(SLEEP)
    assert (context.exe_hash.dev, context.exe_hash.inode) == identity(copies[0])
    assert context.env == {"LD_PRELOAD": lib, "LD_LIBRARY_PATH": "/opt/lib"} and context.env_missing is None
    assert context.cgroup == read_cgroup(proc.pid) and context.cgroup is not None
    assert context.start_ms is not None and abs(context.start_ms - (process_start_ms(proc.pid) or 0)) <= 1
    assert context.parent is not None and context.parent.pid == os.getpid()
    assert context.parent.exe == os.path.realpath("/proc/self/exe")
    # the same file again: answered in submit, without the worker
    enricher.submit("second", proc.pid, None, [identity(copies[0])], want_parent=False)
    again = only(enricher.ready())
    assert again.exe_hash == context.exe_hash and again.parent is None
    stats = enricher.stats
    assert (stats.submitted, stats.hits, stats.misses, stats.hit_rate) == (2, 1, 1, 0.5)


def test_the_executed_file_is_hashed_after_it_is_replaced_or_deleted(
    copies: list[Path], spawn: Spawn, enricher: LiveEnricher[str]
) -> None:
    proc = spawn([str(copies[0]), "60"])
    executed = identity(copies[0])
    copies[1].write_bytes(b"#!/bin/sh\necho not what ran\n")
    os.replace(copies[1], copies[0])  # renamed over the executed file
    enricher.submit("replaced", proc.pid, None, [executed], want_parent=False)
    replaced = only(enricher.drain(5))
    assert replaced.exe_hash is not None and replaced.exe_hash.sha256 == sha256_of(SLEEP)
    assert replaced.exe_hash.inode == executed[1]
    copies[0].unlink()
    deleted_proc = spawn([str(copies[2]), "60"])
    executed = identity(copies[2])
    copies[2].unlink()
    enricher.submit("deleted", deleted_proc.pid, None, [executed], want_parent=False)
    deleted = only(enricher.drain(5))
    assert deleted.exe_hash is not None and deleted.exe_hash.sha256 == sha256_of(SLEEP)


def test_a_zombie_keeps_its_cgroup_and_a_reaped_process_is_gone(
    copies: list[Path], enricher: LiveEnricher[str]
) -> None:
    proc = subprocess.Popen([str(copies[0]), "60"])
    wait_exec(proc.pid)
    cgroup = read_cgroup(proc.pid)
    proc.kill()
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    enricher.submit("zombie", proc.pid, None, [identity(copies[0])], want_parent=False)
    zombie = only(enricher.ready())
    # its memory and executable are gone; the cgroup it ran in is still the kernel's answer
    assert (zombie.env, zombie.env_missing, zombie.exe_hash, zombie.exe_hash_missing) == (
        None,
        "gone",
        None,
        "gone",
    )
    assert zombie.cgroup == cgroup and zombie.start_ms is not None
    proc.wait()
    enricher.submit("reaped", proc.pid, os.getpid(), [identity(copies[0])], want_parent=True)
    reaped = only(enricher.ready())
    assert reaped == LiveContext(None, "gone", None, "gone", None, "gone", reaped.parent, None)
    assert reaped.parent is not None and reaped.parent.pid == os.getpid()
    assert enricher.stats.gone == 2


def test_a_pid_that_execd_again_is_replaced(
    copies: list[Path], spawn: Spawn, enricher: LiveEnricher[str]
) -> None:
    shell = os.path.realpath("/bin/sh")
    proc = spawn([shell, "-c", f"exec {copies[0]} 60"], env={"LD_PRELOAD": ""}, exe=str(copies[0]))
    # the event is the shell's exec; by the time it is read, the process runs another file
    enricher.submit("shell", proc.pid, None, [identity(shell)], want_parent=False)
    replaced = only(enricher.ready())
    assert replaced.exe_hash_missing == replaced.env_missing == replaced.cgroup_missing == "replaced"
    assert (replaced.exe_hash, replaced.env, replaced.cgroup) == (None, None, None)
    assert enricher.stats.replaced == 1
    # any of the event's PATH records may be the one executed (a script and its interpreter)
    enricher.submit("copy", proc.pid, None, [identity(shell), identity(copies[0])], want_parent=False)
    accepted = only(enricher.drain(5))
    assert accepted.exe_hash is not None and accepted.env == {"LD_PRELOAD": ""}
    # no PATH record: nothing to check against
    enricher.submit("unknown", proc.pid, None, [], want_parent=False)
    assert only(enricher.ready()).exe_hash == accepted.exe_hash


def test_no_pid_and_a_parent_younger_than_the_child(
    copies: list[Path], spawn: Spawn, enricher: LiveEnricher[str]
) -> None:
    enricher.submit("no pid", None, os.getpid(), [], want_parent=True)
    no_pid = only(enricher.ready())
    assert (no_pid.cgroup_missing, no_pid.env_missing, no_pid.exe_hash_missing) == ("no-pid",) * 3
    assert no_pid.parent is not None and no_pid.parent.pid == os.getpid() and no_pid.start_ms is None
    child = spawn([str(copies[0]), "60"])
    time.sleep(3 / os.sysconf("SC_CLK_TCK"))  # start times count clock ticks
    younger = spawn([str(copies[1]), "60"])
    enricher.submit("reused", child.pid, younger.pid, [], want_parent=True)
    enricher.submit("real", child.pid, os.getpid(), [], want_parent=True)
    enricher.submit("not asked", child.pid, os.getpid(), [], want_parent=False)
    parents = [context.parent for _, context in enricher.drain(5)]
    assert (
        parents[0] is None and parents[1] is not None and parents[1].pid == os.getpid() and parents[2] is None
    )


def test_a_full_queue_is_busy_and_a_storm_of_one_file_is_hashed_once(
    copies: list[Path], spawn: Spawn
) -> None:
    procs = [spawn([str(path), "60"]) for path in copies]
    hasher = GatedHasher()
    with LiveEnricher[str](hasher, queue_size=1, deadline=30) as live:
        live.submit("a", procs[0].pid, None, [], want_parent=False)
        assert hasher.started.wait(5)  # the worker holds a's descriptor, hashing
        live.submit("b", procs[1].pid, None, [], want_parent=False)  # waits in the queue
        live.submit("a again", procs[0].pid, None, [], want_parent=False)  # joins a's hash
        live.submit("c", procs[2].pid, None, [], want_parent=False)  # no room
        assert live.ready() == []
        hasher.gate.set()
        done = live.drain(5)
    assert [item for item, _ in done] == ["a", "b", "a again", "c"]
    contexts = [context for _, context in done]
    assert contexts[0].exe_hash is not None and contexts[2].exe_hash == contexts[0].exe_hash
    assert contexts[1].exe_hash is not None and contexts[1].exe_hash.inode == identity(copies[1])[1]
    assert contexts[3].exe_hash is None and contexts[3].exe_hash_missing == "busy"
    assert contexts[3].env_missing is None and contexts[3].cgroup is not None  # the rest was read
    assert hasher.computed == 2
    stats = live.stats
    assert (stats.misses, stats.joined, stats.busy, stats.hits) == (3, 1, 1, 0)


def test_past_the_deadline_late_in_order_and_the_late_hash_fills_the_cache(
    copies: list[Path], spawn: Spawn
) -> None:
    procs = [spawn([str(path), "60"]) for path in copies[:2]]
    hasher = GatedHasher()
    with LiveEnricher[str](hasher, deadline=0.2) as live:
        live.submit("warm", procs[1].pid, None, [], want_parent=False)
        hasher.gate.set()
        assert live.drain(5)[0][1].exe_hash is not None
        hasher.gate.clear()
        live.submit("slow", procs[0].pid, None, [], want_parent=False)
        live.submit("hit behind it", procs[1].pid, None, [], want_parent=False)
        assert live.ready() == []  # the hit waits for the item before it
        time.sleep(0.25)
        late = live.ready()
        assert [item for item, _ in late] == ["slow", "hit behind it"]
        assert late[0][1].exe_hash_missing == "late" and late[1][1].exe_hash is not None
        assert live.stats.late == 1
        hasher.gate.set()
        deadline = time.monotonic() + 5
        while hasher.computed < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.05)
        live.submit("now cached", procs[0].pid, None, [], want_parent=False)
        cached = only(live.ready())
        assert cached.exe_hash is not None and cached.exe_hash.inode == identity(copies[0])[1]
        assert live.stats.hits == 2


def test_drain_waits_at_most_its_timeout_and_close_closes_every_descriptor(
    copies: list[Path], spawn: Spawn
) -> None:
    procs = [spawn([str(path), "60"]) for path in copies]
    fds_before = set(os.listdir("/proc/self/fd"))
    hasher = GatedHasher()
    live = LiveEnricher[str](hasher, queue_size=4, deadline=30)
    for i, proc in enumerate(procs):
        live.submit(str(i), proc.pid, None, [], want_parent=False)
    assert hasher.started.wait(5)
    began = time.monotonic()
    drained = live.drain(0.2)
    assert 0.2 <= time.monotonic() - began < 2
    assert [(item, context.exe_hash_missing) for item, context in drained] == [
        (str(i), "late") for i in range(3)
    ]
    assert live.drain(0.1) == []
    hasher.gate.set()
    live.close()
    live.close()  # twice is fine
    assert not live._worker.is_alive()
    assert set(os.listdir("/proc/self/fd")) == fds_before


def test_drain_gives_the_hashes_that_arrive_in_time(copies: list[Path], spawn: Spawn) -> None:
    proc = spawn([str(copies[0]), "60"])
    hasher = GatedHasher()
    with LiveEnricher[str](hasher, deadline=30) as live:
        live.submit("x", proc.pid, None, [], want_parent=False)
        threading.Timer(0.1, hasher.gate.set).start()
        assert only(live.drain(5)).exe_hash is not None


def test_a_planted_proc_neither_raises_nor_blocks(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "5").mkdir(parents=True)
    (proc / "5" / "stat").write_bytes(b"5 (x) R garbage \xff")
    (proc / "5" / "environ").write_bytes(b"\xff\0LD_PRELOAD=/x\xfe")
    (proc / "5" / "cgroup").write_bytes(b"not a cgroup line\n\0\0\n")
    os.mkfifo(tmp_path / "fifo")
    (proc / "5" / "exe").symlink_to(tmp_path / "fifo")
    (proc / "6").symlink_to(proc / "5")
    (proc / "7").mkdir()
    (proc / "7" / "exe").mkdir()
    results: list[list[tuple[str, LiveContext]]] = []

    def run() -> None:
        with LiveEnricher[str](ExeHasher(), proc=str(proc)) as live:
            for pid in (5, 6, 7):
                live.submit(str(pid), pid, pid, [], want_parent=True)
            results.append(live.drain(1))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive() and results
    five, six, seven = (context for _, context in results[0])
    assert five.env == {"LD_PRELOAD": "/x\udcfe"} and five.start_ms is None
    assert (five.cgroup, five.cgroup_missing, five.exe_hash_missing) == (None, "malformed", "not-regular")
    assert (six.cgroup_missing, six.env_missing, six.exe_hash_missing) == ("unreadable",) * 3
    assert (seven.exe_hash_missing, seven.cgroup_missing, seven.env_missing) == (
        "not-regular",
        "gone",
        "gone",
    )


def test_the_cost_per_event_on_a_cache_hit(
    copies: list[Path], spawn: Spawn, enricher: LiveEnricher[str]
) -> None:
    proc = spawn([str(copies[0]), "60"], env={"LD_LIBRARY_PATH": "/opt/lib", "PATH": "/bin"})
    expected = [identity(copies[0])]
    enricher.submit("warm", proc.pid, os.getpid(), expected, want_parent=True)
    assert only(enricher.drain(5)).exe_hash is not None
    costs = {}
    for want_parent in (False, True):

        def one() -> None:
            enricher.submit("e", proc.pid, os.getpid(), expected, want_parent)  # noqa: B023
            enricher.ready()

        runs = 2000
        costs[want_parent] = min(timeit.repeat(one, number=runs, repeat=3)) / runs
    alone, with_parent = costs[False] * 1e6, costs[True] * 1e6
    print(f"submit+ready on a cache hit: {alone:.1f} us, with the parent {with_parent:.1f} us")
    assert enricher.stats.hits == enricher.stats.submitted - 1
    # a few tens of microseconds; the bound leaves room for a loaded CI machine
    assert costs[False] < 150e-6 and costs[True] < 250e-6
