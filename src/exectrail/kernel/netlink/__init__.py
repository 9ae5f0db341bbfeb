"""Talking to the kernel audit subsystem over NETLINK_AUDIT (standard library only)."""

from exectrail.kernel.netlink.client import AuditClient, NetlinkAuditError, ReceiveOverrun
from exectrail.kernel.netlink.wire import AuditStatus

__all__ = ["AuditClient", "AuditStatus", "NetlinkAuditError", "ReceiveOverrun"]
