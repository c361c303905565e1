#!/usr/bin/env bash
# Checks tools/wireshark/trickles.lua with tshark on a real capture: a transfer through the
# chain client → trickles-mirror → trickles-balancer → trickles-server on 127.0.0.1 (and a
# request for a missing file, for a REFUSE), captured on the loopback interface. Claims: every
# captured datagram decodes as Trickles, every packet type and the encapsulation header with
# its VIA, auth and padding options appear, and nothing is marked malformed.
#
#   tools/wireshark/check.sh            # builds the debug binaries first
#   KEEP=1 tools/wireshark/check.sh     # keeps the capture and the logs (path printed)
#
# Needs root (capturing) and tshark (scripts/setup installs it). Every wait is bounded.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
lua="$root/tools/wireshark/trickles.lua"
command -v tshark >/dev/null || { echo "check.sh: tshark is missing (scripts/setup)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "check.sh: capturing on lo needs root" >&2; exit 1; }

cd "$root"
export CARGO_INCREMENTAL=0
cargo build -q -p trickles-server -p trickles-balancer -p trickles-mirror -p trickles-client
bin="$root/target/debug"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
server_port=$(free_port); vip_port=$(free_port); mirror_port=$(free_port)
key_hex=000102030405060708090a0b0c0d0e0f

mkdir -p "$work/www"
head -c 300000 /dev/urandom >"$work/www/file.bin"
"$bin/trickles-server" keygen -o "$work/keys.yaml" >/dev/null
cat >"$work/mirror.yaml" <<EOF
listen: ["127.0.0.1:$mirror_port"]
peers:
  - name: clients
    addresses: ["127.0.0.0/8"]
    keys: [{ id: 7, secret: "$key_hex" }]
    side: client
  - name: vip
    addresses: ["127.0.0.1:$vip_port"]
    side: server
    reach: any
EOF
cat >"$work/balancer.yaml" <<EOF
listen: ["127.0.0.1:$vip_port"]
upstreams: ["127.0.0.1:$mirror_port"]
health: { interval_ms: 200, timeout_ms: 100, rise: 1, fall: 2 }
backends:
  - name: r1
    address: "127.0.0.1:$server_port"
EOF

filter="udp port $server_port or udp port $vip_port or udp port $mirror_port"
tshark -i lo -f "$filter" -w "$work/chain.pcap" >"$work/tshark.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "Capturing on" "$work/tshark.log" && break; sleep 0.1; done
grep -q "Capturing on" "$work/tshark.log" || { cat "$work/tshark.log" >&2; exit 1; }

"$bin/trickles-server" --listen "127.0.0.1:$server_port" --root "$work/www" \
  --key-file "$work/keys.yaml" --balancer "127.0.0.1:$vip_port" --workers 1 >"$work/server.log" 2>&1 &
pids+=($!)
"$bin/trickles-mirror" --config "$work/mirror.yaml" >"$work/mirror.log" 2>&1 &
pids+=($!)
"$bin/trickles-balancer" --config "$work/balancer.yaml" >"$work/balancer.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "balancing" "$work/balancer.log" && break; sleep 0.1; done

url="trickles://127.0.0.1:$vip_port"
via=(--via "127.0.0.1:$mirror_port" --via-key "7:$key_hex" --timeout 20 -q)
"$bin/trickles-client" get "$url/file.bin" -o "$work/copy.bin" "${via[@]}"
cmp "$work/www/file.bin" "$work/copy.bin"
if "$bin/trickles-client" get "$url/missing.bin" -o "$work/missing.bin" "${via[@]}"; then
  echo "check.sh: the missing file was served" >&2; exit 1
fi
sleep 1
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

decode() { tshark -r "$work/chain.pcap" -X "lua_script:$lua" "$@" 2>"$work/decode.err"; }
total=$(decode -Y udp -T fields -e frame.number | wc -l)
trickles=$(decode -Y trickles -T fields -e frame.number | wc -l)
malformed=$(decode -Y "trickles.malformed || tricklesencap.malformed || _ws.malformed" -T fields -e frame.number | wc -l)
types=$(decode -Y trickles -T fields -e trickles.type | sort -u | tr '\n' ' ')
count() { decode -Y "$1" -T fields -e frame.number | wc -l; }
encapsulated=$(count tricklesencap); via_opts=$(count tricklesencap.via.port)
auth_opts=$(count tricklesencap.auth.tag); conts=$(count trickles.cont.tag)
sacks=$(count trickles.sack.summary); refuses=$(count 'trickles.type == 4')
# tshark warns when run as root; anything else it says (a Lua error) fails the check.
if grep -v "Running as user" "$work/decode.err" | grep -q .; then cat "$work/decode.err" >&2; exit 1; fi

echo "captured $total datagrams: $trickles decoded as Trickles ($encapsulated encapsulated, $via_opts with VIA, $auth_opts with a mirror tag), types { $types}, $conts continuations, $sacks with SACK blocks, $refuses REFUSE, $malformed malformed"
fail=0
[ "$total" -gt 100 ] || { echo "FAIL: too few datagrams captured" >&2; fail=1; }
[ "$trickles" -eq "$total" ] || { echo "FAIL: $((total - trickles)) datagrams not decoded" >&2; fail=1; }
[ "$malformed" -eq 0 ] || { echo "FAIL: $malformed malformed" >&2; fail=1; }
[ "$types" = "1 2 3 4 " ] || { echo "FAIL: packet types seen: $types" >&2; fail=1; }
for n in "$encapsulated" "$via_opts" "$auth_opts" "$conts" "$sacks" "$refuses"; do
  [ "$n" -gt 0 ] || { echo "FAIL: a header or option never decoded" >&2; fail=1; }
done
[ "$fail" -eq 0 ] && echo "tools/wireshark/check.sh: ok"
exit "$fail"
