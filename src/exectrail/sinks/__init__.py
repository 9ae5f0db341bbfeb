"""Off-host forwarding: syslog (TCP/TLS/UDP), ClickHouse, JSONL, SQLite, each with a disk spool.

API for commands that forward (``review``, ``import``, ``watch``)::

    from exectrail.sinks import SinkSet, summary_line

    sinks = SinkSet.from_urls(["syslog+tcp://10.0.0.5:514"], spool_dir="/var/lib/exectrail/spool",
                              spool_max=1 << 30, host=None)   # ExectrailError on a bad URL/spool
    sinks.submit(event)                 # an ExecEvent; never blocks on the network
    sinks.submit_message({"type": "alarm", "id": "...", "time": "...Z", ...})   # alarms, heartbeats
    sinks.status()                      # live state per sink (backlog, last error, ...)
    for summary in sinks.close(timeout=10.0):   # deliver for up to 10 s, spool the rest
        print(summary_line(summary))    # summary.dropped > 0 means events were lost (exact count)

    read_sink_status("/var/lib/exectrail/spool")   # for `exectrail status`: state of every sink

Click commands get the options with :func:`exectrail.cli.options.sink_options` and a ready
:class:`SinkRun` context with :func:`exectrail.cli.options.open_sinks` (``submit``, ``submit_message``,
``failed``). Every forwarded event is the JSON of ``event_to_dict`` plus ``host`` and ``id``
(``node:SECONDS.MS:SERIAL``; receivers de-duplicate on ``host`` + ``id``). Warnings (receiver down,
recovery, drops) go to the ``warn`` callback (stderr by default).

Layout, imports pointing one way (``tests/sinks/test_registry.py`` checks it)::

    sinkset (SinkSet, SinkRun) → registry (scheme → SinkKind, parse_sink_url, open_sink)
                               → forwarder → spool, status
    registry → syslog, clickhouse, jsonl, sqlite (each declares its KINDS; loaded on first use)
    sink modules → net (sockets, TLS, error wording) → spec (SinkSpec, Param, SinkKind, parse_url)
    everything → base (Message, Sink, SinkError)
"""

from exectrail.sinks.base import Message, Sink, SinkError, event_message
from exectrail.sinks.forwarder import SinkSummary, Tuning
from exectrail.sinks.registry import parse_sink_url
from exectrail.sinks.sinkset import DEFAULT_SPOOL_DIR, DEFAULT_SPOOL_MAX, SinkRun, SinkSet, summary_line
from exectrail.sinks.spec import parse_size
from exectrail.sinks.status import read_sink_status

__all__ = [
    "DEFAULT_SPOOL_DIR", "DEFAULT_SPOOL_MAX", "Message", "Sink", "SinkError", "SinkRun", "SinkSet",
    "SinkSummary", "Tuning", "event_message", "parse_sink_url", "parse_size", "read_sink_status",
    "summary_line",
]  # fmt: skip
