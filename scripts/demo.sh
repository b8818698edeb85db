#!/usr/bin/env bash
# demo.sh: the promise in one minute. Starts ticketq with an exec executor,
# submits jobs with curl, kills the server with SIGKILL while jobs are being
# submitted and run, starts it again, and shows every acked ticket finish.
#
#   scripts/demo.sh [JOBS]        (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-300}
work=$(mktemp -d)
trap '{ kill -9 $(jobs -p); wait; } 2>/dev/null; rm -rf "$work"' EXIT
addr=127.0.0.1:${TICKETQ_DEMO_PORT:-18080}
base=http://$addr

go build -o "$work/ticketq" ./cmd/ticketq
# Each job takes ~20 ms and prints its payload; the result is kept.
exec_cmd='sleep 0.02; cat'
start() {
	"$work/ticketq" serve --addr "$addr" --data "$work/data" --exec "$exec_cmd" --log-format json 2>>"$work/server.log" &
	pid=$!
	until curl -fs "$base/readyz" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || { echo "server died:"; tail "$work/server.log"; exit 1; }
		sleep 0.05
	done
}

start
echo "server $pid up at $base; submitting $jobs jobs with curl, 8 at a time, and killing it with SIGKILL half-way"
submit() {
	curl -s --json "{\"payload\":{\"n\":$1},\"idempotency_key\":\"demo-$1\"}" "$base/v1/queues/demo/jobs" |
		sed -n 's/.*"ticket":"\([0-9]*\)".*/\1/p'
}
export -f submit; export base
seq 1 "$jobs" | xargs -P 8 -I{} bash -c 'submit {}' >"$work/acked" 2>/dev/null &
loader=$!
while [ "$(wc -l <"$work/acked")" -lt $((jobs / 2)) ]; do sleep 0.02; done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
echo "killed -9 after $(wc -l <"$work/acked") acks"
wait "$loader" || true
echo "acked before and during the crash: $(sort -u "$work/acked" | wc -l) tickets"

start
echo "restarted: $(grep -o '"recovered":[0-9]*' "$work/server.log" | tail -1) interrupted jobs put back in line"
# Submits that failed during the crash are retried with their idempotency
# key: a stored one answers with its original ticket, a lost one is stored now.
for n in $(seq 1 "$jobs"); do submit "$n"; done | sort -u >"$work/all"
lost=0
while read -r t; do
	state=$(curl -s "$base/v1/jobs/$t?wait=30s" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p')
	[ "$state" = succeeded ] || { echo "ticket $t is $state"; lost=$((lost + 1)); }
done <"$work/all"
echo "$(wc -l <"$work/all") tickets, every one checked: $lost not succeeded"
curl -s "$base/v1/queues/demo"; echo
[ "$lost" = 0 ]
