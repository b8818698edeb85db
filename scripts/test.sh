#!/usr/bin/env bash
# test.sh: the README's test command. On a fresh machine with Go it installs
# what the tests need, runs the static checks, then every test with the race
# detector. CI (.ci/run) runs exactly this.
#
#   scripts/test.sh [go test flags…]     (default: -race -count=1 ./...)
#
# What the tests need beyond Go, and why:
#   chromium             the dashboard's browser tests (ui_test.go, chromedp)
#   e2fsprogs, mount     the fault tests make their own filesystems: a tmpfs
#   util-linux           to fill, an ext4 on a loop device to break
#   /dev/fuse (kernel)   the power-cut test mounts a FUSE filesystem (as root)
#   versitygw            a real S3 server, built from the Go module proxy
# Installing needs root (or sudo) and apt-get; without them the script says
# what is missing and the tests that need it fail naming it.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v mkfs.ext4 >/dev/null && command -v e2fsck >/dev/null || missing+=(e2fsprogs)
command -v losetup >/dev/null || missing+=(util-linux)
command -v mount >/dev/null || missing+=(mount)

if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=$(command -v sudo || true)
	if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
		echo "test.sh: installing ${missing[*]} (apt-get)"
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		echo "test.sh: cannot install ${missing[*]} (needs apt-get and root); the tests that need them will fail" >&2
	fi
fi

go version
go mod download
# The S3 tests run a real S3 server, versitygw, pinned in a module of its
# own (internal/tools/versitygw). Build it before the tests so that its
# cold build (minutes of CPU) does not count against a test's timeout.
go tool -C internal/tools/versitygw -n versitygw >/dev/null ||
	echo "test.sh: versitygw could not be built; the S3 server tests will fail" >&2

# Static checks first: they are quick and explain failures better than tests.
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

if [ $# -eq 0 ]; then
	set -- -race -count=1 ./...
fi
go test "$@"
