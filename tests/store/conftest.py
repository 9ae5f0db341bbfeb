"""Fixtures for the store tests: stores filled with the real events of the committed captures.

``real_events`` (the captures' events) comes from the root conftest; the helpers ``run``
(tests.support.cli), ``read_events`` and ``manifest`` (tests.support.captures) live in tests/support.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exectrail.model import ExecEvent
from exectrail.store import EventStore


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store" / "events.db"


@pytest.fixture
def filled(db: Path, real_events: list[ExecEvent]) -> Path:
    """A store holding ``real_events``."""
    with EventStore(db) as store, store.writer(batch_size=100) as writer:
        for event in real_events:
            writer.add(event)
    return db


@pytest.fixture
def jsonl() -> Iterator[Any]:
    def parse(text: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    yield parse
