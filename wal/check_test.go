package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal/waltest"
)

// fileState is a file's bytes and modification time, to show that a read
// did not write.
type fileState struct {
	data []byte
	mod  time.Time
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{data, fi.ModTime()}
}

func (s fileState) assertSame(t *testing.T, path string) {
	t.Helper()
	if now := stateOf(t, path); !bytes.Equal(now.data, s.data) || !now.mod.Equal(s.mod) {
		t.Fatalf("%s was changed (%d bytes → %d, mtime %s → %s)", path, len(s.data), len(now.data), s.mod, now.mod)
	}
}

// healthyDir returns a data directory with jobs in every kind of index:
// queued with and without idempotency keys, leased, and canceled.
func healthyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	// A slice, not a map: ticket numbers must not depend on map order
	// (ticket 1, canceled below, must be an "emails" job).
	for _, qn := range []struct {
		q string
		n int
	}{{"emails", 300}, {"reports", 50}} {
		q, n := qn.q, qn.n
		subs := make([]job.Submission, n)
		for i := range subs {
			subs[i] = job.Submission{Payload: []byte(`{"to":"ada@example.com"}`), MaxAttempts: 3}
			if i%2 == 0 {
				subs[i].IdempotencyKey = fmt.Sprintf("%s-%d", q, i)
			}
		}
		if _, err := l.Append(ctx, backend.AppendRequest{Queue: q, Jobs: subs}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Claim(ctx, backend.ClaimRequest{Queue: "reports", Max: 5, Visibility: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Cancel(ctx, 1); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rawUpdate changes a closed data file with bbolt directly, below ticketq.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
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

// freelistPage returns the page size and the offset of the freelist page,
// and bbolt's high-water mark in bytes.
func freelistPage(t *testing.T, path string) (pageSize int, at, used int64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pageSize = db.Info().PageSize
	_ = db.View(func(tx *bolt.Tx) error {
		used = tx.Size()
		for id := 2; ; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				t.Fatalf("no freelist page (%v)", err)
			}
			if p.Type == "freelist" {
				at = int64(id * pageSize)
				return nil
			}
		}
	})
	return pageSize, at, used
}

func rewrite(t *testing.T, path string, fn func(b []byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

// corruptions break a healthy data file the ways issue 5 names, and two
// more; want is in Open's error and in one of Check's findings.
var corruptions = []struct {
	name  string
	apply func(t *testing.T, path string)
	want  string
}{
	{"truncated", func(t *testing.T, path string) {
		_, _, used := freelistPage(t, path)
		if err := os.Truncate(path, used/2); err != nil {
			t.Fatal(err)
		}
	}, "cut short"},
	{"one page", func(t *testing.T, path string) {
		if err := os.Truncate(path, int64(os.Getpagesize())); err != nil {
			t.Fatal(err)
		}
	}, "file size too small"},
	{"zeroed", func(t *testing.T, path string) {
		rewrite(t, path, func(b []byte) []byte { clear(b[:16<<10]); return b })
	}, "header pages are damaged"},
	{"random", func(t *testing.T, path string) {
		rewrite(t, path, func([]byte) []byte {
			b := make([]byte, 64<<10)
			_, _ = rand.NewChaCha8([32]byte{5}).Read(b)
			return b
		})
	}, "header pages are damaged"},
	{"newer format", func(t *testing.T, path string) {
		rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFormat, []byte{0, 0, 0, 9}) })
	}, "format version 9"},
	{"foreign", func(t *testing.T, path string) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("users"))
			if err != nil {
				return err
			}
			return b.Put([]byte("ada"), []byte("admin"))
		})
	}, "not a ticketq database"},
	{"freelist", func(t *testing.T, path string) {
		size, at, _ := freelistPage(t, path)
		rewrite(t, path, func(b []byte) []byte { clear(b[at : at+int64(size)]); return b })
	}, "the freelist is damaged"},
}

// Ensure that Open refuses each damaged or foreign file within a second,
// names it, points to `ticketq check`, and leaves it byte for byte alone.
func TestOpen_DamagedFile(t *testing.T) {
	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			dir := healthyDir(t)
			path := filepath.Join(dir, FileName)
			c.apply(t, path)
			afterPowerCut(t, dir)
			before := stateOf(t, path)
			start := time.Now()
			_, err := Open(dir, Options{})
			t.Logf("Open refused it in %s", time.Since(start).Round(time.Millisecond))
			var fe *FileError
			if !errors.As(err, &fe) || fe.Path != path {
				t.Fatalf("Open = %v, want a *FileError for %s", err, path)
			}
			for _, want := range []string{path, "ticketq check --data " + dir, c.want} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not contain %q", err, want)
				}
			}
			before.assertSame(t, path)
		})
	}
}

// Ensure that bbolt's death by SIGBUS on a cut-short file (it reads the
// missing freelist page at open) becomes an error.
func TestBoltOpen_Fault(t *testing.T) {
	path := filepath.Join(healthyDir(t), FileName)
	_, at, _ := freelistPage(t, path)
	if err := os.Truncate(path, at); err != nil {
		t.Fatal(err)
	}
	before := stateOf(t, path)
	_, err := boltOpen(path, bolt.Options{Timeout: time.Second})
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "memory fault") {
		t.Fatalf("boltOpen = %v, want a recovered fault", err)
	}
	before.assertSame(t, path)
}

// Ensure that a zero-length file, and a bbolt file with no buckets yet, are
// new databases (what a first start leaves if it stops early), and that the
// first is logged.
func TestOpen_EmptyFile(t *testing.T) {
	for name, create := range map[string]func(path string) error{
		"zero bytes": func(path string) error { return os.WriteFile(path, nil, 0o600) },
		"no buckets": func(path string) error {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				return err
			}
			return db.Close()
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := create(filepath.Join(dir, FileName)); err != nil {
				t.Fatal(err)
			}
			var logged bytes.Buffer
			l, err := Open(dir, Options{Logger: zerolog.New(&logged)})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := l.Verify(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(logged.String(), "empty (0 bytes)"); got != (name == "zero bytes") {
				t.Fatalf("warning logged = %v: %q", got, logged.String())
			}
		})
	}
}

// Ensure that a healthy file checks clean, with its counts, that progress
// goes through every stage to 100%, and that the file is not touched.
func TestCheck_Healthy(t *testing.T) {
	dir := healthyDir(t)
	path := filepath.Join(dir, FileName)
	before := stateOf(t, path)
	var stages []string
	rep, err := Check(dir, func(p Progress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
		if p.Stage == "done" && p.Percent != 100 {
			t.Errorf("done at %d%%", p.Percent)
		}
	})
	if err != nil || !rep.OK() {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
	if rep.Jobs != 350 || rep.Queues != 2 || rep.Format != formatBase || rep.Used <= 0 || rep.Size < rep.Used || rep.Path != path {
		t.Fatalf("report %+v", rep)
	}
	if want := []string{"header", "pages", "job records", "indexes and counters", "done"}; !slices.Equal(stages, want) {
		t.Fatalf("progress stages %q, want %q", stages, want)
	}
	before.assertSame(t, path)
}

// Ensure that each damaged file is a report with a finding, not an error,
// and is left unchanged.
func TestCheck_DamagedFile(t *testing.T) {
	cases := append(corruptions[:len(corruptions):len(corruptions)], struct {
		name  string
		apply func(t *testing.T, path string)
		want  string
	}{"garbage page", func(t *testing.T, path string) {
		size, _, used := freelistPage(t, path)
		at := used / 2 / int64(size) * int64(size)
		rewrite(t, path, func(b []byte) []byte { _, _ = rand.NewChaCha8([32]byte{7}).Read(b[at : at+int64(size)]); return b })
	}, ""})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := healthyDir(t)
			path := filepath.Join(dir, FileName)
			c.apply(t, path)
			before := stateOf(t, path)
			rep, err := Check(dir, nil)
			if err != nil || rep.OK() {
				t.Fatalf("Check = %+v, %v; want findings", rep, err)
			}
			if !slices.ContainsFunc(rep.Findings, func(f string) bool { return strings.Contains(f, c.want) }) {
				t.Fatalf("no finding mentions %q: %q", c.want, rep.Findings)
			}
			t.Logf("findings: %q", rep.Findings)
			before.assertSame(t, path)
		})
	}
}

// Ensure that broken ticketq invariants below a sound bbolt file are found:
// a lost ready entry, a ticket counter behind the tickets, a lost record,
// and that a flood of findings stops at the cap.
func TestCheck_BrokenInvariants(t *testing.T) {
	cases := []struct {
		name   string
		damage func(tx *bolt.Tx) error
		want   string
	}{
		{"ready entry", func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketQueues).Bucket([]byte("emails")).Bucket(bucketReady).Cursor()
			c.First()
			return c.Delete()
		}, "queued but missing from the ready index"},
		{"ticket counter", func(tx *bolt.Tx) error { return tx.Bucket(bucketJobs).SetSequence(10) }, "above the ticket counter 10"},
		{"record", func(tx *bolt.Tx) error { return tx.Bucket(bucketJobs).Delete(ticketKey(2)) }, "counters add up to 350 jobs, but 349"},
		{"ready bucket", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketQueues).Bucket([]byte("emails")).DeleteBucket(bucketReady)
		}, "missing an index bucket"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := healthyDir(t)
			rawUpdate(t, filepath.Join(dir, FileName), c.damage)
			rep, err := Check(dir, nil)
			if err != nil || !slices.ContainsFunc(rep.Findings, func(f string) bool { return strings.Contains(f, c.want) }) {
				t.Fatalf("Check = %v; no finding mentions %q: %q", err, c.want, rep.Findings)
			}
		})
	}
	t.Run("cap", func(t *testing.T) {
		dir := healthyDir(t)
		rawUpdate(t, filepath.Join(dir, FileName), func(tx *bolt.Tx) error {
			q := tx.Bucket(bucketQueues).Bucket([]byte("emails"))
			if err := q.DeleteBucket(bucketReady); err != nil {
				return err
			}
			_, err := q.CreateBucket(bucketReady)
			return err
		})
		rep, err := Check(dir, nil)
		if err != nil || len(rep.Findings) != maxFindings || !rep.Capped {
			t.Fatalf("Check = %d findings, capped %v, %v", len(rep.Findings), rep.Capped, err)
		}
	})
}

// Ensure that Check refuses a directory held by a running log (after its
// half-second lock wait), and says so, and that a missing file is an error.
func TestCheck_Unreadable(t *testing.T) {
	l, dir := mustOpen(t, Options{})
	start := time.Now()
	_, err := Check(dir, nil)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), dir+" is in use by a running ticketq; stop it first") {
		t.Fatalf("Check of a held directory = %v", err)
	}
	t.Logf("Check refused the held directory in %s", time.Since(start).Round(time.Millisecond))
	if _, err := submitN(context.Background(), l, "q", 1); err != nil {
		t.Fatalf("the log stopped working: %v", err)
	}
	if _, err := Check(t.TempDir(), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Check of an empty directory = %v", err)
	}
}

// Ensure that a zero-length file checks clean, as Open takes it for new.
func TestCheck_EmptyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep, err := Check(dir, nil); err != nil || !rep.OK() || rep.Jobs != 0 || rep.Size != 0 {
		t.Fatalf("Check = %+v, %v", rep, err)
	}
}

// Ensure that leaked pages are a note, not a finding: the check passes
// and says to compact; a start after an inconsistency serves the file
// (the marker's full check passes); compact gives the pages back.
func TestCheck_LeakedPages(t *testing.T) {
	dir := healthyDir(t)
	path := filepath.Join(dir, FileName)
	leaked, err := waltest.LeakPage(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Check(dir, nil)
	if err != nil || !rep.OK() || len(rep.Notes) != 1 ||
		!strings.Contains(rep.Notes[0], "neither in the tree nor in the freelist") || !strings.Contains(rep.Notes[0], "'ticketq compact'") ||
		!strings.Contains(rep.Notes[0], fmt.Sprint(leaked)) {
		t.Fatalf("Check = findings %q, notes %q, %v; want one note about page %d", rep.Findings, rep.Notes, err, leaked)
	}

	if err := writeMarker(path, time.Now(), errors.New("boom")); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after an inconsistency, on a file whose only flaw is a leaked page: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := Compact(dir, nil); err != nil {
		t.Fatal(err)
	}
	if rep, err := Check(dir, nil); err != nil || !rep.OK() || len(rep.Notes) != 0 {
		t.Fatalf("Check after compact = findings %q, notes %q, %v; want nothing", rep.Findings, rep.Notes, err)
	}
}
