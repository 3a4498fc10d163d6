#!/bin/sh
# Scenario bridge-vlan-filtering: test/vm/labs/bridge-vlan-filtering.yaml with netlab (one
# VLAN-aware bridge; access ports in VLAN 10 and 20, a tagged trunk port; see the lab's header).
#
# Checks: apply; br0 has vlan_filtering 1 and the port VLAN table is exactly what the lab says
# (no VLAN 1 anywhere); same-VLAN pings work (access-access, access-trunk), cross-VLAN pings fail;
# re-apply = no changes; modify: p3's PVID 20 -> 10 changes the port VLANs in place (h3 then
# reaches h1 and no longer h4); destroy leaves nothing.
set -eu
. "$(dirname "$0")/../lib.sh"
LAB=test/vm/labs/bridge-vlan-filtering.yaml
lab_cleanup bvf

apply "$LAB"
grep -q '"bridge-vlan-filtering"' /run/netlab/preflight.json || fail "preflight did not find bridge vlan_filtering"
[ "$(inns bvf-sw cat /sys/class/net/br0/bridge/vlan_filtering)" = 1 ] || fail "br0 has no VLAN filtering"
table=$(bridge -n bvf-sw vlan show | tr -s ' \t' ' ')
echo "$table"
echo "$table" | grep -q 'p1 10 PVID Egress Untagged' || fail "p1 is not untagged PVID 10"
echo "$table" | grep -q 'p3 20 PVID Egress Untagged' || fail "p3 is not untagged PVID 20"
echo "$table" | grep -Eq 'p4 10 ?$' || fail "p4 does not carry VLAN 10 tagged"
echo "$table" | grep -Eq '(^| )1 PVID' && fail "VLAN 1 is still on a port"
ok "br0: vlan_filtering 1, port VLANs as in the lab, no VLAN 1"

can_ping bvf-h1 10.30.0.2 "VLAN 10 access to access"
can_ping bvf-h3 10.30.0.4 "VLAN 20 access to trunk (tagged)"
cannot_ping bvf-h1 10.30.0.3 "VLAN 10 to VLAN 20 access"
cannot_ping bvf-h1 10.30.0.4 "VLAN 10 to VLAN 20 on the trunk"
unchanged "$LAB"

mod=/tmp/bvf-mod.yaml
sed 's|p3: { bridge: br0, vlans: { pvid: 20 } }|p3: { bridge: br0, vlans: { pvid: 10 } }|' "$LAB" > "$mod"
idx=$(ifindex bvf-sw p3)
apply "$mod"
echo "$APPLIED" | grep -q '1 to create, 0 to change, 1 to delete' || fail "p3's VLAN change was not one delete + one create of port VLANs: $APPLIED"
[ "$(ifindex bvf-sw p3)" = "$idx" ] || fail "p3 was recreated"
bridge -n bvf-sw vlan show dev p3 | grep -q '10 PVID Egress Untagged' || fail "p3 is not PVID 10 now"
can_ping bvf-h3 10.30.0.1 "h3 now in VLAN 10"
cannot_ping bvf-h3 10.30.0.4 "h3 no longer in VLAN 20"
unchanged "$mod"

destroyed bvf "$mod"
echo "bridge-vlan-filtering: all checks passed"
