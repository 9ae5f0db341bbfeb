"""Old home of ``scan_logs``, now :func:`exectrail.pipeline.scan_logs` (the log-scan path); the
alarm detector moved to :mod:`exectrail.interference.detector`. Kept only so that existing imports
(tests) work until they import :mod:`exectrail.pipeline`; then delete this module."""

from __future__ import annotations

from exectrail.pipeline import scan_logs

__all__ = ["scan_logs"]
