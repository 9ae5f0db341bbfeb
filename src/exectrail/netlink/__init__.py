"""Talking to the kernel audit subsystem over NETLINK_AUDIT (standard library only)."""

from exectrail.netlink.client import AuditClient, NetlinkAuditError, ReceiveOverrun
from exectrail.netlink.wire import AuditStatus

__all__ = ["AuditClient", "AuditStatus", "NetlinkAuditError", "ReceiveOverrun"]
