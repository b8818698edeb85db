#!/usr/bin/env bash
# powercut.sh: a long power-cut run. It builds the real binary and runs it
# on powerfs (internal/powerfs), a FUSE filesystem that forgets every write
# not fsynced; under concurrent submits it SIGKILLs the server and cuts the
# power CUTS times, dropping the unsynced writes or tearing them (a random
# half of the dirty 4 KiB pages), and fails on any acked ticket lost or
# changed, a start that fails, or a `ticketq check` that does not pass.
# CI runs 20 cuts. It needs /dev/fuse and root (or fusermount).
#
#   scripts/powercut.sh [CUTS] [SEED]     (default 200 cuts, random seed)
set -euo pipefail
cd "$(dirname "$0")/.."
TICKETQ_REQUIRE_FUSE=1 go test -count=1 -v -run 'TestPowerCut$' -timeout 120m . -args -powercut.cuts="${1:-200}" -powercut.seed="${2:-0}"
