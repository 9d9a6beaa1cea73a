#!/usr/bin/env bash
# End-to-end throughput of the elasticsearch output, on this machine.
#
# One file of deterministic Apache "combined" lines (examples/apache_lines)
# is read with `ganymede run --once` and written with the elasticsearch
# output to examples/bulk_sink, a fast local `_bulk` endpoint that only
# counts documents, so that the figures are ganymede's own:
#
#   W1  file → grok %{COMBINEDAPACHELOG} → date → elasticsearch
#   W0  file → elasticsearch
#
# For each: lines, MB, wall seconds, MB/s, CPU seconds of the ganymede
# process (user + sys), MB per CPU-second and peak RSS. Exits non-zero if
# the sink did not count every document. Targets: W1 ≥ 70 and W0 ≥ 250 MB
# per CPU-second, peak RSS under 60 MB.
#
#   benches/elasticsearch.sh [LINES]       (default 2000000)
#   COMPRESSION_LEVEL=0 benches/elasticsearch.sh   (default: the output's, 1)
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-2000000}
level=${COMPRESSION_LEVEL:-1}
work=$(mktemp -d)
sink_pid=
cleanup() {
  if [[ -n $sink_pid ]]; then kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet --bin ganymede --example apache_lines --example bulk_sink
bin=${CARGO_TARGET_DIR:-target}/release/ganymede
cargo run --release --quiet --example apache_lines -- --lines "$lines" > "$work/access.log"
bytes=$(stat -c %s "$work/access.log")

# The sink, on a port of the OS's choosing.
${CARGO_TARGET_DIR:-target}/release/examples/bulk_sink 127.0.0.1:0 > "$work/sink.out" &
sink_pid=$!
for _ in $(seq 100); do grep -q listening "$work/sink.out" 2>/dev/null && break; sleep 0.1; done
sink=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listening"])' "$work/sink.out")
sink_count() {
  python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))["count"])' "http://$sink/_count"
}

failed=0
workload() { # name, description, filters (YAML list items, may be empty), target MB per CPU-second
  local name=$1 what=$2 filters=$3 target=$4
  {
    echo "name: $name"
    echo "inputs: [file: {paths: [\"$work/access.log\"]}]"
    if [[ -n $filters ]]; then printf 'filters:\n%s' "$filters"; fi
    echo "outputs:"
    echo "  - elasticsearch: {hosts: [\"http://$sink\"], index: \"bench-$name-%{+YYYY.MM.dd}\", compression_level: $level}"
  } > "$work/$name.yml"
  local before after
  before=$(sink_count)
  /usr/bin/time -f "%e %U %S %M" -o "$work/$name.time" \
    "$bin" run --once -c "$work/$name.yml" --data-dir "$work/data-$name" --http off --log-level warn
  after=$(sink_count)
  local wall user sys rss
  read -r wall user sys rss < "$work/$name.time"
  python3 - "$name" "$what" "$lines" "$bytes" "$wall" "$user" "$sys" "$rss" "$((after - before))" "$target" <<'PY'
import sys
name, what = sys.argv[1], sys.argv[2]
lines, b = int(sys.argv[3]), int(sys.argv[4])
wall, u, s = map(float, sys.argv[5:8])
rss, counted, target = int(sys.argv[8]), int(sys.argv[9]), float(sys.argv[10])
mb, cpu = b / 1e6, u + s
per_cpu = mb / cpu
print(f"{name} {what}: {lines} lines, {mb:.1f} MB in {wall:.2f} s = {mb/wall:.1f} MB/s; "
      f"CPU {cpu:.2f} s (user {u:.2f} + sys {s:.2f}) = {per_cpu:.1f} MB per CPU-second; "
      f"peak RSS {rss/1024:.1f} MB; sink counted {counted}")
print(f"   targets: ≥ {target:.0f} MB per CPU-second {'met' if per_cpu >= target else 'NOT met'}, "
      f"RSS < 60 MB {'met' if rss / 1024 < 60 else 'NOT met'}")
PY
  if [[ $((after - before)) -ne $lines ]]; then
    echo "$name: the sink counted $((after - before)) documents, expected $lines" >&2
    failed=1
  fi
}

echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); gzip level $level"
workload W1 "file → grok → date → elasticsearch" \
  "  - grok: {match: {message: '%{COMBINEDAPACHELOG}'}}
  - date: {match: [timestamp, 'dd/MMM/yyyy:HH:mm:ss Z']}
" 70
workload W0 "file → elasticsearch" "" 250
exit $failed
