package logfield_test

import (
	"testing"
	"time"

	"github.com/ticketq/ticketq/internal/logfield"
)

// Ensure that Millis keeps sub-millisecond precision and large values.
func TestMillis(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want float64
	}{
		{0, 0},
		{2795135 * time.Nanosecond, 2.795135},
		{time.Microsecond, 0.001},
		{30 * time.Second, 30000},
		{-time.Millisecond, -1},
	} {
		if got := logfield.Millis(c.d); got != c.want {
			t.Errorf("Millis(%s) = %v, want %v", c.d, got, c.want)
		}
	}
}
