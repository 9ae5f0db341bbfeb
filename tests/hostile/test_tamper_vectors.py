"""Fixed vectors for the formats tamper evidence rests on: event ids, the events chain, the alarms chain.

The expected digests and chain values are literals, computed once by a few independent lines of
hashlib (the documented formula: SHA-256 of the prefix and the compact JSON array of the stored
values, BLOBs as ``{"hex": …}``; chain = SHA-256(previous chain ‖ digest), the first after 32 zero
bytes). Any change to these formats -- hashing the link inputs the other way round, another column
order, another prefix -- makes every store written before fail ``verify``, so it must fail here first.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exectrail.model import Alarm, ExecEvent
from exectrail.store import EventStore
from exectrail.store.alarms import alarm_identity, store_alarms
from exectrail.store.codec import COLUMNS
from exectrail.store.verify import verify_store


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)


_IDS: dict[str, Any] = {
    "pid": 8101,
    "ppid": 8095,
    "uid": 0,
    "euid": 0,
    "suid": 0,
    "fsuid": 0,
    "gid": 0,
    "egid": 0,
}
EVENTS = [
    ExecEvent(
        time=_time(1795618246518), serial=882, node=None, arch="x86_64", syscall="execve", success=True,
        exit=0, **_IDS, sgid=0, fsgid=0, auid=1000, ses=3, tty="pts0", comm="ls", exe="/usr/bin/ls",
        cwd="/root", path="/usr/bin/ls", argc=2, argv=(b"ls", b"-l"), key="procmon", proctitle="ls -l",
        incomplete=False, script=None, fileless=(),
    ),
    ExecEvent(
        time=_time(1795618246519), serial=883, node="web1", arch="x86_64", syscall="execve", success=False,
        exit=-2, pid=8102, ppid=8101, uid=1000, euid=1000, suid=1000, fsuid=1000, gid=1000, egid=1000,
        sgid=1000, fsgid=1000, auid=1000, ses=3, tty="pts0", comm="sh", exe="/usr/bin/dash", cwd="/tmp/é",
        path="/tmp/\udcff", argc=None, argv=None, key="procmon", proctitle=None, incomplete=False,
        script=None, fileless=(),
    ),
    ExecEvent(  # an exec whose SYSCALL record was removed: who ran it is unknown
        time=_time(1795618246520), serial=884, node=None, arch=None, syscall=None, success=None, exit=None,
        pid=None, ppid=None, uid=None, euid=None, suid=None, fsuid=None, gid=None, egid=None, sgid=None,
        fsgid=None, auid=None, ses=None, tty=None, comm=None, exe=None, cwd="/", path="/bin/true", argc=1,
        argv=(b"true",), key=None, proctitle="true", incomplete=True, script=None, fileless=(),
    ),
]  # fmt: skip
EVENT_IDS = [":1795618246.518:882", "web1:1795618246.519:883", ":1795618246.520:884"]
EVENT_DIGESTS = [
    "ebeba7b5100673762e9cfc9a7a7c03e355cc67ec83a0ee260e331aea1d94d369",
    "ebef076b11afa5a19c156db9cdd5653d4dd86d9e31ee5cf49c4341d12db50394",
    "db323f32f3c69b3b0375e1059880ee093768ac0902c4338bc927f5f9f5a27632",
]
EVENT_CHAIN = [
    "379ef0fe9c2d97b4e1e7613ff5512bf19fd333c894fcccc2bb9fc2ec2c5e94d9",
    "43473c26a342092f591dae13258ae770e83d743d773da203a660a639a958646d",
    "3a9e73d3412983072cb987d523a7c10187f90707c6a90fb0e8544374f0795a4d",
]

_DISABLED = (
    "type=CONFIG_CHANGE msg=audit(1795618246.600:900): op=set audit_enabled=0 old=1 auid=0 ses=3 res=1"
)
_REMOVED = (
    "type=CONFIG_CHANGE msg=audit(1795618247.186:1111): auid=4294967295 ses=4294967295 "
    'op=remove_rule key="procmon" list=4 res=1'
)
ALARMS = [
    Alarm(
        "audit-disabled", _time(1795618246600), "audit was disabled (enabled=0)", "certain", None,
        {"setting": "audit_enabled", "old": 1, "new": 0}, (_DISABLED,),
    ),
    Alarm(
        "rules-removed", _time(1795618247186),
        "1 procmon exec rule deleted (by /usr/sbin/auditctl (pid 8174, uid 0))", "certain", "web1",
        {"keys": ["procmon"], "count": 1}, (_REMOVED,),
    ),
]  # fmt: skip
ALARM_IDS = [
    "alarm:audit-disabled::1795618246600:d6f59b544ce97fa5",
    "alarm:rules-removed:web1:1795618247186:bcd48e02d4712a46",
]
ALARM_DIGESTS = [
    "39da43d8442c5df640ea8e6d761ddc8f8dc038874b17dfdcd9b2fefb938c5595",
    "4d06e9a0189100e21f68d640d54c0f31044cc91825cee0044784515c0d232836",
]
ALARM_CHAIN = [
    "2316bbc331a4d419f00ff3698d708176937b646d39960d6084f22b8901b6f579",
    "a030075fc8dbc21f4773773fdb3f9a35e9cbebacfa3ef3e9a382dbbd35b0bc85",
]
ALARM_COLUMNS = "identity, kind, time_ms, certainty, host, summary, details, evidence"


def _store(path: Path) -> None:
    with EventStore(path) as store:
        with store.writer() as writer:
            for event in EVENTS:
                assert writer.add(event)
        assert store_alarms(store, ALARMS) == len(ALARMS)


def _documented_digest(prefix: bytes, values: list[Any]) -> str:
    """The documented formula, written independently of exectrail.store.chain."""
    plain = [{"hex": v.hex()} if isinstance(v, bytes) else v for v in values]
    text = json.dumps(plain, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(prefix + text).hexdigest()


def _documented_chain(digests: list[str]) -> list[str]:
    chain, out = bytes(32), []
    for hex_digest in digests:
        chain = hashlib.sha256(chain + bytes.fromhex(hex_digest)).digest()
        out.append(chain.hex())
    return out


def test_event_ids_are_pinned() -> None:
    assert [e.event_id for e in EVENTS] == EVENT_IDS


def test_alarm_ids_are_pinned() -> None:
    assert [alarm_identity(a) for a in ALARMS] == ALARM_IDS


def test_events_chain_is_pinned(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    _store(db)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT {', '.join(COLUMNS)}, digest, chain FROM events ORDER BY seq").fetchall()
    assert [r[-2].hex() for r in rows] == EVENT_DIGESTS
    assert [r[-1].hex() for r in rows] == EVENT_CHAIN
    # the literals are the documented formula over the stored values: the columns added since schema 1
    # (incomplete, script, fileless, then the context of schema 5) only up to the last one that holds
    # more than its migration's value
    first_context = COLUMNS.index("exec_id")
    assert all(
        set(r[first_context:-2]) == {None} and r[first_context - 2 : first_context] == (None, "")
        for r in rows
    )
    values = [
        list(r[: first_context - 3]) if r[first_context - 3] == 0 else list(r[: first_context - 2])
        for r in rows
    ]
    assert [_documented_digest(b"exectrail-event-v1\n", v) for v in values] == EVENT_DIGESTS
    assert _documented_chain(EVENT_DIGESTS) == EVENT_CHAIN


def test_alarms_chain_is_pinned(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    _store(db)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT {ALARM_COLUMNS}, digest, chain FROM alarms ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == ALARM_IDS
    assert [r[-2].hex() for r in rows] == ALARM_DIGESTS
    assert [r[-1].hex() for r in rows] == ALARM_CHAIN
    assert [_documented_digest(b"exectrail-alarm-v1\n", list(r[:-2])) for r in rows] == ALARM_DIGESTS
    assert _documented_chain(ALARM_DIGESTS) == ALARM_CHAIN


def test_heads_name_both_chains(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    _store(db)
    with EventStore(db, readonly=True) as store:
        verdict = verify_store(store.conn)
    assert verdict.ok, verdict.problems
    assert verdict.heads == f"events=3:{EVENT_CHAIN[-1]},alarms=2:{ALARM_CHAIN[-1]}"
