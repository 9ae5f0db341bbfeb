"""What the .deb holds: control fields, conffiles, modes, the venv tree, byte-code and man pages."""

from __future__ import annotations

import gzip
import marshal
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import click
import pytest

from exectrail.cli.main import cli
from exectrail.hotpath import HOT_MODULES
from tests.support.ci import skip_or_fail
from tests.support.deb import Deb
from tests.support.paths import REPO

SITE = "opt/exectrail/lib/python3.11/site-packages"
CONFFILES = {
    "/etc/exectrail/exectrail.toml",
    "/etc/audit/plugins.d/exectrail.conf",
    "/etc/logrotate.d/exectrail",
}


def listing(deb: Deb) -> dict[str, tuple[str, str]]:
    """``dpkg-deb -c``: path -> (mode string, owner/group)."""
    out = subprocess.run(["dpkg-deb", "-c", str(deb.path)], capture_output=True, text=True, check=True)
    entries = {}
    for line in out.stdout.splitlines():
        mode, owner, _size, _date, _time, name = line.split(maxsplit=5)
        entries[name.split(" -> ")[0].removeprefix(".")] = (mode, owner)
    return entries


def test_control_fields(deb: Deb) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert deb.path.name == f"exectrail_{version}_amd64.deb"
    assert deb.field("Package") == "exectrail"
    assert deb.field("Version") == version
    assert deb.field("Architecture") == "amd64"
    assert deb.field("Depends") == "python3 (>= 3.11), python3 (<< 3.12), auditd"
    assert deb.field("Recommends") == "logrotate"
    kib = sum(
        (p.lstat().st_size + 1023) // 1024 for p in deb.root.rglob("*") if p.is_file() or p.is_symlink()
    )
    assert int(deb.field("Installed-Size")) == kib
    print(f"build {deb.seconds:.1f} s, {deb.path.stat().st_size} bytes, Installed-Size {kib} KiB")


def test_conffiles_are_the_three_etc_files(deb: Deb) -> None:
    control = subprocess.run(
        ["dpkg-deb", "--info", str(deb.path), "conffiles"], capture_output=True, text=True, check=True
    )
    assert set(control.stdout.split()) == CONFFILES
    entries = listing(deb)
    for name in CONFFILES:
        assert entries[name] == ("-rw-r--r--", "root/root"), name
    shipped = REPO / "src/exectrail/data/exectrail.toml"
    if shipped.exists():
        assert (deb.root / "etc/exectrail/exectrail.toml").read_bytes() == shipped.read_bytes()


def test_modes_and_owners_are_sane(deb: Deb) -> None:
    entries = listing(deb)
    assert {owner for _mode, owner in entries.values()} == {"root/root"}
    assert entries["/usr/bin/exectrail"][0] == "-rwxr-xr-x"
    for name, (mode, _owner) in entries.items():
        assert mode[8] != "w" or mode[0] == "l", f"{name} is world-writable: {mode}"
        assert "s" not in mode and "S" not in mode, f"{name} is set-id: {mode}"
        if mode[0] == "d":
            assert mode == "drwxr-xr-x", name
    for name in ("/lib/systemd/system/exectrail.service", "/usr/share/man/man8/exectrail.8.gz"):
        assert entries[name][0] == "-rw-r--r--", name


def test_no_build_path_remains(deb: Deb) -> None:
    # the build venv's own path (a tree that is elsewhere; the README in METADATA may name the directory)
    needles = [str(REPO).encode(), b"/tmp/exectrail-deb.", b"/build/deb-venv/"]
    leaks = []
    for path in deb.root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            leaks += [f"{path.relative_to(deb.root)}: {n.decode()}" for n in needles if n in data]
    assert leaks == []


def test_the_launcher_runs_the_cli_on_debians_python(deb: Deb) -> None:
    launcher = (deb.root / "usr/bin/exectrail").read_text()
    assert launcher.startswith("#!/opt/exectrail/bin/python3 -I\n")
    assert "from exectrail.cli.main import main" in launcher
    venv = deb.root / "opt/exectrail"
    assert os.readlink(venv / "bin/python3") == "/usr/bin/python3"
    cfg = dict(
        line.split(" = ", 1) for line in (venv / "pyvenv.cfg").read_text().splitlines() if " = " in line
    )
    assert cfg["home"] == "/usr/bin" and cfg["include-system-site-packages"] == "false"
    assert not list((venv / "bin").glob("activate*")) and not (deb.root / SITE / "bin").exists()
    for dependency in ("click", "rich", "orjson", "exectrail"):
        assert (deb.root / SITE / dependency / "__init__.py").exists(), dependency
    assert list((deb.root / SITE / "orjson").glob("orjson.cpython-311-x86_64-linux-gnu.so"))


def test_the_hot_path_is_shipped_compiled(deb: Deb) -> None:
    site = deb.root / SITE
    for name in HOT_MODULES:
        module = site.joinpath(*name.split("."))
        assert module.with_suffix(".py").is_file(), name  # the pure-Python reference stays beside it
        assert module.with_name(module.name + ".cpython-311-x86_64-linux-gnu.so").is_file(), name
    assert len(list(site.glob("*__mypyc.cpython-311-x86_64-linux-gnu.so"))) == 1
    probe = f"import sys; sys.path.insert(0, {str(site)!r}); import exectrail.hotpath as h"
    probe += "; print(h.describe())"
    said = subprocess.run(["/usr/bin/python3", "-I", "-c", probe], capture_output=True, text=True, check=True)
    assert said.stdout.strip() == f"hot path: compiled (mypyc, {len(HOT_MODULES)} modules)"


def test_every_module_has_python_3_11_byte_code_under_its_installed_path(deb: Deb) -> None:
    """/opt is read-only under the unit: the byte-code must ship, for 3.11, naming /opt paths."""
    sources = list((deb.root / SITE).rglob("*.py"))
    assert len(sources) > 100
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-311.pyc"
        data = pyc.read_bytes()
        assert int.from_bytes(data[4:8], "little") == 0b01, f"{pyc}: not unchecked-hash"
        if source.parent.name == "cli" or source.name == "__init__.py":
            code = marshal.loads(data[16:])
            assert code.co_filename == "/" + str(source.relative_to(deb.root)), pyc


def commands(group: click.Command, prefix: str = "exectrail") -> set[str]:
    names = {prefix}
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            if not command.hidden:
                names |= commands(command, f"{prefix}-{name}")
    return names


def render(page: Path) -> str:
    if shutil.which("man") is None:
        skip_or_fail("rendering man pages needs man (apt-get install man-db)")
    result = subprocess.run(
        ["man", "--warnings", "-l", str(page)],
        capture_output=True,
        env={**os.environ, "MANWIDTH": "200", "MAN_KEEP_FORMATTING": "0", "MANPAGER": "cat"},
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == b"", result.stderr
    return re.sub(r".\x08", "", result.stdout.decode())  # overstrike bold/underline


def test_one_man_page_per_command_in_section_8(deb: Deb) -> None:
    man8 = deb.root / "usr/share/man/man8"
    assert {p.name.removesuffix(".8.gz") for p in man8.iterdir()} == commands(cli)
    for page in man8.iterdir():
        header = gzip.decompress(page.read_bytes()).decode().splitlines()[0]
        assert header.startswith(".TH ") and header.split('"')[3] == "8", header
    found = subprocess.run(
        ["man", "-w", "exectrail"],
        capture_output=True,
        text=True,
        env={**os.environ, "MANPATH": str(deb.root / "usr/share/man")},
    )
    assert found.stdout.strip() == str(man8 / "exectrail.8.gz"), found.stderr


@pytest.mark.parametrize("name", ["watch", "review"])
def test_man_pages_carry_the_cli_help(deb: Deb, name: str) -> None:
    text = " ".join(render(deb.root / f"usr/share/man/man8/exectrail-{name}.8.gz").split())
    command = cli.commands[name]
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            for opt in param.opts + param.secondary_opts:
                assert opt in text, f"{opt} missing from exectrail-{name}(8)"
            first_words = " ".join((param.help or "").split()[:4])
            assert first_words in text, first_words
    assert " ".join((command.help or "").split()[:6]) in text
    listed = render(deb.root / "usr/share/man/man8/exectrail.8.gz")
    assert f"exectrail-{name}(8)" in listed


def test_plugin_conf_is_inactive_and_runs_the_package(deb: Deb) -> None:
    text = (deb.root / "etc/audit/plugins.d/exectrail.conf").read_text()
    settings = dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition("=") for line in text.splitlines() if line and line[0] != "#")
    )
    assert settings == {
        "active": "no",
        "direction": "out",
        "path": "/usr/bin/exectrail",
        "type": "always",
        "args": "watch --mode=plugin",
        "format": "string",
    }
