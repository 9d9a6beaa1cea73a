#!/bin/sh
# Build the golumber test peer.
#
#   tests/golumber/build.sh [OUTPUT]
#
# OUTPUT defaults to ${CARGO_TARGET_DIR:-<repo>/target}/golumber/golumber.
# Needs only a Go toolchain (>= 1.21) and access to the Go module proxy;
# modules and build cache stay in Go's default locations.
# Prints the absolute path of the binary on stdout.
# Exit status: 0 built, 127 no `go` in PATH, other = build failure.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if [ $# -ge 1 ] && [ -n "$1" ]; then
	out=$1
else
	out=${CARGO_TARGET_DIR:-$repo/target}/golumber/golumber
fi
case $out in
/*) ;;
*) out=$(pwd)/$out ;;
esac

if ! command -v go >/dev/null 2>&1; then
	echo "build.sh: go not found in PATH" >&2
	exit 127
fi

mkdir -p "$(dirname "$out")"
cd "$here"
# -mod=readonly: go.mod/go.sum are complete; never rewrite them during a build.
# -buildvcs=false: the repository may have no commits yet.
GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 go build -trimpath -o "$out" .
echo "$out"
