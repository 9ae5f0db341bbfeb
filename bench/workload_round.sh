#!/bin/sh
# One round of the benchmark's realistic exec workload (bench/review.py runs many, two at a time).
# Compiles, shell loops, execvp PATH searches that fail (env, xargs, find -exec, nice, timeout),
# long and non-ASCII arguments, commands that do not exist.   Usage: workload_round.sh WORKDIR SEED
set -u
W=$1
SEED=$2
mkdir -p "$W" && cd "$W" || exit 1
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH LC_ALL=C

cat > prog.c <<'EOF'
#include <stdio.h>
int main(int argc, char **argv) { for (int i = 1; i < argc; i++) puts(argv[i]); return 0; }
EOF
for n in 1 2; do
    gcc -O1 -Wall -o "prog$n" prog.c && "./prog$n" "seed $SEED" "caf$(printf '\351')" >/dev/null
done

i=0
while [ "$i" -lt 150 ]; do
    basename "/srv/data/file-$SEED-$i.txt" .txt >/dev/null
    expr "$i" + "$SEED" >/dev/null
    env LC_ALL=C date +%s >/dev/null
    nice -n 1 true "loop $i"
    i=$((i + 1))
done

seq 1 800 | xargs -n 4 echo "batch $SEED" >/dev/null
find /usr/include -maxdepth 1 -name 's*.h' -exec cksum {} + >/dev/null
timeout 5 sh -c 'for f in a b c d e; do ls -d /tmp >/dev/null; done'

LONG=$(head -c 24000 /dev/zero | tr '\0' 'x')
for j in 1 2 3; do
    /usr/bin/printf '%s' "$LONG-$j" >/dev/null
    /usr/bin/printf '%s' "with space $j $LONG" >/dev/null
    /usr/bin/printf '%s\n' "日本語 $j" "tab	here" "" "key=procmon" >/dev/null
done

for j in 1 2 3; do
    exectrail-bench-no-such-command "$j" 2>/dev/null
    env exectrail-bench-missing "$j" 2>/dev/null
done
exit 0
