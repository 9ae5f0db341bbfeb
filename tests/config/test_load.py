"""Reading and checking the configuration file: the shipped file, types, unknown keys, syntax, safety."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exectrail.cli.watch_cmd import watch
from exectrail.config import KEYS, ConfigError, check_document, choose_path, load, loader, render_example
from exectrail.config.keys import BY_NAME, Invalid
from tests.support.ci import skip_or_fail
from tests.support.config_files import uncommented, write_config
from tests.support.paths import REPO

SHIPPED = REPO / "src" / "exectrail" / "data" / "exectrail.toml"


def test_the_shipped_file_is_made_from_the_key_declarations() -> None:
    assert SHIPPED.read_text() == render_example(), "regenerate: python -c 'from exectrail.config import ...'"


def test_every_key_is_in_the_shipped_file_in_its_section_with_a_doc() -> None:
    section, found = "", []
    lines = SHIPPED.read_text().splitlines()
    for number, line in enumerate(lines):
        if m := re.fullmatch(r"\[(\w+)\]", line):
            section = m.group(1)
        elif m := re.match(r"#([a-z_]+) = ", line):
            found.append(f"{section}.{m.group(1)}" if section else m.group(1))
            assert lines[number - 1].startswith("# ") and len(lines[number - 1]) > 10, line
    assert found == [key.name for key in KEYS]


def test_the_shipped_file_as_is_sets_nothing(tmp_path: Path) -> None:
    config = load(str(write_config(tmp_path, SHIPPED.read_text())))
    assert (config.problems, config.settings) == ([], {})


@pytest.mark.parametrize("examples", [False, True], ids=["defaults", "examples"])
def test_every_value_uncommented_passes(tmp_path: Path, examples: bool) -> None:
    config = load(str(write_config(tmp_path, uncommented(examples))))
    assert config.problems == []
    assert sorted(config.settings) == sorted(BY_NAME)


def test_uncommented_defaults_change_nothing_in_watch(tmp_path: Path) -> None:
    """Installing the file with its defaults written out gives watch the same settings as no file."""
    path = write_config(tmp_path, uncommented(examples=False))
    with_file = watch.make_context("watch", ["--config", str(path)]).params
    without = watch.make_context("watch", ["--config", ""]).params
    example_only = {BY_NAME[k.name].param for k in KEYS if k.default is None}
    assert example_only == {"host_name", "backlog", "db", "output", "fmt", "success"}
    differ = {name for name in without if with_file[name] != without[name]}
    assert differ <= example_only, differ


BAD_VALUES = [
    ("heartbeat", "x", 'heartbeat: expected a number of seconds, got "x"'),
    ("heartbeat", -1, "heartbeat: expected a number of seconds from 0 to 1000000000, got -1"),
    ("heartbeat", float("nan"), "heartbeat: expected a number of seconds from 0 to"),
    ("heartbeat", True, "heartbeat: expected a number of seconds, got true"),
    ("mode", "deamon", 'mode: expected one of auto, daemon, multicast, plugin, got "deamon"'),
    ("show", "no", 'show: expected true or false, got "no"'),
    ("backlog", 0, "backlog: expected a number from 1 to 4294967295, got 0"),
    ("backlog", 1.5, "backlog: expected a whole number, got 1.5"),
    ("host_name", "a b", "host_name: expected a host name"),
    ("host_name", "", "host_name: expected a non-empty string"),
    ("rules.key", "a b", "rules.key: bad key 'a b'"),
    ("rules.fields", ["auid>=1000", "nosuch=1"], "rules.fields[2]: field 'nosuch=1': unknown field name"),
    ("rules.fields", "auid>=1000", 'rules.fields: expected a list such as ["auid>=1000"]'),
    ("rules.exclude_exe", ["bin/x"], 'rules.exclude_exe[1]: expected an absolute path, got "bin/x"'),
    ("store.db", "events.db", 'store.db: expected an absolute path, got "events.db"'),
    ("store.enabled", 1, "store.enabled: expected true or false, got 1"),
    ("output.format", "xml", "output.format: expected one of table, jsonl, csv"),
    ("filters.uid", [0, -1], "filters.uid[2]: expected numbers from 0 to 4294967295, got -1"),
    ("filters.pid", [2**32], "filters.pid[1]: expected numbers from 0 to 4294967295"),
    (
        "filters.auid",
        ["root"],
        'filters.auid[1]: expected numbers from 0 to 4294967295 or "unset", got "root"',
    ),
    ("filters.comm", ["a\nb"], "filters.comm[1]: expected a non-empty string without control characters"),
    ("filters.success", "yes", 'filters.success: expected true or false, got "yes"'),
    ("forward.sinks", ["syslog+tcp://[::1"], "forward.sinks[1]: syslog+tcp://[::1: an IPv6 address"),
    ("forward.sinks", ["ftp://h"], "forward.sinks[1]: 'ftp://h': unknown kind"),
    ("forward.spool_max", "lots", "forward.spool_max: wants a size such as 500M or 2G, got 'lots'"),
    ("forward.spool_max", True, "forward.spool_max: expected a size"),
    ("forward.wait", 1e7, "forward.wait: expected a number of seconds from 0 to 1000000, got 10000000.0"),
    ("forward.spool", "spool", 'forward.spool: expected an absolute path, got "spool"'),
    ("context.env", ["LD_PRELOAD", "1X"], "context.env[2]: expected an environment variable name"),
    ("context.env", ["LD PRELOAD"], "context.env[1]: expected an environment variable name"),
    ("context.env", "LD_PRELOAD", 'context.env: expected a list such as ["LD_PRELOAD"]'),
]


def _set(name: str, value: Any) -> dict[str, Any]:
    section, _, leaf = name.rpartition(".")
    return {section: {leaf: value}} if section else {name: value}


@pytest.mark.parametrize(("name", "value", "line"), BAD_VALUES, ids=[f"{n}={v!r}" for n, v, _ in BAD_VALUES])
def test_a_bad_value_is_named_with_its_reason(name: str, value: Any, line: str) -> None:
    settings_, problems = check_document(_set(name, value))
    assert settings_ == {}
    assert len(problems) == 1
    assert f"{problems[0].where}: {problems[0].reason}".startswith(line)


TOML_VALUES = st.recursive(
    st.none().map(lambda _: "") | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.datetimes() | st.dates(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from([key.name for key in KEYS]), value=TOML_VALUES)
def test_any_value_is_taken_or_named_never_a_crash(name: str, value: Any) -> None:
    settings_, problems = check_document(_set(name, value))
    if name in settings_:
        # what the file set is what watch's own option accepts
        param = next(p for p in watch.params if p.name == BY_NAME[name].param)
        ctx = watch.make_context("watch", ["--config", ""])
        param.type_cast_value(ctx, settings_[name])
    else:
        assert problems and all(p.where.split("[")[0] == name for p in problems), problems


def test_a_check_raises_only_invalid() -> None:
    for key in KEYS:
        for value in (None, object(), [object()], {"a": 1}):
            with contextlib.suppress(Invalid):  # anything else fails the test
                key.check(value)


@pytest.mark.parametrize(
    ("doc", "where", "suggestion"),
    [
        ({"shwo": True}, "shwo", "show"),
        ({"db": "/x"}, "db", "store.db"),
        ({"rules": {"keys": "x"}}, "rules.keys", "rules.key"),
        ({"filter": {"uid": [0]}}, "filter", "filters"),
        ({"forward": {"sink": []}}, "forward.sink", "forward.sinks"),
        ({"store": {"path": "/x"}}, "store.path", "store.db"),
        ({"forward": {"spool_mx": "1G"}}, "forward.spool_mx", "forward.spool_max"),
        ({"zzzz": 1}, "zzzz", None),
    ],
)
def test_an_unknown_key_is_named_with_a_suggestion(
    doc: dict[str, Any], where: str, suggestion: str | None
) -> None:
    _, problems = check_document(doc)
    assert [p.where for p in problems] == [where]
    reason = problems[0].reason
    assert reason.startswith("unknown")
    assert (f"(did you mean {suggestion}?)" in reason) if suggestion else ("did you mean" not in reason)


def test_a_section_that_is_not_a_table() -> None:
    _, problems = check_document({"rules": ["a"], "mode": {"x": 1}})
    assert [(p.where, p.reason) for p in problems] == [
        ("rules", 'expected a table ([rules]), got ["a"]'),
        ("mode", "expected one of auto, daemon, multicast, plugin, got a table"),
    ]


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = 'mode = 1\nshow = "x"\nnope = 1\n[rules]\nfields = ["uid=0", "x", "y=1"]\n[forward]\nwait = "z"\n'
    config = load(str(write_config(tmp_path, text)))
    assert [p.where for p in config.problems] == [
        "mode", "show", "nope", "rules.fields[2]", "rules.fields[3]", "forward.wait"
    ]  # fmt: skip
    assert (
        config.lines()[0]
        == f"{tmp_path}/exectrail.toml: mode: expected one of auto, daemon, multicast, plugin, got 1"
    )


def test_settings_that_only_clash_together() -> None:
    _, problems = check_document({"output": {"file": "/x.jsonl", "format": "table"}})
    assert [(p.where, p.reason) for p in problems] == [
        ("output.format", "a file gets jsonl, csv, ecs or ocsf, not table")
    ]
    _, problems = check_document({"rules": {"fields": ["exe=/a", "exe!=/b"]}})
    assert [p.where for p in problems] == ["rules.fields"] and "only one exe field" in problems[0].reason


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("mode = \n", "line 1, column 8"),
        ('show = true\n[rules]\nkey = "a"\nkey = "b"\n', "line 4, column 10"),
        ('mode = "auto', "end of document"),
    ],
)
def test_a_syntax_error_has_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    config = load(str(write_config(tmp_path, text)))
    assert [p.where for p in config.problems] == [where]
    assert config.problems[0].reason.endswith("(TOML syntax)")


def test_not_utf8(tmp_path: Path) -> None:
    path = write_config(tmp_path, "")
    path.write_bytes(b'host_name = "caf\xe9"\n')
    assert [p.reason for p in load(str(path)).problems] == ["not UTF-8 (TOML files are UTF-8)"]


def test_which_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = tmp_path / "etc.toml"
    monkeypatch.setattr(loader, "DEFAULT_PATH", str(default))
    monkeypatch.delenv("EXECTRAIL_CONFIG", raising=False)
    assert choose_path(None) is None  # the default file is absent: no file, silently
    default.write_text("")
    assert choose_path(None) == str(default)
    assert choose_path("") is None and choose_path("/a.toml") == "/a.toml"
    monkeypatch.setenv("EXECTRAIL_CONFIG", "/env.toml")
    assert choose_path(None) == "/env.toml" and choose_path("/a.toml") == "/a.toml"
    monkeypatch.setenv("EXECTRAIL_CONFIG", "")
    assert choose_path(None) is None


def test_unreadable_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nosuch.toml: no such file or directory$"):
        load(str(tmp_path / "nosuch.toml"))
    with pytest.raises(ConfigError, match="is a directory"):
        load(str(tmp_path))
    big = write_config(tmp_path, "# x\n" * 300_000)
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load(str(big))


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        skip_or_fail("the file checks apply to root")


def test_root_refuses_a_file_others_may_write(as_root: None, tmp_path: Path) -> None:
    path = write_config(tmp_path, "show = false\n")
    path.chmod(0o620)
    with pytest.raises(ConfigError, match=r"writable by group or others \(mode 0620\); refused"):
        load(str(path))
    path.chmod(0o644)
    assert load(str(path)).settings == {"show": False}
    os.chown(path, 65534, 65534)
    with pytest.raises(ConfigError, match="owned by uid 65534, not by root or the running user"):
        load(str(path))


def test_root_refuses_a_directory_others_may_write(as_root: None, tmp_path: Path) -> None:
    path = write_config(tmp_path / "open", "show = false\n")
    path.parent.chmod(0o777)
    with pytest.raises(ConfigError, match="directory writable by others"):
        load(str(path))
    path.parent.chmod(0o1777)  # sticky (as /tmp) is not enough for the directory that holds it
    with pytest.raises(ConfigError, match="directory writable by others"):
        load(str(path))


def test_root_follows_a_link_only_from_a_safe_place(as_root: None, tmp_path: Path) -> None:
    target = write_config(tmp_path / "etc", "show = false\n")
    safe_link = tmp_path / "etc" / "link.toml"
    safe_link.symlink_to(target)
    assert load(str(safe_link)).settings == {"show": False}
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o700)
    shared.chmod(0o1777)  # another user could have planted the link here
    planted = shared / "exectrail.toml"
    planted.symlink_to(target)
    with pytest.raises(ConfigError, match="directory writable by others"):
        load(str(planted))


def test_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo, 0o600)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            load(str(fifo))
        except ConfigError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert outcome and "not a regular file" in str(outcome[0])


def test_imports_go_cli_to_config_to_lower_layers() -> None:
    """config/ imports no command-line code, and below the cli nothing imports config/."""
    import ast

    src = SHIPPED.parents[1]
    seen = set()
    for path in sorted(src.rglob("*.py")):
        part = path.relative_to(src).parts[0]
        seen.add(part)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if part == "config":
                    assert not name.startswith("exectrail.cli"), (path, name)
                elif part != "cli":
                    assert not name.startswith("exectrail.config"), (path, name)
    assert {"config", "cli", "store"} <= seen


def test_every_watch_option_is_a_key_or_said_to_be_command_line_only() -> None:
    """A new watch option must get a key (or be listed as command-line only in the shipped file)."""
    from exectrail.config.keys import COMMAND_LINE_ONLY

    options = {max(p.opts, key=len): p.name for p in watch.params if p.name != "config"}
    keyed = {key.param for key in KEYS}
    assert {opt for opt, name in options.items() if name not in keyed} == set(COMMAND_LINE_ONLY)
    assert keyed <= set(options.values())
    assert ", ".join(COMMAND_LINE_ONLY) in SHIPPED.read_text()
