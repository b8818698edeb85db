#!/usr/bin/env bash
# bench.sh: the standard benchmark scenarios of ticketq, against the targets
# of issue 4. It builds the binary, runs each scenario RUNS times (the
# medians are reported), and rewrites the generated part of BENCHMARKS.md
# with the machine description, every figure and the exact commands.
#
#   scripts/bench.sh                 RUNS=3, the full set (about 12 minutes)
#   RUNS=1 QUICK=1 scripts/bench.sh  a short smoke run (BENCHMARKS.md untouched)
#
# Needs: go, and jq and wrk (installed from Debian's packages if missing).
# Data directories are created on disk under this repository (not tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
QUICK=${QUICK:-0}
DUR=10s E2E_DUR=60s RECOVERY_COUNT=1000000 BACKLOG_COUNT=10000000
if [ "$QUICK" = 1 ]; then
	DUR=3s E2E_DUR=5s RECOVERY_COUNT=20000 BACKLOG_COUNT=200000
fi

need() {
	command -v "$1" >/dev/null && return
	echo "installing $1 from Debian's packages" >&2
	apt-get install -y "$1" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$1" >/dev/null; }
}
need jq
need wrk

work=$(mktemp -d -p "$PWD" ticketq-bench-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/ticketq" ./cmd/ticketq
TQ="$work/ticketq"
results="$work/results"
mkdir -p "$results"

say() { printf '\n== %s\n' "$*" >&2; }
# median of the numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
# field F (a jq path) of every JSON file matching a glob, medianed
med() { jq -r "$2" $1 | median; }
# bench runs ticketq bench against a server it spawns, as JSON
bench() { "$TQ" bench --spawn --spawn-dir "$work" --json "$@"; }
# port of a listening process
port_of() { ss -ltnpH | awk -v p="pid=$1," 'index($0, p) {split($4, a, ":"); print a[length(a)]; exit}'; }
wait_port() {
	local pid=$1 port=""
	for _ in $(seq 200); do
		port=$(port_of "$pid") && [ -n "$port" ] && { echo "$port"; return; }
		sleep 0.05
	done
	echo "process $pid never listened" >&2
	return 1
}
# wrk_run URL OUT: 64 connections, 2 threads, $DUR, the submit body
wrk_run() { wrk -t 2 -c 64 -d "$DUR" --latency -s scripts/wrk/submit.lua "$1" >"$2"; }
wrk_rps() { awk '/^Requests\/sec/ {print $2}' "$1"; }
wrk_p99() { awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) sub("ms","",v); else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' "$1"; }

submit_cmd="ticketq bench --spawn --baseline --mode submit --concurrency 64 --payload 200 --duration $DUR"
batch_cmd="ticketq bench --spawn --mode batch --batch 100 --concurrency 8 --duration $DUR"
e2e_cmd="ticketq bench --spawn --mode e2e --batch 100 --concurrency 4 --rate 25000 --duration $E2E_DUR --server-flag=--queue=bench:workers=512"
e2e_max_cmd="ticketq bench --spawn --mode e2e --batch 100 --concurrency 4 --duration $DUR --server-flag=--queue=bench:workers=512"
pull_cmd="ticketq bench --spawn --mode e2e --batch 100 --concurrency 4 --pull 256 --duration $DUR"
recovery_cmd="ticketq bench --spawn --mode recovery --count $RECOVERY_COUNT --server-flag=--queue=bench:workers=512"
backlog_cmd="ticketq bench --spawn --mode batch --batch 1000 --concurrency 8 --count $BACKLOG_COUNT --duration 0"

for i in $(seq "$RUNS"); do
	say "single submits, ticketq bench with its baseline (run $i of $RUNS)"
	bench --baseline --mode submit --concurrency 64 --payload 200 --duration "$DUR" >"$results/submit$i.json"

	say "single submits, wrk (run $i of $RUNS)"
	"$TQ" bench-target --addr 127.0.0.1:0 2>/dev/null & tp=$!; pids+=("$tp")
	tport=$(wait_port "$tp")
	wrk_run "http://127.0.0.1:$tport/v1/queues/bench/jobs" "$results/wrk-target$i.txt"
	kill "$tp"; wait "$tp" 2>/dev/null || true
	"$TQ" serve --addr 127.0.0.1:0 --data "$work/wrk$i" --log-level warn 2>/dev/null & sp=$!; pids+=("$sp")
	sport=$(wait_port "$sp")
	until curl -fs "http://127.0.0.1:$sport/readyz" >/dev/null; do sleep 0.05; done
	wrk_run "http://127.0.0.1:$sport/v1/queues/bench/jobs" "$results/wrk-ticketq$i.txt"
	kill "$sp"; wait "$sp" 2>/dev/null || true
	rm -rf "$work/wrk$i"

	say "batches of 100 (run $i of $RUNS)"
	bench --mode batch --batch 100 --concurrency 8 --duration "$DUR" >"$results/batch$i.json"

	say "end to end at 25,000 jobs/s offered, no-op executor (run $i of $RUNS)"
	bench --mode e2e --batch 100 --concurrency 4 --rate 25000 --duration "$E2E_DUR" \
		--server-flag=--queue=bench:workers=512 >"$results/e2e$i.json" || true
done

say "end to end, as fast as it goes: in-process no-op and pull workers"
bench --mode e2e --batch 100 --concurrency 4 --duration "$DUR" --server-flag=--queue=bench:workers=512 >"$results/e2emax.json" || true
bench --mode e2e --batch 100 --concurrency 4 --pull 256 --duration "$DUR" >"$results/pull.json" || true

say "recovery of $RECOVERY_COUNT unfinished jobs after SIGKILL"
bench --mode recovery --count "$RECOVERY_COUNT" --server-flag=--queue=bench:workers=512 >"$results/recovery.json" || true

say "a backlog of $BACKLOG_COUNT queued jobs"
bench --mode batch --batch 1000 --concurrency 8 --count "$BACKLOG_COUNT" --duration 0 >"$results/backlog.json" || true

say "Go benchmarks"
gobench=$( (go test -run X -bench 'Committer|Record' -benchmem ./wal
	go test -run X -bench 'HandOff' -benchmem ./dispatcher
	go test -run X -bench 'Server_Submit' -benchmem ./httpapi) 2>&1 | grep -E '^Benchmark')

# --- figures ---
submit_jobs=$(med "$results/submit*.json" .jobs_per_s)
submit_ceiling=$(med "$results/submit*.json" .baseline.requests_per_s)
submit_ratio=$(med "$results/submit*.json" .baseline.ratio)
submit_p99=$(med "$results/submit*.json" .latency_ms.p99)
wrk_target=$(for f in "$results"/wrk-target*.txt; do wrk_rps "$f"; done | median)
wrk_tq=$(for f in "$results"/wrk-ticketq*.txt; do wrk_rps "$f"; done | median)
wrk_p99v=$(for f in "$results"/wrk-ticketq*.txt; do wrk_p99 "$f"; done | median)
wrk_ratio=$(for i in $(seq "$RUNS"); do echo "$(wrk_rps "$results/wrk-ticketq$i.txt") $(wrk_rps "$results/wrk-target$i.txt")" | awk '{print $1/$2}'; done | median)
batch_jobs=$(med "$results/batch*.json" .jobs_per_s)
e2e_done=$(med "$results/e2e[0-9]*.json" .e2e.completed_per_s)
e2e_sub=$(med "$results/e2e[0-9]*.json" .e2e.submitted_per_s)
e2e_trend=$(med "$results/e2e[0-9]*.json" .e2e.backlog_trend_per_s)
e2e_growing=$(jq -r .e2e.backlog_growing "$results"/e2e[0-9]*.json | grep -c true || true)
e2emax_done=$(jq -r .e2e.completed_per_s "$results/e2emax.json")
e2emax_sub=$(jq -r .e2e.submitted_per_s "$results/e2emax.json")
pull_done=$(jq -r .e2e.completed_per_s "$results/pull.json")
pull_sub=$(jq -r .e2e.submitted_per_s "$results/pull.json")
rec_ready=$(jq -r .recovery.ready_s "$results/recovery.json")
rec_first=$(jq -r .recovery.first_run_s "$results/recovery.json")
rec_rss=$(jq -r '.recovery.rss_recovery_peak_bytes / 1048576' "$results/recovery.json")
rec_drain_rss=$(jq -r '.recovery.rss_drain_peak_bytes / 1048576' "$results/recovery.json")
rec_drain=$(jq -r .recovery.drain_jobs_per_s "$results/recovery.json")
backlog_rss=$(jq -r '.server_rss_peak_bytes / 1048576' "$results/backlog.json")
backlog_jobs=$(jq -r .acked "$results/backlog.json")
backlog_rate=$(jq -r .jobs_per_s "$results/backlog.json")

f0() { printf '%.0f' "$1"; }
f1() { printf '%.1f' "$1"; }
f2() { printf '%.2f' "$1"; }
pct() { awk -v r="$1" 'BEGIN {printf "%.0f%%", r * 100}'; }
met() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {ok = (op == ">=") ? v >= t : v <= t; print ok ? "met" : "**missed**"}'; }

table=$(
cat <<EOF
<!-- generated by scripts/bench.sh: begin -->
Generated by \`scripts/bench.sh\` (RUNS=$RUNS) on $(date -u +%Y-%m-%d) at commit \`$(git rev-parse --short HEAD)\`.

**Machine:** $(nproc) vCPUs ($(lscpu | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM,
Linux $(uname -r), $(go version | awk '{print $3}'), data directories on $(findmnt -no FSTYPE -T "$work") ($(findmnt -no SOURCE -T "$work")).
Client and server share the cores; every ack is sent after the fsync (bbolt commits with fdatasync).

| target | measured (median of runs) | result | command |
|---|---|---|---|
| single submits, concurrency 64, 200 B: ≥ 75% of the HTTP ceiling of the same generator | $(f0 "$submit_jobs") jobs/s = $(pct "$submit_ratio") of $(f0 "$submit_ceiling") req/s | $(met "$submit_ratio" 0.75 ">=") | \`$submit_cmd\` |
| same, p99 ack latency ≤ 10 ms | $(f1 "$submit_p99") ms | $(met "$submit_p99" 10 "<=") | same |
| same with wrk: ≥ 75% of wrk's ceiling | $(f0 "$wrk_tq") req/s = $(pct "$wrk_ratio") of $(f0 "$wrk_target") req/s | $(met "$wrk_ratio" 0.75 ">=") | \`wrk -t 2 -c 64 -d $DUR --latency -s scripts/wrk/submit.lua URL\` against \`ticketq bench-target\`, then \`ticketq serve --log-level warn\` |
| same with wrk, p99 ≤ 10 ms | $(f1 "$wrk_p99v") ms | $(met "$wrk_p99v" 10 "<=") | same |
| batches of 100: ≥ 200,000 acked jobs/s | $(f0 "$batch_jobs") jobs/s | $(met "$batch_jobs" 200000 ">=") | \`$batch_cmd\` |
| end to end, no-op executor: ≥ 25,000 jobs/s for 60 s, backlog not growing | offered $(f0 "$e2e_sub") jobs/s, completed $(f0 "$e2e_done") jobs/s, backlog trend $(f0 "$e2e_trend") jobs/s (growing in $e2e_growing of $RUNS runs) | $(met "$e2e_done" 25000 ">=") | \`$e2e_cmd\` |
| recovery of $RECOVERY_COUNT unfinished jobs: ready ≤ 2 s after SIGKILL | ready in $(f2 "$rec_ready") s, first job run at $(f2 "$rec_first") s | $(met "$rec_ready" 2 "<=") | \`$recovery_cmd\` |
| same, RSS ≤ 256 MiB during recovery and drain | $(f0 "$rec_rss") MiB during recovery, $(f0 "$rec_drain_rss") MiB draining at $(f0 "$rec_drain") jobs/s | $(met "$(awk -v a="$rec_rss" -v b="$rec_drain_rss" 'BEGIN {print (a > b) ? a : b}')" 256 "<=") | same |
| a backlog of $BACKLOG_COUNT queued jobs: RSS ≤ 256 MiB | $(f0 "$backlog_rss") MiB peak with $backlog_jobs jobs queued (filled at $(f0 "$backlog_rate") jobs/s) | $(met "$backlog_rss" 256 "<=") | \`$backlog_cmd\` |

End to end as fast as it goes (one run each): in-process no-op executor $(f0 "$e2emax_done") completed jobs/s
(submitted $(f0 "$e2emax_sub")/s; \`$e2e_max_cmd\`); pull workers $(f0 "$pull_done") completed jobs/s (submitted
$(f0 "$pull_sub")/s; \`$pull_cmd\`).

Go benchmarks (\`go test -run X -bench 'Committer|Record' -benchmem ./wal\`, \`-bench HandOff ./dispatcher\`,
\`-bench Server_Submit ./httpapi\`):

\`\`\`
$gobench
\`\`\`
<!-- generated by scripts/bench.sh: end -->
EOF
)

if [ "$QUICK" = 1 ]; then
	echo "$table"
	echo "(QUICK run: BENCHMARKS.md left as it is)" >&2
	exit 0
fi
awk -v table="$table" '
	/<!-- generated by scripts\/bench.sh: begin -->/ {print table; skip = 1; next}
	/<!-- generated by scripts\/bench.sh: end -->/ {skip = 0; next}
	!skip {print}
' BENCHMARKS.md >"$work/BENCHMARKS.md"
mv "$work/BENCHMARKS.md" BENCHMARKS.md
echo "BENCHMARKS.md updated" >&2
