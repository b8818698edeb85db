package job

import "time"

// NewSteadyClock lets the external tests drive SystemClock's logic with
// stubbed sources.
func NewSteadyClock(wall func() time.Time, mono func() time.Duration) Clock {
	return newSteadyClock(wall, mono)
}
