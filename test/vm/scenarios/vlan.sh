#!/bin/sh
# Scenario vlan: labs/vlan-trunk.yaml with netlab. Two 802.1Q VLANs (10, 20) on one trunk between
# switches sw (sub-interfaces on the trunk veth) and tor (sub-interfaces on a bridge the trunk is a
# port of), and 802.1ad QinQ between pe1 and pe2. See the lab's header for the topology.
#
# Checks: apply (preflight found 8021q); the devices are 802.1Q/802.1ad links with the right ids; VLAN 10 hosts reach
# each other across the trunk (and the tagged sub-interface counted the packets), VLAN 20 too,
# VLAN 10 never reaches VLAN 20; QinQ: customer VLAN 10 in S-VLAN 100 reaches across, and the same
# ids with an 802.1Q outer tag at one end do not (the S-tag's ethertype is on the wire);
# the lab's expect: assertions pass (netlab test); re-apply = no changes; modify: move h2 from VLAN 10 to VLAN 20 (its bridge port changes master
# in place: one change, nothing recreated); destroy leaves nothing.
set -eu
. "$(dirname "$0")/../lib.sh"
LAB=labs/vlan-trunk.yaml
lab_cleanup trunk

apply "$LAB"
for f in '"vlan"' '"vlan-802.1ad"' '"bridge"' '"veth"'; do
  grep -q "$f" /run/netlab/preflight.json || fail "preflight did not find $f on this kernel: $(cat /run/netlab/preflight.json)"
done
ok "preflight found 802.1Q and 802.1ad on this kernel (8021q loads on demand)"
inns trunk-sw ip -d link show trunk.10 | grep -q 'vlan protocol 802.1Q id 10' || fail "sw trunk.10 is not 802.1Q id 10"
inns trunk-tor ip -d link show core.20 | grep -q 'vlan protocol 802.1Q id 20' || fail "tor core.20 is not 802.1Q id 20"
inns trunk-tor ip -d link show core.20 | grep -q 'master br20' || fail "tor core.20 is not a port of br20"
inns trunk-pe1 ip -d link show s100 | grep -q 'vlan protocol 802.1ad id 100' || fail "pe1 s100 is not 802.1ad id 100"
inns trunk-pe1 ip -d link show c10 | grep -q 'c10@s100' || fail "pe1 c10 is not stacked on s100"
ok "802.1Q sub-interfaces on a veth (sw) and on a bridge (tor); 802.1ad s100 with 802.1Q c10 on top (pe1)"

before=$(rx trunk-tor core.10)
can_ping trunk-h1 10.10.0.2 "VLAN 10 across the trunk"
after=$(rx trunk-tor core.10)
[ "$after" -gt "$before" ] || fail "tor core.10 received nothing while h1 pinged h2"
ok "tor core.10 received $((after - before)) packets (tagged VLAN 10 on the trunk)"
can_ping trunk-h3 10.10.0.4 "VLAN 20 across the trunk"
cannot_ping trunk-h1 10.10.0.3 "VLAN 10 to VLAN 20, same switch"
cannot_ping trunk-h1 10.10.0.4 "VLAN 10 to VLAN 20, across the trunk"
cannot_ping trunk-h4 10.10.0.2 "VLAN 20 to VLAN 10"
can_ping trunk-pe1 10.20.0.2 "QinQ: C-VLAN 10 in S-VLAN 100 (802.1ad)"
cannot_ping trunk-pe1 10.20.2.2 "S-VLAN 200 802.1ad at pe1, 802.1Q at pe2"
tested "$LAB"

unchanged "$LAB"

# Modify: h2 moves to VLAN 20; its veth end on tor changes master, nothing is recreated.
mod=/tmp/vlan-trunk-mod.yaml
sed 's|{ a: h2:eth0, b: tor:br10 }|{ a: h2:eth0, b: tor:br20 }|' "$LAB" > "$mod"
port=$(inns trunk-tor ip -j link show master br10 | grep -o '"ifname":"veth[0-9a-f]*"' | head -1 | cut -d'"' -f4)
[ -n "$port" ] || fail "no veth port on tor br10"
idx=$(ifindex trunk-tor "$port")
apply "$mod"
echo "$APPLIED" | grep -q '0 to create, 1 to change, 0 to delete' || fail "moving h2 to VLAN 20 was not one change: $APPLIED"
[ "$(ifindex trunk-tor "$port")" = "$idx" ] || fail "tor's port for h2 was recreated"
inns trunk-tor ip link show "$port" | grep -q 'master br20' || fail "h2's port is not in br20"
can_ping trunk-h2 10.10.0.3 "h2 now in VLAN 20 reaches h3 across the trunk"
cannot_ping trunk-h1 10.10.0.2 "h1 (VLAN 10) no longer reaches h2"
unchanged "$mod"

destroyed trunk "$mod"
echo "vlan: all checks passed"
