package job

import (
	"sync"
	"time"
)

// Clock tells the time. Backoff, run-at, retention and stats ask it instead of
// calling time.Now directly, so that tests can stub it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock, made steady: it advances with the
// monotonic clock, so a step of the wall clock (an operator's date -s, a
// VM restored from a snapshot, NTP stepping at boot) cannot make every
// lease, delay and backoff deadline fall due at once, nor move time back.
// Deadlines are stored as wall times, so without this a jump of an hour
// would expire every lease in the next tick. A gap that opens between the
// two clocks is closed gradually, at slewRate, like NTP's slewing.
//
// All SystemClock values share one process-wide clock.
type SystemClock struct{}

// Now returns the steady time.
func (SystemClock) Now() time.Time { return system.Now() }

// Skew returns how far the wall clock is ahead of SystemClock (negative
// when behind): the part of a wall-clock step not yet slewed away.
func (SystemClock) Skew() time.Duration { return system.skew() }

// slewRate is the fraction of elapsed time by which the steady clock may
// run faster or slower than the monotonic clock to close a gap with the
// wall clock: 1%, so that a 30 s lease ends at most 0.3 s early or late,
// and a one-hour step is absorbed in 100 hours.
const slewRate = 0.01

var system = newSteadyClock(time.Now, monotonicSince(time.Now()))

// monotonicSince returns a reader of the monotonic time elapsed since start.
func monotonicSince(start time.Time) func() time.Duration {
	return func() time.Duration { return time.Since(start) }
}

// steadyClock is SystemClock's implementation, with its two sources
// injectable for tests.
type steadyClock struct {
	wall func() time.Time     // the wall clock
	mono func() time.Duration // monotonic time since some origin

	mu     sync.Mutex
	anchor time.Time     // wall time at the start, without monotonic reading
	origin time.Duration // mono at the start
	last   time.Duration // mono elapsed at the last reading
	off    time.Duration // steady time minus (anchor + mono elapsed)
}

func newSteadyClock(wall func() time.Time, mono func() time.Duration) *steadyClock {
	return &steadyClock{wall: wall, mono: mono, anchor: wall().Round(0), origin: mono()}
}

// Now returns anchor + elapsed + off, after moving off toward the wall
// clock by at most slewRate of the time elapsed since the last reading.
// Since slewRate < 1, readings never decrease.
func (c *steadyClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.mono() - c.origin
	gap := c.wall().Round(0).Sub(c.anchor) - m - c.off
	if step := time.Duration(float64(m-c.last) * slewRate); step > 0 {
		c.off += max(-step, min(gap, step))
	}
	c.last = max(c.last, m)
	return c.anchor.Add(m + c.off)
}

func (c *steadyClock) skew() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall().Round(0).Sub(c.anchor) - (c.mono() - c.origin) - c.off
}
