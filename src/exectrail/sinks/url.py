"""The former home of the sink URL functions, kept so that imports from here keep working.

Parsing now lives in :mod:`exectrail.sinks.spec` (it imports no sink module) and the table of sinks
in :mod:`exectrail.sinks.registry`. Nothing inside ``exectrail.sinks`` imports this module.
"""

from exectrail.sinks.registry import open_sink, parse_sink_url
from exectrail.sinks.spec import SinkSpec, parse_seconds, parse_size, redact

__all__ = ["SinkSpec", "open_sink", "parse_seconds", "parse_sink_url", "parse_size", "redact"]
