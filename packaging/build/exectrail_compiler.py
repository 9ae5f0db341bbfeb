"""Can this machine compile exectrail's hot path? The one check, for the build and the scripts.

Standard library only, so that the install scripts can ask Debian's bare python3 before anything is
installed::

    python3 packaging/build/exectrail_compiler.py   # exit 0 when it can; else exit 1 and say why
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import sysconfig


def compiler_missing() -> str | None:
    """What keeps this machine from compiling the extension (None: nothing): a C compiler (``$CC``,
    else the one Python was built with) and Python's headers."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    try:
        words = shlex.split(cc)
    except ValueError:  # an unbalanced quote in $CC
        return f"no C compiler (CC={_shown(cc)!r} is not a command line)"
    if not words or shutil.which(words[0]) is None:
        return (
            f"no C compiler ({_shown(words[0]) if words else 'CC is empty'} not found; apt-get install gcc)"
        )
    include = sysconfig.get_paths()["include"]
    if not os.path.isfile(os.path.join(include, "Python.h")):
        return f"no Python headers ({include}/Python.h; apt-get install python3-dev)"
    return None


def _shown(text: str) -> str:
    """``text`` printable on any stream: bytes that are not UTF-8 (from the environment) as \\xNN."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


if __name__ == "__main__":
    missing = compiler_missing()
    if missing is not None:
        print(missing)
    sys.exit(0 if missing is None else 1)
