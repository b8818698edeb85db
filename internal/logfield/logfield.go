// Package logfield holds the one rule ticketq's log lines follow for
// durations: a field whose name ends in _ms holding milliseconds as a
// number (fractional, so sub-millisecond request times keep their
// precision), e.g. "duration_ms":2.795.
//
// zerolog's Dur writes a bare number in the unit of the process-wide
// zerolog.DurationFieldUnit, so the unit is neither in the line nor fixed:
// a program that embeds ticketq may change it. Naming the unit and
// converting explicitly keeps every line readable on its own.
package logfield

import "time"

// Millis returns d in milliseconds, for a field named with the _ms suffix.
func Millis(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
