"""A NETLINK_AUDIT socket: status, rules, daemon registration, multicast, receiving records.

Kernel facts this relies on (kernel/audit.c): replies to AUDIT_GET and AUDIT_LIST_RULES are sent
from a kernel thread, so an ACK may overtake them (we ask for none there; errors always come
back); records are one per datagram and, when unicast to the registered daemon, ``nlmsg_len``
leaves out the header (see :func:`~exectrail.kernel.netlink.wire.decode_record`). A process registering
as daemon must send its own pid; the records then go to the socket that registered.
"""

from __future__ import annotations

import errno as errno_mod
import itertools
import os
import socket
import threading
from collections import deque
from types import TracebackType

from exectrail.errors import KernelAuditError
from exectrail.kernel.netlink import wire
from exectrail.kernel.netlink.wire import AuditStatus, NlMsgErr
from exectrail.kernel.procfs import process_name

SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
DEFAULT_RCVBUF = 64 * 1024 * 1024
_RECV_SIZE = 65536
_RECORD_SIZE = 16384  # an audit record is at most ~9 KB (MAX_AUDIT_MESSAGE_LENGTH 8970)

_NO_AUDIT = (errno_mod.ECONNREFUSED, errno_mod.EPROTONOSUPPORT, errno_mod.EAFNOSUPPORT)


class NetlinkAuditError(KernelAuditError):
    """A refusal by the kernel (or the socket layer); ``errno`` is positive, None for timeouts."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class ReceiveOverrun(NetlinkAuditError):
    """ENOBUFS on receive: the socket buffer overflowed and records were dropped (count unknown)."""


def explain(err: int, action: str) -> str:
    """A one-line message for an errno returned while doing ``action``."""
    if err == errno_mod.EPERM:
        return f"cannot {action}: needs root or CAP_AUDIT_CONTROL"
    if err in _NO_AUDIT:
        return f"cannot {action}: kernel built without audit (or audit unavailable in this namespace)"
    if err == errno_mod.EEXIST and action == "register as audit daemon":
        return "auditd is running: use --mode multicast"
    if err == errno_mod.EINVAL:
        return f"cannot {action}: the kernel rejected it as invalid (EINVAL)"
    return f"cannot {action}: {os.strerror(err)} ({errno_mod.errorcode.get(err, err)})"


def _comm(pid: int) -> str:
    name = process_name(pid)
    return "" if name is None else f", {name}"


class AuditClient:
    """Context manager over one NETLINK_AUDIT socket.

    ``rcvbuf`` sizes the receive buffer (SO_RCVBUFFORCE when allowed, else SO_RCVBUF); use a large
    one on a socket that receives records. Control calls are serialised by a lock.
    """

    def __init__(self, *, rcvbuf: int | None = None, timeout: float = 5.0) -> None:
        try:
            self._sock = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, wire.NETLINK_AUDIT
            )
        except OSError as exc:
            raise NetlinkAuditError(
                explain(exc.errno or 0, "open an audit netlink socket"), exc.errno
            ) from None
        self._sock.bind((0, 0))
        self._timeout: float | None = None
        self.timeout = timeout
        self._seq = itertools.count(int.from_bytes(os.urandom(2), "little") + 1)
        self._lock = threading.Lock()
        self._pending: deque[bytes] = deque()  # records that arrived while awaiting a reply
        self.registered = False
        self.overruns = 0  # ENOBUFS seen by receive_batch()
        self.rcvbuf = self._set_rcvbuf(rcvbuf) if rcvbuf else 0

    # -- plumbing ---------------------------------------------------------------------------
    def __enter__(self) -> AuditClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def _set_rcvbuf(self, size: int) -> int:
        for option in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, option, size)
                break
            except OSError:
                continue
        return int(self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

    def _request(self, msg_type: int, payload: bytes, action: str, *, ack: bool) -> list[tuple[int, bytes]]:
        """Send one request; return its replies (data messages), raising on an error reply."""
        flags = wire.NLM_F_REQUEST | (wire.NLM_F_ACK if ack else 0)
        with self._lock:
            seq = next(self._seq) & 0xFFFFFFFF
            try:
                self._sock.sendto(wire.encode_message(msg_type, flags, seq, payload), (0, 0))
            except OSError as exc:
                raise NetlinkAuditError(explain(exc.errno or 0, action), exc.errno) from None
            return self._collect(msg_type, seq, action, ack)

    def _collect(self, msg_type: int, seq: int, action: str, ack: bool) -> list[tuple[int, bytes]]:
        replies: list[tuple[int, bytes]] = []
        while True:
            datagram = self._recv(self.timeout, action)
            if datagram is None:
                raise NetlinkAuditError(f"cannot {action}: no reply from the kernel audit subsystem")
            for header, body in wire.iter_messages(datagram):
                if header.seq != seq:
                    if header.type not in (wire.NLMSG_ERROR, wire.NLMSG_DONE, msg_type):
                        self._pending.append(datagram)  # a record: keep it for receive()
                    break
                if header.type == wire.NLMSG_ERROR:
                    err = -NlMsgErr.unpack(body.ljust(NlMsgErr.size(), b"\0")).error
                    if err:
                        raise NetlinkAuditError(explain(err, action), err)
                    if ack:
                        return replies
                elif header.type == wire.NLMSG_DONE:
                    return replies
                else:
                    replies.append((header.type, body))
                    if msg_type == wire.AUDIT_GET:
                        return replies

    def _recv(self, timeout: float | None, action: str = "receive") -> bytes | None:
        if timeout != self._timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout
        try:
            return self._sock.recv(_RECV_SIZE)
        except TimeoutError:
            return None
        except OSError as exc:
            if exc.errno == errno_mod.ENOBUFS:
                raise ReceiveOverrun("receive buffer overflowed: records were dropped", exc.errno) from None
            raise NetlinkAuditError(explain(exc.errno or 0, action), exc.errno) from None

    # -- status -----------------------------------------------------------------------------
    def get_status(self) -> AuditStatus:
        replies = self._request(wire.AUDIT_GET, b"", "read the audit status", ack=False)
        return AuditStatus.unpack(replies[0][1])

    def set_status(
        self,
        *,
        enabled: int | None = None,
        failure: int | None = None,
        pid: int | None = None,
        rate_limit: int | None = None,
        backlog_limit: int | None = None,
        backlog_wait_time: int | None = None,
    ) -> None:
        """AUDIT_SET of the given fields only. Refuses ``enabled=2`` and ``failure=2``."""
        if enabled not in (None, 0, 1):
            raise NetlinkAuditError(f"refusing to set enabled={enabled} (only 0 or 1; 2 locks audit)")
        if failure not in (None, 0, 1):
            raise NetlinkAuditError(f"refusing to set failure={failure} (only 0 or 1; 2 panics)")
        values = {
            "enabled": (enabled, wire.STATUS_ENABLED),
            "failure": (failure, wire.STATUS_FAILURE),
            "pid": (pid, wire.STATUS_PID),
            "rate_limit": (rate_limit, wire.STATUS_RATE_LIMIT),
            "backlog_limit": (backlog_limit, wire.STATUS_BACKLOG_LIMIT),
            "backlog_wait_time": (backlog_wait_time, wire.STATUS_BACKLOG_WAIT_TIME),
        }
        mask = 0
        kwargs: dict[str, int] = {}
        for name, (value, bit) in values.items():
            if value is not None:
                mask |= bit
                kwargs[name] = value
        if not mask:
            return
        action = "register as audit daemon" if pid else "change the audit status"
        payload = AuditStatus(mask=mask, **kwargs).pack()
        try:
            self._request(wire.AUDIT_SET, payload, action, ack=True)
        except NetlinkAuditError as exc:
            raise self._refine(exc) from None

    def register_daemon(self) -> None:
        """Make this socket the audit daemon's: the kernel will unicast every record to it."""
        try:
            self.set_status(pid=os.getpid())
        except NetlinkAuditError as exc:
            if exc.errno != errno_mod.EEXIST:
                raise
            pid = self.get_status().pid
            raise NetlinkAuditError(
                f"another audit daemon is registered (pid {pid}{_comm(pid)}): auditd is running, "
                "use --mode multicast",
                exc.errno,
            ) from None
        self.registered = True

    def unregister_daemon(self) -> None:
        """Give up the audit daemon role (only the registered process may)."""
        self.set_status(pid=0)
        self.registered = False

    def _refine(self, exc: NetlinkAuditError) -> NetlinkAuditError:
        """Say "immutable" rather than "needs root" when the configuration is locked."""
        if exc.errno == errno_mod.EPERM:
            try:
                locked = self.get_status().enabled == 2
            except NetlinkAuditError:
                locked = False
            if locked:
                msg = "the audit configuration is immutable (enabled=2): it cannot change until reboot"
                return NetlinkAuditError(msg, exc.errno)
        return exc

    # -- rules ------------------------------------------------------------------------------
    def list_rules(self) -> list[bytes]:
        """Every rule in the kernel, as raw ``audit_rule_data`` bytes, in kernel order."""
        replies = self._request(wire.AUDIT_LIST_RULES, b"", "list the audit rules", ack=False)
        return [body for msg_type, body in replies if msg_type == wire.AUDIT_LIST_RULES]

    def add_rule(self, rule_data: bytes) -> bool:
        """Add a rule; False if the kernel already has an identical one (EEXIST)."""
        return self._change_rule(wire.AUDIT_ADD_RULE, rule_data, "add an audit rule", errno_mod.EEXIST)

    def delete_rule(self, rule_data: bytes) -> bool:
        """Delete a rule; False if the kernel has no identical one (ENOENT)."""
        return self._change_rule(wire.AUDIT_DEL_RULE, rule_data, "delete an audit rule", errno_mod.ENOENT)

    def _change_rule(self, msg_type: int, rule_data: bytes, what: str, unchanged: int) -> bool:
        """Send a rule change; False when the kernel answers ``unchanged`` (nothing to do)."""
        try:
            self._request(msg_type, rule_data, what, ack=True)
        except NetlinkAuditError as exc:
            if exc.errno == unchanged:
                return False
            raise self._refine(exc) from None
        return True

    # -- records ----------------------------------------------------------------------------
    def join_multicast(self) -> None:
        """Listen to the read-only log group (AUDIT_NLGRP_READLOG), beside any audit daemon."""
        try:
            self._sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, wire.AUDIT_NLGRP_READLOG)
        except OSError as exc:
            if exc.errno == errno_mod.EPERM:
                msg = "cannot join the audit multicast group: needs root or CAP_AUDIT_READ"
                raise NetlinkAuditError(msg, exc.errno) from None
            msg = explain(exc.errno or 0, "join the audit multicast group")
            raise NetlinkAuditError(msg, exc.errno) from None

    def receive_datagram(self, timeout: float | None = None) -> bytes | None:
        """The next raw record datagram, or None on timeout. Raises :class:`ReceiveOverrun`."""
        if self._pending:
            return self._pending.popleft()
        return self._recv(timeout)

    def receive_batch(self, timeout: float | None = None, limit: int = 4096) -> list[bytes]:
        """Wait up to ``timeout`` for a record datagram, then take every one already queued
        (without waiting) up to ``limit``. ENOBUFS is counted in :attr:`overruns`, not raised."""
        out: list[bytes] = []
        while self._pending and len(out) < limit:
            out.append(self._pending.popleft())
        if not out:
            try:
                first = self._recv(timeout)
            except ReceiveOverrun:
                self.overruns += 1
                return out
            if first is None:
                return out
            out.append(first)
        if self._timeout != 0.0:
            self._sock.settimeout(0.0)  # a socket with a timeout would poll before each recv
            self._timeout = 0.0
        recv = self._sock.recv
        while len(out) < limit:
            try:
                out.append(recv(_RECORD_SIZE))
            except (BlockingIOError, TimeoutError):
                break
            except OSError as exc:
                if exc.errno != errno_mod.ENOBUFS:
                    raise NetlinkAuditError(explain(exc.errno or 0, "receive"), exc.errno) from None
                self.overruns += 1
        return out

    def receive(self, timeout: float | None = None) -> tuple[int, bytes] | None:
        """The next record as ``(msg_type, payload)``, or None on timeout."""
        datagram = self.receive_datagram(timeout)
        return None if datagram is None else wire.decode_record(datagram)
