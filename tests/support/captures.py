"""The committed captures under tests/data: their exec events and their manifests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from exectrail.model import Diagnostics, ExecEvent
from exectrail.pipeline import read_exec_events
from tests.support.paths import DATA


def read_events(*paths: Path) -> list[ExecEvent]:
    return list(read_exec_events(paths, Diagnostics()))


def manifest(name: str) -> dict[str, Any]:
    with gzip.open(DATA / f"{name}.manifest.json.gz") as fh:
        data: dict[str, Any] = json.load(fh)
    return data
