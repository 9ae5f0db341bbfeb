"""The configuration file of ``watch`` (TOML): keys declared once, finding, reading, checking.

Imports go cli -> config -> lower layers (rules, sinks, capture, output); nothing here renders.
"""

from __future__ import annotations

from exectrail.config.example import render_example, shipped_text
from exectrail.config.keys import KEYS, Key
from exectrail.config.loader import (
    DEFAULT_PATH,
    ENV_VAR,
    Config,
    ConfigError,
    Problem,
    check_document,
    choose_path,
    load,
    load_for_watch,
)

__all__ = [
    "DEFAULT_PATH",
    "ENV_VAR",
    "KEYS",
    "Config",
    "ConfigError",
    "Key",
    "Problem",
    "check_document",
    "choose_path",
    "load",
    "load_for_watch",
    "render_example",
    "shipped_text",
]
