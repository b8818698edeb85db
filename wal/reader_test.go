package wal

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// Ensure that a Reader lists a stopped server's queues and jobs without
// changing the file, and that while it is open a server cannot start on
// the directory.
func TestReader(t *testing.T) {
	dir := healthyDir(t)
	path := filepath.Join(dir, FileName)
	st := stateOf(t, path)
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	queues, err := r.Queues()
	if err != nil || !slices.Equal(queues, []string{"emails", "reports"}) {
		t.Fatalf("Queues = %v, %v", queues, err)
	}
	res, err := r.List(backend.ListRequest{Queue: "reports", State: job.Running, Limit: 100})
	if err != nil || len(res.Jobs) != 5 || res.Next != 0 {
		t.Fatalf("running jobs of reports: %d, next %s, %v; want the 5 claimed", len(res.Jobs), res.Next, err)
	}
	for _, j := range res.Jobs {
		if j.State != job.Running || j.Queue != "reports" {
			t.Fatalf("listed %+v", j)
		}
	}
	res, err = r.List(backend.ListRequest{Queue: "emails", Limit: 2})
	if err != nil || len(res.Jobs) != 2 || res.Next != res.Jobs[1].Ticket {
		t.Fatalf("first page of emails: %d jobs, next %s, %v", len(res.Jobs), res.Next, err)
	}
	stats, err := r.Stats("emails")
	if err != nil || stats.Counts[job.Queued] != 299 || stats.Counts[job.Canceled] != 1 {
		t.Fatalf("stats of emails: %+v, %v", stats.Counts, err)
	}
	if _, err := r.List(backend.ListRequest{Queue: "nope", Limit: 1}); !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("List of an unknown queue: %v", err)
	}

	if l, err := Open(dir, Options{}); err == nil {
		l.Close()
		t.Fatal("a server opened the directory while a Reader had it open")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	st.assertSame(t, path)
}

// Ensure that OpenReader refuses a held directory, a missing or empty
// file and each damaged one, and reads a bbolt file without buckets yet
// as empty.
func TestOpenReader_Refused(t *testing.T) {
	t.Run("Held", func(t *testing.T) {
		l, dir := mustOpen(t, Options{})
		appendN(t, l, "q", 1)
		if _, err := OpenReader(dir); !errors.Is(err, ErrInUse) {
			t.Fatalf("OpenReader of a held directory: %v", err)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		if _, err := OpenReader(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("OpenReader of an empty directory: %v", err)
		}
	})
	t.Run("ZeroBytes", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenReader(dir); err == nil || !strings.Contains(err.Error(), "empty (0 bytes)") {
			t.Fatalf("OpenReader of a 0-byte file: %v", err)
		}
	})
	t.Run("NoBucketsYet", func(t *testing.T) {
		dir := t.TempDir()
		db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		r, err := OpenReader(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if qs, err := r.Queues(); err != nil || len(qs) != 0 {
			t.Fatalf("Queues of a new file: %v, %v", qs, err)
		}
		if _, err := r.Stats("q"); !errors.Is(err, job.ErrNotFound) {
			t.Fatalf("Stats of a new file: %v", err)
		}
	})
	for _, c := range corruptions {
		if c.name == "freelist" {
			continue // not read: a read-only open leaves the freelist alone
		}
		t.Run(c.name, func(t *testing.T) {
			dir := healthyDir(t)
			path := filepath.Join(dir, FileName)
			c.apply(t, path)
			st := stateOf(t, path)
			_, err := OpenReader(dir)
			var fe *FileError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("OpenReader of a %s file: %v, want a *FileError about %q", c.name, err, c.want)
			}
			st.assertSame(t, path)
		})
	}
}
