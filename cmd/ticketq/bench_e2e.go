package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ticketq/ticketq/client"
	"github.com/ticketq/ticketq/job"
)

// e2e follows one job in sampleEvery to the end, each with its own
// client.Wait; maxWatchers bounds their connections. When the backlog
// grows, watchers queue for a connection, so their latency is then an
// upper bound (and the backlog figures say that it grew).
const (
	sampleEvery = 100
	maxWatchers = 512
)

// e2eReport is what --mode e2e measures beyond the submit load.
type e2eReport struct {
	SubmittedPerS float64 `json:"submitted_per_s"`
	// Completed is the queue's succeeded count's growth during the load,
	// CompletedPerS the same per second.
	Completed     int64   `json:"completed"`
	CompletedPerS float64 `json:"completed_per_s"`
	// Backlog is the queued count: at the start, at the end of the load,
	// its maximum, one sample per second, and its least-squares trend.
	BacklogStart   int     `json:"backlog_start"`
	BacklogEnd     int     `json:"backlog_end"`
	BacklogMax     int     `json:"backlog_max"`
	BacklogSamples []int   `json:"backlog_samples"`
	BacklogTrend   float64 `json:"backlog_trend_per_s"`
	BacklogGrowing bool    `json:"backlog_growing"`
	// Drained says whether every acked job succeeded within --drain;
	// DrainS is how long after the load that took.
	Drained bool    `json:"drained"`
	DrainS  float64 `json:"drain_s"`
	Left    int64   `json:"left,omitempty"`
	// Latency is submit → succeeded of the sampled jobs, as the client
	// sees it; Unfinished counts samples that were not seen to succeed.
	Latency    latencyReport `json:"latency_ms"`
	Sampled    int64         `json:"sampled"`
	Unfinished int64         `json:"sampled_unfinished"`
	Pull       int           `json:"pull"`
}

// runE2E submits as in submit mode, samples the backlog every second,
// follows one job in a hundred to the end, then waits for the drain.
func runE2E(ctx context.Context, c *benchConfig, server string, rep *benchReport, stderr io.Writer) (err error) {
	stats, str, err := newLoadClient(server, c.access, 4, 0)
	if err != nil {
		return err
	}
	defer str.CloseIdleConnections()
	before, err := queueCounts(ctx, stats, c.queue)
	if err != nil {
		return err
	}
	if c.pull > 0 {
		stopWorkers, err := startPullWorkers(ctx, server, c.access, c.queue, c.pull, stderr)
		if err != nil {
			return err
		}
		defer func() {
			if werr := stopWorkers(); werr != nil && err == nil {
				err = werr
			}
		}()
	}

	watch, wtr, err := newLoadClient(server, c.access, maxWatchers, 0)
	if err != nil {
		return err
	}
	wtr.MaxConnsPerHost = maxWatchers
	defer wtr.CloseIdleConnections()
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	var (
		watchers            sync.WaitGroup
		latency             = &histogram{}
		sampled, unfinished atomic.Int64
	)
	spec := c.loadSpec(server, "")
	spec.onAck = func(first int64, rs []client.Receipt, sent time.Time) {
		for i, rc := range rs {
			if (first+int64(i))%sampleEvery != 0 {
				continue
			}
			sampled.Add(1)
			watchers.Go(func() {
				j, err := watch.Wait(watchCtx, rc.Ticket, 5*time.Second)
				if err != nil || j.State != job.Succeeded {
					unfinished.Add(1)
					return
				}
				latency.record(time.Since(sent))
			})
		}
	}
	bl := startBacklog(ctx, stats, c.queue, before)
	spec.extra = bl.progress
	res, err := runLoad(ctx, spec, stderr)
	end := bl.stop()
	if err != nil {
		return err
	}
	rep.loadReport = res.report()

	e := &e2eReport{Pull: c.pull, SubmittedPerS: rep.JobsPerS}
	e.BacklogStart, e.BacklogEnd, e.BacklogMax = before.queued, end.queued, bl.max
	e.BacklogSamples, e.BacklogTrend = bl.queued, bl.trend()
	e.BacklogGrowing = e.BacklogTrend > 0.01*e.SubmittedPerS && e.BacklogEnd > e.BacklogStart+c.concurrency
	e.Completed = int64(end.succeeded - before.succeeded)
	if s := res.elapsed.Seconds(); s > 0 {
		e.CompletedPerS = float64(e.Completed) / s
	}
	rep.E2E = e

	loadEnd := time.Now()
	var seen atomic.Int64
	want := int64(before.succeeded) + res.jobs
	progress := startProgress(stderr, "drain", seen.Load, func(rate float64) string {
		return fmt.Sprintf("succeeded %d/%d %.0f/s", seen.Load()-int64(before.succeeded), res.jobs, rate)
	})
	drained, at, last := waitSucceeded(ctx, stats, c.queue, want, 100*time.Millisecond, c.drain, &seen)
	progress()
	e.Drained, e.DrainS = drained, at.Sub(loadEnd).Seconds()
	if !drained {
		e.Left = want - last
		stopWatching()
	}
	// Every followed job has succeeded, so the watchers are answering; the
	// timer only bounds a watcher that something went wrong with.
	t := time.AfterFunc(30*time.Second, stopWatching)
	watchers.Wait()
	t.Stop()
	e.Latency, e.Sampled, e.Unfinished = latency.report(), sampled.Load(), unfinished.Load()
	return nil
}

// counts are the figures of a queue that e2e and recovery follow.
type counts struct{ queued, succeeded int }

// queueCounts reads a queue's counts; a queue that does not exist yet has
// none.
func queueCounts(ctx context.Context, c *client.Client, queue string) (counts, error) {
	st, err := c.Queue(ctx, queue)
	if errors.Is(err, job.ErrNotFound) {
		return counts{}, nil
	}
	if err != nil {
		return counts{}, err
	}
	return counts{queued: st.Counts[job.Queued], succeeded: st.Counts[job.Succeeded]}, nil
}

// waitSucceeded polls the queue every interval until its succeeded count
// reaches want or limit passes; it returns whether it did, when it saw it,
// and the last count seen, which it also stores in seen (if not nil) for a
// progress line. Polling is the measurement: the server has no call that
// waits for a count.
func waitSucceeded(ctx context.Context, c *client.Client, queue string, want int64, interval, limit time.Duration, seen *atomic.Int64) (bool, time.Time, int64) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	var last int64
	for {
		if n, err := queueCounts(ctx, c, queue); err == nil {
			last = int64(n.succeeded)
			if seen != nil {
				seen.Store(last)
			}
			if last >= want {
				return true, time.Now(), last
			}
		}
		select {
		case <-ctx.Done():
			return false, time.Now(), last
		case <-deadline.C:
			return false, time.Now(), last
		case <-tick.C:
		}
	}
}

// backlog samples a queue's counts once a second while the load runs.
type backlog struct {
	mu     sync.Mutex
	queued []int // one sample per second, the start first
	at     []float64
	max    int
	last   counts
	quit   chan struct{}
	done   chan struct{}
	read   func() (counts, error)
	start  time.Time
}

func startBacklog(ctx context.Context, c *client.Client, queue string, first counts) *backlog {
	b := &backlog{quit: make(chan struct{}), done: make(chan struct{}), start: time.Now(),
		read: func() (counts, error) { return queueCounts(ctx, c, queue) }}
	b.add(first)
	go func() {
		defer close(b.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-b.quit:
				return
			case <-tick.C:
				if n, err := b.read(); err == nil {
					b.add(n)
				}
			}
		}
	}()
	return b
}

func (b *backlog) add(n counts) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queued = append(b.queued, n.queued)
	b.at = append(b.at, time.Since(b.start).Seconds())
	b.max = max(b.max, n.queued)
	b.last = n
}

// progress is the backlog's part of the live line.
func (b *backlog) progress() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("backlog %d succeeded %d", b.last.queued, b.last.succeeded)
}

// stop ends the sampling and takes a last sample, the end of the load.
func (b *backlog) stop() counts {
	close(b.quit)
	<-b.done
	if n, err := b.read(); err == nil {
		b.add(n)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// trend is the least-squares slope of the samples, in jobs per second:
// the backlog grows when it is clearly above zero.
func (b *backlog) trend() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := float64(len(b.queued))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i, y := range b.queued {
		x := b.at[i]
		sx, sy, sxx, sxy = sx+x, sy+float64(y), sxx+x*x, sxy+x*float64(y)
	}
	if d := n*sxx - sx*sx; d != 0 {
		return (n*sxy - sx*sy) / d
	}
	return 0
}

// startPullWorkers works the queue with client Workers of total
// concurrency, one Worker per 32 slots: each Worker has one lease loop, and
// more loops keep the leases coming at high rates. stop ends them and
// returns the first error a Worker returned.
func startPullWorkers(ctx context.Context, server string, access clientAccess, queue string, total int, stderr io.Writer) (stop func() error, err error) {
	c, tr, err := newLoadClient(server, access, total+8, 0)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	n := (total + 31) / 32
	errs := make(chan error, n)
	var wg sync.WaitGroup
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	for i := range n {
		w := &client.Worker{
			Client: c, Queue: queue, Concurrency: total / n, Wait: 5 * time.Second, Logger: log,
			Handler: func(context.Context, *job.Job) ([]byte, error) { return nil, nil },
		}
		if i < total%n {
			w.Concurrency++
		}
		wg.Go(func() { errs <- w.Run(wctx) })
	}
	return func() error {
		cancel()
		wg.Wait()
		tr.CloseIdleConnections()
		close(errs)
		for err := range errs {
			if err != nil {
				return fmt.Errorf("pull worker: %w", err)
			}
		}
		return nil
	}, nil
}
