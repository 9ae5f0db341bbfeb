"""Finding, reading and checking the configuration file (TOML, read with :mod:`tomllib`).

Which file: ``--config PATH``; else ``$EXECTRAIL_CONFIG``; else ``/etc/exectrail/exectrail.toml`` when
it exists. An empty path (``--config ''``, ``EXECTRAIL_CONFIG=``) means no file. As root the file is
read under the rules of :mod:`exectrail.safefs`: no directory on the way (nor the one holding a
symbolic link to it) that another user could write, and a regular file owned by root or the
running user that group and others cannot write.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from exectrail.config.keys import BY_NAME, KEYS, SECTIONS, Invalid, show
from exectrail.errors import UsageError
from exectrail.kernel.rules.procmon import ProcmonSpec
from exectrail.kernel.rules.rule import parse_field
from exectrail.safefs import UnsafePathError, check_chain

DEFAULT_PATH = "/etc/exectrail/exectrail.toml"
ENV_VAR = "EXECTRAIL_CONFIG"
MAX_BYTES = 1 << 20  # a configuration file of a megabyte is a mistake


class ConfigError(UsageError):
    """The configuration file cannot be used: ``PATH: KEY: reason`` (exit 2)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file: where (a key, or a line and column) and why."""

    where: str
    reason: str


@dataclass
class Config:
    """A checked file: the settings it holds (key name -> ``watch`` parameter value) and its problems."""

    path: str
    settings: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def lines(self) -> list[str]:
        """``PATH: KEY: reason`` for each problem."""
        return [f"{self.path}: {p.where}: {p.reason}" for p in self.problems]

    def default_map(self) -> dict[str, Any]:
        """The settings as click's ``default_map`` for ``watch`` (parameter name -> value)."""
        return {BY_NAME[name].param: value for name, value in self.settings.items()}

    def raise_for_problems(self) -> None:
        """One line (the first problem, and how many more) as a :class:`ConfigError`."""
        if self.problems:
            more = len(self.problems) - 1
            line = self.lines()[0]
            if more:
                line += f" (and {more} more: exectrail config check {self.path})"
            raise ConfigError(line)


def choose_path(explicit: str | None) -> str | None:
    """The file to read: ``explicit`` (``--config``), else the environment, else the default if present."""
    if explicit is None:
        explicit = os.environ.get(ENV_VAR)
    if explicit is None:
        return DEFAULT_PATH if os.path.lexists(DEFAULT_PATH) else None
    return explicit or None


def load(path: str) -> Config:
    """Read and check ``path``; a file that cannot be read at all is a :class:`ConfigError`."""
    config = Config(path)
    try:
        data = read_bytes(path)
    except UnsafePathError as exc:
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        raise ConfigError(f"{path}: {(exc.strerror or str(exc)).lower()}") from None
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        config.problems.append(Problem(f"byte {exc.start + 1}", "not UTF-8 (TOML files are UTF-8)"))
        return config
    except tomllib.TOMLDecodeError as exc:
        config.problems.append(syntax_problem(exc))
        return config
    config.settings, config.problems = check_document(document)
    return config


def load_for_watch(explicit: str | None) -> Config | None:
    """The checked file ``watch`` runs with (None: no file); a bad one raises :class:`ConfigError`."""
    path = choose_path(explicit)
    if path is None:
        return None
    config = load(path)
    config.raise_for_problems()
    return config


def syntax_problem(exc: tomllib.TOMLDecodeError) -> Problem:
    """``line 3, column 7`` and tomllib's reason, from its message ``Reason (at line 3, column 7)``."""
    message = str(exc)
    match = re.fullmatch(r"(.*) \(at (line \d+, column \d+|end of document)\)", message, re.DOTALL)
    reason, where = (match.group(1), match.group(2)) if match else (message, "syntax")
    reason = reason[:1].lower() + reason[1:]
    return Problem(where, f"{reason} (TOML syntax)")


def read_bytes(path: str) -> bytes:
    """The file's bytes; as root, only from a file and directories nobody else controls."""
    real = os.path.realpath(path)
    checked = os.geteuid() == 0
    if checked:
        if os.path.islink(path):  # the link must sit where only root (or we) can put one
            check_chain(os.path.realpath(os.path.dirname(os.path.abspath(path))))
        check_chain(os.path.dirname(real))
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(f"{path}: not a regular file")
        if checked:
            if st.st_uid not in (0, os.geteuid()):
                raise UnsafePathError(
                    f"{path}: owned by uid {st.st_uid}, not by root or the running user; refused"
                )
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise UnsafePathError(
                    f"{path}: writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}); refused "
                    "(chmod go-w it)"
                )
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise UnsafePathError(f"{path}: larger than {MAX_BYTES >> 20} MiB: not a configuration file")
    return data


def check_document(document: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Every key of a parsed file checked: the settings, and every problem (not only the first)."""
    settings: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, value in _flatten(document, problems):
        key = BY_NAME.get(name)
        if key is None:
            problems.append(Problem(name, "unknown key" + _suggestion(name)))
            continue
        try:
            settings[name] = key.check(value)
        except Invalid as exc:
            bad_items = [Problem(f"{name}[{number}]", reason) for number, reason in exc.items]
            problems.extend(bad_items or [Problem(name, str(exc))])
    problems.extend(_check_together(settings))
    return settings, problems


def _flatten(document: dict[str, Any], problems: list[Problem]) -> Iterator[tuple[str, Any]]:
    for name, value in document.items():
        if name in SECTIONS:
            if not isinstance(value, dict):
                problems.append(Problem(name, f"expected a table ([{name}]), got {show(value)}"))
                continue
            for leaf, item in value.items():
                yield f"{name}.{leaf}", item
        elif isinstance(value, dict) and name not in BY_NAME:
            problems.append(Problem(name, "unknown table" + _suggestion(name, list(SECTIONS))))
        else:
            yield name, value


def _suggestion(name: str, choices: list[str] | None = None) -> str:
    """`` (did you mean rules.key?)`` when a known name is close (or has the same last part)."""
    candidates = choices if choices is not None else list(BY_NAME)
    leaf = name.rpartition(".")[2]
    same_leaf = [c for c in candidates if c.rpartition(".")[2] == leaf and c != name]
    close = same_leaf or difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        leaves = {c.rpartition(".")[2]: c for c in candidates}
        close = [leaves[m] for m in difflib.get_close_matches(leaf, list(leaves), n=1, cutoff=0.75)]
    return f" (did you mean {close[0]}?)" if close else ""


def _check_together(settings: dict[str, Any]) -> Iterator[Problem]:
    """What is wrong only in combination: a table in a file, rules the kernel would refuse."""
    if settings.get("output.format") == "table" and settings.get("output.file"):
        yield Problem("output.format", "a file gets jsonl, csv, ecs or ocsf, not table")
    fields = settings.get("rules.fields", ())
    exclude = settings.get("rules.exclude_exe", ())
    if fields or exclude:
        try:
            ProcmonSpec(fields=tuple(parse_field(f) for f in fields), exclude_exes=exclude)
        except UsageError as exc:
            yield Problem("rules.fields" if fields else "rules.exclude_exe", str(exc))


__all__ = [
    "DEFAULT_PATH",
    "ENV_VAR",
    "KEYS",
    "Config",
    "ConfigError",
    "Problem",
    "check_document",
    "choose_path",
    "load",
    "load_for_watch",
]
