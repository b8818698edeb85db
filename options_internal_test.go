package ticketq

import (
	"testing"
	"time"
)

// Ensure that a zero Options takes every default of DefaultOptions, so that
// the two cannot drift apart.
func TestOptions_ZeroIsDefault(t *testing.T) {
	got, want := Options{}.withDefaults(), DefaultOptions()
	if got.Clock != want.Clock || got.Grace != want.Grace || got.RetainSucceeded != want.RetainSucceeded ||
		got.RetainDead != want.RetainDead || got.SweepInterval != want.SweepInterval ||
		got.SweepBatch != want.SweepBatch || got.Observer != want.Observer || got.MaxQueues != want.MaxQueues {
		t.Errorf("Options{} with defaults = %+v, want %+v", got, want)
	}
	if q := (QueueOptions{}).withDefaults(QueueOptions{}); q != want.Queue {
		t.Errorf("QueueOptions{} with defaults = %+v, want %+v", q, want.Queue)
	}
}

// Ensure that a queue's zero setting falls back to the Options' Queue
// before DefaultOptions, and that its own setting wins over both.
func TestOptions_QueueFallback(t *testing.T) {
	shared := QueueOptions{Workers: 7, BackoffMax: time.Hour, Rate: 2}
	got := QueueOptions{Workers: 1}.withDefaults(shared)
	want := DefaultOptions().Queue
	want.Workers, want.BackoffMax, want.Rate = 1, time.Hour, 2
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
