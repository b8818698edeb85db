package wal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/internal/testfs"
	"github.com/ticketq/ticketq/job"
	"github.com/ticketq/ticketq/wal/waltest"
)

// allJobs reads every job of a data directory, by ticket.
func allJobs(t *testing.T, dir string) map[job.Ticket]*job.Job {
	t.Helper()
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[job.Ticket]*job.Job{}
	qs, err := r.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		for after := job.Ticket(0); ; {
			page, err := r.List(backend.ListRequest{Queue: q, After: after, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range page.Jobs {
				out[j.Ticket] = j
			}
			if page.Next == 0 {
				break
			}
			after = page.Next
		}
	}
	return out
}

// Ensure that salvage of a sound file copies every job with its ticket,
// state and fields, the queues' paused flags, the ticket counter and the
// idempotency keys; that the copy checks clean and opens; and that the old
// file is left as it was.
func TestSalvage_Sound(t *testing.T) {
	dir := healthyDir(t)
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetPaused(context.Background(), "reports", true); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	before := stateOf(t, path)
	want := allJobs(t, dir)

	to := filepath.Join(t.TempDir(), "new")
	var stages []string
	res, err := Salvage(dir, to, func(p SalvageProgress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Copied != 350 || res.Queues != 2 || res.Running != 5 || !res.Complete() || res.Counter != 350 || len(res.Damage) != 0 || !res.Check.OK() {
		t.Fatalf("salvage of a sound file: %+v", res)
	}
	if stages[len(stages)-1] != "done" || !slices.Contains(stages, "checking") {
		t.Fatalf("progress stages %q", stages)
	}
	before.assertSame(t, path)
	if got := allJobs(t, to); !reflect.DeepEqual(got, want) {
		t.Fatalf("the copy holds %d jobs that differ from the %d of the original", len(got), len(want))
	}

	n, err := Open(to, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if st, err := n.Stats(context.Background(), "reports"); err != nil || !st.Paused {
		t.Fatalf("reports after salvage: %+v, %v; want it paused", st, err)
	}
	rs, err := n.Append(context.Background(), backend.AppendRequest{Queue: "emails", Jobs: []job.Submission{
		{Payload: []byte(`{}`), MaxAttempts: 3, IdempotencyKey: "emails-0"},
		{Payload: []byte(`{}`), MaxAttempts: 3},
	}})
	if err != nil || !rs[0].Duplicate || want[rs[0].Ticket].IdempotencyKey != "emails-0" || rs[1].Ticket != 351 {
		t.Fatalf("submits after salvage: %+v, %v; want the key's original ticket, then ticket 351", rs, err)
	}
	if err := n.Verify(); err != nil {
		t.Fatal(err)
	}
}

// Ensure that salvage of each damaged tree copies every record it can
// read, says which tickets and pages it could not, produces a file that
// checks clean and opens, and leaves the old file alone.
func TestSalvage_DamagedTree(t *testing.T) {
	cases := []struct {
		name   string
		damage func(path string) error
		// lost tickets, as the indexes name them; lost pages of the jobs
		// bucket; unreadable records
		lost, pages, records bool
	}{
		{"page pointed at a free page", func(path string) error { _, err := waltest.PointAtFreePage(path, "jobs"); return err }, false, false, false},
		{"freelist lists a page in use", func(path string) error { _, err := waltest.ListAsFree(path, "jobs"); return err }, false, false, false},
		{"cycle", func(path string) error { _, err := waltest.MakeCycle(path, "jobs"); return err }, true, true, false},
		{"garbage in a leaf", func(path string) error { _, err := waltest.GarbleLeaf(path, 3, "jobs"); return err }, true, true, false},
		{"wrong page type", func(path string) error { _, err := waltest.BreakPageType(path, "jobs"); return err }, true, true, false},
		{"records that do not decode", func(path string) error { _, _, err := waltest.BreakValues(path, 3, "jobs"); return err }, true, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := healthyDir(t)
			path := filepath.Join(dir, FileName)
			if err := c.damage(path); err != nil {
				t.Fatal(err)
			}
			before := stateOf(t, path)
			to := t.TempDir()
			res, err := Salvage(dir, to, nil)
			if err != nil {
				t.Fatal(err)
			}
			before.assertSame(t, path)
			if len(res.Damage) == 0 && c.name != "records that do not decode" {
				t.Fatalf("no damage reported: %+v", res)
			}
			if (len(res.Missing) > 0) != c.lost || (res.LostPageCount > 0) != c.pages || (res.UnreadableCount > 0) != c.records {
				t.Fatalf("missing %v, lost pages %+v, unreadable %+v; want lost %v, pages %v, records %v",
					res.Missing, res.LostPages, res.Unreadable, c.lost, c.pages, c.records)
			}
			if res.Copied+len(res.Missing) != 350 || res.Counter != 350 {
				t.Fatalf("copied %d + missing %d, counter %d; want 350 jobs in all, counter 350", res.Copied, len(res.Missing), res.Counter)
			}
			for _, lp := range res.LostPages {
				// Every ticket of a lost page is named missing.
				for tk := max(lp.First, 1); lp.Last != 0 && tk <= lp.Last; tk++ {
					if _, ok := slices.BinarySearch(res.Missing, tk); !ok && tk <= 350 {
						t.Fatalf("ticket %d of lost page %+v is not among the missing %v", tk, lp, res.Missing)
					}
				}
			}
			got := allJobs(t, to)
			for _, tk := range res.Missing {
				if _, ok := got[job.Ticket(tk)]; ok {
					t.Fatalf("ticket %d is both missing and copied", tk)
				}
			}
			if len(got) != res.Copied {
				t.Fatalf("the new file holds %d jobs, salvage says %d", len(got), res.Copied)
			}
			n, err := Open(to, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if err := n.Verify(); err != nil {
				t.Fatal(err)
			}
			t.Logf("copied %d, missing %s, lost pages %+v, unreadable %d", res.Copied, res.MissingRanges(5), res.LostPages, res.UnreadableCount)
		})
	}
}

// Ensure that salvage refuses what it must not do, changing nothing: a
// target that holds a database, a source a running log holds, a missing or
// empty source, and one without a readable header.
func TestSalvage_Refused(t *testing.T) {
	sound := healthyDir(t)
	t.Run("target holds a database", func(t *testing.T) {
		to := healthyDir(t)
		before := stateOf(t, filepath.Join(to, FileName))
		if _, err := Salvage(sound, to, nil); !errors.Is(err, ErrTargetExists) {
			t.Fatalf("salvage into a database: %v", err)
		}
		before.assertSame(t, filepath.Join(to, FileName))
		if _, err := Salvage(sound, sound, nil); !errors.Is(err, ErrTargetExists) {
			t.Fatalf("salvage into itself: %v", err)
		}
	})
	t.Run("source in use", func(t *testing.T) {
		_, dir := mustOpen(t, Options{})
		to := filepath.Join(t.TempDir(), "new")
		if _, err := Salvage(dir, to, nil); !errors.Is(err, ErrInUse) {
			t.Fatalf("salvage of a held directory: %v", err)
		}
		if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a refused salvage created %s: %v", to, err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := Salvage(t.TempDir(), t.TempDir(), nil); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("salvage of an empty directory: %v", err)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Salvage(dir, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "nothing to salvage") {
			t.Fatalf("salvage of an empty file: %v", err)
		}
	})
	t.Run("no header", func(t *testing.T) {
		dir := healthyDir(t)
		rewrite(t, filepath.Join(dir, FileName), func(b []byte) []byte { clear(b[:16<<10]); return b })
		to := filepath.Join(t.TempDir(), "new")
		if _, err := Salvage(dir, to, nil); err == nil || !strings.Contains(err.Error(), "nothing says where the tree starts") {
			t.Fatalf("salvage without a header: %v", err)
		}
		if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a refused salvage created %s: %v", to, err)
		}
	})
}

// Ensure that salvage says which queues lost their settings (paused flag
// and limits) and why, and that such a salvage is not complete: a queue
// whose meta does not decode, and queues whose bucket sat on a page of the
// queues bucket that cannot be read (their jobs are copied all the same,
// from the records).
func TestSalvage_QueueSettings(t *testing.T) {
	ctx := context.Background()
	t.Run("meta", func(t *testing.T) {
		dir := healthyDir(t)
		l, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SetPaused(ctx, "reports", true); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		rawUpdate(t, filepath.Join(dir, FileName), func(tx *bolt.Tx) error {
			return tx.Bucket(bucketQueues).Bucket([]byte("reports")).Put(keyQueueMeta, []byte{0xFF})
		})
		to := filepath.Join(t.TempDir(), "new")
		res, err := Salvage(dir, to, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Complete() || res.Copied != 350 || len(res.ResetQueues) != 1 || res.ResetQueues[0].Queue != "reports" ||
			!strings.Contains(res.ResetQueues[0].Reason, "its settings do not decode") || res.LostQueuePages != 0 {
			t.Fatalf("salvage: complete %v, copied %d, reset %+v, lost queue pages %d; want reports reset, not complete",
				res.Complete(), res.Copied, res.ResetQueues, res.LostQueuePages)
		}
		n, err := Open(to, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		if st, err := n.Stats(ctx, "reports"); err != nil || st.Paused {
			t.Fatalf("reports after salvage: %+v, %v; want it unpaused, as reported", st, err)
		}
	})
	t.Run("queues bucket", func(t *testing.T) {
		// Enough queues for the queues bucket to have a branch root.
		dir := t.TempDir()
		l, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 300 {
			appendN(t, l, fmt.Sprintf("q%03d", i), 1)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := waltest.GarbleLeaf(filepath.Join(dir, FileName), 1, "queues"); err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(t.TempDir(), "new")
		res, err := Salvage(dir, to, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Complete() || res.Copied != 300 || res.Queues != 300 || res.LostQueuePages != 1 || len(res.ResetQueues) == 0 ||
			res.ResetQueues[0].Queue != "q000" || !strings.Contains(res.ResetQueues[0].Reason, "were not found") {
			t.Fatalf("salvage: complete %v, copied %d in %d queues, lost queue pages %d, reset %d, first %+v",
				res.Complete(), res.Copied, res.Queues, res.LostQueuePages, len(res.ResetQueues), res.ResetQueues)
		}
	})
}

// Ensure that a salvage whose writes fail (the new directory's disk is
// full) says the new file is incomplete and leaves the old one alone.
func TestSalvage_WriteFails(t *testing.T) {
	l, dir := mustOpen(t, Options{})
	payload := []byte(`"` + strings.Repeat("x", 2000) + `"`)
	for range 6 {
		subs := make([]job.Submission, 500)
		for i := range subs {
			subs[i] = job.Submission{Payload: payload, MaxAttempts: 1}
		}
		if _, err := l.Append(context.Background(), backend.AppendRequest{Queue: "q", Jobs: subs}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	before := stateOf(t, path)
	to := filepath.Join(testfs.Tmpfs(t, 4<<20), "new") // 6 MB of jobs do not fit
	_, err := Salvage(dir, to, nil)
	if !errors.Is(err, job.ErrDiskFull) || !strings.Contains(err.Error(), "is incomplete: remove it before trying again") {
		t.Fatalf("salvage onto a full disk = %v, want a disk-full error that says the copy is incomplete", err)
	}
	before.assertSame(t, path)
}

// Ensure that a salvaged file that fails its check (a bug in salvage) is
// an error that says so, and the old file is left alone.
func TestSalvage_CheckFails(t *testing.T) {
	dir := healthyDir(t)
	path := filepath.Join(dir, FileName)
	before := stateOf(t, path)
	defer func(old func(string, func(Progress)) (Report, error)) { checkSalvaged = old }(checkSalvaged)
	checkSalvaged = func(to string, progress func(Progress)) (Report, error) {
		// What a bug would leave: a job missing from its state index.
		rawUpdate(t, filepath.Join(to, FileName), func(tx *bolt.Tx) error {
			return tx.Bucket(bucketQueues).Bucket([]byte("emails")).Bucket(stateBucket(job.Queued)).Delete(ticketKey(2))
		})
		return Check(to, progress)
	}
	_, err := Salvage(dir, filepath.Join(t.TempDir(), "new"), nil)
	if err == nil || !strings.Contains(err.Error(), "fails its check") || !strings.Contains(err.Error(), "a bug in salvage; the old file was not changed") {
		t.Fatalf("salvage whose copy fails its check = %v", err)
	}
	before.assertSame(t, path)
}
