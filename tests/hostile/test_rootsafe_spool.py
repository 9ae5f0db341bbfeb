"""The sinks' spool as root and as nobody: no planted link is followed, no planted batch is forwarded
(issue 11, item 4: "with --spool in a directory another user can write, root follows planted
symlinks and forwards a planted .batch as genuine events")."""

from __future__ import annotations

import functools
import os
import stat
import time
from pathlib import Path
from typing import Any

import orjson

from exectrail.sinks import SinkSet, Tuning, read_sink_status
from exectrail.sinks.forwarder import Forwarder
from exectrail.sinks.spool import Spool
from tests.support.cli import run_cli
from tests.support.fake_sinks import FakeSink, messages
from tests.support.paths import DATA
from tests.support.rootsafe_users import BOTH, STRANGER, as_user, home_for, readable_copy

FAST = Tuning(batch_events=10, retry_initial=0.01, retry_max=0.05, linger=0.01, state_interval=0.0)
LOG = DATA / "interleaved_concurrent.log"
VICTIM = b"root:x:0:0:root:/root:/bin/bash\n"


def plant_links(directory: Path, victim: Path) -> list[Path]:
    """Links where the old spool wrote: its lock, a batch's temporary file, the state file's."""
    directory.mkdir(parents=True, exist_ok=True)
    names = ("lock", "0000000000000001-10.tmp", ".state.json.tmp", "state.json", "hmac.key")
    planted = [directory / name for name in names]
    for link in planted:
        link.symlink_to(victim)
        os.chown(link, STRANGER, STRANGER, follow_symlinks=False)
    return planted


def forward(spool_dir: Path, count: int) -> dict[str, Any]:
    """Forward ``count`` messages through a spool at ``spool_dir``; what the receiver got and the warnings."""
    sink = FakeSink()
    warnings: list[str] = []
    forwarder = Forwarder(sink, Spool(spool_dir, 1 << 30), warnings.append, FAST)
    for message in messages(count):
        forwarder.put(message)
    forwarder.finish_close(time.monotonic() + 5)
    return {"received": sink.received, "warnings": warnings, "state": read_sink_status(spool_dir.parent)}


@BOTH
def test_a_spool_others_can_write_is_refused_and_planted_links_are_not_followed(uid: int) -> None:
    with home_for(uid) as home:
        victim = home / "victim"
        victim.write_bytes(VICTIM)
        for loose in (0o777, 0o1777):
            root = home / f"spool-{loose:o}"
            root.mkdir()
            planted = plant_links(root / "sink", victim)
            os.chown(root / "sink", uid, uid)
            os.chown(root, uid, uid)
            root.chmod(loose)
            result = as_user(uid, functools.partial(forward, root / "sink", 20))
            assert result == f"UnsafePathError: {root}: directory writable by others (mode {loose:04o}); " + (
                "refused (use chmod go-w, or another directory)"
            )
            (root / "sink").chmod(loose)  # the sink's own directory open to others: refused as well
            root.chmod(0o700)
            result = as_user(uid, functools.partial(forward, root / "sink", 20))
            assert result.startswith(f"UnsafePathError: {root / 'sink'}: directory writable by others")
            assert all(p.is_symlink() for p in planted)
        assert victim.read_bytes() == VICTIM and victim.stat().st_nlink == 1


@BOTH
def test_links_planted_in_a_private_spool_are_refused_not_followed(uid: int) -> None:
    with home_for(uid) as home:
        victim = home / "victim"
        victim.write_bytes(VICTIM)
        spool = home / "spool" / "sink"
        for name in ("lock", "hmac.key"):
            link = spool / name
            spool.mkdir(parents=True, exist_ok=True)
            for path in (spool, spool.parent):
                os.chown(path, uid, uid)
            link.symlink_to(victim)
            result = as_user(uid, lambda: forward(spool, 5))
            assert result == f"UnsafePathError: {link}: is a symbolic link; refused"
            link.unlink()
        # the state file and a batch's temporary name: replaced, never written through
        for name in ("0000000000000001-10.tmp", ".state.json.tmp", "state.json"):
            (spool / name).symlink_to(victim)
        result = as_user(uid, lambda: forward(spool, 5))
        assert result["received"] == [m.id for m in messages(5)]
        assert victim.read_bytes() == VICTIM
        assert f"{spool}/0000000000000001-10.tmp: not a spool file" in "".join(result["warnings"])
        assert not (spool / "state.json").is_symlink() and (spool / "state.json").stat().st_uid == uid


@BOTH
def test_a_planted_batch_is_reported_kept_and_not_forwarded(uid: int) -> None:
    with home_for(uid) as home:
        spool = home / "spool" / "sink"
        as_user(uid, lambda: forward(spool, 0))  # a real spool: directory, key, lock
        fake = b"".join(orjson.dumps({"type": "exec", "id": f"forged-{n}"}) + b"\n" for n in range(3))
        forged_mac = b"#exectrail-batch v1 hmac-sha256=" + b"0" * 64 + b"\n"
        planted = {
            "0000000000000001-3.batch": fake,  # no signature at all (the old format)
            "0000000000000002-3.batch": forged_mac + fake,  # a made-up one
            "readme.txt": b"hello\n",  # not a spool file at all
        }
        for name, data in planted.items():
            (spool / name).write_bytes(data)
            os.chown(spool / name, uid, uid)
            (spool / name).chmod(0o600)
        result = as_user(uid, lambda: forward(spool, 25))
        assert result["received"] == [m.id for m in messages(25)]
        text = "\n".join(result["warnings"])
        assert (
            f"{spool}/0000000000000001-3.batch: no exectrail signature; not forwarded, left in place" in text
        )
        assert f"{spool}/0000000000000002-3.batch: wrong signature" in text
        assert f"{spool}/readme.txt: not a spool file; not forwarded, left in place" in text
        assert {p.name: p.read_bytes() for p in spool.iterdir() if p.name in planted} == planted
        [state] = result["state"]
        assert state["spool_rejected"] == 3 and len(state["spool_rejected_files"]) == 3
        assert (state["running"], state["backlog"], state["spool_events"]) == (False, 0, 0)


@BOTH
def test_the_spool_key_is_private_and_a_loose_one_is_refused(uid: int) -> None:
    with home_for(uid) as home:
        spool = home / "spool" / "sink"
        as_user(uid, lambda: forward(spool, 1))
        key = spool / "hmac.key"
        st = key.stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_size) == (0o600, uid, 32)
        assert stat.S_IMODE(spool.stat().st_mode) == 0o700
        before = key.read_bytes()
        as_user(uid, lambda: forward(spool, 1))
        assert key.read_bytes() == before, "the key is made once and kept"
        key.chmod(0o640)
        result = as_user(uid, lambda: forward(spool, 1))
        assert result == f"UnsafePathError: {key}: the spool key is readable by others; refused " + (
            "(anyone who reads it can forge spooled events)"
        )


@BOTH
def test_the_cli_refuses_a_shared_spool_in_one_line(uid: int) -> None:
    with home_for(uid) as home:
        shared = home / "shared"
        shared.mkdir(mode=0o777)
        os.chown(shared, uid, uid)
        shared.chmod(0o777)
        log = readable_copy(LOG, home, uid)

        def review() -> tuple[int, str]:
            args = [
                "review",
                "--sink",
                f"jsonl://{home}/out.jsonl",
                "--spool",
                str(shared / "spool"),
                str(log),
            ]
            result = run_cli(args)
            return result.exit_code, result.stderr

        code, err = as_user(uid, review)
        assert (code, err.count("\n")) == (2, 1), err
        assert err.startswith(f"exectrail: {shared}: directory writable by others (mode 0777)"), err
        assert list(shared.iterdir()) == []


def test_sinkset_spool_is_checked_before_any_event_is_written(tmp_path: Path) -> None:
    """Through the public API: a loose spool root is one ExectrailError, nothing is created in it."""
    root = tmp_path / "spool"
    root.mkdir()
    root.chmod(0o757)
    try:
        SinkSet.from_urls([f"jsonl://{tmp_path}/out.jsonl"], root)
    except Exception as exc:
        assert type(exc).__name__ == "UnsafePathError" and str(exc).startswith(f"{root}: directory writable")
    else:
        raise AssertionError("a spool others can write was accepted")
    assert list(root.iterdir()) == []
