package dispatcher

import (
	"math/rand/v2"
	"time"

	"github.com/ticketq/ticketq/job"
)

// Backoff is an exponential backoff with "equal jitter": the n-th retry
// waits d/2 + rand·d/2 where d = Base·2^(n-1) capped at Max. Half the delay is
// fixed so that retries never stampede at once; half is random so that jobs
// that failed together spread out.
type Backoff struct {
	// Base is the delay before the first retry. Defaults to 1 s.
	Base time.Duration
	// Max caps the delay. Defaults to 10 min.
	Max time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = job.DefaultBackoffBase
	}
	if b.Max <= 0 {
		b.Max = job.DefaultBackoffMax
	}
	if b.Max < b.Base {
		b.Max = b.Base
	}
	return b
}

// Delay returns the wait before retry number failures (1 for the first
// retry), using rnd in [0,1) for the jitter.
func (b Backoff) Delay(failures int, rnd float64) time.Duration {
	b = b.withDefaults()
	d := b.Base
	for i := 1; i < failures && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	return d/2 + time.Duration(rnd*float64(d/2))
}

func defaultRand() float64 { return rand.Float64() }
