package main

import (
	"sync"

	"github.com/ticketq/ticketq/job"
)

// kind is what the load did with a job, which decides the final state it
// must reach.
type kind uint8

const (
	kindPush    kind = iota // noop push queue: must succeed
	kindPull                // pull queue: acked (succeeded) or, after nacks, dead
	kindDelayed             // due in an hour and canceled: must be canceled
	nKinds
)

var kindNames = [nKinds]string{"push", "pull", "delayed"}

// expected reports whether a final state is the one a job of kind k must
// end in. Any final state satisfies the durability promise; a different
// one than the load steered the job to still means the server did
// something it was not asked to.
func (k kind) expected(s job.State) bool {
	switch k {
	case kindPush:
		return s == job.Succeeded
	case kindPull:
		return s == job.Succeeded || s == job.Dead
	default:
		return s == job.Canceled
	}
}

// entry is one acked submit.
type entry struct {
	ticket job.Ticket
	kind   kind
}

// ledger holds every ticket whose submit the server acked (202): the jobs
// the server promised to keep, each of which must be final at the end.
type ledger struct {
	mu      sync.Mutex
	entries []entry
	byKind  [nKinds]int64
}

// add records an acked submit.
func (l *ledger) add(t job.Ticket, k kind) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, entry{t, k})
	l.byKind[k]++
}

// size returns how many submits were acked.
func (l *ledger) size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.entries))
}

// snapshot returns the entries and the per-kind counts so far.
func (l *ledger) snapshot() ([]entry, [nKinds]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]entry(nil), l.entries...), l.byKind
}
