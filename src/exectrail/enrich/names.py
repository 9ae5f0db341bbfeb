"""User and group names for the ids of an exec event (issue 14): from auditd's ENRICHED part, or
from the name service at capture time.

**ENRICHED lines.** With ``log_format = ENRICHED`` (Debian's default) auditd appends to each record
a 0x1d byte and its own interpretation of some fields (``src/auditd-event.c``, ``format_enrich``)::

    ARCH=x86_64 SYSCALL=execve AUID="unset" UID="root" GID="root" EUID="root" SUID="root" ...

These names are what auditd's name service said *when it wrote the line*, on the host that wrote
it: evidence of that moment, not of today's ``/etc/passwd``. How auditd writes them (audit-userspace
``auparse/interpret.c`` ``aulookup_uid``/``aulookup_gid``, ``lib/audit_logging.c``
``audit_encode_nv_string``; the same since audit 2.6), and what is taken here:

* a name is written ``KEY="name"`` when every byte is 0x21..0x7e and none is ``"``, else as uppercase
  hex of its bytes (``GID=646F6D61696E207573657273`` for ``domain users``). Hex is decoded; a name
  that is not UTF-8 or holds a control character gives None;
* id -1 is ``"unset"``, an id without a name ``"unknown(1234)"`` (``%d``: negative above 2^31), a value
  that was not a number ``conversion error(…)``, no interpretation at all ``"?"``: all None. A user
  really named ``unset`` cannot be told from id -1 and gives None as well;
* names are formatted into a 64-byte buffer, so a name of 63 bytes or more may have been cut: None;
* a field that did not fit in auditd's line buffer is left out: None.

Hostile input (a forged or damaged line): any bytes, never an exception, work bounded by
:data:`MAX_PART`; a key given twice gives None.

**Live.** :class:`NameService` asks ``pwd``/``grp`` (NSS: files, LDAP, sssd…) and caches answers,
misses too, for a minute, so a user added later shows up without a lookup per event.
"""

from __future__ import annotations

import binascii
import grp
import pwd
import re
import time
from collections.abc import Callable

__all__ = ["MAX_MEMO", "MAX_PART", "NameService", "enriched_names"]

#: Longest interpreted part read (a SYSCALL line's is at most about 1.3 KB: nine ids of up to 62
#: bytes, hex-encoded); a longer one is not auditd's and gives no names.
MAX_PART = 4096
#: entries in the memo of :func:`enriched_names`; a full memo starts over
MAX_MEMO = 1024
#: auditd's name buffer is 64 bytes (with the NUL): a name this long or longer may be cut
_CUT_AT = 63
_UNSET = 0xFFFFFFFF  # (uid_t)-1: "unset" (auid of a process no login started)
_QUOTED = re.compile(rb'"([!#-~]*)"')
_NOT_NAMES = (b"unset", b"?", b"")
_NOT_NAME_PREFIXES = (b"unknown(", b"conversion error(")
#: (uid, euid, auid, gid) keys as auditd writes them (field names upper-cased)
_KEYS = {b"UID": 0, b"EUID": 1, b"AUID": 2, b"GID": 3}

_Names = tuple[str | None, str | None, str | None, str | None]
_NONE: _Names = (None, None, None, None)
_MEMO: dict[bytes, _Names] = {}


def _usable(name: str) -> str | None:
    """``name`` when it can be shown as it is: not empty, no control or unassigned characters,
    nothing ``surrogateescape`` kept (JSON writers refuse lone surrogates)."""
    return name if name and name.isprintable() else None


def _name(value: bytes) -> str | None:
    """The name auditd wrote as ``value`` (quoted or hex), or None (see the module docstring)."""
    quoted = _QUOTED.fullmatch(value)
    if quoted is not None:
        raw = quoted[1]
    else:
        try:
            raw = binascii.unhexlify(value)  # strict: even length, hex digits only
        except (binascii.Error, ValueError):
            return None
    if len(raw) >= _CUT_AT or raw in _NOT_NAMES or raw.startswith(_NOT_NAME_PREFIXES):
        return None
    try:
        return _usable(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def _parse(part: bytes) -> _Names:
    found: list[str | None] = [None, None, None, None]
    seen = [False, False, False, False]
    for token in part.split():  # auditd separates with spaces; a trailing newline is not a value
        key, eq, value = token.partition(b"=")
        index = _KEYS.get(key)
        if index is None or not eq:
            continue
        if seen[index]:  # auditd writes each field once: a second one is not its
            found[index] = None
            continue
        seen[index] = True
        found[index] = _name(value)
    return found[0], found[1], found[2], found[3]


def enriched_names(part: bytes) -> _Names:
    """(uid, euid, auid, gid) names from the interpreted part of a SYSCALL line (the bytes after
    0x1d): what auditd's name service said when the line was written. None for each one absent,
    unset, unresolved or not a usable name. Never raises.

    Memoized per whole part (parts repeat: the same user runs most programs). Cost, Python 3.11 on
    this machine: a memo hit about 0.06 µs, a miss (parsing a real 160-byte part) about 3 µs.
    """
    names = _MEMO.get(part)
    if names is None:
        if len(part) > MAX_PART:
            return _NONE
        names = _parse(part)
        if len(_MEMO) >= MAX_MEMO:
            _MEMO.clear()
        _MEMO[part] = names
    return names


class NameService:
    """User and group names from the host's name service (``pwd``/``grp``), cached.

    An answer (a name or its absence) is kept for ``ttl_s`` seconds, at most ``max_entries`` per
    kind (a full cache starts over). Never raises: an id out of range, a name service error or a
    name that cannot be shown as text is None; so are None and 4294967295 (-1, "unset").
    """

    def __init__(
        self, ttl_s: float = 60.0, max_entries: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._users: dict[int, tuple[str | None, float]] = {}
        self._groups: dict[int, tuple[str | None, float]] = {}

    def user(self, uid: int | None) -> str | None:
        """The name of user ``uid`` now, or None."""
        return self._cached(self._users, uid, _user_name)

    def group(self, gid: int | None) -> str | None:
        """The name of group ``gid`` now, or None."""
        return self._cached(self._groups, gid, _group_name)

    def _cached(
        self,
        cache: dict[int, tuple[str | None, float]],
        number: int | None,
        ask: Callable[[int], str | None],
    ) -> str | None:
        if number is None or not 0 <= number < _UNSET:
            return None
        now = self._clock()
        known = cache.get(number)
        if known is not None and known[1] > now:
            return known[0]
        name = ask(number)
        if len(cache) >= self.max_entries:
            cache.clear()
        cache[number] = (name, now + self.ttl_s)
        return name


def _user_name(uid: int) -> str | None:
    try:
        return _usable(pwd.getpwuid(uid).pw_name)
    except (KeyError, OverflowError, ValueError, TypeError, OSError):
        return None


def _group_name(gid: int) -> str | None:
    try:
        return _usable(grp.getgrgid(gid).gr_name)
    except (KeyError, OverflowError, ValueError, TypeError, OSError):
        return None
