package ticketq_test

import (
	"fmt"

	"github.com/ticketq/ticketq"
)

// Read the defaults that the zero values of Options stand for: start from
// them to change one setting and show the rest.
func ExampleDefaultOptions() {
	o := ticketq.DefaultOptions()
	fmt.Println("grace:", o.Grace)
	fmt.Println("retain succeeded:", o.RetainSucceeded, "dead:", o.RetainDead)
	fmt.Println("sweep every", o.SweepInterval, "in batches of", o.SweepBatch)
	q := o.Queue
	fmt.Println("workers:", q.Workers, "max attempts:", q.MaxAttempts, "timeout:", q.Timeout)
	fmt.Println("backoff:", q.BackoffBase, "to", q.BackoffMax)
	// Output:
	// grace: 30s
	// retain succeeded: 24h0m0s dead: 168h0m0s
	// sweep every 1m0s in batches of 500
	// workers: 4 max attempts: 10 timeout: 10m0s
	// backoff: 1s to 10m0s
}
