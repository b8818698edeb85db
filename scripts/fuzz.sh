#!/usr/bin/env bash
# fuzz.sh: runs every `go test -fuzz` target of the module, one after another,
# for DURATION each, and fails if any of them finds a crasher.
#
#   scripts/fuzz.sh [DURATION]      (default 30s; any -fuzztime: 60s, 10m, 500000x)
#
# The targets are found with `go test -list '^Fuzz' ./...`, so a new Fuzz
# function is run without editing this script. FUZZ_MATCH=REGEXP keeps only
# the targets whose name matches it (e.g. FUZZ_MATCH=Submit).
#
# A crasher is written by `go test -fuzz` itself, to
# <package>/testdata/fuzz/<Target>/<hash>; this script lists those files at
# the end. From then on plain `go test` runs the file as a regression case
# (reproduce with: go test -run '<Target>/<hash>' ./<package>). Keep it, and
# commit it with the fix. The corpus the fuzzer grows on the way stays in
# $(go env GOCACHE)/fuzz and is where the next run starts from.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-30s}"
match="${FUZZ_MATCH:-.}"

# go test -list prints the names of each package, then "ok  <pkg> <time>"
# (or "?   <pkg> [no test files]").
list=$(go test -list '^Fuzz' ./...)
targets=()
names=()
while IFS= read -r line; do
	case "$line" in
	Fuzz*) names+=("$line") ;;
	ok*)
		pkg=$(awk '{print $2}' <<<"$line")
		for n in "${names[@]}"; do
			if [[ $n =~ $match ]]; then targets+=("$pkg $n"); fi
		done
		names=()
		;;
	esac
done <<<"$list"
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz.sh: no fuzz target matches '$match'" >&2
	exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, $duration each"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
summary=()
failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "=== $name ($pkg)"
	# -run '^$' skips the unit tests; -timeout 0 because the fuzzer bounds
	# each input itself (a hang is reported as a crasher).
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$duration" -timeout 0 "$pkg" 2>&1 | tee "$log"; then
		status=ok
	else
		status=FAIL
		failed+=("$name")
	fi
	# The last progress line has the totals: execs and corpus size.
	last=$(grep -E '^fuzz: elapsed' "$log" | tail -n 1 | sed -E 's/^fuzz: //' || true)
	summary+=("$(printf '%-4s %-26s %s' "$status" "$name" "$last")")
done

echo
echo "fuzz.sh: summary ($duration per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
	echo
	echo "fuzz.sh: ${#failed[@]} target(s) failed: ${failed[*]}"
	echo "crashers (go test -fuzz wrote them; go test now runs them as regression cases):"
	git status --porcelain --untracked-files=all -- '*/testdata/fuzz/*' || true
	exit 1
fi
