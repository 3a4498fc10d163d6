#!/bin/sh
# Scenario qinq: 802.1ad (S-tag) outer VLAN with an 802.1Q (C-tag) inner VLAN stacked on it,
# on a veth between two namespaces.
#
#   a: eth0 -> eth0.100 (802.1ad 100) -> eth0.100.10 (802.1Q 10) 10.20.0.1
#   b: eth0 -> eth0.100 (802.1ad 100) -> eth0.100.10 (802.1Q 10) 10.20.0.2
#
# Checks: ping through the stacked tags; the same inner VLAN under another outer VLAN is
# isolated; an 802.1Q outer tag does not match an 802.1ad one with the same id (so the S-tag's
# ethertype really is on the wire).
set -eu
[ "${NETLAB_IN_VM:-}" = 1 ] || { echo "refusing to run outside the netlab VM (NETLAB_IN_VM is not 1)"; exit 2; }

P=qinq
NODES="a b"
cleanup() { for n in $NODES; do ip netns del "$P-$n" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 143' TERM INT
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; exit 1; }
inns() { n=$1; shift; ip netns exec "$P-$n" "$@"; }
can_ping() { inns "$1" ping -c 3 -i 0.2 -W 2 -q "$2" >/dev/null 2>&1 || fail "$1 cannot ping $2 ($3)"; ok "$1 pings $2 ($3)"; }
cannot_ping() { ! inns "$1" ping -c 2 -i 0.2 -W 1 -q "$2" >/dev/null 2>&1 || fail "$1 can ping $2 ($3)"; ok "$1 cannot ping $2 ($3)"; }

for n in $NODES; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
ip -n "$P-a" link add eth0 type veth peer name eth0 netns "$P-b"

stack() { # node outer-proto outer-id inner-id address
  ip -n "$P-$1" link set eth0 up
  ip -n "$P-$1" link show "eth0.$3" >/dev/null 2>&1 ||
    ip -n "$P-$1" link add link eth0 name "eth0.$3" type vlan proto "$2" id "$3"
  ip -n "$P-$1" link add link "eth0.$3" name "eth0.$3.$4" type vlan proto 802.1Q id "$4"
  ip -n "$P-$1" link set "eth0.$3" up
  ip -n "$P-$1" addr add "$5/24" dev "eth0.$3.$4"
  ip -n "$P-$1" link set "eth0.$3.$4" up
}
stack a 802.1ad 100 10 10.20.0.1
stack b 802.1ad 100 10 10.20.0.2
ip -n "$P-a" -d link show eth0.100 | grep -q 'vlan protocol 802.1ad id 100' || fail "eth0.100 is not 802.1ad"
ip -n "$P-a" -d link show eth0.100.10 | grep -q 'vlan protocol 802.1Q id 10' || fail "eth0.100.10 is not 802.1Q"
ok "a has eth0.100 (802.1ad 100) with eth0.100.10 (802.1Q 10) stacked on it"
can_ping a 10.20.0.2 "802.1ad 100 / 802.1Q 10 on both ends"

# Same inner VLAN 11 under different outer VLANs: 200 on a, 201 on b.
stack a 802.1ad 200 11 10.21.0.1
stack b 802.1ad 201 11 10.21.0.2
cannot_ping a 10.21.0.2 "inner VLAN 11 under outer 200 vs outer 201"

# Same ids, different outer protocol: 802.1ad 300 on a, 802.1Q 300 on b.
stack a 802.1ad 300 12 10.22.0.1
stack b 802.1Q 300 12 10.22.0.2
cannot_ping a 10.22.0.2 "outer 802.1ad 300 vs outer 802.1Q 300"
echo "qinq: all checks passed"
