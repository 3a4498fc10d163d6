#!/bin/sh
# Scenario ipvlan: labs/macvlan-ipvlan.yaml with netlab (MACVLAN bridge/private and IPVLAN l2/l3
# containers on a LAN; see the lab's header).
#
# Checks: apply; the devices are what the lab says (ipvlan mode l2/l3 children moved into their
# containers share their parent's MAC, macvlan children have their own); IPVLAN l2 siblings reach
# each other and the LAN; IPVLAN l3 siblings reach each other and the LAN router reaches them
# routed through the parent's host; a MACVLAN container reaches an IPVLAN l3 one through the
# router; MACVLAN bridge siblings reach each other, the private one reaches only the LAN; the
# lab's expect: assertions pass (netlab test);
# re-apply = no changes; modify: the l3 containers switch to mode l3s (recreated) and still work,
# an l2 container's MTU changes in place; destroy leaves nothing.
set -eu
. "$(dirname "$0")/../lib.sh"
LAB=labs/macvlan-ipvlan.yaml
lab_cleanup mvip

apply "$LAB"
pmac=$(mac mvip-host eth1)
for c in c4 c5; do
  inns "mvip-$c" ip -d link show eth0 | grep -Eq 'ipvlan +mode l2' || fail "$c eth0 is not ipvlan l2: $(inns "mvip-$c" ip -d link show eth0)"
  [ "$(mac "mvip-$c" eth0)" = "$pmac" ] || fail "$c eth0 does not share host:eth1's MAC $pmac"
done
for c in c6 c7; do
  inns "mvip-$c" ip -d link show eth0 | grep -Eq 'ipvlan +mode l3' || fail "$c eth0 is not ipvlan l3"
  [ "$(mac "mvip-$c" eth0)" = "$(mac mvip-host eth2)" ] || fail "$c eth0 does not share host:eth2's MAC"
done
inns mvip-c3 ip -d link show eth0 | grep -q 'macvlan mode private' || fail "c3 eth0 is not macvlan private"
[ "$(mac mvip-c1 eth0)" != "$(mac mvip-host eth0)" ] || fail "c1's macvlan has its parent's MAC"
ok "ipvlan l2 (c4, c5) and l3 (c6, c7) share their parent's MAC; macvlan c1..c3 have their own"

can_ping mvip-c4 192.168.1.22 "ipvlan l2 siblings"
can_ping mvip-c4 192.168.1.1 "ipvlan l2 to the LAN router"
can_ping mvip-c6 10.30.0.7 "ipvlan l3 siblings"
can_ping mvip-c6 192.168.1.1 "ipvlan l3 to the LAN, routed by host"
can_ping mvip-lan 10.30.0.6 "LAN router to ipvlan l3 (route via host:eth2)"
can_ping mvip-c1 10.30.0.7 "macvlan container to ipvlan l3 container through the router"
can_ping mvip-c1 192.168.1.12 "macvlan bridge siblings"
can_ping mvip-c1 192.168.1.21 "macvlan to ipvlan l2 through the LAN bridge"
can_ping mvip-c3 192.168.1.1 "macvlan private to the LAN"
cannot_ping mvip-c3 192.168.1.11 "macvlan private to a sibling"
cannot_ping mvip-c1 192.168.1.13 "macvlan bridge to a private sibling"
tested "$LAB"
unchanged "$LAB"

mod=/tmp/macvlan-ipvlan-mod.yaml
sed -e 's|mode: l3, addresses|mode: l3s, addresses|' \
  -e 's|eth0: { kind: ipvlan, parent: "host:eth1", mode: l2, addresses: \[192.168.1.22/24\] }|eth0: { kind: ipvlan, parent: "host:eth1", mode: l2, mtu: 1400, addresses: [192.168.1.22/24] }|' \
  "$LAB" > "$mod"
grep -q 'mtu: 1400' "$mod" || fail "the modify did not apply to the lab text"
idx=$(ifindex mvip-c5 eth0)
apply "$mod"
[ "$(ifindex mvip-c5 eth0)" = "$idx" ] || fail "c5's ipvlan was recreated for an MTU change"
[ "$(inns mvip-c5 cat /sys/class/net/eth0/mtu)" = 1400 ] || fail "c5 MTU is not 1400"
inns mvip-c6 ip -d link show eth0 | grep -Eq 'ipvlan +mode l3s' || fail "c6 is not ipvlan l3s"
grep -q '"ipvlan-l3s"' /run/netlab/preflight.json || fail "preflight did not probe ipvlan l3s before the change"
can_ping mvip-c6 10.30.0.7 "ipvlan l3s siblings"
can_ping mvip-lan 10.30.0.6 "LAN router to ipvlan l3s"
can_ping mvip-c5 192.168.1.21 "ipvlan l2 after the MTU change"
unchanged "$mod"

destroyed mvip "$mod"
echo "ipvlan: all checks passed"
