#!/bin/sh
. "$(dirname "$0")/../lib.sh"
t() { t0=$(now); "$@" >/tmp/t.out 2>&1; rc=$?; echo "$(secs "$t0") s rc=$rc: $*"; }
t node -e 0
t node -e 0
t node "$NETLAB_JS" --version
t ip -V
t netlab validate labs/macvlan-ipvlan.yaml
t netlab plan labs/macvlan-ipvlan.yaml
t netlab plan labs/macvlan-ipvlan.yaml
t netlab apply labs/macvlan-ipvlan.yaml
cat /tmp/t.out | tail -2
t netlab plan labs/macvlan-ipvlan.yaml
t netlab destroy labs/macvlan-ipvlan.yaml
t sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do ip -V; done'
