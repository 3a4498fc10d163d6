#!/bin/sh
# Scenario bridge-vlan-filtering: one VLAN-aware bridge (vlan_filtering 1) in a switch namespace.
#
#   p1 -> h1  access VLAN 10 (pvid untagged)  10.30.0.1
#   p2 -> h2  access VLAN 10 (pvid untagged)  10.30.0.2
#   p3 -> h3  access VLAN 20 (pvid untagged)  10.30.0.3
#   p4 -> h4  trunk, VLAN 10 and 20 tagged; h4 uses eth0.20 10.30.0.4
#
# VLAN 1 (the default pvid) is removed from every port. All hosts share one subnet.
# Checks: same-VLAN ping works (access-access and access-trunk), cross-VLAN fails, and the
# bridge's VLAN table is what was asked for.
set -eu
[ "${NETLAB_IN_VM:-}" = 1 ] || { echo "refusing to run outside the netlab VM (NETLAB_IN_VM is not 1)"; exit 2; }

P=bvf
NODES="sw h1 h2 h3 h4"
cleanup() { for n in $NODES; do ip netns del "$P-$n" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 143' TERM INT
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; exit 1; }
inns() { n=$1; shift; ip netns exec "$P-$n" "$@"; }
can_ping() { inns "$1" ping -c 3 -i 0.2 -W 2 -q "$2" >/dev/null 2>&1 || fail "$1 cannot ping $2 ($3)"; ok "$1 pings $2 ($3)"; }
cannot_ping() { ! inns "$1" ping -c 2 -i 0.2 -W 1 -q "$2" >/dev/null 2>&1 || fail "$1 can ping $2 ($3)"; ok "$1 cannot ping $2 ($3)"; }

for n in $NODES; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
ip -n "$P-sw" link add br0 type bridge vlan_filtering 1
ip -n "$P-sw" link set br0 up
[ "$(inns sw cat /sys/class/net/br0/bridge/vlan_filtering)" = 1 ] || fail "br0 has no VLAN filtering"
ok "br0 has vlan_filtering 1"

port() { # port host
  ip -n "$P-sw" link add "$1" type veth peer name eth0 netns "$P-$2"
  ip -n "$P-sw" link set "$1" master br0 up
  inns sw bridge vlan del dev "$1" vid 1
  ip -n "$P-$2" link set eth0 up
}
port p1 h1; inns sw bridge vlan add dev p1 vid 10 pvid untagged
port p2 h2; inns sw bridge vlan add dev p2 vid 10 pvid untagged
port p3 h3; inns sw bridge vlan add dev p3 vid 20 pvid untagged
port p4 h4; inns sw bridge vlan add dev p4 vid 10; inns sw bridge vlan add dev p4 vid 20
ip -n "$P-h1" addr add 10.30.0.1/24 dev eth0
ip -n "$P-h2" addr add 10.30.0.2/24 dev eth0
ip -n "$P-h3" addr add 10.30.0.3/24 dev eth0
ip -n "$P-h4" link add link eth0 name eth0.20 type vlan id 20
ip -n "$P-h4" addr add 10.30.0.4/24 dev eth0.20
ip -n "$P-h4" link set eth0.20 up

# The VLAN table: p1 has only 10 (PVID, untagged), p3 only 20, p4 10 and 20 tagged.
table=$(inns sw bridge -j vlan show)
echo "bridge vlan show: $table"
check_port() { # port expected-vids expected-pvid-vid (or -)
  got=$(inns sw bridge -j vlan show dev "$1" | tr -d '\n')
  vids=$(echo "$got" | grep -o '"vlan":[0-9]*' | cut -d: -f2 | tr '\n' ' ' | sed 's/ $//')
  [ "$vids" = "$2" ] || fail "$1 has VLANs '$vids', expected '$2'"
  if [ "$3" != - ]; then
    echo "$got" | grep -q "\"vlan\":$3,\"flags\":\[\"PVID\",\"Egress Untagged\"\]" || fail "$1: VLAN $3 is not PVID + untagged: $got"
  else
    echo "$got" | grep -q PVID && fail "$1 has a PVID: $got"
  fi
  ok "$1 has VLANs $2 (pvid: $3)"
}
check_port p1 10 10
check_port p2 10 10
check_port p3 20 20
check_port p4 "10 20" -

can_ping h1 10.30.0.2 "access VLAN 10 to access VLAN 10"
can_ping h3 10.30.0.4 "access VLAN 20 to tagged VLAN 20 on the trunk port"
cannot_ping h1 10.30.0.3 "VLAN 10 to VLAN 20"
cannot_ping h1 10.30.0.4 "VLAN 10 (untagged) to the trunk host's VLAN 20"
cannot_ping h2 10.30.0.3 "VLAN 10 to VLAN 20"
echo "bridge-vlan-filtering: all checks passed"
