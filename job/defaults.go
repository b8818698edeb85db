package job

import "time"

// Defaults that more than one layer applies. They live in this leaf package
// because the dispatcher, below the root package, applies the same ones as
// the root's Options: each number is written here once, and the root's
// DefaultOptions, the dispatcher, the HTTP API and the binary's flags read
// it from here.
const (
	// DefaultWorkers is how many jobs of a queue run at once in a process.
	DefaultWorkers = 4
	// DefaultMaxAttempts is how many failed runs make a job dead.
	DefaultMaxAttempts = 10
	// DefaultTimeout bounds one run of a job that sets no timeout.
	DefaultTimeout = 10 * time.Minute
	// DefaultBackoffBase is the delay before the first retry.
	DefaultBackoffBase = time.Second
	// DefaultBackoffMax caps the retry delay.
	DefaultBackoffMax = 10 * time.Minute
	// DefaultGrace is how long running jobs may finish at shutdown before
	// they are canceled (and replayed at the next start).
	DefaultGrace = 30 * time.Second
	// DefaultHardStop is how long handlers canceled at the end of the
	// grace period may take to return before they are abandoned.
	DefaultHardStop = 5 * time.Second
	// DefaultVisibility is how long a lease lasts when its worker asks for
	// no visibility.
	DefaultVisibility = 30 * time.Second
	// DefaultMaxWait is the longest long-poll (?wait=) a server takes
	// unless it is configured otherwise; the Go client asks for no more.
	DefaultMaxWait = 60 * time.Second
)
