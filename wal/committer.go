package wal

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ticketq/ticketq/backend"
	"github.com/ticketq/ticketq/job"
)

// An op is one caller's write. fn runs inside the shared transaction; it
// reports its answer to the caller through its own closure and through
// o.answer, and returns an error only when it may have written partial state
// (the whole transaction is then rolled back and fn is run again alone).
// fn may run more than once, so it must reset whatever it reports.
type op struct {
	fn     func(w *wtx) error
	answer error
	done   chan error
}

// errAbort rolls back a transaction whose batch contained a failing op.
var errAbort = errors.New("wal: abort batch")

// do hands fn to the committer and waits until it is durable. If ctx ends
// before the committer took the op, nothing was written; if it ends after,
// the outcome is unknown. Callers must not read what fn reports unless do
// returned nil: an abandoned fn may still be running on the committer.
func (l *Log) do(ctx context.Context, fn func(w *wtx) error) error {
	if err := l.Err(); err != nil {
		return err
	}
	o := &op{fn: fn, done: make(chan error, 1)}
	select {
	case l.ops <- o:
	case <-l.closing:
		return job.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: stopped waiting for the commit: %v", job.ErrUnknownOutcome, ctx.Err())
	}
}

// loop is the committer, the single goroutine that writes to bbolt. A single
// writer is what makes group commit possible: while one transaction is being
// fsynced, callers queue up on l.ops, and the next transaction takes all of
// them at once, so many acks share one fsync without any fixed delay. An idle
// log commits a lone op immediately.
//
// l.ops is unbuffered so that an op is either taken by this loop (and will be
// answered) or refused by the closing case in do; none can be stranded.
func (l *Log) loop() {
	defer close(l.done)
	batch := make([]*op, 0, l.maxOps)
	busy := false // the last batch had company
	for {
		select {
		case o := <-l.ops:
			batch = append(batch[:0], o)
		case <-l.closing:
			return
		}
		l.drain(&batch)
		if len(batch) < l.maxOps && busy {
			// Under load, give the goroutines that are about to hand an
			// op over one chance to do so before the transaction starts:
			// a commit costs two fsyncs whatever its size, so a few more
			// ops in it are nearly free. This is a yield, not a timer:
			// an idle log still commits a lone op at once.
			runtime.Gosched()
			l.drain(&batch)
		}
		busy = len(batch) > 1
		l.commit(batch)
		clear(batch)
	}
}

// drain appends every op waiting for the committer, up to the batch cap.
func (l *Log) drain(batch *[]*op) {
	for len(*batch) < l.maxOps {
		select {
		case o := <-l.ops:
			*batch = append(*batch, o)
		default:
			return
		}
	}
}

// commit writes a batch in one transaction and answers every op. An op that
// fails is taken out and answered on its own (bbolt's Batch does the same),
// so one bad op cannot fail its neighbours.
func (l *Log) commit(batch []*op) {
	for len(batch) > 0 {
		if err := l.Err(); err != nil {
			for _, o := range batch {
				o.done <- err
			}
			return
		}
		start := time.Now()
		failed, changes, err := l.run(batch)
		if failed >= 0 {
			solo := batch[failed]
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			if errors.Is(err, errOpPanicked) {
				solo.done <- err
			} else {
				l.commitSolo(solo)
			}
			continue
		}
		if err != nil && isDiskFull(err) {
			l.diskFull(err)
			if len(batch) == 1 {
				batch[0].done <- l.diskFullError(err)
				return
			}
			// A small op (a check-off) may still fit in the pages that
			// earlier commits freed, where the whole batch did not: try
			// each alone, so that what fits is written.
			for _, o := range batch {
				l.commitSolo(o)
			}
			return
		}
		if err != nil {
			l.fail(err)
			for _, o := range batch {
				o.done <- fmt.Errorf("%w: %w: %w", job.ErrUnknownOutcome, job.ErrStoreFailed, err)
			}
			return
		}
		l.spaceAgain()
		l.commits.Add(1)
		l.opsDone.Add(uint64(len(batch)))
		l.observeCommit(len(batch), start)
		if l.notify != nil && len(changes) > 0 {
			l.notify(changes)
		}
		for _, o := range batch {
			o.done <- o.answer
		}
		return
	}
}

// commitSolo runs one op that failed inside a batch in a transaction of its
// own; whatever it returns now is its answer.
func (l *Log) commitSolo(o *op) {
	start := time.Now()
	failed, changes, err := l.run([]*op{o})
	switch {
	case failed == 0:
		o.done <- err
	case err != nil && isDiskFull(err):
		l.diskFull(err)
		o.done <- l.diskFullError(err)
	case err != nil:
		l.fail(err)
		o.done <- fmt.Errorf("%w: %w: %w", job.ErrUnknownOutcome, job.ErrStoreFailed, err)
	default:
		l.spaceAgain()
		l.commits.Add(1)
		l.opsDone.Add(1)
		l.observeCommit(1, start)
		if l.notify != nil && len(changes) > 0 {
			l.notify(changes)
		}
		o.done <- o.answer
	}
}

// run executes ops in one Update. It returns the index of the first op that
// failed (with that op's error in err and nothing committed), or -1 with the
// changes made and the commit's own error.
//
// A panic inside bbolt, in an op or in the commit itself (which runs
// outside every op: bbolt frees and allocates pages as it writes them),
// is not an op's failure but the file's: it comes back as an
// ErrInconsistent error, for commit to stop the log.
func (l *Log) run(ops []*op) (failed int, changes []backend.Change, err error) {
	out := applied{failed: -1}
	err = guardEngine(func() error {
		return l.db.Update(func(tx *bolt.Tx) error { return l.apply(tx, ops, &out) })
	})
	switch {
	case out.engineErr != nil:
		return -1, nil, out.engineErr
	case out.failed >= 0:
		return out.failed, nil, out.opErr
	}
	if err == nil {
		l.format = out.format
	}
	return -1, out.changes, err
}

// applied is what apply reports besides its error: the first op that
// failed (-1: none) and its error, an inconsistency met inside bbolt, or
// the changes to notify.
type applied struct {
	failed    int
	opErr     error
	engineErr error
	changes   []backend.Change
	format    uint32 // the file's format version once committed
}

// apply runs ops in the transaction tx: the body of run's Update.
func (l *Log) apply(tx *bolt.Tx, ops []*op, out *applied) error {
	w, err := newWtx(l, tx)
	if err != nil {
		return err
	}
	for i, o := range ops {
		o.answer, w.current = nil, o
		if err := safely(o.fn, w); err != nil {
			if errors.Is(err, ErrInconsistent) {
				out.engineErr = err
			} else {
				out.failed, out.opErr = i, err
			}
			return errAbort
		}
	}
	// Step: write the per-queue counters touched by the batch.
	if err := w.flush(); err != nil {
		return err
	}
	out.changes, out.format = w.changes, w.format
	// Step: returning nil commits: bbolt writes the dirty pages, fsyncs
	// them, writes the meta page and fsyncs again before Update returns.
	return nil
}

// errOpPanicked is the answer of an op that panicked: a bug in ticketq.
// It is answered as it is, not run again alone (it would panic again).
var errOpPanicked = errors.New("an operation panicked: a bug in ticketq (the server log has its stack)")

// safely runs fn, turning a panic into an error so that a bug in one op
// cannot take the committer (and every waiting caller) down. The stack
// goes to the log, once, not into the error, which may reach a client. A
// panic that bbolt raised (see engineFault) is an ErrInconsistent error
// instead: the file, or bbolt's state, is at fault, and running the op
// alone would not help.
func safely(fn func(*wtx) error, w *wtx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			site := panicSite()
			if err = engineFault(p, site); err != nil {
				return
			}
			w.l.log.Error().Str("panic", fmt.Sprint(p)).Str("site", site).Bytes("stack", debug.Stack()).
				Msg("an operation panicked: a bug in ticketq; it fails, the log goes on")
			err = fmt.Errorf("wal: %w: %v", errOpPanicked, p)
		}
	}()
	return fn(w)
}

// testHookQueue, if set, is called with the name each time an op looks a
// queue up (wtx.queue): tests make it panic for one queue to stand in for
// a bug, leaving the ops of other queues alone.
var testHookQueue atomic.Pointer[func(name string)]

// fail stops the log after a failed commit. The transaction was rolled back
// in memory, but a failed fsync leaves the file's state unknown, so no later
// write may build on it: the process must restart and recover from the file.
func (l *Log) fail(err error) {
	if errors.Is(err, ErrInconsistent) {
		l.failInconsistent(err)
		return
	}
	err = fmt.Errorf("%w: commit to %s failed: %v", job.ErrStoreFailed, l.path, err)
	if l.failure.CompareAndSwap(nil, &err) {
		l.log.Error().Err(err).Msg("commit failed; the log refuses further writes until restart")
	}
}

// wtx is the state of one write transaction shared by the ops of a batch.
type wtx struct {
	l        *Log
	tx       *bolt.Tx
	now      time.Time
	jobs     *bolt.Bucket
	queues   *bolt.Bucket
	finished *bolt.Bucket
	leases   *bolt.Bucket
	cache    map[string]*queueTx
	changes  []backend.Change
	current  *op
	arena    []byte // see bytes
	format   uint32 // the file's format version in this transaction
}

func newWtx(l *Log, tx *bolt.Tx) (*wtx, error) {
	w := &wtx{
		l: l, tx: tx, now: l.clock.Now(), format: l.format,
		jobs:     tx.Bucket(bucketJobs),
		queues:   tx.Bucket(bucketQueues),
		finished: tx.Bucket(bucketFinished),
		leases:   tx.Bucket(bucketLeases),
		cache:    make(map[string]*queueTx),
	}
	if w.jobs == nil || w.queues == nil || w.finished == nil || w.leases == nil {
		return nil, fmt.Errorf("%w: top-level bucket missing", ErrCorrupt)
	}
	return w, nil
}

// queue returns the named queue's buckets, creating the queue when create is
// set; it returns nil, nil for an unknown queue otherwise.
func (w *wtx) queue(name string, create bool) (*queueTx, error) {
	if h := testHookQueue.Load(); h != nil {
		(*h)(name)
	}
	if q, ok := w.cache[name]; ok {
		return q, nil
	}
	q, err := openQueue(w.queues, name)
	if err != nil {
		return nil, err
	}
	if q == nil && create {
		if err := w.roomForQueue(name); err != nil {
			return nil, err
		}
		if q, err = createQueue(w.queues, name); err != nil {
			return nil, err
		}
	}
	if q != nil {
		w.cache[name] = q
	}
	return q, nil
}

// roomForQueue refuses to create a queue beyond MaxQueues. Counting the
// queue buckets costs O(queues), but only when a queue is created, which a
// client that invents names is what the cap is for.
func (w *wtx) roomForQueue(name string) error {
	if w.l.maxQueues <= 0 {
		return nil
	}
	n := 0
	c := w.queues.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil { // a nested bucket: one queue
			n++
		}
	}
	if n >= w.l.maxQueues {
		return fmt.Errorf("%w: queue %q would be number %d, over this server's limit of %d (--max-queues); use an existing queue", job.ErrTooManyQueues, name, n+1, w.l.maxQueues)
	}
	return nil
}

// load reads one job and its queue. It answers job.ErrNotFound for an
// unknown ticket.
func (w *wtx) load(t job.Ticket) (*job.Job, *queueTx, error) {
	v := w.jobs.Get(ticketKey(t))
	if v == nil {
		return nil, nil, fmt.Errorf("%w: ticket %s", job.ErrNotFound, t)
	}
	j, err := decodeRecord(v)
	if err != nil {
		return nil, nil, fmt.Errorf("ticket %s: %w", t, err)
	}
	q, err := w.queue(j.Queue, false)
	if err != nil {
		return nil, nil, err
	}
	if q == nil {
		return nil, nil, fmt.Errorf("%w: ticket %s names queue %q which has no buckets", ErrCorrupt, t, j.Queue)
	}
	return j, q, nil
}

// flush writes the meta of every queue the batch touched.
func (w *wtx) flush() error {
	for _, q := range w.cache {
		if !q.dirty {
			continue
		}
		if err := q.b.Put(keyQueueMeta, q.meta.encode()); err != nil {
			return fmt.Errorf("write meta of queue %q: %w", q.name, err)
		}
		q.dirty = false
	}
	return nil
}

// observeCommit reports a commit to OnCommit. bbolt adds a transaction's
// write time (page writes and both fsyncs) to its database stats when the
// transaction closes; the committer is the only writer, so the growth
// since the previous commit is this commit's.
func (l *Log) observeCommit(ops int, start time.Time) {
	if l.onCommit == nil {
		return
	}
	st := l.db.Stats()
	total := st.TxStats.GetWriteTime()
	write := total - l.lastWrite
	l.lastWrite = total
	l.onCommit(ops, time.Since(start), write)
}
