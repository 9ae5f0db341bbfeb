"""Issue 14 on the real kernel: the context ``exectrail watch`` gives every exec event.

Real processes under ``watch --mode daemon --format jsonl`` (and beside a private auditd, to check that
``review`` of auditd's log gives the same ids): a process tree (script, parent chain by exec id,
names), a pid reused by a process that never exec'd, a process moved into fresh cgroups (and one
gone before its cgroup was read), memfd and deleted-file execs, chosen environment variables, and
the hash of the executed file when the path is renamed over or the process exec's again at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.kernel import EXECTRAIL, Kernel
from tests.support.live import WatchProcess, running_auditd

pytestmark = pytest.mark.kernel

Event = dict[str, Any]
PYTHON = os.path.realpath(sys.executable)
SH = os.path.realpath("/bin/sh")
EXEC_ID = re.compile(r"[0-9a-f]{32}")


def start_watch(tmp_path: Path, *args: str) -> WatchProcess:
    return WatchProcess(tmp_path, "--mode", "daemon", "--no-store", *args)


def finish(watch: WatchProcess) -> list[Event]:
    """Sync, stop cleanly, and the exec events written."""
    watch.sync()
    assert watch.stop() == 0, "".join(watch.stderr)
    assert "Traceback" not in "".join(watch.stderr)
    return watch.events()


def only(events: list[Event], **fields: Any) -> Event:
    """The one event with these field values."""
    found = [e for e in events if all(e.get(k) == v for k, v in fields.items())]
    assert len(found) == 1, f"{len(found)} events with {fields}"
    return found[0]


def sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def dev_inode(path: Path | str) -> tuple[str, int]:
    st = os.stat(path)
    return f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}", st.st_ino


def marker() -> str:
    return f"exectrail-ctx-{uuid.uuid4().hex}"


# --- 1. a tree: sh x.sh -> python3 y.py -> /bin/echo --------------------------------------------------


def run_tree(tmp_path: Path) -> tuple[str, int]:
    """``sh x.sh`` running ``python3 y.py`` running ``/bin/echo MARK``; (the marker, sh's pid)."""
    mark = marker()
    (tmp_path / "x.sh").write_text(f"{PYTHON} y.py\n")
    (tmp_path / "y.py").write_text(
        f"import subprocess\nsubprocess.run(['/bin/echo', '{mark}'], check=True)\n"
    )
    proc = subprocess.Popen(["/bin/sh", "x.sh"], cwd=tmp_path, stdout=subprocess.DEVNULL)
    assert proc.wait(timeout=60) == 0
    return mark, proc.pid


def tree_events(events: list[Event], tmp_path: Path, mark: str, sh_pid: int) -> tuple[Event, Event, Event]:
    sh = only(events, pid=sh_pid, argv=["/bin/sh", "x.sh"])
    py = only(events, ppid=sh_pid, argv=[PYTHON, "y.py"])
    echo = only(events, argv=["/bin/echo", mark])
    assert (sh["cwd"], py["cwd"], echo["cwd"]) == (str(tmp_path),) * 3
    return sh, py, echo


def test_a_process_tree(kernel: Kernel, tmp_path: Path) -> None:
    watch = start_watch(tmp_path)
    mark, sh_pid = run_tree(tmp_path)
    events = finish(watch)
    sh, py, echo = tree_events(events, tmp_path, mark, sh_pid)

    assert (sh["script"], py["script"], echo["script"]) == (
        str(tmp_path / "x.sh"),
        str(tmp_path / "y.py"),
        None,
    )
    assert (sh["exe"], py["exe"], echo["exe"]) == (SH, PYTHON, "/usr/bin/echo")
    # the chain by exec id, each parent as the trail recorded its exec
    assert py["parent_exec_id"] == sh["exec_id"] and echo["parent_exec_id"] == py["exec_id"]
    assert py["parent"] == {
        "exec_id": sh["exec_id"], "pid": sh_pid, "exe": SH, "argv": ["/bin/sh", "x.sh"],
        "time": sh["time"], "source": "trail",
    }  # fmt: skip
    assert echo["parent"] == {
        "exec_id": py["exec_id"], "pid": py["pid"], "exe": PYTHON, "argv": [PYTHON, "y.py"],
        "time": py["time"], "source": "trail",
    }  # fmt: skip
    assert echo["ppid"] == py["pid"]
    # sh's parent is this test process, which exec'd before watch started: from /proc
    assert sh["parent_exec_id"] is None
    assert sh["parent"]["source"] == "proc" and sh["parent"]["exec_id"] is None
    assert (sh["parent"]["pid"], sh["parent"]["exe"]) == (os.getpid(), os.readlink("/proc/self/exe"))
    assert sh["parent"]["argv"] == [
        a.decode() for a in Path("/proc/self/cmdline").read_bytes().split(b"\0")[:-1]
    ]

    ids = [e["exec_id"] for e in events]
    assert all(isinstance(i, str) and EXEC_ID.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)
    loginuid = int(Path("/proc/self/loginuid").read_text())
    for event in (sh, py, echo):
        assert (event["uid"], event["gid"]) == (0, 0)
        assert (event["uid_name"], event["euid_name"], event["gid_name"]) == ("root", "root", "root")
        assert event["names_source"] == "nss"
        if loginuid == 0xFFFFFFFF:  # unset
            assert event["auid"] is None and event["auid_name"] is None
        else:
            assert (event["auid"], event["auid_name"]) == (loginuid, pwd.getpwuid(loginuid).pw_name)
        assert event["fileless"] == []  # the scripts are in /tmp, not the programs


def test_review_of_auditds_log_gives_the_same_ids(kernel: Kernel, tmp_path: Path) -> None:
    """Multicast beside a private auditd: the ids of its log's review are those watch gave live."""
    with running_auditd(tmp_path / "auditd") as auditd:
        watch = WatchProcess(tmp_path, "--mode", "multicast", "--no-store")
        mark, sh_pid = run_tree(tmp_path)
        live = finish(watch)
        auditd.stop()
    review = subprocess.run(
        [*EXECTRAIL, "review", "--format", "jsonl", str(auditd.log)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    from_log = [e for e in map(json.loads, review.stdout.splitlines()) if e.get("type") == "exec"]
    watched = tree_events(live, tmp_path, mark, sh_pid)
    reviewed = tree_events(from_log, tmp_path, mark, sh_pid)
    keys = ("serial", "exec_id", "parent_exec_id", "script", "fileless")
    assert [{k: e[k] for k in keys} for e in reviewed] == [{k: e[k] for k in keys} for e in watched]
    assert watched[1]["parent_exec_id"] == watched[0]["exec_id"] is not None
    # from the log the /proc fields are missing for a reason, never filled
    assert {(e["exe_hash"], e["exe_hash_missing"], e["env"], e["env_missing"]) for e in reviewed} == {
        (None, "not-live", None, "not-live")
    }


# --- 2. a pid reused by a process that never exec'd ---------------------------------------------------


def fork_at_pid(target: int, mark: str, tries: int = 500) -> tuple[int, int, float, float]:
    """A child of this process (B) on pid ``target`` that does not exec: it forks a grandchild that
    execs ``/usr/bin/true MARK``, reaps it, then waits for the pipe it gets to close before it exits.
    (B's pid, the pipe's write end, the wall-clock time just before and after the fork.)"""
    for _ in range(tries):
        read_end, write_end = os.pipe()
        with open("/proc/sys/kernel/ns_last_pid", "w") as last:
            last.write(str(target - 1))
        before = time.time()
        pid = os.fork()
        if pid == 0:  # B: no exec, no Python beyond these calls
            try:
                os.close(write_end)
                if os.getpid() == target:
                    child = os.fork()
                    if child == 0:
                        os.execv("/usr/bin/true", ["/usr/bin/true", mark])
                    os.waitpid(child, 0)
                    os.read(read_end, 1)
            finally:
                os._exit(0)
        after = time.time()
        os.close(read_end)
        if pid == target:
            return pid, write_end, before, after
        os.close(write_end)
        os.waitpid(pid, 0)
    pytest.fail(f"could not fork a process on pid {target} in {tries} tries")


def test_a_reused_pid_is_not_taken_for_its_old_exec(kernel: Kernel, tmp_path: Path) -> None:
    watch = start_watch(tmp_path)
    first = marker()
    a = subprocess.Popen(["/usr/bin/true", first])  # A: execs on pid P, recorded, exits
    a.wait(timeout=30)
    watch.sync()
    time.sleep(0.1)  # B must start well after A's exec (start times tick at 10 ms)
    second = marker()
    b_pid, release, before, after = fork_at_pid(a.pid, second)
    try:
        watch.sync()  # B's child's event is out while B still runs
    finally:
        os.close(release)
        os.waitpid(b_pid, 0)
    events = finish(watch)
    old = only(events, argv=["/usr/bin/true", first])
    new = only(events, argv=["/usr/bin/true", second])
    assert old["pid"] == new["ppid"] == a.pid
    assert new["parent_exec_id"] is None  # not A's exec
    parent = new["parent"]
    assert parent["source"] == "proc" and parent["exec_id"] is None
    assert (parent["pid"], parent["exe"]) == (b_pid, os.readlink("/proc/self/exe"))
    started = datetime.fromisoformat(parent["time"]).timestamp()
    assert before - 0.05 <= started <= after + 0.05  # B's start, not A's exec
    assert datetime.fromisoformat(old["time"]).timestamp() < before - 0.05


# --- 3. a process moved into fresh cgroups -------------------------------------------------------------


def _mounted() -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """(mount point, root) of the cgroup v2 hierarchy and of systemd's named v1 one, when mounted."""
    v2 = systemd = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, after = line.partition(" - ")
        fstype, _, options = after.split(" ", 2)
        root, point = fields.split(" ")[3:5]
        if fstype == "cgroup2" and v2 is None:
            v2 = (point, root)
        elif fstype == "cgroup" and "name=systemd" in options.split(",") and systemd is None:
            systemd = (point, root)
    return v2, systemd


def _mount(made: list[Path], fstype: str, options: str | None) -> tuple[str, str]:
    point = Path(tempfile.mkdtemp(prefix=f"exectrail-{fstype}-"))
    made.append(point)
    command = ["mount", "-t", fstype, *(["-o", options] if options else []), fstype, str(point)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a {fstype} hierarchy: {done.stderr.strip()}")
    return str(point), "/"


@contextmanager
def cgroup_mounts() -> Iterator[list[tuple[str, str]]]:
    """(mount point, root) of the hierarchies a process's cgroup path is taken from: the cgroup v2 one
    and, on a hybrid host, systemd's named v1 hierarchy (which the path is then read from), in that
    order; a process is moved into both, as systemd does on a hybrid host. One that is in use but not
    mounted here (a fresh root) is mounted in a temporary directory for the test, and unmounted after."""
    v2, systemd = _mounted()
    hybrid = any(
        line.split(":")[1:2] == ["name=systemd"]
        for line in Path("/proc/self/cgroup").read_text().splitlines()
    )
    made: list[Path] = []
    try:
        if v2 is None:
            v2 = _mount(made, "cgroup2", None)
        if systemd is None and hybrid:
            systemd = _mount(made, "cgroup", "none,name=systemd")
        yield [v2] if systemd is None else [v2, systemd]
    finally:
        for point in reversed(made):
            subprocess.run(["umount", str(point)], capture_output=True, timeout=30)
            point.rmdir()


@contextmanager
def fresh_cgroups(*names: str) -> Iterator[tuple[list[Path], str]]:
    """The directories ``names`` (nested in that order) made in every hierarchy of
    :func:`cgroup_mounts`; the innermost's, and its path as /proc/PID/cgroup names it. Removed after
    (the processes put there must be gone by then)."""
    made: list[Path] = []
    with cgroup_mounts() as mounts:
        try:
            for point, _ in mounts:
                path = Path(point)
                for name in names:
                    path = path / name
                    path.mkdir()
                    made.append(path)
            leaves = [Path(point, *names) for point, _ in mounts]
            root = mounts[-1][1].rstrip("/")  # the hierarchy the path is read from
            yield leaves, f"{root}/{'/'.join(names)}"
        finally:
            for path in reversed(made):
                deadline = time.monotonic() + 10
                while path.exists():
                    try:
                        path.rmdir()
                    except OSError:  # EBUSY: a process exiting is still counted in it
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)


def moved_shell(leaves: list[Path], command: str) -> str:
    """A ``sh -c`` script that moves its own process into ``leaves``, then ``exec``s ``command``."""
    moves = "".join(f"echo $$ > {leaf / 'cgroup.procs'} && " for leaf in leaves)
    return f"{moves}exec {command}"


@contextmanager
def stopped(watch: WatchProcess) -> Iterator[None]:
    """``watch`` stopped (SIGSTOP): the kernel queues the records meanwhile."""
    watch.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        watch.proc.send_signal(signal.SIGCONT)


def test_a_process_moved_into_fresh_cgroups(kernel: Kernel, tmp_path: Path) -> None:
    rand = uuid.uuid4().hex[:12]
    unit = f"exectrail-test-{rand}.service"
    container = hashlib.sha256(rand.encode()).hexdigest()
    scope = f"docker-{container}.scope"
    gone_mark = marker()
    watch = start_watch(tmp_path)
    with (
        fresh_cgroups(unit) as (unit_leaves, unit_path),
        fresh_cgroups(f"exectrail-test-{rand}.slice", scope) as (
            scope_leaves,
            scope_path,
        ),
    ):
        inner = f'{SH} -c "read x; /usr/bin/true {gone_mark}; echo done; read y || true"'
        service = subprocess.Popen(
            [SH, "-c", moved_shell(unit_leaves, inner)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        docker = subprocess.Popen([SH, "-c", moved_shell(scope_leaves, "/usr/bin/sleep 0.5")])
        try:
            assert service.stdin is not None and service.stdout is not None
            watch.sync()  # the inner sh's event is out, its cgroup read while it runs
            with stopped(watch):  # its child execs, exits and is reaped before watch reads its /proc
                service.stdin.write(b"go\n")
                service.stdin.flush()
                assert service.stdout.readline() == b"done\n"
            service.stdin.close()
            assert service.wait(timeout=30) == 0 and docker.wait(timeout=30) == 0
        finally:
            for proc in (service, docker):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
        events = finish(watch)
    shell = only(
        events,
        pid=service.pid,
        exe=SH,
        argv=[SH, "-c", "read x; /usr/bin/true " + gone_mark + "; echo done; read y || true"],
    )
    gone = only(events, argv=["/usr/bin/true", gone_mark])
    moved = only(events, pid=docker.pid, exe="/usr/bin/sleep")
    context = ("cgroup", "systemd_unit", "container_id", "container_runtime", "cgroup_source")
    assert [shell[k] for k in context] == [unit_path, unit, None, None, "proc"]
    assert [moved[k] for k in context] == [scope_path, scope, container, "docker", "proc"]
    assert gone["parent_exec_id"] == shell["exec_id"]
    assert gone["exe_hash_missing"] == gone["env_missing"] == "gone"
    assert [gone[k] for k in context] == [unit_path, unit, None, None, "inherited"]
    assert not any(leaf.exists() for leaf in unit_leaves)


# --- 4. fileless execs: a memfd, a deleted file --------------------------------------------------------

FILELESS = """
import os, sys
how, source, target = sys.argv[1:4]
data = open(source, "rb").read()
if how == "deleted":
    fd = os.open(target, os.O_RDONLY)
    os.unlink(target)
else:
    fd = os.memfd_create("exectrail-test", 0)
    with os.fdopen(fd, "wb", closefd=False) as out:
        out.write(data)
argv = ["exectrail-fileless", "0.5"]
if how == "memfd-path":
    os.execv(f"/proc/self/fd/{fd}", argv)
os.execve(fd, argv, os.environ)
"""


def test_memfd_and_deleted_file_execs(kernel: Kernel, tmp_path: Path) -> None:
    sleep = "/usr/bin/sleep"
    copy = tmp_path / "sleep-copy"
    shutil.copy2(sleep, copy)
    copy_dev, copy_inode = dev_inode(copy)
    watch = start_watch(tmp_path)
    pids = {}
    for how in ("memfd-fd", "memfd-path", "deleted"):
        proc = subprocess.Popen([PYTHON, "-c", FILELESS, how, sleep, str(copy)])
        assert proc.wait(timeout=30) == 0
        pids[how] = proc.pid
    events = finish(watch)
    assert not copy.exists()
    want = sha256(sleep)
    by_fd = only(events, pid=pids["memfd-fd"], argv=["exectrail-fileless", "0.5"])
    by_path = only(events, pid=pids["memfd-path"], argv=["exectrail-fileless", "0.5"])
    deleted = only(events, pid=pids["deleted"], argv=["exectrail-fileless", "0.5"])
    for event in (by_fd, by_path):
        assert event["exe"] == "/memfd:exectrail-test (deleted)"
        assert event["fileless"] == ["memfd", "fd"]
        assert event["exe_hash"]["sha256"] == want, event["exe_hash_missing"]
    assert (by_fd["syscall"], by_fd["path"]) == ("execveat", "")
    assert by_path["syscall"] == "execve" and re.fullmatch(r"/proc/self/fd/[0-9]+", by_path["path"])
    assert deleted["syscall"] == "execveat" and deleted["exe"] == f"{copy} (deleted)"
    scratch = ["scratch-dir"] if str(copy).startswith(("/tmp/", "/var/tmp/", "/dev/shm/")) else []
    assert deleted["fileless"] == ["deleted", "fd", *scratch]
    found = deleted["exe_hash"]
    assert found is not None, deleted["exe_hash_missing"]
    assert (found["sha256"], found["dev"], found["inode"]) == (want, copy_dev, copy_inode)


# --- 5. chosen environment variables -------------------------------------------------------------------


def loaded_libm() -> str:
    """The path of the libm this Python has loaded: a real library, harmless to preload."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split(maxsplit=5)[-1]
        if re.fullmatch(r"/.*/libm\.so\.[0-9]+", path):
            return path
    pytest.fail("libm is not loaded in this process")


def test_chosen_environment_variables(kernel: Kernel, tmp_path: Path) -> None:
    libm = loaded_libm()
    clean = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "LD_LIBRARY_PATH")}
    watch = start_watch(tmp_path)
    quick = marker()
    runs = {
        "preload": subprocess.Popen(["/usr/bin/sleep", "1"], env={**clean, "LD_PRELOAD": libm}),
        "library": subprocess.Popen(["/usr/bin/sleep", "1"], env={**clean, "LD_LIBRARY_PATH": str(tmp_path)}),
        "none": subprocess.Popen(["/usr/bin/sleep", "1"], env={**clean, "EXECTRAIL_CTX_TEST": "x"}),
        "quick": subprocess.Popen(["/usr/bin/true", quick], env={**clean, "LD_PRELOAD": libm}),
    }
    assert all(proc.wait(timeout=30) == 0 for proc in runs.values())
    written = finish(watch)
    events = {name: only(written, pid=proc.pid) for name, proc in runs.items()}
    assert (events["preload"]["env"], events["preload"]["env_missing"]) == ({"LD_PRELOAD": libm}, None)
    assert events["library"]["env"] == {"LD_LIBRARY_PATH": str(tmp_path)}
    assert (events["none"]["env"], events["none"]["env_missing"]) == ({}, None)
    assert events["quick"]["argv"] == ["/usr/bin/true", quick]
    assert (events["quick"]["env"], events["quick"]["env_missing"]) in [
        ({"LD_PRELOAD": libm}, None),
        (None, "gone"),
    ]
    # --env-var chooses other variables instead
    chosen = start_watch(tmp_path / "chosen", "--env-var", "EXECTRAIL_CTX_TEST", "--env-var", "NOT_SET_X")
    proc = subprocess.Popen(
        ["/usr/bin/sleep", "0.5"], env={**clean, "LD_PRELOAD": libm, "EXECTRAIL_CTX_TEST": "a=b c"}
    )
    assert proc.wait(timeout=30) == 0
    event = only(finish(chosen), pid=proc.pid)
    assert (event["env"], event["env_missing"]) == ({"EXECTRAIL_CTX_TEST": "a=b c"}, None)


# --- 6. the hash of the file that ran ------------------------------------------------------------------


def test_exe_hash_of_a_normal_exec_and_the_cache(kernel: Kernel, tmp_path: Path) -> None:
    sleep = "/usr/bin/sleep"
    watch = start_watch(tmp_path)
    pids = []
    for _ in range(2):
        proc = subprocess.Popen([sleep, "0.3"])
        assert proc.wait(timeout=30) == 0
        pids.append(proc.pid)
    written = finish(watch)
    first, second = (only(written, pid=pid) for pid in pids)
    st = os.stat(sleep)
    for event in (first, second):
        found = event["exe_hash"]
        assert found is not None, event["exe_hash_missing"]
        assert (found["sha256"], (found["dev"], found["inode"])) == (sha256(sleep), dev_inode(sleep))
        assert abs(datetime.fromisoformat(found["mtime"]).timestamp() - st.st_mtime) < 0.001
        assert abs(datetime.fromisoformat(found["ctime"]).timestamp() - st.st_ctime) < 0.001
    assert second["exe_hash"]["hashed_at"] == first["exe_hash"]["hashed_at"]  # from the cache


def wait_until_exe(pid: int, exe: str) -> None:
    deadline = time.monotonic() + 10
    while os.readlink(f"/proc/{pid}/exe") != exe:
        assert time.monotonic() < deadline, f"{pid} never ran {exe}"
        time.sleep(0.01)


def test_a_file_replaced_after_its_exec_is_not_misattributed(kernel: Kernel, tmp_path: Path) -> None:
    """With watch stopped until the swap is done, /proc is read only after it, every time."""
    program, other, shell = tmp_path / "x", tmp_path / "other", tmp_path / "shx"
    shutil.copy2("/usr/bin/sleep", program)
    shutil.copy2("/usr/bin/true", other)
    shutil.copy2(SH, shell)
    executed, original = dev_inode(program), sha256(program)
    watch = start_watch(tmp_path)
    with stopped(watch):
        renamed = subprocess.Popen([str(program), "1"])  # Popen returns once the exec is done
        os.rename(other, program)
        again = subprocess.Popen([str(shell), "-c", "exec /usr/bin/sleep 1"])
        wait_until_exe(again.pid, "/usr/bin/sleep")
    assert renamed.wait(timeout=30) == 0 and again.wait(timeout=30) == 0
    events = finish(watch)
    assert sha256(program) == sha256("/usr/bin/true") != original
    ran = only(events, pid=renamed.pid)
    found = ran["exe_hash"]
    assert found is not None, ran["exe_hash_missing"]
    assert (found["sha256"], (found["dev"], found["inode"])) == (original, executed)
    assert dev_inode(program) != executed
    first = only(events, pid=again.pid, exe=str(shell))
    assert (first["exe_hash"], first["exe_hash_missing"]) == (None, "replaced")
    assert (first["env"], first["env_missing"]) == (None, "replaced")
    then = only(events, pid=again.pid, exe="/usr/bin/sleep")
    assert then["exe_hash"]["sha256"] == sha256("/usr/bin/sleep")
