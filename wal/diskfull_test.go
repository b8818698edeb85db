package wal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/internal/testfs"
	"github.com/ticketq/ticketq/job"
)

// Ensure that only a refused write of pages counts as a full disk: a sync
// error, even ENOSPC from an NFS fsync, leaves the file's state unknown.
func TestIsDiskFull(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&fs.PathError{Op: "write", Path: "f", Err: syscall.ENOSPC}, true},
		{&fs.PathError{Op: "write", Path: "f", Err: syscall.EDQUOT}, true},
		{fmt.Errorf("commit: %w", &fs.PathError{Op: "write", Path: "f", Err: syscall.ENOSPC}), true},
		{&fs.PathError{Op: "write", Path: "f", Err: syscall.EIO}, false},
		{&fs.PathError{Op: "sync", Path: "f", Err: syscall.ENOSPC}, false},
		{syscall.ENOSPC, false}, // bbolt's fdatasync
		{errors.New("file resize error: no space left on device"), false},
	} {
		if got := isDiskFull(tc.err); got != tc.want {
			t.Errorf("isDiskFull(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// Ensure that a full disk refuses writes with ErrDiskFull without stopping
// the log, that reads go on, and that writes succeed again once space is
// freed, with everything acked before, during and after still on disk.
func TestLog_DiskFull(t *testing.T) {
	dir := testfs.Tmpfs(t, 4<<20)
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	acked := 0
	if _, err := submitN(ctx, l, "q", 20); err != nil {
		t.Fatal(err)
	}
	acked += 20
	filler := testfs.Fill(t, dir)

	// The pages earlier commits freed may still take a few jobs; a 32 KiB
	// payload per job exhausts them quickly.
	big := job.Submission{Payload: make([]byte, 32<<10), MaxAttempts: 1}
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		_, err := l.Append(ctx, backend.AppendRequest{Queue: "q", Jobs: []job.Submission{big}})
		switch {
		case err == nil:
			acked++
		case errors.Is(err, job.ErrDiskFull):
			full = err
		default:
			t.Fatalf("submit on a full disk: %v", err)
		}
	}
	if full == nil {
		t.Fatal("1000 submits of 32 KiB fitted on a full 4 MiB filesystem")
	}
	if errors.Is(full, job.ErrStoreFailed) || errors.Is(full, job.ErrUnknownOutcome) {
		t.Fatalf("disk full is reported as a failure of unknown outcome: %v", full)
	}
	if l.Err() != nil || !l.DiskFull() {
		t.Fatalf("after a full-disk refusal: Err() = %v, DiskFull() = %v", l.Err(), l.DiskFull())
	}
	if j, err := l.Get(ctx, 1); err != nil || j.State != job.Queued {
		t.Fatalf("read on a full disk: %+v, %v", j, err)
	}
	if st, err := l.Stats(ctx, "q"); err != nil || st.Counts[job.Queued] != acked {
		t.Fatalf("stats on a full disk: %+v, %v (want %d queued)", st, err, acked)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, backend.AppendRequest{Queue: "q", Jobs: []job.Submission{big}}); err != nil {
		t.Fatalf("submit after space was freed: %v", err)
	}
	acked++
	if l.DiskFull() {
		t.Fatal("DiskFull() still set after a successful commit")
	}
	// A claim and a check-off go through as usual.
	cr, err := l.Claim(ctx, backend.ClaimRequest{Queue: "q", Max: 1})
	if err != nil || len(cr.Jobs) != 1 {
		t.Fatalf("claim after space was freed: %+v, %v", cr, err)
	}
	errs, err := l.Settle(ctx, []backend.Settlement{{Ticket: cr.Jobs[0].Ticket, Lease: cr.Jobs[0].Lease, Outcome: backend.Succeeded}})
	if err != nil || errs[0] != nil {
		t.Fatalf("settle after space was freed: %v, %v", errs, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	re, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if err := re.Verify(); err != nil {
		t.Fatalf("invariants after a full disk:\n%v", err)
	}
	st, err := re.Stats(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if st.Counts[job.Queued] != acked-1 || st.Counts[job.Succeeded] != 1 {
		t.Fatalf("after reopening: %v, want %d queued and 1 succeeded", st.Counts, acked-1)
	}
}
