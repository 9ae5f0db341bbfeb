"""``alarms --from``: the alarms the fleet's hosts forwarded, oldest first, each once."""

from __future__ import annotations

from exectrail.model import Alarm
from exectrail.warehouse.rows import alarm_of
from exectrail.warehouse.source import Fleet


def fleet_alarms(fleet: Fleet) -> list[Alarm]:
    """Every alarm row of ``fleet``'s hosts (a row delivered twice counts once), oldest first;
    alarms of one millisecond in the order of their ids."""
    sql = (
        f"SELECT id, host, body FROM {fleet.table} WHERE type = 'alarm' AND {fleet.host_condition()} "
        "ORDER BY time, time_ms, id"
    )
    seen: set[str] = set()
    out = []
    for row in fleet.rows(sql):
        row_id = str(row.get("id"))
        if row_id not in seen:
            seen.add(row_id)
            out.append(alarm_of(row))
    return out


__all__ = ["fleet_alarms"]
