"""Fixtures for the store tests: real events from the committed captures, stores filled with them."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from exectrail.cli.main import cli
from exectrail.model import Diagnostics, ExecEvent
from exectrail.pipeline import read_exec_events
from exectrail.store import EventStore

DATA = Path(__file__).resolve().parents[1] / "data"
LOGS = [
    DATA / "workload_enriched.log",
    DATA / "workload_raw_node.log.gz",
    DATA / "interleaved_concurrent.log",
]


def read_events(*paths: Path) -> list[ExecEvent]:
    return list(read_exec_events(paths, Diagnostics()))


def manifest(name: str) -> dict[str, Any]:
    with gzip.open(DATA / f"{name}.manifest.json.gz") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


@pytest.fixture(scope="session")
def real_events() -> list[ExecEvent]:
    """Every exec event of the three committed captures (ENRICHED, RAW with node, interleaved)."""
    return read_events(*LOGS)


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


def run(*args: str, input: bytes | None = None) -> Result:
    """Run the CLI in-process (stdout and stderr kept apart)."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def jsonl() -> Iterator[Any]:
    def parse(text: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    yield parse
