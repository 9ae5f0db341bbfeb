"""The container-and-service block (issue 14, item 4): paths written out by hand as each runtime
writes them, hostile text, this machine's own /proc and a real child process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exectrail.enrich.container import READ_LIMIT, CgroupInfo, parse_cgroup, read_cgroup, systemd_unit

ID = "4f7b2c9e1d0a8b6c5e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d"  # 64 lowercase hex
ID2 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
POD = "5b1b1a4e-6d1a-4c2e-9f6c-2b8f1c3d4e5f"


def v2(path: str) -> bytes:
    return f"0::{path}\n".encode()


def test_the_id_constants_have_the_shape_runtimes_write() -> None:
    for full in (ID, ID2):
        assert len(full) == 64 and set(full) <= set("0123456789abcdef")


@pytest.mark.parametrize(
    ("path", "unit"),
    [
        ("/system.slice/ssh.service", "ssh.service"),
        ("/user.slice/user-1000.slice/session-3.scope", "session-3.scope"),
        ("/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", "foo.service"),
        ("/user.slice/user-1000.slice/user@1000.service/init.scope", "init.scope"),
        (f"/system.slice/docker-{ID}.scope", f"docker-{ID}.scope"),
        ("/init.scope", "init.scope"),
        ("/machine.slice/machine-my\\x2dbox.scope/payload/system.slice/ssh.service", "ssh.service"),
        ("/system.slice/ssh.service (deleted)", "ssh.service"),
        ("/user.slice/user-1000.slice", None),
        ("/", None),
        (f"/docker/{ID}", None),
        ("/.service", None),
    ],
)
def test_systemd_unit_is_the_innermost_service_or_scope(path: str, unit: str | None) -> None:
    assert systemd_unit(path) == unit
    info = parse_cgroup(v2(path))
    assert info is not None and info.cgroup == path and info.systemd_unit == unit


CONTAINERS = [
    # docker, cgroupfs driver, plain, nested (a container running systemd, docker in docker)
    (f"/docker/{ID}", ID, "docker"),
    (f"/docker/{ID}/init.scope", ID, "docker"),
    (f"/docker/{ID}/system.slice/ssh.service", ID, "docker"),
    (f"/docker/{ID2}/docker/{ID}", ID, "docker"),
    # docker, systemd driver
    (f"/system.slice/docker-{ID}.scope", ID, "docker"),
    (f"/system.slice/docker-{ID}.scope/init.scope", ID, "docker"),
    # Kubernetes, cgroupfs (containerd or dockershim: the path does not say which), systemd driver
    (f"/kubepods/besteffort/pod{POD}/{ID}", ID, None),
    (f"/kubepods/pod{POD}/{ID}", ID, None),
    (f"/kubepods/burstable/pod{'0123456789abcdef' * 2}/{ID}", ID, None),
    (f"/docker/{ID2}/kubepods/besteffort/pod{POD}/{ID}", ID, None),  # kind: a node in docker
    (
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
        f"{POD.replace('-', '_')}.slice/cri-containerd-{ID}.scope",
        ID,
        "containerd",
    ),
    (f"/kubepods.slice/kubepods-pod{POD.replace('-', '_')}.slice/docker-{ID}.scope", ID, "docker"),
    # CRI-O, systemd and cgroupfs managers
    (
        f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{POD.replace('-', '_')}"
        f".slice/crio-{ID}.scope",
        ID,
        "cri-o",
    ),
    (f"/kubepods/besteffort/pod{POD}/crio-{ID}", ID, "cri-o"),
    # podman: root, a pod, rootless, crun's "container" subgroup, cgroupfs
    (f"/machine.slice/libpod-{ID}.scope", ID, "podman"),
    (f"/libpod-{ID}.scope", ID, "podman"),
    (f"/machine.slice/machine-libpod_pod_{ID2}.slice/libpod-{ID}.scope", ID, "podman"),
    (f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope", ID, "podman"),
    (f"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container", ID, "podman"),
    (f"/libpod_parent/libpod-{ID}", ID, "podman"),
    # LXC: legacy, 3.x, 4.x and LXD, a systemd inside
    ("/lxc/web1", "web1", "lxc"),
    ("/lxc/web1/init.scope", "web1", "lxc"),
    ("/lxc.payload/web1", "web1", "lxc"),
    ("/lxc.payload.web1", "web1", "lxc"),
    ("/lxc.payload.web.1/system.slice/cron.service", "web.1", "lxc"),
    # systemd-nspawn: \x2d is '-', the container's processes under payload/
    ("/machine.slice/machine-my\\x2dbox.scope", "my-box", "nspawn"),
    ("/machine.slice/machine-my\\x2dbox.scope/payload/init.scope", "my-box", "nspawn"),
    ("/machine.slice/machine-caf\\xc3\\xa9.scope", "café", "nspawn"),
    ("/machine.slice/machine-odd\\xff.scope", "odd\udcff", "nspawn"),
    # outside the reader's cgroup namespace, the kernel writes /.. first
    (f"/../../system.slice/docker-{ID}.scope", ID, "docker"),
]


@pytest.mark.parametrize(("path", "container_id", "runtime"), CONTAINERS)
def test_container_patterns(path: str, container_id: str, runtime: str | None) -> None:
    info = parse_cgroup(v2(path))
    assert info == CgroupInfo(path, systemd_unit(path), container_id, runtime)


NOT_CONTAINERS = [
    "/system.slice/docker.service",  # dockerd itself
    "/system.slice/containerd.service",
    "/system.slice/docker-compose@app.service",
    "/docker",
    "/docker/",
    "/docker/registry",
    f"/docker/{ID.upper()}",  # runtimes write lowercase
    f"/docker/{ID[:-1]}",  # 63
    f"/docker/{ID}0",  # 65
    f"/docker/{ID[:-1]}g",
    f"/system.slice/docker-{ID[:12]}.scope",  # a short id is not the id
    f"/system.slice/docker-{ID}x.scope",
    f"/kubepods.slice/kubepods-pod{POD.replace('-', '_')}.slice/crio-conmon-{ID}.scope",
    f"/machine.slice/libpod-conmon-{ID}.scope",
    f"/pod{POD}/{ID}",  # no kubepods above it
    f"/kubepods/besteffort/pod-not-a-uid/{ID}",
    f"/docker/../{ID}",  # '..' is no parent directory name
    "/lxc.monitor.web1",
    "/lxc.monitor/web1",
    "/lxc",
    "/lxc/..",
    "/lxc.payload.",
    "/machine.slice/machine-my\\x2dbox.scope/supervisor",  # nspawn itself
    "/machine.slice/machine-qemu\\x2d1\\x2dubuntu.scope/libvirt/emulator",  # a libvirt VM
    "/machine.slice/machine-lxc\\x2d4242\\x2dweb.scope",  # libvirt-lxc, not nspawn
    "/machine.slice/machine-\\x2e\\x2e.scope",  # '..'
    "/machine.slice/machine-a\\x2fb.scope",  # '/'
    "/machine.slice/machine-a\\x00b.scope",  # NUL
    "/machine.slice/machine-libpod_pod_x.slice",
    "/user.slice/user-1000.slice/user@1000.service/app.slice/docker.socket",
]


@pytest.mark.parametrize("path", NOT_CONTAINERS)
def test_host_paths_are_no_container(path: str) -> None:
    info = parse_cgroup(v2(path))
    assert info is not None and info.cgroup == path
    assert (info.container_id, info.runtime) == (None, None)


V1 = (
    b"12:pids:/system.slice/ssh.service\n"
    b"11:cpu,cpuacct:/system.slice/ssh.service\n"
    b"2:memory:/system.slice/ssh.service\n"
    b"1:name=systemd:/system.slice/ssh.service\n"
)


def test_v1_takes_the_name_systemd_hierarchy() -> None:
    assert parse_cgroup(V1) == CgroupInfo("/system.slice/ssh.service", "ssh.service", None, None)


def test_hybrid_takes_name_systemd_over_the_unified_line() -> None:
    text = V1.replace(b"1:name=systemd:/system.slice/ssh.service", f"1:name=systemd:/docker/{ID}".encode())
    info = parse_cgroup(text + b"0::/system.slice/containerd.service\n")
    assert info == CgroupInfo(f"/docker/{ID}", None, ID, "docker")


def test_v1_without_systemd_takes_the_v2_line_else_the_first() -> None:
    assert parse_cgroup(b"3:cpu:/a\n0::/b\n") == CgroupInfo("/b", None, None, None)
    assert parse_cgroup(b"3:cpu:/a\n2:memory:/b\n") == CgroupInfo("/a", None, None, None)


def test_a_container_in_a_v1_controller_only_is_found() -> None:
    text = f"4:memory:/docker/{ID}\n1:name=systemd:/system.slice/containerd.service\n".encode()
    assert parse_cgroup(text) == CgroupInfo(
        "/system.slice/containerd.service", "containerd.service", ID, "docker"
    )


def test_the_chosen_path_names_the_container_before_other_lines() -> None:
    text = f"4:memory:/docker/{ID2}\n1:name=systemd:/docker/{ID}\n".encode()
    info = parse_cgroup(text)
    assert info is not None and info.container_id == ID


def test_non_utf8_bytes_are_kept_by_surrogateescape() -> None:
    raw = b"/system.slice/caf\xe9-\xff.service"
    info = parse_cgroup(b"0::" + raw + b"\n")
    assert info is not None and info.cgroup.encode("utf-8", "surrogateescape") == raw
    assert info.systemd_unit == "caf\udce9-\udcff.service"


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"\n\n",
        b"no colons at all\n",
        b"0:/one colon\n",
        b"x::/not a hierarchy id\n",
        b"-1::/negative\n",
        b"0::relative/path\n",
        b"0::\n",
        b"0::/with\x00nul\n",
        b"0::/" + b"a" * (1 << 20) + b"\n",  # a 1 MB line: longer than the kernel's PATH_MAX
        b"9" * 50 + b"::/huge hierarchy id\n",
        b"\xff\xfe\x00\x01",
    ],
)
def test_unusable_text_gives_none(text: bytes) -> None:
    assert parse_cgroup(text) is None


def test_unusable_lines_are_skipped_and_a_good_one_kept() -> None:
    text = b"garbage\n0::/a\x00b\n7:cpu:/" + b"x" * (1 << 20) + b"\n" + v2(f"/docker/{ID}")
    assert parse_cgroup(text) == CgroupInfo(f"/docker/{ID}", None, ID, "docker")


def test_extra_colons_belong_to_the_path() -> None:
    # cgroup names may hold ':' (the kernel splits only the first two)
    info = parse_cgroup(b"0::/user.slice/a:b:c.service\n")
    assert info == CgroupInfo("/user.slice/a:b:c.service", "a:b:c.service", None, None)


def test_a_removed_cgroup_keeps_its_path_and_names_its_container() -> None:
    path = f"/system.slice/docker-{ID}.scope (deleted)"
    assert parse_cgroup(v2(path)) == CgroupInfo(path, f"docker-{ID}.scope", ID, "docker")


def test_without_a_final_newline() -> None:
    assert parse_cgroup(b"0::/init.scope") == CgroupInfo("/init.scope", "init.scope", None, None)


TOKENS = [
    b"0",
    b"1",
    b":",
    b"/",
    b"\n",
    b"\x00",
    b"\xff",
    b"..",
    b"name=systemd",
    b"docker",
    ID.encode(),
    f"docker-{ID}.scope".encode(),
    b"crio-conmon-",
    b"lxc",
    b"lxc.payload.",
    b"lxc.payload",
    b"machine-",
    b".scope",
    b".service",
    b"\\x2d",
    b"\\x",
    b"\\xff",
    b"kubepods",
    f"pod{POD}".encode(),
    b"supervisor",
    b" (deleted)",
]


@settings(max_examples=400)
@given(st.one_of(st.binary(max_size=300), st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join)))
def test_parse_never_raises(text: bytes) -> None:
    info = parse_cgroup(text)
    if info is not None:
        assert info.cgroup.startswith("/")
        assert info.runtime in (None, "docker", "containerd", "cri-o", "podman", "lxc", "nspawn")
        assert info.container_id is None or info.container_id not in ("", ".", "..")
        assert info.runtime is None or info.container_id is not None


@given(st.binary(max_size=4095).filter(lambda b: b"\n" not in b and b"\x00" not in b))
def test_a_v2_line_round_trips_its_path(tail: bytes) -> None:
    path = b"/" + tail
    info = parse_cgroup(b"0::" + path + b"\n")
    assert info is not None and info.cgroup.encode("utf-8", "surrogateescape") == path


# --- read_cgroup: this machine's /proc, a real child, files in tmp_path


def _expected_path(text: bytes) -> str:
    """The path the rule picks, worked out from the file's lines here without the module."""
    lines = [line.split(b":", 2) for line in text.split(b"\n") if line]
    by_controllers = {fields[1]: fields[2] for fields in lines}
    chosen = by_controllers.get(b"name=systemd", by_controllers.get(b"", lines[0][2]))
    return chosen.decode("utf-8", "surrogateescape")


def test_this_process_own_cgroup() -> None:
    text = Path("/proc/self/cgroup").read_bytes()
    info = read_cgroup(os.getpid())
    assert info is not None and info == parse_cgroup(text)
    assert info.cgroup == _expected_path(text)
    assert info.systemd_unit is None or info.systemd_unit in info.cgroup.split("/")


def test_a_real_child_is_read_then_gone() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        info = read_cgroup(child.pid)
        assert info is not None and info == read_cgroup(os.getpid())  # a child starts in its parent's cgroup
    finally:
        child.kill()
        child.wait()
    assert read_cgroup(child.pid) is None


def test_no_such_pid() -> None:
    assert read_cgroup(0) is None and read_cgroup(-1) is None


def _fake_proc(tmp_path: Path, pid: int, text: bytes) -> str:
    (tmp_path / str(pid)).mkdir()
    (tmp_path / str(pid) / "cgroup").write_bytes(text)
    return str(tmp_path)


def test_read_from_a_file(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, 7, V1)
    assert read_cgroup(7, proc) == parse_cgroup(V1)
    assert read_cgroup(8, proc) is None


def test_the_read_is_bounded_and_a_cut_line_dropped(tmp_path: Path) -> None:
    filler = b"5:cpu:/" + b"f" * 100 + b"\n"
    count = READ_LIMIT // len(filler)
    cut_line = f"1:name=systemd:/docker/{ID}/init.scope\n".encode()  # starts before the cap, ends after it
    text = filler * count + cut_line
    assert len(filler) * count < READ_LIMIT < len(text)
    proc = _fake_proc(tmp_path, 7, text)
    assert parse_cgroup(text) == CgroupInfo(f"/docker/{ID}/init.scope", "init.scope", ID, "docker")
    assert read_cgroup(7, proc) == CgroupInfo("/" + "f" * 100, None, None, None)
    assert read_cgroup(7, proc, limit=len(filler)) == CgroupInfo("/" + "f" * 100, None, None, None)
    assert read_cgroup(7, proc, limit=len(filler) - 1) is None


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(v2(f"/docker/{ID}"))
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "cgroup").symlink_to(target)
    assert read_cgroup(7, str(tmp_path)) is None


def test_a_directory_in_place_of_the_file(tmp_path: Path) -> None:
    (tmp_path / "7" / "cgroup").mkdir(parents=True)
    assert read_cgroup(7, str(tmp_path)) is None
