#!/usr/bin/env bash
# Install exectrail on Debian 12 (as root), the way a stock minimal host needs it:
#   - apt-get installs python3, python3-venv, ca-certificates (pip's HTTPS) and auditd when missing;
#   - a venv at /opt/exectrail made with Debian's /usr/bin/python3 (never pip into the system, never
#     --break-system-packages), kept when it works, made again when its Python is broken or not Debian's;
#   - exectrail from this tree (non-editable) with its dependencies from PyPI into that venv; a re-run
#     installs the tree as it is now;
#   - its hot path compiled by mypyc when gcc and python3-dev are here, pure Python (the same answers,
#     slower) when not: a stock host needs no compiler; the last lines say which;
#   - /usr/local/bin/exectrail -> /opt/exectrail/bin/exectrail.
# Usage: bash scripts/install.sh       Uninstall: rm -rf /opt/exectrail /usr/local/bin/exectrail
set -euo pipefail

VENV=/opt/exectrail
LINK=/usr/local/bin/exectrail
PYTHON=/usr/bin/python3
APT_PACKAGES=(python3 python3-venv ca-certificates auditd)
started=$SECONDS

say() { echo "exectrail install: $*"; }
die() { echo "exectrail install: $*" >&2; exit 1; }

[ "$EUID" -eq 0 ] || die "run me as root (sudo bash scripts/install.sh)"
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  die "needs a Debian-like system (no apt-get/dpkg-query here)"
fi
TREE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ ! -f "$TREE/pyproject.toml" ] || [ ! -d "$TREE/src/exectrail" ]; then
  die "the exectrail source tree is not at $TREE (run scripts/install.sh from a checkout)"
fi
if dpkg-query -W -f='${Status}' exectrail 2>/dev/null | grep -q "ok installed"; then
  die "the exectrail Debian package owns $VENV; remove it first (apt-get remove exectrail)"
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A venv is kept only if its python runs, is Debian's (base prefix /usr) of the same version, and has pip.
probe='import sys; print(sys.base_prefix, *sys.version_info[:3])'
want=$("$PYTHON" -c "$probe")
if [ -e "$VENV" ]; then
  have=$("$VENV/bin/python" -c "$probe" 2>/dev/null || true)
  if [ "$have" != "$want" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    [ -f "$VENV/pyvenv.cfg" ] || die "$VENV exists and is not a venv; move it away first"
    say "$VENV runs '${have:-nothing}', not '$want': making it again"
    rm -rf "$VENV"
  fi
fi
if [ ! -e "$VENV" ]; then
  "$PYTHON" -m venv "$VENV"
  say "made the venv $VENV with $PYTHON ($("$PYTHON" -V))"
fi

# Build from a clean copy of what the package needs: no stale build/ or egg-info of the tree leaks in,
# and a read-only tree works.
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
for item in pyproject.toml README.md src setup.py setup.cfg MANIFEST.in LICENSE; do
  if [ -e "$TREE/$item" ]; then cp -a "$TREE/$item" "$build/"; fi
done
mkdir -p "$build/packaging" && cp -a "$TREE/packaging/build" "$build/packaging/"
find "$build" \( -name __pycache__ -o -name '*.egg-info' -o -name '*.so' \) -prune -exec rm -rf {} +
if "$PYTHON" "$build/packaging/build/exectrail_compiler.py" >/dev/null; then
  say "building with the hot path compiled by mypyc (a C compiler and python3-dev are here): about a minute"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input --upgrade "$build"
version=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("exectrail"))')
say "installed exectrail $version from $TREE into $VENV"
# The hot path is compiled (mypyc) where gcc and python3-dev are here, pure Python otherwise.
say "$("$VENV/bin/python" -c 'from exectrail import hotpath; print(hotpath.describe())')"

ln -sfn "$VENV/bin/exectrail" "$LINK"
say "$LINK -> $VENV/bin/exectrail"
found=$(command -v exectrail || true)
if [ "$found" != "$LINK" ]; then
  say "note: 'exectrail' on this PATH is ${found:-not found}; $LINK is the one just installed"
fi
say "done in $((SECONDS - started)) s"
