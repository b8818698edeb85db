package wal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// appendN stores n jobs in queue q and returns their tickets.
func appendN(t *testing.T, l *Log, q string, n int) []job.Ticket {
	t.Helper()
	subs := make([]job.Submission, n)
	for i := range subs {
		subs[i] = job.Submission{Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), MaxAttempts: 3}
	}
	rs, err := l.Append(context.Background(), backend.AppendRequest{Queue: q, Jobs: subs})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]job.Ticket, len(rs))
	for i, r := range rs {
		out[i] = r.Ticket
	}
	return out
}

// writeBackup writes s into a new directory as its data file, checks that
// exactly Size bytes were written, and returns the directory.
func writeBackup(t *testing.T, s backend.Snapshot) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if n != s.Size() {
		t.Fatalf("WriteTo wrote %d bytes, Size says %d", n, s.Size())
	}
	return dir
}

// Ensure that a backup of a running log holds every job committed before
// OpenBackup and none committed after, is as long as announced, passes
// Check, and opens as a log of its own.
func TestLog_OpenBackup(t *testing.T) {
	l, _ := mustOpen(t, Options{})
	before := appendN(t, l, "emails", 200)
	s, err := l.OpenBackup(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after := appendN(t, l, "emails", 50) // committed while the snapshot is open
	dir := writeBackup(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	rep, err := Check(dir, nil)
	if err != nil || !rep.OK() || rep.Jobs != len(before) {
		t.Fatalf("check of the backup: %v, %+v", err, rep)
	}
	restored, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	ctx := context.Background()
	for _, tk := range before {
		j, err := restored.Get(ctx, tk)
		if err != nil || j.State != job.Queued {
			t.Fatalf("ticket %s in the backup: %v, %+v", tk, err, j)
		}
	}
	if _, err := restored.Get(ctx, after[0]); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("ticket %s, submitted after the snapshot, is in the backup: %v", after[0], err)
	}
	// The ticket counter came along: a new submit does not reuse a ticket.
	if next := appendN(t, restored, "emails", 1)[0]; next != before[len(before)-1]+1 {
		t.Fatalf("first ticket after restoring is %s, want %s", next, before[len(before)-1]+1)
	}
}

// Ensure that OpenBackup refuses a closed log.
func TestLog_OpenBackupClosed(t *testing.T) {
	l, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.OpenBackup(context.Background()); !errors.Is(err, job.ErrClosed) {
		t.Fatalf("OpenBackup of a closed log: %v", err)
	}
}

// failingWriter takes ok bytes, then fails.
type failingWriter struct{ ok int }

var errDiskGone = errors.New("disk gone")

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.ok {
		n := w.ok
		w.ok = 0
		return n, errDiskGone
	}
	w.ok -= len(p)
	return len(p), nil
}

// Ensure that a backup stops with an error when its context ends or its
// writer fails, and that the log can close afterwards (the transaction was
// released).
func TestSnapshot_Stops(t *testing.T) {
	for _, c := range []struct {
		name   string
		cancel bool
		w      io.Writer
		want   error
	}{
		{"Canceled", true, io.Discard, context.Canceled},
		{"WriterFails", false, &failingWriter{ok: 10000}, errDiskGone},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, _ := mustOpen(t, Options{})
			appendN(t, l, "q", 100)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := l.OpenBackup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if c.cancel {
				cancel()
			}
			n, err := s.WriteTo(c.w)
			if !errors.Is(err, c.want) || n >= s.Size() {
				t.Fatalf("WriteTo = %d of %d bytes, %v; want an error matching %v", n, s.Size(), err, c.want)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("ContextEndedBeforeOpen", func(t *testing.T) {
		l, _ := mustOpen(t, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := l.OpenBackup(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("OpenBackup with an ended context: %v", err)
		}
	})
}

// Ensure that a stopped server's directory is backed up read-only, and
// that the copy passes Check with every job.
func TestOpenBackupOffline(t *testing.T) {
	dir := healthyDir(t)
	path := filepath.Join(dir, FileName)
	st := stateOf(t, path)
	s, err := OpenBackupOffline(dir)
	if err != nil {
		t.Fatal(err)
	}
	backup := writeBackup(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st.assertSame(t, path)
	rep, err := Check(backup, nil)
	if err != nil || !rep.OK() || rep.Jobs != 350 || rep.Queues != 2 {
		t.Fatalf("check of the offline backup: %v, %+v", err, rep)
	}
}

// Ensure that an offline backup refuses a held directory, a missing or
// empty file, and each damaged file, leaving the file as it was.
func TestOpenBackupOffline_Refused(t *testing.T) {
	t.Run("Held", func(t *testing.T) {
		l, dir := mustOpen(t, Options{})
		appendN(t, l, "q", 1)
		if _, err := OpenBackupOffline(dir); !errors.Is(err, ErrInUse) {
			t.Fatalf("backup of a held directory: %v", err)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		if _, err := OpenBackupOffline(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("backup of an empty directory: %v", err)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenBackupOffline(dir); err == nil || !strings.Contains(err.Error(), "empty (0 bytes)") {
			t.Fatalf("backup of a 0-byte file: %v", err)
		}
	})
	for _, c := range corruptions {
		if c.name == "freelist" {
			continue // the header is sound; the copy's check finds it (TestCheckFile)
		}
		t.Run(c.name, func(t *testing.T) {
			dir := healthyDir(t)
			path := filepath.Join(dir, FileName)
			c.apply(t, path)
			st := stateOf(t, path)
			_, err := OpenBackupOffline(dir)
			var fe *FileError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("backup of a %s file: %v, want a *FileError about %q", c.name, err, c.want)
			}
			st.assertSame(t, path)
		})
	}
}

// Ensure that CheckFile checks a file under any name without changing it,
// reports it under that name, and finds what Check finds.
func TestCheckFile(t *testing.T) {
	dir := healthyDir(t)
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nightly.bak")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	st := stateOf(t, path)
	var stages []string
	rep, err := CheckFile(path, func(p Progress) { stages = append(stages, p.Stage) })
	if err != nil || !rep.OK() || rep.Path != path || rep.Jobs != 350 {
		t.Fatalf("CheckFile: %v, %+v", err, rep)
	}
	if len(stages) == 0 || stages[len(stages)-1] != "done" {
		t.Fatalf("progress stages %v, want them to end with done", stages)
	}
	st.assertSame(t, path)

	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.bak")
			if err := os.WriteFile(bad, data, 0o600); err != nil {
				t.Fatal(err)
			}
			c.apply(t, bad)
			rep, err := CheckFile(bad, nil)
			if err != nil || rep.OK() || !strings.Contains(strings.Join(rep.Findings, "\n"), c.want) {
				t.Fatalf("CheckFile of a %s file: %v, findings %q, want one about %q", c.name, err, rep.Findings, c.want)
			}
		})
	}
}

// Ensure that CheckFile refuses what it cannot check: a missing file, a
// directory, and a data file a running log holds.
func TestCheckFile_Refused(t *testing.T) {
	if _, err := CheckFile(filepath.Join(t.TempDir(), "none"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := CheckFile(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: %v", err)
	}
	l, dir := mustOpen(t, Options{})
	appendN(t, l, "q", 1)
	path := filepath.Join(dir, FileName)
	if _, err := CheckFile(path, nil); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), path) {
		t.Fatalf("held file: %v", err)
	}
}
