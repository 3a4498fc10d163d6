#!/bin/sh
# Scenario vlan: two 802.1Q VLANs (10 and 20) carried on one trunk veth between two switch
# namespaces. Each switch has one bridge per VLAN (no VLAN filtering) and a tagged sub-interface
# of the trunk in each bridge; hosts hang off access ports. All hosts share one subnet, so any
# isolation seen is the VLANs' doing (layer 2).
#
#   h1 (VLAN 10, 10.10.0.1) --+              +-- h2 (VLAN 10, 10.10.0.2)
#                             sw ==trunk== tor
#   h3 (VLAN 20, 10.10.0.3) --+              +-- h4 (VLAN 20, 10.10.0.4)
#
# Checks: same-VLAN hosts ping each other across the trunk (both VLANs); VLAN 10 cannot reach
# VLAN 20; the traffic really arrived on the trunk's tagged sub-interfaces.
set -eu
[ "${NETLAB_IN_VM:-}" = 1 ] || { echo "refusing to run outside the netlab VM (NETLAB_IN_VM is not 1)"; exit 2; }

P=vlan
NODES="sw tor h1 h2 h3 h4"
cleanup() { for n in $NODES; do ip netns del "$P-$n" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 143' TERM INT
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; exit 1; }
inns() { n=$1; shift; ip netns exec "$P-$n" "$@"; }
can_ping() { inns "$1" ping -c 3 -i 0.2 -W 2 -q "$2" >/dev/null 2>&1 || fail "$1 cannot ping $2 ($3)"; ok "$1 pings $2 ($3)"; }
cannot_ping() { ! inns "$1" ping -c 2 -i 0.2 -W 1 -q "$2" >/dev/null 2>&1 || fail "$1 can ping $2 ($3)"; ok "$1 cannot ping $2 ($3)"; }
rx() { inns "$1" cat "/sys/class/net/$2/statistics/rx_packets"; }

for n in $NODES; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done

# The trunk: one veth between the two switches, a tagged sub-interface per VLAN at each end.
ip -n "$P-sw" link add trunk type veth peer name trunk netns "$P-tor"
for s in sw tor; do
  ip -n "$P-$s" link set trunk up
  for v in 10 20; do
    ip -n "$P-$s" link add "br$v" type bridge
    ip -n "$P-$s" link add link trunk name "trunk.$v" type vlan id "$v"
    ip -n "$P-$s" link set "trunk.$v" master "br$v" up
    ip -n "$P-$s" link set "br$v" up
  done
done
ip -n "$P-sw" -d link show trunk.10 | grep -q 'vlan protocol 802.1Q id 10' || fail "trunk.10 is not an 802.1Q VLAN 10 link"
ok "trunk.10 and trunk.20 are 802.1Q sub-interfaces of the trunk veth"

# Access ports: veth from the switch's VLAN bridge to the host's eth0.
attach() { # switch host vlan address
  ip -n "$P-$1" link add "$2" type veth peer name eth0 netns "$P-$2"
  ip -n "$P-$1" link set "$2" master "br$3" up
  ip -n "$P-$2" addr add "$4/24" dev eth0
  ip -n "$P-$2" link set eth0 up
}
attach sw h1 10 10.10.0.1
attach tor h2 10 10.10.0.2
attach sw h3 20 10.10.0.3
attach tor h4 20 10.10.0.4

rx10=$(rx tor trunk.10)
can_ping h1 10.10.0.2 "VLAN 10 across the trunk"
rx10b=$(rx tor trunk.10)
[ "$rx10b" -gt "$rx10" ] || fail "tor's trunk.10 received nothing while h1 pinged h2"
ok "tor's trunk.10 received $((rx10b - rx10)) packets (tagged VLAN 10 on the trunk)"

rx10=$(rx tor trunk.10); rx20=$(rx tor trunk.20)
can_ping h3 10.10.0.4 "VLAN 20 across the trunk"
[ "$(rx tor trunk.20)" -gt "$rx20" ] || fail "tor's trunk.20 received nothing while h3 pinged h4"
ok "tor's trunk.20 received VLAN 20 traffic"

cannot_ping h1 10.10.0.3 "VLAN 10 to VLAN 20, same switch"
cannot_ping h1 10.10.0.4 "VLAN 10 to VLAN 20, across the trunk"
cannot_ping h4 10.10.0.2 "VLAN 20 to VLAN 10, same switch"
echo "vlan: all checks passed"
