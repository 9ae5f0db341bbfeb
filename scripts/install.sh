#!/usr/bin/env bash
# Install exectrail and what it runs beside (auditd for plugin mode and the audit tools) on Debian 12.
# Usage: bash scripts/install.sh            (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if ! command -v auditctl >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends auditd >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e .
echo "exectrail installed: $(command -v exectrail)"
