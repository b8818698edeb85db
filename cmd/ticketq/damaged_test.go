package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

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
		"ticketq salvage --data " + dir + " --to NEWDIR",
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
	for _, want := range []string{"open " + path, "in use are also in the freelist", "'ticketq check --data " + dir + "'", "ticketq salvage --data " + dir + " --to NEWDIR"} {
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
		!strings.Contains(next.log.String(), "'ticketq check --data "+dir+"'") {
		t.Fatalf("restart on the broken file: %v, want status %d with the hint\n%s", err, exitDataFile, next.log.String())
	}
	assertNoStack(t, next.log.String())
}

// Ensure that salvage copies every readable job of the fixture into a new
// directory, says which tickets and page it could not read (exit 1), that
// the copy passes `ticketq check`, and that the real server starts on it
// and hands out tickets after the lost ones; the fixture is left alone.
func TestSalvage_Fixture(t *testing.T) {
	dir := fixtureDir(t)
	path := filepath.Join(dir, wal.FileName)
	before := snapshot(t, path)
	to := filepath.Join(t.TempDir(), "salvaged")
	code, out, errOut := runTool(t, nil, "salvage", "--data", dir, "--to", to)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (some tickets lost)\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		fmt.Sprintf("copied     %d jobs in 1 queue\n", fixtureReadable),
		"lost       3201 ticket(s) named by the indexes without a readable record: 24742–27942\n",
		"  page 2153: a 17-byte key, not a ticket: another bucket's page where job records should be\n",
		"counter    27942 ",
		"in use are also in the freelist",
		"settings   every queue's paused flag and limits were copied\n",
		fmt.Sprintf("check      ok (%d jobs in 1 queue)\n", fixtureReadable),
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("salvage's report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "not everything could be copied: 3201 ticket(s) named by the indexes without a readable record, 1 unreadable record(s) or page(s) of records (listed above)") ||
		!strings.Contains(errOut, "start the server with --data "+to) {
		t.Fatalf("salvage's last word:\n%s", errOut)
	}
	if snapshot(t, path) != before {
		t.Fatal("salvage changed the damaged file")
	}
	if code, out, errOut := runCheck("--data", to); code != 0 || !strings.Contains(out, fmt.Sprintf("jobs      %d\n", fixtureReadable)) {
		t.Fatalf("check of the salvaged directory: exit %d\n%s%s", code, out, errOut)
	}

	srv, _, err := readyServer(context.Background(), benchBinary, to, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.stop(); err != nil {
			t.Error(err)
		}
	}()
	var receipt struct{ Ticket string }
	if status, err := postJSON(srv.url()+"/v1/queues/q/jobs", `{"payload": 1}`, &receipt); err != nil || status != http.StatusAccepted || receipt.Ticket != "27943" {
		t.Fatalf("submit to the salvaged server: %d %+v, %v; want ticket 27943", status, receipt, err)
	}
}

// Ensure that salvage names a queue whose settings it could not read (they
// come back as defaults) and exits 1 saying so, though every job was
// copied.
func TestSalvage_SettingsReset(t *testing.T) {
	dir := dataDir(t)
	rawBolt(t, filepath.Join(dir, wal.FileName), func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("queues")).Bucket([]byte("reports")).Put([]byte("m"), []byte{0xFF})
	})
	to := filepath.Join(t.TempDir(), "salvaged")
	code, out, errOut := runTool(t, nil, "salvage", "--data", dir, "--to", to)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"copied     40 jobs in 2 queues\n",
		"settings   1 queue(s) come back unpaused with default limits: their settings could not be read; 0 page(s) of the queues bucket could not be read\n",
		"  queue \"reports\": its settings do not decode",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("salvage's report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "not everything could be copied: 1 queue(s) whose paused flag and limits were reset (listed above)") {
		t.Fatalf("salvage's last word:\n%s", errOut)
	}
}

// Ensure that salvage's refusals and usage errors exit as documented,
// change nothing, and say what to do; and that a sound directory is copied
// whole with exit 0.
func TestSalvage_Usage(t *testing.T) {
	sound := dataDir(t)
	taken := dataDir(t)
	takenBefore := snapshot(t, filepath.Join(taken, wal.FileName))
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"NoTarget", []string{"--data", sound}, 2, "give the new directory to copy into with --to NEWDIR"},
		{"ExtraArgument", []string{"--data", sound, "--to", t.TempDir(), "x"}, 2, `unexpected argument "x"`},
		{"UnknownFlag", []string{"--bogus"}, 2, "flag provided but not defined: -bogus"},
		{"Help", []string{"--help"}, 0, "Usage: ticketq salvage [--data DIR] --to NEWDIR"},
		{"TargetHoldsDatabase", []string{"--data", sound, "--to", taken}, 1, "already holds a database"},
		{"MissingSource", []string{"--data", t.TempDir(), "--to", filepath.Join(t.TempDir(), "n")}, 1, "is --data the directory 'ticketq serve' was given?"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runTool(t, nil, append([]string{"salvage"}, c.args...)...)
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, c.code, c.want, errOut)
			}
		})
	}
	if snapshot(t, filepath.Join(taken, wal.FileName)) != takenBefore {
		t.Fatal("a refused salvage changed the target's database")
	}

	t.Run("Held", func(t *testing.T) {
		srv, _, err := readyServer(context.Background(), benchBinary, sound, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := srv.stop(); err != nil {
				t.Error(err)
			}
		}()
		code, _, errOut := runTool(t, nil, "salvage", "--data", sound, "--to", filepath.Join(t.TempDir(), "n"))
		if code != 1 || !strings.Contains(errOut, "held by a running ticketq: stop the server first; nothing was changed") {
			t.Fatalf("salvage of a held directory: exit %d\n%s", code, errOut)
		}
	})

	t.Run("Sound", func(t *testing.T) {
		to := filepath.Join(t.TempDir(), "copy")
		code, out, errOut := runTool(t, nil, "salvage", "--data", sound, "--to", to)
		if code != 0 || !strings.Contains(out, "copied     40 jobs in 2 queues\n") || !strings.Contains(out, "lost       0 ticket(s)") {
			t.Fatalf("salvage of a sound directory: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// walkingServer starts `ticketq serve` on dir with Info logs and waits
// until it is ready; walk receives the "walk" field of its start-up check
// line and whether that line counted pages read (it walked).
func walkingServer(t *testing.T, dir string) (p *proc, walk string, walked bool) {
	t.Helper()
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	p, err = start("server", benchBinary, []string{"serve", "--addr", addr, "--data", dir, "--log-format", "json"}, func(line []byte) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && m["message"] == "data file checked before opening" {
			mu.Lock()
			walk, _ = m["walk"].(string)
			_, walked = m["pages_read"]
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	p.addr = addr
	t.Cleanup(func() { _ = p.kill() })
	if _, err := p.waitReady(context.Background(), 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return p, walk, walked
}

// Ensure that the real server, restarted after SIGKILL in the same boot,
// skips the start-up walk of its file (the page cache kept every write:
// start-up stays O(unfinished jobs)) and serves every acked job; and that
// it walks the file after a reboot (the record of the last start names
// another boot) and then records the start, so the next one skips again.
func TestServe_StartupWalk(t *testing.T) {
	dir := t.TempDir()
	p, walk, _ := walkingServer(t, dir)
	if walk != "" {
		t.Fatalf("a new file was walked: %q", walk)
	}
	var tickets []string
	for i := range 20 {
		var ans struct{ Ticket string }
		if status, err := postJSON(p.url()+"/v1/queues/emails/jobs", fmt.Sprintf(`{"payload": %d}`, i), &ans); err != nil || status != http.StatusAccepted {
			t.Fatalf("submit: %d, %v", status, err)
		}
		tickets = append(tickets, ans.Ticket)
	}
	if err := p.kill(); err != nil {
		t.Fatal(err)
	}

	p, walk, walked := walkingServer(t, dir)
	if walked || !strings.HasPrefix(walk, "skipped: same boot and same file") {
		t.Fatalf("restart after SIGKILL: walk %q (pages counted: %v), want a skip", walk, walked)
	}
	for _, tk := range tickets {
		var j struct{ State string }
		if status, err := getJSON(p.url()+"/v1/jobs/"+tk, &j); err != nil || status != http.StatusOK || j.State != "queued" {
			t.Fatalf("ticket %s after the restart: %d %+v, %v", tk, status, j, err)
		}
	}
	if err := p.kill(); err != nil {
		t.Fatal(err)
	}

	// A reboot, as the record of the last start sees it.
	stamp := filepath.Join(dir, wal.BootName)
	b, err := os.ReadFile(stamp)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "boot_id ") {
		t.Fatalf("%s holds no boot id:\n%s", stamp, b)
	}
	lines[1] = "boot_id an-earlier-boot"
	if err := os.WriteFile(stamp, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	p, walk, walked = walkingServer(t, dir)
	if !walked || !strings.Contains(walk, "the machine restarted") {
		t.Fatalf("start after a reboot: walk %q (pages counted: %v), want a walk", walk, walked)
	}
	if err := p.kill(); err != nil {
		t.Fatal(err)
	}
	if _, walk, walked = walkingServer(t, dir); walked {
		t.Fatalf("the start after a walk walked again: %q", walk)
	}
}
