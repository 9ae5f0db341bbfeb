"""exehash: the sha256 of what a process really executed, by pid (real processes, copies of
/bin/sleep in tmp_path) or by path (real files, FIFOs, directories, links), with its cache."""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exectrail.enrich.exehash import ExeHash, ExeHasher, Missing, format_dev, parse_dev
from tests.support.ci import skip_or_fail
from tests.support.paths import CAPTURED_LOGS, PEER_LOGS
from tests.support.procwait import in_thread
from tests.support.rootsafe_users import NOBODY, as_user

SLEEP = shutil.which("sleep") or "/bin/sleep"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def identity(path: Path) -> tuple[str, int]:
    """(dev, inode) as the audit PATH record gives them, derived here from os.stat's major/minor."""
    st_ = os.stat(path)
    return f"{os.major(st_.st_dev):02x}:{os.minor(st_.st_dev):02x}", st_.st_ino


def stat_time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC).replace(microsecond=ns % 1_000_000_000 // 1000)


@pytest.fixture
def sleep_copy(tmp_path: Path) -> Path:
    path = tmp_path / "sleep-copy"
    shutil.copy2(SLEEP, path)
    return path


@pytest.fixture
def running(sleep_copy: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([str(sleep_copy), "60"])  # returns once the exec succeeded
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_running_process_is_hashed_with_its_dev_inode_and_times(
    sleep_copy: Path, running: subprocess.Popen[bytes]
) -> None:
    before = datetime.now(UTC)
    found = ExeHasher().hash_process(running.pid, expected=identity(sleep_copy))
    assert isinstance(found, ExeHash), found
    st_ = os.stat(sleep_copy)
    assert found.sha256 == sha256_of(sleep_copy) == hashlib.sha256(Path(SLEEP).read_bytes()).hexdigest()
    assert (found.dev, found.inode) == identity(sleep_copy)
    assert found.mtime == stat_time(st_.st_mtime_ns) and found.ctime == stat_time(st_.st_ctime_ns)
    assert found.mtime.tzinfo is UTC and before <= found.hashed_at <= datetime.now(UTC)


def test_the_executed_inode_is_hashed_after_the_file_is_replaced_or_deleted(
    sleep_copy: Path, running: subprocess.Popen[bytes]
) -> None:
    original, executed = sha256_of(sleep_copy), identity(sleep_copy)
    intruder = sleep_copy.with_name("intruder")
    intruder.write_bytes(b"#!/bin/sh\necho not what ran\n")
    os.replace(intruder, sleep_copy)
    hasher = ExeHasher()
    by_pid = hasher.hash_process(running.pid, expected=executed)
    assert isinstance(by_pid, ExeHash) and by_pid.sha256 == original and by_pid.inode == executed[1]
    # the path now names another inode: its hash is the new content, and not what the record named
    by_path = hasher.hash_file(str(sleep_copy))
    assert isinstance(by_path, ExeHash) and by_path.sha256 == sha256_of(sleep_copy) != original
    assert hasher.hash_file(str(sleep_copy), expected=executed) == Missing("replaced")
    sleep_copy.unlink()
    again = ExeHasher().hash_process(running.pid, expected=executed)
    assert isinstance(again, ExeHash) and again.sha256 == original


def test_a_process_that_ended_is_gone_as_a_zombie_and_once_reaped(sleep_copy: Path) -> None:
    proc = subprocess.Popen([str(sleep_copy), "60"])
    proc.kill()
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert ExeHasher().hash_process(proc.pid) == Missing("gone")
    proc.wait()
    assert ExeHasher().hash_process(proc.pid) == Missing("gone")
    assert ExeHasher().hash_process(os.getpid(), proc="/nonexistent") == Missing("gone")


def test_another_inode_or_device_than_the_record_named_is_replaced(
    sleep_copy: Path, running: subprocess.Popen[bytes]
) -> None:
    dev, inode = identity(sleep_copy)
    major, minor = parse_dev(dev) or (0, 0)
    hasher = ExeHasher()
    assert hasher.hash_process(running.pid, expected=(dev, inode + 1)) == Missing("replaced")
    other_device = f"{major:02x}:{minor + 1:02x}"
    assert hasher.hash_process(running.pid, expected=(other_device, inode)) == Missing("replaced")
    assert hasher.hash_process(running.pid, expected=("garbage", inode)) == Missing("replaced")
    assert hasher.hash_file(str(sleep_copy), expected=(dev, inode + 1)) == Missing("replaced")
    # the same device written without leading zeros still matches
    assert isinstance(hasher.hash_process(running.pid, expected=(f"{major:x}:{minor:x}", inode)), ExeHash)


def test_a_file_over_the_cap_is_too_large(sleep_copy: Path, running: subprocess.Popen[bytes]) -> None:
    size = sleep_copy.stat().st_size
    assert ExeHasher(max_bytes=size - 1).hash_process(running.pid) == Missing("too-large")
    assert ExeHasher(max_bytes=size - 1).hash_file(str(sleep_copy)) == Missing("too-large")
    assert isinstance(ExeHasher(max_bytes=size).hash_file(str(sleep_copy)), ExeHash)


def test_fifo_directory_device_and_socket_are_not_regular_and_never_block(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody writes: opening it for reading without O_NONBLOCK would block
    hasher = ExeHasher()
    for path in (fifo, tmp_path, Path("/dev/null")):
        assert in_thread(functools.partial(hasher.hash_file, str(path))) == Missing("not-regular"), path
    assert hasher.hash_file(str(tmp_path / "absent")) == Missing("gone")


def test_a_symbolic_link_is_not_followed(sleep_copy: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    hasher = ExeHasher()
    for target in (sleep_copy, fifo):
        link = tmp_path / f"link-to-{target.name}"
        link.symlink_to(target)
        assert in_thread(functools.partial(hasher.hash_file, str(link))) == Missing("not-regular")
    assert hasher.hits + hasher.misses == 0  # nothing was read


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda p: p.open("ab").write(b"\0"), id="appended"),
        pytest.param(lambda p: os.truncate(p, 100), id="truncated"),
        pytest.param(lambda p: p.open("r+b").write(b"X"), id="rewritten-in-place"),
        pytest.param(lambda p: os.utime(p, ns=(0, 0)), id="mtime-set-back"),
        pytest.param(lambda p: os.chmod(p, 0o700), id="ctime-only"),
    ],
)
def test_a_file_changed_while_it_is_read_is_not_hashed(
    tmp_path: Path, change: Callable[[Path], object]
) -> None:
    path = tmp_path / "growing"
    path.write_bytes(os.urandom(64 * 1024))
    seen: list[int] = []

    def after_chunk(total: int) -> None:
        if not seen:
            change(path)
        seen.append(total)

    hasher = ExeHasher(chunk_bytes=4096, after_chunk=after_chunk)
    assert hasher.hash_file(str(path)) == Missing("changed")
    assert seen and seen[0] == 4096
    # nothing was cached: the next read (no change this time) hashes what is there now
    found = hasher.hash_file(str(path))
    assert isinstance(found, ExeHash) and found.sha256 == sha256_of(path) and hasher.hits == 0


def test_the_cache_counts_hits_and_misses_and_notices_a_change(
    sleep_copy: Path, running: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    hasher = ExeHasher(cache_entries=2)
    first = hasher.hash_process(running.pid)
    second = hasher.hash_process(running.pid)
    by_path = hasher.hash_file(str(sleep_copy))  # the same inode: a hit, by path as by pid
    assert isinstance(first, ExeHash) and second == first == by_path  # hashed_at from the first
    assert (hasher.hits, hasher.misses, hasher.hit_rate) == (2, 1, 2 / 3)
    os.utime(sleep_copy, ns=(0, 0))  # new mtime and ctime: hashed again
    third = hasher.hash_process(running.pid)
    assert isinstance(third, ExeHash) and third.mtime == datetime(1970, 1, 1, tzinfo=UTC)
    assert third.hashed_at >= first.hashed_at and (hasher.hits, hasher.misses) == (2, 2)
    # least recently used first out: two other files push both entries of sleep_copy out
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(name.encode())
        assert isinstance(hasher.hash_file(str(tmp_path / name)), ExeHash)
    assert isinstance(hasher.hash_process(running.pid), ExeHash) and (hasher.hits, hasher.misses) == (2, 5)
    assert ExeHasher().hit_rate == 0.0


def test_worker_threads_share_the_cache(sleep_copy: Path, tmp_path: Path) -> None:
    files = []
    for i in range(8):
        files.append(tmp_path / f"f{i}")
        files[-1].write_bytes(os.urandom(300_000 + i))
    hasher = ExeHasher(chunk_bytes=65536)
    results: list[ExeHash | Missing] = []
    lock = threading.Lock()

    def work() -> None:
        for path in files * 5:
            found = hasher.hash_file(str(path))
            with lock:
                results.append(found)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert hasher.hits + hasher.misses == len(results) == 160 and 8 <= hasher.misses <= 32
    expected = {sha256_of(p) for p in files}
    assert {r.sha256 for r in results if isinstance(r, ExeHash)} == expected
    assert all(isinstance(r, ExeHash) for r in results)


def test_permission_denied_is_unreadable(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        skip_or_fail("needs root to run a check as another user")
    secret = tmp_path / "secret"
    secret.write_bytes(b"root only")
    secret.chmod(0o600)
    tmp_path.chmod(0o755)

    def as_nobody() -> list[str]:  # a forked child: /root (and a venv in it) is 0700 to nobody
        hasher = ExeHasher()
        found = [hasher.hash_file(str(secret)), hasher.hash_process(1)]
        return [f.reason if isinstance(f, Missing) else "hashed" for f in found]

    assert as_user(NOBODY, as_nobody) == ["unreadable", "unreadable"]


def audit_devs() -> set[str]:
    """Every ``dev=`` of the captured logs and the peer projects' logs, as the kernel wrote it."""
    found: set[str] = set()
    peer = [p for p in PEER_LOGS.rglob("*") if p.is_file()] if PEER_LOGS.is_dir() else []
    logs = [*CAPTURED_LOGS, *peer]
    for log in logs:
        data = gzip.decompress(log.read_bytes()) if log.suffix == ".gz" else log.read_bytes()
        found.update(m.decode() for m in re.findall(rb"\bdev=([0-9a-f]+:[0-9a-f]+)", data))
    return found


def test_dev_as_audit_records_write_it() -> None:
    if not PEER_LOGS.is_dir():
        skip_or_fail(f"the peer logs are not beside the clone: {PEER_LOGS}")
    devs = audit_devs()
    assert {"fe:00", "fd:01", "103:01", "00:13"} <= devs  # two-digit and wider majors
    for dev in devs:
        major, minor = parse_dev(dev) or (-1, -1)
        assert format_dev(os.makedev(major, minor)) == dev
    assert format_dev(os.makedev(0x103, 0x2A)) == "103:2a" and format_dev(os.makedev(0, 0x1F)) == "00:1f"
    for bad in ("", "fd", "fd:", ":01", "fd:zz", "1:2:3"):
        assert parse_dev(bad) is None, bad


def test_dev_matches_the_kernels_own_major_minor_for_this_machines_mounts() -> None:
    checked = 0
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        major, minor = (int(n) for n in fields[2].split(":"))  # decimal here
        try:
            st_dev = os.stat(fields[4]).st_dev
        except OSError:
            continue
        if os.major(st_dev) == major and os.minor(st_dev) == minor:  # not overmounted
            assert format_dev(st_dev) == f"{major:02x}:{minor:02x}"
            checked += 1
    assert checked >= 1


@given(st.integers(0, (1 << 12) - 1), st.integers(0, (1 << 20) - 1))
def test_dev_round_trips_over_the_kernels_whole_range(major: int, minor: int) -> None:
    text = format_dev(os.makedev(major, minor))
    assert parse_dev(text) == (major, minor) and text == text.lower()
    assert len(text.partition(":")[0]) == max(2, len(f"{major:x}"))
