"""The exception tree is pure (a type and a message); the command line alone maps it to exit statuses."""

from __future__ import annotations

import importlib
import pickle
import pkgutil

import pytest

import exectrail
from exectrail.cli.common import EXIT_CODES, exit_code_for
from exectrail.errors import ExectrailError, InputError, KernelAuditError, UsageError


def every_error_class() -> list[type[ExectrailError]]:
    for module in pkgutil.walk_packages(exectrail.__path__, "exectrail."):
        importlib.import_module(module.name)
    found: list[type[ExectrailError]] = []
    todo: list[type[ExectrailError]] = [ExectrailError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_library_errors_carry_no_exit_status() -> None:
    classes = every_error_class()
    assert {InputError, UsageError, KernelAuditError} <= set(classes)
    assert len(classes) > 4  # the subclasses beside their code (store, sinks, netlink, config, safefs)
    for cls in classes:
        assert "exit_code" not in vars(cls), cls
        assert not hasattr(cls("x"), "exit_code"), cls


def test_every_error_exits_2_as_before() -> None:
    for cls in every_error_class():
        assert exit_code_for(cls("one line")) == 2, cls
    assert set(EXIT_CODES.values()) == {2}


def test_the_nearest_listed_kind_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    class Special(UsageError):
        pass

    monkeypatch.setitem(EXIT_CODES, UsageError, 9)
    assert exit_code_for(Special("x")) == 9
    assert exit_code_for(InputError("x")) == 2


def test_an_error_is_its_message_and_survives_a_pipe() -> None:
    exc = InputError("x.log: cannot read")
    assert str(exc) == "x.log: cannot read"
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is InputError and str(back) == str(exc)
