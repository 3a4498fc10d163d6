# Helpers for vm scenarios (sourced): run netlab labs inside the netlab VM and check traffic.
# Every scenario: `. "$(dirname "$0")/../lib.sh"`, then lab_cleanup NAME to destroy its lab on exit.
[ "${NETLAB_IN_VM:-}" = 1 ] || { echo "refusing to run outside the netlab VM (NETLAB_IN_VM is not 1)"; exit 2; }
NETLAB_JS="${NETLAB_REPO:-$(pwd)}/dist/cli/netlab.js"

ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; exit 1; }
netlab() { node "$NETLAB_JS" "$@"; }
inns() { n=$1; shift; ip netns exec "$n" "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# can_ping NS ADDR WHY: 3 pings must all come back; prints the mean RTT.
can_ping() {
  out=$(inns "$1" ping -c 3 -i 0.2 -W 2 -q "$2" 2>&1) || fail "$1 cannot ping $2 ($3): $(echo "$out" | tail -2 | tr '\n' ' ')"
  echo "$out" | grep -q ' 3 received' || fail "$1 lost pings to $2 ($3): $(echo "$out" | tail -2 | tr '\n' ' ')"
  ok "$1 pings $2 ($3), rtt avg $(echo "$out" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p') ms"
}
cannot_ping() { ! inns "$1" ping -c 2 -i 0.2 -W 1 -q "$2" >/dev/null 2>&1 || fail "$1 can ping $2 ($3)"; ok "$1 cannot ping $2 ($3)"; }

# apply FILE: netlab apply must succeed (exit 0); prints its summary and time. $APPLIED is the
# summary line ("LAB: applied N steps (C to create, M to change, D to delete) and verified ...").
apply() {
  t0=$(now)
  out=$(netlab apply "$1" 2>&1) || fail "netlab apply $1 failed: $out"
  APPLIED=$(echo "$out" | grep -E 'applied|no changes' | tail -1)
  ok "apply $1 in $(secs "$t0") s: $APPLIED"
}
# unchanged FILE: re-applying changes nothing (the same observe + plan as `netlab plan`).
unchanged() {
  t0=$(now)
  out=$(netlab apply "$1" 2>&1) || fail "re-apply $1 failed: $out"
  echo "$out" | grep -q 'no changes' || fail "re-apply of $1 changed something: $out"
  ok "re-apply of $1: no changes ($(secs "$t0") s)"
}
# tested FILE: the lab's own `expect:` assertions all pass (netlab test).
tested() {
  t0=$(now)
  out=$(netlab test "$1" 2>&1) || fail "netlab test $1 failed: $out"
  ok "netlab test $1 in $(secs "$t0") s: $(echo "$out" | tail -1)"
}
# destroyed NAME FILE: destroy, then no namespace of the lab and no state remain.
destroyed() {
  out=$(netlab destroy "$2" 2>&1) || fail "destroy $2 failed: $out"
  left=$(ip netns list | grep -E "^($1-|netlab-probe-)" || true)
  [ -z "$left" ] || fail "destroy $1 left namespaces: $left"
  [ ! -e "/run/netlab/$1" ] || fail "destroy $1 left /run/netlab/$1"
  ok "destroy $1: nothing left"
}
# lab_cleanup NAME: destroy the lab whatever happens.
lab_cleanup() {
  LAB_NAME=$1
  trap 'netlab destroy --lab "$LAB_NAME" >/dev/null 2>&1 || true' EXIT
  trap 'exit 143' TERM INT
}
ifindex() { inns "$1" cat "/sys/class/net/$2/ifindex"; }
mac() { inns "$1" cat "/sys/class/net/$2/address"; }
rx() { inns "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }
