"""Writing configuration files for tests (private directory, mode 0600: as root the file is checked)."""

from __future__ import annotations

import re
from pathlib import Path

from exectrail.config import shipped_text

SETTING = re.compile(r"^#([a-z_]+ = .*)$")
EXAMPLE = re.compile(r"^#   for example: ([a-z_]+ = .*)$")


def write_config(directory: Path, text: str, name: str = "exectrail.toml") -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def uncommented(examples: bool) -> str:
    """The shipped file with every setting uncommented: its defaults, or (``examples``) the example
    values where one is given."""
    lines = shipped_text().splitlines()
    out = []
    for number, line in enumerate(lines):
        setting, example = SETTING.match(line), EXAMPLE.match(line)
        following = EXAMPLE.match(lines[number + 1]) if number + 1 < len(lines) else None
        if setting and not (examples and following):
            out.append(setting.group(1))
        elif example and examples:
            out.append(example.group(1))
        else:
            out.append(line)
    return "\n".join(out) + "\n"
