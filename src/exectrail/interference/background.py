"""The alarms of audit logs found in a helper process, beside a command busy with something else:
the log-scan path (:class:`exectrail.pipeline.HelperScan`) asked for alarms only.

Where ``fork`` is unavailable the scan runs in this process when the result is asked for, with the
same results.
"""

from __future__ import annotations

from collections.abc import Sequence

from exectrail.errors import ExectrailError
from exectrail.interference.trail import Settings
from exectrail.model import Alarm
from exectrail.pipeline import HelperScan


class AlarmScan:
    """The alarms of ``paths`` (sorted by time), found in a helper process."""

    def __init__(
        self, paths: Sequence[str], settings: Settings | None = None, background: bool = True
    ) -> None:
        self._scan: HelperScan[None] = HelperScan(
            list(paths), None, alarms=True, settings=settings, background=background
        )
        self._process = self._scan._process

    def result(self) -> list[Alarm]:
        """Wait for the alarms; a failed scan raises a one-line :class:`ExectrailError`."""
        try:
            for _ in self._scan:
                pass
            return self._scan.alarms()
        except ExectrailError:
            raise
        except Exception as exc:
            raise ExectrailError(f"looking for alarms failed: {type(exc).__name__}: {exc}") from None
        finally:
            self.close()

    def close(self) -> None:
        """Stop the helpers (if they still run) and wait for them."""
        self._scan.close()


__all__ = ["AlarmScan"]
