package ratelimit

import (
	"testing"
	"time"
)

// Ensure that a full bucket grants its burst, then one token per 1/rate.
func TestBucket_Take(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := New(10, 3)
	if got, _ := b.Take(now, 5); got != 3 {
		t.Fatalf("first take = %d, want the burst of 3", got)
	}
	got, wait := b.Take(now, 1)
	if got != 0 || wait != 100*time.Millisecond {
		t.Fatalf("empty take = %d, wait %s", got, wait)
	}
	if got, _ := b.Take(now.Add(250*time.Millisecond), 5); got != 2 {
		t.Fatalf("after 250ms took %d, want 2", got)
	}
	b.Refund(2)
	if got, _ := b.Take(now.Add(250*time.Millisecond), 5); got != 2 {
		t.Fatalf("after refund took %d, want the 2 refunded", got)
	}
	// Never more than the burst, however long the bucket idled.
	if got, _ := b.Take(now.Add(time.Hour), 100); got != 3 {
		t.Fatalf("after an hour took %d, want the burst", got)
	}
}

// Ensure that over any window the bucket grants at most rate·window + burst.
func TestBucket_NeverExceedsRate(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const rate, burst = 50.0, 5
	b := New(rate, burst)
	var grants []time.Time
	for ms := 0; ms < 3000; ms++ {
		now := start.Add(time.Duration(ms) * time.Millisecond)
		got, _ := b.Take(now, 7)
		for range got {
			grants = append(grants, now)
		}
	}
	for _, window := range []time.Duration{100 * time.Millisecond, time.Second, 2 * time.Second} {
		limit := int(rate*window.Seconds()) + burst
		for i := range grants {
			n := 0
			for j := i; j < len(grants) && grants[j].Sub(grants[i]) < window; j++ {
				n++
			}
			if n > limit {
				t.Fatalf("%d grants within %s from %s, limit %d", n, window, grants[i].Sub(start), limit)
			}
		}
	}
	if len(grants) < int(rate*2.9) {
		t.Fatalf("only %d grants in 3s at %v/s: the bucket starves", len(grants), rate)
	}
}

// Ensure that rate 0 and a nil bucket are unlimited, and Set keeps earned
// tokens within the new burst.
func TestBucket_UnlimitedAndSet(t *testing.T) {
	now := time.Now()
	var nilBucket *Bucket
	if got, _ := nilBucket.Take(now, 9); got != 9 || !nilBucket.Unlimited() {
		t.Fatal("nil bucket limits")
	}
	b := New(0, 1)
	if got, _ := b.Take(now, 1000); got != 1000 || !b.Unlimited() {
		t.Fatal("rate 0 limits")
	}
	b = New(1, 10)
	b.Set(1, 2)
	if got, _ := b.Take(now, 10); got != 2 {
		t.Fatalf("after shrinking the burst took %d", got)
	}
}
