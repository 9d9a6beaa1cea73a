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
# the sink did not count every document.
#
# Both run twice. First with uncompressed requests, as Vector's and Fluent
# Bit's Elasticsearch outputs send them by default: the targets (W1 ≥ 70
# and W0 ≥ 250 MB per CPU-second, peak RSS under 60 MB) are checked on
# these. Then with gzip (W1gz, W0gz), level 1 unless COMPRESSION_LEVEL
# says otherwise: ganymede's default, like Filebeat's and Logstash's.
# Compressing costs more CPU than everything else the output does (see
# below), which no serialiser can win back.
#
# Then where the CPU goes, from two more runs and the sink:
#
#   R0  file → null                  (reading and building events)
#   R1  file → grok → date → null    (the same plus parsing)
#
# and the time that compressing exactly the request bodies of W0gz and
# W1gz takes on its own (the sink compresses what it received again, after
# the run, with the output's gzip function; see examples/bulk_sink.rs). R
# plus that compression is a floor under the CPU of the gzip run, so
# lines / (R + compression) is the most MB per CPU-second it could reach
# at this gzip level if serialising and sending cost nothing.
#
#   benches/elasticsearch.sh [LINES]       (default 2000000)
#   COMPRESSION_LEVEL=6 benches/elasticsearch.sh   (gzip level of W1gz, W0gz)
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-2000000}
level=${COMPRESSION_LEVEL:-1}
if (( level < 1 || level > 9 )); then
  echo "COMPRESSION_LEVEL must be 1 to 9 (the uncompressed runs always run)" >&2
  exit 2
fi
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
${CARGO_TARGET_DIR:-target}/release/examples/bulk_sink 127.0.0.1:0 "$level" > "$work/sink.out" &
sink_pid=$!
for _ in $(seq 100); do grep -q listening "$work/sink.out" 2>/dev/null && break; sleep 0.1; done
sink=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["listening"])' "$work/sink.out")
sink_count() {
  python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))["count"])' "http://$sink/_count"
}
# Seconds that compressing the bulk bodies received since the last call
# takes on its own.
sink_gzip_seconds() {
  python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))["estimated_seconds"])' "http://$sink/_gzip_cost"
}
declare -A cpu_of gzip_of

failed=0
workload() { # name, description, filters (YAML list items, may be empty), gzip level, target MB per CPU-second (0: none), output (elasticsearch or null)
  local name=$1 what=$2 filters=$3 gzip=$4 target=$5 output=$6
  {
    echo "name: $name"
    echo "inputs: [file: {paths: [\"$work/access.log\"]}]"
    if [[ -n $filters ]]; then printf 'filters:\n%s' "$filters"; fi
    echo "outputs:"
    if [[ $output == null ]]; then
      echo "  - null: {}"
    else
      echo "  - elasticsearch: {hosts: [\"http://$sink\"], index: \"bench-$name-%{+YYYY.MM.dd}\", compression_level: $gzip}"
    fi
  } > "$work/$name.yml"
  local before after
  before=$(sink_count)
  /usr/bin/time -f "%e %U %S %M" -o "$work/$name.time" \
    "$bin" run --once -c "$work/$name.yml" --data-dir "$work/data-$name" --http off --log-level warn
  after=$(sink_count)
  local wall user sys rss
  read -r wall user sys rss < "$work/$name.time"
  cpu_of[$name]=$(python3 -c "print($user + $sys)")
  if [[ $output != null ]]; then gzip_of[$name]=$(sink_gzip_seconds); fi
  python3 - "$name" "$what" "$lines" "$bytes" "$wall" "$user" "$sys" "$rss" "$((after - before))" "$target" "$output" "$gzip" <<'PY'
import sys
name, what = sys.argv[1], sys.argv[2]
lines, b = int(sys.argv[3]), int(sys.argv[4])
wall, u, s = map(float, sys.argv[5:8])
rss, counted, target = int(sys.argv[8]), int(sys.argv[9]), float(sys.argv[10])
to_es, gzip = sys.argv[11] != "null", int(sys.argv[12])
mb, cpu = b / 1e6, u + s
per_cpu = mb / cpu
if to_es:
    what += f" ({f'gzip {gzip}' if gzip else 'uncompressed'})"
print(f"{name} {what}: {lines} lines, {mb:.1f} MB in {wall:.2f} s = {mb/wall:.1f} MB/s; "
      f"CPU {cpu:.2f} s (user {u:.2f} + sys {s:.2f}) = {per_cpu:.1f} MB per CPU-second; "
      f"peak RSS {rss/1024:.1f} MB" + (f"; sink counted {counted}" if to_es else ""))
if target:
    print(f"   targets: ≥ {target:.0f} MB per CPU-second {'met' if per_cpu >= target else 'NOT met'}, "
          f"RSS < 60 MB {'met' if rss / 1024 < 60 else 'NOT met'}")
PY
  if [[ $output != null && $((after - before)) -ne $lines ]]; then
    echo "$name: the sink counted $((after - before)) documents, expected $lines" >&2
    failed=1
  fi
}

parse='  - grok: {match: {message: '"'"'%{COMBINEDAPACHELOG}'"'"'}}
  - date: {match: [timestamp, '"'"'dd/MMM/yyyy:HH:mm:ss Z'"'"']}
'
echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
workload W1 "file → grok → date → elasticsearch" "$parse" 0 70 elasticsearch
workload W0 "file → elasticsearch" "" 0 250 elasticsearch
workload W1gz "file → grok → date → elasticsearch" "$parse" "$level" 0 elasticsearch
workload W0gz "file → elasticsearch" "" "$level" 0 elasticsearch
echo "where the CPU goes:"
workload R1 "file → grok → date → null" "$parse" 0 0 null
workload R0 "file → null" "" 0 0 null
python3 - "$bytes" "$level" \
  "${cpu_of[W1]}" "${cpu_of[W1gz]}" "${cpu_of[R1]}" "${gzip_of[W1gz]}" \
  "${cpu_of[W0]}" "${cpu_of[W0gz]}" "${cpu_of[R0]}" "${gzip_of[W0gz]}" <<'PY'
import sys
mb = int(sys.argv[1]) / 1e6
level = int(sys.argv[2])
for name, (w, wgz, r, gz) in (("W1", sys.argv[3:7]), ("W0", sys.argv[7:11])):
    w, wgz, r, gz = float(w), float(wgz), float(r), float(gz)
    print(f"   {name}: {w:.2f} CPU-s = reading and filters {r:.2f} (R{name[1]}) + serialising, "
          f"sending, hand-offs {w - r:.2f}")
    print(f"   {name}gz: {wgz:.2f} CPU-s = reading and filters {r:.2f} + compressing the bodies "
          f"{gz:.2f} (gzip {level}, timed apart) + serialising, sending, hand-offs {wgz - r - gz:.2f}; "
          f"ceiling with free serialising and sending: {mb / (r + gz):.1f} MB per CPU-second")
PY
exit $failed
