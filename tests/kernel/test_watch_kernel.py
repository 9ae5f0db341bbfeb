"""`exectrail watch` against the real kernel: daemon, multicast beside a real auditd, plugin mode,
signals, SIGKILL recovery. Every exec of the workload must come out with its exact argv."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from exectrail.store import EventStore
from tests.support.kernel import EXECTRAIL, Kernel, auditctl, exectrail, observe
from tests.support.live import WatchProcess, auditd_pid, run_workload, running_auditd, wait_for_exec_marker
from tests.support.paths import REPO
from tests.support.workload.compare import compare_all_json

pytestmark = pytest.mark.kernel


def assert_workload_captured(watch: WatchProcess, tmp_path: Path) -> None:
    manifest = run_workload(tmp_path)
    watch.sync()
    assert watch.stop() == 0, "".join(watch.stderr)
    assert compare_all_json(manifest, watch.events()) == []
    summary = "".join(watch.stderr)
    assert "0 events lost by the kernel" in summary
    assert "Traceback" not in summary


def test_daemon_mode_captures_the_workload(kernel: Kernel, tmp_path: Path) -> None:
    watch = WatchProcess(tmp_path, "--mode", "daemon")
    status = kernel.client.get_status()
    assert (status.pid, status.enabled) == (watch.proc.pid, 1)
    assert status.backlog_limit >= 8192
    assert_workload_captured(watch, tmp_path)
    assert "unregistered as audit daemon" in "".join(watch.stderr)
    assert observe() == kernel.before


def test_multicast_beside_auditd(kernel: Kernel, tmp_path: Path) -> None:
    with running_auditd(tmp_path / "auditd") as auditd:
        watch = WatchProcess(tmp_path, "--mode", "auto")
        assert "watching in multicast mode" in "".join(watch.stderr)
        assert auditd_pid() == auditd.proc.pid
        assert_workload_captured(watch, tmp_path)
        assert auditd_pid() == auditd.proc.pid  # auditd was never disturbed
        # and auditd logged the same execs
        assert b"exectrail-sync-" in auditd.log.read_bytes()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_user_is_told_when_auditd_stops(kernel: Kernel, tmp_path: Path, sig: int) -> None:
    with running_auditd(tmp_path / "auditd") as auditd:
        watch = WatchProcess(tmp_path, "--mode", "multicast")
        auditd.stop(sig)
        watch.wait_stderr("ALARM collector-stopped")
        wait_for_exec_marker(watch.out)  # the multicast copy still arrives
        assert watch.stop() == 0
    alarms = [o for o in watch.objects() if o.get("type") == "alarm"]
    assert [a["kind"] for a in alarms] == ["collector-stopped"]
    assert str(auditd.proc.pid) in alarms[0]["summary"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_stop_cleanly_and_restore(kernel: Kernel, tmp_path: Path, sig: int) -> None:
    watch = WatchProcess(tmp_path, "--mode", "daemon", "--backlog", "9999")
    assert kernel.client.get_status().backlog_limit == 9999
    watch.sync()
    assert watch.stop(sig) == 0
    text = "".join(watch.stderr)
    assert f"watch stopped ({signal.Signals(sig).name})" in text and "Traceback" not in text
    assert observe() == kernel.before
    assert not list((tmp_path / "state").glob("watch.*.json"))  # clean exit: no journal left


def test_sigkill_is_noticed_and_repaired_by_status(kernel: Kernel, tmp_path: Path) -> None:
    watch = WatchProcess(tmp_path, "--mode", "daemon")
    watch.sync()
    watch.stop(signal.SIGKILL)
    assert "procmon" in auditctl("-l")  # left behind
    env = ["env", f"EXECTRAIL_STATE_DIR={tmp_path / 'state'}"]
    report = json.loads(_run([*env, *EXECTRAIL, "status", "--format", "json"]))
    assert [u["pid"] for u in report["unclean_exits"]] == [watch.proc.pid]
    assert any("did not exit cleanly" in w for w in report["warnings"])
    _run([*env, *EXECTRAIL, "status", "--repair"])
    assert observe() == kernel.before


def test_sigkill_is_repaired_by_the_next_watch(kernel: Kernel, tmp_path: Path) -> None:
    first = WatchProcess(tmp_path, "--mode", "daemon", "--backlog", "12345")
    first.sync()
    first.stop(signal.SIGKILL)
    assert kernel.client.get_status().backlog_limit == 12345
    second = WatchProcess(tmp_path, "--mode", "daemon", "--duration", "1")
    assert any("did not exit cleanly" in line for line in second.stderr)
    assert second.proc.wait(timeout=60) == 0
    assert observe() == kernel.before


def test_count_and_filters(kernel: Kernel, tmp_path: Path) -> None:
    watch = WatchProcess(tmp_path, "--mode", "daemon", "--count", "2", "--comm", "true")
    for n in range(5):
        exectrail_true(str(n))
    assert watch.proc.wait(timeout=60) == 0
    events = watch.events()
    assert len(events) == 2 and all(e["comm"] == "true" for e in events)
    assert observe() == kernel.before


def test_plugin_mode_fed_by_auditd(kernel: Kernel, tmp_path: Path) -> None:
    """The shipped plugin .conf (its args), with ``path`` pointing at a wrapper that adds --output."""
    out = tmp_path / "plugin.jsonl"
    wrapper = tmp_path / "exectrail-plugin"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"cd {REPO}\n"
        f'exec {sys.executable} -m exectrail.cli.main "$@" --output {out} --db {tmp_path}/plugin.db '
        f"2>>{tmp_path}/plugin.err\n"
    )
    wrapper.chmod(0o750)
    conf = shipped_plugin_conf().replace("path = /usr/local/bin/exectrail", f"path = {wrapper}")
    assert str(wrapper) in conf
    exectrail("rules", "install")
    with running_auditd(tmp_path / "auditd", {"exectrail.conf": conf}) as auditd:
        wait_for_exec_marker(out)
        manifest = run_workload(tmp_path)
        wait_for_exec_marker(out)
        auditd.stop()
    objects = [json.loads(line) for line in out.read_text(errors="surrogateescape").splitlines()]
    events = [o for o in objects if o["type"] == "exec"]
    assert compare_all_json(manifest, events) == []
    with EventStore(tmp_path / "plugin.db", readonly=True) as store:  # every event stored too
        assert store.count() == len(events)
    err = (tmp_path / "plugin.err").read_text()
    assert "watching in plugin mode" in err and "Traceback" not in err


def shipped_plugin_conf() -> str:
    from importlib.resources import files

    return files("exectrail").joinpath("data/au-exectrail.conf").read_text()


def test_shipped_plugin_conf_is_valid() -> None:
    text = shipped_plugin_conf()
    settings = dict(line.split(" = ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert settings["args"].split() == ["watch", "--mode=plugin"]  # auditd passes at most 2 args
    assert settings["format"] == "string" and settings["type"] == "always"


def exectrail_true(arg: str) -> None:
    import subprocess

    subprocess.run(["/usr/bin/true", arg], check=True)


def _run(cmd: list[str]) -> str:
    import subprocess

    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_daemon_mode_refused_beside_auditd(kernel: Kernel, tmp_path: Path) -> None:
    with running_auditd(tmp_path / "auditd") as auditd:
        result = exectrail("watch", "--mode", "daemon", "--duration", "1", "--no-store", check=False)
        assert result.returncode == 2
        assert result.stderr.splitlines()[-1] == (
            f"exectrail: another audit daemon is registered (pid {auditd.proc.pid}, auditd): "
            "auditd is running, use --mode multicast"
        )
        assert auditd_pid() == auditd.proc.pid
        assert "procmon" not in auditctl("-l")  # nothing left behind
