#!/usr/bin/env bash
# soak.sh: the real binary under a steady mixed load (submits, long-polls,
# cancels, leases) for DURATION. It samples the server's RSS, goroutines and
# open file descriptors every few seconds and fails if any keeps growing
# after warm-up, or if any acked job is not final at the end. The load and
# the verdict are scripts/soak (go doc ./scripts/soak); further flags go to
# it, e.g. -rate 500, -interval 2s, -csv soak.csv (relative to the repo root).
#
#   scripts/soak.sh [DURATION] [FLAGS...]     (default 10m)
#
# Exit status: 0 pass, 1 fail, 2 the soak could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10m}
[ $# -gt 0 ] && shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/ticketq" ./cmd/ticketq
# Built, not `go run`: go run reports every failure as exit status 1, and
# the soak's 2 (could not run) must reach the caller as it is.
go build -o "$work/soak" ./scripts/soak
status=0
"$work/soak" -bin "$work/ticketq" -duration "$duration" "$@" || status=$?
exit "$status"
