#!/usr/bin/env bash
# Install everything the tests need on Debian 12 (as root; a stock minimal host will do) and run the whole
# suite: ruff (lint + format), mypy --strict, pytest (unit, property, golden, cli, kernel, store, sinks,
# package, install). Arguments go to pytest: bash scripts/test.sh -x tests/unit
#   - apt-get installs the missing test packages (servers, compilers, auditd, debootstrap, ...);
#   - a venv .venv in the tree made with Debian's /usr/bin/python3 (never pip into the system), exectrail
#     installed editable in it (pure Python) with its test extras; reinstalled when pyproject.toml changes;
#   - the hot path compiled by mypyc into build/compiled (tests/support/compiled.py; built again when its
#     source changes): tests/compiled runs both paths and requires the same answers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
die() { echo "exectrail test: $*" >&2; exit 1; }
[ "$EUID" -eq 0 ] || die "run me as root (the kernel tests need it): sudo bash scripts/test.sh"
command -v apt-get >/dev/null 2>&1 || die "needs a Debian-like system (no apt-get here)"
if [ ! -f pyproject.toml ] || [ ! -d src/exectrail ]; then die "the exectrail source tree is not at $PWD"; fi

APT_PACKAGES=(python3 python3-venv python3-dev ca-certificates
              auditd python3-audit gcc gcc-multilib libc6-dev-i386
              rsyslog rsyslog-gnutls rsyslog-relp gnutls-bin openssl clickhouse-server clickhouse-client
              debootstrap zstd systemd man-db
              # the HTML report's browser tests: Debian's chromium driven through its chromedriver (fonts:
              # fonts-dejavu-core comes with chromium's fontconfig on a minbase root)
              chromium chromium-driver)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts none of these here (no systemd); tests start their own copies on 127.0.0.1.

VENV=.venv
PY=$VENV/bin/python
probe='import sys; print(sys.base_prefix, *sys.version_info[:3])'
if [ -e "$VENV" ] && [ "$("$PY" -c "$probe" 2>/dev/null || true)" != "$(/usr/bin/python3 -c "$probe")" ]; then
  echo "$VENV is not a working venv of /usr/bin/python3: making it again"
  rm -rf "$VENV"
fi
[ -e "$VENV" ] || /usr/bin/python3 -m venv "$VENV"
# Editable: the venv runs this tree's code; reinstall when the dependencies may have changed or the
# tree moved.
stamp="$(sha256sum pyproject.toml | cut -d' ' -f1) $PWD"
if [ "$(cat "$VENV/.exectrail-stamp" 2>/dev/null || true)" != "$stamp" ]; then
  EXECTRAIL_BUILD=pure "$PY" -m pip install -q --disable-pip-version-check --no-input -e '.[test]'
  echo "$stamp" >"$VENV/.exectrail-stamp"
fi

echo "== ruff"; "$PY" -m ruff check; "$PY" -m ruff format --check
echo "== mypy"; "$PY" -m mypy
echo "== compiled hot path"; "$PY" -m tests.support.compiled
echo "== pytest"; exec "$PY" -m pytest "$@"
