package wal

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ticketq/ticketq/job"
)

// Ensure that the queue cap refuses every way of creating one more queue
// (submit, pause, limit change) without writing anything, while existing
// queues keep working and resuming or reading an unknown one creates none.
func TestLog_MaxQueues(t *testing.T) {
	ctx := context.Background()
	l, _ := mustOpen(t, Options{MaxQueues: 2})
	for _, q := range []string{"a", "b"} {
		if _, err := submitN(ctx, l, q, 1); err != nil {
			t.Fatal(err)
		}
	}
	before := l.commits.Load()
	for name, call := range map[string]func() error{
		"submit": func() error { _, err := submitN(ctx, l, "c", 1); return err },
		"pause":  func() error { return l.SetPaused(ctx, "c", true) },
		"limits": func() error { return l.SetOverrides(ctx, "c", job.QueueOverrides{}) },
	} {
		err := call()
		if !errors.Is(err, job.ErrTooManyQueues) || !errors.Is(err, job.ErrConflict) || !strings.Contains(err.Error(), `queue "c" would be number 3, over this server's limit of 2`) {
			t.Fatalf("%s of a third queue: %v", name, err)
		}
	}
	if n := l.commits.Load(); n != before {
		t.Fatalf("the refusals committed %d transactions", n-before)
	}
	if queues, err := l.Queues(ctx); err != nil || strings.Join(queues, ",") != "a,b" {
		t.Fatalf("queues %v (%v), want a,b", queues, err)
	}
	if _, err := submitN(ctx, l, "a", 3); err != nil {
		t.Fatalf("an existing queue refused a submit: %v", err)
	}
	if err := l.SetPaused(ctx, "b", true); err != nil {
		t.Fatalf("pause of an existing queue: %v", err)
	}
}
