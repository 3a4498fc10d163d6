#!/bin/sh
# Scenario ipvlan: a dummy parent in namespace "par"; two IPVLAN children of it moved into
# namespaces a and b, in l2 mode and then in l3 mode.
#
#   par: parent (dummy, up)
#   a:   eth0 (ipvlan child of par/parent) 10.40.0.1
#   b:   eth0 (ipvlan child of par/parent) 10.40.0.2
#
# Checks per mode: the children are ipvlan links in that mode, share the parent's MAC, and a
# and b ping each other.
set -eu
[ "${NETLAB_IN_VM:-}" = 1 ] || { echo "refusing to run outside the netlab VM (NETLAB_IN_VM is not 1)"; exit 2; }

P=ipvlan
NODES="par a b"
cleanup() { for n in $NODES; do ip netns del "$P-$n" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 143' TERM INT
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; exit 1; }
inns() { n=$1; shift; ip netns exec "$P-$n" "$@"; }
can_ping() { inns "$1" ping -c 3 -i 0.2 -W 2 -q "$2" >/dev/null 2>&1 || fail "$1 cannot ping $2 ($3)"; ok "$1 pings $2 ($3)"; }
mac() { inns "$1" cat "/sys/class/net/$2/address"; }

for n in $NODES; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
ip -n "$P-par" link add parent type dummy
ip -n "$P-par" link set parent up
pmac=$(mac par parent)

for mode in l2 l3; do
  for pair in a:10.40.0.1 b:10.40.0.2; do
    n=${pair%%:*} addr=${pair#*:}
    ip -n "$P-par" link add link parent name "iv-$n" type ipvlan mode "$mode"
    ip -n "$P-par" link set "iv-$n" netns "$P-$n"
    ip -n "$P-$n" link set "iv-$n" name eth0
    ip -n "$P-$n" addr add "$addr/24" dev eth0
    ip -n "$P-$n" link set eth0 up
    ip -n "$P-$n" -d link show eth0 | grep -q "ipvlan  *mode $mode" || fail "$n's eth0 is not ipvlan mode $mode: $(ip -n "$P-$n" -d link show eth0)"
    [ "$(mac "$n" eth0)" = "$pmac" ] || fail "$n's eth0 does not share the parent's MAC"
  done
  ok "a and b have ipvlan $mode children of par/parent, sharing its MAC $pmac"
  can_ping a 10.40.0.2 "ipvlan $mode"
  can_ping b 10.40.0.1 "ipvlan $mode"
  ip -n "$P-a" link del eth0
  ip -n "$P-b" link del eth0
done
echo "ipvlan: all checks passed"
