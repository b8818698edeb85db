package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/ticketq/ticketq/client"
)

// The operations of the load, in the order the summary lists them.
const (
	opSubmitPush    = "submit_push"    // a job for the noop push queue
	opSubmitPull    = "submit_pull"    // a job for the pull queue
	opSubmitDelayed = "submit_delayed" // a job due in an hour, canceled soon after
	opLease         = "lease"          // a pull worker's long-poll lease
	opAck           = "ack"
	opNack          = "nack"
	opExtend        = "extend"
	opAckLate       = "ack_late"   // an ack sent after the lease's visibility passed
	opCancel        = "cancel"     // of a delayed job
	opWait          = "wait"       // a GET ?wait long-poll until the job is final
	opLeaseIdle     = "lease_idle" // a long-poll lease of the always-empty queue
	opStatus        = "status"     // the final check of the ledger
)

var opNames = []string{opSubmitPush, opSubmitPull, opSubmitDelayed, opLease, opAck, opNack, opExtend,
	opAckLate, opCancel, opWait, opLeaseIdle, opStatus}

// leaseFenced are the operations whose 409 is an expected outcome: the
// lease they present may have expired and the job gone to another worker.
var leaseFenced = map[string]bool{opAck: true, opNack: true, opExtend: true, opAckLate: true}

// outcome classifies how one call ended.
type outcome int

const (
	ok        outcome = iota
	conflict          // 409 on a lease-fenced call: expected, counted apart
	abandoned         // the load gave up on it on purpose (its context ended)
	refused           // any other 4xx, or an answer the load did not expect
	failed5xx         // the server answered 5xx
	transport         // no answer: connection refused, reset, timeout
	nOutcomes
)

var outcomeNames = [nOutcomes]string{"ok", "conflict", "abandoned", "refused", "5xx", "transport"}

// failure reports whether an outcome counts against the verdict.
func (o outcome) failure() bool { return o >= refused }

// classify maps a call's error to its outcome. A context error is
// abandoned only when the caller expected its context to end.
func classify(op string, err error, mayAbandon bool) outcome {
	if err == nil {
		return ok
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Status >= 500:
			return failed5xx
		case ae.Status == http.StatusConflict && leaseFenced[op]:
			return conflict
		}
		return refused
	}
	if mayAbandon && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return abandoned
	}
	return transport
}

// maxKeptErrors bounds how many failure messages the report quotes.
const maxKeptErrors = 20

// stats counts every call of the load by operation and outcome, and keeps
// the first few failures' messages for the report.
type stats struct {
	counts map[string]*[nOutcomes]atomic.Int64
	total  atomic.Int64
	fails  atomic.Int64

	mu   sync.Mutex
	kept []string
}

func newStats() *stats {
	s := &stats{counts: map[string]*[nOutcomes]atomic.Int64{}}
	for _, op := range opNames {
		s.counts[op] = new([nOutcomes]atomic.Int64)
	}
	return s
}

// record counts one call and returns its outcome.
func (s *stats) record(op string, err error, mayAbandon bool) outcome {
	o := classify(op, err, mayAbandon)
	s.count(op, o, err)
	return o
}

// count adds one call with a known outcome; err describes a failure.
func (s *stats) count(op string, o outcome, err error) {
	s.counts[op][o].Add(1)
	s.total.Add(1)
	if !o.failure() {
		return
	}
	s.fails.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.kept) < maxKeptErrors {
		s.kept = append(s.kept, fmt.Sprintf("%s (%s): %v", op, outcomeNames[o], err))
	}
}

// get returns the count of one operation's outcome.
func (s *stats) get(op string, o outcome) int64 { return s.counts[op][o].Load() }

// calls returns every call of op, whatever its outcome.
func (s *stats) calls(op string) int64 {
	var n int64
	for o := range nOutcomes {
		n += s.get(op, o)
	}
	return n
}

// failures returns the failure messages kept.
func (s *stats) failures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.kept...)
}
