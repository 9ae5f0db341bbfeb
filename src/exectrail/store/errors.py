"""The store's errors, in a module of their own so any store module can raise them (no import cycle)."""

from __future__ import annotations

from exectrail.errors import ExectrailError


class StoreError(ExectrailError):
    """The store cannot be opened, read or written."""


class StoreFullError(StoreError):
    """The disk (or the database's size limit) is full; the batch in flight was rolled back."""


__all__ = ["StoreError", "StoreFullError"]
