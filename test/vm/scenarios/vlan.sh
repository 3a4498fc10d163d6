#!/bin/sh
# Scenario vlan: labs/vlan-trunk.yaml with netlab. Two 802.1Q VLANs (10 = 10.10.10.0/24, 20 =
# 10.10.20.0/24) on one trunk between switches sw (sub-interfaces on the trunk veth) and tor
# (sub-interfaces on a bridge the trunk is a port of), a router on a stick r1 (eth0.10, eth0.20 on
# a second trunk into tor's bridge) routing between them, a host "stray" in VLAN 20 with an address
# of VLAN 10's subnet, and 802.1ad QinQ between pe1 and pe2. See the lab's header for the topology.
#
# Checks: apply (preflight found 8021q); the devices are 802.1Q/802.1ad links with the right ids;
# VLAN 10 hosts reach each other across the trunk (the tagged sub-interface counted the packets,
# the reply is not routed: TTL 64), VLAN 20 too; VLAN 10 reaches VLAN 20 through r1: one routed
# hop (TTL 63), both of r1's sub-interfaces counted the packets; stray shares h1's subnet but not
# its VLAN and reaches neither h1 nor h2; QinQ: customer VLAN 10 in S-VLAN 100 reaches across, and
# the same ids with an 802.1Q outer tag at one end do not (the S-tag's ethertype is on the wire);
# the lab's expect: assertions pass (netlab test); re-apply = no changes; modify: r1 stops
# forwarding and h2 moves from VLAN 10 to VLAN 20 (its bridge port changes master in place): two
# changes, nothing recreated; then VLAN 10 no longer reaches VLAN 20 (the only path was r1), h1
# no longer reaches h2, and h2 reaches stray (now one VLAN, one subnet); destroy leaves nothing.
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
inns trunk-r1 ip -d link show eth0.10 | grep -q 'vlan protocol 802.1Q id 10' || fail "r1 eth0.10 is not 802.1Q id 10"
inns trunk-r1 ip -d link show eth0.20 | grep -q 'eth0.20@eth0' || fail "r1 eth0.20 is not stacked on eth0"
inns trunk-pe1 ip -d link show s100 | grep -q 'vlan protocol 802.1ad id 100' || fail "pe1 s100 is not 802.1ad id 100"
inns trunk-pe1 ip -d link show c10 | grep -q 'c10@s100' || fail "pe1 c10 is not stacked on s100"
ok "802.1Q sub-interfaces on a veth (sw, r1) and on a bridge (tor); 802.1ad s100 with 802.1Q c10 on top (pe1)"

# ttl_of NS ADDR: the TTL of one ping reply (64 from a Linux host on the same segment, 63 one hop away).
ttl_of() { inns "$1" ping -c 1 -W 2 "$2" 2>&1 | sed -n 's/.* ttl=\([0-9]*\).*/\1/p'; }

before=$(rx trunk-tor core.10)
can_ping trunk-h1 10.10.10.12 "VLAN 10 across the trunk"
after=$(rx trunk-tor core.10)
[ "$after" -gt "$before" ] || fail "tor core.10 received nothing while h1 pinged h2"
ok "tor core.10 received $((after - before)) packets (tagged VLAN 10 on the trunk)"
[ "$(ttl_of trunk-h1 10.10.10.12)" = 64 ] || fail "h1 -> h2 (one VLAN) was not switched: TTL $(ttl_of trunk-h1 10.10.10.12)"
ok "h1 -> h2: reply TTL 64 (switched, no router)"
can_ping trunk-h3 10.10.20.14 "VLAN 20 across the trunk"

r10=$(rx trunk-r1 eth0.10)
r20=$(rx trunk-r1 eth0.20)
can_ping trunk-h1 10.10.20.14 "VLAN 10 to VLAN 20 through r1"
can_ping trunk-h1 10.10.20.13 "VLAN 10 to VLAN 20 on the same switch: up the trunk to r1 and back"
can_ping trunk-h4 10.10.10.12 "VLAN 20 to VLAN 10 through r1"
[ "$(rx trunk-r1 eth0.10)" -gt "$r10" ] && [ "$(rx trunk-r1 eth0.20)" -gt "$r20" ] \
  || fail "r1's eth0.10/eth0.20 did not both receive packets while VLANs 10 and 20 talked"
ttl=$(ttl_of trunk-h1 10.10.20.14)
[ "$ttl" = 63 ] || fail "h1 -> h4 (VLAN 10 to 20) is not one routed hop: reply TTL $ttl (want 63)"
ok "h1 -> h4: reply TTL 63 (one hop: r1), r1 eth0.10 received $(($(rx trunk-r1 eth0.10) - r10)), eth0.20 $(($(rx trunk-r1 eth0.20) - r20)) packets"
cannot_ping trunk-stray 10.10.10.11 "stray (VLAN 20) to h1: same subnet, other VLAN, same switch"
cannot_ping trunk-stray 10.10.10.12 "stray (VLAN 20) to h2: same subnet, other VLAN, across the trunk"
can_ping trunk-pe1 10.20.0.2 "QinQ: C-VLAN 10 in S-VLAN 100 (802.1ad)"
cannot_ping trunk-pe1 10.20.2.2 "S-VLAN 200 802.1ad at pe1, 802.1Q at pe2"
tested "$LAB"

unchanged "$LAB"

# Modify: r1 stops forwarding; h2 moves to VLAN 20 (its veth end on tor changes master, nothing
# is recreated).
mod=/tmp/vlan-trunk-mod.yaml
sed -e 's|{ a: h2:eth0, b: tor:br10 }|{ a: h2:eth0, b: tor:br20 }|' -e 's|net.ipv4.ip_forward: 1|net.ipv4.ip_forward: 0|' "$LAB" > "$mod"
[ "$(grep -c 'tor:br20 }\|ip_forward: 0' "$mod")" = 3 ] || fail "the modified lab is not what this scenario means: $(grep -n 'tor:br\|ip_forward' "$mod")"
port=$(inns trunk-tor ip -j link show master br10 | grep -o '"ifname":"veth[0-9a-f]*"' | head -1 | cut -d'"' -f4)
[ -n "$port" ] || fail "no veth port on tor br10"
idx=$(ifindex trunk-tor "$port")
apply "$mod"
echo "$APPLIED" | grep -q '0 to create, 2 to change, 0 to delete' || fail "r1 forwarding off + h2 to VLAN 20 was not two changes: $APPLIED"
[ "$(ifindex trunk-tor "$port")" = "$idx" ] || fail "tor's port for h2 was recreated"
inns trunk-tor ip link show "$port" | grep -q 'master br20' || fail "h2's port is not in br20"
[ "$(inns trunk-r1 cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || fail "r1 still forwards"
cannot_ping trunk-h1 10.10.20.14 "VLAN 10 to VLAN 20 with r1 not forwarding: r1 was the only path"
can_ping trunk-h3 10.10.20.14 "VLAN 20 is still switched"
cannot_ping trunk-h1 10.10.10.12 "h1 (VLAN 10) no longer reaches h2 (now VLAN 20)"
can_ping trunk-stray 10.10.10.12 "h2, now in VLAN 20, and stray share VLAN and subnet"
unchanged "$mod"

destroyed trunk "$mod"
echo "vlan: all checks passed"
