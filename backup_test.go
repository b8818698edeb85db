package ticketq_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ticketq/ticketq"
	"github.com/ticketq/ticketq/wal"
)

// Ensure that a backup taken while submits go on holds every job acked
// before it started, and that a queue opened on it serves them.
func TestQueue_Backup(t *testing.T) {
	tb := setup(t, ticketq.Options{}, nil)
	var acked []ticketq.Ticket
	for i := range 50 {
		r, err := tb.q.Submit(tb.ctx, "emails", ticketq.Submission{Payload: []byte(fmt.Sprint(i))})
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, r.Ticket)
	}

	// Submits keep going while the backup is written.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := tb.q.Submit(tb.ctx, "emails", ticketq.Submission{Payload: []byte(`"later"`)}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var buf bytes.Buffer
	n, err := tb.q.Backup(tb.ctx, &buf)
	close(stop)
	wg.Wait()
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup = %d, %v (buffer %d bytes)", n, err, buf.Len())
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, wal.FileName), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	q, err := ticketq.Open(dir, ticketq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i, tk := range acked {
		j, err := q.Status(tb.ctx, tk)
		if err != nil || string(j.Payload) != fmt.Sprint(i) {
			t.Fatalf("ticket %s from the backup: %v, %+v", tk, err, j)
		}
	}
}

// Ensure that OpenBackup reports the exact size WriteTo writes, and that a
// closed queue refuses it.
func TestQueue_OpenBackup(t *testing.T) {
	tb := setup(t, ticketq.Options{}, nil)
	if _, err := tb.q.Submit(tb.ctx, "q", ticketq.Submission{Payload: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	s, err := tb.q.OpenBackup(tb.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if n, err := s.WriteTo(&buf); err != nil || n != s.Size() || int64(buf.Len()) != s.Size() {
		t.Fatalf("WriteTo = %d, %v; Size %d, written %d", n, err, s.Size(), buf.Len())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	q, err := ticketq.Open(t.TempDir(), ticketq.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.OpenBackup(context.Background()); !errors.Is(err, ticketq.ErrClosed) {
		t.Fatalf("OpenBackup of a closed queue: %v", err)
	}
	if _, err := q.Backup(context.Background(), &buf); !errors.Is(err, ticketq.ErrClosed) {
		t.Fatalf("Backup of a closed queue: %v", err)
	}
}

// Back up a running queue into a file and check it before relying on it.
func ExampleQueue_Backup() {
	dir, _ := os.MkdirTemp("", "ticketq-example-")
	defer os.RemoveAll(dir)
	q, err := ticketq.Open(filepath.Join(dir, "data"), ticketq.Options{})
	if err != nil {
		panic(err)
	}
	defer q.Close()
	ctx := context.Background()
	for range 3 {
		if _, err := q.Submit(ctx, "emails", ticketq.Submission{Payload: []byte(`{"to":"ada"}`)}); err != nil {
			panic(err)
		}
	}

	path := filepath.Join(dir, "ticketq.db.bak")
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if _, err := q.Backup(ctx, f); err != nil {
		panic(err)
	}
	if err := f.Sync(); err != nil { // the copy is durable before it counts
		panic(err)
	}
	if err := f.Close(); err != nil {
		panic(err)
	}
	rep, err := wal.CheckFile(path, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.OK(), rep.Jobs, "jobs")
	// Output: true 3 jobs
}
