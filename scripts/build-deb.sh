#!/usr/bin/env bash
# Build dist/exectrail_VERSION_amd64.deb from this tree with dpkg-deb (as root or not; needs Debian's
# /usr/bin/python3 3.11 with python3-venv, dpkg-deb, and PyPI for the Python dependencies).
# The package holds a venv-like tree at /opt/exectrail that runs on Debian's python3 (no network at
# install time), /usr/bin/exectrail, the systemd unit, an inactive auditd plugin conf, a logrotate file,
# /etc/exectrail/exectrail.toml and man pages generated from the CLI's help by click-man.
# Usage: bash scripts/build-deb.sh [--out-dir DIR]   (default dist/)
# Environment: SOURCE_DATE_EPOCH (default: the last commit's time).
set -euo pipefail
OUT_DIR=
if [ "${1:-}" = "--out-dir" ] && [ -n "${2:-}" ]; then
  OUT_DIR=$(realpath -m "$2")
elif [ $# -gt 0 ]; then
  echo "usage: bash scripts/build-deb.sh [--out-dir DIR]" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
OUT_DIR=${OUT_DIR:-$PWD/dist}
TREE=$PWD
PYTHON=/usr/bin/python3
CLICK_MAN=click-man==0.6.0
PREFIX=/opt/exectrail

die() { echo "build-deb: $*" >&2; exit 1; }
[ -x "$PYTHON" ] || die "$PYTHON is missing (apt-get install python3 python3-venv)"
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (apt-get install dpkg)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "$PYTHON is not Python 3.11: the package's Depends would be wrong"
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || die "python3-venv is missing (apt-get install python3-venv)"
# The package ships the hot path compiled (mypyc), so target hosts need no compiler; the build host does.
missing=$("$PYTHON" packaging/build/exectrail_compiler.py) || die "$missing: the package ships the hot path compiled"

VERSION=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
PYVER=python3.11
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || stat -c %Y pyproject.toml)
fi
export SOURCE_DATE_EPOCH
export PYTHONHASHSEED=0 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_WARN_SCRIPT_LOCATION=1

# A build venv (pip, click-man) kept between builds; the package's own tree is made fresh each time.
BUILD_VENV=$TREE/build/deb-venv
mkdir -p "$TREE/build"
exec 9>"$TREE/build/deb-venv.lock"
flock 9  # two builds at once share one build venv
if [ ! -x "$BUILD_VENV/bin/click-man" ]; then
  rm -rf "$BUILD_VENV"
  "$PYTHON" -m venv "$BUILD_VENV"
  "$BUILD_VENV/bin/pip" install -q "$CLICK_MAN" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; } >&2
fi

WORK=$(mktemp -d /tmp/exectrail-deb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
SITE=$ROOT$PREFIX/lib/$PYVER/site-packages

# The source as it is in the tree (committed or not), without caches or build leftovers.
mkdir -p "$WORK/src"
mkdir -p "$WORK/src/packaging"
cp -r pyproject.toml setup.py README.md src "$WORK/src/"
cp -r packaging/build "$WORK/src/packaging/"
find "$WORK/src" \( -name __pycache__ -o -name '*.egg-info' -o -name '*.so' \) -prune -exec rm -rf {} +

# /opt/exectrail: a venv on Debian's python3 (home = /usr/bin), the app and its dependencies inside.
"$PYTHON" -m venv --without-pip "$ROOT$PREFIX"
rm -f "$ROOT$PREFIX"/bin/activate* "$ROOT$PREFIX"/bin/Activate.ps1
printf 'home = /usr/bin\ninclude-system-site-packages = false\nversion = %s\n' \
  "$("$PYTHON" -c 'import platform; print(platform.python_version())')" >"$ROOT$PREFIX/pyvenv.cfg"
EXECTRAIL_BUILD=compiled "$BUILD_VENV/bin/pip" install -q --no-compile --prefer-binary --target "$SITE" "$WORK/src" 2>&1 \
  | { grep -v "^WARNING: Location 'file:" || true; } >&2
rm -rf "${SITE:?}/bin"  # console scripts whose shebang names the build venv
find "$SITE" -name direct_url.json -delete  # names the build directory (and differs per build)
sed -i '/direct_url\.json,/d' "$SITE"/*.dist-info/RECORD

mkdir -p "$ROOT/usr/bin"
cat >"$ROOT/usr/bin/exectrail" <<EOF
#!$PREFIX/bin/python3 -I
"""exectrail: the command line (installed by the exectrail package)."""
from exectrail.cli.main import main

main()
EOF

# Configuration, unit, plugin conf, logrotate.
CONFIG_SRC=src/exectrail/data/exectrail.toml
install -D -m 0644 packaging/exectrail.service "$ROOT/lib/systemd/system/exectrail.service"
install -D -m 0644 packaging/exectrail-plugin.conf "$ROOT/etc/audit/plugins.d/exectrail.conf"
install -D -m 0644 packaging/logrotate "$ROOT/etc/logrotate.d/exectrail"
if [ -f "$CONFIG_SRC" ]; then
  install -D -m 0644 "$CONFIG_SRC" "$ROOT/etc/exectrail/exectrail.toml"
else
  echo "build-deb: warning: $CONFIG_SRC missing; shipping a placeholder" >&2
  install -d "$ROOT/etc/exectrail"
  printf '# exectrail configuration (see exectrail-watch(8)); empty: the defaults.\n' \
    >"$ROOT/etc/exectrail/exectrail.toml"
fi

# /usr/share/doc: licences and a native changelog.
DOC=$ROOT/usr/share/doc/exectrail
install -D -m 0644 packaging/deb/copyright "$DOC/copyright"
printf 'exectrail (%s) unstable; urgency=medium\n\n  * Built from the source tree by scripts/build-deb.sh.\n\n -- %s  %s\n' \
  "$VERSION" "$(sed -n 's/^Maintainer: //p' packaging/deb/control.in)" \
  "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n >"$DOC/changelog.gz"

# Man pages from the CLI's own help: click-man writes section 1, an admin tool belongs in 8.
MAN=$WORK/man
mkdir -p "$MAN" "$ROOT/usr/share/man/man8"
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$SITE "$BUILD_VENV/bin/click-man" --target "$MAN" --man-version "$VERSION" exectrail >/dev/null
for page in "$MAN"/*.1; do
  name=$(basename "$page" .1)
  sed -e '1s/^\(\.TH "[^"]*"\) "1"/\1 "8"/' -e 's/(1)\\fP/(8)\\fP/g' "$page" \
    | gzip -9n >"$ROOT/usr/share/man/man8/$name.8.gz"
done
[ -f "$ROOT/usr/share/man/man8/exectrail.8.gz" ] || die "click-man wrote no exectrail page"

# Byte-code for Debian's 3.11, recorded under the installed paths (/opt is read-only under the unit).
# Any byte-code written before (pip, an import during the build) names the build paths: made afresh.
find "$ROOT$PREFIX" -name __pycache__ -prune -exec rm -rf {} +
"$PYTHON" -m compileall -q -j 0 --invalidation-mode unchecked-hash -s "$ROOT" -p / "$ROOT$PREFIX/lib" >/dev/null

# Control area.
DEBIAN=$ROOT/DEBIAN
install -d -m 0755 "$DEBIAN"
install -m 0644 packaging/deb/conffiles "$DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$DEBIAN/"
SIZE=$(find "$ROOT" -path "$DEBIAN" -prune -o \( -type f -o -type l \) -printf '%s\n' \
  | awk '{ kb += int(($1 + 1023) / 1024) } END { print kb }')
sed -e "s/@VERSION@/$VERSION/" -e "s/@INSTALLED_SIZE@/$SIZE/" packaging/deb/control.in >"$DEBIAN/control"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
  | xargs -0 md5sum) >"$DEBIAN/md5sums"
chmod 0644 "$DEBIAN/control" "$DEBIAN/md5sums"

# Sane modes, no trace of the build directories, fixed times; then the archive.
find "$ROOT" -type d -exec chmod 0755 {} +
find "$ROOT" -type f -exec chmod u+rw,go+r,go-w {} +
chmod 0755 "$ROOT/usr/bin/exectrail"
if grep -rlF -e "$WORK" -e "$TREE" -e "$BUILD_VENV" "$ROOT" >"$WORK/leaks"; then
  die "build paths remain in: $(tr '\n' ' ' <"$WORK/leaks")"
fi
find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$OUT_DIR"
OUT=$OUT_DIR/exectrail_${VERSION}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$OUT" >/dev/null
echo "$OUT ($(stat -c %s "$OUT") bytes, installed size ${SIZE} KiB)"
