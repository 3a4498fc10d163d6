#!/bin/sh
# Scenario conditions: netlab's link conditions on a kernel with netem (Debian's), through netlab
# itself. One lab, two hosts, one veth; conditions on a's eth0 (so on a's egress only):
#
#   a (10.80.0.1) eth0 ---- eth0 b (10.80.0.2)
#
# Checks: with delay 50ms and loss 20% the mean ping RTT is within 10% of 50 ms and 200 pings lose
# within 10 points of 20%; every condition at once (netem with a token bucket under it) is one
# in-place change (same ifindex) that apply verifies against what tc reads back; `netlab link` is
# then drift, and the plan has exactly that one step (so every other value tc printed for netem
# and tbf normalised to the lab's); destroy leaves nothing. netlab runs slowly under TCG (seconds
# per call), so calls are few: the revert by apply is checked in the live tier.
set -eu
. "$(dirname "$0")/../lib.sh"
NAME=vmcond
DIR=$(mktemp -d)
LAB=$DIR/$NAME.yaml
gone=0
trap '[ "$gone" = 1 ] || netlab destroy --lab "$NAME" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
trap 'exit 143' TERM INT
# within VALUE LOW HIGH: true when LOW <= VALUE <= HIGH (decimals allowed)
within() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
rtt_avg() { sed -n 's|.*rtt min/avg/max/mdev = [0-9.]*/\([0-9.]*\)/.*|\1|p'; }
qdisc() { inns "$NAME-a" tc qdisc show dev eth0 | tr '\n' ' '; }

write_lab() { # write_lab CONDITIONS: the lab with these conditions on a:eth0
  cat > "$LAB" <<EOF
name: $NAME
hosts:
  a:
    interfaces:
      eth0: { addresses: [10.80.0.1/24], conditions: { $1 } }
  b:
    interfaces:
      eth0: { addresses: [10.80.0.2/24] }
links:
  - { a: a:eth0, b: b:eth0 }
EOF
}

# 1. delay 50ms and loss 20%: the RTT of the pings that come back is the delay (b's replies are
#    not delayed), and about a fifth of the requests are lost.
write_lab 'delay: 50ms, loss: 20%'
apply "$LAB"
qdisc | grep -q 'netem 1: root .*delay 50ms loss 20%' || fail "no netem delay 50ms loss 20% on a/eth0: $(qdisc)"
inns "$NAME-a" ping -c 5 -i 0.2 -W 2 -q 10.80.0.2 >/dev/null 2>&1 || true # ARP, itself subject to the loss
avg=$(inns "$NAME-a" ping -c 20 -i 0.2 -W 2 -q 10.80.0.2 | rtt_avg || true)
[ -n "$avg" ] || fail "no ping reply with delay 50ms"
within "$avg" 45 55 || fail "mean RTT ${avg} ms with delay 50ms is not within 10% of 50 ms"
ok "delay 50ms: mean RTT ${avg} ms (45..55)"
summary=$(inns "$NAME-a" ping -c 200 -i 0.01 -W 1 -q 10.80.0.2 || true)
loss=$(echo "$summary" | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p')
[ -n "$loss" ] || fail "cannot read the loss from: $summary"
within "$loss" 10 30 || fail "loss ${loss}% over 200 pings with loss 20% is not within 10 points of 20%"
ok "loss 20%: ${loss}% of 200 pings lost (10..30)"

# 2. Every condition at once: one in-place change of a's qdiscs (the veth stays), and apply's
#    verify compares the lab with what tc reads back.
index=$(ifindex "$NAME-a" eth0)
write_lab 'rate: 10mbit, burst: 32kb, delay: 1.5ms, jitter: 100us, loss: 0.1%, duplicate: 1%, reorder: 5%, corrupt: 0.1%, limit: 500'
out=$(netlab apply "$LAB" 2>&1) || fail "apply with every condition failed: $out"
echo "$out" | grep -q 'applied 1 step (0 to create, 1 to change, 0 to delete)' || fail "every condition is not one change: $out"
[ "$(ifindex "$NAME-a" eth0)" = "$index" ] || fail "a/eth0 was recreated"
echo "  tc: $(qdisc)"
qdisc | grep -q 'qdisc tbf 2: parent 1:1 rate 10Mbit' || fail "no token bucket under netem: $(qdisc)"
ok "every condition: one in-place change (ifindex $index kept), netem with tbf under it, verified"

# 3. A runtime override is drift, and the plan's only step.
netlab link "$NAME" a:eth0 --delay 100ms --loss off >/dev/null 2>&1 || fail "netlab link --delay failed"
qdisc | grep -q 'delay 100ms' || fail "netlab link did not change the delay: $(qdisc)"
if netlab plan --json "$LAB" > "$DIR/plan.json" 2>&1; then fail "plan shows no drift after netlab link: $(cat "$DIR/plan.json")"; fi
[ "$(grep -c '"op":' "$DIR/plan.json")" = 1 ] || fail "the plan after netlab link is not exactly one step: $(cat "$DIR/plan.json")"
grep -q '"reason": "delay: 100ms -> 1500us, loss: null -> 0.1%"' "$DIR/plan.json" ||
  fail "the plan does not name the override: $(cat "$DIR/plan.json")"
ok "netlab link --delay 100ms --loss off: drift, and the plan's only step puts delay 1500us and loss 0.1% back"

destroyed "$NAME" "$LAB"
gone=1
echo "conditions: all checks passed"
