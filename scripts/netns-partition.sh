#!/usr/bin/env bash
# netns-partition.sh: 5 indexd daemons, each in its own network namespace,
# joined by veth pairs to a bridge that lives in a sixth ("hub") namespace,
# on 10.77.0.0/24. All addresses live only inside namespaces this script
# creates; the host's own network is not touched. The script:
#   1. starts the daemons, connects them and has 2..5 follow node 1's index;
#   2. cuts the links to split them 2/3 (nodes 1,2 | nodes 3,4,5);
#   3. publishes on both sides and checks each side converges on its own;
#   4. heals the links and checks all five reach the same state digest.
# Needs root, iproute2 and Go. Usage: sudo scripts/netns-partition.sh
# Exit status: 0 pass, 1 fail, 2 cannot run here (not root / no netns).
set -euo pipefail

if [ "$(id -u)" != 0 ]; then echo "netns-partition: needs root (ip netns)"; exit 2; fi
command -v ip >/dev/null || { echo "netns-partition: needs iproute2"; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/indexd-netns-XXXXXX)
P=ixp$$ # prefix of every namespace this run creates
HUB=${P}hub
N=5
PER=${PER:-5}          # entries published on each side during the partition
WAIT=${WAIT:-180}      # seconds to wait for convergence
BIN=$WORK/indexd
PIDS=()

cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill -INT "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  for i in $(seq $N); do ip netns del "${P}n$i" 2>/dev/null; done
  ip netns del "$HUB" 2>/dev/null
  if [ "${KEEP:-}" = "" ]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

ip netns add "${P}probe" 2>/dev/null || { echo "netns-partition: cannot create network namespaces here"; exit 2; }
ip netns del "${P}probe"

echo "building indexd"
(cd "$ROOT" && go build -o "$BIN" ./cmd/indexd)

addr() { echo "10.77.0.$((10 + $1))"; }
ns() { echo "${P}n$1"; }
cli() { local i=$1; shift; ip netns exec "$(ns "$i")" "$BIN" "$@" --data "$WORK/d$i"; }

# Network: hub namespace with bridges br0 (everyone) and br1 (the minority
# side while partitioned); one veth pair per node.
ip netns add "$HUB"
ip -n "$HUB" link set lo up
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" link add br1 type bridge
ip -n "$HUB" link set br0 up
ip -n "$HUB" link set br1 up
for i in $(seq $N); do
  ip netns add "$(ns "$i")"
  ip -n "$(ns "$i")" link set lo up
  ip -n "$HUB" link add "h$i" type veth peer name eth0 netns "$(ns "$i")"
  ip -n "$(ns "$i")" addr add "$(addr "$i")/24" dev eth0
  ip -n "$(ns "$i")" link set eth0 up
  ip -n "$HUB" link set "h$i" master br0
  ip -n "$HUB" link set "h$i" up
done

# Daemons.
for i in $(seq $N); do
  mkdir -p "$WORK/d$i"
  cli "$i" init >/dev/null
  ip netns exec "$(ns "$i")" "$BIN" serve --data "$WORK/d$i" --listen "/ip4/$(addr "$i")/tcp/4001" \
    --http 127.0.0.1:0 --no-mdns --no-dht --log-level warn >"$WORK/out$i" 2>"$WORK/log$i" &
  PIDS+=($!)
done
peerid() { cli "$1" status --json | sed -n 's/.*"peer_id": *"\([^"]*\)".*/\1/p'; }
for i in $(seq $N); do
  for _ in $(seq 300); do [ -n "$(peerid "$i" 2>/dev/null)" ] && break; sleep 0.2; done
  [ -n "$(peerid "$i")" ] || { echo "daemon $i did not start"; cat "$WORK/log$i"; exit 1; }
done
ID=(); for i in $(seq $N); do ID[$i]=$(peerid "$i"); done
maddr() { echo "/ip4/$(addr "$1")/tcp/4001/p2p/${ID[$1]}"; }

KEY=$(cli 1 index link | sed -n 's/^indexd:\(index:[0-9a-f]*\).*/\1/p')
[ -n "$KEY" ] || { echo "no index key from node 1"; exit 1; }
echo "index $KEY"
connect_all() {
  for i in $(seq $N); do for j in $(seq $N); do
    [ "$i" -lt "$j" ] && cli "$i" peers add "$(maddr "$j")" >/dev/null 2>&1 || true
  done; done
}
connect_all
for i in $(seq 2 $N); do cli "$i" follow "$KEY" >/dev/null; done

# digest I: the state digest of $KEY on node I (and its entry count).
digest() {
  cli "$1" status --json | awk -v k="\"$KEY\"" '
    $0 ~ "\"key\": " k { f = 1 }
    f && /"entries"/ { gsub(/[^0-9]/, "", $0); e = $0 }
    f && /"digest"/ { gsub(/.*"digest": *"|".*/, "", $0); print $0 " " e; exit }'
}
same() { # same DIGEST_NODE... : all listed nodes share one digest and entry count
  local first; first=$(digest "$1")
  [ -n "$first" ] || return 1
  shift
  for i in "$@"; do [ "$(digest "$i")" = "$first" ] || return 1; done
}
waitsame() {
  local what=$1; shift
  for _ in $(seq $((WAIT * 2))); do same "$@" && { echo "ok: $what ($(digest "$1"))"; return 0; }; sleep 0.5; done
  echo "FAIL: $what"; for i in "$@"; do echo "  node $i: $(digest "$i")"; done; exit 1
}
magnet() { echo "magnet:?xt=urn:btih:$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')&dn=$1"; }

cli 1 publish --index "$KEY" "$(magnet before-split)" >/dev/null
waitsame "all five converge before the split" 1 2 3 4 5

echo "splitting: {1,2} | {3,4,5}"
ip -n "$HUB" link set h1 master br1
ip -n "$HUB" link set h2 master br1
for k in $(seq "$PER"); do
  cli 1 publish --index "$KEY" "$(magnet minority.$k)" >/dev/null
  cli 4 publish --index "$KEY" "$(magnet majority.$k)" >/dev/null
done
waitsame "minority side converges" 1 2
waitsame "majority side converges" 3 4 5
if [ "$(digest 1)" = "$(digest 3)" ]; then echo "FAIL: the two sides should differ while split"; exit 1; fi

echo "healing"
ip -n "$HUB" link set h1 master br0
ip -n "$HUB" link set h2 master br0
connect_all
waitsame "all five converge after healing" 1 2 3 4 5
want=$((1 + 2 * PER))
got=$(digest 1 | awk '{print $2}')
[ "$got" = "$want" ] || { echo "FAIL: $got entries, want $want"; exit 1; }
echo "PASS"
