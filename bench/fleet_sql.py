"""The raw SQL of the fleet's questions, timed in variants on the loaded table (bench/fleet.py --sql)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exectrail.warehouse.client import ClickHouseClient
from fleet_data import Fleet


def measure_sql(
    client: ClickHouseClient, table: str, fleet: Fleet, hosts: int, rounds: int, repeat: int,
    say: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    return {}
