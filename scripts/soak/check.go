package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// checkWorkers is how many status reads of the final check run at once:
// enough to read a 10-minute ledger (~180,000 tickets) in well under a
// minute, few enough not to be a load test of their own.
const checkWorkers = 16

// maxExamples bounds the tickets quoted per kind of problem.
const maxExamples = 10

// checkResult is what the final check found for the ledger.
type checkResult struct {
	checked int
	// states counts the tickets read, per kind and state.
	states [nKinds]map[job.State]int
	// The problems: acked tickets the server does not know, tickets not
	// final, final in a state the load did not steer them to, and reads
	// that failed. Each keeps its first few examples.
	missing, notFinal, wrongState, readErrors problem
	took                                      time.Duration
}

// problem counts one kind of finding of the check and quotes a few.
type problem struct {
	n        int
	examples []string
}

func (p *problem) add(format string, args ...any) {
	p.n++
	if len(p.examples) < maxExamples {
		p.examples = append(p.examples, fmt.Sprintf(format, args...))
	}
}

// total returns how many tickets of every kind were read in state s.
func (r *checkResult) total(s job.State) int {
	n := 0
	for k := range nKinds {
		n += r.states[k][s]
	}
	return n
}

// checkLedger reads every acked ticket (GET /v1/jobs/T) and sorts them by
// state. A read that fails is retried by the client (reads are safe to
// repeat) and then counted as a read error, not as a missing job: only a
// 404 says the server lost an acked job.
func checkLedger(ctx context.Context, c *client.Client, entries []entry) *checkResult {
	start := time.Now()
	r := &checkResult{checked: len(entries)}
	for k := range nKinds {
		r.states[k] = map[job.State]int{}
	}
	var mu sync.Mutex
	work := make(chan entry)
	var wg sync.WaitGroup
	for range checkWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				cctx, cancel := context.WithTimeout(ctx, callTimeout)
				j, err := c.Status(cctx, e.ticket)
				cancel()
				mu.Lock()
				r.record(e, j, err)
				mu.Unlock()
			}
		}()
	}
	for _, e := range entries {
		work <- e
	}
	close(work)
	wg.Wait()
	r.took = time.Since(start)
	return r
}

// record sorts the answer for one ticket.
func (r *checkResult) record(e entry, j client.Job, err error) {
	name := kindNames[e.kind]
	switch {
	case errors.Is(err, job.ErrNotFound):
		r.missing.add("%s (%s): 404", e.ticket, name)
	case err != nil:
		r.readErrors.add("%s (%s): %v", e.ticket, name, err)
	default:
		r.states[e.kind][j.State]++
		switch {
		case !j.State.Final():
			r.notFinal.add("%s (%s): %s, attempts %d, run_at %s", e.ticket, name, j.State, j.Attempts, j.RunAt.Format(time.RFC3339))
		case !e.kind.expected(j.State):
			r.wrongState.add("%s (%s): %s, last error %q", e.ticket, name, j.State, j.LastError)
		}
	}
}

// drain waits until the push and pull queues hold no queued or running
// job, polling every half second up to ctx's deadline, while the pull
// workers go on settling what is left. It returns how long that took.
func drain(ctx context.Context, l *load) (time.Duration, error) {
	start := time.Now()
	left := ""
	for {
		idle, what, err := l.queuesIdle(ctx)
		if err == nil && idle {
			return time.Since(start), nil
		}
		if err != nil {
			what = err.Error()
		}
		left = what
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("queues not drained within %s:%s", time.Since(start).Round(time.Second), left)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
