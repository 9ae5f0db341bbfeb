"""User and group names (issue 14, item 3): auditd's ENRICHED part as the captured logs and the
peer logs hold it, values written the way auditd writes them (``audit_encode_nv_string``), hostile
bytes, and this machine's name service."""

from __future__ import annotations

import grp
import os
import pwd
import re
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exectrail.enrich import names
from exectrail.enrich.names import MAX_MEMO, MAX_PART, NameService, enriched_names
from exectrail.parse.fields import split_fields
from tests.support.paths import CAPTURED_LOGS, PEER_LOGS

ROOT_PART = (
    b'ARCH=x86_64 SYSCALL=execve AUID="unset" UID="root" GID="root" EUID="root" SUID="root"'
    b' FSUID="root" EGID="root" SGID="root" FSGID="root"'
)


def syscall_lines(path: Path) -> list[tuple[dict[bytes, bytes], bytes]]:
    """(raw fields, interpreted part) of each ENRICHED SYSCALL line of ``path``."""
    out = []
    for line in path.read_bytes().splitlines():
        raw, sep, part = line.partition(b"\x1d")
        if sep and b"type=SYSCALL " in raw:
            out.append((split_fields(raw[raw.find(b"): ") + 3 :]), part))
    return out


def test_the_captured_enriched_logs_give_root_and_an_unset_auid() -> None:
    """Both ENRICHED captures ran as root without a login (auid unset), per their raw fields."""
    lines = [item for log in (CAPTURED_LOGS[0], CAPTURED_LOGS[2]) for item in syscall_lines(log)]
    assert len(lines) > 400
    for raw, part in lines:
        uid, euid, auid, gid = enriched_names(part)
        assert (raw[b"uid"], raw[b"euid"], raw[b"gid"]) == (b"0", b"0", b"0")
        assert (uid, euid, gid) == ("root", "root", "root")
        assert raw[b"auid"] == b"4294967295" and auid is None


PEER_EXPECTED = {
    # uid=995 gid=991 auid=4294967295: UID="chrony" GID="chrony" AUID="unset"
    "src__testdata__record-adjntpval.txt": [("chrony", "chrony", None, "chrony")],
    # auid=1000 uid=0: AUID="user" UID="root"
    "src__testdata__record-execve.txt": [("root", "root", "user", "root")],
    "src__testdata__record-perl-reverse-shell.txt": [("root", "root", "user", "root")],
}


@pytest.mark.parametrize("name", sorted(PEER_EXPECTED))
def test_peer_lines_read_by_hand(name: str) -> None:
    lines = syscall_lines(PEER_LOGS / "threathunters-io__laurel" / name)
    assert [enriched_names(part) for _, part in lines] == PEER_EXPECTED[name]


def test_every_peer_syscall_line_names_each_id_the_same_way() -> None:
    """Across laurel's ENRICHED test lines: an id has one name, -1 none, 0 is root."""
    lines = [item for path in sorted(PEER_LOGS.glob("*/*")) for item in syscall_lines(path)]
    assert len(lines) > 20
    seen: dict[bytes, set[str | None]] = defaultdict(set)
    for raw, part in lines:
        for key, name in zip((b"uid", b"euid", b"auid", b"gid"), enriched_names(part), strict=True):
            ident = (b"g" if key == b"gid" else b"u") + raw[key]
            seen[ident].add(name)
    assert seen[b"u0"] == {"root"} and seen[b"g0"] == {"root"}
    assert seen[b"u4294967295"] == {None}
    assert all(len(found) == 1 for found in seen.values()), seen


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        (ROOT_PART, ("root", "root", None, "root")),
        (b'UID="root" GID="root"\r\n', ("root", None, None, "root")),  # a line end left on
        (b'AUID="alice" UID="bob" EUID="carol" GID="staff"', ("bob", "carol", "alice", "staff")),
        # unresolved ids (%d, so negative above 2^31), and what auditd writes without an interpretation
        (b'AUID="unknown(1234)" UID="unknown(-2)" EUID="?" GID="unset"', (None, None, None, None)),
        # a value with a space is hex: "domain users" (sssd/winbind groups), "conversion error(x)"
        (b'UID="root" GID=646F6D61696E207573657273', ("root", None, None, "domain users")),
        (b"UID=636F6E76657273696F6E206572726F72287829", (None, None, None, None)),
        (b"UID=6AC3B673C3A9", ("jösé", None, None, None)),  # UTF-8, hex because not ASCII
        (b"UID=FF41", (None, None, None, None)),  # not UTF-8
        (b"UID=0A41", (None, None, None, None)),  # a control character
        (b"UID=6A6F7", (None, None, None, None)),  # odd length
        (b"UID=root", (None, None, None, None)),  # neither quoted nor hex: not auditd's
        (b'UID="ro"ot"', (None, None, None, None)),
        (b'UID=""', (None, None, None, None)),
        (b'UID="' + b"a" * 62 + b'"', ("a" * 62, None, None, None)),
        (b'UID="' + b"a" * 63 + b'"', (None, None, None, None)),  # 63 bytes: maybe cut by auditd
        (b'UID="root" UID="evil"', (None, None, None, None)),  # twice: not auditd's
        (b'OUID="root" OLD-AUID="root" SUID="root" FSUID="root" EGID="root"', (None, None, None, None)),
        (b'uid="root" UID ="root" =UID="root"', (None, None, None, None)),
        (b"", (None, None, None, None)),
        (b'UID="root" ' + b"x" * MAX_PART, (None, None, None, None)),  # too long to be auditd's
    ],
)
def test_hand_cases(part: bytes, expected: tuple[str | None, ...]) -> None:
    assert enriched_names(part) == expected


def auditd_value(name: bytes) -> bytes:
    """A value written as ``audit_encode_nv_string`` writes it (lib/audit_logging.c)."""
    if any(b == 0x22 or b < 0x21 or b > 0x7E for b in name):
        return name.hex().upper().encode()
    return b'"' + name + b'"'


@given(st.text(max_size=70), st.text(max_size=10))
@settings(max_examples=400)
def test_a_name_as_auditd_writes_it_comes_back_when_it_can_be_shown(name: str, other: str) -> None:
    raw = name.encode("utf-8", "surrogatepass")
    part = b"ARCH=x86_64 SYSCALL=execve AUID=" + auditd_value(other.encode("utf-8", "surrogatepass"))
    part += b" UID=" + auditd_value(raw) + b' GID="root"'
    showable = (
        0 < len(raw) < 63
        and name.isprintable()
        and name not in ("unset", "?")
        and not name.startswith(("unknown(", "conversion error("))
        and not re.search("[\ud800-\udfff]", name)
    )
    uid, euid, _auid, gid = enriched_names(part)
    assert (uid, euid, gid) == (name if showable else None, None, "root")


PIECES = [b" ", b"UID=", b"EUID=", b'"', b"=", b"41", b"6A", b"GID", b"unset", b"\x1d", b"\xff"]


@given(st.binary(max_size=300) | st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join))
@settings(max_examples=500)
def test_any_bytes_give_four_names_or_none_and_never_raise(part: bytes) -> None:
    found = enriched_names(part)
    assert len(found) == 4
    for name in found:
        assert name is None or (name.isprintable() and 0 < len(name.encode()) < 63)


def test_the_memo_is_bounded() -> None:
    for n in range(MAX_MEMO + 10):
        enriched_names(b'UID="u%d"' % n)
    assert 0 < len(names._MEMO) <= MAX_MEMO
    assert enriched_names(b'UID="u5"')[0] == "u5"


def _passwd_files_first() -> dict[int, str]:
    """uid -> name of the first /etc/passwd line with that uid (what getpwuid gives with ``files``)."""
    out: dict[int, str] = {}
    for line in Path("/etc/passwd").read_text(errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            out.setdefault(int(fields[2]), fields[0])
    return out


def test_this_machines_users_and_groups() -> None:
    service = NameService()
    users = _passwd_files_first()
    assert users[0] == "root"
    for uid, name in users.items():
        assert service.user(uid) == name
    assert service.user(os.getuid()) == pwd.getpwuid(os.getuid()).pw_name
    assert service.group(0) == grp.getgrgid(0).gr_name == "root"
    assert service.group(os.getgid()) == grp.getgrgid(os.getgid()).gr_name
    unused = next(n for n in range(4_000_000_000, 4_000_001_000) if n not in users)
    assert service.user(unused) is None and service.group(unused) is None


@pytest.mark.parametrize("bad", [None, -1, 4294967295, 4294967296, 2**70])
def test_ids_without_a_name(bad: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not asked at all: even a name service that names every id does not name these."""
    service = NameService()
    assert service.user(bad) is None and service.group(bad) is None
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: pwd.struct_passwd(("any", "x", uid, 0, "", "/", "")))
    monkeypatch.setattr(grp, "getgrgid", lambda gid: grp.struct_group(("any", "x", gid, [])))
    assert NameService().user(bad) is None and NameService().group(bad) is None
    assert NameService().user(4294967294) == "any" == NameService().group(4294967294)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_answers_and_misses_are_cached_for_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user added after a miss shows up once the miss is older than the TTL."""
    calls: list[int] = []
    known: dict[int, str] = {}

    def getpwuid(uid: int) -> pwd.struct_passwd:
        calls.append(uid)
        if uid not in known:
            raise KeyError(uid)
        return pwd.struct_passwd((known[uid], "x", uid, uid, "", "/", "/bin/sh"))

    monkeypatch.setattr(pwd, "getpwuid", getpwuid)
    clock = Clock()
    service = NameService(ttl_s=60, clock=clock)
    assert service.user(5000) is None and service.user(5000) is None
    assert calls == [5000]
    known[5000] = "newcomer"
    clock.now += 59
    assert service.user(5000) is None and calls == [5000]
    clock.now += 2
    assert service.user(5000) == "newcomer" and calls == [5000, 5000]
    assert service.user(5000) == "newcomer" and calls == [5000, 5000]


@pytest.mark.parametrize("error", [KeyError, OverflowError, ValueError, OSError])
def test_name_service_errors_give_none(monkeypatch: pytest.MonkeyPatch, error: type[Exception]) -> None:
    def fails(_number: int) -> object:
        raise error("no")

    monkeypatch.setattr(pwd, "getpwuid", fails)
    monkeypatch.setattr(grp, "getgrgid", fails)
    service = NameService()
    assert service.user(1) is None and service.group(1) is None


def test_names_that_cannot_be_shown_give_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name the name service decoded with surrogateescape (not UTF-8) or with a control byte."""
    odd = iter(["b\udcffad", "tab\there", ""])

    def getpwuid(uid: int) -> pwd.struct_passwd:
        return pwd.struct_passwd((next(odd), "x", uid, uid, "", "/", "/bin/sh"))

    monkeypatch.setattr(pwd, "getpwuid", getpwuid)
    service = NameService()
    assert [service.user(n) for n in (1, 2, 3)] == [None, None, None]


def test_the_cache_is_bounded() -> None:
    service = NameService(max_entries=8)
    for uid in range(100):
        service.user(uid)
    assert 0 < len(service._users) <= 8
    assert service.user(0) == "root"
