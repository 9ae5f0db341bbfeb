#!/bin/sh
# Run a command under the restrictions of exectrail.service, reproduced without systemd as PID 1.
# Usage (inside `unshare --mount --propagation private`):
#   sandbox.sh BOUNDING-SET UMASK WRITABLE-DIR... -- COMMAND...
# BOUNDING-SET in setpriv's form (-all,+audit_control,...): CapabilityBoundingSet= and, with
# --no-new-privs, NoNewPrivileges=yes. Every mount but /proc, /dev and the WRITABLE-DIRs is made
# read-only (ProtectSystem=strict with ReadWritePaths=, /proc/sys too: ProtectKernelTunables=).
set -eu
caps=$1
umask "$2"
shift 2
writable=""
while [ "$1" != "--" ]; do
	mount --bind "$1" "$1"
	writable="$writable
$1"
	shift
done
shift
mount --bind /proc/sys /proc/sys
awk '{ print $5 }' /proc/self/mountinfo | while read -r mountpoint; do
	case "$mountpoint" in
		/proc/sys) ;;
		/proc | /proc/* | /dev | /dev/*) continue ;;
	esac
	if printf '%s\n' "$writable" | grep -qxF "$mountpoint"; then
		continue
	fi
	mount -o remount,bind,ro "$mountpoint"
done
exec setpriv --no-new-privs --inh-caps=-all --bounding-set="$caps" -- "$@"
