package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal"
	"github.com/ticketq/ticketq/wal/waltest"
)

// dataDir returns a data directory holding 40 queued jobs in two queues.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, q := range []string{"emails", "reports"} {
		subs := make([]job.Submission, 20)
		for i := range subs {
			subs[i] = job.Submission{Payload: []byte(`{"n":1}`), MaxAttempts: 3, IdempotencyKey: fmt.Sprint(i)}
		}
		if _, err := l.Append(context.Background(), backend.AppendRequest{Queue: q, Jobs: subs}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// snapshot returns a file's bytes and modification time, to show that a
// command did not write to it.
func snapshot(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x %s", b, fi.ModTime())
}

// rawBolt changes a closed data file with bbolt directly, below ticketq.
func rawBolt(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// damages are the ways issue 5 names to break a data file, each with what
// the error or a finding says about it.
var damages = []struct {
	name  string
	apply func(t *testing.T, path string)
	want  string
}{
	{"truncated", func(t *testing.T, path string) {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var used int64
		_ = db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
		db.Close()
		if err := os.Truncate(path, used/2); err != nil {
			t.Fatal(err)
		}
	}, "cut short"},
	{"zeroed", func(t *testing.T, path string) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteAt(make([]byte, 16<<10), 0)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			t.Fatal(err)
		}
	}, "header pages are damaged"},
	{"random", func(t *testing.T, path string) {
		b := make([]byte, 64<<10)
		_, _ = rand.NewChaCha8([32]byte{5}).Read(b)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}, "header pages are damaged"},
	{"newer format", func(t *testing.T, path string) {
		rawBolt(t, path, func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte{0, 0, 0, 9}) })
	}, "format version 9"},
}

// runCheck runs `ticketq check` in-process and returns its exit status,
// stdout and stderr.
func runCheck(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := exitCode(run(context.Background(), append([]string{"check"}, args...), nil, &stdout, &stderr), &stderr)
	return code, stdout.String(), stderr.String()
}

// Ensure that check passes a sound directory with exit 0, prints the
// summary, and does not touch the file.
func TestCheck_Healthy(t *testing.T) {
	dir := dataDir(t)
	path := filepath.Join(dir, wal.FileName)
	before := snapshot(t, path)
	code, out, errOut := runCheck("--data", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"file      " + path + "\n", "format    1\n", "jobs      40\n", "queues    2\n", "findings  0\n", "ok\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("summary lacks %q:\n%s", want, out)
		}
	}
	if snapshot(t, path) != before {
		t.Fatal("check changed the file")
	}
}

// Ensure that a leaked page is a note, not a finding: check exits 0 and
// says that compact gives the space back.
func TestCheck_LeakedPage(t *testing.T) {
	dir := dataDir(t)
	leaked, err := waltest.LeakPage(filepath.Join(dir, wal.FileName))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCheck("--data", dir)
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"findings  0\n", "notes     1 (not wrong: worth knowing)\n", fmt.Sprintf("'ticketq compact' gives it back: %d\n", leaked), "ok\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("summary lacks %q:\n%s", want, out)
		}
	}
}

// Ensure that check exits 1 on each damaged file, says what is wrong, and
// leaves the file as it was.
func TestCheck_Damaged(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := dataDir(t)
			path := filepath.Join(dir, wal.FileName)
			d.apply(t, path)
			before := snapshot(t, path)
			code, out, errOut := runCheck("--data", dir)
			if code != 1 || !strings.Contains(out, "findings  1\n") || !strings.Contains(out, d.want) || !strings.Contains(errOut, path+" has 1 finding(s)") {
				t.Fatalf("exit %d, want 1 with a finding about %q\n%s%s", code, d.want, out, errOut)
			}
			if snapshot(t, path) != before {
				t.Fatal("check changed the file")
			}
		})
	}
}

// Ensure that an index entry deleted below ticketq, in a file bbolt finds
// sound, is a finding that names the job.
func TestCheck_BrokenIndex(t *testing.T) {
	dir := dataDir(t)
	rawBolt(t, filepath.Join(dir, wal.FileName), func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("queues")).Bucket([]byte("emails")).Bucket([]byte("ready")).Cursor()
		c.First()
		return c.Delete()
	})
	code, out, errOut := runCheck("--data", dir)
	if code != 1 || !strings.Contains(out, "  1. job 1: queued but missing from the ready index\n") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// Ensure that check's usage errors exit 2, that its help exits 0, and that
// a directory without a database is an error with a hint.
func TestCheck_Usage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--dta", "x"}, 2, "flag provided but not defined: -dta"},
		{[]string{"--help"}, 0, "ticketq check [--data DIR]"},
		{[]string{"--data", t.TempDir()}, 1, "no such file or directory (is --data the directory 'ticketq serve' was given?)"},
	}
	for _, c := range cases {
		if code, _, errOut := runCheck(c.args...); code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("check %q: exit %d, stderr %q; want %d with %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

// Ensure that a data directory held by a running server is refused within
// a second, by check with a clear message, and by a second server.
func TestCheck_ServerRunning(t *testing.T) {
	dir := dataDir(t)
	srv, _, err := readyServer(context.Background(), benchBinary, dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.stop(); err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	code, _, errOut := runCheck("--data", dir)
	if code != 1 || !strings.Contains(errOut, dir+" is in use by a running ticketq; stop it first or check a backup") {
		t.Fatalf("check of a held directory: exit %d, %q", code, errOut)
	}
	t.Logf("check refused the held directory in %s", time.Since(start).Round(time.Millisecond))
	second, err := startServer(benchBinary, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, second); err == nil || !strings.Contains(second.log.String(), "is in use by another ticketq process") {
		t.Fatalf("second server: %v\n%s", err, second.log.String())
	}
}

// waitExit waits for p to exit and returns how it exited. The time it took
// is logged, not asserted (shared machines are noisy): what bounds it is
// the lock timeout (500 ms) and that a damaged file is refused before any
// wait. Ten seconds only catches a server that does not exit at all.
func waitExit(t *testing.T, p *proc) error {
	t.Helper()
	select {
	case <-p.exited:
		t.Logf("%s exited %s after its start", p.name, time.Since(p.started).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		_ = p.kill()
		t.Fatalf("%s still running 10s after its start\n%s", p.name, p.log.String())
	}
	return p.exitErr
}

// Ensure that the real `ticketq serve` exits with status 3 (not restarted
// by the systemd unit) within a second on each damaged file, names the
// file, suggests `ticketq check`, and leaves the file alone.
func TestServe_DamagedFile(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := dataDir(t)
			path := filepath.Join(dir, wal.FileName)
			d.apply(t, path)
			before := snapshot(t, path)
			p, err := start("server", benchBinary, []string{"serve", "--addr", "127.0.0.1:0", "--data", dir}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var exit *exec.ExitError
			if err := waitExit(t, p); !errors.As(err, &exit) || exit.ExitCode() != exitDataFile {
				t.Fatalf("serve exited with %v, want status %d", err, exitDataFile)
			}
			for _, want := range []string{"open " + path, "'ticketq check --data " + dir + "'", d.want} {
				if !strings.Contains(p.log.String(), want) {
					t.Fatalf("serve's output lacks %q:\n%s", want, p.log.String())
				}
			}
			if snapshot(t, path) != before {
				t.Fatal("serve changed the file")
			}
		})
	}
}
