"""exectrail: record every program executed on a Linux host through the kernel audit subsystem."""

__version__ = "0.1.0"
