package main

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal"
	"github.com/ticketq/ticketq/wal/waltest"
)

// fixtureDir returns a data directory holding testdata/damaged-freelist.db:
// a file that a drive acknowledging flushes early left (issue 10). Its
// header is sound; its freelist lists a page the tree uses, a page of the
// jobs bucket holds another bucket's keys, and a stale branch of the
// ready index points into the jobs bucket's pages. 24,741 of its 27,942
// queued jobs can be read.
func fixtureDir(t *testing.T) string {
	t.Helper()
	in, err := os.Open("testdata/damaged-freelist.db.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := os.OpenFile(filepath.Join(dir, wal.FileName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(zr.Close(), out.Close()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fixture figures, as `ticketq check` reports them.
const (
	fixtureReadable = 24741
	fixtureLost     = "3201 ticket(s) in the queued index have no readable job record: 24742–27942"
)

// Ensure that check finishes on the fixture (it used to sit at 0% pages
// while its memory passed 4 GB) and lists what is wrong with it, without
// changing it.
func TestCheck_Fixture(t *testing.T) {
	dir := fixtureDir(t)
	path := filepath.Join(dir, wal.FileName)
	before := snapshot(t, path)
	start := time.Now()
	code, out, errOut := runCheck("--data", dir)
	t.Logf("check of the fixture took %s", time.Since(start).Round(time.Millisecond))
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		fmt.Sprintf("jobs      %d\n", fixtureReadable),
		"in use are also in the freelist, so a commit would overwrite them: 2156",
		"are reached a second time in the tree (a cycle, or a page with two parents)",
		"jobs: page 2153 holds 111 keys that are not tickets",
		fixtureLost,
	} {
		if !strings.Contains(out+errOut, want) {
			t.Fatalf("check's report lacks %q:\n%s%s", want, out, errOut)
		}
	}
	if snapshot(t, path) != before {
		t.Fatal("check changed the file")
	}
}

// Ensure that the real `ticketq serve` refuses the fixture at start, before
// any client can submit into it: exit status 3 (which the systemd unit
// does not restart), the file and the check to run named, no Go stack, and
// the file left alone. It used to report ready and panic at the first
// submit, for ever under a supervisor.
func TestServe_Fixture(t *testing.T) {
	dir := fixtureDir(t)
	path := filepath.Join(dir, wal.FileName)
	before := snapshot(t, path)
	p, err := start("server", benchBinary, []string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--log-format", "json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if err := waitExit(t, p); !errors.As(err, &exit) || exit.ExitCode() != exitDataFile {
		t.Fatalf("serve exited with %v, want status %d\n%s", err, exitDataFile, p.log.String())
	}
	log := p.log.String()
	for _, want := range []string{"open " + path, "in use are also in the freelist", "`ticketq check --data " + dir + "`"} {
		if !strings.Contains(log, want) {
			t.Fatalf("serve's output lacks %q:\n%s", want, log)
		}
	}
	assertNoStack(t, log)
	if snapshot(t, path) != before {
		t.Fatal("serve changed the file")
	}
}

// assertNoStack fails if a process's output holds a Go panic or stack.
func assertNoStack(t *testing.T, out string) {
	t.Helper()
	for _, bad := range []string{"panic:", "goroutine ", ".go:"} {
		if strings.Contains(out, bad) {
			t.Fatalf("the output holds a Go stack (%q):\n%s", bad, out)
		}
	}
}

// Ensure that when the file goes bad under a running server (here a leaf
// of the jobs bucket turned into a page bbolt cannot read, as a lying
// drive or a stray write leaves it), the submit in flight is answered
// 503 outcome_unknown, not reset; the server logs one error naming the
// file and `ticketq check`, exits 1 with no Go stack, and its next start
// refuses the file with exit status 3.
func TestServe_InconsistentWhileServing(t *testing.T) {
	dir := dataDir(t)
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	subs := make([]job.Submission, 400) // a jobs bucket with a branch root
	for i := range subs {
		subs[i] = job.Submission{Payload: []byte(`{"n":2}`), MaxAttempts: 3}
	}
	_, err = l.Append(context.Background(), backend.AppendRequest{Queue: "emails", Jobs: subs})
	if err := errors.Join(err, l.Close()); err != nil {
		t.Fatal(err)
	}
	srv, _, err := readyServer(context.Background(), benchBinary, dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.kill() }()
	path := filepath.Join(dir, wal.FileName)
	if _, err := waltest.BreakPageType(path, "jobs"); err != nil {
		t.Fatal(err)
	}

	var answer struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	status, err := postJSON(srv.url()+"/v1/queues/emails/jobs", `{"payload": "after"}`, &answer)
	if err != nil || status != http.StatusServiceUnavailable || answer.Error.Code != "outcome_unknown" {
		t.Fatalf("submit into the broken leaf: %d %+v, %v; want 503 outcome_unknown\n%s", status, answer, err, srv.log.String())
	}
	var exit *exec.ExitError
	if err := waitExit(t, srv); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("server exited with %v after the inconsistency, want status 1\n%s", err, srv.log.String())
	}
	log := srv.log.String()
	if n := strings.Count(log, `"level":"error"`); n != 1 || !strings.Contains(log, "the data file is inconsistent") ||
		!strings.Contains(log, path) || !strings.Contains(log, "ticketq check --data "+dir) {
		t.Fatalf("want one error line naming %s and the check, got %d:\n%s", path, n, log)
	}
	assertNoStack(t, log)
	if _, err := os.Stat(filepath.Join(dir, wal.MarkerName)); err != nil {
		t.Fatalf("no marker for the next start: %v", err)
	}

	next, err := startServer(benchBinary, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, next); !errors.As(err, &exit) || exit.ExitCode() != exitDataFile ||
		!strings.Contains(next.log.String(), "`ticketq check --data "+dir+"`") {
		t.Fatalf("restart on the broken file: %v, want status %d with the hint\n%s", err, exitDataFile, next.log.String())
	}
	assertNoStack(t, next.log.String())
}
