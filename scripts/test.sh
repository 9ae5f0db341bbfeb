#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian 12 machine (as root) and run the whole suite:
# ruff (lint + format), mypy --strict, pytest (unit, property, golden, cli, kernel, store, sinks).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
APT_PACKAGES=(auditd python3-audit gcc gcc-multilib libc6-dev-i386 rsyslog rsyslog-gnutls gnutls-bin openssl
              clickhouse-server clickhouse-client)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts none of these here (no systemd); tests start their own copies on 127.0.0.1.
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
echo "== ruff"; ruff check; ruff format --check
echo "== mypy"; mypy
echo "== pytest"; python3 -m pytest "$@"
