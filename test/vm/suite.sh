#!/bin/sh
# Runs the vm scenarios inside the netlab VM (see vm.ts): every test/vm/scenarios/*.sh, or only
# those named (space- or comma-separated, without .sh) in $NETLAB_VM_SCENARIOS, two at a time
# ($NETLAB_VM_JOBS). Each runs with
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
for name in $names; do echo "$name" >> "$out/scenarios"; done

# run_one NAME: runs one scenario, its output into NAME.log, its time and exit code beside it.
run_one() {
  script="$here/scenarios/$1.sh"
  t0=$(date +%s.%N)
  if [ -f "$script" ]; then
    timeout -k 5 "$limit" sh "$script" > "$out/$1.log" 2>&1
    rc=$?
  else
    echo "no such scenario: $script" > "$out/$1.log"
    rc=127
  fi
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }' > "$out/$1.secs"
  [ "$rc" = 124 ] && echo "TIMEOUT after ${limit}s" >> "$out/$1.log"
  echo "$rc" > "$out/$1.rc"
}

# $NETLAB_VM_JOBS lanes (default 2, the VM's CPUs) take the scenarios in order, each claiming the
# next one nobody has (mkdir is atomic): one netlab run uses about one CPU, and the labs have
# names of their own, so scenarios do not meet. A scenario that measures time (ping RTTs under
# netem) says `# vm-scenario: alone` and runs afterwards with nothing beside it.
alone() { grep -q '^# vm-scenario: alone$' "$here/scenarios/$1.sh" 2>/dev/null; }
jobs=${NETLAB_VM_JOBS:-2}
lane=0
while [ "$lane" -lt "$jobs" ]; do
  (for name in $names; do alone "$name" || { mkdir "$out/.claimed-$name" 2>/dev/null && run_one "$name"; }; done) &
  lane=$((lane + 1))
done
wait
for name in $names; do alone "$name" && run_one "$name"; done

failed=0
for name in $names; do
  rc=$(cat "$out/$name.rc" 2>/dev/null || echo 126)
  echo "=== $name"
  sed 's/^/  /' "$out/$name.log"
  echo "=== $name: rc=$rc ($(cat "$out/$name.secs" 2>/dev/null)s)"
  [ "$rc" = 0 ] || failed=$((failed + 1))
done
[ "$failed" -le 100 ] || failed=100
exit "$failed"
