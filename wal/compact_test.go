package wal

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// purgedDir returns a data directory whose file is mostly free pages: 2,000
// jobs with 2 KiB payloads, all but the last 100 canceled and purged. It
// returns the tickets kept.
func purgedDir(t *testing.T) (string, []job.Ticket) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	payload := []byte(`"` + strings.Repeat("x", 2048) + `"`)
	var tickets []job.Ticket
	for range 20 {
		subs := make([]job.Submission, 100)
		for i := range subs {
			subs[i] = job.Submission{Payload: payload, MaxAttempts: 3}
		}
		rs, err := l.Append(ctx, backend.AppendRequest{Queue: "q", Jobs: subs})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			tickets = append(tickets, r.Ticket)
		}
	}
	// Concurrent cancels share commits (group commit): one at a time,
	// each would wait for its own fsync.
	cancel := make(chan job.Ticket)
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			var err error
			for tk := range cancel {
				if _, _, e := l.Cancel(ctx, tk); e != nil && err == nil {
					err = e
				}
			}
			errs <- err
		}()
	}
	for _, tk := range tickets[:len(tickets)-100] {
		cancel <- tk
	}
	close(cancel)
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for {
		n, err := l.Purge(ctx, backend.PurgeRequest{State: job.Canceled, Before: time.Now().Add(time.Hour), Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	return dir, tickets[len(tickets)-100:]
}

// Ensure that Compact shrinks a file of free pages, keeps every job and
// the ticket counter, leaves a file that passes Check and opens, and
// reports its progress through to "done".
func TestCompact(t *testing.T) {
	dir, kept := purgedDir(t)
	ctx := context.Background()
	before := map[job.Ticket]*job.Job{}
	func() {
		l, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for _, tk := range kept {
			if before[tk], err = l.Get(ctx, tk); err != nil {
				t.Fatal(err)
			}
		}
	}()

	var stages []string
	res, err := Compact(dir, func(p CompactProgress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compacted %d → %d bytes", res.Before, res.After)
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if res.After >= res.Before/2 || fi.Size() != res.After || res.Jobs != len(kept) || res.Queues != 1 {
		t.Fatalf("result %+v, file %d bytes; want it under half the size with %d jobs", res, fi.Size(), len(kept))
	}
	if want := []string{"copying", "checking", "done"}; !reflect.DeepEqual(stages, want) {
		t.Fatalf("progress stages %v, want %v", stages, want)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName+".compact")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the temporary file is left: %v", err)
	}
	if rep, err := Check(dir, nil); err != nil || !rep.OK() {
		t.Fatalf("check after compact: %v, %+v", err, rep)
	}

	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tk := range kept {
		j, err := l.Get(ctx, tk)
		if err != nil || !reflect.DeepEqual(j, before[tk]) {
			t.Fatalf("ticket %s after compact: %v\n got %+v\nwant %+v", tk, err, j, before[tk])
		}
	}
	if next := appendN(t, l, "q", 1)[0]; next != kept[len(kept)-1]+1 {
		t.Fatalf("first ticket after compact is %s, want %s", next, kept[len(kept)-1]+1)
	}
}

// Ensure that Compact refuses a held directory, a missing, empty or
// damaged file, and a leftover it cannot remove, changing nothing.
func TestCompact_Refused(t *testing.T) {
	t.Run("Held", func(t *testing.T) {
		l, dir := mustOpen(t, Options{})
		appendN(t, l, "q", 1)
		if _, err := Compact(dir, nil); !errors.Is(err, ErrInUse) {
			t.Fatalf("compact of a held directory: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, FileName+".compact")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a refused compact left a file: %v", err)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		if _, err := Compact(t.TempDir(), nil); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("compact of an empty directory: %v", err)
		}
	})
	t.Run("ZeroBytes", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Compact(dir, nil); err == nil || !strings.Contains(err.Error(), "nothing to compact") {
			t.Fatalf("compact of a 0-byte file: %v", err)
		}
	})
	t.Run("LeftoverInTheWay", func(t *testing.T) {
		dir := healthyDir(t)
		path := filepath.Join(dir, FileName)
		st := stateOf(t, path)
		// A directory by the temporary file's name cannot be removed.
		if err := os.MkdirAll(filepath.Join(path+".compact", "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := Compact(dir, nil); err == nil || !strings.Contains(err.Error(), "leftover") {
			t.Fatalf("compact with a leftover in the way: %v", err)
		}
		st.assertSame(t, path)
	})
	for _, c := range corruptions {
		if c.name == "freelist" {
			continue // TestCompact_DamagedFreelist
		}
		t.Run(c.name, func(t *testing.T) {
			dir := healthyDir(t)
			path := filepath.Join(dir, FileName)
			c.apply(t, path)
			st := stateOf(t, path)
			_, err := Compact(dir, nil)
			var fe *FileError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("compact of a %s file: %v, want a *FileError about %q", c.name, err, c.want)
			}
			st.assertSame(t, path)
		})
	}
}

// Ensure that a damaged freelist is refused, as Open refuses it, with the
// file unchanged: the copy would not need it, but compact repairs nothing.
func TestCompact_DamagedFreelist(t *testing.T) {
	dir := healthyDir(t)
	path := filepath.Join(dir, FileName)
	for _, c := range corruptions {
		if c.name == "freelist" {
			c.apply(t, path)
		}
	}
	st := stateOf(t, path)
	_, err := Compact(dir, nil)
	var fe *FileError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "the freelist is damaged") {
		t.Fatalf("compact of a file with a damaged freelist: %v, want a *FileError about it", err)
	}
	st.assertSame(t, path)
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed compact left its copy: %v", err)
	}
}

// Ensure that a leftover of an interrupted compact is replaced, not
// mistaken for the result.
func TestCompact_ReplacesLeftover(t *testing.T) {
	dir := healthyDir(t)
	if err := os.WriteFile(filepath.Join(dir, FileName+".compact"), []byte("half a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Compact(dir, nil)
	if err != nil || res.Jobs != 350 {
		t.Fatalf("compact over a leftover: %+v, %v", res, err)
	}
}
