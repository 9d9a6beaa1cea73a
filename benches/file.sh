#!/usr/bin/env bash
# Backfill benchmark of the file input: one file of Apache lines read with
# `--once` into `null` (read → frame → event → null). Prints MB/s,
# CPU seconds, MB per CPU-second and peak RSS.
#
#   benches/file.sh [BYTES]        (default 1000000000)
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=${1:-1000000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet --bin ganymede --example apache_lines
${CARGO_TARGET_DIR:-target}/release/examples/apache_lines --bytes "$bytes" > "$work/access.log"
cat > "$work/p.yml" <<YML
name: file-null
inputs: [file: {paths: ["$work/access.log"]}]
outputs: [null: {}]
YML
/usr/bin/time -f "%e %U %S %M" -o "$work/time" \
  ${CARGO_TARGET_DIR:-target}/release/ganymede run --once -c "$work/p.yml" --data-dir "$work/data" --http off --log-level warn 2>/dev/null
read -r wall user sys rss < "$work/time"
python3 - "$bytes" "$wall" "$user" "$sys" "$rss" <<'PY'
import sys
b, wall, u, s, rss = int(sys.argv[1]), *map(float, sys.argv[2:5]), int(sys.argv[5])
mb = b / 1e6
print(f"file --once into null: {mb:.0f} MB in {wall:.2f} s = {mb/wall:.0f} MB/s; CPU {u+s:.2f} s = "
      f"{mb/(u+s):.0f} MB per CPU-second; peak RSS {rss/1024:.1f} MB")
PY
