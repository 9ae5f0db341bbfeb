"""A stock Debian 12 in a directory: install exectrail the way a user would, as root, in a chroot.

``fresh_root()`` unpacks a FRESH copy of a ``debootstrap --variant=minbase bookworm`` root
(no python3, no pip, no systemd), bind-mounts /proc, /sys, /dev and /dev/pts into it, and yields a
:class:`FreshRoot` whose ``run`` executes commands inside with ``chroot`` and a clean environment
(``env -i`` style: PATH, HOME, LANG and nothing of this machine's own settings). On the way out,
whatever happened (a failure, Ctrl-C), it kills processes still running inside, unmounts in reverse
order (lazily if a mount is busy), checks that nothing is mounted below the copy and deletes it.

The minbase root is made once per machine and cached as a tarball (:data:`CACHE_DIR`), built under a
``flock`` so two runs never race, renamed into place atomically and rebuilt after :data:`MAX_AGE`.
Downloaded ``.deb`` files are shared between roots through a bind-mounted apt archive directory.

The root gets this machine's apt sources (``/etc/apt/sources.list.d/debian.sources``, replacing
debootstrap's ``sources.list``), ``/etc/apt/apt.conf.d/99artifact-registry`` when present and
``/etc/resolv.conf``.

The CA shim: this machine reaches PyPI through a TLS-intercepting proxy whose CA is only in the
host's ``/etc/ssl/certs/ca-certificates.crt``. The root gets a copy at :data:`ROOT_CA` (a path apt
never rewrites; installing ``ca-certificates`` in the root regenerates the standard bundle without
the proxy CA) and every command sees ``PIP_CERT``, ``SSL_CERT_FILE`` and ``REQUESTS_CA_BUNDLE``
pointing at it. The shim exists only because of this machine's network: on a real stock host none of
it is needed, and no script of the project may rely on it.

The root shares the host's kernel but has its own /run: anything run inside that touches kernel
audit state must hold :func:`tests.support.kernel_lock.kernel_lock` on the HOST.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.ci import skip_or_fail

CACHE_DIR = Path(os.environ.get("EXECTRAIL_TEST_CACHE", "/var/cache/exectrail-tests"))
MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
MAX_AGE = 30 * 24 * 3600
APT_ARCHIVES = CACHE_DIR / "apt-archives"
#: the copies live here, not below pytest's tmp_path: pytest deletes old tmp dirs on its own and must
#: never walk into a /dev left mounted by a run that was SIGKILLed (the next fresh_root reaps those)
ROOTS_DIR = CACHE_DIR / "roots"
ROOT_CA = "/etc/exectrail-test-host-ca.crt"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: the host's apt configuration a root gets (host path, path in the root)
APT_FILES = (
    ("/etc/apt/sources.list.d/debian.sources", "etc/apt/sources.list.d/debian.sources"),
    ("/etc/apt/apt.conf.d/99artifact-registry", "etc/apt/apt.conf.d/99artifact-registry"),
    ("/etc/resolv.conf", "etc/resolv.conf"),
)


PYPI = "https://pypi.org/simple/click/"
#: this machine's environment as a stock root shell has it: byte-code is written (this machine sets
#: PYTHONDONTWRITEBYTECODE, which once hid build paths in the package's .pyc files)
STOCK_SHELL_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def require_network(*urls: str) -> None:
    """Skip locally, fail in CI, when the package archives cannot be reached (a GET of each URL)."""
    for url in (f"{MIRROR}/dists/{SUITE}/Release", *urls):
        try:
            context = ssl.create_default_context(cafile=str(HOST_CA)) if HOST_CA.exists() else None
            with urllib.request.urlopen(url, timeout=20, context=context) as response:
                response.read(1)
        except (OSError, ValueError) as exc:
            skip_or_fail(f"freshroot: cannot reach {url}: {exc}")


def _zstd() -> bool:
    return shutil.which("zstd") is not None


def tarball_path() -> Path:
    """Where the cached minbase root lives (zstd-compressed when zstd is installed)."""
    return CACHE_DIR / (f"{SUITE}-minbase.tar.zst" if _zstd() else f"{SUITE}-minbase.tar")


def _tar_compress() -> list[str]:
    return ["--zstd"] if _zstd() else []


def _fresh(tarball: Path) -> bool:
    try:
        return time.time() - tarball.stat().st_mtime < MAX_AGE
    except FileNotFoundError:
        return False


def _build(tarball: Path) -> None:
    """debootstrap into a scratch directory, tar it next to ``tarball`` and rename it into place."""
    scratch = Path(tempfile.mkdtemp(prefix="debootstrap.", dir=CACHE_DIR))
    partial = tarball.with_name(tarball.name + ".partial")
    try:
        started = time.monotonic()
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", SUITE, str(scratch / "root"), MIRROR],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if result.returncode != 0:
            tail = (result.stdout + result.stderr)[-2000:]
            raise RuntimeError(f"debootstrap exited {result.returncode}: {tail}")
        # debootstrap's own downloads are not wanted in every copy
        for deb in (scratch / "root/var/cache/apt/archives").glob("*.deb"):
            deb.unlink()
        tar = ["tar", *_tar_compress(), "--numeric-owner", "-cf", str(partial)]
        subprocess.run([*tar, "-C", str(scratch / "root"), "."], check=True, capture_output=True, timeout=600)
        os.replace(partial, tarball)
        print(f"freshroot: debootstrap + tar of {SUITE} minbase took {time.monotonic() - started:.1f} s")
    finally:
        partial.unlink(missing_ok=True)
        _remove_tree(scratch)


def root_tarball() -> Path:
    """The cached minbase root, made (or remade when older than :data:`MAX_AGE`) under a lock."""
    if os.geteuid() != 0:
        skip_or_fail("freshroot: needs root (debootstrap, chroot, mount)")
    if shutil.which("debootstrap") is None:
        skip_or_fail("freshroot: needs debootstrap (apt-get install debootstrap)")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tarball = tarball_path()
    fd = os.open(CACHE_DIR / "build.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not _fresh(tarball):
            try:
                _build(tarball)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                skip_or_fail(f"freshroot: cannot make a {SUITE} minbase root: {exc}")
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    return tarball


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a root shell: nothing from this machine but the CA shim."""
    env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8"}
    env.update({name: ROOT_CA for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")})
    env.update(extra or {})
    return env


@dataclass
class FreshRoot:
    """A running minbase root: ``path`` on the host, ``run``/``popen`` inside it."""

    path: Path

    def host(self, inside: str) -> Path:
        """The host path of a path inside the root."""
        return self.path / inside.lstrip("/")

    def command(self, args: Sequence[str]) -> list[str]:
        return ["chroot", str(self.path), *args]

    def run(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 600,
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args`` inside the root (clean environment, stdin /dev/null); raise if ``check`` fails."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        result = subprocess.run(
            self.command(args), capture_output=True, text=True, timeout=timeout, env=clean_env(env), **kwargs
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"in root: {list(args)} exited {result.returncode}\n"
                f"stdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}"
            )
        return result

    def sh(self, script: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run a shell command line inside the root (bash, as a user would type it)."""
        return self.run(["bash", "-c", script], **kwargs)

    def popen(
        self, args: Sequence[str], env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen[Any]:
        """Start ``args`` inside the root; the caller waits for it (``fresh_root`` kills leftovers)."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.Popen(self.command(args), env=clean_env(env), **kwargs)

    def apt_install(self, *packages: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """``apt-get install -y --no-install-recommends`` (after one ``apt-get update`` per root)."""
        if not any(self.host("/var/lib/apt/lists").glob("*_Packages*")):
            self.run(["apt-get", "update"], timeout=timeout)
        return self.run(
            ["apt-get", "install", "-y", "--no-install-recommends", *packages],
            timeout=timeout,
            env={"DEBIAN_FRONTEND": "noninteractive"},
        )


def _mounts_below(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest last as the kernel lists them."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            target = line.split()[4].replace("\\040", " ")
            if target == prefix or target.startswith(prefix + "/"):
                found.append(target)
    return found


def _mount(args: Sequence[str], target: Path, mounted: list[Path]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", *args, str(target)], check=True, capture_output=True, timeout=30)
    mounted.append(target)


def _remount_read_only(target: Path) -> None:
    subprocess.run(
        ["mount", "-o", "remount,bind,ro", str(target)], check=True, capture_output=True, timeout=30
    )


def _unmount(mounted: list[Path]) -> None:
    """Unmount in reverse order; a busy mount is detached lazily (umount -l)."""
    while mounted:
        target = mounted.pop()
        if subprocess.run(["umount", str(target)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


def _kill_inside(path: Path) -> None:
    """SIGKILL every process whose root directory is the copy (a watch or shell left running)."""
    prefix = str(path.resolve())
    for _ in range(50):
        left = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                root = os.readlink(proc / "root")
                if root == prefix or root.startswith(prefix + "/"):
                    left.append(int(proc.name))
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _remove_tree(path: Path) -> None:
    """Delete a root copy, but never while anything is mounted below it (it could be the host's /dev)."""
    left = _mounts_below(path)
    if left:
        raise RuntimeError(f"freshroot: still mounted, not deleting {path}: {left}")
    shutil.rmtree(path, ignore_errors=True)


def _owner_tag() -> str:
    """This process, as ``PID STARTTIME`` (a reused pid has another start time)."""
    return f"{os.getpid()} {_start_time(os.getpid())}"


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return "gone"


def _owner_alive(owner: Path) -> bool:
    try:
        pid, start = owner.read_text().split()
    except (OSError, ValueError):
        return False
    return _start_time(int(pid)) == start


def _reap_stale() -> None:
    """Unmount and delete the roots of runs that died without cleaning up (SIGKILL, a lost VM)."""
    for owner in ROOTS_DIR.glob("freshroot.*.owner"):
        path = owner.with_suffix("")
        if _owner_alive(owner):
            continue
        _kill_inside(path)
        _unmount([Path(target) for target in sorted(_mounts_below(path), key=len)])
        _remove_tree(path)
        owner.unlink(missing_ok=True)


def _configure(root: Path) -> None:
    """This machine's apt sources, resolver and the CA shim (see the module docstring)."""
    for host_file, inside in APT_FILES:
        if Path(host_file).exists():
            (root / inside).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(host_file, root / inside)
    if (root / APT_FILES[0][1]).exists():
        (root / "etc/apt/sources.list").unlink(missing_ok=True)
    shutil.copyfile(HOST_CA, root / ROOT_CA.lstrip("/"))


@contextlib.contextmanager
def fresh_root() -> Iterator[FreshRoot]:
    """A fresh minbase root in :data:`ROOTS_DIR`, mounted; unmounted and deleted afterwards."""
    require_network()
    tarball = root_tarball()
    APT_ARCHIVES.joinpath("partial").mkdir(parents=True, exist_ok=True)
    ROOTS_DIR.mkdir(mode=0o700, exist_ok=True)
    _reap_stale()
    path = Path(tempfile.mkdtemp(prefix="freshroot.", dir=ROOTS_DIR)).resolve()
    owner = path.with_name(path.name + ".owner")
    owner.write_text(_owner_tag())
    mounted: list[Path] = []
    try:
        started = time.monotonic()
        subprocess.run(
            ["tar", *_tar_compress(), "--numeric-owner", "-xpf", str(tarball), "-C", str(path)],
            check=True,
            capture_output=True,
            timeout=600,
        )
        print(f"freshroot: unpacked a fresh root in {time.monotonic() - started:.1f} s")
        _configure(path)
        # its / a mount point, as on a booted host (unshare --propagation needs one)
        _mount(["--bind", str(path)], path, mounted)
        _mount(["-t", "proc", "proc"], path / "proc", mounted)
        # read-only binds: nothing in the root (or a stray rm) can delete the host's /dev or /sys entries;
        # device nodes stay writable on a read-only mount
        _mount(["--bind", "/sys"], path / "sys", mounted)
        _remount_read_only(path / "sys")
        _mount(["--bind", "/dev"], path / "dev", mounted)
        _remount_read_only(path / "dev")
        _mount(["--bind", "/dev/pts"], path / "dev/pts", mounted)
        # a private /dev/shm as every booted system has (multiprocessing's locks live there)
        _mount(["-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs"], path / "dev/shm", mounted)
        _mount(["--bind", str(APT_ARCHIVES)], path / "var/cache/apt/archives", mounted)
        yield FreshRoot(path)
    finally:
        try:
            _kill_inside(path)
        finally:
            _unmount(mounted)
            _remove_tree(path)
            owner.unlink(missing_ok=True)
