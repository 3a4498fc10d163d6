#!/bin/sh
# Scenario netem: a veth between namespaces a (10.50.0.1) and b (10.50.0.2), netem as a's root
# qdisc on its end.
#
# Checks: with delay 50ms the mean ping RTT is within 10% of 50 ms; with loss 20% the loss over
# 200 fast pings is within 10 points of 20%.
set -eu
[ "${NETLAB_IN_VM:-}" = 1 ] || { echo "refusing to run outside the netlab VM (NETLAB_IN_VM is not 1)"; exit 2; }

P=netem
NODES="a b"
cleanup() { for n in $NODES; do ip netns del "$P-$n" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 143' TERM INT
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; exit 1; }
inns() { n=$1; shift; ip netns exec "$P-$n" "$@"; }
# within VALUE LOW HIGH: true when LOW <= VALUE <= HIGH (decimals allowed)
within() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }

for n in $NODES; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
ip -n "$P-a" link add eth0 type veth peer name eth0 netns "$P-b"
ip -n "$P-a" addr add 10.50.0.1/24 dev eth0
ip -n "$P-b" addr add 10.50.0.2/24 dev eth0
ip -n "$P-a" link set eth0 up
ip -n "$P-b" link set eth0 up
# Permanent neighbour entries, so no ARP exchange (itself delayed or lost) skews the numbers.
ip -n "$P-a" neigh replace 10.50.0.2 lladdr "$(inns b cat /sys/class/net/eth0/address)" dev eth0 nud permanent
ip -n "$P-b" neigh replace 10.50.0.1 lladdr "$(inns a cat /sys/class/net/eth0/address)" dev eth0 nud permanent

rtt_avg() { # prints the mean RTT in ms of the ping summary on stdin
  sed -n 's|.*rtt min/avg/max/mdev = [0-9.]*/\([0-9.]*\)/.*|\1|p'
}
base=$(inns a ping -c 5 -i 0.2 -W 2 -q 10.50.0.2 | rtt_avg)
[ -n "$base" ] || fail "no ping through the veth before netem"
ok "baseline RTT ${base} ms"

ip -n "$P-a" link show eth0 >/dev/null
inns a tc qdisc add dev eth0 root netem delay 50ms
inns a tc qdisc show dev eth0 | grep -q 'netem.*delay 50ms' || fail "netem delay is not installed: $(inns a tc qdisc show dev eth0)"
avg=$(inns a ping -c 10 -i 0.2 -W 2 -q 10.50.0.2 | rtt_avg)
[ -n "$avg" ] || fail "no ping reply with netem delay 50ms"
within "$avg" 45 55 || fail "mean RTT ${avg} ms with delay 50ms is not within 10% of 50 ms"
ok "delay 50ms: mean RTT ${avg} ms (45..55)"

inns a tc qdisc change dev eth0 root netem loss 20%
inns a tc qdisc show dev eth0 | grep -q 'netem.*loss 20%' || fail "netem loss is not installed: $(inns a tc qdisc show dev eth0)"
summary=$(inns a ping -c 200 -i 0.01 -W 1 -q 10.50.0.2 || true)
loss=$(echo "$summary" | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p')
[ -n "$loss" ] || fail "cannot read the loss from: $summary"
within "$loss" 10 30 || fail "loss ${loss}% over 200 pings with loss 20% is not within 10 points of 20%"
ok "loss 20%: ${loss}% of 200 pings lost (10..30)"

inns a tc qdisc del dev eth0 root
echo "netem: all checks passed"
