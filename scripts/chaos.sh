#!/usr/bin/env bash
# chaos.sh: a long kill -9 run. It builds the real binary, SIGKILLs it at
# random moments (during submits, job execution and check-off), with push
# (webhook) and pull (client Worker) execution, for CYCLES
# restarts, and fails on any lost acked ticket. The moments are dealt
# round-robin, and each must fire its share: a cycle whose trigger did not
# fire within 30s is repeated (at most max(3, CYCLES/4) times), and a moment
# still short at the end fails the run, named. CI runs 6 cycles.
#
#   scripts/chaos.sh [CYCLES] [SEED]     (default 100 cycles, random seed)
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 -v -run 'TestChaos$|TestChaosPull$' -timeout 60m . -args -chaos.cycles="${1:-100}" -chaos.seed="${2:-0}"
