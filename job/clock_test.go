package job

import (
	"testing"
	"time"
)

// fakeSources are a wall clock that tests can step and a monotonic clock
// that only moves forward.
type fakeSources struct {
	wall time.Time
	mono time.Duration
}

func (f *fakeSources) clock() *steadyClock {
	return newSteadyClock(func() time.Time { return f.wall }, func() time.Duration { return f.mono })
}

func (f *fakeSources) advance(d time.Duration) {
	f.wall = f.wall.Add(d)
	f.mono += d
}

// Ensure that a forward step of the wall clock does not reach a lease
// deadline: the steady clock moves with elapsed time plus at most 1%.
func TestSteadyClock_ForwardJump(t *testing.T) {
	f := &fakeSources{wall: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), mono: 5 * time.Hour}
	c := f.clock()
	start := c.Now()
	if !start.Equal(f.wall) {
		t.Fatalf("first reading %s, want the wall clock %s", start, f.wall)
	}
	deadline := start.Add(30 * time.Second)
	f.wall = f.wall.Add(time.Hour) // the jump
	f.advance(time.Second)
	now := c.Now()
	if !now.Before(deadline) {
		t.Fatalf("1 s after a one-hour jump the clock reads %s, past the 30 s deadline", now.Sub(start))
	}
	if got := now.Sub(start); got < time.Second || got > time.Second+10*time.Millisecond {
		t.Fatalf("clock advanced %s over 1 s of elapsed time, want 1 s plus at most 1%%", got)
	}
	if skew := c.skew(); skew < time.Hour-time.Second || skew > time.Hour {
		t.Fatalf("skew = %s, want about an hour", skew)
	}
}

// Ensure that a backward step never moves the clock back.
func TestSteadyClock_BackwardJump(t *testing.T) {
	f := &fakeSources{wall: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	c := f.clock()
	prev := c.Now()
	f.wall = f.wall.Add(-time.Hour)
	for range 1000 {
		f.advance(100 * time.Millisecond)
		now := c.Now()
		if d := now.Sub(prev); d < 99*time.Millisecond {
			t.Fatalf("clock advanced %s over 100 ms after a backward jump", d)
		}
		prev = now
	}
}

// Ensure that the gap to the wall clock closes at 1% of elapsed time and
// that the clock then follows the wall clock exactly.
func TestSteadyClock_Slews(t *testing.T) {
	f := &fakeSources{wall: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	c := f.clock()
	c.Now()
	f.wall = f.wall.Add(10 * time.Second)
	f.advance(500 * time.Second)
	if skew := c.skew(); skew != 10*time.Second {
		t.Fatalf("skew before the reading = %s", skew)
	}
	c.Now() // may close 5 s of the gap
	if skew := c.skew(); skew != 5*time.Second {
		t.Fatalf("skew after 500 s = %s, want 5 s", skew)
	}
	f.advance(time.Hour)
	if now := c.Now(); !now.Equal(f.wall) {
		t.Fatalf("after the gap closed the clock reads %s, wall %s", now, f.wall)
	}
}

// Ensure that the process-wide clock starts at the wall clock and does
// not go back.
func TestSystemClock(t *testing.T) {
	a := SystemClock{}.Now()
	if d := time.Since(a); d < -time.Second || d > time.Second {
		t.Fatalf("SystemClock is %s away from the wall clock", d)
	}
	for range 1000 {
		b := SystemClock{}.Now()
		if b.Before(a) {
			t.Fatalf("SystemClock went back from %s to %s", a, b)
		}
		a = b
	}
}
