"""The trail auditor's (:mod:`~exectrail.interference.trail`) settings and what it keeps about each
host's stream."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from exectrail.interference.coverage import Coverage
from exectrail.interference.notices import Change
from exectrail.interference.serials import Clusterer, Holes
from exectrail.interference.spans import Blind
from exectrail.model import Alarm, Record

RECENT_EVENTS = 8192  # an event key seen again within this many events is a copied record


@dataclass(frozen=True)
class Settings:
    """Thresholds: ``silent_gap_ms`` and ``silent_factor`` (x the 99th percentile of the gaps between
    events) for silent gaps; ``rules_late_ms`` for procmon rules added late after auditd started."""

    procmon_key: str = "procmon"
    silent_gap_ms: int = 300_000
    silent_factor: int = 20
    rules_late_ms: int = 10_000


class NodeState:
    """What the auditor knows about one host's stream."""

    def __init__(self, node: str | None, key: str, late_ms: int) -> None:
        self.node = node
        self.last_key = b""
        self.last: Record | None = None  # last record
        self.tmax = 0
        self.hi: int | None = None  # highest kernel serial
        self.hi_record: Record | None = None
        self.holes = Holes()
        self.boundary: tuple[str, str] | None = None
        self.session = "unknown"  # running / stopped
        self.stop: Record | None = None
        self.blind: Blind | None = None
        self.preamble: int | None = None  # time of the trail's first DAEMON_START, until a newer record
        self.back: tuple[Record, int] | None = None  # time-backwards candidate and tmax then
        self.histogram = [0] * 64  # gaps between events, by bit length of the gap in ms
        self.candidates: list[tuple[int, Record, Record, int]] = []
        self.recent: deque[Record] = deque(maxlen=256)
        self.disabled: list[tuple[Alarm, int, int]] = []  # (alarm, serial, start ms)
        self.burst: list[Change] = []
        self.removed: list[tuple[Alarm, set[str], int]] = []
        self.missing = Clusterer()
        self.duplicates = Clusterer()
        self.cut: set[bytes] = set()  # keys of events cut short by an auditd stop
        self.closed: set[bytes] = set()  # keys of the last RECENT_EVENTS events
        self.closed_order: deque[bytes] = deque(maxlen=RECENT_EVENTS)
        self.incomplete = Clusterer()
        self.headless = Clusterer()  # exec events without their SYSCALL record
        self.headless_missing: list[str] = []  # the records the first of them lacks
        self.headless_other = Clusterer()  # CWD/PATH/PROCTITLE without SYSCALL: any syscall
        self.head_keys: set[bytes] = set()  # the first events of each file (see TrailAuditor)
        self.coverage = Coverage(key, late_ms)
        self.records = 0
