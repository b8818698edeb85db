package wal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal/waltest"
)

// assertStopped checks what a log that stopped on an inconsistency must
// show: its error names the file and the command to run, later writes and
// reads are refused, one error is logged without a stack, and the marker
// is left next to the file.
func assertStopped(t *testing.T, l *Log, dir string, logged *bytes.Buffer, cause string) {
	t.Helper()
	path := filepath.Join(dir, FileName)
	err := l.Err()
	if !errors.Is(err, ErrInconsistent) || !errors.Is(err, job.ErrStoreFailed) {
		t.Fatalf("Err = %v, want ErrInconsistent and ErrStoreFailed", err)
	}
	for _, want := range []string{path, "ticketq check --data " + dir, cause} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("Err %q lacks %q", err, want)
		}
	}
	if _, err := submitN(context.Background(), l, "q", 1); !errors.Is(err, job.ErrStoreFailed) || errors.Is(err, job.ErrUnknownOutcome) {
		t.Fatalf("a write after the stop = %v, want a refusal (ErrStoreFailed, nothing written)", err)
	}
	if _, err := l.Get(context.Background(), 1); !errors.Is(err, job.ErrStoreFailed) {
		t.Fatalf("a read after the stop = %v, want ErrStoreFailed", err)
	}
	log := logged.String()
	if n := strings.Count(log, `"level":"error"`); n != 1 || !strings.Contains(log, "the data file is inconsistent: stopping") ||
		!strings.Contains(log, `"check":"ticketq check --data `+dir+`"`) || !strings.Contains(log, cause) {
		t.Fatalf("want one error line naming the cause and the check to run, got %d:\n%s", n, log)
	}
	if strings.Contains(log, "goroutine ") || strings.Contains(log, ".go:") {
		t.Fatalf("the log holds a stack:\n%s", log)
	}
	marker, err := readMarker(dir)
	if err != nil || !strings.Contains(marker, cause) {
		t.Fatalf("marker %q, %v; want one that says %q", marker, err, cause)
	}
}

// Ensure that when a commit panics inside bbolt because the freelist and
// the tree disagree (the panic of issue 10: "page N already freed", raised
// as bbolt frees the old pages of a leaf, outside every op), the callers in
// flight get an unknown outcome, the log stops with one clear error, and
// the next Open refuses the file with the hint. A read transaction held
// open keeps the page pending, never handed out, so that the free comes
// first, as in the fixture, whatever order bbolt allocates in.
func TestLog_InconsistentCommit(t *testing.T) {
	var logged bytes.Buffer
	l, dir := mustOpen(t, Options{Logger: zerolog.New(&logged)})
	path := filepath.Join(dir, FileName)
	appendN(t, l, "q", 400) // a jobs bucket with a branch root
	before, err := waltest.FreePages(path)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := l.db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	// Close waits for it; rolling back twice is harmless.
	defer func() { _ = reader.Rollback() }()
	appendN(t, l, "q", 1)
	after, err := waltest.FreePages(path)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(after, func(p uint64) bool { return !slices.Contains(before, p) })
	if i < 0 {
		t.Fatalf("the last commit freed no page (freelist %v, then %v)", before, after)
	}
	pending := after[i]
	if err := waltest.MoveLastLeaf(path, pending, "jobs"); err != nil {
		t.Fatal(err)
	}

	_, err = submitN(context.Background(), l, "q", 1)
	if !errors.Is(err, job.ErrUnknownOutcome) || !errors.Is(err, job.ErrStoreFailed) || !errors.Is(err, ErrInconsistent) {
		t.Fatalf("submit into a leaf on a pending page = %v, want an unknown outcome from an inconsistency", err)
	}
	if err := reader.Rollback(); err != nil {
		t.Fatal(err)
	}
	assertStopped(t, l, dir, &logged, "already freed")
	if err := l.Close(); err != nil {
		t.Fatalf("close after the inconsistency: %v", err)
	}

	st := stateOf(t, path)
	_, err = Open(dir, Options{})
	var fe *FileError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "in use are also in the freelist") || !strings.Contains(err.Error(), "ticketq check --data "+dir) {
		t.Fatalf("reopen = %v, want a *FileError about the page both free and in use", err)
	}
	st.assertSame(t, path)
}

// Ensure that a read that panics inside bbolt (a page of the wrong type
// under a running log) stops the log the same way, instead of the panic
// taking down whichever goroutine read.
func TestLog_InconsistentRead(t *testing.T) {
	var logged bytes.Buffer
	l, dir := mustOpen(t, Options{Logger: zerolog.New(&logged)})
	tickets := appendN(t, l, "q", 400)
	if _, err := waltest.BreakPageType(filepath.Join(dir, FileName), "jobs"); err != nil {
		t.Fatal(err)
	}
	_, err := l.Get(context.Background(), tickets[len(tickets)-1])
	if !errors.Is(err, ErrInconsistent) || !errors.Is(err, job.ErrStoreFailed) {
		t.Fatalf("Get from a broken page = %v, want ErrInconsistent", err)
	}
	assertStopped(t, l, dir, &logged, "invalid page type")
}

// Ensure that a read that faults on bbolt's map (the file was cut short
// under the running log: its pages are gone from the mapping) stops the
// log as a panic does, instead of the fault killing the process.
func TestLog_InconsistentFault(t *testing.T) {
	var logged bytes.Buffer
	l, dir := mustOpen(t, Options{Logger: zerolog.New(&logged)})
	tickets := appendN(t, l, "q", 400)
	if err := os.Truncate(filepath.Join(dir, FileName), 2*int64(os.Getpagesize())); err != nil { // the header pages only
		t.Fatal(err)
	}
	_, err := l.Get(context.Background(), tickets[len(tickets)-1])
	if !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), "memory fault") {
		t.Fatalf("Get from a page cut off the file = %v, want ErrInconsistent from a memory fault", err)
	}
	assertStopped(t, l, dir, &logged, "memory fault reading the mapped file")
}

// Ensure that when the marker cannot be written (the disk may be failing
// too), the log still stops, says that the next start will not run the
// full check, and has removed the record of its start, so that the next
// start at least walks the pages, and refuses a tree bbolt cannot read.
func TestLog_MarkerWriteFails(t *testing.T) {
	var logged bytes.Buffer
	l, dir := mustOpen(t, Options{Logger: zerolog.New(&logged)})
	tickets := appendN(t, l, "q", 400)
	marker := filepath.Join(dir, MarkerName)
	// A link into a directory that does not exist: creating the marker
	// fails, reading it finds none.
	if err := os.Symlink(filepath.Join(t.TempDir(), "gone", "marker"), marker); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	if _, err := waltest.BreakPageType(path, "jobs"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Get(context.Background(), tickets[len(tickets)-1]); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("Get from a broken page = %v, want ErrInconsistent", err)
	}
	log := logged.String()
	if !strings.Contains(log, `"marker":"write `+marker) || !strings.Contains(log, "does not run the full check: run 'ticketq check --data "+dir+"'") {
		t.Fatalf("the log does not say the marker failed and what to do:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(dir, BootName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the record of the start is still there (%v): the next start would skip the walk", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{})
	var fe *FileError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "not what their parent says") {
		t.Fatalf("the next Open = %v, want the walk to refuse the broken page", err)
	}
}

// Ensure that an op that panics inside bbolt (its Put reads the broken
// leaf) stops the log, where a panic of the op's own code fails that op
// alone (TestLog_FailureIsolation): running it alone would meet the same page.
func TestLog_InconsistentOp(t *testing.T) {
	var logged bytes.Buffer
	l, dir := mustOpen(t, Options{Logger: zerolog.New(&logged)})
	appendN(t, l, "q", 400)
	if _, err := waltest.BreakPageType(filepath.Join(dir, FileName), "jobs"); err != nil {
		t.Fatal(err)
	}
	_, err := submitN(context.Background(), l, "q", 1)
	if !errors.Is(err, job.ErrUnknownOutcome) || !errors.Is(err, ErrInconsistent) {
		t.Fatalf("submit into a broken leaf = %v, want an unknown outcome from an inconsistency", err)
	}
	assertStopped(t, l, dir, &logged, "invalid page type")
}

// Ensure that after a stop on an inconsistency, the next Open runs the full
// check: a sound file (the inconsistency was in memory, or the file was
// restored) is served and the marker removed; a file whose damage only the
// full check sees (records that do not decode) is refused, unchanged, and
// the marker kept; a new directory has nothing to check.
func TestOpen_Marker(t *testing.T) {
	mark := func(t *testing.T, dir string) {
		t.Helper()
		if err := writeMarker(filepath.Join(dir, FileName), time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC), errors.New("bbolt panicked in go.etcd.io/bbolt.x: boom")); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("sound", func(t *testing.T) {
		dir := healthyDir(t)
		mark(t, dir)
		var logged bytes.Buffer
		l, err := Open(dir, Options{Logger: zerolog.New(&logged)})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if m, err := readMarker(dir); m != "" || err != nil {
			t.Fatalf("marker after a clean check: %q, %v", m, err)
		}
		if !strings.Contains(logged.String(), "checking the whole file before serving") || !strings.Contains(logged.String(), "marker removed") {
			t.Fatalf("log: %s", logged.String())
		}
	})
	t.Run("records", func(t *testing.T) {
		dir := healthyDir(t)
		path := filepath.Join(dir, FileName)
		if _, _, err := waltest.BreakValues(path, 1, "jobs"); err != nil {
			t.Fatal(err)
		}
		mark(t, dir)
		st := stateOf(t, path)
		_, err := Open(dir, Options{})
		var fe *FileError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "the last run stopped on an inconsistency") ||
			!strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "job 1: corrupt record") {
			t.Fatalf("Open = %v, want a *FileError from the full check", err)
		}
		st.assertSame(t, path)
		if m, _ := readMarker(dir); !strings.Contains(m, "boom") {
			t.Fatalf("marker after a refusal: %q", m)
		}
	})
	t.Run("new", func(t *testing.T) {
		dir := t.TempDir()
		mark(t, dir)
		if err := os.Remove(filepath.Join(dir, FileName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		l, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if m, _ := readMarker(dir); m != "" {
			t.Fatalf("marker left in a new directory: %q", m)
		}
	})
}

// Ensure that an offline reader (inspect) that meets a page bbolt cannot
// read answers an error, and writes nothing: no marker next to the file.
func TestReader_Inconsistent(t *testing.T) {
	dir := healthyDir(t)
	path := filepath.Join(dir, FileName)
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := waltest.BreakPageType(path, "jobs"); err != nil {
		t.Fatal(err)
	}
	before := stateOf(t, path)
	_, err = r.List(backend.ListRequest{Queue: "reports", Limit: 1000})
	if !errors.Is(err, ErrInconsistent) {
		t.Fatalf("List through a broken page = %v, want ErrInconsistent", err)
	}
	if m, err := readMarker(dir); m != "" || err != nil {
		t.Fatalf("an offline reader left a marker: %q, %v", m, err)
	}
	before.assertSame(t, path)
}

// faultValue stands for the runtime's memory fault panic, which has Addr.
type faultValue struct{}

func (faultValue) Error() string { return "unexpected fault address 0x7f0000001000" }
func (faultValue) Addr() uintptr { return 0x7f0000001000 }
func (faultValue) RuntimeError() {}

// Ensure that a panic is blamed on the file only when it comes from what
// bbolt read (a memory fault, or one of bbolt's panics on page data);
// that bbolt's other panics (its assertions on its own state, a runtime
// error inside it) still stop the log but say it may be a ticketq bug; and
// that a panic of ticketq's own code is not the engine's at all.
func TestEngineFault(t *testing.T) {
	const bboltSite = "go.etcd.io/bbolt/internal/freelist.(*shared).Free"
	cases := []struct {
		name string
		p    any
		site string
		want string // "" for not the engine's; else a part of the error
		bug  bool   // the error says it may be a ticketq bug
	}{
		{"memory fault", faultValue{}, "github.com/ticketq/ticketq/wal.(*Log).Get", "memory fault reading the mapped file at 0x7f0000001000", false},
		{"freed twice", "page 2153 already freed", bboltSite, "page 2153 already freed", false},
		{"page type", "invalid page type: 12: 10", "go.etcd.io/bbolt.(*Cursor).search", "invalid page type", false},
		{"high water", "pgid (900) above high water mark (800)", "go.etcd.io/bbolt.(*node).read", "above high water mark", false},
		{"assertion", "assertion failed: tx closed", "go.etcd.io/bbolt.(*Cursor).First", "or ticketq has a bug", true},
		{"runtime error", errors.New("runtime error: index out of range [7] with length 3"), "go.etcd.io/bbolt.(*Bucket).Get", "or ticketq has a bug", true},
		{"ours", "assignment to entry in nil map", "github.com/ticketq/ticketq/wal.(*wtx).index", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := engineFault(c.p, c.site)
			if c.want == "" {
				if err != nil {
					t.Fatalf("engineFault = %v, want nil: not the engine's", err)
				}
				return
			}
			if !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("engineFault = %v, want ErrInconsistent saying %q", err, c.want)
			}
			if got := strings.Contains(err.Error(), "ticketq has a bug"); got != c.bug {
				t.Fatalf("engineFault = %q: mentions a bug %v, want %v", err, got, c.bug)
			}
		})
	}
}

// Ensure that removing a marker (or the record of a start) that another
// process removed first is no error, and that one that cannot be removed
// is.
func TestRemoveMarkerAndStamp(t *testing.T) {
	for name, remove := range map[string]func(dir string) error{
		MarkerName: removeMarker,
		BootName:   forgetStamp,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := remove(dir); err != nil {
				t.Fatalf("removing a file that is gone = %v, want nil", err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := remove(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s still there: %v", name, err)
			}
			// A directory that holds a file cannot be removed.
			if err := os.MkdirAll(filepath.Join(dir, name, "x"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := remove(dir); err == nil || !strings.Contains(err.Error(), name) && !strings.Contains(err.Error(), "marker") {
				t.Fatalf("removing a directory that holds a file = %v, want an error", err)
			}
		})
	}
}
