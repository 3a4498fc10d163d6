#!/bin/sh
# Runs the vm scenarios inside the netlab VM (see vm.ts): every test/vm/scenarios/*.sh, or only
# those named (space- or comma-separated, without .sh) in $NETLAB_VM_SCENARIOS. Each runs with
# `sh`, under a timeout of $NETLAB_VM_SCENARIO_TIMEOUT seconds (default 300: under TCG on a busy
# machine one netlab command can take 10-20 s).
#
# Writes into $NETLAB_RESULTS: uname (the kernel release), scenarios (the names run, one a line),
# and per scenario <name>.rc (exit code; 124 = timed out), <name>.log (its output) and
# <name>.secs (its wall time). Exits with the number of failed scenarios (at most 100).
set -u
[ "${NETLAB_IN_VM:-}" = 1 ] || { echo "refusing to run outside the netlab VM (NETLAB_IN_VM is not 1)"; exit 2; }
out=${NETLAB_RESULTS:?NETLAB_RESULTS is not set}
here=$(cd "$(dirname "$0")" && pwd)
limit=${NETLAB_VM_SCENARIO_TIMEOUT:-300}

uname -r > "$out/uname"
if [ -n "${NETLAB_VM_SCENARIOS:-}" ]; then
  names=$(echo "$NETLAB_VM_SCENARIOS" | tr ', ' '\n\n' | grep -v '^$')
else
  names=$(for f in "$here"/scenarios/*.sh; do [ -f "$f" ] && basename "$f" .sh; done)
fi
: > "$out/scenarios"
failed=0
for name in $names; do
  echo "$name" >> "$out/scenarios"
  script="$here/scenarios/$name.sh"
  echo "=== $name"
  t0=$(date +%s.%N)
  if [ -f "$script" ]; then
    timeout -k 5 "$limit" sh "$script" > "$out/$name.log" 2>&1
    rc=$?
  else
    echo "no such scenario: $script" > "$out/$name.log"
    rc=127
  fi
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  echo "$secs" > "$out/$name.secs"
  echo "$rc" > "$out/$name.rc"
  [ "$rc" = 124 ] && echo "TIMEOUT after ${limit}s" >> "$out/$name.log"
  sed 's/^/  /' "$out/$name.log"
  echo "=== $name: rc=$rc (${secs}s)"
  [ "$rc" = 0 ] || failed=$((failed + 1))
done
[ "$failed" -le 100 ] || failed=100
exit "$failed"
