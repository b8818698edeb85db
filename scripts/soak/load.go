package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// The queues of the load. Only pushQueue is configured on the command line
// (noop=true); the others are pull queues, created by their first call.
const (
	pushQueue  = "soak-push"
	pullQueue  = "soak-pull"
	emptyQueue = "soak-empty" // leased from, never submitted to
)

// The shape of the load. The mix and the sizes are chosen to keep every
// path busy at a steady pace far below what the server can take (the
// benchmarks do thousands of submits a second), so that the process
// settles at a working size: growth after warm-up is then a leak, not a
// backlog.
const (
	shareP        = 0.45 // of submits: to the push queue
	sharePull     = 0.40 // to the pull queue; the rest are delayed submits
	pullWorkers   = 4
	leaseMax      = 10
	leaseWait     = 5 * time.Second
	visibility    = 30 * time.Second
	nackShare     = 0.10 // of leased jobs: nacked, retried after nackRetryIn
	extendShare   = 0.10 // extended, then acked
	nackRetryIn   = 200 * time.Millisecond
	cancelAfter   = time.Second // a delayed job is canceled this long after its ack
	cancelWorkers = 2
	// A push job is long-polled until final with this chance, a delayed
	// one (whose cancel then wakes the poll) with delayedWaitShare, with
	// at most maxWaiters polls at once.
	pushWaitShare    = 0.10
	delayedWaitShare = 0.25
	maxWaiters       = 32
	// A delayed job's poll is shorter than cancelAfter, so most of them
	// time out on the server once before the cancel wakes the next.
	delayedPoll = 400 * time.Millisecond
	waitLimit   = time.Minute // a wait not final by then is a failure
	// Idle pollers lease from the empty queue; half of them give up after
	// idleAbandon, before the server's answer, as a client that goes away.
	idlePollers = 4
	idleAbandon = 2 * time.Second
	// Every lateEvery, one job is leased with the shortest visibility and
	// acked after it expired: the expiry path, and an expected 409.
	lateEvery      = 5 * time.Second
	lateVisibility = time.Second
	// lateHold outlasts the visibility and the server's expiry pass (once
	// a second), so the job is back in line before the ack.
	lateHold = 2500 * time.Millisecond
	// callTimeout bounds one call that is not a long-poll.
	callTimeout = 30 * time.Second
)

// pendingCancel is a delayed job waiting for its cancel.
type pendingCancel struct {
	ticket job.Ticket
	due    time.Time
}

// load drives the server: a paced stream of submits and the workers,
// cancels and long-polls that follow them.
type load struct {
	c      *client.Client
	rate   float64
	stats  *stats
	ledger *ledger

	submitted atomic.Int64 // submit calls made
	missed    atomic.Int64 // paced submits dropped because every submitter was busy

	// stopSubmits ends the pacer; submitters finish their call and return.
	stopSubmits context.CancelFunc
	submitters  sync.WaitGroup
	// cancels feeds the cancelers; flush, once closed, makes them cancel
	// every pending job at once instead of at its due time.
	cancels   chan pendingCancel
	flush     chan struct{}
	cancelers sync.WaitGroup
	// waitSlots bounds the concurrent long-polls of a job.
	waitSlots chan struct{}
	waiters   sync.WaitGroup
	// stopWork, once closed, makes the pull workers, the late worker and
	// the idle pollers return after their current call.
	stopWork chan struct{}
	workers  sync.WaitGroup
}

func newLoad(c *client.Client, rate float64) *load {
	return &load{
		c: c, rate: rate, stats: newStats(), ledger: &ledger{},
		cancels:   make(chan pendingCancel, 1<<16),
		flush:     make(chan struct{}),
		waitSlots: make(chan struct{}, maxWaiters),
		stopWork:  make(chan struct{}),
	}
}

// start launches every part of the load. ctx bounds every call: it is
// canceled only when the load must be abandoned; the orderly end is
// stopSubmitting and then stopWorking.
func (l *load) start(ctx context.Context) {
	subCtx, stop := context.WithCancel(ctx)
	l.stopSubmits = stop
	// Enough submitters that a slow fsync does not starve the pace: each
	// can do about 10 submits a second at a 100 ms answer, which a busy
	// 2-core machine gives at times.
	n := max(32, int(l.rate/10))
	tokens := make(chan struct{}, n)
	go l.pace(subCtx, tokens)
	for range n {
		l.submitters.Add(1)
		go func() {
			defer l.submitters.Done()
			for range tokens {
				l.submit(ctx)
			}
		}()
	}
	for range cancelWorkers {
		l.cancelers.Add(1)
		go func() { defer l.cancelers.Done(); l.canceler(ctx) }()
	}
	for range pullWorkers {
		l.workers.Add(1)
		go func() { defer l.workers.Done(); l.puller(ctx) }()
	}
	l.workers.Add(1)
	go func() { defer l.workers.Done(); l.lateWorker(ctx) }()
	for i := range idlePollers {
		l.workers.Add(1)
		go func() { defer l.workers.Done(); l.idlePoller(ctx, i%2 == 1) }()
	}
}

// pace hands out one token per submit at the rate, every 10 ms. A token
// no submitter is free to take is dropped and counted, not queued: the
// load stays steady instead of piling up behind a slow server.
func (l *load) pace(ctx context.Context, tokens chan<- struct{}) {
	defer close(tokens)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	issued := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for due := l.rate * now.Sub(start).Seconds(); issued+1 <= due; issued++ {
				select {
				case tokens <- struct{}{}:
				default:
					l.missed.Add(1)
				}
			}
		}
	}
}

// stopSubmitting ends the submits and then the cancels, each pending
// delayed job canceled at once. It waits for both, up to the deadline of
// ctx, and reports whether they finished.
func (l *load) stopSubmitting(ctx context.Context) error {
	l.stopSubmits()
	if err := waitGroup(ctx, &l.submitters); err != nil {
		return fmt.Errorf("submitters: %w", err)
	}
	// No submitter is left to send on cancels.
	close(l.flush)
	close(l.cancels)
	if err := waitGroup(ctx, &l.cancelers); err != nil {
		return fmt.Errorf("cancels: %w", err)
	}
	if err := waitGroup(ctx, &l.waiters); err != nil {
		return fmt.Errorf("long-polls of jobs: %w", err)
	}
	return nil
}

// stopWorking ends the pull workers and idle pollers after their current
// call (a lease waits at most leaseWait) and waits for them, up to the
// deadline of ctx.
func (l *load) stopWorking(ctx context.Context) error {
	close(l.stopWork)
	if err := waitGroup(ctx, &l.workers); err != nil {
		return fmt.Errorf("workers: %w", err)
	}
	return nil
}

// waitGroup waits for wg until ctx ends.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("still running: %w", ctx.Err())
	}
}

// stopped reports whether the workers were told to stop.
func (l *load) stopped() bool {
	select {
	case <-l.stopWork:
		return true
	default:
		return false
	}
}

// submit makes one submit of a kind drawn from the mix and follows it up.
func (l *load) submit(ctx context.Context) {
	n := l.submitted.Add(1)
	payload := json.RawMessage(`{"soak":` + strconv.FormatInt(n, 10) + `}`)
	r := rand.Float64()
	switch {
	case r < shareP:
		t, ok := l.submitOne(ctx, opSubmitPush, pushQueue, client.Submission{Payload: payload}, kindPush)
		if ok && rand.Float64() < pushWaitShare {
			l.waitFinal(ctx, t, 0)
		}
	case r < shareP+sharePull:
		l.submitOne(ctx, opSubmitPull, pullQueue, client.Submission{Payload: payload}, kindPull)
	default:
		// Half to each queue: both the push dispatcher's timers and the
		// pull queue's schedule must let go of a canceled job.
		q := pushQueue
		if n%2 == 0 {
			q = pullQueue
		}
		t, ok := l.submitOne(ctx, opSubmitDelayed, q, client.Submission{Payload: payload, Delay: time.Hour}, kindDelayed)
		if !ok {
			return
		}
		if rand.Float64() < delayedWaitShare {
			l.waitFinal(ctx, t, delayedPoll)
		}
		l.cancels <- pendingCancel{t, time.Now().Add(cancelAfter)}
	}
}

// submitOne submits and records an acked ticket in the ledger.
func (l *load) submitOne(ctx context.Context, op, queue string, s client.Submission, k kind) (job.Ticket, bool) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	rc, err := l.c.Submit(cctx, queue, s)
	if err == nil && rc.Ticket == 0 {
		err = errors.New("acked without a ticket")
		l.stats.count(op, refused, err)
		return 0, false
	}
	if l.stats.record(op, err, ctx.Err() != nil) != ok {
		return 0, false
	}
	l.ledger.add(rc.Ticket, k)
	return rc.Ticket, true
}

// waitFinal long-polls a job in the background until it is final, when a
// slot is free; otherwise it skips this job.
func (l *load) waitFinal(ctx context.Context, t job.Ticket, poll time.Duration) {
	select {
	case l.waitSlots <- struct{}{}:
	default:
		return
	}
	l.waiters.Add(1)
	go func() {
		defer l.waiters.Done()
		defer func() { <-l.waitSlots }()
		wctx, cancel := context.WithTimeout(ctx, waitLimit)
		defer cancel()
		j, err := l.c.Wait(wctx, t, poll)
		switch {
		case err == nil && !j.State.Final():
			l.stats.count(opWait, refused, fmt.Errorf("wait for %s answered state %s", t, j.State))
		case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			l.stats.count(opWait, refused, fmt.Errorf("%s not final within %s (last seen %s): %w", t, waitLimit, j.State, err))
		default:
			l.stats.record(opWait, err, ctx.Err() != nil)
		}
	}()
}

// canceler cancels delayed jobs when they are due, or all at once after
// flush is closed.
func (l *load) canceler(ctx context.Context) {
	timer := time.NewTimer(0)
	<-timer.C
	for pc := range l.cancels {
		if d := time.Until(pc.due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-l.flush:
				timer.Stop()
			case <-ctx.Done():
				timer.Stop()
			}
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		j, err := l.c.Cancel(cctx, pc.ticket)
		cancel()
		if err == nil && j.State != job.Canceled {
			l.stats.count(opCancel, refused, fmt.Errorf("cancel of %s answered state %s", pc.ticket, j.State))
			continue
		}
		l.stats.record(opCancel, err, ctx.Err() != nil)
	}
}

// puller is a pull worker: it long-polls leases and settles each job,
// mostly with an ack, sometimes with a nack or an extend and an ack.
func (l *load) puller(ctx context.Context) {
	for !l.stopped() && ctx.Err() == nil {
		jobs, err := l.lease(ctx, opLease, pullQueue, client.LeaseOptions{Max: leaseMax, Visibility: visibility, Wait: leaseWait}, false)
		if err != nil {
			pause(ctx, 100*time.Millisecond) // no hot loop against a failing server
			continue
		}
		for _, lj := range jobs {
			l.settle(ctx, lj)
		}
	}
}

// lease makes one lease call and records it.
func (l *load) lease(ctx context.Context, op, queue string, opts client.LeaseOptions, abandon bool) ([]client.LeasedJob, error) {
	cctx, cancel := context.WithTimeout(ctx, opts.Wait+callTimeout)
	defer cancel()
	if abandon {
		cctx, cancel = context.WithTimeout(ctx, idleAbandon)
		defer cancel()
	}
	jobs, err := l.c.Lease(cctx, queue, opts)
	l.stats.record(op, err, abandon || ctx.Err() != nil)
	return jobs, err
}

// settle ends one leased job as the mix says.
func (l *load) settle(ctx context.Context, lj client.LeasedJob) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	switch r := rand.Float64(); {
	case r < nackShare:
		_, err := l.c.Nack(cctx, lj.Ticket, lj.Lease, client.NackOptions{Error: "soak: simulated failure", RetryIn: nackRetryIn})
		l.stats.record(opNack, err, ctx.Err() != nil)
	case r < nackShare+extendShare:
		_, err := l.c.Extend(cctx, lj.Ticket, lj.Lease, visibility)
		if l.stats.record(opExtend, err, ctx.Err() != nil) != ok {
			return
		}
		fallthrough
	default:
		_, err := l.c.Ack(cctx, lj.Ticket, lj.Lease, json.RawMessage(`{"ok":true}`))
		l.stats.record(opAck, err, ctx.Err() != nil)
	}
}

// lateWorker leases one job now and then with the shortest visibility and
// acks it only after the lease expired, so that the server's expiry path
// runs all along. The ack should answer 409: the job was put back in line
// (and perhaps leased again by a pull worker) before it. A success would
// mean the expiry had not run yet; it is counted, not failed.
func (l *load) lateWorker(ctx context.Context) {
	tick := time.NewTicker(lateEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-l.stopWork:
			return
		case <-ctx.Done():
			return
		}
		jobs, err := l.lease(ctx, opLease, pullQueue, client.LeaseOptions{Max: 1, Visibility: lateVisibility}, false)
		if err != nil {
			continue
		}
		for _, lj := range jobs {
			pause(ctx, lateHold)
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			_, err := l.c.Ack(cctx, lj.Ticket, lj.Lease, json.RawMessage(`{"late":true}`))
			cancel()
			l.stats.record(opAckLate, err, ctx.Err() != nil)
		}
	}
}

// idlePoller long-polls leases of a queue that never has a job: each poll
// times out on the server, or, with abandon, is dropped by the client
// before that. Either must leave nothing behind in the server.
func (l *load) idlePoller(ctx context.Context, abandon bool) {
	for !l.stopped() && ctx.Err() == nil {
		jobs, err := l.lease(ctx, opLeaseIdle, emptyQueue, client.LeaseOptions{Max: 1, Wait: leaseWait}, abandon)
		if err == nil && len(jobs) > 0 {
			l.stats.count(opLeaseIdle, refused, fmt.Errorf("the empty queue %s leased %d jobs", emptyQueue, len(jobs)))
		}
		if err != nil && !abandon {
			pause(ctx, 100*time.Millisecond)
		}
	}
}

// pause sleeps for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// queuesIdle reports whether the push and pull queues hold no queued or
// running job: every job the load left there has settled. A queue the
// server does not know holds nothing.
func (l *load) queuesIdle(ctx context.Context) (bool, string, error) {
	left := ""
	for _, q := range []string{pushQueue, pullQueue} {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		st, err := l.c.Queue(cctx, q)
		cancel()
		if errors.Is(err, job.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, "", err
		}
		if n := st.Counts[job.Queued] + st.Counts[job.Running]; n > 0 {
			left += fmt.Sprintf(" %s: %d queued, %d running;", q, st.Counts[job.Queued], st.Counts[job.Running])
		}
	}
	return left == "", left, nil
}
