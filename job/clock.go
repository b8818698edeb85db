package job

import "time"

// Clock tells the time. Backoff, run-at, retention and stats ask it instead of
// calling time.Now directly, so that tests can stub it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock. Its readings carry Go's monotonic component,
// so durations computed between two readings of one process ignore wall-clock
// jumps.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
