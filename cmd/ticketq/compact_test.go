package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/wal"
)

// Ensure that compact shrinks a data file with room to spare, prints the
// sizes before and after and the jobs kept, and leaves a file that passes
// the check with every job.
func TestCompact(t *testing.T) {
	dir := dataDir(t)
	path := filepath.Join(dir, wal.FileName)
	fi, err := os.Stat(path)
	must(t, err)
	code, out, errOut := runTool(t, map[string]string{"TICKETQ_DATA": dir}, "compact")
	if code != 0 {
		t.Fatalf("compact: exit %d\n%s%s", code, out, errOut)
	}
	after, err := os.Stat(path)
	must(t, err)
	t.Logf("compact:\n%s", out)
	if after.Size() >= fi.Size() {
		t.Fatalf("the file grew or kept its size: %d → %d bytes", fi.Size(), after.Size())
	}
	for _, want := range []string{"file      " + path + "\n", "before    " + byteSize(fi.Size()) + "\n", "after     " + byteSize(after.Size()) + " (", "jobs      40\n", "queues    2\n", "ok\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if n := checkedJobs(t, path); n != 40 {
		t.Fatalf("%d jobs after compact, want 40", n)
	}
}

// Ensure that compact refuses, within about a second and changing nothing,
// a directory a server holds, a damaged or missing file, and bad arguments.
func TestCompact_Refused(t *testing.T) {
	held := t.TempDir()
	startServe(t, nil, "--addr", "127.0.0.1:0", "--data", held)
	damaged := dataDir(t)
	for _, d := range damages {
		if d.name == "truncated" {
			d.apply(t, filepath.Join(damaged, wal.FileName))
		}
	}
	before := fileSum(t, filepath.Join(damaged, wal.FileName))
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"Held", []string{"--data", held}, 1, held + " is held by a running ticketq: stop the server first (compact rewrites the file); nothing was changed"},
		{"Damaged", []string{"--data", damaged}, 1, "cut short"},
		{"Missing", []string{"--data", t.TempDir()}, 1, "is --data the directory 'ticketq serve' was given?"},
		{"ExtraArgument", []string{"--data", damaged, "now"}, 2, `unexpected argument "now"`},
		{"UnknownFlag", []string{"--dat", damaged}, 2, "flag provided but not defined: -dat"},
		{"Help", []string{"--help"}, 0, "Usage: ticketq compact [--data DIR]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			code, _, errOut := runTool(t, nil, append([]string{"compact"}, c.args...)...)
			t.Logf("answered in %s", time.Since(start).Round(time.Millisecond))
			if code != c.code || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, c.code, c.want, errOut)
			}
			if fileSum(t, filepath.Join(damaged, wal.FileName)) != before {
				t.Fatal("a refused compact changed the damaged file")
			}
			for _, d := range []string{held, damaged} {
				if left := leftovers(d); len(left) > 0 {
					t.Fatalf("a refused compact left %v", left)
				}
			}
		})
	}
}
