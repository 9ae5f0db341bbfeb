"""The shipped, commented configuration file, made from the key declarations.

``src/exectrail/data/exectrail.toml`` is :func:`render_example`'s output (a test keeps them equal):
every key commented out with its default, so installing the file changes nothing.
"""

from __future__ import annotations

from importlib.resources import files

from exectrail.config.keys import COMMAND_LINE_ONLY, KEYS, SECTIONS, Key

HEADER = f"""\
# exectrail configuration: the settings of `exectrail watch` (and of the exectrail service).
#
# Read from /etc/exectrail/exectrail.toml, or the file named by --config PATH or $EXECTRAIL_CONFIG
# (an empty name: no file). Every key is shown commented out with its default (or, where the
# default cannot be written, an example), so this file as shipped changes nothing.
# Precedence: command-line flag > environment (EXECTRAIL_DB) > this file > built-in default.
# Command-line only (a service runs until stopped): {", ".join(COMMAND_LINE_ONLY)}.
# Check a file with:  exectrail config check /etc/exectrail/exectrail.toml
"""


def _entry(key: Key) -> str:
    value = key.default if key.default is not None else key.example
    line = f"#{key.leaf} = {value}\n"
    if key.default is not None and key.example is not None:
        line += f"#   for example: {key.leaf} = {key.example}\n"
    return f"# {key.doc}\n{line}"


def render_example() -> str:
    """The shipped file's text."""
    parts = [HEADER]
    section = ""
    for key in KEYS:
        if key.section != section:
            section = key.section
            parts.append(f"\n# {SECTIONS[section]}\n[{section}]\n")
        parts.append("\n" + _entry(key))
    return "".join(parts)


def shipped_text() -> str:
    """The file as installed with the package (``exectrail/data/exectrail.toml``)."""
    return files("exectrail").joinpath("data/exectrail.toml").read_text(encoding="utf-8")


__all__ = ["render_example", "shipped_text"]
