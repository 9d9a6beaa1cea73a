#!/usr/bin/env bash
# Beats throughput, end to end, on this machine:
#   1. the beats input (server) into `null`, loaded by go-lumber's async
#      client, 200-byte events, uncompressed and at compression 3;
#   2. the beats output (client) into go-lumber's server.
# Prints events/s, MB/s and ganymede's CPU seconds for each.
#
#   benches/beats.sh [EVENTS]        (default 2000000)
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-2000000}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/ganymede
golumber=$(tests/golumber/build.sh "$work/golumber")

cpu_seconds() { # utime+stime of a pid, in seconds
  awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"
}

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

server_run() { # compression level
  local level=$1 port
  port=$(free_port)
  cat > "$work/server.yml" <<YML
name: beats-null
batch_size: 2048
inputs: [beats: {listen: "127.0.0.1:$port"}]
outputs: [null: {}]
YML
  "$bin" run -c "$work/server.yml" --http off --log-level warn --data-dir "$work/data" &
  local pid=$!
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  local before summary after
  before=$(cpu_seconds $pid)
  summary=$("$golumber" send --addr "127.0.0.1:$port" --count "$events" --size 200 --window 2048 \
    --mode async --pipelining 2 --compression "$level" --progress 0 --padding words)
  after=$(cpu_seconds $pid)
  kill $pid; wait $pid 2>/dev/null || true
  python3 - "$summary" "$before" "$after" "$level" <<'PY'
import json, sys
s = json.loads(sys.argv[1]); cpu = float(sys.argv[3]) - float(sys.argv[2])
eps = s["events_per_s"]
print(f"server, compression {sys.argv[4]}: {s['acked']} events in {s['elapsed_s']:.2f} s = {eps:,.0f} events/s, "
      f"{eps*200/1e6:.1f} MB/s; ganymede CPU {cpu:.2f} s = {s['acked']/cpu:,.0f} events per CPU-second")
PY
}

client_run() {
  local out port pid gl before after start end
  out=$("$golumber" serve --addr 127.0.0.1:0 --quiet > "$work/gl.out" 2>/dev/null & echo $!)
  for _ in $(seq 100); do grep -q listening "$work/gl.out" 2>/dev/null && break; sleep 0.1; done
  port=$(python3 -c 'import json,sys;print(json.loads(open(sys.argv[1]).readline())["listening"].split(":")[1])' "$work/gl.out")
  python3 -c "
import sys
pad='x'*150
with open('$work/lines.txt','w') as f:
    for i in range($events): f.write('event %d %s\n' % (i, pad))
"
  cat > "$work/client.yml" <<YML
name: beats-client
batch_size: 2048
inputs: [generator: {file: "$work/lines.txt"}]
outputs: [beats: {hosts: ["127.0.0.1:$port"], compression_level: 0}]
YML
  start=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/time" "$bin" run -c "$work/client.yml" --http off --log-level warn --data-dir "$work/data2"
  end=$(date +%s.%N)
  kill "$out" 2>/dev/null || true
  python3 - "$start" "$end" "$(cat "$work/time")" "$events" <<'PY'
import sys
wall = float(sys.argv[2]) - float(sys.argv[1]); u, s = map(float, sys.argv[3].split()); n = int(sys.argv[4])
print(f"client to go-lumber, uncompressed: {n} events in {wall:.2f} s = {n/wall:,.0f} events/s; ganymede CPU {u+s:.2f} s "
      f"(includes the generator) = {n/(u+s):,.0f} events per CPU-second")
PY
}

server_run 0
server_run 3
client_run
