// Package ratelimit is the token bucket behind a queue's "jobs started per
// second" limit. One bucket is shared by everything that starts the queue's
// jobs (the in-process workers and the pull-mode leases), so the limit holds
// however the jobs are run.
//
// It differs from golang.org/x/time/rate in the one way that matters here:
// Take grants up to n tokens at once and Refund gives back what a claim did
// not use, because a claim may find fewer due jobs than it was allowed.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Bucket is a token bucket. The zero value and a rate of 0 are unlimited.
// It is safe for concurrent use.
type Bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second; 0 means unlimited
	burst  float64
	tokens float64
	last   time.Time
}

// New returns a bucket that allows rate starts per second with up to burst
// at once; it starts full. A rate of 0 is unlimited; a burst below 1 is 1.
func New(rate float64, burst int) *Bucket {
	b := &Bucket{}
	b.Set(rate, burst)
	b.tokens = b.burst
	return b
}

// Set changes the rate and burst, keeping the tokens already earned (capped
// at the new burst).
func (b *Bucket) Set(rate float64, burst int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rate = max(rate, 0)
	b.burst = math.Max(float64(burst), 1)
	b.tokens = math.Min(b.tokens, b.burst)
}

// Unlimited reports whether the bucket limits nothing.
func (b *Bucket) Unlimited() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rate == 0
}

// Take takes up to n whole tokens at now and returns how many it took.
// When it took none, wait is how long until one token is earned.
func (b *Bucket) Take(now time.Time, n int) (took int, wait time.Duration) {
	if b == nil || n <= 0 {
		return max(n, 0), 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rate == 0 {
		return n, 0
	}
	b.refill(now)
	took = min(n, int(b.tokens))
	b.tokens -= float64(took)
	if took == 0 {
		wait = time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
		wait = max(wait, time.Millisecond)
	}
	return took, wait
}

// Refund gives back n tokens that were taken but not used.
func (b *Bucket) Refund(n int) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = math.Min(b.tokens+float64(n), b.burst)
}

func (b *Bucket) refill(now time.Time) {
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = math.Min(b.tokens+now.Sub(b.last).Seconds()*b.rate, b.burst)
	}
	if now.After(b.last) {
		b.last = now
	}
}
